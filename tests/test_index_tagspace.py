"""Search in tag space (#25): a model with a distilled tag head gets fused text search and fused
similarity, checked against a numpy oracle of the formulas on the transparent tone model; the
head's save/load round trip; its fidelity and calibration helpers.

The tone model's vectors are band energies; the test head is linear and deliberately *permuted*
(it calls the 880 Hz track "tone at 220 Hz"), so the contrastive and the tag space disagree
and the fusion weight decides.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import numpy as np
import pytest
import torch
from tone_model import HeadToneModel, ToneModel, linear_head, write_chords
from ui_library import tone

from lyrebird.index import Library
from lyrebird.mulan.tag_head import TagHead, TagHeadConfig, find_head
from lyrebird.mulan.tag_head_net import TagHeadNet
from lyrebird.mulan.tag_space import TEMPERATURE, fused_vectors, softmax

FREQS = (220, 440, 880, 1760)
NAMES = tuple(f"tone at {f} Hz" for f in FREQS)
SWAP = {220: 880, 440: 1760, 880: 220, 1760: 440}  # the head's (wrong) name for each tone


def permuted_head_net(alpha: float, beta: float, swap: dict[int, int] = SWAP) -> TagHeadNet:
    """Linear head: tag "tone at swap[f] Hz" fires on the band of f (trainable, to save)."""
    fires: dict[str, list[float]] = {}
    for f in FREQS:
        fires.setdefault(f"tone at {swap[f]} Hz", []).append(f)
    return linear_head(NAMES, fires, alpha=alpha, beta=beta)


def permuted_head(alpha: float, beta: float, swap: dict[int, int] = SWAP) -> TagHead:
    """:func:`permuted_head_net` as a library holds it (NumPy)."""
    return permuted_head_net(alpha, beta, swap).frozen()


@pytest.fixture(scope="module")
def music(tmp_path_factory):
    d = tmp_path_factory.mktemp("tones")
    return [tone(d / f"tone{f}.wav", f, 12.0) for f in FREQS]


def make_library(tmp_path, music, head: TagHead):
    lib = Library.create(tmp_path / "lib", HeadToneModel(head))
    assert len(lib.add(music).added) == len(FREQS)
    return lib


def oracle_text(lib, head: TagHead, query: str, alpha: float | None = None,
                model: ToneModel | None = None, score: str = "sum") -> dict[int, float]:
    """Fused scores of every track from first principles (all tracks: the stats sample), with
    the stored vectors read from the database file directly; ``alpha``: the head's unless
    given; ``score``: tags score by their weighted probabilities (``sum``), log probabilities
    (``log``, floor 0.001) or logits standardised over the library's tracks (``z``, spread
    floored at 0.1)."""
    con = sqlite3.connect(lib.path / "library.sqlite")
    m = model or ToneModel()
    q = m.embed_text([query])[0]
    names = m.embed_text(list(NAMES))
    w = softmax((names @ q) / TEMPERATURE)
    ids = [r.id for r in lib.tracks()]
    cos, probs = [], []
    for tid in ids:
        segs = con.execute("SELECT start_s, end_s, vector FROM segments WHERE "
                                      "track_id = ? ORDER BY start_s", (tid,)).fetchall()
        v = np.stack([np.frombuffer(s[2], np.float16).astype(np.float32) for s in segs])
        dur = np.array([s[1] - s[0] for s in segs])
        probs.append((dur[:, None] * head.probs(v)).sum(0) / dur.sum())
        tv = con.execute("SELECT vector FROM tracks WHERE id = ?", (tid,)).fetchone()
        cos.append(float(np.frombuffer(tv[0], np.float32) @ q))
    cos, p = np.array(cos), np.clip(np.array(probs, np.float64), 1e-6, 1 - 1e-6)
    if score == "z":
        lg = np.log(p / (1 - p))
        tag = ((lg - lg.mean(0)) / np.maximum(lg.std(0), 0.1)) @ w
    else:
        tag = (np.log(np.maximum(p, 1e-3)) if score == "log" else p) @ w
    a = head.cfg.alpha if alpha is None else alpha
    z = a * (cos - cos.mean()) / (cos.std() + 1e-9) + (1 - a) * (tag - tag.mean()) / (tag.std() + 1e-9)
    return dict(zip(ids, z.tolist(), strict=True))


def _name(hit) -> str:
    return hit.path.rsplit("/", 1)[-1]


@pytest.mark.parametrize(("alpha", "top"), [(1.0, "tone220.wav"), (0.0, "tone880.wav"),
                                            (0.3, None)])
def test_fused_text_search_matches_the_oracle(tmp_path, music, alpha, top):
    head = permuted_head(alpha, 1.0)
    with make_library(tmp_path, music, head) as lib:
        hits = lib.search("tone at 220 Hz", k=4)
        if top is not None:
            assert _name(hits[0]) == top
        if alpha < 1.0:
            want = oracle_text(lib, head, "tone at 220 Hz")
            assert [h.track_id for h in hits] == sorted(want, key=lambda i: -want[i])
            for h in hits:
                assert h.score == pytest.approx(want[h.track_id], abs=1e-3)


def test_fused_similarity_matches_the_oracle(tmp_path, music):
    head = permuted_head(0.5, 0.4)
    with make_library(tmp_path, music, head) as lib:
        rows = {_name(r): r.id for r in lib.tracks()}
        tid = rows["tone220.wav"]
        hits = lib.similar(tid, k=3)
        space = lib.tag_space()
        con = sqlite3.connect(lib.path / "library.sqlite")
        vecs = np.stack([np.frombuffer(con.execute(
            "SELECT vector FROM tracks WHERE id = ?", (int(i),)).fetchone()[0], np.float32)
            for i in space.ids])
        f = fused_vectors(vecs, space.probs, 0.4, head.mean_logit)
        me = f[list(space.ids).index(tid)]
        want = sorted((i for i in space.ids if i != tid), key=lambda i: -(f[list(space.ids)
                                                                              .index(i)] @ me))
        assert [h.track_id for h in hits] == [int(i) for i in want]


def test_similarity_in_tag_space_alone_follows_the_tags(tmp_path, music):
    # the head gives 220 Hz and 1760 Hz the same tag: in tag space alone they are neighbours
    head = permuted_head(0.5, 0.0, {220: 220, 440: 440, 880: 880, 1760: 220})
    with make_library(tmp_path, music, head) as lib:
        rows = {_name(r): r.id for r in lib.tracks()}
        assert _name(lib.similar(rows["tone220.wav"], k=1)[0]) == "tone1760.wav"


def test_tag_space_follows_library_changes(tmp_path, music):
    head = permuted_head(0.0, 1.0)
    with make_library(tmp_path, music, head) as lib:
        assert len(lib.tag_space().ids) == 4
        lib.remove(lib.tracks()[0].id)
        assert len(lib.tag_space().ids) == 3
        assert len(lib.search("tone at 440 Hz", k=10)) == 3


def test_tag_probs_of_vectors_merge_repeated_names():
    head = TagHeadNet(TagHeadConfig(tags=("rock", "metal", "rock"), dim=4, hidden=0))
    with torch.no_grad():
        head.tags.weight.zero_()
        head.tags.bias.copy_(torch.tensor([-2.0, 0.0, 1.0]))
    from lyrebird.index.model import ModelHandle

    class H:
        tag_head = head.frozen()

    probs = ModelHandle(H()).distilled_tags(np.zeros((2, 4)))
    assert list(probs) == ["rock", "metal"]
    assert probs["rock"] == pytest.approx(1 / (1 + np.exp(-1.0)), abs=1e-6)


def test_head_round_trip_and_lookup(tmp_path):
    head = permuted_head_net(0.25, 0.75)
    head = TagHeadNet(replace(head.cfg, thresholds=(0.1, 0.2, 0.3, 0.4),
                           mean_logit=(1.0, 2.0, 3.0, 4.0)))
    head.save(tmp_path / "ckpt" / "tag_head")
    back = find_head(tmp_path / "ckpt")
    assert back is not None and back.cfg == head.cfg and back.fingerprint() == head.fingerprint()
    x = np.random.default_rng(0).standard_normal((5, head.cfg.dim)).astype(np.float32)
    assert np.allclose(back.probs(x), head.probs(x), atol=1e-6)
    assert find_head(tmp_path / "elsewhere") is None


def test_a_tag_given_twice_or_by_synonym_is_one_concept_in_search():
    from lyrebird.mulan.tag_head import tag_groups
    from lyrebird.mulan.tag_space import column_weights, group_vectors

    names = ("rock", "metal", "rock", "heavy metal", "piano")
    groups, col = tag_groups(names)
    assert col.tolist() == [0, 1, 0, 1, 2] and "heavy metal" in groups[1]
    e = np.eye(3)
    vecs = group_vectors([np.stack([e[g]] * len(members)) for g, members in enumerate(groups)])
    q = np.array([[1.0, 1.0, 1.0]]) / np.sqrt(3)  # equally like every concept
    w = column_weights(q, vecs, col)[0]
    assert w.sum() == pytest.approx(1.0)
    assert w.tolist() == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 3])


def test_stored_name_vectors_spare_the_text_tower(tmp_path, music):
    """A head saved with its tag names' vectors (for this text tower) embeds none of them."""
    from lyrebird.mulan.tag_head import save_name_vectors, tag_groups

    head = permuted_head_net(0.5, 0.5)
    head.save(tmp_path / "head")
    texts = list(dict.fromkeys(n for g in tag_groups(head.names)[0] for n in g))
    save_name_vectors(tmp_path / "head", ToneModel().fingerprint(), texts,
                      ToneModel().embed_text(texts))
    calls: list[list[str]] = []

    class Counting(HeadToneModel):
        def embed_text(self, texts):
            calls.append(list(texts))
            return super().embed_text(texts)

    loaded = TagHead.load(tmp_path / "head")
    with make_library(tmp_path, music, loaded) as lib:
        lib.close()
    with Library.open(tmp_path / "lib", model=Counting(loaded), readonly=True) as lib:
        assert lib.tag_space() is not None
        assert not any(t in texts for c in calls for t in c)
        stale = TagHead.load(tmp_path / "head")
        assert stale.stored_name_vectors("another text tower") is None


class MixToneModel(HeadToneModel):
    """The tone model whose text "a mix of A and B Hz" is both bands at once: a query that
    matches two tag names equally, so no single tag concept takes its weight."""

    def embed_text(self, texts: list[str]) -> np.ndarray:
        out = super().embed_text(texts)
        for i, t in enumerate(texts):
            if t.startswith("a mix of "):
                v = np.full(self.DIM, 1e-3, np.float32)
                for hz in t[len("a mix of "):].removesuffix(" Hz").split(" and "):
                    v[self._band(float(hz))] = 1.0
                out[i] = v / np.linalg.norm(v)
        return out


def test_a_query_no_single_tag_names_leans_on_the_contrastive_space(tmp_path, music):
    """With ``match_full`` the tag share of text search falls with the query's best tag
    concept's weight: a pure tone query keeps the head's alpha (0.3: the lying tags win); an
    even mix of two tones (each name takes half the weight) gets 0.3 + 0.7 (1 − 0.5 / 0.9)."""
    net = permuted_head_net(0.3, 1.0)
    net.cfg = replace(net.cfg, match_full=0.9)
    head = net.frozen()
    model = MixToneModel(head)
    with Library.create(tmp_path / "lib", model) as lib:
        lib.add(music)
        space = lib.tag_space()
        names = model.embed_text(list(NAMES))
        for query, full_tags in (("tone at 880 Hz", True), ("a mix of 220 and 440 Hz", False)):
            q = model.embed_text([query])[0]
            match = float(softmax(names @ q / TEMPERATURE).max())  # independent of the code
            want_alpha = 0.3 if full_tags else 0.3 + 0.7 * (1.0 - match / 0.9)
            assert space.query_alpha(q) == pytest.approx(want_alpha, abs=1e-6)
            hits = lib.search(query, k=4)
            want = oracle_text(lib, head, query, want_alpha, model)
            assert [h.track_id for h in hits] == sorted(want, key=lambda i: -want[i])
            for h in hits:
                assert h.score == pytest.approx(want[h.track_id], abs=1e-3)
        assert match == pytest.approx(0.5, abs=0.01)
        assert {_name(h) for h in lib.search("a mix of 220 and 440 Hz", k=2)} == {
            "tone220.wav", "tone440.wav"}  # alpha 0.61: the tones, not the head's lie
        top = _name(lib.search("tone at 880 Hz", k=1)[0])
        assert top == "tone220.wav"  # the head's lie, at the full tag share


def test_the_log_tag_score_is_a_soft_and():
    """Hand-computed: a query naming two concepts equally. Track 0 carries both a little
    (0.4, 0.4), track 1 one strongly and the other not (0.95, 0.01). The sum (a soft OR:
    0.40 vs 0.48) prefers track 1; the log (0.5 ln 0.4 + 0.5 ln 0.4 = −0.92 vs
    0.5 ln 0.95 + 0.5 ln 0.01 = −2.33) prefers track 0, which has both."""
    from lyrebird.mulan.tag_space import tag_scores

    probs, w = np.array([[0.4, 0.4], [0.95, 0.01]]), np.array([[0.5, 0.5]])
    assert tag_scores(probs, w, "sum")[:, 0] == pytest.approx([0.40, 0.48])
    assert tag_scores(probs, w, "log")[:, 0] == pytest.approx([-0.9163, -2.3282], abs=1e-4)
    # a probability under the floor costs the floor, not minus infinity
    assert tag_scores(np.array([[0.0, 1.0]]), w, "log")[0, 0] == pytest.approx(0.5 * np.log(1e-3))
    with pytest.raises(ValueError, match="tag score 'max'"):
        tag_scores(probs, w, "max")


def test_the_z_tag_score_weighs_a_concept_by_how_a_track_stands_out():
    """Hand-computed: logits of "metal" −2, 0, 2 over three tracks (mean 0, spread √(8/3) =
    1.633) and of "guitar" 3, 1, 2 (mean 2, spread √(2/3) = 0.816) standardise to
    (−1.225, 0, 1.225) and (1.225, −1.225, 0); a query weighing both 0.5 scores 0, −0.612,
    0.612. Scored against the library's statistics, a subset of the tracks keeps its scores."""
    from lyrebird.mulan.tag_space import tag_scores, tag_stats

    sig = lambda x: 1 / (1 + np.exp(-np.asarray(x, np.float64)))  # noqa: E731
    probs = np.stack([sig([-2, 0, 2]), sig([3, 1, 2])], axis=1)
    w = np.array([[0.5, 0.5]])
    assert tag_scores(probs, w, "z")[:, 0] == pytest.approx([0.0, -0.6124, 0.6124], abs=1e-4)
    stats = tag_stats(probs)
    assert tag_scores(probs[1:], w, "z", stats)[:, 0] == pytest.approx([-0.6124, 0.6124], abs=1e-4)
    # a tag every track carries alike is not blown up: its spread is floored at 0.1 logits
    flat = np.stack([sig([0, 0, 0.01]), sig([3, 1, 2])], axis=1)
    assert abs(tag_scores(flat, np.array([[1.0, 0.0]]), "z")[2, 0]) == pytest.approx(0.0667, abs=1e-3)


@pytest.mark.parametrize("kind", ["log", "z"])
@pytest.mark.parametrize("query", ["tone at 220 Hz", "a mix of 880 and 1760 Hz"])
def test_fused_search_with_other_tag_scores_matches_the_oracle(tmp_path, music, query, kind):
    """The head's ``tag_score`` is what the library searches with; a chord of 220 and
    440 Hz carries two tags at once, so the score kinds give different fused scores."""
    net = permuted_head_net(0.3, 1.0)
    net.cfg = replace(net.cfg, tag_score=kind)
    head = net.frozen()
    model = MixToneModel(head)
    chord = write_chords(tmp_path / "chord.wav", [(220, 440)], seconds=12.0)
    with Library.create(tmp_path / "lib", model) as lib:
        lib.add([*music, chord])
        hits = lib.search(query, k=5)
        want = oracle_text(lib, head, query, model=model, score=kind)
        assert [h.track_id for h in hits] == sorted(want, key=lambda i: -want[i])
        for h in hits:
            assert h.score == pytest.approx(want[h.track_id], abs=1e-3)
        if "mix" in query:  # the chord's two tags make the kinds differ
            assert want != pytest.approx(oracle_text(lib, head, query, model=model), abs=1e-3)
