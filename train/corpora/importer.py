"""``lyrebird data import DIR --out MANIFEST``: turn any folder of audio into a manifest.

Recursive and deterministic (sorted walk). For each file: a content hash (BLAKE2b) so exact
duplicates are found, the duration and format from the header, a decode check of its first and
last second (catches truncation and non-audio files with audio extensions), and title / artist /
album / genre from its tags (mutagen). Every failure is recorded per file; the batch never stops.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lyrebird.core.fingerprint import content_hash, stable_hash

from .manifest import write_manifest


@dataclass(frozen=True)
class ImportConfig:
    """Options of a folder import."""

    clip_s: float | None = None  # None: one row per file; else consecutive clips of clip_s s
    min_duration_s: float = 1.0  # shorter files are reported and left out
    keep_duplicates: bool = False  # True: duplicates get rows too (same work_id)
    verify: bool = True  # decode 1 s at the start and the end of each file
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    absolute_paths: bool = False  # False: paths relative to the manifest's folder


@dataclass
class ImportReport:
    """What an import did. ``errors`` and ``duplicates`` name every file concerned."""

    root: str
    manifest: str
    files_seen: int = 0
    audio_files: int = 0
    imported: int = 0
    rows: int = 0
    total_duration_s: float = 0.0
    ignored: int = 0  # files without an audio extension
    errors: list[dict[str, str]] = field(default_factory=list)
    duplicates: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def read_tags(path: str | os.PathLike) -> dict[str, str | None]:
    """Title, artist, album, genre and date from the file's tags (None where absent)."""
    import mutagen

    out: dict[str, str | None] = dict.fromkeys(("title", "artist", "album", "genre", "date"))
    try:
        f = mutagen.File(str(path), easy=True)
    except Exception:
        return out
    if f is None or not getattr(f, "tags", None):
        return out
    for k in out:
        try:
            v = f.tags.get(k)
        except (KeyError, ValueError, TypeError):
            v = None
        if v:
            out[k] = str(v[0] if isinstance(v, list) else v).strip() or None
    return out


def _verify(path: Path, duration_s: float) -> None:
    """Decode the first and the last second (raises AudioError on bad data)."""
    from lyrebird.encoders import SilentAudioWarning, load_audio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SilentAudioWarning)
        load_audio(path, sr=None, duration_s=min(1.0, duration_s))
        if duration_s > 2.0:
            load_audio(path, sr=None, offset_s=max(0.0, duration_s - 1.0))


def import_folder(root: str | os.PathLike, manifest: str | os.PathLike,
                  config: ImportConfig = ImportConfig()) -> ImportReport:
    """Scan ``root`` recursively and write a manifest of its audio to ``manifest``.

    ``collection`` is the first folder under ``root``; ``work_id`` is ``file:<hash>`` (a file is
    one work, and duplicates share it). Also writes ``<manifest>.report.json``.
    """
    from lyrebird.core.progress import progress
    from lyrebird.encoders import AUDIO_EXTENSIONS, AudioError, audio_info

    t0 = time.monotonic()
    root = Path(root)
    manifest = Path(manifest)
    if not root.is_dir():
        raise NotADirectoryError(f"'{root}': not a folder")
    report = ImportReport(root=str(root), manifest=str(manifest))
    files = sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())
    report.files_seen = len(files)
    audio = [p for p in files if p.suffix.lower() in AUDIO_EXTENSIONS]
    report.ignored = len(files) - len(audio)
    report.audio_files = len(audio)
    seen: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    base = manifest.resolve().parent
    for path in progress(audio, desc="import"):
        rel_root = path.relative_to(root).as_posix()
        try:
            if not path.exists():
                raise AudioError(path, "broken symbolic link")
            digest = content_hash(path)
            if digest in seen:
                report.duplicates.append({"path": rel_root, "duplicate_of": seen[digest]})
                if not config.keep_duplicates:
                    continue
            else:
                seen[digest] = rel_root
            info = audio_info(path)
            if info.duration_s < config.min_duration_s:
                raise AudioError(path, f"too short ({info.duration_s:.2f} s < "
                                       f"{config.min_duration_s} s)")
            if config.verify:
                _verify(path, info.duration_s)
            tags = read_tags(path)
        except AudioError as err:
            report.errors.append({"path": rel_root, "error": err.reason})
            continue
        except Exception as err:
            report.errors.append({"path": rel_root, "error": f"{type(err).__name__}: {err}"})
            continue
        parts = Path(rel_root).parts
        where = (str(path.absolute()) if config.absolute_paths
                 else os.path.relpath(path.absolute(), base))
        common = dict(path=where, work_id=f"file:{digest}", collection=parts[0] if len(parts) > 1
                      else root.name, captions=[], content_hash=digest,
                      duration_s=round(info.duration_s, 3), sample_rate=info.sample_rate,
                      channels=info.channels, format=info.format, source_path=rel_root,
                      title=tags["title"] or path.stem, artist=tags["artist"],
                      album=tags["album"], genre=tags["genre"], date=tags["date"],
                      tags=sorted({g.strip().lower() for g in
                                   (tags["genre"] or "").replace(";", "/").split("/")
                                   if g.strip()}))
        report.imported += 1
        report.total_duration_s += info.duration_s
        if config.clip_s is None:
            rows.append(dict(common, start_s=0.0, end_s=round(info.duration_s, 3)))
        else:
            n = int(info.duration_s // config.clip_s)
            for k in range(n):
                rows.append(dict(common, start_s=round(k * config.clip_s, 3),
                                 end_s=round((k + 1) * config.clip_s, 3)))
    from .splits import assign_splits

    works = {r["work_id"]: r["collection"] for r in rows}
    splits = assign_splits(works, config.seed, config.split_fractions)
    for r in rows:
        r["split"] = splits[r["work_id"]]
        r["clip_id"] = f"{r['content_hash'][:16]}_{stable_hash(r['path'], r['start_s']) % 10**6:06d}"
    cols = ["clip_id", "path", "start_s", "end_s", "split", "work_id", "collection", "captions",
            "tags", "title", "artist", "album", "genre", "date", "duration_s", "sample_rate",
            "channels", "format", "content_hash", "source_path"]
    df = pd.DataFrame(rows, columns=cols)
    write_manifest(df, manifest)
    report.rows = len(df)
    report.total_duration_s = round(report.total_duration_s, 2)
    report.seconds = round(time.monotonic() - t0, 2)
    Path(str(manifest) + ".report.json").write_text(json.dumps(asdict(report), indent=1))
    return report
