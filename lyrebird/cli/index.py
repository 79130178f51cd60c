"""``lyrebird index …``, ``lyrebird search``, ``lyrebird similar``: the music library."""

from __future__ import annotations

from pathlib import Path

import click

from lyrebird.cli._common import (
    RESULT_COUNT,
    ROW_ID,
    UserError,
    emit,
    json_option,
    runtime_option,
    user_errors,
)
from lyrebird.core.model_spec import SPEC_HELP

library_arg = click.argument("library", type=click.Path(path_type=Path))
batch_option = click.option("--batch-size", default=16, show_default=True,
                            type=click.IntRange(1, 1_000_000), help="Tracks per commit.")
k_option = click.option("-k", default=10, show_default=True, type=RESULT_COUNT,
                        help="Number of results (1 to 100).")
format_option = click.option(
    "--format", "template", default=None, metavar="TEMPLATE",
    help="One line per result from a template, e.g. '{title} — {artist}'; fields: "
         "{rank} {track_id} {title} {artist} {chips} {score} {start} {end} {path} {file}.")


def _errors():
    """Library errors (``LibraryError`` and ``AudioError`` are value errors) and missing
    extras (``ImportError``) as a clear message, exit status 1; ``{"error": …}`` with --json."""
    return user_errors(ValueError, ImportError)


def _open(library: Path, readonly: bool = False, runtime: str = "torch"):
    try:
        from lyrebird.index import Library, LibraryError
    except ImportError as e:  # FAISS missing: the message names the extra to install
        raise UserError(str(e)) from None
    try:  # a missing onnxruntime: the message names the extra to install
        return Library.open(library, readonly=readonly, runtime=runtime)
    except (LibraryError, ImportError, ValueError) as e:
        raise UserError(str(e)) from None


def _devices(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _show_hits(lib, hits, template: str | None, as_json: bool) -> None:
    """Print hits with title, artist and the app's chips: JSON records, ``--format`` lines or
    the default line (:mod:`lyrebird.ui.results`)."""
    from lyrebird.ui.results import chip_lookup, format_record, record_line, result_records

    with _errors():
        records = result_records(hits, chip_lookup(lib.path, lib.model) if hits else None)
        if template is not None:
            lines = [format_record(template, r) for r in records]
        else:
            lines = [record_line(r) for r in records] or ["no results"]
    emit(records, as_json, "\n".join(lines))


def _template(template: str | None) -> str | None:
    from lyrebird.ui.results import check_template

    with _errors():
        return None if template is None else check_template(template)


@click.group("index")
def index_group() -> None:
    """Create and maintain a music library (SQLite + FAISS)."""


@index_group.command("create")
@library_arg
@click.option("--model", default="default", show_default=True,
              help=f"Model of the library: {SPEC_HELP}; 'default' is the shipped MuLan, "
                   "'encoder:NAME' an audio-only library.")
@click.option("--index", "kind", type=click.Choice(["auto", "flat", "ivf", "hnsw", "ivfpq"]),
              default="auto", show_default=True, help="FAISS index kind.")
@click.option("--segment-s", default=10.0, show_default=True,  # index.ingest.SEGMENT_S
              help="Segment window, seconds.")
@click.option("--hop-s", default=10.0, show_default=True,  # index.ingest.HOP_S (tested)
              help="Segment hop, seconds (5 finds moments more exactly, at twice the work).")
@json_option
def create_cmd(library: Path, model: str, kind: str, segment_s: float, hop_s: float,
               as_json: bool) -> None:
    """Create an empty library at LIBRARY."""
    from lyrebird.index import IndexPolicy, Library

    with _errors():
        lib = Library.create(library, model, policy=IndexPolicy(kind=kind), segment_s=segment_s,
                             hop_s=hop_s)
    emit(lib.info(), as_json, f"created {library} (model {model})")


@index_group.command("add")
@library_arg
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@batch_option
@click.option("--devices", default=None,
              help="Embed with a distributed Lightning predict job on this many devices per "
                   "node (an int or 'auto'), then merge the shards.")
@click.option("--num-nodes", default=1, show_default=True, type=click.IntRange(1, 100_000),
              help="Nodes for the predict job.")
@click.option("--strategy", default="auto", show_default=True, help="e.g. 'ddp'.")
@click.option("--accelerator", default="auto", show_default=True)
@click.option("--shard-dir", type=click.Path(path_type=Path), default=None,
              help="Where the predict job writes its shards (default LIBRARY/shards).")
@click.option("--workers", default=None, type=click.IntRange(0, 256),
              help="Threads decoding and embedding files [default: one per core]; 0: the "
                   "serial path (one file at a time, PyTorch's own threads).")
@runtime_option()
@json_option
def add_cmd(library: Path, paths: tuple[Path, ...], batch_size: int, devices: str | None,
            num_nodes: int, strategy: str, accelerator: str, shard_dir: Path | None,
            workers: int | None, runtime: str, as_json: bool) -> None:
    """Add audio files and folders (recursive); duplicates and bad files are reported. The
    folders are remembered: a later `index sync LIBRARY` without PATHS follows them."""
    if devices is None and num_nodes == 1:
        with _errors():
            rep = _open(library, runtime=runtime).add(paths, batch_size=batch_size,
                                                      workers=workers)
    elif runtime != "torch":
        raise click.UsageError("--runtime works without --devices/--num-nodes (the "
                               "distributed job embeds with PyTorch)")
    else:
        from lyrebird.index import LibraryError
        from lyrebird.train.embed_job import add_distributed

        with user_errors(LibraryError):
            rep = add_distributed(library, list(paths), devices=_devices(devices or "auto"),
                                  num_nodes=num_nodes, strategy=strategy,
                                  accelerator=accelerator, shard_dir=shard_dir)
        if rep is None:
            return  # another process of the job; the first one merges and reports
    lines = [f"added {len(rep.added)}, duplicates {len(rep.duplicates)}, failed {len(rep.failed)}"]
    lines += [f"  failed: {p}: {r}" for p, r in rep.failed]
    emit(rep.to_dict(), as_json, "\n".join(lines))


@index_group.command("remove")
@library_arg
@click.argument("track_id", type=ROW_ID)
@json_option
def remove_cmd(library: Path, track_id: int, as_json: bool) -> None:
    """Remove a track by id (ids are never given again)."""
    with _errors():
        _open(library).remove(track_id)
    emit({"removed": track_id}, as_json, f"removed track {track_id}")


@index_group.command("sync")
@library_arg
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@batch_option
@click.option("--watch", "keep_watching", is_flag=True,
              help="Keep running and sync after each change (Ctrl-C to stop).")
@click.option("--interval-s", default=2.0, show_default=True,
              type=click.FloatRange(0.01, 86_400),
              help="With --watch and no watchdog package: seconds between polls.")
@json_option
def sync_cmd(library: Path, paths: tuple[Path, ...], batch_size: int, keep_watching: bool,
             interval_s: float, as_json: bool) -> None:
    """Follow the disk: add new files, remove tracks whose files are gone, follow moved or
    renamed files (by content, no re-embedding), re-embed edited ones. PATHS are remembered
    (so are the folders given to `index add`); later syncs may omit them. A folder that is
    missing, unreadable or empty (an unplugged drive) is reported offline and its tracks are
    kept."""
    from lyrebird.index.watch import watch

    def show(rep) -> None:
        lines = [", ".join(f"{k} {v}" for k, v in rep.counts().items())]
        lines += [f"  offline: {p}: {r}; {n} tracks kept" for p, r, n in rep.offline]
        lines += [f"  failed: {p}: {r}" for p, r in rep.failed]
        emit(rep.to_dict(), as_json, "\n".join(lines))

    lib = _open(library)
    with _errors():
        if keep_watching:
            try:
                watch(lib, list(paths) or None, on_report=show, interval_s=interval_s,
                      batch_size=batch_size)
            except KeyboardInterrupt:
                pass
        else:
            show(lib.sync(list(paths) or None, batch_size=batch_size))


@index_group.command("info")
@library_arg
@json_option
def info_cmd(library: Path, as_json: bool) -> None:
    """Tracks, hours, index kinds, model fingerprint, memory per track."""
    with _errors():
        info = _open(library, readonly=True).info()
    emit(info, as_json, "\n".join(f"{k}: {v}" for k, v in info.items()))


@index_group.command("reembed")
@library_arg
@click.option("--model", required=True,
              help=f"The model to migrate the library to: {SPEC_HELP}.")
@json_option
def reembed_cmd(library: Path, model: str, as_json: bool) -> None:
    """Re-embed every track with another model (atomic switch)."""
    with _errors():
        rep = _open(library).reembed(model)
    emit(rep.to_dict(), as_json, f"re-embedded {len(rep.added)} tracks, failed {len(rep.failed)}")


@index_group.command("retag")
@library_arg
@json_option
def retag_cmd(library: Path, as_json: bool) -> None:
    """Store the model's tag-student tags for tracks made without them (before the student
    shipped, or by an older one); vectors are unchanged, missing files are listed and kept."""
    with _errors():
        rep = _open(library).retag()
    emit(rep.to_dict(), as_json, f"retagged {len(rep.added)} tracks, failed {len(rep.failed)}"
         + "".join(f"\n  {p}: {r}" for p, r in rep.failed))


@index_group.command("check")
@library_arg
@click.option("--repair", is_flag=True,
              help="Rebuild what can be rebuilt: the FAISS files from the database, SQLite's "
                   "indexes, a missing LOCK, leftovers of an interrupted write.")
@json_option
def check_cmd(library: Path, repair: bool, as_json: bool) -> None:
    """Check a library: the database (integrity, schema), the FAISS files against its rows,
    the lock, and the tracks' files (missing ones are listed, never removed). Exit status 1
    when problems remain."""
    from lyrebird.index import Library

    with _errors():
        rep = Library.check(library, repair=repair)
    lines = [f"{library}: " + ("ok" if rep.ok else f"{len(rep.problems)} problem(s)")]
    lines += [f"  {k}: {v}" for k, v in rep.counts.items()]
    lines += [f"  repaired: {r}" for r in rep.repaired]
    lines += [f"  problem: {p}" for p in rep.problems]
    lines += [f"  missing file: [{i}] {p}" for p, i in rep.missing_files]
    emit(rep.to_dict(), as_json, "\n".join(lines))
    if not rep.ok:
        raise SystemExit(1)


@click.command("search")
@library_arg
@click.argument("query")
@k_option
@click.option("--segments", is_flag=True, help="Return 10-second moments instead of tracks.")
@click.option("--group/--no-group", default=True, show_default=True,
              help="One result per work, as the app and the API show them.")
@format_option
@runtime_option()
@json_option
def search_cmd(library: Path, query: str, k: int, segments: bool, group: bool,
               template: str | None, runtime: str, as_json: bool) -> None:
    """Text → music: tracks (or moments) matching QUERY, in any language, with title, artist
    and the app's tag chips."""
    template = _template(template)
    lib = _open(library, readonly=True, runtime=runtime)
    with _errors():
        hits = lib.search_segments(query, k) if segments else lib.search(query, k, group=group)
    _show_hits(lib, hits, template, as_json)


@click.command("similar")
@library_arg
@click.argument("item")
@k_option
@click.option("--group/--no-group", default=True, show_default=True,
              help="One result per work, as the app and the API show them.")
@format_option
@runtime_option()
@json_option
def similar_cmd(library: Path, item: str, k: int, group: bool, template: str | None,
                runtime: str, as_json: bool) -> None:
    """Music → music: tracks similar to an audio FILE or a library TRACK_ID."""
    template = _template(template)
    lib = _open(library, readonly=True, runtime=runtime)
    with _errors():
        if item.isdigit() and not Path(item).exists():
            item = ROW_ID.convert(item, None, None)
        hits = lib.similar(item, k, group=group)
    _show_hits(lib, hits, template, as_json)
