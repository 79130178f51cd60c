"""FAISS, imported once for the package, with an install hint when it is missing.

FAISS comes from one of two extras that exclude each other (their wheels both provide the
``faiss`` module): ``pip install -e ".[cpu]"`` (faiss-cpu) or ``pip install -e ".[gpu]"``
(faiss-gpu). A plain ``pip install -e .`` has neither, and ``from lyrebird.index import
Library`` then fails with :data:`MISSING`.
"""

from __future__ import annotations

MISSING = ("FAISS is not installed, and the music library (lyrebird.index) needs it. Install "
           "Lyrebird with one of its FAISS extras: pip install -e \".[cpu]\" (faiss-cpu), or "
           "pip install -e \".[gpu]\" (faiss-gpu, in an environment without faiss-cpu).")

try:
    import faiss
except ModuleNotFoundError as e:
    if e.name != "faiss":
        raise
    raise ModuleNotFoundError(MISSING, name="faiss") from None

__all__ = ["MISSING", "faiss"]
