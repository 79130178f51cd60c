"""``lyrebird eval real`` scores a model with a tag head the way a library serves it: the
evaluation's fused text scores and fused similarity rank the tracks as ``Library.search`` and
``Library.similar`` do (the library is the oracle)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_index_tagspace import FREQS, permuted_head
from tone_model import HeadToneModel
from ui_library import tone

from lyrebird.index import Library
from lyrebird.train.realeval.embed import Vectors
from lyrebird.train.realeval.fused import FusedEval


def library_vectors(lib: Library) -> tuple[list, Vectors]:
    """The library's tracks and their stored vectors as the evaluation holds a split's."""
    rows = lib.tracks()
    embs = [lib.audio_embedded(r.path) for r in rows]
    return rows, Vectors(
        np.concatenate([e.seg_vectors for e in embs]),
        np.concatenate([np.full(len(e.seg_vectors), i) for i, e in enumerate(embs)]),
        np.stack([e.vector for e in embs]), np.stack([e.vector for e in embs]))


@pytest.mark.parametrize(("alpha", "beta"), [(0.3, 0.4), (0.0, 0.0), (0.7, 0.9)])
def test_evaluation_fusion_ranks_as_the_library(tmp_path, alpha, beta):
    head = permuted_head(alpha, beta)
    model = HeadToneModel(head)
    music = [tone(tmp_path / f"tone{f}.wav", f, 12.0) for f in FREQS]
    with Library.create(tmp_path / "lib", model) as lib:
        lib.add(music)
        rows, v = library_vectors(lib)
        ev = FusedEval(model, head, alpha, beta)
        prepared = ev.prepare_vectors(v)
        for q in ("tone at 220 Hz", "tone at 1760 Hz"):
            s = ev.text_scores(prepared.track, [q])[:, 0]
            assert [rows[j].id for j in np.argsort(-s)] == [h.track_id for h in lib.search(q, 4)]
        sim = prepared.track @ prepared.track[0]
        want = [rows[j].id for j in np.argsort(-sim) if j != 0]
        assert [h.track_id for h in lib.similar(rows[0].id, 3)] == want


def test_evaluation_uses_the_student_tags_a_library_stores(tmp_path):
    """A MuLan with a tag student: the evaluation embeds each track's student tags as the
    library stores them (cached with the student's fingerprint) and ranks as the library does;
    ``tags=head`` (student=False) falls back to the head."""
    from test_tag_student import StudentToneModel

    from lyrebird.train.realeval.embed import Settings, Track, embed_tracks
    from lyrebird.train.realeval.models import EvalModel

    head = permuted_head(0.0, 0.0)
    model = StudentToneModel(head)
    model.tag_student = type("S", (), {"fingerprint": lambda self: "stand-in-1"})()
    music = [tone(tmp_path / f"tone{f}.wav", f, 23.0) for f in FREQS]
    with Library.create(tmp_path / "lib", model) as lib:
        lib.add(music)
        rows = lib.tracks()
        settings = Settings(segment_s=float(lib.meta["segment_s"]), hop_s=float(lib.meta["hop_s"]))
        tracks = [Track(Path(r.path), 0.0, None, i) for i, r in enumerate(rows)]
        ev = FusedEval(model, head, 0.0, 0.0)
        spec = EvalModel("m", ev, "key")
        v = embed_tracks(spec, tracks, settings, tmp_path / "cache")
        stored = np.stack([lib.audio_embedded(r.path).tags for r in rows])
        np.testing.assert_allclose(v.tags, stored, rtol=1e-5, atol=1e-6)
        again = embed_tracks(spec, tracks, settings, tmp_path / "cache")  # from the cache
        np.testing.assert_array_equal(again.tags, v.tags)
        prepared = ev.prepare_vectors(v)
        s = ev.text_scores(prepared.track, ["tone at 880 Hz"])[:, 0]
        assert rows[int(np.argmax(s))].id == lib.search("tone at 880 Hz", 1)[0].track_id
        assert rows[int(np.argmax(s))].path.endswith("tone880.wav")  # the student's truth
        check_other_student(model, spec, tracks, settings, tmp_path / "cache", v)
        off = FusedEval(model, head, 0.0, 0.0, student=False)
        assert off.tag_fingerprint() is None and off.tag_segments(np.zeros((1, 10)), [10]) is None
        v2 = embed_tracks(EvalModel("m", off, "key"), tracks, settings, tmp_path / "cache")
        assert v2.tags is None
        s2 = off.text_scores(off.prepare_vectors(v2).track, ["tone at 880 Hz"])[:, 0]
        assert rows[int(np.argmax(s2))].path.endswith("tone220.wav")  # the permuted head's


def check_other_student(model, spec, tracks, settings, cache, first) -> None:
    """Another student of the same model (same spec key) runs only the student: the encoder's
    cached vectors stay, each student's tags are cached under its own fingerprint, and going
    back to the first student runs nothing."""
    from lyrebird.train.realeval.embed import embed_tracks

    calls = []
    encode = spec.model.embed_windows
    spec.model.embed_windows = lambda a, v: calls.append(len(a)) or encode(a, v)
    tag = model.tag_segments
    model.tag_segments = lambda a, v: tag(a, v)[:, ::-1].copy()  # a different student
    model.tag_student = type("S", (), {"fingerprint": lambda self: "stand-in-2"})()
    try:
        second = embed_tracks(spec, tracks, settings, cache)
        assert not calls  # no encoder call: vectors and excerpts from the cache
        np.testing.assert_allclose(second.tags, first.tags[:, ::-1], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(second.track, first.track)
        model.tag_segments = lambda a, v: 1 / 0  # neither runs again
        model.tag_student = type("S", (), {"fingerprint": lambda self: "stand-in-1"})()
        back = embed_tracks(spec, tracks, settings, cache)
        np.testing.assert_array_equal(back.tags, first.tags)
        for tf in cache.rglob("*.tags-*.npz"):  # an older cache: tags inside the vectors' file
            if tf.name.endswith(".tags-stand-in-2.npz"):
                main = tf.with_name(tf.name.split(".tags-")[0] + ".npz")
                with np.load(main) as z:
                    arrays = dict(z)
                np.savez(main, **arrays, tags=np.load(tf)["tags"], tags_fp=np.array("stand-in-2"))
            tf.unlink()
        model.tag_student = type("S", (), {"fingerprint": lambda self: "stand-in-2"})()
        old = embed_tracks(spec, tracks, settings, cache)
        np.testing.assert_array_equal(old.tags, second.tags)
    finally:
        spec.model.embed_windows, model.tag_segments = encode, tag
        model.tag_student = type("S", (), {"fingerprint": lambda self: "stand-in-1"})()


def test_evaluation_per_query_fusion_ranks_as_the_library(tmp_path):
    """The head's ``match_full`` (per-query alpha) in the evaluation, as the library applies
    it: a query matching one tag and one matching two equally; the spec option ``match``
    overrides it (0: one alpha for all, the library's ranking no longer)."""
    from dataclasses import replace

    from test_index_tagspace import MixToneModel, permuted_head_net

    net = permuted_head_net(0.3, 0.5)
    net.cfg = replace(net.cfg, match_full=0.9)
    head = net.frozen()
    model = MixToneModel(head)
    music = [tone(tmp_path / f"tone{f}.wav", f, 12.0) for f in FREQS]
    with Library.create(tmp_path / "lib", model) as lib:
        lib.add(music)
        rows, v = library_vectors(lib)
        ev = FusedEval(model, head, 0.3, 0.5)
        assert ev.match_full == 0.9
        prepared = ev.prepare_vectors(v)
        for q in ("tone at 440 Hz", "a mix of 220 and 440 Hz"):
            s = ev.text_scores(prepared.track, [q])[:, 0]
            hits = lib.search(q, 4)
            assert [rows[j].id for j in np.argsort(-s)] == [h.track_id for h in hits]
            z = {r.id: float(x) for r, x in zip(rows, s, strict=True)}
            for h in hits:  # same statistics: all tracks are the library's candidates
                assert h.score == pytest.approx(z[h.track_id], abs=1e-3)
        off = FusedEval(model, head, 0.3, 0.5, match_full=0.0)
        s_off = off.text_scores(off.prepare_vectors(v).track, ["a mix of 220 and 440 Hz"])
        s_on = ev.text_scores(prepared.track, ["a mix of 220 and 440 Hz"])[:, 0]
        name = {j: rows[j].path.rsplit("/", 1)[-1] for j in range(len(rows))}
        # one alpha (0.3): the lying tags win; per query (0.61): the tones themselves
        assert {name[j] for j in np.argsort(-s_off[:, 0])[:2]} == {"tone880.wav", "tone1760.wav"}
        assert {name[j] for j in np.argsort(-s_on)[:2]} == {"tone220.wav", "tone440.wav"}


@pytest.mark.parametrize("kind", ["log", "z"])
def test_evaluation_tag_score_scores_as_the_library(tmp_path, kind):
    """The head's ``tag_score`` in the evaluation, as the library applies it (a chord
    carries two tags, so the kind matters; ``z`` standardises over the split's tracks as the
    library over its tracks); the spec option ``score`` overrides it."""
    from dataclasses import replace

    from test_index_tagspace import MixToneModel, permuted_head_net
    from tone_model import write_chords

    net = permuted_head_net(0.3, 0.5)
    net.cfg = replace(net.cfg, tag_score=kind)
    head = net.frozen()
    model = MixToneModel(head)
    music = [tone(tmp_path / f"tone{f}.wav", f, 12.0) for f in FREQS]
    music.append(write_chords(tmp_path / "chord.wav", [(220, 440)], seconds=12.0))
    with Library.create(tmp_path / "lib", model) as lib:
        lib.add(music)
        rows, v = library_vectors(lib)
        ev = FusedEval(model, head, 0.3, 0.5)
        assert ev.tag_score == kind
        q = "a mix of 880 and 1760 Hz"
        s = ev.text_scores(ev.prepare_vectors(v).track, [q])[:, 0]
        hits = lib.search(q, 5)
        assert [rows[j].id for j in np.argsort(-s)] == [h.track_id for h in hits]
        z = {r.id: float(x) for r, x in zip(rows, s, strict=True)}
        for h in hits:
            assert h.score == pytest.approx(z[h.track_id], abs=1e-3)
        summed = FusedEval(model, head, 0.3, 0.5, tag_score="sum")
        s_sum = summed.text_scores(summed.prepare_vectors(v).track, [q])[:, 0]
        assert not np.allclose(s, s_sum, atol=1e-3)
