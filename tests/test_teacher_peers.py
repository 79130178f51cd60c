"""The musicnn tag peers of ``lyrebird eval real`` (teacher-keyword, teacher-vector) against
independent oracles on tone tracks, with transparent stand-in teachers (band energies)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from test_real_eval import GENRE_HZ, GenreToneModel, _spec, manifest  # noqa: F401
from tone_model import ToneModel

from lyrebird.train.realeval import run_real_eval
from lyrebird.train.realeval.queries import GENRE_QUERIES, LANGS, track_labels
from lyrebird.train.realeval.teacher_peers import TeacherTags, is_peer, parse_peer

SR = 16000
WIN = 187 * 256  # samples per teacher window


class BandTagger:
    """A stand-in teacher: per non-overlapping window, the share of spectral energy below
    (``low``) and above (``high``) 1 kHz, squashed into (0, 1)."""

    sample_rate = SR
    window_frames = 187
    frontend = SimpleNamespace(cfg=SimpleNamespace(hop_length=256))

    def __init__(self, tags: tuple[str, str, str]):
        self.tags = tags

    def predict_windows(self, wav: np.ndarray, sr: int) -> np.ndarray:
        assert sr == SR
        out = []
        for i in range(max(1, len(wav) // WIN)):
            w = wav[i * WIN:(i + 1) * WIN]
            spec = np.abs(np.fft.rfft(w)) ** 2
            f = np.fft.rfftfreq(len(w), 1 / SR)
            low = spec[f < 1000].sum() / max(spec.sum(), 1e-12)
            out.append([0.05 + 0.9 * low, 0.05 + 0.9 * (1 - low), 0.3])
        return np.array(out, np.float32)


def taggers():
    return {"A": BandTagger(("metal", "soundtrack", "kazoo")),
            "B": BandTagger(("rock", "ambient", "00s"))}


def _track_probs(path) -> np.ndarray:
    """Oracle: each stand-in's window probabilities of the file, averaged, concatenated."""
    wav, sr = sf.read(path, dtype="float32")
    return np.concatenate([t.predict_windows(wav, sr).mean(axis=0) for t in taggers().values()])


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y], s[~y]
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def test_peer_specs_parse():
    tone = GenreToneModel("t")
    kw = parse_peer("teacher-keyword", tone, taggers=taggers())
    vec = parse_peer("teacher-vector", taggers=taggers())
    assert is_peer("teacher-keyword") and is_peer("teacher-keyword:default")
    assert not is_peer("logmel") and not is_peer("default")
    assert kw.has_text and not kw.audio_tasks and not vec.has_text and vec.audio_tasks
    assert kw.key == vec.key  # one embedding cache for both
    assert kw.model.tags == ["metal", "soundtrack", "kazoo", "rock", "ambient", "00s"]
    with pytest.raises(ValueError, match="text tower"):
        parse_peer("teacher-keyword", parse_peer("teacher-vector", taggers=taggers()).model,
                   taggers=taggers())


def test_keyword_weights_are_a_softmax_over_tag_name_cosines():
    tone = ToneModel()  # "tone at 440 hz" ↔ the 440 Hz band
    tg = {"A": BandTagger(("tone at 440 hz", "tone at 2000 hz", "x"))}
    kw = parse_peer("teacher-keyword", tone, taggers=tg).model
    w = kw.keyword_weights(["a tone at 440 Hz"])
    t = tone.embed_text(["a tone at 440 Hz"])[0].astype(np.float64)
    names = tone.embed_text(["tone at 440 hz", "tone at 2000 hz", "x"]).astype(np.float64)
    cos = names @ t / np.linalg.norm(names, axis=1) / np.linalg.norm(t)
    want = np.exp(cos / 0.05) / np.exp(cos / 0.05).sum()
    np.testing.assert_allclose(w[0], want, rtol=1e-6)
    p = np.array([[0.9, 0.1, 0.5], [0.2, 0.7, 0.5]])
    np.testing.assert_allclose(kw.text_scores(p, ["a tone at 440 Hz"])[:, 0], p @ want)


def test_track_and_segments_average_the_teacher_windows():
    t = np.arange(int(12 * SR)) / SR
    wav = np.concatenate([0.3 * np.sin(2 * np.pi * 300 * t), 0.3 * np.sin(2 * np.pi * 3000 * t)])
    m = TeacherTags(taggers())
    seg, track = m.embed_track(wav.astype(np.float32), 10.0, 5.0)
    probs = np.concatenate([tg.predict_windows(wav, SR) for tg in taggers().values()], axis=1)
    np.testing.assert_allclose(track, probs.mean(axis=0), rtol=1e-6)
    centres = (np.arange(len(probs)) + 0.5) * WIN / SR
    starts = [0.0, 5.0, 10.0, 14.0]  # 24 s, 10 s segments every 5 s, the last one shifted
    assert len(seg) == len(starts)
    for j, a in enumerate(starts):
        inside = (centres >= a) & (centres < a + 10)
        np.testing.assert_allclose(seg[j], probs[inside].mean(axis=0), rtol=1e-6)
    assert seg[0][0] > 0.9 and seg[-1][1] > 0.9  # low tone first, high tone last


def test_peers_in_eval_real_match_oracles(manifest, tmp_path):  # noqa: F811
    main = _spec()
    peers = [parse_peer("teacher-keyword", main.model, taggers=taggers()),
             parse_peer("teacher-vector", taggers=taggers())]
    rep = run_real_eval(manifest, main, peers, "test", tmp_path / "o", n_boot=20,
                        min_pos=3, min_rel=3)
    t = rep["tasks"]
    df = pd.read_parquet(manifest)
    p = np.stack([_track_probs(manifest.parent / f) for f in df["path"]])
    kw = peers[0].model
    tone = main.model
    names = tone.embed_text(kw.tags)
    names = names / np.linalg.norm(names, axis=1, keepdims=True)

    def oracle_scores(texts):
        q = tone.embed_text(texts)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        e = np.exp(q @ names.T / 0.05)
        return p @ (e / e.sum(axis=1, keepdims=True)).T  # (N, Q)

    # genre queries: P@min(10, relevant) per query and language, by hand
    labels = [track_labels(r) for r in df.to_dict("records")]
    used = [q for q in GENRE_QUERIES if sum(bool(q.targets & lab) for lab in labels) >= 3]
    got = []
    for lang in LANGS:
        sc = oracle_scores([q.texts[lang] for q in used])
        for j, q in enumerate(used):
            rel = np.array([bool(q.targets & lab) for lab in labels])
            top = sorted(range(len(rel)), key=lambda i: -sc[i, j])[: min(10, rel.sum())]
            got.append(rel[top].mean())
    assert t["genre_queries"]["results"]["teacher-keyword"] == pytest.approx(np.mean(got))
    assert t["genre_queries"]["n_queries"] == len(used) * 4 == 8
    # zero-shot: macro ROC-AUC of the "A {} track" prompts
    tags = t["genre_zeroshot"]["tags"]
    sc = oracle_scores([f"A {g} track" for g in tags])
    aucs = [_auc(np.array([g in set(x) for x in df["tags"]]), sc[:, j])
            for j, g in enumerate(tags)]
    assert t["genre_zeroshot"]["results"]["teacher-keyword"] == pytest.approx(np.mean(aucs))
    assert "teacher-keyword" in t["genre_zeroshot"]["compare"]
    # similar tracks: cosine of centred logits, P@min(5, same package) by hand
    lg = np.log(p / (1 - p))
    c = lg - lg.mean(axis=0)
    c = c / np.linalg.norm(c, axis=1, keepdims=True)
    sim = c @ c.T
    pk = df["package"].to_numpy()
    prec = []
    for i in range(len(p)):
        order = [j for j in np.argsort(-sim[i], kind="stable") if j != i]
        same = (pk == pk[i]).sum() - 1
        prec.append(np.mean([pk[j] == pk[i] for j in order[: min(5, same)]]))
    assert t["same_package"]["results"]["teacher-vector"] == pytest.approx(np.mean(prec))
    # each peer only where it belongs; the counts are reported
    assert "teacher-keyword" not in t["same_package"]["results"]
    assert "teacher-keyword" not in t["excerpt_id"]["results"]
    assert "teacher-vector" in t["excerpt_id"]["results"]
    assert "teacher-vector" not in t["genre_queries"]["results"]
    assert t["excerpt_id"]["n_queries"] == len(df) and t["same_package"]["n_tracks"] == len(df)
    assert len({f.parent.name for f in (tmp_path / "o" / "cache").glob("*/*.npz")}) == 2


def test_genre_query_needs_min_relevant_tracks(manifest, tmp_path):  # noqa: F811
    rep = run_real_eval(manifest, _spec(), [], "test", tmp_path / "o", n_boot=10, min_pos=3)
    gq = rep["tasks"]["genre_queries"]  # 3 metal and 3 soundtrack tracks: below 5
    assert gq["queries"] == {} and gq["too_few"] == {"metal": 3, "score": 3}
    assert "no query has >= 5 relevant" in gq["note"]


def test_default_teachers_are_the_musicnn_ports():
    from lyrebird.train.teachers import load_teacher

    m = TeacherTags()
    t = np.arange(int(7 * SR)) / SR
    wav = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    want = np.concatenate([load_teacher(n).predict(wav, SR) for n in ("MTT_musicnn",
                                                                     "MSD_musicnn")])
    np.testing.assert_allclose(m.embed_windows(wav[None], np.array([len(wav)]))[0], want,
                               rtol=1e-5, atol=1e-6)
    assert m.DIM == 100 and len(GENRE_HZ) == 2


class LoudBandTagger(BandTagger):
    """A second stand-in with the same tag names and other outputs (its probabilities
    squared), as a vgg teacher beside a musicnn one."""

    def predict_windows(self, wav: np.ndarray, sr: int) -> np.ndarray:
        return super().predict_windows(wav, sr) ** 2


def test_a_peer_of_other_teachers_scores_their_mean_and_keeps_its_own_name():
    tone = ToneModel()
    names = ("tone at 440 hz", "tone at 2000 hz", "x")
    tg = {"A": BandTagger(names), "C": LoudBandTagger(names), "B": BandTagger(("y", "z", "w"))}
    both = parse_peer("teacher-keyword?teachers=A+C", tone, taggers=tg)
    assert is_peer("teacher-keyword?teachers=A+C") and is_peer("teacher-vector?teachers=A:x")
    assert both.name == "teacher-keyword?teachers=A+C" and not both.audio_tasks
    assert both.model.tags == list(names) * 2 and both.key != parse_peer(
        "teacher-keyword", tone, taggers=tg).key  # its own cache
    t = np.arange(int(7 * SR)) / SR
    wav = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    pa, pc = (x.predict_windows(wav, SR).mean(0) for x in (tg["A"], tg["C"]))
    p = both.model.embed_windows(wav[None], np.array([len(wav)]))
    np.testing.assert_allclose(p[0], np.concatenate([pa, pc]), rtol=1e-6)
    # oracle: the softmax over the three distinct names, applied to the two teachers' mean
    q = tone.embed_text(["a tone at 440 Hz"])[0].astype(np.float64)
    nv = tone.embed_text(list(names)).astype(np.float64)
    cos = nv @ q / np.linalg.norm(nv, axis=1) / np.linalg.norm(q)
    w = np.exp(cos / 0.05) / np.exp(cos / 0.05).sum()
    got = both.model.text_scores(p, ["a tone at 440 Hz"])[0, 0]
    assert got == pytest.approx(float(w @ ((pa + pc) / 2)), rel=1e-6)
    vec = parse_peer("teacher-vector?teachers=C", taggers=tg)
    assert vec.name == "teacher-vector?teachers=C" and vec.model.DIM == 3 and vec.audio_tasks


@pytest.mark.parametrize("spec, match", [
    ("teacher-keyword?teachers=A+D", "distinct names from A, C"),
    ("teacher-keyword?teachers=A+A", "distinct names"),
    ("teacher-vector?teacher=A", "the only option is 'teachers="),
    ("teacher-vector?teachers=", "the only option"),
])
def test_a_peer_with_bad_teachers_is_refused_by_name(spec, match):
    tg = {"A": BandTagger(("a", "b", "c")), "C": BandTagger(("a", "b", "c"))}
    with pytest.raises(ValueError, match=match):
        parse_peer(spec, ToneModel(), taggers=tg)


def test_the_shipped_teacher_names_are_the_ones_a_peer_may_name():
    with pytest.raises(ValueError, match="MTT_vgg"):
        parse_peer("teacher-vector?teachers=MTT_musicnn+MTT_vggg")
