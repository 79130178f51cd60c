"""Moment search in tag space too (#25): each segment's tag-student tags are stored at
ingestion (and by ``retag``), and a text query's moments are ranked by the same fused score as
its tracks, with no audio model at query time.

The tone model's head is deliberately permuted (it calls the 220 Hz band "tone at 880 Hz") and
the stand-in student is truthful (each band's energy share), so which tags a moment search used
shows in which section of a three-section track it returns."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import numpy as np
import pytest
from test_index_tagspace import FREQS, NAMES, permuted_head
from test_tag_student import StudentToneModel
from tone_model import HeadToneModel, write_chords

from lyrebird.index import Library
from lyrebird.mulan.tag_space import TEMPERATURE, softmax

SECTIONS = [(220,), (880,), (440,)]  # 0-10 s, 10-20 s, 20-30 s


def student(head) -> StudentToneModel:
    m = StudentToneModel(head)
    m.tag_student = SimpleNamespace(fingerprint=lambda: "truthful-1")
    return m


@pytest.fixture(scope="module")
def track(tmp_path_factory):
    return write_chords(tmp_path_factory.mktemp("m") / "three.wav", SECTIONS, seconds=10.0)


def best_moment(lib, query: str) -> tuple[float, float]:
    h = lib.search_segments(query, k=1)[0]
    return h.start_s, h.end_s


def test_moments_follow_the_tags_a_text_query_names(tmp_path, track):
    """Tag space only (alpha 0): with the student's stored segment tags the 880 Hz section wins;
    without a student the head's (lying) tags pick the 220 Hz one; audio queries and a model
    without a head stay in the contrastive space (the 880 Hz section)."""
    head = permuted_head(0.0, 1.0)
    with Library.create(tmp_path / "s", student(head)) as lib:
        lib.add([track])
        a, b = best_moment(lib, "tone at 880 Hz")
        assert 10.0 <= (a + b) / 2 <= 20.0, (a, b)
    with Library.create(tmp_path / "h", HeadToneModel(head)) as lib:
        lib.add([track])
        a, b = best_moment(lib, "tone at 880 Hz")
        assert (a + b) / 2 < 10.0, (a, b)  # the head's 880 Hz tag fires on the 220 Hz band
        q = write_chords(tmp_path / "q.wav", [(880,)], 10.0)
        for audio in (q, str(q)):  # a file, named by a path or a string: contrastive
            h = lib.search_segments(audio, k=1)[0]
            assert 10.0 <= (h.start_s + h.end_s) / 2 <= 20.0, audio


def test_a_text_hits_moment_is_its_best_segment_by_the_fused_score(tmp_path, track):
    """A text hit plays from its best moment in both spaces: tag space only (alpha 0) with the
    permuted head, "tone at 880 Hz" starts the three-section track in its 220 Hz section (the
    head's 880 Hz tag); the contrastive space alone (alpha 1) in its 880 Hz section."""
    for alpha, lo, hi in ((0.0, 0.0, 10.0), (1.0, 10.0, 20.0)):
        with Library.create(tmp_path / f"a{alpha}", HeadToneModel(permuted_head(alpha, 1.0))) as lib:
            lib.add([track])
            h = lib.search("tone at 880 Hz", k=1)[0]
            assert lo <= (h.start_s + h.end_s) / 2 <= hi, (alpha, h.start_s, h.end_s)


def test_fused_moment_scores_match_the_oracle(tmp_path, track):
    """Scores from first principles, reading the database file directly: the stored segment
    tags, the segments' float16 vectors, z-scores over all segments (the statistics sample)."""
    head = permuted_head(0.3, 1.0)
    model = student(head)
    with Library.create(tmp_path / "lib", model) as lib:
        lib.add([track, write_chords(tmp_path / "two.wav", [(1760,), (440, 880)], 10.0)])
        query = "tone at 440 Hz"
        hits = lib.search_segments(query, k=50)
        con = sqlite3.connect(lib.path / "library.sqlite")
        rows = con.execute("SELECT s.id, s.vector, t.probs FROM segments s JOIN segment_tags t "
                           "ON t.segment_id = s.id ORDER BY s.id").fetchall()
        assert len(rows) == con.execute("SELECT COUNT(*) FROM segments").fetchone()[0] >= 5
        q = model.embed_text([query])[0]
        w = softmax(model.embed_text(list(NAMES)) @ q / TEMPERATURE)
        vec = np.stack([np.frombuffer(v, np.float16).astype(np.float32) for _, v, _ in rows])
        tag = np.stack([np.frombuffer(p, np.float32) for *_, p in rows]) @ w
        cos = vec @ q
        z = 0.3 * (cos - cos.mean()) / cos.std() + 0.7 * (tag - tag.mean()) / tag.std()
        want = sorted(zip(z.tolist(), [r[0] for r in rows], strict=True), reverse=True)
        info = {r[0]: (r[1], r[2], r[3]) for r in con.execute(
            "SELECT id, track_id, start_s, end_s FROM segments")}
        assert [(h.track_id, h.start_s, h.end_s) for h in hits] == [info[i] for _, i in want]
        for h, (s, _) in zip(hits, want, strict=True):
            assert h.score == pytest.approx(s, abs=1e-3)


def test_segment_tags_are_stored_kept_and_removed_with_their_track(tmp_path, track):
    """Ingestion stores one row per segment (the student's probabilities of that segment);
    retag fills them in for a library that has none; removing the track removes them."""
    head = permuted_head(0.0, 1.0)
    with Library.create(tmp_path / "lib", student(head)) as lib:
        tid = lib.add([track]).added[0][1]
        con = sqlite3.connect(lib.path / "library.sqlite")
        seg = con.execute("SELECT s.start_s, t.probs FROM segments s JOIN segment_tags t ON "
                          "t.segment_id = s.id ORDER BY s.start_s").fetchall()
        first = np.frombuffer(seg[0][1], np.float32)
        assert seg[0][0] == 0.0 and int(np.argmax(first)) == FREQS.index(220)
        con.execute("DELETE FROM segment_tags")
        con.commit()
        assert len(lib.retag().added) == 1  # a track whose segments have no tags is retagged
        assert con.execute("SELECT COUNT(*) FROM segment_tags").fetchone()[0] == len(seg)
        assert len(lib.retag().added) == 0
        lib.remove(tid)
        assert con.execute("SELECT COUNT(*) FROM segment_tags").fetchone()[0] == 0
