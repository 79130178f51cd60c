"""The README's main job, ``lyrebird demo``, as one function.

1. builds a small demo corpus (rendered music with titles and captions; cached once built);
2. writes each clip's title, composer and collection into the file's tags, so the library
   shows names rather than file names;
3. creates a library with the shipped default MuLan model and adds the corpus (resumable:
   files already there are skipped by content); a library built by an older version of the
   model is re-embedded;
4. serves the app (:func:`run_demo`; :func:`build_demo` stops after step 3).

It sits above ``train`` (the corpus) and ``ui`` (the app), like the CLI. Light to import:
the packages load inside the functions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lyrebird.index import Library
    from lyrebird.index.model import LibraryModel
    from lyrebird.ui.config import Limits, ServeConfig

log = logging.getLogger("lyrebird.demo")

DEMO_QUERIES = ["a fast rock drum groove", "Irish hornpipe on a tin whistle",
                "choir singing a Bach chorale", "calm ambient music",
                "ruhige Musik für Streichquartett", "musique électronique rapide",
                "música renacentista para coro"]
"""Example searches shown in the demo app."""


@dataclass(frozen=True)
class DemoSettings:
    """Where the demo corpus and library go, how many clips, which model."""

    data_dir: Path = Path("data/demo-app")  # the corpus is built (and cached) here
    library: Path | None = None  # None: data_dir / "library"
    clips: int = 240  # 10 s clips in the demo corpus
    model: str = "default"  # model of a newly created library

    @property
    def library_dir(self) -> Path:
        """The library folder."""
        return Path(self.library) if self.library is not None else Path(self.data_dir) / "library"


@dataclass(frozen=True)
class DemoResult:
    """What :func:`build_demo` did: the corpus and the library, as JSON-ready dicts."""

    corpus: dict[str, Any]
    library: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """``{"corpus": {...}, "library": {...}}``."""
        return asdict(self)


def tag_clips(manifest: Path) -> int:
    """Write title/artist/album/genre tags into the corpus FLACs that lack a title.

    Returns the number of files tagged. Audio data is not touched.
    """
    import mutagen
    import pandas as pd

    table = pd.read_parquet(manifest)
    done = 0
    for r in table.itertuples():
        path = Path(r.path) if Path(r.path).is_absolute() else manifest.parent / r.path
        try:
            f = mutagen.File(path, easy=True)
        except Exception as e:  # a broken clip is reported by `index add`, not here
            log.warning("demo: cannot tag '%s': %s", path, e)
            continue
        if f is None or (f.tags and f.tags.get("title")):
            continue
        title = r.title if isinstance(r.title, str) and r.title else r.collection.replace("_", " ")
        f["title"] = title
        f["artist"] = r.composer if isinstance(r.composer, str) and r.composer else "Lyrebird demo"
        f["album"] = r.collection.replace("_", " ")
        if isinstance(r.style, str) and r.style:
            f["genre"] = r.style
        f.save()
        done += 1
    return done


def open_current(library: Path, model: str | LibraryModel = "default") -> tuple[Library, int]:
    """Open the library at ``library`` (creating it with ``model`` if absent), re-embedding it
    when it was built by another version of ``model`` — a cached demo library from an older
    shipped default. Returns ``(library, number of tracks re-embedded)``.
    """
    from lyrebird.index import Library
    from lyrebird.index.model import load_model

    if not (library / "library.sqlite").is_file():
        return Library.create(library, model), 0
    lib = Library.open(library)
    m = load_model(model) if isinstance(model, str) else model
    if m.fingerprint() == lib.meta["fingerprint"]:
        return lib, 0
    log.warning("%s: built with an older %r model; re-embedding its tracks", library,
                lib.meta["model"])
    return lib, len(lib.reembed(m).added)


def build_demo(settings: DemoSettings = DemoSettings()) -> DemoResult:
    """Steps 1–3: the corpus under ``settings.data_dir``, the library at
    ``settings.library_dir``. Raises ``ValueError``, ``RenderError`` (the corpus) or
    ``LibraryError`` (the library)."""
    from lyrebird.train.corpora.demo_corpus import DemoConfig, build_demo_corpus

    data_dir, library = Path(settings.data_dir), settings.library_dir
    t0 = time.monotonic()
    corpus = build_demo_corpus(data_dir, DemoConfig(clips=settings.clips, probes=False, workers=2))
    tagged = tag_clips(Path(corpus.manifest))
    t1 = time.monotonic()
    lib, reembedded = open_current(library, settings.model)
    with lib:
        rep = lib.add([data_dir / "audio"])
        info = lib.info()
    return DemoResult(
        corpus={"manifest": corpus.manifest, "clips": corpus.clips, "cached": corpus.cached,
                "tagged": tagged, "seconds": round(t1 - t0, 1)},
        library={"path": str(library), "added": len(rep.added),
                 "duplicates": len(rep.duplicates), "failed": rep.to_dict()["failed"],
                 "reembedded": reembedded, "tracks": info["tracks"],
                 "hours": round(info["hours"], 3), "model": info["model"],
                 "seconds": round(time.monotonic() - t1, 1)})


def run_demo(settings: DemoSettings = DemoSettings(), serve: ServeConfig | None = None, *,
             limits: Limits | None = None, allow_add: bool = True,
             on_built: Callable[[DemoResult], None] | None = None,
             announce: Callable[[str], None] | None = None) -> DemoResult:
    """The whole demo: :func:`build_demo`, then ``on_built(result)`` (e.g. print it), then,
    unless ``serve`` is ``None``, the app over the library (blocking until interrupted; see
    :func:`lyrebird.ui.serve` for ``limits``, ``allow_add`` and ``announce``) with
    :data:`DEMO_QUERIES` as examples."""
    result = build_demo(settings)
    if on_built is not None:
        on_built(result)
    if serve is not None:
        from lyrebird.ui import serve as serve_app
        from lyrebird.ui.config import Limits

        serve_app(settings.library_dir, serve, limits=limits or Limits(), allow_add=allow_add,
                  examples=DEMO_QUERIES, announce=announce)
    return result
