"""PyTorch port of the musicnn taggers (Pons & Serra, 2019; ISC licence) for use as frozen teachers.

Two architectures, as in ``musicnn/models.py`` of ``musicnn==0.1.0``:

* :class:`Musicnn` — front-end of musically motivated CNN filters on a 96-band log-mel (two
  "timbral" convs spanning 7 frames × 38/67 mel bands and three "temporal" convs spanning
  128/64/32 frames × 1 band, each ReLU → batch norm → max over frequency), a mid-end of three
  1-D convs (7 frames, 64 filters, dense + residual connections), and a back-end of temporal
  max & mean pooling → batch norm → dense 200 (ReLU, batch norm: the "penultimate" features) →
  dense 50 → sigmoid.
* :class:`MusicnnVGG` — the VGG-like baseline: 5 × (3×3 conv 128, ReLU, batch norm, max-pool),
  then dense 50 on the flattened 2 × 1 × 128 map.

Batch norms use TF's ``epsilon=0.001`` and ReLU comes *before* batch norm, as in the original.
:class:`MusicnnTagger` wraps a model with the float32 front-end (:mod:`.frontend`) and tags any
waveform: non-overlapping 187-frame (≈3 s) windows by default, window sigmoids averaged over the
track as ``musicnn.tagger.top_tags`` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from lyrebird.encoders.audio import prepare_waveform
from lyrebird.encoders.musicnn_mel import FrontendConfig, LogMelFrontend, num_frames
from lyrebird.mulan.vocabulary import MSD_TOP50

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints" / "musicnn"

MTT_TAGS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
    "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
)
"""MagnaTagATune top-50 tags, in the output order of the ``MTT_*`` models."""

MSD_TAGS: tuple[str, ...] = MSD_TOP50
"""Million Song Dataset (Last.fm) top-50 tags, in the output order of the ``MSD_*`` models."""


@dataclass(frozen=True)
class MusicnnConfig:
    """musicnn architecture (``build_musicnn``); defaults are the MTT/MSD_musicnn models."""

    n_mels: int = 96
    n_frames: int = 187  # training window, frames (≈3 s); any length ≥ 1 runs
    num_filt_frontend: float = 1.6  # timbral filters = int(1.6*128), temporal = int(1.6*32)
    num_filt_midend: int = 64
    num_units_backend: int = 200
    num_classes: int = 50
    bn_eps: float = 1e-3  # TF's batch_normalization default
    family: str = "musicnn"


@dataclass(frozen=True)
class VGGConfig:
    """VGG-like baseline (``vgg``); needs exactly ``n_frames = 187``."""

    n_mels: int = 96
    n_frames: int = 187
    num_filters: int = 128
    num_classes: int = 50
    bn_eps: float = 1e-3
    family: str = "vgg"


class ConvBN(nn.Module):
    """``bn(relu(conv(x)))`` — the original's order (activation inside the conv layer)."""

    def __init__(self, conv: nn.Conv1d | nn.Conv2d, eps: float):
        super().__init__()
        self.conv = conv
        bn = nn.BatchNorm2d if isinstance(conv, nn.Conv2d) else nn.BatchNorm1d
        self.bn = bn(conv.out_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))

    def forward_max(self, x: torch.Tensor) -> torch.Tensor:
        """``forward(x).amax(-1)``: ``(B, C_in, T, F)`` → ``(B, C_out, T)``.

        In eval mode it pools first: ReLU and the per-channel affine batch norm are monotone,
        so the maximum over frequency is the output at the conv's maximum where the batch-norm
        scale is ≥ 0 and at its minimum where it is < 0 — taken as ``-max(-z)`` by running those
        channels' filters negated (exact in floating point). ReLU and batch norm then run on
        ``1/F`` of the data. Same values as the literal order, 2-3× faster.
        """
        if self.training:
            return self(x).amax(dim=-1)
        conv, bn = self.conv, self.bn
        sign = torch.where(bn.weight < 0, -1.0, 1.0)
        w = conv.weight * sign.view(-1, *([1] * (conv.weight.ndim - 1)))
        z = conv._conv_forward(x, w, conv.bias * sign).amax(dim=-1) * sign[:, None]
        return F.batch_norm(F.relu(z), bn.running_mean, bn.running_var, bn.weight, bn.bias,
                            False, 0.0, bn.eps)


class FrontEnd(nn.Module):
    """Log-mel ``(B, T, n_mels)`` → front-end features ``(B, 2·timbral + 3·temporal, T)``."""

    TEMPORAL_KERNELS = (128, 64, 32)  # frames

    def __init__(self, cfg: MusicnnConfig):
        super().__init__()
        n_t, n_s = int(cfg.num_filt_frontend * 128), int(cfg.num_filt_frontend * 32)
        self.input_bn = nn.BatchNorm2d(1, eps=cfg.bn_eps)
        self.timbral = nn.ModuleList(
            ConvBN(nn.Conv2d(1, n_t, (7, int(r * cfg.n_mels))), cfg.bn_eps) for r in (0.4, 0.7))
        self.temporal = nn.ModuleList(
            ConvBN(nn.Conv2d(1, n_s, (k, 1)), cfg.bn_eps) for k in self.TEMPORAL_KERNELS)
        self.out_channels = 2 * n_t + 3 * n_s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_bn(x.unsqueeze(1))  # (B, 1, T, M)
        x7 = F.pad(x, (0, 0, 3, 3))  # 'same' in time; frequency is pooled out afterwards
        feats = [blk.forward_max(x7) for blk in self.timbral]
        for blk, k in zip(self.temporal, self.TEMPORAL_KERNELS, strict=True):
            # TF 'same' padding: (k-1)//2 before, the rest after
            feats.append(blk.forward_max(F.pad(x, (0, 0, (k - 1) // 2, k // 2))))
        return torch.cat(feats, dim=1)


class Musicnn(nn.Module):
    """musicnn: log-mel windows ``(B, T, 96)`` → tag logits ``(B, 50)`` (sigmoid for probs)."""

    def __init__(self, cfg: MusicnnConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or MusicnnConfig()
        self.front = FrontEnd(cfg)
        c, m = self.front.out_channels, cfg.num_filt_midend
        self.mid = nn.ModuleList(
            ConvBN(nn.Conv1d(c if i == 0 else m, m, 7, padding=3), cfg.bn_eps) for i in range(3))
        pooled = 2 * (c + 3 * m)
        self.back = nn.ModuleDict({
            "pool_bn": nn.BatchNorm1d(pooled, eps=cfg.bn_eps),
            "dense": nn.Linear(pooled, cfg.num_units_backend),
            "dense_bn": nn.BatchNorm1d(cfg.num_units_backend, eps=cfg.bn_eps),
            "out": nn.Linear(cfg.num_units_backend, cfg.num_classes),
        })
        self.embed_dim = cfg.num_units_backend

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, 96)`` log-mel → ``(logits (B, 50), penultimate (B, 200))``."""
        front = self.front(x)  # (B, 561, T)
        h1 = self.mid[0](front)
        h2 = self.mid[1](h1) + h1
        h3 = self.mid[2](h2) + h2
        h = torch.cat([front, h1, h2, h3], dim=1)  # (B, 753, T)
        # TF flattens (B, C, 2) with [max, mean] innermost
        pooled = torch.stack([h.amax(dim=-1), h.mean(dim=-1)], dim=-1).flatten(1)
        pen = self.back["dense_bn"](F.relu(self.back["dense"](self.back["pool_bn"](pooled))))
        return self.back["out"](pen), pen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[0]


class MusicnnVGG(nn.Module):
    """VGG baseline: log-mel windows ``(B, 187, 96)`` → tag logits ``(B, 50)``."""

    POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)),
             ((4, 4), (4, 4)))  # (kernel, stride) in (time, mel)

    def __init__(self, cfg: VGGConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or VGGConfig()
        f = cfg.num_filters
        self.input_bn = nn.BatchNorm2d(1, eps=cfg.bn_eps)
        self.blocks = nn.ModuleList(
            ConvBN(nn.Conv2d(1 if i == 0 else f, f, 3, padding=1), cfg.bn_eps) for i in range(5))
        t, m = cfg.n_frames, cfg.n_mels
        for (kt, km), (st, sm) in self.POOLS:
            t, m = (t - kt) // st + 1, (m - km) // sm + 1
        self.embed_dim = t * m * f
        self.out = nn.Linear(self.embed_dim, cfg.num_classes)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 187, 96)`` log-mel → ``(logits (B, 50), flattened pool5 (B, 256))``."""
        if x.shape[1] != self.cfg.n_frames:
            raise ValueError(f"the vgg models take exactly {self.cfg.n_frames} frames, "
                             f"got {x.shape[1]}")
        h = self.input_bn(x.unsqueeze(1))
        for blk, (k, s) in zip(self.blocks, self.POOLS, strict=True):
            h = F.max_pool2d(blk(h), k, s)
        pen = h.permute(0, 2, 3, 1).flatten(1)  # TF's NHWC flatten order
        return self.out(pen), pen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[0]


class MusicnnTagger(nn.Module):
    """A frozen musicnn model with its front-end: waveforms in, tag probabilities out.

    Every method takes ``wav``: mono ``(T,)`` (or ``(T, C)`` / ``(C, T)``, downmixed) float or
    integer samples, and ``sr``: its sample rate in Hz; input at another rate than 16 kHz is
    resampled with libsoxr (:func:`lyrebird.encoders.audio.resample`); float samples beyond
    ±1 are clipped. The log-mel is cut into windows of 187 frames (2.992 s of audio, 16 ms hop)
    with a hop of 187 frames (``hop_s=None``, the original's ``input_overlap=False``) or
    ``hop_s`` seconds, converted to frames as musicnn does; trailing frames that do not fill a
    window are dropped. Audio shorter than one window (< 2.976 s), on which the original fails,
    is repeat-padded in the log-mel domain (the models' training-time ``pad_short``).
    Windows run through the model ``batch_size`` at a time (default: 1 on CPU, 32 on a GPU;
    ≈ 25 MB of activations per window), so memory stays bounded on hour-long input.
    """

    def __init__(self, model: Musicnn | MusicnnVGG, tags: tuple[str, ...], name: str = "",
                 frontend: FrontendConfig | None = None, batch_size: int | None = None):
        super().__init__()
        if len(tags) != model.cfg.num_classes:
            raise ValueError(f"{len(tags)} tags for a {model.cfg.num_classes}-class model")
        self.model, self.tags, self.name = model, tuple(tags), name
        self.frontend = LogMelFrontend(frontend)
        self.batch_size = batch_size
        self.eval().requires_grad_(False)

    @property
    def sample_rate(self) -> int:
        """Model input rate, Hz (16000)."""
        return self.frontend.cfg.sample_rate

    @property
    def window_frames(self) -> int:
        """Frames per model window (187 ≈ 3 s)."""
        return self.model.cfg.n_frames

    def _prepare(self, wav: np.ndarray, sr: int) -> np.ndarray:
        if np.size(wav) == 0:
            raise ValueError("empty waveform: musicnn needs at least one audio sample")
        return prepare_waveform(wav, sr, self.sample_rate)

    def hop_frames(self, hop_s: float | None) -> int:
        """Window hop in frames for ``hop_s`` seconds (None: non-overlapping windows)."""
        if hop_s is None:
            return self.window_frames
        cfg = self.frontend.cfg
        hop = (int(hop_s * cfg.sample_rate) - cfg.n_fft // 2) // cfg.hop_length
        if hop < 1:
            raise ValueError(f"hop_s={hop_s} s is shorter than one 16 ms frame")
        return hop

    def log_mel(self, wav: np.ndarray, sr: int) -> np.ndarray:
        """Log-mel ``(frames, 96)`` float32 of the whole input (62.5 frames/s at 16 kHz)."""
        return self.frontend(self._prepare(wav, sr)).cpu().numpy()

    def _batch_size(self, device: torch.device) -> int:
        """Windows per forward pass: ``batch_size``, else 1 on CPU (fastest per window: the
        front-end's activations stay in cache) and 32 on accelerators."""
        if self.batch_size is not None:
            return max(1, int(self.batch_size))
        return 1 if device.type == "cpu" else 32

    def _window_batches(self, wav: np.ndarray, hop: int, bs: int) -> Iterator[torch.Tensor]:
        """``(b, 187, 96)`` log-mel windows of a 16 kHz waveform, ≤ ``bs`` at a time."""
        n, total = self.window_frames, num_frames(len(wav), self.frontend.cfg.hop_length)
        if total < n:  # repeat-pad short input (the original raises here)
            mel = self.frontend.frames(wav)
            yield mel.repeat(-(-n // total), 1)[:n].unsqueeze(0)
            return
        starts = list(range(0, total - n + 1, hop))
        for i in range(0, len(starts), bs):
            s = starts[i:i + bs]
            mel = self.frontend.frames(wav, s[0], s[-1] + n)
            yield torch.stack([mel[t - s[0]:t - s[0] + n] for t in s])

    @torch.no_grad()
    def _run(self, wav: np.ndarray, sr: int, hop_s: float | None) -> tuple[np.ndarray, ...]:
        wav = self._prepare(wav, sr)
        probs, pens = [], []
        device = next(self.model.parameters()).device
        for batch in self._window_batches(wav, self.hop_frames(hop_s), self._batch_size(device)):
            logits, pen = self.model.features(batch.to(device))
            probs.append(torch.sigmoid(logits).cpu())
            pens.append(pen.cpu())
        return torch.cat(probs).numpy(), torch.cat(pens).numpy()

    def predict_windows(self, wav: np.ndarray, sr: int, hop_s: float | None = None) -> np.ndarray:
        """Per-window tag probabilities (the taggram): ``(n_windows, n_tags)`` float32 in [0, 1].

        Window ``i`` covers audio from ``i * hop`` frames (16 ms each) for 187 frames (≈3 s).
        """
        return self._run(wav, sr, hop_s)[0]

    def predict(self, wav: np.ndarray, sr: int, hop_s: float | None = None) -> np.ndarray:
        """Track-level tag probabilities ``(n_tags,)`` float32: mean of the window sigmoids."""
        return self.predict_windows(wav, sr, hop_s).mean(axis=0)

    def tag(self, wav: np.ndarray, sr: int, top_k: int | None = None) -> dict[str, float]:
        """``{tag: probability}`` of the track, most likely first (all tags, or the top ``k``)."""
        p = self.predict(wav, sr)
        order = np.argsort(-p, kind="stable")[:top_k]
        return {self.tags[i]: float(p[i]) for i in order}

    def embed_windows(self, wav: np.ndarray, sr: int, hop_s: float | None = None) -> np.ndarray:
        """Per-window penultimate features ``(n_windows, D)`` float32.

        ``D`` = 200 for musicnn (the batch-normed dense layer after temporal pooling, musicnn's
        ``"penultimate"``) and 256 for vgg (flattened ``pool5``).
        """
        return self._run(wav, sr, hop_s)[1]

    def embed(self, wav: np.ndarray, sr: int, hop_s: float | None = None) -> np.ndarray:
        """Track-level penultimate features ``(D,)`` float32: mean over windows."""
        return self.embed_windows(wav, sr, hop_s).mean(axis=0)


def _build(arch: dict) -> Musicnn | MusicnnVGG:
    arch = dict(arch)
    family = arch.get("family")
    if family == "musicnn":
        return Musicnn(MusicnnConfig(**arch))
    if family == "vgg":
        return MusicnnVGG(VGGConfig(**arch))
    raise ValueError(f"unknown musicnn family {family!r}")


def load_musicnn(name: str = "MTT_musicnn", checkpoint_dir: str | Path | None = None,
                 device: str | torch.device = "cpu",
                 batch_size: int | None = None) -> MusicnnTagger:
    """Load a converted musicnn checkpoint (``<dir>/<name>.safetensors`` + ``<name>.json``).

    Weights stored as float16 are upcast: the port always computes in float32.
    """
    root = Path(checkpoint_dir) if checkpoint_dir is not None else CHECKPOINT_DIR
    card_path, st_path = root / f"{name}.json", root / f"{name}.safetensors"
    if not card_path.is_file() or not st_path.is_file():
        have = sorted(p.stem for p in root.glob("*.safetensors")) if root.is_dir() else []
        raise FileNotFoundError(f"no musicnn checkpoint {name!r} in {root}; have {have}")
    card = json.loads(card_path.read_text())
    model = _build(card["architecture"])
    state = {k: v.float() for k, v in load_file(str(st_path)).items()}
    for k in model.state_dict():
        if k.endswith("num_batches_tracked"):
            state.setdefault(k, torch.zeros((), dtype=torch.long))
    model.load_state_dict(state, strict=True)
    fe = card.get("frontend", {})
    fcfg = FrontendConfig(**{k: fe[k] for k in ("sample_rate", "n_fft", "hop_length",
                                                  "n_mels", "pad_mode") if k in fe})
    tagger = MusicnnTagger(model, tuple(card["tags"]), name=name, frontend=fcfg,
                           batch_size=batch_size)
    return tagger.to(device)


__all__ = ["MSD_TAGS", "MTT_TAGS", "ConvBN", "FrontEnd", "Musicnn", "MusicnnConfig",
           "MusicnnTagger", "MusicnnVGG", "VGGConfig", "load_musicnn"]
