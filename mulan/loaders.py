"""Models by spec, for the kinds of the ``mulan`` layer and the one below: :data:`LOADERS` and
:func:`load` (grammar: :mod:`lyrebird.core.model_spec`; docs/architecture.md, "Naming a model").

:data:`LOADERS` extends :data:`lyrebird.encoders.registry.LOADERS` (``encoder``, ``tokenizer``)
with ``mulan`` (:meth:`MuLan.load`: a shipped name, a checkpoint folder or a hub repo id),
``text`` (:func:`~lyrebird.mulan.text_backbones.load_text_backbone`) and ``onnx`` /
``onnx-int8`` (:class:`~lyrebird.mulan.onnx_runtime.OnnxMuLan` over a ``lyrebird export onnx``
folder). Written out here, in one place; nothing registers itself on import.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from lyrebird.core.model_spec import ModelSpec, parse_spec
from lyrebird.encoders.registry import LOADERS as ENCODER_LOADERS


def _load_mulan(spec: ModelSpec, device: Any) -> Any:
    from .model import MuLan

    spec.check_options()
    return MuLan.load(spec.name, device)


def _load_text(spec: ModelSpec, device: Any) -> Any:
    from .text_backbones import load_text_backbone

    bb = load_text_backbone(str(spec))
    return bb.to(device) if device is not None else bb


def _load_onnx(spec: ModelSpec, device: Any) -> Any:
    from .onnx_runtime import OnnxMuLan

    spec.check_options()
    return OnnxMuLan(spec.name, int8="text" if spec.kind == "onnx-int8" else "none",
                     name=spec.written)


LOADERS: dict[str, Callable[[ModelSpec, Any], Any]] = {
    **ENCODER_LOADERS,
    "mulan": _load_mulan,
    "text": _load_text,
    "onnx": _load_onnx,
    "onnx-int8": _load_onnx,
}
"""Kind → loader ``(spec, device) -> model`` for this layer and the one below."""


def load(spec: str | os.PathLike | ModelSpec, device: Any = None,
         default_kind: str = "mulan") -> Any:
    """The model a spec names (a bare name is a MuLan: ``load("default")``): a
    :class:`~lyrebird.mulan.model.MuLan`, a text backbone, an ONNX export on onnxruntime, an
    encoder or a tokenizer. Raises ``ValueError`` naming the spec for a kind loaded by a higher
    layer (``py``, ``teacher``, ``baseline``) or a bad spec."""
    s = parse_spec(spec, default_kind).expect(*LOADERS)
    return LOADERS[s.kind](s, device)


__all__ = ["LOADERS", "load"]
