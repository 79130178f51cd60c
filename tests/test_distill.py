"""The distillation sketch: a few optimisation steps of the student (a tiny random-init Myna
plus the head) on fixed synthetic teacher targets reduce the loss; the loss matches its
definition (oracle by hand)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lyrebird.train.trainers.distill import (
    DistillConfig,
    DistillModule,
    Student,
    distill_loss,
)


def test_loss_is_bce_plus_weighted_cosine():
    logits, pred = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    probs, feats = torch.tensor([[0.5, 1.0]]), torch.tensor([[1.0, 1.0]])
    loss, parts = distill_loss({"A": (logits, pred)}, {"A": probs}, {"A": feats}, 2.0)
    bce = -(0.5 * torch.log(torch.tensor(0.5)) * 2 + torch.log(torch.sigmoid(torch.tensor(2.0))))
    bce = float(bce) / 2
    cos = 1 - 1 / 2**0.5
    assert parts["bce"] == pytest.approx(bce, rel=1e-5)
    assert float(loss) == pytest.approx(bce + 2 * cos, rel=1e-5)
    assert F.binary_cross_entropy_with_logits(logits, probs).item() == parts["bce"]


def test_a_few_steps_reduce_the_loss():
    from lyrebird.encoders import get_encoder

    torch.manual_seed(0)
    cfg = DistillConfig(teachers=("MTT_musicnn", "MSD_vgg"), hidden=64, lr=3e-3,
                        encoder_lr=1e-4)
    enc = get_encoder("myna:tiny-hybrid", device="cpu").train()
    module = DistillModule(Student(enc, cfg), cfg)
    opt = module.configure_optimizers()
    batch = {"audio": 0.1 * torch.randn(4, 47872),
             "probs": {t: torch.rand(4, 50) for t in cfg.teachers},
             "feats": {"MTT_musicnn": torch.randn(4, 200), "MSD_vgg": torch.randn(4, 256)}}
    losses = []
    for _ in range(8):
        loss, _ = distill_loss(module.student(batch["audio"]), batch["probs"], batch["feats"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0], losses
