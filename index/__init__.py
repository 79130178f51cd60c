"""Music library index: SQLite metadata plus FAISS vectors, text→music and music→music search.

``from lyrebird.index import Library`` — see :class:`Library`. Modules, each importing only
those listed before it: :mod:`.types` (Hit, AddReport, SyncReport, TrackRow, LibraryError),
:mod:`.faiss_import` (FAISS, or what to install), :mod:`.vectors` (single FAISS indexes),
:mod:`.caches` (text vectors, segment arrays and batched text-tower calls that a process's
readers share), :mod:`.model` (library models, ``ModelHandle``, zero-shot tags), :mod:`.store`
(all SQL), :mod:`.ingest` (files → vectors), :mod:`.indexes` (a library's FAISS pair),
:mod:`.locking` (the writer lock), :mod:`.playlist` (playlists and their export), :mod:`.reader`
(the read side), :mod:`.writer` (crash-safe write steps), :mod:`.reembed` (model migration),
:mod:`.sync` (following the disk), :mod:`.watch` (sync on change), :mod:`.check` (is a
library folder sound; repairs), :mod:`.library`
(``Library``: the write path, composing the rest). Imports ``lyrebird.core``,
``lyrebird.mulan`` and ``lyrebird.encoders`` only.
"""

from .library import Library
from .model import EncoderModel, LibraryModel, MuLanModel, load_model
from .playlist import Playlist, PlaylistItem
from .types import AddReport, CheckReport, Hit, LibraryError, SyncReport
from .vectors import IndexPolicy

__all__ = ["AddReport", "CheckReport", "EncoderModel", "Hit", "IndexPolicy", "Library", "LibraryError",
           "LibraryModel", "MuLanModel", "Playlist", "PlaylistItem", "SyncReport", "load_model"]
