"""Hashes with one meaning each: a file's content, a stable id from parts, a module's weights.

- :func:`content_hash`: SHA-256 of a file's bytes; the library and manifests use it to
  recognise the same recording under another name.
- :func:`stable_hash`: a 64-bit integer of any parts, the same in every process and Python run
  (seeds, split assignment, clip ids).
- :func:`module_fingerprint`: a short digest of an ``nn.Module``'s state, so caches and
  libraries can tell which weights produced their vectors.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch loads only where tensors are hashed (a text query needs none)
    import torch
    from torch import nn


def content_hash(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """SHA-256 of the file's bytes (64 hex characters), read in ``block``-byte blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def stable_hash(*parts: object) -> int:
    """A 64-bit integer hash of ``parts`` that is the same in every process and Python run."""
    h = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big")


def arrays_fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """Short SHA-1 (16 hex characters) of named arrays: names, shapes and float32 values."""
    h = hashlib.sha1()
    for k, v in sorted(arrays.items()):
        h.update(k.encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(np.ascontiguousarray(v, np.float32).tobytes())
    return h.hexdigest()[:16]


def tensors_fingerprint(tensors: dict[str, torch.Tensor]) -> str:
    """:func:`arrays_fingerprint` of named tensors (any dtype and device)."""
    import torch

    return arrays_fingerprint({k: v.detach().to("cpu", torch.float32).numpy()
                               for k, v in tensors.items()})


def module_fingerprint(module: nn.Module) -> str:
    """:func:`tensors_fingerprint` of a module's state dict, or the module's own
    ``weights_fingerprint()`` when it defines one (a frozen backbone whose weights are not
    materialised: it returns what this function computed on the full module)."""
    own = getattr(module, "weights_fingerprint", None)
    if callable(own):
        return str(own())
    return tensors_fingerprint(module.state_dict())
