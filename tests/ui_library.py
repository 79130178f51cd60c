"""Tone files for the UI tests; the ``ui_library``/``ui_service`` fixtures live in conftest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
FREQS = (220, 440, 880, 1760)


def tone(path: Path, hz: float, seconds: float = 12.0) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32), SR)
    return path
