"""The read side's shared pieces: concurrent text queries batched into one model call, text
vectors cached across readers, segment arrays cached and keyed by content."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from tone_model import ToneModel

from lyrebird.index.caches import TEXT_CACHE, SegmentCache, TextBatcher, embed_text_batched
from lyrebird.index.model import ModelHandle


class SlowTone(ToneModel):
    def __init__(self):
        super().__init__()
        self.calls: list[int] = []

    def embed_text(self, texts):
        self.calls.append(len(texts))
        time.sleep(0.05)
        if any("boom" in t for t in texts):
            raise RuntimeError("boom")
        return super().embed_text(texts)


def test_concurrent_text_calls_are_batched_and_correct():
    m, b = SlowTone(), TextBatcher(max_batch=8)
    texts = [f"tone at {100 + 10 * i} Hz" for i in range(20)]
    out: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, b.embed(m, [texts[i]])))
               for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(m.calls) == 20 and len(m.calls) < 20 and max(m.calls) <= 8
    for i in range(20):
        np.testing.assert_allclose(out[i][0], ToneModel().embed_text([texts[i]])[0])


def test_a_failing_batch_fails_its_callers_only():
    m, b = SlowTone(), TextBatcher()
    errors, ok = [], []

    def call(t):
        try:
            ok.append(b.embed(m, [t]))
        except RuntimeError as e:
            errors.append(e)

    first = threading.Thread(target=call, args=("boom",))
    first.start()
    first.join()
    assert len(errors) == 1
    call("tone at 440 Hz")  # the batcher is usable afterwards
    assert len(ok) == 1 and not b._busy


def test_text_vectors_are_cached_across_handles():
    m = SlowTone()
    m.fingerprint = lambda: "slow-tone-cache-test"
    TEXT_CACHE.clear()
    ModelHandle(m).text_vectors(["tone at 880 Hz"])
    ModelHandle(m).text_vectors(["tone at 880 Hz", "tone at 880 Hz"])
    assert m.calls == [1]
    assert embed_text_batched(m, ["tone at 220 Hz"]).shape == (1, 32)


def test_segment_cache_is_bounded_and_read_only():
    c = SegmentCache(max_bytes=3 * 800)
    for i in range(5):
        c.put(("lib", "fp", i, "h"), (np.zeros((10, 2)), np.zeros((10, 10))))
    assert c.get(("lib", "fp", 0, "h")) is None and c.get(("lib", "fp", 4, "h")) is not None
    assert c.nbytes <= 3 * 800
    with pytest.raises(ValueError):
        c.get(("lib", "fp", 4, "h"))[1][0, 0] = 1.0
