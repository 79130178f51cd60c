"""Checkpoint directories: ``config.json`` + ``model.safetensors`` (+ optional ``README.md``).

The same format serves encoders, tokenizers and MuLan. Weights are safetensors only (never a
pickle); shipped defaults are stored in fp16 and loaded as fp32.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch loads with the weights, not with a config read
    import torch

from .atomic import replaced_on_success

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint directory is missing a file, malformed, or does not fit the model."""


def current_command() -> str:
    """The command line of this process, shell-quoted (recorded in every checkpoint)."""
    prog = Path(sys.argv[0]).name if sys.argv else "python"
    return " ".join([prog, *map(shlex.quote, sys.argv[1:])])


def save_checkpoint(
    directory: str | os.PathLike,
    state_dict: dict[str, torch.Tensor],
    *,
    kind: str,
    preset: str | None,
    config: dict[str, Any],
    mel: dict[str, Any] | None = None,
    command: str | None = None,
    fp16: bool = False,
    card: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory atomically (temp files, then rename).

    Args:
        state_dict: parameter name → tensor (any device; saved contiguous on CPU).
        kind: model family (e.g. ``"myna"``), used by ``get_encoder`` to pick the class.
        preset: preset name the config came from, if any.
        config: the full dataclass config as a dict.
        mel: the mel front-end config as a dict.
        command: the training command (default: this process's command line).
        fp16: store floating tensors as float16 (shipped defaults).
        card: optional model card text, written as ``README.md``.
        extra: more JSON-ready metadata (metrics, steps, data).
    """
    import torch
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for k, v in state_dict.items():
        v = v.detach().to("cpu").contiguous()
        if fp16 and v.is_floating_point():
            v = v.to(torch.float16)
        tensors[k] = v
    meta = {"format_version": FORMAT_VERSION, "kind": kind, "preset": preset, "config": config,
            "mel": mel, "command": command or current_command(),
            "dtype": "float16" if fp16 else "float32", **(extra or {})}
    # weights first, config.json last: a folder with a config always has its weights
    with replaced_on_success(d / WEIGHTS_NAME, durable=True) as tmp:
        save_file(tensors, tmp)
    with replaced_on_success(d / CONFIG_NAME, durable=True) as tmp:
        Path(tmp).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    if card is not None:
        (d / "README.md").write_text(card)
    return d


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """Parse ``config.json`` of a checkpoint directory, with errors naming the file."""
    p = Path(directory) / CONFIG_NAME
    if not p.is_file():
        raise CheckpointError(f"'{directory}': not a checkpoint directory (no {CONFIG_NAME})")
    try:
        meta = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"'{p}': invalid JSON ({e})") from e
    for key in ("kind", "config"):
        if key not in meta:
            raise CheckpointError(f"'{p}': missing required field '{key}'")
    return meta


def load_checkpoint(directory: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read ``(config.json dict, fp32 state dict on CPU)`` from a checkpoint directory."""
    from safetensors.torch import load_file

    meta = read_config(directory)
    w = Path(directory) / WEIGHTS_NAME
    if not w.is_file():
        raise CheckpointError(f"'{directory}': missing {WEIGHTS_NAME}")
    try:
        sd = load_file(str(w), device="cpu")
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"'{w}': unreadable safetensors file ({e})") from e
    return meta, {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}


def load_state_strict(model: torch.nn.Module, sd: dict[str, torch.Tensor], where: str) -> None:
    """``load_state_dict(strict=True)`` with an error that lists what did not match."""
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = [f"{k}: {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise CheckpointError(f"'{where}': weights do not fit the model; missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}, shape mismatches {shapes[:5]}")
    model.load_state_dict(sd)
