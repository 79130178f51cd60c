"""Music library index: SQLite metadata plus FAISS vectors, text→music and music→music search.

Imports ``lyrebird.mulan`` and ``lyrebird.encoders``. Populated by the library-index issue.
"""
