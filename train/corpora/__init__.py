"""Offline corpora: the manifest format, the rendered demo corpus, folder import, probe tasks.

Light to import: the heavy parts (music21, fluidsynth) load only inside the functions that
need them.

- :mod:`.manifest`: schema, :func:`read_manifest`, :func:`write_manifest`,
  :func:`validate_manifest`;
- :mod:`.demo_corpus`: :func:`build_demo_corpus` (``lyrebird data demo``);
- :mod:`.importer`: :func:`import_folder` (``lyrebird data import``);
- :mod:`.probe_tasks`: key / instrument family / tempo / collection / tagging / pitch tasks;
- :mod:`.summary`: :func:`summarize` (``lyrebird data summary``);
- :mod:`.debian_music`: the real-recording corpus from Debian's game-music packages.
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
