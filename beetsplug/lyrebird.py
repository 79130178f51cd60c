"""Lyrebird for beets: search your beets library by describing the music.

Enable it with ``plugins: lyrebird`` in beets' config (``pip install 'lyrebird[beets]'``)::

    beet lyrebird add [QUERY]                 # embed the matching items (incremental)
    beet lyrebird search "calm piano" [-k N] [-f FORMAT]
    beet lyrebird similar QUERY [-k N]        # tracks like the first item QUERY matches
    beet lyrebird playlist "rainy night" -o night.m3u8 [-n N]

The Lyrebird library lives beside the beets database (``<beets dir>/lyrebird/``, or the
``library:`` config key) and is made with the ``model:`` config key (default ``default``, the
shipped MuLan). ``add`` keeps it in step with beets by item id (moved, retagged and removed
items are followed: :func:`lyrebird.index.catalog.sync_catalog`) and stores the app's tag chips
as the flexible attribute ``lyrebird_tags`` (``beet ls lyrebird_tags:piano``). The model has
no numeric descriptors (energy, mood), so none are written.

This module only talks to beets; the work is done by :mod:`lyrebird.index` and
:mod:`lyrebird.ui.results`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from beets import ui
from beets.dbcore import types
from beets.plugins import BeetsPlugin

CATALOG = "beets"
USAGE = ("beet lyrebird add [QUERY] | search TEXT [-k N] | similar QUERY [-k N] | "
         "playlist TEXT -o FILE.m3u8 [-n N]")


class LyrebirdPlugin(BeetsPlugin):
    """``beet lyrebird …``: Lyrebird's text and audio search over a beets library."""

    item_types: ClassVar[dict] = {"lyrebird_tags": types.STRING}

    def __init__(self) -> None:
        super().__init__()
        self.config.add({"model": "default", "library": None})

    # ------------------------------------------------------------------ plumbing
    def library_path(self, lib) -> Path:
        """Where the Lyrebird library is: the ``library`` config key, else beside the beets
        database."""
        configured = self.config["library"].get()
        if configured:
            return Path(os.path.expanduser(str(configured)))
        return Path(os.fsdecode(lib.path)).resolve().parent / "lyrebird"

    def open(self, lib, readonly: bool = True):
        """The Lyrebird library (created on the first ``add``); a beets ``UserError`` saying
        what to run when there is none yet."""
        from lyrebird.index import Library, LibraryError

        path = self.library_path(lib)
        try:
            if not (path / "library.sqlite").exists():
                if readonly:
                    raise ui.UserError(f"no Lyrebird library at {path} yet; run "
                                       "`beet lyrebird add` first")
                return Library.create(path, self.config["model"].as_str())
            return Library.open(path, readonly=readonly)
        except (LibraryError, ValueError, ImportError) as e:
            raise ui.UserError(f"lyrebird: {e}") from None

    def commands(self) -> list[ui.Subcommand]:
        cmd = ui.Subcommand("lyrebird", help="search the library by describing the music")
        cmd.parser.usage = USAGE
        cmd.parser.add_option("-k", type="int", default=10,
                              help="number of results, 1 to 100 [default: 10]")
        cmd.parser.add_option("-n", type="int", default=20,
                              help="playlist length [default: 20]")
        cmd.parser.add_option("-o", "--output", default=None, help="playlist file (.m3u8)")
        cmd.parser.add_format_option(target="item")
        cmd.func = self.run
        return [cmd]

    def run(self, lib, opts, args: list[str]) -> None:
        """Dispatch ``beet lyrebird ACTION ARGS``."""
        actions = {"add": self.add, "search": self.search, "similar": self.similar,
                   "playlist": self.playlist}
        if not args or args[0] not in actions:
            raise ui.UserError(f"usage: {USAGE}")
        if not 1 <= opts.k <= 100:
            raise ui.UserError(f"-k {opts.k}: ask for 1 to 100 results")
        actions[args[0]](lib, opts, args[1:])

    # ------------------------------------------------------------------ actions
    def add(self, lib, opts, query: list[str]) -> None:
        """Embed the items ``query`` matches; follow moved, retagged and removed items."""
        from lyrebird.index.catalog import catalog_ids, sync_catalog

        items = {str(i.id): os.fsdecode(i.path) for i in lib.items(query)}
        alive = [str(i.id) for i in lib.items()]
        ly = self.open(lib, readonly=False)
        try:
            rep = sync_catalog(ly, CATALOG, items, alive=alive)
        except (ValueError, OSError) as e:
            raise ui.UserError(f"lyrebird: {e}") from None
        ui.print_("lyrebird: " + ", ".join(f"{k} {v}" for k, v in rep.counts().items()))
        for key, path, why in rep.failed:
            ui.print_(f"  failed: item {key}: {path}: {why}")
        self.write_tags(lib, ly, catalog_ids(ly, CATALOG))

    def write_tags(self, lib, ly, mapping: dict[str, int]) -> None:
        """Store each mapped item's chips as ``lyrebird_tags`` (database only: the files, and
        so their mtimes and hashes, are not touched)."""
        from lyrebird.ui.results import chip_lookup

        if not mapping:
            return
        chips_of = chip_lookup(ly.path, ly.model)
        with lib.transaction():
            for key, tid in mapping.items():
                item = lib.get_item(int(key))
                tags = ", ".join(chips_of(tid))
                if item is not None and item.get("lyrebird_tags") != tags:
                    item["lyrebird_tags"] = tags
                    item.store()

    def _items_of(self, lib, ly, hits) -> list:
        """The beets items of ``hits``, best first (a track several items share: each)."""
        from lyrebird.index.catalog import catalog_ids

        by_track: dict[int, list[str]] = {}
        for key, tid in catalog_ids(ly, CATALOG).items():
            by_track.setdefault(tid, []).append(key)
        out = []
        for h in hits:
            out += [it for k in sorted(by_track.get(h.track_id, []), key=int)
                    if (it := lib.get_item(int(k))) is not None]
        return out

    def _show(self, items, opts) -> None:
        for item in items:
            ui.print_(format(item, opts.format or ""))

    def search(self, lib, opts, words: list[str]) -> None:
        """Print the items best matching the text, best first."""
        text = " ".join(words).strip()
        if not text:
            raise ui.UserError('give a description, e.g. beet lyrebird search "calm piano"')
        ly = self.open(lib)
        self._show(self._items_of(lib, ly, ly.search(text, opts.k)), opts)

    def similar(self, lib, opts, query: list[str]) -> None:
        """Print the items most like the first item ``query`` matches (itself left out)."""
        from lyrebird.index.catalog import catalog_ids

        seed = lib.items(query).get()
        if seed is None:
            raise ui.UserError(f"no beets item matches {' '.join(query)!r}")
        ly = self.open(lib)
        tid = catalog_ids(ly, CATALOG).get(str(seed.id))
        hits = ly.similar(tid if tid is not None else os.fsdecode(seed.path), opts.k + 1)
        items = [it for it in self._items_of(lib, ly, hits) if it.id != seed.id]
        self._show(items[:opts.k], opts)

    def playlist(self, lib, opts, words: list[str]) -> None:
        """Write an M3U8 playlist for the text (the library's playlist engine, beets' paths)."""
        from lyrebird.index.catalog import catalog_ids, with_paths

        text = " ".join(words).strip()
        if not text or not opts.output:
            raise ui.UserError('usage: beet lyrebird playlist "TEXT" -o FILE.m3u8 [-n N]')
        if opts.n < 1:
            raise ui.UserError(f"-n {opts.n}: a playlist needs at least one track")
        ly = self.open(lib)
        paths = {}
        for key, tid in catalog_ids(ly, CATALOG).items():
            item = lib.get_item(int(key))
            if item is not None:
                paths.setdefault(tid, os.fsdecode(item.path))
        pl = ly.playlist(text, n=opts.n)
        out = with_paths(pl, paths).write_m3u8(opts.output)
        self._show(self._items_of(lib, ly, pl), opts)
        ui.print_(f"lyrebird: wrote {len(pl)} tracks to {out}")
