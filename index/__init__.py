"""Music library index: SQLite metadata plus FAISS vectors, text→music and music→music search.

``from lyrebird.index import Library`` — see :class:`Library`. Modules, each importing only
those listed before it: :mod:`.types` (Hit, AddReport, SyncReport, TrackRow, LibraryError),
:mod:`.faiss_import` (FAISS, or what to install), :mod:`.vectors` (single FAISS indexes),
:mod:`.caches` (text vectors, segment arrays and batched text-tower calls that a process's
readers share), :mod:`.model` (library models, ``ModelHandle``, zero-shot tags), :mod:`.store`
(all SQL: no module outside this package runs any, ``tests/test_layering_sql.py``),
:mod:`.ingest` (files → vectors), :mod:`.pipeline` (ingestion on worker threads),
:mod:`.indexes` (a library's FAISS pair), :mod:`.locking` (the writer lock), :mod:`.works` (one
result per work), :mod:`.tagspace` (the library in tag space), :mod:`.notes` (small named
values kept in the meta), :mod:`.moments` (where in a track a vector matches), :mod:`.playlist`
(playlists and their export), :mod:`.reader` (the read side, ``LibraryReader``),
:mod:`.queries` (``Library``'s read API, delegating to the reader), :mod:`.writer` (the write
side, ``LibraryWriter``: crash-safe write steps), :mod:`.reembed` (model migration),
:mod:`.sync` (following the disk), :mod:`.watch` (sync on change), :mod:`.catalog` (in step
with another tool's catalogue), :mod:`.check` (is a library folder sound; repairs),
:mod:`.library` (``Library``: opening, the writer lock and the write API, composing the rest).
Front ends use ``Library``'s public methods only, never a private member of its parts. Imports
``lyrebird.core``, ``lyrebird.mulan`` and ``lyrebird.encoders`` only.
"""

from .library import Library
from .model import LibraryModel, MuLanModel, load_model
from .playlist import Playlist, PlaylistItem
from .types import AddReport, CheckReport, Hit, LibraryError, SyncReport
from .vectors import IndexPolicy

__all__ = ["AddReport", "CheckReport", "EncoderModel", "Hit", "IndexPolicy", "Library", "LibraryError",
           "LibraryModel", "MuLanModel", "Playlist", "PlaylistItem", "SyncReport", "load_model"]


def __getattr__(name: str):
    # EncoderModel needs torch; loaded on use, so a text query never imports torch
    if name == "EncoderModel":
        from .model import EncoderModel

        return EncoderModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
