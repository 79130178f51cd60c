"""Offline corpora: the manifest format, the rendered demo corpus, folder import, probe tasks.

Light to import: the heavy parts (music21, fluidsynth) load only inside the functions that
need them.

- :mod:`.manifest`: schema, :func:`read_manifest`, :func:`write_manifest`,
  :func:`validate_manifest`;
- :mod:`.demo_corpus`: :func:`build_demo_corpus` (``lyrebird data demo``);
- :mod:`.importer`: :func:`import_folder` (``lyrebird data import``);
- :mod:`.probe_tasks`: key / instrument family / tempo / collection / tagging / pitch tasks;
- :mod:`.summary`: :func:`summarize` (``lyrebird data summary``);
- :mod:`.debian_music`: links the seven original Debian game-music packages into a folder;
- :mod:`.debian_corpus`: :func:`build_debian_corpus` (``lyrebird data debian-music``), the
  real-recording corpus with the text its files carry (:mod:`.debian_packages`,
  :mod:`.debian_sources`, :mod:`.text_sources`, :mod:`.module_render`, :mod:`.licences`,
  :mod:`.loops`, :mod:`.debian_splits`, :mod:`.debian_process`, :mod:`.debian_rows`).
"""

from .manifest import (
    COLUMNS,
    SCHEMA,
    SPLITS,
    ManifestError,
    Problem,
    read_manifest,
    resolve_path,
    validate_manifest,
    write_manifest,
)

DEFAULT_DEMO_MANIFEST = "data/demo/manifest.parquet"
"""Where ``lyrebird data demo`` puts the corpus by default (relative to the repository)."""

__all__ = [
    "COLUMNS",
    "DEFAULT_DEMO_MANIFEST",
    "SCHEMA",
    "SPLITS",
    "ManifestError",
    "Problem",
    "read_manifest",
    "resolve_path",
    "validate_manifest",
    "write_manifest",
]
