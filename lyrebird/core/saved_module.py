"""One save/load/fingerprint base for the small trained modules that ship beside a model.

A subclass is a plain ``nn.Module`` with a frozen config dataclass in ``self.cfg``; it names its
checkpoint ``KIND`` and config class ``CONFIG``. The folder format is :mod:`.checkpoint`'s
(``config.json`` + ``model.safetensors``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .checkpoint import load_checkpoint, load_state_strict, save_checkpoint
from .configs import config_from_dict, config_to_dict
from .fingerprint import module_fingerprint, stable_hash

M = TypeVar("M", bound="SavedModule")


class SavedModule:
    """Mixin: :meth:`save`, :meth:`load` and :meth:`fingerprint` for a module with ``cfg``."""

    KIND: ClassVar[str]
    CONFIG: ClassVar[type]
    cfg: Any

    def fingerprint(self) -> str:
        """Identity of the weights and config (hex)."""
        return f"{stable_hash(module_fingerprint(self), config_to_dict(self.cfg)):016x}"

    def save(self, directory: str | os.PathLike, extra: dict | None = None,
             card: str | None = None) -> Path:
        """Write the module as a checkpoint folder (``config.json`` + ``model.safetensors``)."""
        return save_checkpoint(directory, self.state_dict(), kind=self.KIND, preset=None,
                               config=config_to_dict(self.cfg), extra=extra, card=card)

    @classmethod
    def load(cls: type[M], directory: str | os.PathLike) -> M:
        """Read a module saved by :meth:`save`, in eval mode; ``ValueError`` when the folder
        holds another kind of checkpoint."""
        meta, sd = load_checkpoint(directory)
        if meta.get("kind") != cls.KIND:
            raise ValueError(f"'{directory}' holds a {meta.get('kind')!r} checkpoint, "
                             f"not a {cls.KIND!r}")
        module = cls(config_from_dict(cls.CONFIG, meta["config"]))
        load_state_strict(module, sd, str(directory))
        return module.eval()


__all__ = ["SavedModule"]
