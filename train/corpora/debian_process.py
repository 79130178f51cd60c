"""Materialise and analyse one track of the real-recording corpus (runs in worker processes).

:func:`process_item` links, extracts, renders or mixes a :class:`SourceItem` into
``OUT/audio/<package>/…``, checks that it decodes, measures loop features, and saves the result as ``OUT/parts/<package>/<item_id>.json``. Writes are
atomic (:func:`replaced_on_success`), a finished part with the same settings is returned as
it is (resume); a failure is saved as a part with its ``error`` (for the report) and tried
again on the next run. A file that libsndfile decodes but the strict checks of
:func:`lyrebird.encoders.audio_info` reject (no end-of-stream page, overstated MP3 length) is
re-encoded to FLAC (:func:`repair`) and marked ``repaired``.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lyrebird.core.atomic import replaced_on_success
from lyrebird.core.fingerprint import content_hash, stable_hash

from .debian_sources import SourceItem
from .loops import LoopConfig, loop_features
from .module_render import RenderError, render_module

PART_VERSION = 2
RENDER_VERSION = 2  # module renders: 2 = IT random variation off, two-render check


@dataclass(frozen=True)
class ProcessConfig:
    """Settings that change the audio or the analysis of a track (part cache key)."""

    sample_rate: int = 22050  # module renders
    module_max_s: float = 600.0
    render_timeout_s: float = 120.0
    analyse: bool = True  # loop features (decodes the whole track)
    loops: LoopConfig = field(default_factory=LoopConfig)

    def key(self, kind: str = "file") -> str:
        """A short fingerprint of what changes the audio or the measured features of a track
        of ``kind`` (with :data:`PART_VERSION`, and :data:`RENDER_VERSION` for modules); the
        loop thresholds apply later and are not part of it."""
        d = asdict(self)
        d["loops"] = {k: d["loops"][k] for k in ("min_lag_s", "min_cover")}
        extra = RENDER_VERSION if kind == "module" else 0
        return f"{stable_hash(PART_VERSION, extra, json.dumps(d, sort_keys=True)):016x}"


class ItemError(RuntimeError):
    """A track that cannot be materialised or decoded (the reason is the message)."""


def _link(src: Path, dst: Path) -> None:
    if dst.is_symlink() or dst.exists():
        if dst.is_symlink() and os.readlink(dst) == str(src):
            return
        dst.unlink()
    try:
        dst.symlink_to(src)
    except OSError:
        with replaced_on_success(dst) as tmp:
            shutil.copyfile(src, tmp)


def _extract(item: SourceItem, dst: Path) -> None:
    try:
        with zipfile.ZipFile(item.origin) as z, replaced_on_success(dst) as tmp:
            with z.open(item.member or "") as src, open(tmp, "wb") as fh:
                shutil.copyfileobj(src, fh)
    except (zipfile.BadZipFile, zlib.error, KeyError, EOFError, OSError) as err:
        raise ItemError(f"corrupt archive member ({type(err).__name__}: {err})") from err


def _mix(item: SourceItem, dst: Path) -> None:
    """Sum ``song.ogg`` and its stems (resampled to the song's rate) into a 16-bit FLAC,
    scaled down only when the sum would clip."""
    import soundfile as sf
    import soxr

    try:
        song, sr = sf.read(item.origin, dtype="float32", always_2d=True)
        parts = [song]
        for stem in item.stems:
            x, r = sf.read(stem, dtype="float32", always_2d=True)
            if r != sr:
                x = soxr.resample(x, r, sr)
            if x.shape[1] != song.shape[1]:
                x = np.repeat(x.mean(axis=1, keepdims=True), song.shape[1], axis=1)
            parts.append(x)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise ItemError(f"cannot decode the song or a stem ({err})") from err
    n = max(len(p) for p in parts)
    mix = np.zeros((n, song.shape[1]), np.float64)
    for p in parts:
        mix[: len(p)] += p
    peak = float(np.abs(mix).max()) if n else 0.0
    if peak > 0.999:
        mix *= 0.999 / peak
    with replaced_on_success(dst) as tmp:
        sf.write(tmp, mix.astype(np.float32), sr, format="FLAC", subtype="PCM_16")


def materialise(item: SourceItem, dst: Path, cfg: ProcessConfig, force: bool = False) -> None:
    """Put the track's audio at ``dst`` (link, extract, render or mix); kept if present
    unless ``force`` (a part made with other settings)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if item.kind == "file":
        _link(Path(item.origin), dst)
        return
    if dst.is_file() and dst.stat().st_size > 0 and not force:
        return
    if item.kind == "member":
        _extract(item, dst)
    elif item.kind == "module":
        try:
            with replaced_on_success(dst) as tmp:
                render_module(item.origin, tmp, sample_rate=cfg.sample_rate,
                              max_s=cfg.module_max_s, timeout_s=cfg.render_timeout_s)
        except RenderError as err:
            raise ItemError(f"module did not render: {err}") from err
    elif item.kind == "mix":
        _mix(item, dst)
    else:
        raise ItemError(f"unknown kind {item.kind!r}")


def repair(src: Path, dst: Path) -> float:
    """Re-encode audio that libsndfile decodes but the strict checks reject (an Ogg stream
    without its end-of-stream page, an MP3 whose header overstates its length) into a 16-bit
    FLAC of exactly the decodable samples; returns its duration in seconds."""
    import soundfile as sf

    blocks = []
    try:
        with sf.SoundFile(str(src)) as f:
            sr = f.samplerate
            while True:
                try:
                    b = f.read(sr * 30, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError):
                    break
                if len(b) == 0:
                    break
                blocks.append(b)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise ItemError(f"cannot decode for repair ({err})") from err
    data = np.concatenate(blocks) if blocks else np.zeros((0, 1), np.float32)
    if len(data) < sr:
        raise ItemError("repair decoded less than one second")
    with replaced_on_success(dst) as tmp:
        sf.write(tmp, np.clip(data, -1.0, 1.0), sr, format="FLAC", subtype="PCM_16")
    return len(data) / sr


def _source_hash(item: SourceItem, audio_hash: str) -> str:
    """Hash of what the track was made from (the module, the song file; else the audio)."""
    if item.kind in ("module", "mix"):
        return content_hash(item.origin)
    return audio_hash


def _analyse(item: SourceItem, dst: Path, cfg: ProcessConfig) -> dict[str, Any]:
    from lyrebird.encoders import AudioError, SilentAudioWarning, audio_info, load_audio

    try:
        info = audio_info(dst)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SilentAudioWarning)
            load_audio(dst, sr=None, duration_s=min(1.0, info.duration_s))
            if info.duration_s > 2.0:
                load_audio(dst, sr=None, offset_s=max(0.0, info.duration_s - 1.0))
        feats = loop_features(dst, cfg.loops) if cfg.analyse else None
    except AudioError as err:
        raise ItemError(f"does not decode: {err.reason}") from err
    except Exception as err:  # libsndfile errors during the full decode
        raise ItemError(f"does not decode: {type(err).__name__}: {err}") from err
    digest = content_hash(dst)
    return {"duration_s": round(info.duration_s, 3), "sample_rate": info.sample_rate,
            "channels": info.channels, "format": info.format,
            "content_hash": digest, "source_hash": _source_hash(item, digest),
            "loop_features": feats.to_dict() if feats else None}


def part_path(out: Path, item: SourceItem) -> Path:
    """Where the part (cached result) of ``item`` lives."""
    return out / "parts" / item.package / f"{item.item_id}.json"


def process_item(item: SourceItem, out: str | os.PathLike, cfg: ProcessConfig
                 ) -> dict[str, Any]:
    """Materialise and analyse one track; returns its part (``error`` set on failure)."""
    out = Path(out)
    part = part_path(out, item)
    key = cfg.key(item.kind)
    if part.is_file():  # finished items are kept; failed ones are tried again
        try:
            cached = json.loads(part.read_text())
            if (cached.get("config_key") == key and not cached.get("error")
                    and (out / cached["audio"]).exists()):
                cached["cached"] = True
                return cached
        except (json.JSONDecodeError, KeyError):
            pass
    rel = Path("audio") / item.package / item.out_name()
    rec: dict[str, Any] = {"item": asdict(item), "item_id": item.item_id, "audio": str(rel),
                           "config_key": key, "error": None, "repaired": None}
    try:
        materialise(item, out / rel, cfg, force=part.is_file())
        try:
            rec.update(_analyse(item, out / rel, cfg))
        except ItemError as err:
            if item.kind not in ("file", "member") or not str(err).startswith("does not"):
                raise
            fixed = rel.with_name(rel.name + ".flac")
            repair(out / rel, out / fixed)
            rec.update(_analyse(item, out / fixed, cfg), audio=str(fixed), repaired=(
                f"re-encoded to FLAC: {str(err).removeprefix('does not decode: ')}"))
    except ItemError as err:
        rec["error"] = str(err)
        dst = out / rel
        if item.kind != "file" and dst.is_file():
            dst.unlink()
    except Exception as err:  # anything else is reported, never fatal to the build
        rec["error"] = f"{type(err).__name__}: {err}"
    part.parent.mkdir(parents=True, exist_ok=True)
    with replaced_on_success(part) as tmp:
        Path(tmp).write_text(json.dumps(rec, ensure_ascii=False, indent=0))
    rec["cached"] = False
    return rec


__all__ = ["ItemError", "ProcessConfig", "materialise", "part_path", "process_item"]
