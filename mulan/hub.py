"""MuLan like a Hugging Face model: ``from_pretrained``, ``save_pretrained``, ``push_to_hub``.

The folder is the project's one checkpoint format (``config.json`` + ``model.safetensors`` +
``README.md``); a hub repository holds that folder unchanged. Downloads and uploads go through
``huggingface_hub`` (:mod:`lyrebird.core.hub`). The model card is generated from the config,
the training's recorded metrics and any evaluation results given (e.g. the report of
``lyrebird eval mulan``); a hand-written card the checkpoint already had is kept as notes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from torch import nn  # annotations: a lyrebird.mulan.MuLan (no import of it: no cycle)

from lyrebird.core import hub as core_hub

META_SKIP = ("format_version", "kind", "preset", "config", "mel", "command", "dtype")
"""``config.json`` fields the checkpoint writer fills in itself (the rest are carried over)."""
_NOTES = "\n## Notes\n\n"


def card_notes(text: str | None) -> str | None:
    """The hand-written part of a card: all of a card not generated here, else its notes."""
    if not text:
        return None
    if text.startswith("---\nlibrary_name: lyrebird"):
        return text.split(_NOTES, 1)[1].strip() if _NOTES in text else None
    return text.strip()


def mulan_card(model: nn.Module, meta: dict[str, Any], results: dict[str, Any] | None = None,
               notes: str | None = None) -> str:
    """The model card of a MuLan checkpoint (see :func:`lyrebird.core.hub.model_card`)."""
    c = model.cfg
    a, t = c.audio, c.text
    summary = [
        f"Two-tower music–text model: audio and text map to L2-normalised {c.dim}-d vectors.",
        f"Audio tower: encoder `{a.encoder}` ({'fine-tuned' if a.train_encoder else 'frozen'}), "
        f"layers {list(a.layers)}, {a.n_layers} extra transformer layers, {a.pooling} pooling "
        f"over {a.window_s:g} s windows, projection → {c.dim}.",
        f"Text tower: backbone `{t.backbone}` ({'fine-tuned' if t.train_backbone else 'frozen'}),"
        f" prefix {model.text.backbone.prefix!r}, {t.n_layers} extra transformer layers, mean "
        f"pooling, projection → {c.dim}.",
        f"Loss: {c.loss}, temperature {float(model.tau.detach()):.4f}.",
        "Load: `MuLan.from_pretrained(\"<this repo or folder>\")` "
        "(`pip install lyrebird`); serve: `lyrebird serve --model <repo or folder>`.",
    ]
    return core_hub.model_card(meta, title="Lyrebird MuLan", summary=summary, results=results,
                               notes=notes, tags=("music", "audio", "text-to-audio-retrieval",
                                                  "zero-shot-classification"))


def save_pretrained(model: nn.Module, directory: str | os.PathLike,
                    results: dict[str, Any] | None = None, fp16: bool | None = None) -> Path:
    """Write ``model`` as a checkpoint folder with a generated model card. Metadata recorded
    when it was loaded (steps, data, metrics) is kept; ``results`` are stored as ``eval`` in
    ``config.json`` and shown in the card. ``fp16``: ``None`` keeps the dtype it was loaded in."""
    meta = dict(getattr(model, "_meta", None) or {})
    extra = {k: v for k, v in meta.items() if k not in META_SKIP}
    if results:
        extra["eval"] = results
    if fp16 is None:
        fp16 = meta.get("dtype") == "float16"
    out = model.save(directory, fp16=fp16, command=meta.get("command"), extra=extra)
    full = {**extra, "kind": "mulan", "config": _config_dict(model), "command": meta.get("command"),
            "dtype": "float16" if fp16 else "float32"}
    notes = getattr(model, "_card_notes", None)
    (out / "README.md").write_text(mulan_card(model, full, extra.get("eval"), notes))
    return out


def _config_dict(model: nn.Module) -> dict:
    from lyrebird.core.configs import config_to_dict

    return config_to_dict(model.cfg)


def push_to_hub(model: nn.Module, repo_id: str, *, results: dict[str, Any] | None = None,
                private: bool | None = None, token: str | None = None,
                commit_message: str = "Upload Lyrebird MuLan") -> str:
    """``save_pretrained`` into a temporary folder, then upload it; returns the commit URL."""
    with tempfile.TemporaryDirectory(prefix="lyrebird-push-") as tmp:
        save_pretrained(model, tmp, results)
        return core_hub.upload(tmp, repo_id, private=private, token=token,
                               commit_message=commit_message)
