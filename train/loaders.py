"""Models by spec for every kind the training side loads: :data:`LOADERS` and :func:`load`
(grammar: :mod:`lyrebird.core.model_spec`; docs/architecture.md, "Naming a model").

:data:`LOADERS` extends :data:`lyrebird.mulan.loaders.LOADERS` (``encoder``, ``tokenizer``,
``mulan``, ``text``, ``onnx``, ``onnx-int8``) with ``teacher`` (the musicnn taggers,
:func:`lyrebird.train.teachers.load_teacher`). Library models (``py`` plug-ins, an encoder as
a library embeds with it) come from :func:`lyrebird.index.model.load_model`; the evaluation's
``baseline`` kind from :func:`lyrebird.train.realeval.models.parse_model`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from lyrebird.core.model_spec import ModelSpec, parse_spec
from lyrebird.mulan.loaders import LOADERS as MULAN_LOADERS


def _load_teacher(spec: ModelSpec, device: Any) -> Any:
    from lyrebird.train.teachers import load_teacher

    return load_teacher(str(spec), device=str(device or "cpu"))


LOADERS: dict[str, Callable[[ModelSpec, Any], Any]] = {
    **MULAN_LOADERS,
    "teacher": _load_teacher,
}
"""Kind → loader ``(spec, device) -> model`` for the training side and every layer below."""


def load(spec: str | os.PathLike | ModelSpec, device: Any = None,
         default_kind: str = "mulan") -> Any:
    """The model a spec names (a bare name is a MuLan), for the kinds of :data:`LOADERS`.
    Raises ``ValueError`` naming the spec for another kind or a bad spec."""
    s = parse_spec(spec, default_kind).expect(*LOADERS)
    return LOADERS[s.kind](s, device)


__all__ = ["LOADERS", "load"]
