"""Export MuLan's text tower as a standard sentence-transformers folder.

The folder is the classic layout every sentence-transformers version loads:

* the backbone's transformer and tokenizer at the root (``config.json``, ``model.safetensors``,
  tokenizer files, ``sentence_bert_config.json`` with ``max_seq_length``);
* ``1_Pooling``: mean over tokens (the tower's masked mean, prompt tokens included);
* ``2_Dense``: the trained projection (``Linear`` with bias, identity activation);
* ``3_Normalize``: L2 normalisation;
* ``config_sentence_transformers.json``: the tower's prefix as the default prompt, so
  ``SentenceTransformer(DIR).encode(texts)`` applies it like ``MuLan.embed_text(texts)``;
* ``README.md``: a model card.

A backbone that is itself a sentence-transformers model (``st:...``) is saved with its own
modules, and the projection and normalisation are appended after them. A tower with extra
transformer layers (``TextTowerConfig.n_layers > 0``) is not a sentence-transformers pipeline
and is refused with an error that says so (ONNX export handles it).

Writing the folder needs no sentence-transformers install (except for an ``st:`` backbone);
loading it needs ``sentence-transformers``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors.torch import save_file
from torch import nn  # annotations: a lyrebird.mulan.MuLan (no import of it: no cycle)


class STExportError(ValueError):
    """The model's text tower cannot be written as a sentence-transformers pipeline."""


def _module(idx: int, path: str, kind: str) -> dict:
    return {"idx": idx, "name": str(idx), "path": path, "type": f"sentence_transformers.models.{kind}"}


def _write_json(path: Path, obj: dict | list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


def _fingerprint(model: nn.Module) -> str:
    try:
        return model.fingerprint()
    except RuntimeError:  # a text-only model without a recorded encoder fingerprint
        return "unknown (text-only model)"


def _st_card(model: nn.Module, prefix: str) -> str:
    c = model.cfg
    return f"""---
library_name: sentence-transformers
pipeline_tag: sentence-similarity
tags:
- sentence-transformers
- feature-extraction
- lyrebird
- mulan
- music
---
# Lyrebird MuLan text encoder

The text tower of a Lyrebird MuLan music–text model as a sentence-transformers model: texts
map to L2-normalised {c.dim}-d vectors in the same space as the model's audio tower, so they
search music embedded by Lyrebird (`lyrebird index`, `Library.search`).

- Backbone: `{c.text.backbone}` (max {model.text.backbone.max_length} tokens), mean pooling,
  the trained projection (`Dense`, {model.text.backbone.dim} → {c.dim}), `Normalize`.
- Prompt: {f'"{prefix}" is the default prompt' if prefix else 'none'}; `encode()` applies it.
- MuLan fingerprint: `{_fingerprint(model)}`.

```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("THIS_FOLDER")
vectors = model.encode(["calm piano", "ein schneller Rocksong"])  # ({c.dim},) each
```
"""


def _add_pooler(hf_model, out: Path) -> None:
    """A BERT saved without its pooler (Lyrebird never uses it) gets a zero one, so that
    ``AutoModel`` — which builds one — loads the folder without a "missing weights" report."""
    import torch
    from safetensors.torch import load_file

    pooler = getattr(hf_model, "pooler", "absent")
    weights = out / "model.safetensors"
    if pooler is not None or getattr(hf_model.config, "model_type", "") != "bert" \
            or not weights.is_file():
        return
    sd = load_file(str(weights))
    if "pooler.dense.weight" in sd:
        return
    h = int(hf_model.config.hidden_size)
    sd["pooler.dense.weight"] = torch.zeros(h, h, dtype=sd["embeddings.word_embeddings.weight"].dtype)
    sd["pooler.dense.bias"] = torch.zeros(h, dtype=sd["pooler.dense.weight"].dtype)
    save_file(sd, str(weights), metadata={"format": "pt"})


def export_sentence_transformer(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Write ``model``'s text tower as a sentence-transformers folder (see the module
    docstring); returns the folder. Raises :class:`STExportError` for a tower with extra
    transformer layers."""
    text, tcfg = model.text, model.cfg.text
    if text.transformer is not None:
        raise STExportError(
            f"this MuLan's text tower has TextTowerConfig.n_layers={tcfg.n_layers} extra "
            "transformer layers after the backbone; a sentence-transformers pipeline "
            "(Transformer → Pooling → Dense → Normalize) cannot express them. Export it with "
            "'lyrebird export onnx' instead, or train with --set text.n_layers=0.")
    bb = text.backbone
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    prompts: dict[str, str] = {}
    if getattr(bb, "pooled", False):  # a sentence-transformers backbone: keep its modules
        bb.model.save(str(out))
        modules = json.loads((out / "modules.json").read_text())
        old = out / "config_sentence_transformers.json"
        st_cfg = json.loads(old.read_text()) if old.is_file() else {}
        prompts = dict(st_cfg.get("prompts") or {})
    else:
        bb.model.save_pretrained(str(out))
        _add_pooler(bb.model, out)
        bb.tokenizer.save_pretrained(str(out))
        _write_json(out / "sentence_bert_config.json",
                    {"max_seq_length": int(bb.max_length), "do_lower_case": False})
        _write_json(out / "1_Pooling" / "config.json", {
            "word_embedding_dimension": int(bb.dim), "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False, "include_prompt": True})
        modules = [_module(0, "", "Transformer"), _module(1, "1_Pooling", "Pooling")]
        st_cfg = {}
    n = len(modules)
    dense = out / f"{n}_Dense"
    _write_json(dense / "config.json", {
        "in_features": int(text.proj.in_features), "out_features": int(text.proj.out_features),
        "bias": True, "activation_function": "torch.nn.modules.linear.Identity"})
    save_file({"linear.weight": text.proj.weight.detach().float().cpu().contiguous(),
               "linear.bias": text.proj.bias.detach().float().cpu().contiguous()},
              str(dense / "model.safetensors"))
    (out / f"{n + 1}_Normalize").mkdir(exist_ok=True)
    modules += [_module(n, dense.name, "Dense"), _module(n + 1, f"{n + 1}_Normalize", "Normalize")]
    _write_json(out / "modules.json", modules)
    if bb.prefix:
        prompts["query"] = bb.prefix
    st_cfg.update({"prompts": prompts, "default_prompt_name": "query" if bb.prefix else None,
                   "similarity_fn_name": "cosine"})
    _write_json(out / "config_sentence_transformers.json", st_cfg)
    (out / "README.md").write_text(_st_card(model, bb.prefix))
    return out
