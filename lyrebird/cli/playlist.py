"""``lyrebird playlist LIB "query"``: a diverse playlist, printed and exported (M3U8/JSON/CSV)."""

from __future__ import annotations

from pathlib import Path

import click

from lyrebird.cli._common import emit, json_option, user_errors


@click.command("playlist")
@click.argument("library", type=click.Path(path_type=Path))
@click.argument("query", required=False)
@click.option("-n", "n", type=click.IntRange(1), default=20, show_default=True,
              help="Tracks in the playlist.")
@click.option("--seed", "seeds", type=int, multiple=True,
              help="Seed track id (repeatable); alone or with QUERY.")
@click.option("--into", default=None,
              help="Move towards this text along the list (or write 'A into B' in QUERY).")
@click.option("--lambda", "lam", type=click.FloatRange(0.0, 1.0), default=0.7,
              show_default=True, help="MMR: 1 = relevance only, 0 = diversity only.")
@click.option("--max-per-artist", type=click.IntRange(1), default=None)
@click.option("--max-per-album", type=click.IntRange(1), default=None)
@click.option("--order", type=click.Choice(["relevance", "smooth"]), default="relevance",
              show_default=True, help="'smooth': neighbouring tracks similar.")
@click.option("--m3u", "m3u", type=click.Path(path_type=Path), default=None,
              help="Write an M3U8 playlist here.")
@click.option("--relative", is_flag=True, help="M3U8 paths relative to its folder.")
@click.option("--out-json", type=click.Path(path_type=Path), default=None,
              help="Write the playlist as JSON here.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None,
              help="Write the playlist as CSV here.")
@json_option
def playlist_cmd(library: Path, query: str | None, n: int, seeds: tuple[int, ...],
                 into: str | None, lam: float, max_per_artist: int | None,
                 max_per_album: int | None, order: str, m3u: Path | None, relative: bool,
                 out_json: Path | None, csv_path: Path | None, as_json: bool) -> None:
    """A playlist from QUERY and/or --seed tracks: one track per work, capped per artist/album,
    diverse by MMR; 'calm piano into strings' moves from one to the other."""
    from lyrebird.index import Library, LibraryError

    with user_errors(LibraryError, ValueError):
        with Library.open(library, readonly=True) as lib:
            pl = lib.playlist(query, seeds=list(seeds) or None, n=n, into=into, lam=lam,
                              max_per_artist=max_per_artist, max_per_album=max_per_album,
                              order=order)
    written = []
    if m3u:
        written.append(str(pl.write_m3u8(m3u, relative=relative)))
    if out_json:
        written.append(str(pl.write_json(out_json)))
    if csv_path:
        written.append(str(pl.write_csv(csv_path)))
    lines = [f"{it.position:3d}. [{it.track_id}] {it.label}  ({it.duration_s:.0f} s, "
             f"score {it.score:.3f})" for it in pl] or ["no tracks"]
    lines += [f"wrote {p}" for p in written]
    emit(pl.to_dict(), as_json, "\n".join(lines))
