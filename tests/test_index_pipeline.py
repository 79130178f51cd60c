"""Ingestion on worker threads: ordered results, bounded look-ahead, same library as serial."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from tone_model import ToneModel, write_chords

from lyrebird.encoders import AudioError
from lyrebird.index import Library
from lyrebird.index.pipeline import ordered_map, torch_threads


def test_ordered_map_keeps_order_bounds_lookahead_and_reraises():
    running, peak, lock = [0], [0], threading.Lock()

    def fn(i):
        worker = threading.current_thread().name.startswith("lyrebird-ingest")
        with lock:
            running[0] += worker
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01 * (i % 3))
        with lock:
            running[0] -= worker
        if i == 5:
            raise AudioError(None, "bad")
        return i * i

    submitted = []

    def items():
        for i in range(12):
            submitted.append(i)
            yield i, i != 7  # 7 is not wanted: computed lazily in place

    out = []
    for i, result in ordered_map(fn, items(), workers=2, ahead=3):
        assert len(submitted) - i <= 4 + 1  # never more than ahead (+ the unwanted one) beyond
        if i == 5:
            with pytest.raises(AudioError):
                result()
        else:
            out.append((i, result()))
    assert out == [(i, i * i) for i in range(12) if i != 5]
    assert peak[0] <= 2  # worker threads at once
    assert list(ordered_map(fn, ((i, True) for i in (1, 2)), 0)) != []  # serial path


def test_torch_threads_pins_and_restores_even_when_nested():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
        with torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_parallel_add_equals_serial_add(tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    for i in range(7):
        write_chords(music / f"t{i}.wav", [[110 * (i + 1)], [220 * (i + 1), 330]], seconds=12)
    write_chords(music / "copy.wav", [[110], [220, 330]], seconds=12)  # same content as t0
    (music / "bad.wav").write_bytes(b"not audio")
    reps = {}
    for workers in (0, 2):
        lib = Library.create(tmp_path / f"lib{workers}", ToneModel())
        reps[workers] = (lib.add([music], batch_size=3, workers=workers),
                         [(t.path, t.duration_s) for t in lib.tracks()],
                         lib.similar(1, k=3))
        lib.close()
    (r0, t0, s0), (r2, t2, s2) = reps[0], reps[2]
    assert sorted(r0.added) == sorted(r2.added) and len(r2.added) == 7
    assert r0.duplicates == r2.duplicates and len(r2.duplicates) == 1
    assert [p for p, _ in r0.failed] == [p for p, _ in r2.failed]
    assert t0 == t2
    assert [h.track_id for h in s0] == [h.track_id for h in s2]
    assert np.allclose([h.score for h in s0], [h.score for h in s2])


def test_cli_create_defaults_are_the_library_defaults():
    from lyrebird.cli.index import create_cmd
    from lyrebird.index.ingest import HOP_S, SEGMENT_S

    defaults = {p.name: p.default for p in create_cmd.params}
    assert (defaults["segment_s"], defaults["hop_s"]) == (SEGMENT_S, HOP_S)
