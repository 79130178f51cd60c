"""Myna: masking, loss against a direct computation, hybrid switching, determinism, API."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lyrebird.encoders import get_encoder, list_encoders
from lyrebird.encoders.contrastive import nt_xent
from lyrebird.encoders.myna import MynaConfig, MynaEncoder, presets
from lyrebird.encoders.vit import Patcher, keep_count, posemb_sincos_2d, random_keep


def tiny(patch: str = "hybrid") -> MynaEncoder:
    torch.manual_seed(0)
    return MynaEncoder(presets()[f"tiny-{patch}"]).eval()


def music(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 110 * 2 ** (rng.integers(0, 24) / 12)
    x = sum(0.2 / k * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 5))
    return (x * (1 + 0.5 * np.sin(2 * np.pi * 2 * t)) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


# ------------------------------------------------------------------------------ masking


def test_kept_count_is_exact_and_indices_unique():
    for n, r in [(48, 0.9), (48, 0.0), (40, 0.9), (10, 0.95), (7, 0.5)]:
        keep = random_keep(64, n, r, torch.device("cpu"), torch.Generator().manual_seed(n))
        k = max(1, math.floor(n * (1 - r) + 0.5))
        assert keep.shape == (64, k) == (64, keep_count(n, r))
        assert all(len(set(row.tolist())) == k for row in keep)
        assert keep.min() >= 0 and keep.max() < n
    # uniform: every position is kept about equally often
    keep = random_keep(20000, 48, 0.9, torch.device("cpu"), torch.Generator().manual_seed(0))
    counts = torch.bincount(keep.flatten(), minlength=48).float()
    assert (counts / counts.mean() - 1).abs().max() < 0.1
    with pytest.raises(ValueError, match="mask_ratio"):
        keep_count(10, 1.0)


def test_two_views_keep_different_tokens():
    g = torch.Generator().manual_seed(0)
    a = random_keep(256, 48, 0.9, torch.device("cpu"), g)
    b = random_keep(256, 48, 0.9, torch.device("cpu"), g)
    same = [set(x.tolist()) == set(y.tolist()) for x, y in zip(a, b, strict=True)]
    assert sum(same) < 3  # C(48, 5) possible sets: identical views are vanishingly rare


def test_selecting_patches_before_projection_equals_selecting_tokens_after():
    torch.manual_seed(0)
    p = Patcher(128, 16, 16, 64)
    mel = torch.randn(3, 128, 96)
    keep = random_keep(3, 48, 0.9, torch.device("cpu"))
    full = p(mel)  # (3, 48, 64)
    picked = torch.stack([full[i, keep[i]] for i in range(3)])
    torch.testing.assert_close(p(mel, keep), picked)


def test_patch_grid_is_row_major_over_frequency_and_time():
    p = Patcher(128, 16, 16, 8)
    mel = torch.arange(128 * 32, dtype=torch.float32).reshape(1, 128, 32)
    patches = p.patches(mel)  # (1, 16, 256): 8 rows x 2 columns
    assert patches.shape == (1, 16, 256)
    torch.testing.assert_close(patches[0, 1].reshape(16, 16), mel[0, :16, 16:32])  # row 0, col 1
    torch.testing.assert_close(patches[0, 2].reshape(16, 16), mel[0, 16:32, :16])  # row 1, col 0
    pe = posemb_sincos_2d(8, 2, 16)
    assert pe.shape == (16, 16) and torch.allclose(pe[0, 4:8], torch.ones(4))  # cos(0) = 1


# ------------------------------------------------------------------------------ loss


def nt_xent_direct(z1: np.ndarray, z2: np.ndarray, tau: float, decoupled: bool = False) -> float:
    """SimCLR NT-Xent written out anchor by anchor (independent of the vectorised code)."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n, b = len(z), len(z1)
    total = 0.0
    for i in range(n):
        pos = (i + b) % n
        num = math.exp(z[i] @ z[pos] / tau)
        den = sum(math.exp(z[i] @ z[j] / tau) for j in range(n)
                  if j != i and not (decoupled and j == pos))
        total += -math.log(num / den)
    return total / n


@pytest.mark.parametrize("decoupled", [False, True])
def test_nt_xent_matches_direct_computation(decoupled):
    rng = np.random.default_rng(0)
    z1, z2 = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    got = nt_xent(torch.tensor(z1), torch.tensor(z2), 0.1, decoupled=decoupled).item()
    assert got == pytest.approx(nt_xent_direct(z1, z2, 0.1, decoupled), rel=1e-5)
    with pytest.raises(ValueError, match="two"):
        nt_xent(torch.zeros(3, 4), torch.zeros(2, 4))


def test_nt_xent_rewards_aligned_pairs():
    z = torch.randn(16, 8)
    aligned = nt_xent(z, z + 0.01 * torch.randn(16, 8), 0.1)
    shuffled = nt_xent(z, z[torch.randperm(16)], 0.1)
    assert aligned < shuffled


def test_hybrid_loss_is_the_mean_of_square_and_vertical_losses():
    m = tiny("hybrid")
    mel1, mel2 = torch.randn(4, 128, 96), torch.randn(4, 128, 96)
    loss, parts = m.contrastive_loss(mel1, mel2, generator=torch.Generator().manual_seed(0))
    assert set(parts) == {"square", "vertical"}
    assert loss.item() == pytest.approx((parts["square"].item() + parts["vertical"].item()) / 2)
    # each part equals the loss of that patcher's two masked views, computed directly
    g = torch.Generator().manual_seed(0)
    z = m.project_masked(torch.cat([mel1, mel2]), "square", generator=g)
    assert parts["square"].item() == pytest.approx(nt_xent(*z.chunk(2), 0.1).item(), rel=1e-5)


def test_masked_loss_backpropagates_into_both_patchers():
    m = tiny("hybrid").train()
    loss, _ = m.contrastive_loss(torch.randn(4, 128, 96), torch.randn(4, 128, 96))
    loss.backward()
    for name in ("square", "vertical"):
        assert m.patchers[name].proj.weight.grad.abs().sum() > 0


# ------------------------------------------------------------------------------ inference API


def test_hybrid_embed_modes_switch_dimension_and_content():
    m = tiny("hybrid")
    wav = music(5.0)
    cat = m.embed(wav, 16000)
    assert m.DIM == 128 and cat.shape == (128,)
    m.set_embed_mode("square")
    sq = m.embed(wav, 16000)
    assert m.DIM == 64 and m.FRAME_RATE == pytest.approx(31.25 / 16)
    m.set_embed_mode("vertical")
    ve = m.embed(wav, 16000)
    assert m.embed_frames(wav, 16000).shape[1] == 64 and m.FRAME_RATE == pytest.approx(31.25 / 2)
    torch.testing.assert_close(cat, torch.cat([sq, ve]))
    with pytest.raises(ValueError, match="concat"):
        tiny("square").set_embed_mode("concat")


def test_embeddings_are_deterministic_and_batch_invariant():
    m = tiny("hybrid")
    clips = torch.from_numpy(np.stack([music(m.clip_s + 0.001, seed=s)[: m.clip_samples]
                                       for s in range(6)]))
    with torch.inference_mode():
        batch = m.encode_clips(clips).pooled
        again = m.encode_clips(clips).pooled
        alone = torch.cat([m.encode_clips(clips[i : i + 1]).pooled for i in range(6)])
    torch.testing.assert_close(batch, again, rtol=0, atol=0)
    torch.testing.assert_close(batch, alone, rtol=0, atol=1e-5)
    wav = music(20.0, seed=9)
    a, b = m.embed(wav, 16000), get_encoder("myna:tiny-hybrid", device="cpu").embed(wav, 16000)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)  # a fresh load gives the same vector


def test_long_audio_embedding_is_the_length_weighted_mean_of_clip_embeddings():
    m = tiny("square")
    sr = 16000
    wav = music(10.0, seed=3)  # 3.29 clips of 3.04 s: the last one is partial and padded
    n = m.clip_samples
    starts = range(0, len(wav), n)
    clips = np.zeros((len(starts), n), np.float32)
    w = []
    for i, s in enumerate(starts):
        seg = wav[s : s + n]
        clips[i, : len(seg)] = seg
        w.append(len(seg))
    with torch.inference_mode():
        pooled = m.encode_clips(torch.from_numpy(clips)).pooled
    w = torch.tensor(w, dtype=torch.float32)
    torch.testing.assert_close(m.embed(wav, sr), (pooled * w[:, None]).sum(0) / w.sum(), atol=1e-5, rtol=0)
    frames = m.embed_frames(wav, sr)
    assert abs(frames.shape[0] - 10.0 * m.FRAME_RATE) <= 1.5


def test_any_sample_rate_and_channel_layout():
    m = tiny("vertical")
    import soxr

    mono = music(4.0, sr=44100)
    a = m.embed(mono, 44100)
    b = m.embed(soxr.resample(mono, 44100, 16000, quality="VHQ"), 16000)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    stereo = np.stack([mono, mono])  # (C, T)
    torch.testing.assert_close(m.embed(stereo, 44100), a, atol=1e-5, rtol=0)


def test_vit1d_embedding_averages_class_and_sequence_tokens():
    m = tiny("vit1d")
    clip = torch.from_numpy(music(4.0)[: m.clip_samples])[None]
    with torch.inference_mode():
        mel = m.mel(clip)[..., : m.cfg.clip_frames]
        tok = m.tokens(mel, "vertical")
        out = m.encode_clips(clip)
    assert tok.shape == (1, 1 + 48, 64)
    torch.testing.assert_close(out.pooled, 0.5 * (tok[:, 0] + tok[:, 1:].mean(1)))
    torch.testing.assert_close(out.frames, tok[:, 1:])  # sequence tokens are the frames
    assert m.FRAME_RATE == pytest.approx(15.625)


def test_hidden_states_cover_every_layer():
    m = tiny("hybrid")
    hs = m.hidden_states(music(7.0), 16000)
    assert len(hs) == m.cfg.depth + 1
    assert all(h.shape == hs[-1].shape for h in hs) and hs[-1].shape[1] == m.DIM
    torch.testing.assert_close(hs[-1], m.embed_frames(music(7.0), 16000))


def test_presets_registry_and_sizes():
    names = list_encoders()
    assert {"myna:tiny-hybrid", "myna:base-square", "myna:small-vit1d"} <= set(names)
    base = MynaEncoder(presets()["base-square"])
    n = sum(p.numel() for p in base.parameters())
    assert 20e6 < n < 24e6  # ViT-S/16 ≈ 22 M
    assert base.cfg.dim == 384 and base.cfg.depth == 12 and base.cfg.heads == 6
    with pytest.raises(ValueError, match="unknown encoder"):
        get_encoder("myna-xl")
    with pytest.raises(ValueError, match="unknown myna preset"):
        get_encoder("myna:huge-square")
    with pytest.raises(ValueError, match="divisible"):
        MynaConfig(dim=100, heads=3)
    with pytest.raises(ValueError, match="tile"):
        MynaConfig(clip_frames=90)


def test_bench_peak_memory_is_measured_in_the_child_even_after_a_high_parent_peak():
    """``ru_maxrss`` survives ``execve``: a child started by a process that already peaked high
    measured +0 MiB for both ratios. The child's own ``VmHWM`` does not carry over."""
    from lyrebird.bench.myna import peak_rss_mb_of_train

    ballast = np.ones(400_000_000 // 8)  # 400 MB: this process's peak is now far above a child's
    full, masked = (peak_rss_mb_of_train("small-square", 32, r) for r in (0.0, 0.9))
    del ballast
    assert full > 2 * masked > 0  # dropping 90 % of the tokens drops most activation memory
