"""A library over a real (tiny, random) MuLan checkpoint: text queries load the text side only,
ingest windows once, and libraries stored under the old fingerprint are upgraded, not refused."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from lyrebird.index import Library, LibraryError
from lyrebird.index import store as store_mod
from lyrebird.index.model import MuLanModel, state_fingerprint
from lyrebird.mulan import AudioTowerConfig, MuLan, MuLanConfig, TextTowerConfig

SR = 16000


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg = MuLanConfig(audio=AudioTowerConfig(encoder="myna:tiny-hybrid", n_layers=0,
                                             window_s=4.0),
                      text=TextTowerConfig(backbone="random-bert:tiny", n_layers=0), dim=16)
    d = tmp_path_factory.mktemp("mulan") / "m"
    MuLan(cfg).eval().save(d)
    return d


@pytest.fixture(scope="module")
def library(checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("lib")
    rng = np.random.default_rng(0)
    for i, hz in enumerate((220.0, 880.0, 3000.0)):
        t = np.arange(int(9 * SR)) / SR
        x = 0.3 * np.sin(2 * np.pi * hz * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(root / f"tone{i}.wav", x.astype(np.float32), SR)
    with Library.create(root / "lib", model=str(checkpoint), segment_s=4.0, hop_s=2.0) as lib:
        rep = lib.add([root])
    assert len(rep.added) == 3
    return root / "lib"


def test_text_query_never_builds_the_audio_tower(library, monkeypatch):
    import lyrebird.mulan.towers as towers

    def refuse(*a, **k):
        raise AssertionError("a text query built the audio tower")

    monkeypatch.setattr(towers.AudioTower, "__init__", refuse)
    with Library.open(library, readonly=True) as lib:
        hits = lib.search("a calm piano piece", k=3)
    assert len(hits) == 3 and len({h.track_id for h in hits}) == 3


def test_text_and_full_model_agree_on_query_vectors_and_identity(checkpoint):
    text_side = MuLanModel(spec=str(checkpoint))
    q = text_side.embed_text(["drums", "ein Klavier"])
    fp_text = text_side.fingerprint()
    full = MuLanModel(MuLan.load(checkpoint), "m")
    assert np.allclose(q, full.embed_text(["drums", "ein Klavier"]), atol=1e-6)
    assert fp_text == full.fingerprint()
    # the audio side loads on demand and reuses the text backbone already in memory
    backbone = text_side._text_side().text.backbone
    assert text_side.SAMPLE_RATE == 16000
    assert text_side.mulan.text.backbone is backbone


def test_ingest_windows_once_and_the_track_vector_is_the_weighted_mean(library, checkpoint):
    m = MuLan.load(checkpoint)
    with Library.open(library, readonly=True) as lib:
        tid = lib.tracks()[0].id
        row = lib.track(tid)
        wav, _ = sf.read(row.path, dtype="float32")
        times, segs = store_mod.track_segments(lib.con, tid)
    # each stored segment vector is the model's vector of exactly that 4 s window
    s0, e0 = times[0]
    ref = m.embed_windows(wav[None, int(s0 * SR) : int(e0 * SR)], np.array([int((e0 - s0) * SR)]))
    assert np.allclose(segs[0], ref[0].numpy(), atol=2e-3)  # stored as float16
    mean = segs.mean(0)
    with Library.open(library, readonly=True) as lib:
        v = lib.audio_vector(row.path)
    assert np.allclose(v, mean / np.linalg.norm(mean), atol=2e-3)


def test_a_library_stored_under_the_legacy_fingerprint_is_upgraded(library, checkpoint, tmp_path):
    import shutil

    lib_dir = tmp_path / "old"
    shutil.copytree(library, lib_dir)
    model = MuLanModel(spec=str(checkpoint))
    legacy = state_fingerprint(model.mulan, ["MuLan", model.DIM])
    con = store_mod.connect(lib_dir / "library.sqlite", readonly=False)
    with store_mod.immediate(con):
        store_mod.set_meta(con, fingerprint=legacy)
    con.close()
    with Library.open(lib_dir, readonly=True) as lib:  # the model the meta names, read-only
        assert len(lib.search("piano", k=2)) == 2
        assert lib.meta["fingerprint"] == model.fingerprint()
    con = store_mod.connect(lib_dir / "library.sqlite", readonly=True)
    assert store_mod.get_meta(con)["fingerprint"] == model.fingerprint()  # stored, once
    con.close()
    con = store_mod.connect(lib_dir / "library.sqlite", readonly=False)
    with store_mod.immediate(con):
        store_mod.set_meta(con, fingerprint="0123456789abcdef")
    con.close()
    with pytest.raises(LibraryError, match="fingerprint"):
        Library.open(lib_dir, model=MuLanModel(spec=str(checkpoint)))
    con = store_mod.connect(lib_dir / "library.sqlite", readonly=False)
    with store_mod.immediate(con):
        store_mod.set_meta(con, fingerprint=legacy)
    con.close()
    with Library.open(lib_dir, model=MuLanModel(spec=str(checkpoint))) as lib:  # a given model
        assert lib.meta["fingerprint"] == model.fingerprint()
