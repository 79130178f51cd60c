"""The real-music evaluation (``lyrebird eval real``) on tiny synthetic data with known answers.

Tracks are pure tones; a transparent tone model (``tone_model.ToneModel``) maps audio to its
frequency band and a genre word to the bands of that genre, so every metric's value is known.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from tone_model import ToneModel

from lyrebird.train.realeval import format_table, run_real_eval
from lyrebird.train.realeval.degrade import QUERY_SR, add_noise, degrade, ogg_roundtrip, snr_db
from lyrebird.train.realeval.metrics import (
    identification,
    macro_auc,
    neighbour_precision,
    precision_at_k,
    tag_matrix,
)
from lyrebird.train.realeval.models import ModelSpec
from lyrebird.train.realeval.queries import GENRE_QUERIES, track_labels
from lyrebird.train.realeval.tasks import teacher_agreement

SR = 16000
BASE_HZ = {"metal": 200.0, "soundtrack": 1500.0}  # every track of a genre has its base tone
GENRE_HZ = {"metal": (260.0, 300.0, 340.0), "soundtrack": (1900.0, 2200.0, 2500.0)}  # + its own
WORDS = {"metal": "metal", "guitars": "metal", "film score": "soundtrack",
         "soundtrack": "soundtrack", "Filmmusik": "soundtrack", "film": "soundtrack",
         "orquestal": "soundtrack", "Gitarren": "metal", "guitarras": "metal"}


class GenreToneModel(ToneModel):
    """ToneModel whose text side knows genres: a genre word → the bands of its tones."""

    def embed_text(self, texts: list[str]) -> np.ndarray:
        out = np.full((len(texts), self.DIM), 1e-3, np.float32)
        for i, t in enumerate(texts):
            genre = next((g for w, g in WORDS.items() if w.lower() in t.lower()), None)
            if genre is not None:
                for hz in (*GENRE_HZ[genre], BASE_HZ[genre]):
                    out[i, self._band(hz)] = 1.0
            out[i] /= np.linalg.norm(out[i])
        return out


def factory() -> GenreToneModel:
    return GenreToneModel("genre-tone")


def _tone(hz: float, seconds: float = 25.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.fixture
def manifest(tmp_path):
    rows = []
    for g, freqs in GENRE_HZ.items():
        for j, hz in enumerate(freqs):
            p = tmp_path / f"{g}{j}.wav"
            sf.write(p, _tone(hz) + _tone(BASE_HZ[g]), SR)
            tags = [g] + (["kazoo"] if j < 2 else [])  # 4 of 6: 2 negatives → left out
            rows.append({"path": p.name, "start_s": 0.0, "end_s": 25.0, "split": "test",
                         "package": g, "artist": f"{g}-{j % 2}", "genre": None, "tags": tags})
    path = tmp_path / "manifest.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


# ------------------------------------------------------------------ metrics vs hand oracles
def test_tag_matrix_keeps_tags_with_three_positives_and_negatives():
    sets = [{"a", "b"}, {"a", "b"}, {"a"}, {"c"}, {"c"}, {"c", "b"}]
    tags, y = tag_matrix(sets, 3, 3)
    assert tags == ["a", "b", "c"]  # 3 positives and 3 negatives each
    assert y[:, 0].tolist() == [True, True, True, False, False, False]
    tags, _ = tag_matrix(sets, 3, 4)  # 3 negatives are not enough
    assert tags == []
    assert tag_matrix([{"a"}, {"a"}, set(), set(), set(), set()], 3, 3)[0] == []


def test_precision_at_k_uses_min_k_relevant():
    scores = np.array([[0.9, 0.8, 0.7, 0.1, 0.0], [0.9, 0.8, 0.7, 0.1, 0.0],
                       [1, 1, 1, 1, 1]], float)
    rel = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], bool)
    p = precision_at_k(scores, rel, k=10)
    assert p[0] == pytest.approx(0.5)  # k' = 2: top-2 = items 0, 1 → one relevant
    assert p[1] == 0.0
    assert np.isnan(p[2])  # no relevant item
    assert precision_at_k(scores[:1], rel[:1], k=1)[0] == 1.0


def test_neighbour_precision_excludes_itself():
    v = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.7, 0.7]], float)
    g = ["a", "a", "b", "b", "c"]
    p = neighbour_precision(v, g, k=5)
    assert p[:4].tolist() == [1.0, 1.0, 1.0, 1.0]  # k' = 1: the nearest other is its pair
    assert np.isnan(p[4])  # alone in its group
    p = neighbour_precision(v, ["a", "b", "a", "b", "c"], k=5)
    assert p[:4].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_identification_best_segment_and_ties():
    seg = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]], float)
    seg_track = np.array([0, 0, 1, 2])
    q = np.array([[0, 1, 0.01], [0, 0.1, 1], [1, 0.1, 0]], float)
    top1, rank = identification(q, seg, seg_track, np.array([0, 1, 0]))
    # query 0 ties tracks 0 and 2 (same segment vector): not a hit
    assert top1.tolist() == [False, True, True]
    assert rank.tolist() == [1, 1, 1]
    top1, rank = identification(q[2:], seg, seg_track, np.array([1]))
    assert not top1[0] and rank[0] == 3


def test_macro_auc_oracle():
    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], bool)
    s = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.3]])
    # tag 0: perfect (1.0); tag 1: positives 0.2, 0.9 vs negatives 0.1, 0.3 → 3/4
    assert macro_auc(y, s) == pytest.approx((1.0 + 0.75) / 2)


# ------------------------------------------------------------------ excerpt degradation
def test_degradation_pipeline_rate_codec_and_snr():
    wav = _tone(440.0, 10.0)
    rng = np.random.default_rng(0)
    out = degrade(wav, SR, rng, snr=30.0)
    assert out.dtype == np.float32 and len(out) == 10 * QUERY_SR
    coded = ogg_roundtrip(wav, SR)
    assert len(coded) == len(wav) and 10 < snr_db(wav, coded) < 80  # lossy, but close
    noisy = add_noise(wav, 30.0, np.random.default_rng(1))
    assert snr_db(wav, noisy) == pytest.approx(30.0, abs=0.2)
    again = degrade(wav, SR, np.random.default_rng(0), snr=30.0)
    np.testing.assert_array_equal(out, again)  # seeded


def test_queries_have_four_languages_and_targets():
    for q in GENRE_QUERIES:
        assert set(q.texts) == {"en", "de", "fr", "es"} and q.targets
    assert track_labels({"tags": ["Metal"], "genre": "Death Metal"}) == {"metal", "death metal"}
    assert track_labels({"tags": None, "genre": float("nan")}) == frozenset()


def test_teacher_agreement_skipped_without_teacher_columns():
    rows = [{"tags": ["metal"]}] * 4
    res = teacher_agreement(rows, [], [])
    assert res["skipped"] and "teacher_probs" in res["note"] and res["results"] == {}


# ------------------------------------------------------------------ end to end
def _spec(name: str = "tone", salt: float = 0.0) -> ModelSpec:
    m = GenreToneModel(name, salt)
    return ModelSpec(name, m, m.fingerprint())


def test_run_on_tone_manifest_known_answers(manifest, tmp_path):
    df = pd.read_parquet(manifest)  # teacher: "metal" exactly on the metal tracks
    df["teacher_probs"] = [json.dumps({"MTT_musicnn": {"metal": 0.9 if "metal" in t else 0.1}})
                           for t in df["tags"]]
    taught = manifest.with_name("taught.parquet")
    df.to_parquet(taught)
    out = tmp_path / "out"
    rep = run_real_eval(taught, _spec(), [_spec("salted", 0.5)], "test", out, n_boot=50,
                        min_pos=3, min_rel=3)
    t = rep["tasks"]
    assert t["genre_zeroshot"]["tags"] == ["metal", "soundtrack"]  # kazoo: only 2 negatives
    assert t["genre_zeroshot"]["results"]["tone"] == pytest.approx(1.0)
    assert t["genre_zeroshot"]["teacher"]["teacher"] == pytest.approx(1.0)
    assert set(t["genre_queries"]["queries"]) == {"metal", "score"}
    assert t["genre_queries"]["by_lang"]["tone"]["en"] == pytest.approx(1.0)
    by_q = t["genre_queries"]["by_query"]
    assert set(by_q["tone"]) == {"metal", "score"} and set(by_q["salted"]) == {"metal", "score"}
    for name in ("tone", "salted"):  # equal-sized groups: the queries' mean is the task's mean
        assert np.mean(list(by_q[name].values())) == pytest.approx(
            t["genre_queries"]["results"][name])
        assert np.mean(list(t["genre_queries"]["by_lang"][name].values())) == pytest.approx(
            t["genre_queries"]["results"][name])
    assert t["same_package"]["results"]["tone"] == pytest.approx(1.0)
    assert t["excerpt_id"]["results"]["tone"] == pytest.approx(1.0)
    assert t["teacher_agreement"]["results"]["tone"] == pytest.approx(1.0)
    assert "salted" in t["excerpt_id"]["compare"]
    assert (out / "results.json").is_file() and (out / "report.md").is_file()
    assert len(list((out / "cache").glob("*/*.npz"))) == 12  # 6 tracks x 2 models
    assert "excerpt identification" in format_table(rep) and "query: metal" in format_table(rep)
    again = run_real_eval(taught, _spec(), [_spec("salted", 0.5)], "test", out, n_boot=50,
                          min_pos=3, min_rel=3)
    assert again["tasks"]["excerpt_id"]["results"] == t["excerpt_id"]["results"]


def test_cli_eval_real_on_tiny_manifest(manifest, tmp_path, monkeypatch):
    from lyrebird.cli import main

    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    out = tmp_path / "cli-out"
    r = CliRunner().invoke(main, ["eval", "real", "--manifest", str(manifest), "--model",
                                  "py:test_real_eval:factory", "--baseline", "logmel",
                                  "--out", str(out), "--n-boot", "20", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["n_tracks"] == 6
    assert rep["tasks"]["teacher_agreement"]["skipped"]
    assert "log-mel statistics" in rep["tasks"]["excerpt_id"]["results"]
    assert "log-mel statistics" not in rep["tasks"]["genre_zeroshot"]["results"]
    assert (out / "report.md").read_text().startswith("# Real-music evaluation")


def test_baseline_specs_are_pluggable():
    from lyrebird.train.realeval.models import LogMelStats, parse_model, twin_name

    assert twin_name("default") == "myna:small-hybrid"  # the default encoder's preset
    spec = parse_model("logmel")
    assert isinstance(spec.model, LogMelStats) and not spec.has_text
    v = spec.model.embed_windows(np.stack([_tone(440.0, 1.0), _tone(880.0, 1.0)]),
                                 np.array([SR, SR // 2]))
    assert v.shape == (2, 256) and np.isfinite(v).all()
    assert parse_model("py:tone_model:ToneModel").has_text


def test_encoder_spec_embeds_like_the_encoder_itself():
    """``encoder:SPEC`` is the encoder's own pooled embedding of each window, L2-normalised as
    a library stores it (oracle: embed), keyed by the one encoder fingerprint."""
    from lyrebird.encoders import get_encoder
    from lyrebird.index.model import load_model
    from lyrebird.train.realeval.models import parse_model

    spec = parse_model("encoder:myna:tiny-hybrid")
    assert not spec.has_text and spec.key == load_model("encoder:myna:tiny-hybrid").fingerprint()
    enc = get_encoder("myna:tiny-hybrid")
    sr = spec.model.SAMPLE_RATE
    assert sr == SR  # the tone helper writes at the encoder's rate
    a, b = _tone(440.0, 3.0), _tone(660.0, 3.0)
    v = spec.model.embed_windows(np.stack([a, b]), np.array([len(a), len(b) // 2]))
    with torch.no_grad():
        want = [enc.embed(a, sr).numpy(), enc.embed(b[: len(b) // 2], sr).numpy()]
    want = [w / np.linalg.norm(w) for w in want]
    assert v.shape == (2, enc.DIM)
    np.testing.assert_allclose(v, np.stack(want), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no text side"):
        spec.model.embed_text(["x"])


def test_audio_only_model_under_test_runs_the_audio_tasks(manifest, tmp_path):
    """An encoder under test (no text side) gets the similar-track and excerpt tasks, compared
    with a text model baseline, instead of failing on the text tasks."""
    from lyrebird.train.realeval.models import parse_model

    enc = parse_model("encoder:myna:tiny-hybrid")
    rep = run_real_eval(manifest, enc, [_spec()], "test", tmp_path / "o", n_boot=20)
    assert set(rep["tasks"]) == {"same_artist", "same_package", "excerpt_id"}
    assert "tone" in rep["tasks"]["same_package"]["compare"]
    assert "excerpt identification" in format_table(rep)
