"""``lyrebird demo``: the README's main job, in one command.

1. builds a small demo corpus (rendered music with titles and captions; cached once built);
2. writes each clip's title, composer and collection into the file's tags, so the library
   shows names rather than file names;
3. creates a library with the shipped default MuLan model and adds the corpus (resumable:
   files already there are skipped by content);
4. serves the app and prints its URL (``--no-serve`` stops after step 3).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lyrebird.cli import main
from lyrebird.cli._common import emit, json_option
from lyrebird.cli.serve import run_server, with_serve_options

if TYPE_CHECKING:
    from lyrebird.index import Library
    from lyrebird.index.model import LibraryModel

log = logging.getLogger("lyrebird.demo")
DEMO_QUERIES = ["a fast rock drum groove", "Irish hornpipe on a tin whistle",
                "choir singing a Bach chorale", "calm ambient music",
                "ruhige Musik für Streichquartett", "musique électronique rapide",
                "música renacentista para coro"]


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
    click.echo(f"{library}: built with an older {lib.meta['model']!r} model; re-embedding "
               f"its tracks", err=True)
    return lib, len(lib.reembed(m).added)


def build_demo_library(data_dir: Path, library: Path, clips: int, model: str = "default") -> dict:
    """Steps 1–3: corpus under ``data_dir``, library at ``library``. Returns a JSON-ready report."""
    from lyrebird.train.corpora.demo_corpus import DemoConfig, build_demo_corpus

    t0 = time.monotonic()
    corpus = build_demo_corpus(data_dir, DemoConfig(clips=clips, probes=False, workers=2))
    tagged = tag_clips(Path(corpus.manifest))
    t1 = time.monotonic()
    lib, reembedded = open_current(library, model)
    with lib:
        rep = lib.add([Path(data_dir) / "audio"])
        info = lib.info()
    return {"corpus": {"manifest": corpus.manifest, "clips": corpus.clips,
                       "cached": corpus.cached, "tagged": tagged,
                       "seconds": round(t1 - t0, 1)},
            "library": {"path": str(library), "added": len(rep.added),
                        "duplicates": len(rep.duplicates), "failed": rep.to_dict()["failed"],
                        "reembedded": reembedded, "tracks": info["tracks"], "hours": round(info["hours"], 3),
                        "model": info["model"], "seconds": round(time.monotonic() - t1, 1)}}


@main.command()
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data/demo-app"), show_default=True,
              help="Where the demo corpus is built (and cached).")
@click.option("--library", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Library folder (default: DATA/library).")
@click.option("--clips", type=click.IntRange(1), default=240, show_default=True,
              help="Number of 10 s clips in the demo corpus.")
@click.option("--model", default="default", show_default=True,
              help="Model of a newly created library.")
@click.option("--no-serve", is_flag=True, help="Build only; do not start the app.")
@with_serve_options
@json_option
def demo(data_dir: Path, library: Path | None, clips: int, model: str, no_serve: bool,
         as_json: bool, **serve_opts) -> None:
    """Build the demo corpus and library with the default model, then serve the app."""
    from lyrebird.index import LibraryError
    from lyrebird.train.corpora.render import RenderError

    library = library or data_dir / "library"
    try:
        rep = build_demo_library(data_dir, library, clips, model)
    except (ValueError, RenderError, LibraryError) as e:
        raise click.ClickException(str(e)) from e
    c, lb = rep["corpus"], rep["library"]
    human = (f"demo corpus: {c['clips']} clips {'(cached) ' if c['cached'] else ''}→ {c['manifest']}\n"
             f"library: {lb['tracks']} tracks, {lb['hours']:.2f} h, model {lb['model']} → "
             f"{lb['path']} (added {lb['added']}, skipped {lb['duplicates']}, "
             f"failed {len(lb['failed'])}, {lb['seconds']:.0f} s)")
    emit(rep, as_json, human)
    if not no_serve:
        run_server(library, examples=DEMO_QUERIES, **serve_opts)
