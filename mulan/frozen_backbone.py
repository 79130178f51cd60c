"""A frozen BERT text backbone for queries, loaded in a fraction of a second.

A cold ``lyrebird search`` spent most of its time before the first token: importing
``transformers`` (seconds), building ``BertModel`` and copying 470 MB of weights into it, and
hashing all of them twice for the model fingerprint. Queries only ever run the lean inference
path (:mod:`~lyrebird.mulan.lean_encoder`), so :func:`load_frozen_backbone` builds that path
straight from the folder: the safetensors file memory-mapped (the 250k-row embedding table is
read page by page as tokens need it), the fast ``tokenizers`` tokenizer, and the weights'
fingerprint read from a sidecar (``lyrebird_fingerprint.json``) that the Hugging Face path
writes the first time, keyed by the weight file's size and modification time.

The result computes exactly what :class:`~lyrebird.mulan.text_backbones.TextBackbone` computes
for inference (the same :class:`LeanEncoder`, same dtype choice), and has the same
fingerprint, so vectors and libraries are interchangeable. It has no gradients and no Hugging
Face module: training and ONNX export load the ordinary backbone.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from torch import nn

from lyrebird.core.device import cpu_bf16_native

from .lean_encoder import SUPPORTED, LeanEncoder
from .text_files import (
    SIDECAR,
    LazyTokenizer,
    fast_tokenizer,
    mmap_arrays,
    read_sidecar,
    tokenizer_available,
    write_sidecar,
)

__all__ = ["SIDECAR", "FrozenTextBackbone", "fast_tokenizer", "frozen_from_dir",
           "mmap_safetensors", "read_sidecar", "write_sidecar"]

log = logging.getLogger("lyrebird.mulan")


class FrozenTextBackbone(nn.Module):
    """Inference-only text backbone over :class:`LeanEncoder`; the interface of
    :class:`~lyrebird.mulan.text_backbones.TextBackbone` that queries use (``tokenize``,
    ``forward``, ``encode``, ``dim``, ``prefix``, ``max_length``, ``device``)."""

    def __init__(self, lean: LeanEncoder, fast, name: str, prefix: str, max_length: int,
                 fingerprint: str):
        super().__init__()
        self._lean_enc, self._fast, self._fp = lean, fast, fingerprint
        self.name, self.prefix, self.max_length = name, prefix, max_length
        self.dim = lean.hidden
        self.lean = "auto"

    def weights_fingerprint(self) -> str:
        """:func:`~lyrebird.core.fingerprint.module_fingerprint` of the equivalent
        ``TextBackbone`` (recorded when that was first loaded)."""
        return self._fp

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """``texts`` → ``input_ids`` and ``attention_mask``, each ``(B, L)`` (padded)."""
        if isinstance(texts, str):
            raise TypeError("tokenize expects a list of strings, got one string")
        self._fast.enable_truncation(self.max_length)
        encs = self._fast.encode_batch([self.prefix + t for t in texts])
        return {"input_ids": torch.tensor([e.ids for e in encs], dtype=torch.long),
                "attention_mask": torch.tensor([e.attention_mask for e in encs],
                                               dtype=torch.long)}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` ids and mask → token states ``(B, L, H)`` float32 (no gradients)."""
        if self.lean is None or torch.is_grad_enabled():
            raise RuntimeError(f"text backbone {self.name!r} was loaded frozen for queries "
                               "(no gradients, no Hugging Face module); load MuLan without "
                               "lean_text=True to train or export it")
        return self._lean_enc(input_ids, attention_mask)

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``texts`` → ``(states (B, L, H), mask (B, L) bool)``."""
        enc = self.tokenize(texts)
        return self(**enc), enc["attention_mask"].bool()


def mmap_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file as torch views of one memory map
    (:func:`~lyrebird.mulan.text_files.mmap_arrays`)."""
    return {k: torch.from_numpy(v) for k, v in mmap_arrays(path).items()}


def frozen_from_dir(folder: Path, name: str, prefix: str, max_length: int
                    ) -> FrozenTextBackbone | None:
    """:class:`FrozenTextBackbone` for a Hugging Face BERT folder, or ``None`` when it does
    not qualify (no safetensors or fast tokenizer, another layout, no valid sidecar)."""
    if os.environ.get("LYREBIRD_FROZEN_TEXT", "1") == "0":
        return None
    try:
        cfg = json.loads((folder / "config.json").read_text())
        if (cfg.get("model_type") not in SUPPORTED or cfg.get("hidden_act") not in
                ("gelu", "gelu_python") or cfg.get("position_embedding_type", "absolute")
                != "absolute" or not (folder / "model.safetensors").is_file()):
            return None
        fp = read_sidecar(folder)
        if fp is None or not tokenizer_available(folder):
            return None
        fast = LazyTokenizer(folder)  # loaded on the first query, not to embed audio
        dtype = torch.bfloat16 if cpu_bf16_native() else torch.float32
        lean = LeanEncoder.from_state(cfg, mmap_safetensors(folder / "model.safetensors"), dtype)
    except (OSError, ValueError, KeyError) as e:
        log.debug("%s: frozen text backbone not usable (%s)", folder, e)
        return None
    return FrozenTextBackbone(lean, fast, name, prefix, max_length, fp)
