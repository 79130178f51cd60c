"""The training mel cache: stored spectrograms round-trip, bad rows are skipped and reported,
and two builds of one cache running at once both succeed with the same result."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import torch
from conftest import tones, write

from lyrebird.encoders import MelFrontend, get_mel_config, load_audio
from lyrebird.train.trainers import melcache
from lyrebird.train.trainers.melcache import MelCache, build_mel_cache


def _manifest(tmp_path) -> tuple:
    good = [write(tmp_path / f"t{i}.wav", tones(16000, 1.5 + i, (220.0 * (i + 1),)), 16000)
            for i in range(2)]
    rows = [{"path": str(good[0]), "split": "train"},
            {"path": str(tmp_path / "missing.wav"), "split": "train"},
            {"path": str(good[1]), "start_s": 0.5, "end_s": 2.0, "split": "valid"}]
    m = tmp_path / "m.parquet"
    pd.DataFrame(rows).to_parquet(m)
    return m, good


def test_cache_round_trips_mels_and_reports_the_bad_row(tmp_path):
    m, good = _manifest(tmp_path)
    cfg = get_mel_config("myna")
    cache = build_mel_cache(m, cfg, cache_root=tmp_path / "c")
    assert list(cache.index["row"]) == [0, 2]
    skipped = json.loads((cache.directory / "meta.json").read_text())["skipped"]
    assert [s["row"] for s in skipped] == [1] and "missing.wav" in skipped[0]["path"]
    fe = MelFrontend(cfg)
    for i, (path, off, dur) in enumerate([(good[0], 0.0, None), (good[1], 0.5, 1.5)]):
        wav = load_audio(path, cfg.sample_rate, offset_s=off, duration_s=dur)
        want = fe(torch.from_numpy(wav))[0].numpy()  # (n_mels, frames)
        got = cache.clip(i).astype(np.float32)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=2e-2, rtol=1e-3)  # stored as float16
    assert list(cache.split("valid")) == [1]
    again = build_mel_cache(m, cfg, cache_root=tmp_path / "c")  # reused, not rebuilt
    assert again.directory == cache.directory
    assert (cache.directory / "mels.f16").stat().st_mtime_ns == \
        (again.directory / "mels.f16").stat().st_mtime_ns


def test_concurrent_builds_of_one_cache_both_succeed(tmp_path, monkeypatch):
    m, _ = _manifest(tmp_path)
    cfg = get_mel_config("myna")
    results, errors = [], []
    both_inside = threading.Barrier(2, timeout=30)
    seen: set[int] = set()

    def load_together(*args, **kwargs):  # both builds decode before either finishes
        if threading.get_ident() not in seen:
            seen.add(threading.get_ident())
            both_inside.wait()
        return load_audio(*args, **kwargs)

    monkeypatch.setattr(melcache, "load_audio", load_together)

    def build() -> None:
        try:
            results.append(build_mel_cache(m, cfg, cache_root=tmp_path / "c"))
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    d = results[0].directory
    assert not list(d.glob("*.tmp"))
    reopened = MelCache.open(d)
    for r in results:
        np.testing.assert_array_equal(np.asarray(r.mels), np.asarray(reopened.mels))
