"""FAISS indexes for a library: automatic choice, recall tuning, atomic persistence, GPU.

Functions over single indexes; :mod:`.indexes` keeps a library's pair of them.

Choice (``IndexPolicy.kind="auto"``), by the number of vectors ``n`` of width ``d``:

* ``n < flat_max`` (20,000): exact ``IndexFlatIP`` — 4·d bytes per vector (2 KiB at d = 512);
* vectors fit in ``memory_budget`` (default 4 GiB): ``IVF-Flat`` with ``nlist ≈ 4·√n``, its
  ``nprobe`` tuned until recall@10 against exact search ≥ 0.95 on queries made from the
  library's own vectors moved to cosine 0.4 (as far as text queries sit from their hits),
  then doubled as a margin;
  same memory as flat plus the centroids;
* beyond the budget: ``IVF-PQ`` (``d/8`` sub-quantisers of 8 bits: d/8 bytes per vector, 64 B at
  d = 512), for libraries larger than memory. Its candidates (``RERANK_FACTOR`` × k) are
  re-ranked with the exact vectors read from SQLite, which is what lifts its recall.

``"hnsw"`` (``IndexHNSWFlat``, M = 32) is available on request. Every index is wrapped in an
``IndexIDMap2`` whose ids are SQLite row ids. With ``faiss.get_num_gpus() > 0`` (faiss-gpu via the
``[gpu]`` extra) searches run on a GPU copy; files always hold the CPU index.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from lyrebird.core.atomic import replaced_on_success

from .faiss_import import faiss

Kind = Literal["auto", "flat", "ivf", "hnsw", "ivfpq"]
RERANK_FACTOR = 10  # IVF-PQ: candidates fetched per requested result before exact re-ranking
TUNE_MARGIN = 0.02  # tune to target + margin so unseen queries still meet the target
# Text queries sit far from the audio vectors they find (the modality gap: a good text→music
# hit has cosine 0.2–0.5), and far queries need more probes, so the tuning queries are library
# vectors moved to this cosine from where they were.
TUNE_QUERY_COS = 0.4


@dataclass(frozen=True)
class IndexPolicy:
    """How a library indexes its vectors (see the module docstring for the thresholds)."""

    kind: Kind = "auto"
    flat_max: int = 20_000
    memory_budget: int = 4 * 2**30  # bytes of raw float32 vectors held in RAM
    target_recall: float = 0.95
    hnsw_m: int = 32
    use_gpu: bool | None = None  # None: when faiss sees a GPU


def choose_kind(n: int, dim: int, policy: IndexPolicy) -> str:
    """The index kind ``policy`` gives ``n`` vectors of width ``dim``."""
    if policy.kind != "auto":
        return policy.kind
    if n < policy.flat_max:
        return "flat"
    return "ivf" if n * dim * 4 <= policy.memory_budget else "ivfpq"


def bytes_per_vector(kind: str, dim: int) -> float:
    """Approximate RAM per vector of an index kind (ids included)."""
    return {"flat": 4 * dim, "ivf": 4 * dim, "hnsw": 4 * dim + 2 * 32 * 4,
            "ivfpq": dim // 8}.get(kind, 4 * dim) + 8


def exact_topk(base: np.ndarray, queries: np.ndarray, k: int,
               max_scores: int = 2**25) -> np.ndarray:
    """Row indices ``(Q, k)`` of the exact inner-product top-k (numpy, the recall oracle).

    Queries go in blocks of at most ``max_scores`` scores (128 MB of float32), so memory stays
    bounded for any library size (1,000 queries against 1M vectors would otherwise need 4 GB
    of scores plus 8 GB of partition indices).
    """
    k = min(k, base.shape[0])
    step = max(1, max_scores // max(1, base.shape[0]))
    out = np.empty((len(queries), k), np.int64)
    for i in range(0, len(queries), step):
        s = queries[i : i + step] @ base.T
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(s, part, 1).argsort(axis=1)[:, ::-1]
        out[i : i + step] = np.take_along_axis(part, order, 1)
    return out


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean fraction of the exact top-k found by the approximate top-k."""
    hits = [len(set(a[a >= 0]) & set(e)) / len(e) for a, e in zip(approx, exact, strict=True)]
    return float(np.mean(hits))


@contextmanager
def single_thread():
    """One OpenMP thread for the duration: single-query searches are latency-bound, and faiss'
    thread team costs more than it saves (5x slower on 2 busy cores)."""
    n = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(n)


def search_rerank(index: faiss.Index, q: np.ndarray, k: int,
                  fetch: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of ``RERANK_FACTOR * k`` candidates re-scored exactly.

    ``fetch(ids)`` returns the exact ``(len(ids), d)`` vectors. Returns ``(scores, ids)`` like
    ``index.search`` (``(Q, k)`` each, ``-1`` ids for missing results).
    """
    _, cand = index.search(q, k * RERANK_FACTOR)
    scores = np.full((len(q), k), -np.inf, np.float32)
    ids = np.full((len(q), k), -1, np.int64)
    for i, row in enumerate(cand):
        row = row[row >= 0]
        if len(row) == 0:
            continue
        s = fetch(row) @ q[i]
        top = np.argsort(-s)[:k]
        scores[i, : len(top)], ids[i, : len(top)] = s[top], row[top]
    return scores, ids


def _tune(index: faiss.Index, ids: np.ndarray, vecs: np.ndarray, kind: str,
          target: float, k: int = 10) -> dict:
    """Raise nprobe / efSearch (doubling) until recall@k on 1,000 sample queries meets
    ``target`` + margin, then double once more."""
    rng = np.random.default_rng(0)
    q = vecs[rng.choice(len(vecs), size=min(1000, len(vecs)), replace=False)]
    sigma = np.sqrt((1 / TUNE_QUERY_COS**2 - 1) / q.shape[1])  # E cos(q, q + noise) ≈ TUNE_QUERY_COS
    q = q + sigma * rng.standard_normal(q.shape).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = ids[exact_topk(vecs, q, k)]
    pos = {int(i): n for n, i in enumerate(ids)}

    def recall() -> float:
        if kind == "ivfpq":
            got = search_rerank(index, q, k, lambda r: vecs[[pos[int(i)] for i in r]])[1]
        else:
            got = index.search(q, k)[1]
        return recall_at_k(got, exact)

    goal = min(1.0, target + TUNE_MARGIN)
    if kind == "hnsw":
        hnsw = faiss.downcast_index(index.index)
        for ef in (16, 32, 64, 128, 256, 512):
            hnsw.hnsw.efSearch = ef
            r = recall()
            if r >= goal:
                break
        hnsw.hnsw.efSearch = ef = 2 * ef  # one more doubling: a margin for unseen queries
        return {"efSearch": ef, "tuned_recall": recall()}
    ivf = faiss.extract_index_ivf(index)
    nprobe = 1
    while True:
        ivf.nprobe = nprobe
        r = recall()
        if r >= goal or nprobe == ivf.nlist:
            break
        nprobe = min(ivf.nlist, nprobe * 2)
    # One more doubling: recall varies from query set to query set (a 1M-track library tuned
    # to 0.977 at nprobe 4 gave 0.942 on other queries, 0.9995 at 8); probing costs little.
    ivf.nprobe = min(ivf.nlist, nprobe * 2)
    return {"nprobe": int(ivf.nprobe), "tuned_recall": recall()}


def build_index(ids: np.ndarray, vecs: np.ndarray, dim: int,
                policy: IndexPolicy = IndexPolicy()) -> tuple[faiss.Index, dict]:
    """An ``IndexIDMap2`` over ``vecs`` ``(n, dim)`` float32 (L2-normalised) with ``ids``.

    Returns ``(index, info)``; ``info`` has the kind and tuned search parameters.
    """
    n = len(ids)
    kind = choose_kind(n, dim, policy)
    if kind != "flat" and n < 256:  # too few vectors to train a quantiser
        kind = "flat"
    info: dict = {"kind": kind, "vectors": n}
    if kind == "flat":
        base = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        base = faiss.IndexHNSWFlat(dim, policy.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    else:
        nlist = max(1, min(n // 39, int(4 * math.sqrt(n))))
        quant = faiss.IndexFlatIP(dim)
        if kind == "ivf":
            base = faiss.IndexIVFFlat(quant, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        else:
            m = max(1, dim // 8)
            while dim % m:
                m -= 1
            base = faiss.IndexIVFPQ(quant, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        base.train(vecs[np.random.default_rng(0).permutation(n)[: max(nlist * 64, 10000)]])
        info["nlist"] = nlist
    index = faiss.IndexIDMap2(base)
    if n:
        index.add_with_ids(np.ascontiguousarray(vecs, np.float32), np.asarray(ids, np.int64))
    if kind != "flat" and n:
        info.update(_tune(index, np.asarray(ids), vecs, kind, policy.target_recall))
    return index, info


def apply_params(index: faiss.Index, info: dict) -> None:
    """Re-apply tuned search parameters (nprobe / efSearch) after loading an index."""
    if "nprobe" in info:
        faiss.extract_index_ivf(index).nprobe = int(info["nprobe"])
    if "efSearch" in info:
        faiss.downcast_index(index.index).hnsw.efSearch = int(info["efSearch"])


def save_index(index: faiss.Index, path: Path) -> None:
    """Write atomically through :func:`lyrebird.core.atomic.replaced_on_success`: a private
    temporary file beside ``path``, fsynced before it is renamed onto ``path``, then the folder
    fsynced so the rename is durable too. Readers see the old or the new index, never half of
    one; a failed write leaves the old file and no temporary file (a killed process may leave
    one, which :func:`lyrebird.core.atomic.remove_stale_temps` clears)."""
    with replaced_on_success(path, durable=True) as tmp:
        faiss.write_index(index, tmp)


def load_index(path: Path) -> faiss.Index:
    """Read an index written by :func:`save_index`."""
    return faiss.read_index(str(path))


def index_ids(index: faiss.Index) -> np.ndarray:
    """The ids stored in an ``IndexIDMap2``."""
    return faiss.vector_to_array(index.id_map).astype(np.int64)


def maybe_gpu(index: faiss.Index, policy: IndexPolicy) -> faiss.Index:
    """A GPU copy for searching when faiss-gpu sees a device (HNSW stays on CPU)."""
    want = policy.use_gpu if policy.use_gpu is not None else faiss.get_num_gpus() > 0
    if not want or faiss.get_num_gpus() == 0 or isinstance(faiss.downcast_index(index.index),
                                                            faiss.IndexHNSWFlat):
        return index
    return faiss.index_cpu_to_all_gpus(index)  # pragma: no cover - needs a GPU
