"""A transparent library model for index tests: vectors are tone-frequency histograms.

Audio → normalised energy in 32 log-spaced bands (100–6400 Hz); text "tone at 440 Hz" → the
same band as a one-hot vector. Search results are therefore predictable from first principles.
"""

from __future__ import annotations

import re

import numpy as np
import soundfile as sf

EDGES = np.geomspace(100.0, 6400.0, 33)


class ToneModel:
    SAMPLE_RATE = 16000
    DIM = 32

    def __init__(self, name: str = "tone", salt: float = 0.0):
        self.name, self.salt = name, salt

    def fingerprint(self) -> str:
        return f"tone-{self.salt}"

    @property
    def has_text(self) -> bool:
        return True

    def _band(self, hz: float) -> int:
        return int(np.clip(np.searchsorted(EDGES, hz) - 1, 0, self.DIM - 1))

    def embed_windows(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray:
        out = np.zeros((len(audio), self.DIM), np.float32)
        for i, (a, n) in enumerate(zip(audio, valid, strict=True)):
            a = a[: int(n)]
            spec = np.abs(np.fft.rfft(a)) ** 2
            freqs = np.fft.rfftfreq(len(a), 1 / self.SAMPLE_RATE)
            for b in range(self.DIM):
                out[i, b] = spec[(freqs >= EDGES[b]) & (freqs < EDGES[b + 1])].sum()
            out[i] = np.sqrt(out[i]) + self.salt
            out[i] /= max(np.linalg.norm(out[i]), 1e-12)
        return out

    def embed_text(self, texts: list[str]) -> np.ndarray:
        out = np.full((len(texts), self.DIM), 1e-3, np.float32)
        for i, t in enumerate(texts):
            m = re.search(r"([\d.]+)\s*hz", t.lower())
            if m:
                out[i, self._band(float(m.group(1)))] = 1.0
            out[i] /= np.linalg.norm(out[i])
        return out


def write_chords(path, parts, seconds: float = 10.0, sr: int = 16000):
    """Write consecutive ``seconds``-long sections to ``path``, each a chord of the tones (Hz)
    in ``parts[i]``; returns ``path``."""
    t = np.arange(int(seconds * sr)) / sr
    x = np.concatenate([sum(0.2 * np.sin(2 * np.pi * f * t) for f in p) for p in parts])
    sf.write(path, x.astype(np.float32), sr)
    return path



def linear_head(names: tuple[str, ...], fires_on: dict[str, list[float]], **cfg):
    """A transparent distilled tag head for the tone model: tag ``name`` fires (p ≈ 1) on the
    bands of the tones ``fires_on[name]`` (Hz) and nowhere else (p ≈ 0.02); ``cfg`` goes to
    :class:`lyrebird.mulan.tag_head.TagHeadConfig` (alpha, beta, thresholds, …)."""
    import torch

    from lyrebird.mulan.tag_head import TagHeadConfig
    from lyrebird.mulan.tag_head_net import TagHeadNet

    m = ToneModel()
    head = TagHeadNet(TagHeadConfig(tags=names, dim=m.DIM, hidden=0, **cfg))
    with torch.no_grad():
        head.tags.weight.zero_()
        head.tags.bias.fill_(-4.0)
        for i, name in enumerate(names):
            for hz in fires_on.get(name, []):
                head.tags.weight[i, m._band(hz)] = 10.0
    return head.eval()


class HeadToneModel(ToneModel):
    """The tone model carrying a distilled tag head (as the default MuLan does: the NumPy
    :class:`lyrebird.mulan.tag_head.TagHead`; a trainable ``TagHeadNet`` is frozen first)."""

    def __init__(self, head):
        super().__init__()
        self.tag_head = head.frozen() if hasattr(head, "frozen") else head
