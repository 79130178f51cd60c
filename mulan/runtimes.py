"""Which runtime runs MuLan's towers for a library, a server or an evaluation (``--runtime``).

* ``torch`` — the PyTorch model (Lyrebird's lean text path). **The default.** In
  ``lyrebird bench runtime`` (README) onnxruntime fp32 is only level with it on text queries
  and slower on audio with more memory, so it is not worth a second runtime by default.
* ``onnx`` — the model's ONNX export on onnxruntime, fp32 (:class:`~.onnx_runtime.OnnxMuLan`).
* ``onnx-int8`` — the same export with the *text* tower dynamically quantised to int8 (3×
  faster queries, at the quality cost measured by ``lyrebird eval mulan --runtime
  onnx-int8``); the audio tower stays fp32 (int8 audio is slower here, and would change the
  stored vectors).

The export is made once per model, the first time a runtime needs it, into
``<cache>/onnx/<fingerprint>/`` (``$LYREBIRD_CACHE``, else ``~/.cache/lyrebird``), written
whole through :func:`lyrebird.core.atomic.folder_on_success`: a crash or a concurrent first
user never leaves a half-written export.

Library vectors. ``onnx`` has the PyTorch model's fingerprint (its vectors match PyTorch's to
cosine ≥ 0.9999, checked when the export is made: one that does not is not kept), so one
library is searched and extended by either.
``onnx-int8`` keeps that fingerprint too — the vectors a library stores come from the fp32
audio tower — but it is a *query-only* runtime, so int8 text vectors never mix with fp32 ones:
a library opened with it refuses to write (the zero-shot tags stored with each track come
from the text tower), and its text vectors are cached under a key of their own. A graph with
an int8 *audio* tower (the benchmark's) has a fingerprint of its own, which a library of fp32
vectors refuses.

This module imports nothing heavy at load time (the CLI reads :data:`RUNTIMES` from it).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import MuLan
    from .onnx_runtime import OnnxEvalModel, OnnxMuLan

log = logging.getLogger("lyrebird.mulan")

RUNTIMES: tuple[str, ...] = ("torch", "onnx", "onnx-int8")
"""The runtimes ``--runtime`` accepts."""
DEFAULT_RUNTIME = "torch"
"""PyTorch: the serving default (see the module docstring for why)."""
PARITY = 0.9999
"""Least cosine to PyTorch (fp32, both towers) of a cached export, checked when it is made."""


def check_runtime(runtime: str) -> None:
    """Raise ``ValueError`` for an unknown runtime and
    :class:`~.onnx_export.RuntimeUnavailableError` (an ``ImportError`` naming the pip extra)
    when an ONNX runtime is asked for without onnxruntime."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if runtime != "torch":
        from .onnx_export import ONNX_EXTRA, RuntimeUnavailableError

        try:
            import onnxruntime  # noqa: F401
        except ImportError as e:
            raise RuntimeUnavailableError(
                f"--runtime {runtime} needs onnxruntime, which is not installed: "
                f"{ONNX_EXTRA}") from e


def onnx_cache_dir(fingerprint: str) -> Path:
    """Where the ONNX export of the model with ``fingerprint`` is cached."""
    from .e5_convert import cache_root

    return cache_root() / "onnx" / fingerprint


def _cached(fingerprint: str | None) -> Path | None:
    if not fingerprint:
        return None
    d = onnx_cache_dir(fingerprint)
    return d if (d / "lyrebird_onnx.json").is_file() else None


def cached_onnx_export(spec: str, fingerprint: str | None = None) -> Path:
    """The ONNX export (both towers, fp32, plus the int8 text tower) of MuLan ``spec`` (a
    shipped name or checkpoint folder), made on first use and cached by the model's
    fingerprint. ``fingerprint``, when known (a library stores it), finds a cached export
    without loading the model."""
    found = _cached(fingerprint)
    if found is not None:
        return found
    from .onnx_export import ONNX_EXTRA, RuntimeUnavailableError

    try:
        import onnxscript  # noqa: F401  (the exporter)
    except ImportError as e:
        raise RuntimeUnavailableError(f"exporting {spec!r} to ONNX needs onnx and onnxscript: "
                                      f"{ONNX_EXTRA}") from e
    from .model import MuLan
    from .onnx_export import OnnxExportError, export_onnx

    text = MuLan.load(spec, audio=False)
    fp = text.fingerprint()
    found = _cached(fp)
    if found is not None:
        return found
    target = onnx_cache_dir(fp)
    log.info("exporting MuLan %r to ONNX once, into %s", spec, target)
    t0 = time.monotonic()
    m = MuLan.load(spec, backbone=text.text.backbone).eval()
    m.text.backbone.lean = None  # export the Hugging Face module, fp32
    from lyrebird.core.atomic import folder_on_success, remove_stale_temps

    remove_stale_temps(target)  # exports a killed process left behind
    try:
        with folder_on_success(target) as tmp:
            man = export_onnx(m, tmp, int8=("text",))
            bad = {k: round(v["min_cosine_fp32"], 6) for k, v in man["parity"].items()
                   if v["min_cosine_fp32"] < PARITY}
            if bad:  # not kept: it would pass for the PyTorch model's vectors
                raise ValueError(f"the ONNX export of MuLan {spec!r} does not match PyTorch "
                                 f"(cosine {bad} < {PARITY}); use --runtime torch")
    except OnnxExportError as e:  # e.g. a sentence-transformers text backbone
        raise ValueError(f"MuLan {spec!r} cannot run on onnxruntime: {e}") from e
    log.info("exported %r to ONNX in %.0f s", spec, time.monotonic() - t0)
    return target


def onnx_model(spec: str, runtime: str, fingerprint: str | None = None) -> OnnxMuLan:
    """MuLan ``spec`` on onnxruntime (``runtime`` ``"onnx"`` or ``"onnx-int8"``), from the
    cached export; named ``spec``, so a library records the model, not the runtime.
    onnxruntime takes as many intra-op threads as PyTorch (``torch.get_num_threads()``)."""
    check_runtime(runtime)
    if runtime == "torch":
        raise ValueError("onnx_model: runtime 'torch' is the PyTorch model")
    from .onnx_runtime import OnnxMuLan

    d = cached_onnx_export(spec, fingerprint)
    return OnnxMuLan(d, int8="text" if runtime == "onnx-int8" else "none", name=spec)


def eval_model(spec: str | os.PathLike, runtime: str = DEFAULT_RUNTIME
               ) -> MuLan | OnnxEvalModel:
    """The model :mod:`lyrebird.mulan.evaluate` scores: the PyTorch MuLan, or its export on
    onnxruntime behind the same methods (:class:`~.onnx_runtime.OnnxEvalModel`)."""
    check_runtime(runtime)
    if runtime == "torch":
        from .model import MuLan

        return MuLan.load(spec)
    from .onnx_runtime import OnnxEvalModel

    return OnnxEvalModel(onnx_model(str(spec), runtime))


__all__ = ["DEFAULT_RUNTIME", "RUNTIMES", "cached_onnx_export", "check_runtime", "eval_model",
           "onnx_cache_dir", "onnx_model"]
