"""Conformer / Branchformer backbones, SummaryMixing as a drop-in for MHSA, the MuQ encoder API."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from lyrebird.core.checkpoint import save_checkpoint
from lyrebird.core.configs import config_to_dict
from lyrebird.encoders import get_encoder, list_encoders
from lyrebird.encoders.attention import MultiHeadSelfAttention
from lyrebird.encoders.backbone import Backbone, BackboneConfig, Conv2dStem
from lyrebird.encoders.branchformer import BranchformerBlock
from lyrebird.encoders.conformer import ConformerBlock
from lyrebird.encoders.mel import MelFrontend
from lyrebird.encoders.muq import MuQEncoder, make_config, muq_config, presets
from lyrebird.encoders.registry import load_encoder_dir
from lyrebird.encoders.summary_mixing import SummaryMixing

TINY = dict(dim=32, depth=2, heads=2, ffn_dim=64, kernel=7, dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_thread")


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("block", ["conformer", "branchformer"])
@pytest.mark.parametrize("mixer", ["mhsa", "summary"])
@pytest.mark.parametrize("stem", ["linear", "conv2d"])
def test_backbone_shapes_and_hidden_states(block, mixer, stem):
    torch.manual_seed(0)
    bb = Backbone(BackboneConfig(block=block, mixer=mixer, stem=stem, stem_channels=4, **TINY))
    x = rand(3, 37, 512)
    assert bb(x).shape == (3, 37, 32)  # same 25 Hz frame count in and out
    states = bb(x, return_all=True)
    assert len(states) == 3 and all(s.shape == (3, 37, 32) for s in states)
    assert torch.allclose(states[-1], bb(x), atol=1e-5)


@pytest.mark.parametrize("block_cls", [ConformerBlock, BranchformerBlock])
@pytest.mark.parametrize("mixer", ["mhsa", "summary"])
def test_mixers_are_interchangeable_and_ignore_padding(block_cls, mixer):
    """SummaryMixing is a drop-in for MHSA: same call, same shapes, same padding semantics —
    a padded batch gives exactly the outputs of the unpadded sequences on valid frames."""
    torch.manual_seed(0)
    blk = block_cls(32, 2, 64, 7, 0.0, mixer).eval()
    x = rand(2, 30, 32)
    pad = torch.zeros(2, 30, dtype=torch.bool)
    pad[1, 18:] = True
    y = blk(x, pad)
    assert y.shape == x.shape
    assert torch.allclose(y[0], blk(x[:1])[0], atol=1e-5)
    assert torch.allclose(y[1, :18], blk(x[1:, :18])[0], atol=1e-5)
    garbage = x.clone()
    garbage[1, 18:] = 100 * rand(12, 32, seed=1)
    assert torch.allclose(blk(garbage, pad)[1, :18], y[1, :18], atol=1e-5)


def test_summary_mixing_matches_its_definition_and_mhsa_interface():
    torch.manual_seed(0)
    sm, mh = SummaryMixing(16).eval(), MultiHeadSelfAttention(16, 2).eval()
    x = rand(2, 9, 16)
    pad = torch.zeros(2, 9, dtype=torch.bool)
    pad[0, 6:] = True
    for m in (sm, mh):
        assert m(x).shape == m(x, pad).shape == (2, 9, 16)
    s = sm.summary(x[0, :6]).mean(0)
    direct = sm.act(sm.combine_local(sm.local(x[0])) + sm.combine_summary(s))
    assert torch.allclose(sm(x, pad)[0], direct, atol=1e-6)
    # SummaryMixing is permutation-equivariant (no positions); rotary MHSA is not
    perm = torch.randperm(9)
    assert torch.allclose(sm(x)[:, perm], sm(x[:, perm]), atol=1e-5)
    assert not torch.allclose(mh(x)[:, perm], mh(x[:, perm]), atol=1e-3)


def test_rotary_attention_depends_on_relative_positions_only():
    torch.manual_seed(0)
    mh = MultiHeadSelfAttention(16, 2).eval()
    x = rand(1, 12, 16)
    # a constant shift of every position leaves rotary attention unchanged: compare a sequence
    # with the same sequence preceded by padding that is masked out
    padded = torch.cat([rand(1, 5, 16, seed=3), x], dim=1)
    pad = torch.zeros(1, 17, dtype=torch.bool)
    pad[0, :5] = True
    assert torch.allclose(mh(padded, pad)[:, 5:], mh(x), atol=1e-5)


def flops(module: torch.nn.Module, t: int) -> int:
    """Counted FLOPs of one forward over ``t`` frames (math SDPA, so every matmul is seen)."""
    with (FlopCounterMode(display=False) as fc, torch.no_grad(),
          sdpa_kernel(SDPBackend.MATH)):
        module(torch.empty(1, t, 64, device="meta"))  # shapes only: nothing is computed
    return fc.get_total_flops()


def test_summary_mixing_cost_is_linear_and_mhsa_quadratic():
    with torch.device("meta"):
        sm, mh = SummaryMixing(64).eval(), MultiHeadSelfAttention(64, 4).eval()
    r_sm = flops(sm, 2000) / flops(sm, 500)
    r_mh = flops(mh, 2000) / flops(mh, 500)
    assert r_sm == pytest.approx(4.0, rel=0.01)  # 4x the frames, 4x the work
    assert r_mh > 12.0  # approaching 16x: the T x T score matrix dominates


def test_conv2d_stem_equals_convolution_of_the_unstacked_mel():
    fe_stacked, fe_plain = MelFrontend("muq"), MelFrontend(
        dataclasses.replace(MelFrontend("muq").cfg, stack=1))
    wav = rand(2, 24000)
    stacked = fe_stacked(wav).transpose(1, 2)  # (B, T, 512) at 25 Hz
    plain = fe_plain(wav)[:, :, : stacked.shape[1] * 4]  # (B, 128, 4T) at 100 Hz
    torch.manual_seed(0)
    stem = Conv2dStem(512, 4, 32, 4).eval()
    y = stem.conv(plain.transpose(1, 2).unsqueeze(1))  # (B, C, T, 32)
    want = stem.proj(y.permute(0, 2, 1, 3).flatten(2))
    assert torch.allclose(stem(stacked), want, atol=1e-5)
    assert want.shape[1] == stacked.shape[1]


def test_presets_are_registered_and_have_paper_sizes():
    names = list_encoders()
    for fam in ("muq", "omar", "omar-fsq", "brn-sum", "brn-att", "cnf-sum"):
        assert f"muq:{fam}-tiny" in names and f"muq:{fam}-large" in names
    p = presets()
    assert p["muq-large"].tokenizer.num_codebooks == 8 and p["muq-large"].tokenizer.codebook_size == 1024
    assert p["omar-base"].tokenizer.num_codebooks == 4 and p["omar-base"].tokenizer.kind == "random"
    assert p["omar-fsq-base"].tokenizer.vocab_size == 6 ** 5
    assert p["brn-sum-large"].backbone.block == "branchformer"
    assert p["brn-sum-large"].backbone.mixer == "summary"
    assert p["brn-sum-large"].objective.recon_weight > 0
    assert p["muq-large"].objective.mask_prob == 0.6 and p["muq-large"].objective.mask_span_s == 0.4
    with torch.device("meta"):  # parameter counts without allocating
        n_muq = sum(x.numel() for x in MuQEncoder(make_config("muq", "large")).backbone.parameters())
        n_omar = sum(x.numel() for x in MuQEncoder(make_config("omar", "base")).backbone.parameters())
    assert 280e6 < n_muq < 330e6  # MuQ: 12 Conformer layers, 310 M
    assert 70e6 < n_omar < 100e6  # OMAR-RQ base: 12 layers x 512, 90 M


@pytest.mark.parametrize("name", ["muq-tiny", "brn-sum-tiny"])
def test_encoder_api_frame_rate_and_shapes(name):
    enc = get_encoder(f"muq:{name}", device="cpu")
    assert enc.SAMPLE_RATE == 24000 and enc.FRAME_RATE == 25.0 and enc.DIM == 64
    wav = np.random.default_rng(0).standard_normal(int(7.3 * 24000)).astype(np.float32) * 0.1
    frames = enc.embed_frames(wav, 24000)
    assert frames.shape[1] == 64 and abs(frames.shape[0] - 7.3 * 25) <= 2
    assert enc.embed(wav, 24000).shape == (64,)
    hs = enc.hidden_states(wav, 24000)
    assert len(hs) == enc.cfg.backbone.depth + 1 and all(h.shape == frames.shape for h in hs)
    assert torch.allclose(hs[-1], frames, atol=1e-5)
    # other sample rates and stereo are resampled / downmixed by the base class
    assert enc.embed(np.stack([wav[:48000]] * 2), 48000).shape == (64,)


def test_long_audio_runs_in_bounded_clips():
    """Ten minutes of audio: no mixer ever sees more than one clip of frames, no forward more
    than ``batch_size`` clips, and the output still covers the whole track at 25 Hz."""
    enc = get_encoder("muq:brn-att-tiny", device="cpu")
    enc.batch_size = 8
    seen: list[tuple[int, int]] = []
    for m in enc.modules():
        if isinstance(m, MultiHeadSelfAttention):
            m.register_forward_hook(lambda mod, args, out: seen.append(tuple(args[0].shape[:2])))
    seconds = 600
    wav = np.zeros(seconds * 24000, np.float32)
    wav[::97] = 0.5
    frames = enc.embed_frames(wav, 24000)
    assert abs(frames.shape[0] - seconds * 25) <= 2
    assert max(t for _, t in seen) <= enc.cfg.clip_frames  # 125 frames = 5 s, never 15000
    assert max(b for b, _ in seen) <= 8
    # the attention matrix a full-track forward would need vs. what the chunked run needs
    assert (seconds * 25) ** 2 / enc.cfg.clip_frames ** 2 > 10_000


def test_checkpoint_round_trip_and_config_errors(tmp_path):
    enc = get_encoder("muq:omar-tiny", device="cpu")
    save_checkpoint(tmp_path / "m", enc.state_dict(), kind="muq", preset="omar-tiny",
                    config=config_to_dict(enc.cfg), mel=config_to_dict(enc.cfg.mel))
    back = load_encoder_dir(tmp_path / "m")
    wav = rand(24000 * 3).numpy() * 0.1
    assert torch.allclose(back.embed(wav, 24000), enc.embed(wav, 24000), atol=1e-5)
    with pytest.raises(ValueError, match="heads"):
        BackboneConfig(dim=64, heads=3)
    with pytest.raises(ValueError, match="kernel"):
        BackboneConfig(kernel=4)
    with pytest.raises(ValueError, match="bogus"):
        muq_config("muq-tiny", bogus=1)
    with pytest.raises(ValueError, match="unknown MuQ preset"):
        muq_config("muq-huge")
    cfg = muq_config("muq-tiny", mixer="summary", mask_prob=0.5, codebook_size=64, clip_s=4.0)
    assert (cfg.backbone.mixer, cfg.objective.mask_prob, cfg.tokenizer.codebook_size,
            cfg.clip_s) == ("summary", 0.5, 64, 4.0)
