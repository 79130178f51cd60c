"""The distilled tag student (#25): the CNN's save/load round trip and its windows against the
musicnn teachers' own cut; a library storing each track's student tags at ingestion and
searching with them instead of the head's; old libraries without the table.

The library tests use the transparent tone model with the deliberately permuted head of
``test_index_tagspace`` (it calls the 880 Hz track "tone at 220 Hz") and a truthful stand-in
student (the energy share of each tone's band), so which of the two a search used shows."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import torch
from test_index_tagspace import FREQS, NAMES, permuted_head
from tone_model import EDGES, HeadToneModel, ToneModel
from ui_library import tone

from lyrebird.encoders import chunk, load_audio
from lyrebird.index import Library
from lyrebird.mulan.tag_student import TagStudent, TagStudentConfig, find_student

BANDS = [int(np.searchsorted(EDGES, f) - 1) for f in FREQS]


class StudentToneModel(HeadToneModel):
    """The permuted head, plus a student that tags each window by its tones' energy shares."""

    def tag_segments(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray:
        v = ToneModel.embed_windows(self, audio, valid) ** 2  # unit band energies, squared
        return (v[:, BANDS] / v.sum(1, keepdims=True)).astype(np.float32)


def small_student(**kw) -> TagStudent:
    torch.manual_seed(0)
    s = TagStudent(TagStudentConfig(names=("a", "b", "c"), teachers=("T",), width=8, hidden=16,
                                    feat_dim=4, **kw))
    with torch.no_grad():  # non-trivial BN statistics and band normalisation
        for m in s.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
        s.mu.uniform_(0, 1)
        s.sd.uniform_(0.5, 2)
    return s.eval()


def test_student_round_trip_and_refusals(tmp_path):
    s = small_student()
    s.save(tmp_path / "m" / "tag_student")
    back = find_student(tmp_path / "m")
    x = torch.randn(3, 187, 96)
    with torch.no_grad():
        assert torch.equal(s(x)[0], back(x)[0]) and back(x)[1].shape == (3, 4)
    assert back.fingerprint() == s.fingerprint() and back.names == ("a", "b", "c")
    assert find_student(tmp_path / "nothing") is None
    with pytest.raises(ValueError, match="needs its tag names"):
        TagStudent(TagStudentConfig())
    (tmp_path / "m" / "tag_student" / "config.json").write_text(
        (tmp_path / "m" / "tag_student" / "config.json").read_text().replace(
            '"tag_student"', '"tag_head"'))
    with pytest.raises(ValueError, match="not a 'tag_student'"):
        TagStudent.load(tmp_path / "m" / "tag_student")


@pytest.mark.parametrize("seconds", [0.5, 2.99, 3.0, 10.0, 17.3])
def test_student_windows_are_the_teachers_windows(seconds):
    """The student sees what the musicnn teachers see: the same log-mel, cut into the same
    non-overlapping 187-frame windows (short input repeat-padded)."""
    from lyrebird.train.teachers import load_teacher

    teacher = load_teacher("MTT_musicnn")
    wav = np.random.default_rng(1).normal(0, 0.1, int(seconds * 16000)).astype(np.float32)
    wins = small_student().windows(wav)
    assert len(wins) == len(teacher.predict_windows(wav, 16000))
    mel = teacher.log_mel(wav, 16000)
    if len(mel) >= 187:
        np.testing.assert_allclose(wins.reshape(-1, 96).numpy(), mel[: len(wins) * 187], atol=1e-5)


def test_segment_probs_are_the_mean_of_each_segments_windows():
    s = small_student()
    rng = np.random.default_rng(2)
    audio = rng.normal(0, 0.1, (2, 160000)).astype(np.float32)
    valid = np.array([160000, 70000])
    got = s.segment_probs(audio, valid)
    for i in range(2):
        np.testing.assert_allclose(got[i], s.window_probs(audio[i, : valid[i]]).mean(0),
                                   atol=1e-6)


def test_the_default_mulan_ships_its_student_with_the_heads_tags():
    from lyrebird.index.model import MuLanModel

    m = MuLanModel(spec="default")
    assert m.tag_student is not None and m.tag_student.names == m.tag_head.names
    assert sum(p.numel() for p in m.tag_student.parameters()) < 2_000_000  # ≈ 3.7 MB fp32


@pytest.fixture(scope="module")
def music(tmp_path_factory):
    d = tmp_path_factory.mktemp("student-tones")
    return [tone(d / f"tone{f}.wav", f, 23.0) for f in FREQS]


def test_a_library_stores_student_tags_and_searches_with_them(tmp_path, music):
    model = StudentToneModel(permuted_head(alpha=0.0, beta=0.0))  # tag space only
    lib = Library.create(tmp_path / "lib", model)
    assert len(lib.add(music).added) == len(FREQS)
    seg, hop = float(lib.meta["segment_s"]), float(lib.meta["hop_s"])
    con = sqlite3.connect(lib.path / "library.sqlite")
    stored = {t: np.frombuffer(p, np.float32) for t, p in
              con.execute("SELECT track_id, probs FROM track_tags")}
    assert len(stored) == len(FREQS)
    for t in lib.tracks():  # oracle: the valid-weighted mean of the student's segment tags
        ch = chunk(load_audio(t.path, 16000), 16000, seg, hop, last="shift")
        w = ch.valid / ch.valid.sum()
        want = (model.tag_segments(ch.audio, ch.valid) * w[:, None]).sum(0)
        np.testing.assert_allclose(stored[t.id], want, rtol=1e-5, atol=1e-6)
    by_freq = {int(t.path.rsplit("tone", 1)[1].split(".")[0]): t.id for t in lib.tracks()}
    space = lib.tag_space()
    for f, tid in by_freq.items():  # the student's tags, not the permuted head's
        assert NAMES[int(np.argmax(space.probs[space.ids == tid][0]))] == f"tone at {f} Hz"
    hit = lib.search("tone at 880 Hz", 1)[0]
    assert hit.track_id == by_freq[880]
    assert next(iter(hit.tags)) == "tone at 880 Hz"  # its stored top tags: the student's
    assert hit.tags["tone at 880 Hz"] == pytest.approx(float(stored[hit.track_id].max()), abs=1e-6)
    held = next(t.path for t in lib.tracks() if t.id == by_freq[440])
    emb = lib.audio_embedded(held)  # a file the library holds: its stored vectors and tags
    assert emb.tags is not None and next(iter(lib.tag_probs(emb.seg_vectors, emb.tags))) == \
        "tone at 440 Hz"
    lib.remove(by_freq[440])
    assert con.execute("SELECT COUNT(*) FROM track_tags").fetchone()[0] == len(FREQS) - 1
    lib.close()


def test_tracks_without_student_tags_use_the_head(tmp_path, music):
    """A library built before the student (no table, opened read-only) and tracks added by a
    model without one: the permuted head's tags, as before."""
    head = permuted_head(alpha=0.0, beta=0.0)
    with Library.create(tmp_path / "lib", HeadToneModel(head)) as lib:
        lib.add(music)
    con = sqlite3.connect(tmp_path / "lib" / "library.sqlite")
    assert con.execute("SELECT COUNT(*) FROM track_tags").fetchone()[0] == 0
    con.execute("DROP TABLE track_tags")
    con.commit()
    con.close()
    with Library.open(tmp_path / "lib", model=HeadToneModel(head), readonly=True) as lib:
        space = lib.tag_space()
        tid = next(t.id for t in lib.tracks() if t.path.endswith("tone880.wav"))
        assert NAMES[int(np.argmax(space.probs[space.ids == tid][0]))] == "tone at 220 Hz"


def test_a_learnable_teacher_is_distilled_into_the_student(tmp_path):
    """Stand-in teachers (low- vs high-frequency energy share per window) on tone tracks: the
    student learns them from the log-mel, saves, and a second run resumes from its last epoch."""
    from test_tag_head_train import labelled_corpus

    from lyrebird.train.trainers.tag_student import TagStudentTrainConfig, train_tag_student

    m, _ = labelled_corpus(tmp_path)
    cfg = TagStudentTrainConfig(teachers=("T1", "T2"), width=8, epochs=12, batch=8, lr=5e-3,
                                top=1, jitter=0)
    seen = []
    rep = train_tag_student(m, tmp_path / "w", tmp_path / "student", cfg, on_epoch=seen.append)
    assert rep["train_windows"] == 8 * 6 and rep["valid_windows"] == 4 * 6 and len(seen) == 12
    assert rep["curve"][-1]["loss"] < rep["curve"][0]["loss"]
    for t in cfg.teachers:
        w = rep["fidelity"]["windows"][t]
        assert w["n_tags"] == 2 and w["macro_roc_auc"] > 0.9, w
    s = TagStudent.load(tmp_path / "student")
    assert s.names == ("T1:0", "T1:1", "T2:0", "T2:1")
    again = train_tag_student(m, tmp_path / "w", tmp_path / "student", cfg, on_epoch=seen.append)
    assert len(seen) == 12  # resumed after the last epoch: nothing trained again
    assert [h["loss"] for h in again["curve"]] == [h["loss"] for h in rep["curve"]]
    check_calibration(s, m, tmp_path / "w", tmp_path / "student")


def test_fine_tuning_starts_from_the_given_student(tmp_path):
    """``init``: the run starts from a trained student (its first epoch's loss is already the
    trained one's, far below a fresh start's); a student of another width is refused."""
    from dataclasses import replace

    from test_tag_head_train import labelled_corpus

    from lyrebird.train.trainers.tag_student import TagStudentTrainConfig, train_tag_student

    m, _ = labelled_corpus(tmp_path)
    cfg = TagStudentTrainConfig(teachers=("T1", "T2"), width=8, epochs=6, batch=8, lr=5e-3,
                                top=1, jitter=0)
    first = train_tag_student(m, tmp_path / "w", tmp_path / "a", cfg, cache=tmp_path / "ca")
    tuned = train_tag_student(m, tmp_path / "w", tmp_path / "b",
                              replace(cfg, epochs=1, lr=1e-6, init=str(tmp_path / "a")),
                              cache=tmp_path / "cb")
    start, end = first["curve"][0]["loss"], first["curve"][-1]["loss"]
    assert abs(tuned["curve"][0]["loss"] - end) < 0.25 * (start - end), (start, end, tuned)
    with pytest.raises(ValueError, match="width"):
        train_tag_student(m, tmp_path / "w", tmp_path / "c",
                          replace(cfg, width=16, init=str(tmp_path / "a")), cache=tmp_path / "cc")
    with pytest.raises(ValueError, match="not a tag student folder"):
        train_tag_student(m, tmp_path / "w", tmp_path / "c",
                          replace(cfg, init=str(tmp_path / "nothing")), cache=tmp_path / "cc")


def check_calibration(s: TagStudent, manifest, windows, folder) -> None:
    """The saved student carries per-tag thresholds that reproduce each teacher's top tag on
    the valid windows (F1 > 0.8 for every tag), and ``calibrate_student`` restores them on a
    copy saved without, leaving its fingerprint (and so stored tags) unchanged."""
    from dataclasses import replace

    from lyrebird.train.trainers.tag_student import calibrate_student, predict, window_set

    assert len(s.cfg.thresholds) == 4 and all(0.0 < t < 1.0 for t in s.cfg.thresholds)
    va = window_set(manifest, windows, "valid", ("T1", "T2"))
    p, t = predict(s, va), va.probs.astype(np.float32)
    for k in range(4):
        lo = 0 if k < 2 else 2
        top = t[:, lo:lo + 2].argmax(1) == k - lo  # the teacher's own top tag
        pred = p[:, k] >= s.thresholds[k]
        f1 = 2 * (pred & top).sum() / (pred.sum() + top.sum())
        assert f1 > 0.8, (k, f1)
    bare = TagStudent(replace(s.cfg, thresholds=()))
    bare.load_state_dict(s.state_dict())
    bare.save(folder)
    assert TagStudent.load(folder).cfg.thresholds == () and bare.fingerprint() == s.fingerprint()
    rep = calibrate_student(manifest, windows, folder, top=1)
    back = TagStudent.load(folder)
    assert back.cfg.thresholds == s.cfg.thresholds and back.fingerprint() == s.fingerprint()
    assert rep["fidelity"]["windows"]["T1"]["macro_roc_auc"] > 0.9


def test_augmented_copies_train_on_the_audio_their_labels_came_from(tmp_path):
    """``window_set(copies=True)`` adds each labelled augmented copy, its log-mel made from the
    same seeded augmentation the teachers heard: the low-band energy share read back from each
    window's log-mel follows that window's label (and not the clean window's label, which the
    copy's EQ tilt moved). Its cache is made again once more shards are labelled."""
    import pandas as pd
    from test_tag_head_train import LowHighTeacher, corpus

    from lyrebird.encoders.musicnn_mel import slaney_mel_filterbank
    from lyrebird.train.teachers.windows import WindowConfig, label_windows
    from lyrebird.train.trainers.tag_student import window_set

    m = tmp_path / "m.parquet"
    pd.DataFrame(corpus(tmp_path, [0.1, 0.2, 0.3], "train", 0)).to_parquet(m)
    t = {"T": LowHighTeacher()}
    label_windows(m, tmp_path / "w", WindowConfig(teachers=("T",), split=None), taggers=t)
    before = window_set(m, tmp_path / "w", "train", ("T",), tmp_path / "c", copies=True)
    assert len(before) == 3 * 6  # no copies labelled yet
    label_windows(m, tmp_path / "w", WindowConfig(teachers=("T",), split=None, copies=1), taggers=t)
    clean = window_set(m, tmp_path / "w", "train", ("T",), tmp_path / "c")
    both = window_set(m, tmp_path / "w", "train", ("T",), tmp_path / "c", copies=True)
    assert len(clean) == 3 * 6 and len(both) == 2 * len(clean)  # the cache made again
    again = window_set(m, tmp_path / "w", "train", ("T",), tmp_path / "c", copies=True)  # cached
    assert np.array_equal(again.probs, both.probs) and np.array_equal(again.mel, both.mel)
    fb = slaney_mel_filterbank(16000, 512, 96)
    centre = (fb * np.fft.rfftfreq(512, 1 / 16000)).sum(1) / fb.sum(1)
    power = (10 ** both.mel.astype(np.float64) - 1) / 10000 / fb.max(1)  # each band's energy
    share = np.array([power[s:s + 187, centre < 1000].sum() / power[s:s + 187].sum()
                      for s in both.starts])
    label = both.probs[:, 0].astype(np.float64)
    assert np.abs(share - label).max() < 0.04, np.abs(share - label).max()
    far = np.abs(label[:, None] - clean.probs[None, :, 0].astype(np.float64)).min(1)
    assert (far > 0.05).sum() >= 6, far  # the copies' labels are not the clean windows' labels


def test_the_listwise_loss_against_a_hand_computed_value():
    """ListNet per tag over the batch: 0 when the student's logits are the teacher's (or differ
    by a constant per tag), the KL divergence of the two softmaxes over windows otherwise."""
    from lyrebird.train.trainers.tag_student import listwise_loss

    t = torch.tensor([[2.0, -1.0], [0.0, -3.0], [-2.0, 0.5]])
    assert float(listwise_loss(t, t)) == pytest.approx(0.0, abs=1e-6)
    assert float(listwise_loss(t + torch.tensor([5.0, -7.0]), t)) == pytest.approx(0.0, abs=1e-6)
    s = torch.tensor([[0.0, 0.5], [1.0, -3.0], [-1.0, 0.5]])

    def kl(a, b):  # KL(softmax(b) || softmax(a)) of one column, by hand
        pa = np.exp(a) / np.exp(a).sum()
        pb = np.exp(b) / np.exp(b).sum()
        return float((pb * np.log(pb / pa)).sum())

    want = np.mean([kl(s[:, j].numpy() / 2, t[:, j].numpy() / 2) for j in range(2)])
    assert float(listwise_loss(s, t, temperature=2.0)) == pytest.approx(want, rel=1e-5)
    assert float(listwise_loss(-t, t)) > float(listwise_loss(s, t)) > 0


def test_the_distillation_loss_against_a_hand_computed_value():
    """BCE + feature cosine over two teachers' blocks + logit MSE + listwise, by hand."""
    from dataclasses import replace

    from lyrebird.train.trainers.tag_student import TagStudentTrainConfig, distill_loss

    g = torch.Generator().manual_seed(0)
    logits, probs = torch.randn(5, 3, generator=g), torch.rand(5, 3, generator=g)
    probs[0, 0], probs[1, 1] = 0.0, 1.0  # clipped to the floor for the logit terms
    f, tf = torch.randn(5, 6, generator=g), torch.randn(5, 6, generator=g)
    x, p = logits.double().numpy(), probs.double().numpy()
    bce = np.mean(-(p * np.log(1 / (1 + np.exp(-x))) + (1 - p) * np.log(1 - 1 / (1 + np.exp(-x)))))

    def cos(a, b):
        return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    a, b = f.double().numpy(), tf.double().numpy()
    feat = np.mean(((1 - cos(a[:, :2], b[:, :2])) + (1 - cos(a[:, 2:], b[:, 2:]))) / 2)
    q = np.clip(p, 0.01, 0.99)
    t = np.log(q / (1 - q))
    mse = np.mean((x - t) ** 2)
    ps, pt = (np.exp(v / 2) / np.exp(v / 2).sum(0) for v in (x, t))
    rank = np.mean((pt * np.log(pt / ps)).sum(0))
    cfg = TagStudentTrainConfig(feat_weight=0.5, logit_floor=0.01)
    got = distill_loss(logits, f, probs, tf, (2, 4), cfg)
    assert float(got) == pytest.approx(bce + 0.5 * feat, rel=1e-5)
    cfg = replace(cfg, logit_weight=0.3, rank_weight=2.0, rank_temperature=2.0)
    got = distill_loss(logits, f, probs, tf, (2, 4), cfg)
    assert float(got) == pytest.approx(bce + 0.5 * feat + 0.3 * mse + 2.0 * rank, rel=1e-5)


def test_a_checkpoint_of_other_windows_is_not_resumed(tmp_path):
    """The epoch checkpoint resumes only the run that wrote it: with the same recipe on other
    training windows (a shard removed since), the run trains every epoch again."""
    from test_tag_head_train import labelled_corpus

    from lyrebird.train.trainers.tag_student import TagStudentTrainConfig, train_tag_student

    m, w = labelled_corpus(tmp_path)
    cfg = TagStudentTrainConfig(teachers=("T1", "T2"), width=8, epochs=2, batch=4, top=1)
    seen = []
    train_tag_student(m, w, tmp_path / "a", cfg, on_epoch=seen.append)
    train_tag_student(m, w, tmp_path / "a", cfg, on_epoch=seen.append)
    assert len(seen) == 2  # the same run: resumed, nothing trained again
    meta = {p: json.loads(str(np.load(p)["meta"])) for p in (w / "shards").glob("*.npz")}
    next(p for p, d in meta.items() if d["path"] == "train0.wav").unlink()
    rep = train_tag_student(m, w, tmp_path / "b", cfg, on_epoch=seen.append)
    assert len(seen) == 4 and rep["train_windows"] == 7 * 6


def test_another_corpus_trains_the_student_too(tmp_path):
    """``--more MANIFEST WINDOWS`` (the CLI, one call to ``train_tag_student``): the other
    corpus's train windows join the training set; valid stays the main corpus's."""
    import pandas as pd
    from click.testing import CliRunner
    from test_tag_head_train import LowHighTeacher, corpus, labelled_corpus

    from lyrebird.cli import main
    from lyrebird.train.teachers.windows import WindowConfig, label_windows

    m, w = labelled_corpus(tmp_path)
    d = tmp_path / "more"
    d.mkdir()
    m2 = d / "m.parquet"
    pd.DataFrame(corpus(d, [0.12, 0.33, 0.2], "train", 3)
                 + corpus(d, [0.1], "valid", 4)).to_parquet(m2)
    taggers = {"T1": LowHighTeacher(), "T2": LowHighTeacher()}
    label_windows(m2, d / "w", WindowConfig(teachers=("T1", "T2"), split=None), taggers=taggers)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"teachers": ["T1", "T2"], "width": 8, "batch": 8, "top": 1}))
    res = CliRunner().invoke(main, ["train", "tag-student", "--manifest", str(m), "--windows",
                                    str(w), "--out", str(tmp_path / "s"), "--epochs", "1",
                                    "--config", str(cfg), "--more", str(m2), str(d / "w"),
                                    "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["train_windows"] == (8 + 3) * 6 and rep["valid_windows"] == 4 * 6
    assert rep["train_corpora"] == [str(m), str(m2)]
    assert (d / "w" / "student-cache").is_dir()  # its log-mels cached beside its own labels
    assert TagStudent.load(tmp_path / "s").names == ("T1:0", "T1:1", "T2:0", "T2:1")
