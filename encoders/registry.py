"""Encoders and tokenizers by spec: the bottom layer's loaders (``LOADERS``, :func:`load`),
and :func:`get_encoder` / :func:`list_encoders`.

Specs follow the one grammar (:mod:`lyrebird.core.model_spec`; docs/architecture.md, "Naming a
model"). An ``encoder`` target is:

* ``"default"``: the shipped default checkpoint (``encoders/checkpoints/default``);
* the name of any other shipped checkpoint folder in ``encoders/checkpoints/``;
* ``"<family>:<preset>"``, e.g. ``"myna:tiny-hybrid"``: that architecture, randomly initialised
  (seeded, so deterministic) — the baseline every probe report compares against;
* a path to any checkpoint directory;
* a Hugging Face repo id (``"owner/name"``) holding a checkpoint folder, downloaded once with
  ``huggingface_hub`` and cached (``HF_HUB_OFFLINE=1``: the cache only). Upload a folder with
  :func:`lyrebird.core.hub.upload` (``lyrebird export hub``).

Option ``embed_mode`` (``square``, ``vertical``, ``concat``) picks a hybrid Myna's
representation. A ``tokenizer`` target is a tokenizer checkpoint folder or repo id.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lyrebird.core.checkpoint import CheckpointError, load_checkpoint, load_state_strict
from lyrebird.core.device import best_device
from lyrebird.core.model_spec import (
    ModelSpec,
    SpecError,
    parse_spec,
    resolve_checkpoint_dir,
    shipped_names,
)

from . import muq, myna
from .base import AudioEncoder

CHECKPOINTS_DIR = Path(__file__).parent / "checkpoints"

_KINDS: dict[str, tuple[Callable[[], dict], Callable[[dict], AudioEncoder]]] = {
    "myna": (myna.presets, myna.build),
    "muq": (muq.presets, muq.build),
}
"""Encoder families: family → (``presets() -> {name: config}``, ``build(config dict)``). A new
family is one more line here."""


def shipped_checkpoints() -> dict[str, Path]:
    """Shipped encoder checkpoint name → directory."""
    return shipped_names(CHECKPOINTS_DIR)


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


def encoder_dir(name: str | os.PathLike) -> Path:
    """A shipped encoder's name, a checkpoint folder or a hub repo id → its folder (the one
    resolver, :func:`lyrebird.core.model_spec.resolve_checkpoint_dir`)."""
    return resolve_checkpoint_dir(
        name, CHECKPOINTS_DIR, "encoder",
        f" Families at random init: {', '.join(f'{k}:<preset>' for k in sorted(_KINDS))}.")


def _preset(name: str) -> tuple[str, str] | None:
    """``(family, preset)`` of a ``<family>:<preset>`` target, or ``None``."""
    family, colon, preset = name.partition(":")
    if not colon or family not in _KINDS or Path(name).expanduser().exists():
        return None
    presets = _KINDS[family][0]()
    if preset not in presets:
        raise ValueError(f"unknown {family} preset {preset!r}; expected one of {sorted(presets)}")
    return family, preset


def random_init_twin(name: str | os.PathLike) -> str | None:
    """``"<family>:<preset>"`` of an encoder target's architecture (its random-init twin), or
    ``None`` when its checkpoint records no preset. A ``<family>:<preset>`` target is its own."""
    s = str(name)
    if _preset(s) is not None:
        return s
    try:
        from lyrebird.core.checkpoint import read_config

        meta = read_config(encoder_dir(s))
    except CheckpointError:
        return None
    kind, preset = meta.get("kind"), meta.get("preset")
    return f"{kind}:{preset}" if kind and preset else None


def _load_encoder(spec: ModelSpec, device: str | torch.device | None) -> AudioEncoder:
    spec.check_options(("embed_mode",))
    found = _preset(spec.name)
    if found is not None:
        from lyrebird.core.configs import config_to_dict

        family, preset = found
        torch.manual_seed(0)
        model = build_encoder(family, config_to_dict(_KINDS[family][0]()[preset])).eval()
    else:
        model = load_encoder_dir(encoder_dir(spec.name))
    mode = spec.option("embed_mode")
    if mode is not None:
        if not hasattr(model, "set_embed_mode"):
            raise SpecError(f"model spec {spec.written!r}: {type(model).__name__} has no "
                            "embedding modes (embed_mode is for hybrid Myna encoders)")
        model.set_embed_mode(mode)
    return model.to(device or best_device()).eval()


def _load_tokenizer(spec: ModelSpec, device: str | torch.device | None) -> Any:
    from .tokenizer_io import load_tokenizer

    spec.check_options()
    tok = load_tokenizer(resolve_checkpoint_dir(spec.name, None, "tokenizer"))
    return tok.to(device) if device is not None else tok


LOADERS: dict[str, Callable[[ModelSpec, Any], Any]] = {
    "encoder": _load_encoder,
    "tokenizer": _load_tokenizer,
}
"""This layer's kinds → loader ``(spec, device) -> model`` (``mulan.loaders`` extends it)."""


def load(spec: str | os.PathLike | ModelSpec, device: str | torch.device | None = None,
         default_kind: str = "encoder") -> Any:
    """The model a spec names, for the kinds of this layer (:data:`LOADERS`): an
    :class:`AudioEncoder` in eval mode on ``device`` (default: the best available), or a
    tokenizer. Raises ``ValueError`` naming the spec for a kind this layer does not load."""
    s = parse_spec(spec, default_kind).expect(*LOADERS)
    return LOADERS[s.kind](s, device)


def get_encoder(name_or_path: str | os.PathLike | ModelSpec = "default",
                device: str | torch.device | None = None) -> AudioEncoder:
    """An encoder in eval mode on ``device`` (default: the best available one).

    ``name_or_path``: an ``encoder`` spec, with or without its ``encoder:`` kind (see the
    module docstring). Unknown names raise ``ValueError`` listing what is available.
    """
    return _load_encoder(parse_spec(name_or_path, "encoder").expect("encoder"), device)


__all__ = ["CHECKPOINTS_DIR", "LOADERS", "build_encoder", "encoder_dir",
           "get_encoder", "list_encoders", "load", "load_encoder_dir", "random_init_twin",
           "shipped_checkpoints"]
