"""Distributed library embedding: a Lightning predict job, sharded per process, then merged.

For libraries too big for one machine. Each process (``--devices`` × ``--num-nodes``, launched by
Lightning/torchrun/SLURM as usual — no scheduler of our own) embeds its share of the files
(``DistributedSampler``) and writes ``shard-<rank>.npz`` + ``shard-<rank>.jsonl`` under a shard
folder. ``merge_shards`` then commits every shard into one library, whose index policy (e.g.
``--index ivfpq``) decides the FAISS index the merged vectors go into.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from lyrebird.core.fingerprint import content_hash
from lyrebird.encoders import AudioError
from lyrebird.index import Library
from lyrebird.index.ingest import Embedded, discover, embed_file, file_metadata
from lyrebird.index.model import load_model


class _Files(torch.utils.data.Dataset):
    def __init__(self, files: list[Path]):
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> str:
        return str(self.files[i])


class EmbedModule(L.LightningModule):
    """Predict step = embed one file with the library's model (``segment_s``/``hop_s`` windows)."""

    def __init__(self, model_spec: str, segment_s: float, hop_s: float):
        super().__init__()
        self.spec, self.segment_s, self.hop_s = model_spec, segment_s, hop_s
        self._model = None

    def predict_step(self, batch, batch_idx):
        if self._model is None:
            self._model = load_model(self.spec, device=str(self.device))
        out = []
        for path in batch:
            try:
                emb = embed_file(self._model, path, self.segment_s, self.hop_s)
                out.append({"path": path, "hash": content_hash(path), "meta": file_metadata(path),
                            "emb": emb})
            except (AudioError, OSError) as e:
                out.append({"path": path, "error": getattr(e, "reason", str(e))})
        return out


class ShardWriter(BasePredictionWriter):
    """Writes each process's results to its own shard files."""

    def __init__(self, out_dir: Path):
        super().__init__(write_interval="epoch")
        self.out = out_dir

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices):
        rank = trainer.global_rank
        rows, segs, spans, vecs = [], [], [], []
        for batch in predictions:
            for r in batch:
                if "error" in r:
                    rows.append({"path": r["path"], "error": r["error"]})
                    continue
                e: Embedded = r["emb"]
                rows.append({"path": r["path"], "hash": r["hash"], "meta": r["meta"],
                             "duration_s": e.duration_s, "n": len(e.segments)})
                segs.append(e.seg_vectors)
                spans += e.segments
                vecs.append(e.vector)
        self.out.mkdir(parents=True, exist_ok=True)
        np.savez(self.out / f"shard-{rank}.npz",
                 seg_vectors=np.concatenate(segs) if segs else np.zeros((0, 0), np.float32),
                 spans=np.asarray(spans, np.float64).reshape(-1, 2),
                 vectors=np.stack(vecs) if vecs else np.zeros((0, 0), np.float32))
        with open(self.out / f"shard-{rank}.jsonl", "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")


def embed_sharded(paths: list[str], model_spec: str, shard_dir: str | os.PathLike,
                  segment_s: float = 10.0, hop_s: float = 5.0, devices: int | str = "auto",
                  num_nodes: int = 1, strategy: str = "auto", accelerator: str = "auto") -> Path:
    """Run the predict job over ``paths`` (files/folders); returns the shard folder."""
    files, _ = discover(paths)
    out = Path(shard_dir)
    trainer = L.Trainer(accelerator=accelerator, devices=devices, num_nodes=num_nodes,
                        strategy=strategy, logger=False, enable_progress_bar=False,
                        callbacks=[ShardWriter(out)], use_distributed_sampler=True)
    loader = torch.utils.data.DataLoader(_Files(files), batch_size=4, collate_fn=list)
    trainer.predict(EmbedModule(model_spec, segment_s, hop_s), loader, return_predictions=False)
    trainer.strategy.barrier()  # every shard is on disk before anyone merges
    return out


def read_shards(shard_dir: str | os.PathLike):
    """Yield ``(path, hash, meta, Embedded)`` and ``(path, None, reason)`` from every shard."""
    for jl in sorted(Path(shard_dir).glob("shard-*.jsonl")):
        data = np.load(jl.with_suffix(".npz"))
        seg_off = k = 0
        for line in jl.read_text().splitlines():
            r = json.loads(line)
            if "error" in r:
                yield r["path"], None, r["error"]
                continue
            n = r["n"]
            spans = [tuple(x) for x in data["spans"][seg_off : seg_off + n]]
            emb = Embedded(r["duration_s"], spans, data["seg_vectors"][seg_off : seg_off + n],
                           data["vectors"][k])
            seg_off += n
            k += 1
            yield r["path"], r["hash"], r["meta"], emb


def merge_shards(library: str | os.PathLike, shard_dir: str | os.PathLike):
    """Commit every shard into ``library`` (duplicates skipped); returns the AddReport."""
    items, failed = [], []
    for item in read_shards(shard_dir):
        if item[1] is None:
            failed.append((item[0], item[2]))
        else:
            items.append(item)
    lib = Library.open(library)
    rep = lib.add_embedded(items)
    rep.failed += failed
    lib.close()
    return rep


def add_distributed(library: str | os.PathLike, paths: list[str | os.PathLike], *,
                    devices: int | str = "auto", num_nodes: int = 1, strategy: str = "auto",
                    accelerator: str = "auto", shard_dir: str | os.PathLike | None = None):
    """Add ``paths`` to ``library`` with a distributed predict job (:func:`embed_sharded`,
    shards under ``shard_dir``, default ``library/shards``), then :func:`merge_shards`.

    Every process of the job calls this; the first (local and node rank 0) merges and gets the
    AddReport, the others get ``None``.
    """
    with Library.open(library) as lib:
        meta = lib.meta
    shards = embed_sharded([str(p) for p in paths], meta["model"],
                           shard_dir or Path(library) / "shards", float(meta["segment_s"]),
                           float(meta["hop_s"]), devices=devices, num_nodes=num_nodes,
                           strategy=strategy, accelerator=accelerator)
    if int(os.environ.get("LOCAL_RANK", "0")) != 0 or int(os.environ.get("NODE_RANK", "0")) != 0:
        return None  # only the first process merges and reports
    return merge_shards(library, shards)
