"""A library kept in step with another tool's catalogue (a beets database): items by their ids.

Another music manager names its files by its own item ids (beets: ``item.id``) and moves,
retags and removes them. :func:`sync_catalog` takes the catalogue's ``{item key: path}`` and
brings the library in step, recording which track holds each item in the library's ``meta``
(key ``catalog:<name>``, JSON ``{item key: track id}``; :func:`catalog_ids` reads it):

* an item whose file has the size and modification time recorded with its track is
  **unchanged** (not read);
* an item whose file has the same content (SHA-256) at another path was **moved**: its track
  gets the new path, keeping its id and vectors (no re-embedding);
* an item whose content changed (retagged: tags are part of the file) is **updated**: the old
  track goes (unless another item still holds it) and the file is embedded again;
* an item the catalogue no longer has (``alive`` leaves it out) is **removed** with its track;
* any other item is **added** (a file already in the library is mapped to its track).

Moves and removals are one commit; additions go through :meth:`Library.add` (commits per
batch); the mapping is written after each step, and an interrupted run is finished by the
next (a file added but not yet mapped is found again as a duplicate of its track).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lyrebird.core.fingerprint import content_hash

from . import store
from .playlist import Playlist
from .writer import file_stat

PREFIX = "catalog:"


@dataclass
class CatalogReport:
    """What :func:`sync_catalog` did, by item key: ``added``/``updated``/``moved`` (key, track
    id), ``removed`` (key, track id or None), ``unchanged`` (count), ``failed`` (key, path,
    reason)."""

    added: list[tuple[str, int]] = field(default_factory=list)
    updated: list[tuple[str, int]] = field(default_factory=list)
    moved: list[tuple[str, int]] = field(default_factory=list)
    removed: list[tuple[str, int | None]] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many items each outcome had."""
        return {"added": len(self.added), "updated": len(self.updated), "moved": len(self.moved),
                "removed": len(self.removed), "unchanged": self.unchanged,
                "failed": len(self.failed)}


def _key(name: str) -> str:
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"catalogue name {name!r}: letters, digits, '-' and '_' only")
    return PREFIX + name


def catalog_ids(lib, name: str) -> dict[str, int]:
    """``{item key: track id}`` recorded for the catalogue ``name`` (empty when none)."""
    raw = store.get_meta(lib.con).get(_key(name))
    return {str(k): int(v) for k, v in json.loads(raw).items()} if raw else {}


def _save(lib, name: str, mapping: dict[str, int]) -> None:
    with store.immediate(lib.con):
        store.set_meta(lib.con, **{_key(name): json.dumps(mapping, sort_keys=True)})


def _resolved(path: str | os.PathLike) -> str:
    return str(Path(path).expanduser().resolve())


def sync_catalog(lib, name: str, items: Mapping[str, str | os.PathLike], *,
                 alive: Iterable[str] | None = None, batch_size: int = 16) -> CatalogReport:
    """Bring the writable library ``lib`` in step with catalogue ``name``'s ``items`` (``{item
    key: file path}``, e.g. the beets items a query matched); ``alive``: every key the
    catalogue still has (default: the keys of ``items``), so items outside the query are kept
    and items gone from the catalogue are removed. See the module docstring."""
    rep = CatalogReport()
    items = {str(k): _resolved(p) for k, p in items.items()}
    alive_keys = set(items) | (set(map(str, alive)) if alive is not None else set())
    to_add: dict[str, str] = {}
    with lib.writing():
        mapping = catalog_ids(lib, name)
        known = {tid: (p, h, st) for tid, p, h, st in store.track_files(lib.con)}
        gone = [k for k in mapping if k not in alive_keys]
        held = {tid for k, tid in mapping.items() if k not in gone}
        drop = {mapping[k] for k in gone if mapping[k] not in held and mapping[k] in known}
        rep.removed = [(k, mapping.pop(k)) for k in gone]
        moves, stats, replaced = [], {}, set()
        for key, path in items.items():
            tid = mapping.get(key)
            if tid is None or tid not in known:
                to_add[key] = path
                continue
            old_path, old_hash, old_stat = known[tid]
            now = file_stat(path)
            if now is None:
                rep.failed.append((key, path, "missing or unreadable"))
                continue
            if old_path == path and old_stat == tuple(now):
                rep.unchanged += 1
                continue
            try:
                same = content_hash(path) == old_hash
            except OSError as e:
                rep.failed.append((key, path, f"unreadable: {e}"))
                continue
            stats[tid] = now
            if same and old_path != path:
                moves.append((tid, path))
                rep.moved.append((key, tid))
            elif same:
                rep.unchanged += 1
            else:
                replaced.add(tid)
                stats.pop(tid)
                to_add[key] = path
        lib.writer.move(moves, stats)
        still = {tid for k, tid in mapping.items() if k not in to_add}
        lib.writer.delete(sorted(drop | (replaced - still)))
        _save(lib, name, mapping)
    if to_add:
        added = lib.add(sorted(set(to_add.values())), batch_size=batch_size)
        where = {_resolved(p): tid for p, tid in added.added + added.duplicates}
        why = {_resolved(p): r for p, r in added.failed}
        with lib.writing():
            mapping = catalog_ids(lib, name)
            for key, path in to_add.items():
                if path in where:
                    was = mapping.get(key)
                    mapping[key] = where[path]
                    (rep.updated if was is not None else rep.added).append((key, where[path]))
                else:
                    mapping.pop(key, None)
                    rep.failed.append((key, path, why.get(path, "not added")))
            _save(lib, name, mapping)
    return rep


def with_paths(playlist: Playlist, paths: Mapping[int, str]) -> Playlist:
    """``playlist`` with each track's path replaced by ``paths[track id]`` (the catalogue's
    path for it) where given, e.g. before :meth:`Playlist.write_m3u8`."""
    return Playlist([dataclasses.replace(it, path=paths.get(it.track_id, it.path))
                     for it in playlist], dict(playlist.params))


__all__ = ["CatalogReport", "catalog_ids", "sync_catalog", "with_paths"]
