"""Giving a library the tag student's tags after the fact (``Library.retag``, ``index retag``).

A library made before the student shipped (or by an older student) keeps its vectors; retag
computes each track's student tags from its file, stores them with the student's fingerprint,
and readers that are already open switch to them. Tone model with the permuted head of
``test_index_tagspace`` (it calls the 880 Hz track "tone at 220 Hz") and the truthful stand-in
student of ``test_tag_student``, so which tags a reader uses shows.
"""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import numpy as np
import pytest
from test_index_tagspace import FREQS, NAMES, permuted_head
from test_tag_student import StudentToneModel
from tone_model import HeadToneModel
from ui_library import tone

from lyrebird.encoders import chunk, load_audio
from lyrebird.index import Library

HEAD = permuted_head(alpha=0.0, beta=0.0)


def student_model(version: str) -> StudentToneModel:
    """The stand-in student, under the fingerprint ``version`` (a new release's student)."""
    m = StudentToneModel(HEAD)
    m.tag_student = SimpleNamespace(fingerprint=lambda: version)
    return m


def rows(path) -> dict[int, tuple[np.ndarray, str]]:
    con = sqlite3.connect(path / "library.sqlite")
    out = {int(t): (np.frombuffer(p, np.float32), s)
           for t, p, s in con.execute("SELECT track_id, probs, student FROM track_tags")}
    con.close()
    return out


def best_tag(lib: Library, tid: int) -> str:
    space = lib.tag_space()
    return NAMES[int(np.argmax(space.probs[space.ids == tid][0]))]


def test_retag_gives_an_older_library_the_students_tags(tmp_path):
    music = [tone(tmp_path / f"tone{f}.wav", f, 23.0) for f in FREQS]
    with Library.create(tmp_path / "lib", HeadToneModel(HEAD)) as lib:  # before the student
        assert len(lib.add(music).added) == len(FREQS)
        ids = {int(t.path.rsplit("tone", 1)[1].split(".")[0]): t.id for t in lib.tracks()}
        vectors = lib.track_vectors()
    assert rows(tmp_path / "lib") == {}
    with Library.open(tmp_path / "lib", model=HeadToneModel(HEAD), readonly=True) as lib:
        # the top tags stored with each track (Hit.tags): the head's distilled ones, its lie
        assert next(iter(lib.track(ids[880]).zs_tags)) == "tone at 220 Hz"
    model = student_model("v1")
    reader = Library.open(tmp_path / "lib", model=model, readonly=True)
    assert best_tag(reader, ids[880]) == "tone at 220 Hz"  # the permuted head's

    with Library.open(tmp_path / "lib", model=model) as lib:
        rep = lib.retag()
        assert sorted(t for _, t in rep.added) == sorted(ids.values()) and not rep.failed
        seg, hop = float(lib.meta["segment_s"]), float(lib.meta["hop_s"])
        stored = rows(lib.path)
        for t in lib.tracks():  # oracle: ingestion's valid-weighted mean of the segment tags
            ch = chunk(load_audio(t.path, 16000), 16000, seg, hop, last="shift")
            w = ch.valid / ch.valid.sum()
            want = (model.tag_segments(ch.audio, ch.valid) * w[:, None]).sum(0)
            np.testing.assert_allclose(stored[t.id][0], want, rtol=1e-5, atol=1e-6)
            assert stored[t.id][1] == "v1"
        got_ids, got_vecs = lib.track_vectors()  # vectors untouched
        np.testing.assert_array_equal(got_ids, vectors[0])
        np.testing.assert_array_equal(got_vecs, vectors[1])
        assert lib.retag().added == []  # nothing left to do

    assert best_tag(reader, ids[880]) == "tone at 880 Hz"  # an open reader sees the new tags
    for f, tid in ids.items():  # and the stored top tags are the student's, with its numbers
        top = reader.track(tid).zs_tags
        assert next(iter(top)) == f"tone at {f} Hz" and len(top) == len(FREQS)
        assert top[f"tone at {f} Hz"] == pytest.approx(float(stored[tid][0].max()), abs=1e-6)
    for f, tid in ids.items():
        assert best_tag(reader, tid) == f"tone at {f} Hz"
    reader.close()


def test_a_new_student_retags_and_a_missing_file_keeps_its_track(tmp_path):
    music = [tone(tmp_path / f"tone{f}.wav", f, 23.0) for f in FREQS]
    with Library.create(tmp_path / "lib", student_model("v1")) as lib:
        lib.add(music)
    before = rows(tmp_path / "lib")
    assert len(before) == len(FREQS) and {s for _, s in before.values()} == {"v1"}
    music[0].unlink()  # a drive that is offline
    with Library.open(tmp_path / "lib", model=student_model("v2")) as lib:
        rep = lib.retag()
        assert [p for p, _ in rep.failed] == [str(music[0])]
        assert len(rep.added) == len(FREQS) - 1
        assert len(lib.tracks()) == len(FREQS)  # nothing stored is lost
    after = rows(tmp_path / "lib")
    gone = next(t for t, (_, s) in after.items() if s == "v1")
    np.testing.assert_array_equal(after[gone][0], before[gone][0])  # kept as it was
    assert sorted(s for _, s in after.values()) == ["v1"] + ["v2"] * (len(FREQS) - 1)


class CliStudentModel(StudentToneModel):
    """The stand-in student as a model spec (``py:test_index_retag:CliStudentModel``)."""

    def __init__(self):
        super().__init__(HEAD)
        self.tag_student = SimpleNamespace(fingerprint=lambda: "cli")


def test_index_retag_cli_reports_what_it_did(tmp_path):
    import json

    from click.testing import CliRunner

    from lyrebird.cli import main

    music = [tone(tmp_path / f"tone{f}.wav", f, 23.0) for f in FREQS]
    lib = str(tmp_path / "lib")
    run = CliRunner().invoke
    assert run(main, ["index", "create", lib, "--model",
                      "py:test_index_retag:CliStudentModel"]).exit_code == 0
    assert run(main, ["index", "add", lib, *map(str, music)]).exit_code == 0
    con = sqlite3.connect(tmp_path / "lib" / "library.sqlite")
    con.execute("UPDATE track_tags SET student = 'old' WHERE track_id IN "
                "(SELECT MIN(track_id) FROM track_tags)")
    con.commit()
    con.close()
    res = run(main, ["index", "retag", lib, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["added"]) == 1 and out["failed"] == []
    assert {s for _, s in rows(tmp_path / "lib").values()} == {"cli"}
    res = run(main, ["index", "retag", lib])
    assert res.exit_code == 0 and "retagged 0 tracks, failed 0" in res.output


def test_tag_file_gives_ingestions_tags_without_the_encoder(tmp_path):
    from lyrebird.index.ingest import embed_file, tag_file

    path = tone(tmp_path / "t.wav", 440, 23.0)
    model = student_model("v1")
    emb = embed_file(model, path, 10.0, 5.0)
    assert emb.seg_tags.shape == (len(emb.segments), len(FREQS))

    class NoEncoder(StudentToneModel):
        def embed_windows(self, audio, valid):
            raise AssertionError("the encoder ran")

    tags, seg_tags = tag_file(NoEncoder(HEAD), path, 10.0, 5.0)
    np.testing.assert_allclose(tags, emb.tags, rtol=1e-6)
    np.testing.assert_allclose(seg_tags, emb.seg_tags, rtol=1e-6)
    assert tag_file(HeadToneModel(HEAD), path) is None  # no student
