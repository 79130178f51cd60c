"""Which device to run on, and what this CPU computes natively."""

from __future__ import annotations

import contextlib
import os

import torch


def best_device() -> torch.device:
    """CUDA when available, else Apple MPS, else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_bf16_native() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX), so bf16 matrix products
    are faster than fp32 instead of emulated."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def inference_autocast(device: torch.device | str) -> contextlib.AbstractContextManager:
    """bf16 autocast for embedding audio on a CPU that multiplies bf16 natively (about twice
    the encoder's fp32 speed; vectors keep cosine ≥ 0.9999 to fp32, so a library's vectors
    stay interchangeable), else nothing. ``LYREBIRD_AUDIO_BF16=0`` turns it off."""
    dev = torch.device(device)
    if dev.type != "cpu" or os.environ.get("LYREBIRD_AUDIO_BF16", "1") == "0" \
            or not cpu_bf16_native():
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)
