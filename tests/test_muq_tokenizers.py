"""Tokenizers of the masked-token-prediction family: determinism, exactness, RVQ losses, stats."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lyrebird.encoders.backbone import BackboneConfig
from lyrebird.encoders.melrvq import LatentRVQ, MelRVQ
from lyrebird.encoders.tokenizer_io import (
    build_tokenizer,
    load_tokenizer,
    save_tokenizer,
    tokenizer_from_config,
)
from lyrebird.encoders.tokenizers import (
    FSQQuantizer,
    RandomProjectionQuantizer,
    TokenizerConfig,
    codebook_stats,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def val(t: torch.Tensor) -> float:
    return float(t.detach())


def feats(b=2, t=50, f=512, seed=0) -> torch.Tensor:
    return torch.randn(b, t, f, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["random", "fsq"])
def test_frozen_tokenizers_are_deterministic_functions_of_the_seed(kind):
    cfg = TokenizerConfig(kind=kind, num_codebooks=3, codebook_size=256, seed=7)
    x = feats()
    a, b = build_tokenizer(cfg).encode(x), build_tokenizer(cfg).encode(x)
    assert a.shape == (2, 50, 3) and a.dtype == torch.int64
    assert torch.equal(a, b)
    assert torch.equal(build_tokenizer(cfg).encode(x[1]), a[1])  # (T, F) → (T, N)
    other = build_tokenizer(TokenizerConfig(kind=kind, num_codebooks=3, codebook_size=256, seed=8))
    assert not torch.equal(other.encode(x), a)
    assert int(a.min()) >= 0 and int(a.max()) < cfg.vocab_size
    # parallel codebooks: stream n is the single quantizer drawn from seed + n
    single = (RandomProjectionQuantizer if kind == "random" else FSQQuantizer)(cfg, seed=7 + 2)
    assert torch.equal(single.codes(x.reshape(-1, 512)).reshape(2, 50), a[..., 2])
    assert not torch.equal(a[..., 0], a[..., 1])


def test_best_rq_is_the_nearest_l2_normalised_codeword():
    cfg = TokenizerConfig(kind="random", codebook_size=64, codebook_dim=8, in_dim=32, seed=3)
    q = RandomProjectionQuantizer(cfg, seed=3)
    x = torch.randn(200, 32)
    z = F.normalize(x @ q.projection.T, dim=-1)
    c = F.normalize(q.codebook, dim=-1)
    direct = torch.cdist(z, c).argmin(-1)
    assert torch.equal(q.codes(x)[:, 0], direct)
    # the projection is Xavier-uniform and the codebook N(0, 1): check their ranges/moments
    bound = math.sqrt(6 / (32 + 8))
    assert q.projection.abs().max() <= bound and q.projection.abs().max() > 0.8 * bound
    big = RandomProjectionQuantizer(TokenizerConfig(codebook_size=8192, codebook_dim=16), seed=0)
    assert abs(float(big.codebook.mean())) < 0.02 and abs(float(big.codebook.std()) - 1) < 0.02


def test_fsq_uses_exactly_the_configured_levels():
    cfg = TokenizerConfig(kind="fsq", fsq_levels=(3, 4, 5), in_dim=16)
    q = FSQQuantizer(cfg, seed=0)
    x = torch.randn(20000, 16) * 3
    codes = q.codes(x)[:, 0]
    assert cfg.vocab_size == 60
    assert int(codes.min()) >= 0 and int(codes.max()) < 60
    assert len(codes.unique()) == 60  # every combination of levels is reachable
    digits = torch.round(q.bound(x @ q.projection.T))
    for c, lv in enumerate((3, 4, 5)):
        assert len(digits[:, c].unique()) == lv


def test_standardization_is_fitted_and_applied():
    cfg = TokenizerConfig(kind="random", codebook_size=128, in_dim=512)
    tok = build_tokenizer(cfg)
    x = feats(4, 100) * 0.2 + 3.0  # a large common offset: one direction dominates
    before = codebook_stats(tok.encode(x), 128)["mean_perplexity"]
    tok.fit([x.reshape(-1, 512)])
    assert torch.allclose(tok.mean, x.reshape(-1, 512).mean(0), atol=1e-5)
    after = codebook_stats(tok.encode(x), 128)["mean_perplexity"]
    assert after > 2 * before
    raw = build_tokenizer(TokenizerConfig(kind="random", codebook_size=128, standardize=False))
    raw.fit([x.reshape(-1, 512)])
    assert torch.equal(raw.mean, torch.zeros(512))  # standardize=False: nothing fitted


def test_codebook_stats_exact_values():
    tokens = torch.tensor([[0, 5], [0, 5], [1, 5], [2, 5]])
    s = codebook_stats(tokens, 8)
    assert s["utilisation"] == [3 / 8, 1 / 8]
    p = torch.tensor([0.5, 0.25, 0.25])
    assert s["perplexity"][0] == pytest.approx(math.exp(float(-(p * p.log()).sum())))
    assert s["perplexity"][1] == pytest.approx(1.0)
    assert s["frames"] == 4 and s["mean_utilisation"] == pytest.approx(0.25)


def small_rvq(standardize=False, seed=0) -> MelRVQ:
    cfg = TokenizerConfig(kind="melrvq", in_dim=12, num_codebooks=3, codebook_size=16,
                          codebook_dim=4, standardize=standardize, seed=seed)
    rvq = MelRVQ(cfg)
    with torch.no_grad():  # non-zero decoders so that every residual step matters
        for d in rvq.decoders:
            d.weight.normal_(0, 0.3, generator=torch.Generator().manual_seed(1))
    return rvq


def test_rvq_codes_and_loss_terms_match_a_direct_computation():
    rvq = small_rvq()
    x = torch.randn(64, 12)
    out = rvq.quantize(x)
    parts = rvq.loss_terms(out)
    r, xhat, code, commit = x.clone(), torch.zeros_like(x), 0.0, 0.0
    for n in range(3):
        P, D, Q = rvq.encoders[n].weight, rvq.decoders[n].weight, rvq.codebooks[n]
        z = r @ P.T
        dist = torch.cdist(F.normalize(z, dim=-1), F.normalize(Q, dim=-1))
        tau = dist.argmin(-1)
        assert torch.equal(out.codes[:, n], tau)
        q = Q[tau]
        code += (F.normalize(q, dim=-1) - F.normalize(z, dim=-1)).pow(2).sum(-1).mean()
        commit += (F.normalize(z, dim=-1) - F.normalize(q, dim=-1)).pow(2).sum(-1).mean()
        r = r - q @ D.T
        xhat = xhat + q @ D.T
    recon = (xhat - x).pow(2).sum(-1).mean()
    assert val(parts["code"]) == pytest.approx(val(code), rel=1e-5)
    assert val(parts["commit"]) == pytest.approx(val(commit), rel=1e-5)
    assert val(parts["recon"]) == pytest.approx(val(recon), rel=1e-5)
    assert val(parts["loss"]) == pytest.approx(val(code + 0.25 * commit + recon), rel=1e-5)
    # stop-gradients: the codebook loss never trains the encoders, the commitment loss never
    # trains the last codebook (it is only read through sg)
    enc = [e.weight for e in rvq.encoders]
    assert all(g is None or float(g.abs().max()) == 0 for g in
               torch.autograd.grad(parts["code"], enc, retain_graph=True, allow_unused=True))
    (g,) = torch.autograd.grad(parts["commit"], [rvq.codebooks], retain_graph=True)
    assert float(g[2].abs().max()) == 0 and float(g[0].abs().max()) > 0


def test_rvq_fit_lowers_the_loss_and_reports_utilisation():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(40, 12, generator=g) * 2
    def batches():
        while True:
            yield centers[torch.randint(0, 40, (256,), generator=g)] + 0.1 * torch.randn(256, 12, generator=g)
    rvq = small_rvq(standardize=True)
    rep = rvq.fit(batches(), steps=150, lr=3e-3, restart_every=25, log_every=0)
    h = rep["history"]
    assert h[-1]["recon"] < 0.5 * h[0]["recon"]
    assert rep["restarted_codewords"] > 0
    stats = rvq.stats(next(batches())[None])
    assert len(stats["utilisation"]) == 3 and len(stats["perplexity"]) == 3
    assert all(0 < u <= 1 for u in stats["utilisation"])
    assert stats["utilisation"][0] > 0.5  # 40 clusters over 16 codewords: most are used
    assert all(1 <= p <= 16 for p in stats["perplexity"])
    # without re-seeding, more codewords stay dead
    plain = small_rvq(standardize=True)
    plain.fit(batches(), steps=150, lr=3e-3, restart_every=0, log_every=0)
    assert plain.stats(next(batches())[None])["mean_utilisation"] < stats["mean_utilisation"]


def test_tokenizer_checkpoint_round_trip(tmp_path):
    rvq = small_rvq(standardize=True)
    rvq.fit_standardization(torch.randn(100, 12) + 1)
    save_tokenizer(rvq, tmp_path / "tok")
    back = load_tokenizer(tmp_path / "tok")
    x = torch.randn(3, 20, 12)
    assert isinstance(back, MelRVQ) and torch.equal(back.encode(x), rvq.encode(x))
    cfg = back.cfg
    assert tokenizer_from_config(cfg).encode(x).shape == (3, 20, 3)
    with pytest.raises(ValueError, match="path"):
        tokenizer_from_config(TokenizerConfig(kind="melrvq"))
    with pytest.raises(ValueError, match="codebook_size"):
        tokenizer_from_config(TokenizerConfig(kind="melrvq", in_dim=12, num_codebooks=3,
                                              codebook_size=32, path=str(tmp_path / "tok")))


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="kind"):
        TokenizerConfig(kind="kmeans")
    with pytest.raises(ValueError, match="codebook_size"):
        TokenizerConfig(codebook_size=0)
    with pytest.raises(ValueError, match="layer"):
        TokenizerConfig(kind="iter")
    with pytest.raises(ValueError, match=r"\(T, 512\)"):
        build_tokenizer(TokenizerConfig()).encode(torch.randn(512, 50))


def test_latent_rvq_quantizes_contextual_encoder_states():
    bb = BackboneConfig(dim=32, depth=2, heads=2, ffn_dim=64, kernel=7, dropout=0.0)
    cfg = TokenizerConfig(kind="iter", num_codebooks=2, codebook_size=16, codebook_dim=4,
                          layer=1, backbone=bb)
    tok = LatentRVQ(cfg)
    x = feats(3, 40)
    rep = tok.fit(iter([x] * 20), steps=20, restart_every=0, log_every=0)
    assert rep["fitted"] and torch.allclose(tok.rvq.mean, tok.latents(x).reshape(-1, 32).mean(0),
                                            atol=1e-4)
    t = tok.encode(x)
    assert t.shape == (3, 40, 2)
    # tokens depend on context: changing frames 30-39 changes a token somewhere before them
    # for the latent RVQ, never for the frame-wise Mel-RVQ
    y = x.clone()
    y[:, 30:] = torch.randn(3, 10, 512)
    assert not torch.equal(tok.encode(y)[:, :30], t[:, :30])
    mel = MelRVQ(TokenizerConfig(kind="melrvq", num_codebooks=2, codebook_size=16))
    assert torch.equal(mel.encode(y)[:, :30], mel.encode(x)[:, :30])
