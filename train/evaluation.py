"""MuLan evaluation from files (``lyrebird eval``): a manifest split, or a MagnaTagATune folder.

:mod:`lyrebird.mulan.evaluate` computes the reports from a model and a table; this module loads
the model by name and reads the manifest with the project's reader (which lives in ``train``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

MANIFEST_COLUMNS = ("path", "split", "captions", "tags")
"""Columns a manifest needs for :func:`evaluate_manifest`."""


def evaluate_manifest(manifest: str | os.PathLike, model: str = "default",
                      split: str | None = "test", vocab: Sequence[str] | None = None,
                      langs: Sequence[str] | None = None, min_pos: int = 20,
                      ensemble: bool = False, batch: int = 16, runtime: str = "torch") -> dict:
    """Retrieval and zero-shot tagging of MuLan ``model`` (a shipped name or checkpoint
    directory) on ``split`` of ``manifest`` (``None``: every row); see
    :func:`lyrebird.mulan.evaluate.evaluate_split`. ``vocab`` ``None``: the MTT top-50.
    ``runtime``: run the towers on PyTorch or on onnxruntime (``onnx``, ``onnx-int8``: what
    ``--runtime`` serves; :func:`lyrebird.mulan.runtimes.eval_model`).

    Raises :class:`~lyrebird.train.corpora.ManifestError` or ``ValueError`` (a bad manifest,
    an empty split, a bad model), ``FileNotFoundError``, ``ImportError``, or
    :class:`~lyrebird.mulan.EmbeddingCollapseError`.
    """
    from lyrebird.mulan.evaluate import evaluate_split
    from lyrebird.mulan.runtimes import eval_model
    from lyrebird.train.corpora.manifest import read_manifest, resolve_path

    df = read_manifest(manifest)
    for col in MANIFEST_COLUMNS:
        if col not in df.columns:
            raise ValueError(f"'{manifest}': manifest has no '{col}' column")
    df["path"] = [str(resolve_path(manifest, p)) for p in df["path"]]
    m = eval_model(model, runtime)
    rep = evaluate_split(m, df, split, vocab, langs, min_pos, ensemble, batch)
    rep["model"] = model
    rep["runtime"] = runtime
    rep["manifest"] = str(manifest)
    return rep


def evaluate_mtt_folder(mtt_dir: str | os.PathLike, model: str = "default",
                        template: str | None = None, ensemble: bool = False,
                        batch: int = 8, runtime: str = "torch") -> dict:
    """Zero-shot MTT tagging of MuLan ``model`` on the test clips found under ``mtt_dir``,
    on ``runtime`` (see :func:`evaluate_manifest`); see
    :func:`lyrebird.mulan.evaluate.evaluate_mtt`. Raises ``ValueError``,
    ``FileNotFoundError``, ``ImportError``, or :class:`~lyrebird.mulan.EmbeddingCollapseError`."""
    from lyrebird.mulan.evaluate import evaluate_mtt
    from lyrebird.mulan.runtimes import eval_model

    m = eval_model(model, runtime)
    rep = evaluate_mtt(m, Path(mtt_dir), ensemble, template, batch)
    rep["model"] = model
    rep["runtime"] = runtime
    return rep
