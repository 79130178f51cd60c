"""Find encoders by name or path: ``get_encoder`` and ``list_encoders``.

Names:

* ``"default"``: the shipped default checkpoint (``encoders/checkpoints/default``);
* the name of any other shipped checkpoint folder in ``encoders/checkpoints/``;
* ``"<kind>:<preset>"``, e.g. ``"myna:tiny-hybrid"``: that architecture, randomly initialised
  (seeded, so deterministic) — the baseline every probe report compares against;
* a path to any checkpoint directory;
* a Hugging Face repo id (``"owner/name"``) holding a checkpoint folder, downloaded once with
  ``huggingface_hub`` and cached (``HF_HUB_OFFLINE=1``: the cache only). Upload a folder with
  :func:`lyrebird.core.hub.upload` (``lyrebird export hub``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from lyrebird.core.checkpoint import CheckpointError, load_checkpoint, load_state_strict
from lyrebird.core.device import best_device
from lyrebird.core.hub import download, looks_like_repo_id

from . import muq, myna
from .base import AudioEncoder

CHECKPOINTS_DIR = Path(__file__).parent / "checkpoints"

_KINDS: dict[str, tuple[Callable[[], dict], Callable[[dict], AudioEncoder]]] = {
    "myna": (myna.presets, myna.build),
    "muq": (muq.presets, muq.build),
}
"""Encoder families: kind → (``presets() -> {name: config}``, ``build(config dict)``). A new
family is one more line here."""


def shipped_checkpoints() -> dict[str, Path]:
    """Shipped checkpoint name → directory."""
    if not CHECKPOINTS_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(CHECKPOINTS_DIR.iterdir()) if (p / "config.json").is_file()}


def list_encoders() -> list[str]:
    """Every encoder name :func:`get_encoder` accepts (besides paths)."""
    names = list(shipped_checkpoints())
    for kind, (presets, _) in sorted(_KINDS.items()):
        names += [f"{kind}:{p}" for p in presets()]
    return names


def build_encoder(kind: str, config: dict) -> AudioEncoder:
    """Instantiate family ``kind`` from a config dict (random weights)."""
    if kind not in _KINDS:
        raise CheckpointError(f"unknown encoder kind {kind!r}; known: {sorted(_KINDS)}")
    return _KINDS[kind][1](config)


def load_encoder_dir(directory: str | os.PathLike) -> AudioEncoder:
    """Load a checkpoint directory into its encoder class (fp32, CPU, eval mode)."""
    meta, sd = load_checkpoint(directory)
    model = build_encoder(meta["kind"], meta["config"])
    load_state_strict(model, sd, str(directory))
    return model.eval()


def get_encoder(name_or_path: str | os.PathLike = "default",
                device: str | torch.device | None = None) -> AudioEncoder:
    """An encoder in eval mode on ``device`` (default: the best available one).

    See the module docstring for accepted names. Unknown names raise ``ValueError`` listing
    what is available.
    """
    name = str(name_or_path)
    shipped = shipped_checkpoints()
    if name in shipped:
        model = load_encoder_dir(shipped[name])
    elif Path(name).is_dir():
        model = load_encoder_dir(name)
    elif looks_like_repo_id(name):
        model = load_encoder_dir(download(name))
    elif ":" in name and name.split(":", 1)[0] in _KINDS:
        kind, preset = name.split(":", 1)
        presets = _KINDS[kind][0]()
        if preset not in presets:
            raise ValueError(f"unknown {kind} preset {preset!r}; expected one of {sorted(presets)}")
        from lyrebird.core.configs import config_to_dict

        torch.manual_seed(0)
        model = build_encoder(kind, config_to_dict(presets[preset])).eval()
    else:
        raise ValueError(f"unknown encoder {name!r}: not a checkpoint directory and not one of "
                         f"{list_encoders()}")
    return model.to(device or best_device()).eval()
