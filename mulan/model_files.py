"""Where MuLan checkpoints are: the shipped ones' folder and the resolver of a ``mulan`` spec's
target. Torch-free, so a query process can find its checkpoint without loading a model."""

from __future__ import annotations

import os
from pathlib import Path

from lyrebird.core.model_spec import parse_spec, resolve_checkpoint_dir, shipped_names

KIND = "mulan"
CHECKPOINTS_DIR = Path(__file__).parent / "checkpoints"


def resolve_checkpoint(name_or_path: str | os.PathLike = "default") -> Path:
    """A ``mulan`` spec's target — a shipped MuLan's name (``"default"``), a checkpoint
    directory or a Hugging Face repo id (``"owner/name"``, downloaded and cached) — → its
    directory, through the one resolver (:func:`lyrebird.core.model_spec.resolve_checkpoint_dir`);
    a ``mulan:`` kind is accepted. Raises :class:`CheckpointError` naming the shipped models."""
    spec = parse_spec(name_or_path, KIND)
    if not Path(spec.name).expanduser().is_dir():  # a folder of another kind: from_dir says so
        spec.expect(KIND)
    spec.check_options(where="checkpoint")
    shipped = shipped_names(CHECKPOINTS_DIR)
    hint = (" No default MuLan has been shipped yet: train one with 'lyrebird train mulan' "
            "(see docs/mulan_default.md)." if spec.name == "default" and not shipped else "")
    return resolve_checkpoint_dir(spec.name, CHECKPOINTS_DIR, "MuLan model", hint)
