"""Spec-level entry points of ``lyrebird export``: load a MuLan by name, write it out.

Each takes a model spec (a shipped name, a checkpoint folder or a hub repo id) and returns a
JSON-ready report; the work is in :mod:`~lyrebird.mulan.st_export`,
:mod:`~lyrebird.mulan.onnx_export` and :mod:`~lyrebird.mulan.hub`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lyrebird.core import hub as core_hub
from lyrebird.core.checkpoint import read_config

from .model import MuLan, resolve_checkpoint


def export_st(model: str, out: str | os.PathLike) -> dict[str, Any]:
    """The text tower of MuLan ``model`` as a sentence-transformers folder."""
    m = MuLan.from_pretrained(model, audio=False)
    path = m.export_text_encoder(out)
    return {"model": model, "out": str(path), "fingerprint": m.fingerprint(),
            "prompt": m.text.backbone.prefix, "dim": m.cfg.dim}


def export_onnx_spec(model: str, out: str | os.PathLike, text: bool = True, audio: bool = True,
                     int8: bool = False) -> dict[str, Any]:
    """Both towers (or one) of MuLan ``model`` as ONNX graphs; see
    :func:`~lyrebird.mulan.onnx_export.export_onnx`."""
    from .onnx_export import export_onnx

    m = MuLan.from_pretrained(model, audio=audio)
    m.text.backbone.lean = None  # export the Hugging Face module, fp32
    rep = export_onnx(m, out, text=text, audio=audio, int8=int8)
    return {"model": model, "out": str(out), **{k: rep[k] for k in ("files", "parity")}}


def push(model: str, repo_id: str, results: str | os.PathLike | None = None,
         private: bool | None = None) -> dict[str, Any]:
    """Upload a MuLan (shipped name, folder, repo id) with a generated card, or any other
    checkpoint folder (an encoder) as it is, to the hub repository ``repo_id``."""
    res = json.loads(Path(results).read_text()) if results else None
    if Path(model).is_dir() and read_config(model).get("kind") != "mulan":
        url = core_hub.upload(model, repo_id, private=private)
    else:
        resolve_checkpoint(model)  # a clear error before loading anything
        url = MuLan.from_pretrained(model).push_to_hub(repo_id, results=res, private=private)
    return {"model": model, "repo_id": repo_id, "commit": url}
