"""Library: round trips, duplicates, bad files, model fingerprints, moments, approximate recall."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf
from tone_model import ToneModel

from lyrebird.index import IndexPolicy, Library, LibraryError
from lyrebird.index.vectors import build_index, exact_topk, recall_at_k, search_rerank

SR = 16000


def tone_file(path, freqs, seconds=12.0, sr=SR, channels=1):
    """Consecutive equal sections, one tone each."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    sec = np.minimum((t / seconds * len(freqs)).astype(int), len(freqs) - 1)
    x = 0.4 * np.sin(2 * np.pi * np.asarray(freqs)[sec] * t)
    sf.write(path, np.repeat(x[:, None], channels, 1).astype(np.float32), sr)
    return path


@pytest.fixture
def tracks(tmp_path):
    d = tmp_path / "music"
    d.mkdir()
    for f in (220, 440, 880, 1760, 3520):
        tone_file(d / f"tone{f}.flac", [f])
    return d


def test_round_trip_search_similar_and_reopen(tracks, tmp_path):
    lib = Library.create(tmp_path / "lib", ToneModel())
    rep = lib.add([tracks])
    assert len(rep.added) == 5 and not rep.failed and not rep.duplicates
    hits = lib.search("a tone at 880 Hz", k=3)
    assert hits[0].path.endswith("tone880.flac") and hits[0].score > 0.9
    first = [(h.track_id, round(h.score, 5)) for h in lib.search("tone at 440 hz", k=5)]
    ids = dict((p.split("/")[-1], i) for p, i in rep.added)
    sim = lib.similar(ids["tone1760.flac"], k=4)
    assert ids["tone1760.flac"] not in [h.track_id for h in sim]  # the query itself is excluded
    assert lib.similar(str(tracks / "tone220.flac"), k=1)[0].track_id == ids["tone220.flac"]
    info = lib.info()
    assert info["tracks"] == 5 and info["segments"] == 5 * 2  # 12 s: windows at 0 s and 2 s (shifted)
    lib.close()
    again = Library.open(tmp_path / "lib", model=ToneModel())
    assert [(h.track_id, round(h.score, 5)) for h in again.search("tone at 440 hz", k=5)] == first
    ro = Library.open(tmp_path / "lib", model=ToneModel(), readonly=True)
    assert ro.search("tone at 440 hz", k=1)[0].track_id == first[0][0]
    with pytest.raises(LibraryError, match="read-only"):
        ro.add([tracks])


def test_segment_hits_have_the_right_timestamps(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    tone_file(d / "sections.wav", [300, 1200, 2400], seconds=30.0)
    lib = Library.create(tmp_path / "lib", ToneModel())
    lib.add([d])
    for hz, start in ((300, 0.0), (1200, 10.0), (2400, 20.0)):
        top = lib.search_segments(f"tone at {hz} Hz", k=1)[0]
        assert (top.start_s, top.end_s) == (start, start + 10.0), hz
    best = lib.search("tone at 2400 Hz", k=1)[0]  # track hits carry their best moment too
    assert (best.start_s, best.end_s) == (20.0, 30.0)


def test_duplicates_are_skipped_by_content(tracks, tmp_path):
    lib = Library.create(tmp_path / "lib", ToneModel())
    first = lib.add([tracks / "tone440.flac"])
    shutil.copy(tracks / "tone440.flac", tracks / "copy_of_440.flac")
    rep = lib.add([tracks])
    (tid,) = [i for _, i in first.added]
    assert ("copy_of_440.flac", tid) in [(p.split("/")[-1], i) for p, i in rep.duplicates]
    assert len(rep.added) == 4 and lib.info()["tracks"] == 5
    # a second copy within the same call maps to the track added in that call
    d2 = tmp_path / "new"
    d2.mkdir()
    tone_file(d2 / "a.flac", [5000])
    shutil.copy(d2 / "a.flac", d2 / "b.flac")
    rep = lib.add([d2])
    assert len(rep.added) == 1 and rep.duplicates == [(str(d2 / "b.flac"), rep.added[0][1])]


def test_bad_files_are_reported_while_the_batch_goes_on(tracks, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.wav").write_bytes(b"")
    (bad / "notes.mp3").write_text("not audio at all\n" * 20)
    good = (tracks / "tone440.flac").read_bytes()
    (bad / "trunc.flac").write_bytes(good[: len(good) // 3])
    nan = np.full((SR, 1), np.nan, np.float32)
    sf.write(bad / "nan.wav", nan, SR, subtype="FLOAT")
    tone_file(bad / "long.wav", [500], seconds=40.0)
    tone_file(bad / "odd.wav", [700], seconds=11.0, sr=11025, channels=6)  # odd but valid
    lib = Library.create(tmp_path / "lib", ToneModel())
    rep = lib.add([bad, tmp_path / "missing_dir"], max_duration_s=30.0)
    failed = {p.split("/")[-1]: r for p, r in rep.failed}
    assert set(failed) == {"empty.wav", "notes.mp3", "trunc.flac", "nan.wav", "long.wav",
                           "missing_dir"}
    assert "empty" in failed["empty.wav"] and "NaN" in failed["nan.wav"]
    assert "very long" in failed["long.wav"] and "not a decodable" in failed["notes.mp3"]
    assert [p.split("/")[-1] for p, _ in rep.added] == ["odd.wav"]
    assert lib.search("tone at 700 Hz", k=1)[0].path.endswith("odd.wav")


def test_model_fingerprint_is_enforced_and_reembed_migrates(tracks, tmp_path):
    lib = Library.create(tmp_path / "lib", ToneModel())
    lib.add([tracks])
    lib.close()
    with pytest.raises(LibraryError, match="reembed"):
        Library.open(tmp_path / "lib", model=ToneModel(salt=0.1))
    lib = Library.open(tmp_path / "lib", model=ToneModel())
    rep = lib.reembed(ToneModel(salt=0.1))
    assert len(rep.added) == 5 and not rep.failed
    assert lib.info()["fingerprint"] == "tone-0.1"
    lib.close()
    lib = Library.open(tmp_path / "lib", model=ToneModel(salt=0.1))
    assert lib.search("tone at 1760 Hz", k=1)[0].path.endswith("tone1760.flac")
    with pytest.raises(LibraryError, match="reembed"):
        Library.open(tmp_path / "lib", model=ToneModel())


def test_remove_and_unknown_ids(tracks, tmp_path):
    lib = Library.create(tmp_path / "lib", ToneModel())
    ids = [i for _, i in lib.add([tracks]).added]
    lib.remove(ids[0])
    assert lib.info()["tracks"] == 4 and lib.info()["segments"] == 8
    assert ids[0] not in [h.track_id for h in lib.search("tone at 220 Hz", k=10)]
    with pytest.raises(LibraryError, match="no track"):
        lib.remove(ids[0])
    with pytest.raises(LibraryError, match="no track"):
        lib.similar(999)
    with pytest.raises(LibraryError, match="already exists"):
        Library.create(tmp_path / "lib", ToneModel())
    with pytest.raises(LibraryError, match="no library"):
        Library.open(tmp_path / "nowhere")


def test_zero_shot_tags_from_stored_vectors(tracks, tmp_path):
    lib = Library.create(tmp_path / "lib", ToneModel())
    ids = dict((p.split("/")[-1], i) for p, i in lib.add([tracks]).added)
    scores = lib.tag(ids["tone880.flac"], tags=["220 Hz", "880 Hz", "3520 Hz"], template="tone at {}")
    assert next(iter(scores)) == "880 Hz" and scores["880 Hz"] > scores["220 Hz"]


def clustered(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((k, d))
    x = c[rng.integers(0, k, n)] + 0.35 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("kind,target", [("ivf", 0.95), ("hnsw", 0.95), ("ivfpq", 0.9)])
def test_approximate_index_recall_against_exact(kind, target):
    x = clustered(30000, 64, 200)
    ids = np.arange(100, 30100)
    index, info = build_index(ids, x, 64, IndexPolicy(kind=kind))
    assert info["kind"] == kind
    rng = np.random.default_rng(5)
    q = x[rng.choice(len(x), 300, replace=False)] + 0.05 * rng.standard_normal((300, 64)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = ids[exact_topk(x, q, 10)]
    if kind == "ivfpq":  # compressed codes: candidates are re-ranked with exact vectors
        got = search_rerank(index, q, 10, lambda r: x[r - 100])[1]
    else:
        got = index.search(q, 10)[1]
    assert recall_at_k(got, exact) >= target, (kind, info)


def test_auto_policy_thresholds():
    from lyrebird.index.vectors import choose_kind

    p = IndexPolicy()
    assert choose_kind(1000, 512, p) == "flat"
    assert choose_kind(100_000, 512, p) == "ivf"
    assert choose_kind(10_000_000, 512, p) == "ivfpq"
    x = clustered(30000, 32, 100)
    _index, info = build_index(np.arange(30000), x, 32, IndexPolicy(flat_max=20000))
    assert info["kind"] == "ivf" and info["tuned_recall"] >= 0.95 and info["nprobe"] >= 1


def test_exact_topk_in_bounded_blocks_equals_a_full_sort():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((300, 16)).astype(np.float32)
    q = rng.standard_normal((37, 16)).astype(np.float32)
    want = np.argsort(-(q @ base.T), axis=1, kind="stable")[:, :10]
    for max_scores in (2**25, 1000, 1):  # one block; 3 queries per block; one query per block
        np.testing.assert_array_equal(exact_topk(base, q, 10, max_scores=max_scores), want)


def test_save_index_writes_through_private_temp_files(tmp_path, monkeypatch):
    import os
    import time

    import faiss

    from lyrebird.core.atomic import remove_stale_temps
    from lyrebird.index.vectors import index_ids, load_index, save_index

    index, _ = build_index(np.arange(10), clustered(10, 8, 2), 8)
    p = tmp_path / "t.faiss"
    save_index(index, p)
    save_index(index, p)
    assert [f.name for f in tmp_path.iterdir()] == ["t.faiss"]
    assert index_ids(load_index(p)).tolist() == list(range(10))
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0o600: servers read it

    def half_write(idx, name):
        open(name, "wb").write(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(faiss, "write_index", half_write)
    with pytest.raises(RuntimeError):
        save_index(index, p)
    monkeypatch.undo()
    assert [f.name for f in tmp_path.iterdir()] == ["t.faiss"]  # old file kept, no temp left
    assert index_ids(load_index(p)).tolist() == list(range(10))
    # a killed writer's temp file goes once it is stale; one being written now stays
    stale, fresh = tmp_path / "t.faiss.k1ll3d.tmp", tmp_path / "t.faiss.n0w.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    assert remove_stale_temps(p) == [stale] and fresh.exists() and not stale.exists()
