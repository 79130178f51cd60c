"""Music library index: SQLite metadata plus FAISS vectors, text→music and music→music search.

``from lyrebird.index import Library`` — see :class:`Library`. Imports ``lyrebird.mulan`` and
``lyrebird.encoders`` only.
"""

from .library import AddReport, Hit, Library, LibraryError
from .model import EncoderModel, LibraryModel, MuLanModel, load_model
from .vectors import IndexPolicy

__all__ = ["AddReport", "EncoderModel", "Hit", "IndexPolicy", "Library", "LibraryError",
           "LibraryModel", "MuLanModel", "load_model"]
