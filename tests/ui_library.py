"""Tone files for the UI tests; the ``ui_library``/``ui_service`` fixtures live in conftest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from tone_model import ToneModel

SR = 16000
FREQS = (220, 440, 880, 1760)


def tone(path: Path, hz: float, seconds: float = 12.0) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32), SR)
    return path



class TaggedToneModel(ToneModel):
    """The tone model with its own tag vocabulary (as MuLan has MTT top-50), so that tagging
    with no tags given and the result cards' chips can be tested."""

    default_tags = tuple(f"tone at {f} Hz" for f in FREQS)


def tag_file(path: Path, **tags: str) -> Path:
    """Write text tags (title, artist, …) into an audio file."""
    import mutagen

    f = mutagen.File(path, easy=True)
    for k, v in tags.items():
        f[k] = v
    f.save()
    return path


def synthetic_library(path: Path, n: int, seed: int = 0) -> Path:
    """A library of ``n`` tracks with clustered 32-d vectors (no audio: vectors are committed
    directly), titles, artists and genres, for the map at scale."""
    from lyrebird.index import Library
    from lyrebird.index.ingest import Embedded

    rng = np.random.default_rng(seed)
    centres = rng.random((12, ToneModel.DIM)) ** 4
    genres = ["folk", "chorale", "rock", "techno", "ambient", "jazz", "quartet"]

    def items():
        for i in range(n):
            v = np.abs(centres[i % 12] + 0.15 * rng.standard_normal(ToneModel.DIM))
            v = (v / np.linalg.norm(v)).astype(np.float32)
            meta = {"title": f"Synthetic piece {i}", "artist": f"Composer {i % 97}",
                    "genre": genres[i % 7], "tags": {}}
            yield (f"/synthetic/{i}.flac", f"hash-{seed}-{i}", meta,
                   Embedded(60.0, [(0.0, 10.0)], v[None], v))

    with Library.create(path, TaggedToneModel()) as lib:
        lib.add_embedded(items(), batch_size=5000)
    return path
