"""The masked-token-prediction objective: span masking, noise filling and masked-only losses.

Masking (MuQ, OMAR-RQ, seed 001): the time axis is cut into spans of ``span`` frames (0.4 s =
10 frames at 25 Hz) on a grid with a random phase per example, and every span is masked
independently with probability ``prob``. The expected fraction of masked frames is therefore
exactly ``prob``, and masked regions are runs of whole spans (only the first and last span of
a clip can be cut short). Masked input frames are replaced by Gaussian noise.

Losses are computed on masked (and non-padded) frames only: the loss does not depend on the
predictions at any other frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ObjectiveConfig:
    """Masked-prediction objective.

    Attributes:
        mask_prob: probability that a span is masked (= expected masked fraction).
        mask_span_s: span length in seconds (0.4 s → 10 frames at 25 Hz).
        noise_std: standard deviation of the Gaussian noise written into masked frames
            (features are standardised mel, so 1.0 is the feature scale).
        recon_weight: weight of the auxiliary MSE reconstruction of the clean stacked mel at
            masked frames (seed 001 uses 1.0; 0 disables the reconstruction head).
    """

    mask_prob: float = 0.6
    mask_span_s: float = 0.4
    noise_std: float = 0.1
    recon_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"ObjectiveConfig.mask_prob must be in (0, 1), got {self.mask_prob}")
        if self.mask_span_s <= 0:
            raise ValueError(f"ObjectiveConfig.mask_span_s must be > 0 s, got {self.mask_span_s}")
        if self.noise_std < 0 or self.recon_weight < 0:
            raise ValueError(f"ObjectiveConfig.noise_std and recon_weight must be >= 0, got "
                             f"{self.noise_std}, {self.recon_weight}")

    def span_frames(self, frame_rate: float) -> int:
        """Span length in frames at ``frame_rate`` Hz (at least 1)."""
        return max(1, int(round(self.mask_span_s * frame_rate)))


def span_mask(batch: int, frames: int, span: int, prob: float,
              generator: torch.Generator | None = None,
              device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean mask ``(B, T)``: ``True`` on masked frames (see the module docstring).

    Vectorised: one random phase per example and one Bernoulli draw per span.
    """
    dev = torch.device(device)
    gdev = generator.device if generator is not None else dev
    phase = torch.randint(0, span, (batch, 1), generator=generator, device=gdev).to(dev)
    n_spans = frames // span + 2
    on = (torch.rand(batch, n_spans, generator=generator, device=gdev) < prob).to(dev)
    idx = (torch.arange(frames, device=dev)[None, :] + phase) // span  # (B, T) span index
    return torch.gather(on, 1, idx)


def fill_noise(feats: torch.Tensor, mask: torch.Tensor, std: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """``(B, T, F)`` with masked frames (``mask`` ``(B, T)``) replaced by ``N(0, std²)``."""
    gdev = generator.device if generator is not None else feats.device
    noise = torch.randn(feats.shape, generator=generator, device=gdev).to(feats) * std
    return torch.where(mask.unsqueeze(-1), noise, feats)


def masked_token_loss(logits: torch.Tensor, tokens: torch.Tensor,
                      mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy and accuracy of ``logits`` ``(B, T, N, K)`` against ``tokens``
    ``(B, T, N)`` over the frames where ``mask`` ``(B, T)`` is ``True``.

    Averaged over masked frames and the ``N`` streams. Predictions at unmasked frames do not
    enter the loss (nor its gradient). With no masked frame, the loss is a zero that still
    backpropagates (so DDP sees every parameter) and the accuracy is NaN.
    """
    sel = logits[mask]  # (M, N, K)
    if sel.shape[0] == 0:
        return logits.sum() * 0.0, logits.new_tensor(float("nan"))
    tgt = tokens[mask]  # (M, N)
    loss = F.cross_entropy(sel.reshape(-1, sel.shape[-1]).float(), tgt.reshape(-1))
    acc = (sel.argmax(-1) == tgt).float().mean()
    return loss, acc


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error of ``(B, T, F)`` predictions on the frames where ``mask`` is set."""
    sel = mask.unsqueeze(-1).expand_as(pred)
    if not bool(mask.any()):
        return pred.sum() * 0.0
    return (pred.float() - target.float())[sel].pow(2).mean()


def majority_accuracy(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Chance level to beat: accuracy of always predicting each stream's most frequent masked
    token (``tokens`` ``(B, T, N)``, ``mask`` ``(B, T)``)."""
    tgt = tokens[mask]  # (M, N)
    if tgt.shape[0] == 0:
        return tokens.new_tensor(float("nan"), dtype=torch.float32)
    best = [torch.bincount(tgt[:, n]).max() for n in range(tgt.shape[1])]
    return torch.stack(best).float().sum() / tgt.numel()
