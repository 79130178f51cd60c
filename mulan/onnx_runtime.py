"""MuLan's towers on onnxruntime: a library model over a ``lyrebird export onnx`` folder.

:class:`OnnxMuLan` implements the library-model protocol (``name``, ``SAMPLE_RATE``, ``DIM``,
``fingerprint``, ``embed_windows``, ``has_text``, ``embed_text``), so ``Library`` and
``lyrebird serve`` run it with the model spec ``onnx:DIR`` (fp32) or ``onnx-int8:DIR`` (the
int8 text tower, fp32 audio). No PyTorch model is loaded; tokenisation uses the folder's
``tokenizer.json`` with the ``tokenizers`` package.

The fingerprint is the source MuLan's whenever the audio tower is the fp32 export (its
vectors match PyTorch's to cosine ≥ 0.9999), so a library built with the PyTorch model is
served by its ONNX export; an int8 audio tower is a different model and gets its own. An int8
text tower over the fp32 audio tower (``onnx-int8:DIR``, ``--runtime onnx-int8``) is
*query-only*: its text vectors have a key of their own and a library refuses to write with it
(see :mod:`lyrebird.mulan.runtimes`). :class:`OnnxEvalModel` gives an export the methods
:mod:`lyrebird.mulan.evaluate` calls on a MuLan.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .onnx_export import MANIFEST, ONNX_EXTRA, RuntimeUnavailableError
from .vocabulary import DEFAULT_TEMPLATE

RUNTIME_SPECS = ("onnx:", "onnx-int8:")
"""Model-spec prefixes that select this runtime (``onnx:DIR``, ``onnx-int8:DIR``)."""


class OnnxMuLan:
    """A MuLan export on onnxruntime. ``int8``: ``"none"``, ``"text"`` (int8 text tower) or
    ``"all"``; ``threads``: intra-op threads (0: as many as PyTorch uses,
    ``torch.get_num_threads()``, so ``OMP_NUM_THREADS`` and ``lyrebird serve``'s one thread
    per request hold for both runtimes)."""

    def __init__(self, directory: str | os.PathLike, int8: str = "none", threads: int = 0,
                 name: str | None = None):
        self.dir = Path(directory).expanduser()
        p = self.dir / MANIFEST
        if not p.is_file():
            raise ValueError(f"'{self.dir}': not an ONNX export (no {MANIFEST}); make one with "
                             "'lyrebird export onnx --model default --out DIR'")
        if int8 not in ("none", "text", "all"):
            raise ValueError(f"int8 must be 'none', 'text' or 'all', got {int8!r}")
        self.manifest = json.loads(p.read_text())
        self.int8, self.threads = int8, threads
        self.name = name or f"onnx:{self.dir}"
        self.DIM = int(self.manifest["dim"])
        self._sessions: dict[str, object] = {}
        self._tok = None

    # ------------------------------------------------------------------ sessions
    def _file(self, tower: str) -> Path:
        files = self.manifest["files"]
        q = self.int8 == "all" or (self.int8 == "text" and tower == "text")
        key = f"{tower}_int8" if q else tower
        if key not in files:
            raise ValueError(f"'{self.dir}': this export has no {key.replace('_', ' ')} tower "
                             f"(files: {sorted(files.values())})")
        return self.dir / files[key]

    def session(self, tower: str):
        """The onnxruntime session of ``"text"`` or ``"audio"`` (created on first use)."""
        if tower not in self._sessions:
            try:
                import onnxruntime as ort
            except ImportError as e:
                raise RuntimeUnavailableError(f"'{self.dir}': running an ONNX export needs "
                                              f"onnxruntime: {ONNX_EXTRA}") from e

            import torch

            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            opts.intra_op_num_threads = self.threads or torch.get_num_threads()
            self._sessions[tower] = ort.InferenceSession(str(self._file(tower)), opts,
                                                         providers=["CPUExecutionProvider"])
        return self._sessions[tower]

    @property
    def tokenizer(self):
        if self._tok is None:
            from tokenizers import Tokenizer

            tk = Tokenizer.from_file(str(self.dir / "tokenizer.json"))
            tk.enable_truncation(int(self.manifest["max_length"]))
            pad = tk.padding or {}
            tk.enable_padding(pad_id=pad.get("pad_id", tk.token_to_id("<pad>") or 0),
                              pad_token=pad.get("pad_token", "<pad>"))
            self._tok = tk
        return self._tok

    # ------------------------------------------------------------------ protocol
    @property
    def SAMPLE_RATE(self) -> int:
        if "sample_rate" not in self.manifest:
            raise ValueError(f"'{self.dir}': exported without the audio tower")
        return int(self.manifest["sample_rate"])

    def fingerprint(self) -> str:
        fp = str(self.manifest["fingerprint"])
        if self.int8 == "all":
            return hashlib.sha256(f"{fp}:onnx-int8".encode()).hexdigest()[:16]
        return fp

    def text_fingerprint(self) -> str:
        """The identity of this model's *text* vectors (the key of cached query vectors): the
        fingerprint, distinct for an int8 text tower over fp32 audio."""
        if self.int8 == "text":
            fp = str(self.manifest["fingerprint"])
            return hashlib.sha256(f"{fp}:onnx-int8-text".encode()).hexdigest()[:16]
        return self.fingerprint()

    @property
    def query_only(self) -> bool:
        """Whether a library may only be searched with this model, not written: its int8 text
        tower would store zero-shot tags unlike those of the fp32 model it shares vectors with."""
        return self.int8 == "text"

    @property
    def has_text(self) -> bool:
        return "text" in self.manifest["files"]

    @property
    def default_tags(self) -> list[str]:
        from .zeroshot import mtt_top50

        return list(mtt_top50())

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """``N`` strings → L2-normalised ``(N, DIM)`` float32."""
        if isinstance(texts, str):
            raise TypeError("embed_text expects a list of strings")
        if not texts:
            return np.zeros((0, self.DIM), np.float32)
        pre = self.manifest.get("prefix") or ""
        encs = self.tokenizer.encode_batch([pre + t for t in texts])
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        out = self.session("text").run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return _normalize(out)

    def embed_windows(self, audio: np.ndarray, valid: np.ndarray, batch_size: int = 8
                      ) -> np.ndarray:
        """``(B, L)`` windows with ``valid (B,)`` real samples → ``(B, DIM)`` normalised. Windows
        shorter than the model's are zero padded; longer ones are cut into the model's windows
        and averaged, weighted by real samples (as :meth:`MuLan.embed_audio` does)."""
        audio = np.asarray(audio, np.float32)
        valid = np.asarray(valid, np.int64)
        w = int(self.manifest["window"])
        rows, owner, vals = [], [], []
        for i, (a, v) in enumerate(zip(audio, valid, strict=True)):
            if len(a) <= w:  # one window: as given, with its valid length
                rows.append(np.pad(a, (0, w - len(a))))
                owner.append(i)
                vals.append(max(int(v), 1))
                continue
            a = a[: max(int(v), 1)]
            for s in range(0, len(a), w):
                seg = a[s: s + w]
                rows.append(np.pad(seg, (0, w - len(seg))))
                owner.append(i)
                vals.append(max(len(seg), 1))
        x, vv = np.stack(rows).astype(np.float32), np.array(vals, np.int64)
        sess = self.session("audio")
        e = np.concatenate([sess.run(None, {"audio": x[i: i + batch_size],
                                            "valid": vv[i: i + batch_size]})[0]
                            for i in range(0, len(x), batch_size)])
        out = np.zeros((len(audio), e.shape[1]), np.float32)
        np.add.at(out, np.array(owner), e * vv[:, None].astype(np.float32))
        return _normalize(out)


class OnnxEvalModel:
    """An :class:`OnnxMuLan` behind the methods :mod:`lyrebird.mulan.evaluate` calls on a
    :class:`~lyrebird.mulan.MuLan` (``embed_text``, ``embed_audio_batch``,
    ``prompt_embeddings``, ``audio.sample_rate``, ``cfg.dim``), returning torch tensors, so
    ``lyrebird eval mulan --runtime onnx-int8`` scores exactly what that runtime serves."""

    def __init__(self, onnx: OnnxMuLan):
        from types import SimpleNamespace

        self.onnx = onnx
        self.window_s = float(onnx.manifest["window_s"])
        self.audio = SimpleNamespace(sample_rate=onnx.SAMPLE_RATE)
        self.cfg = SimpleNamespace(dim=onnx.DIM)
        self._prompts: dict[tuple, object] = {}

    def fingerprint(self) -> str:
        return self.onnx.fingerprint()

    def embed_text(self, texts, batch_size: int = 64):
        """``N`` texts → L2-normalised ``(N, dim)`` float tensor."""
        import torch

        texts = list(texts)
        if not texts:
            return torch.zeros(0, self.onnx.DIM)
        return torch.from_numpy(np.concatenate([self.onnx.embed_text(texts[i: i + batch_size])
                                                for i in range(0, len(texts), batch_size)]))

    def embed_audio_batch(self, wavs, sr: int, batch_size: int = 8):
        """Recordings of any length → ``(B, dim)``: windowed, embedded and averaged by real
        samples exactly as :meth:`MuLan.embed_audio_batch` does."""
        import torch

        from lyrebird.encoders import chunk, prepare_waveform
        from lyrebird.encoders.pooling import weighted_mean

        rate = self.audio.sample_rate
        chunks = [chunk(prepare_waveform(w, sr, rate), rate, self.window_s, last="pad")
                  for w in wavs]
        if not chunks:
            return torch.zeros(0, self.onnx.DIM)
        windows = np.concatenate([c.audio for c in chunks])
        valid = np.concatenate([c.valid for c in chunks])
        owner = np.concatenate([np.full(len(c), i) for i, c in enumerate(chunks)])
        e = self.onnx.embed_windows(windows, valid, batch_size)
        return weighted_mean(e, valid, owner=owner, n=len(chunks), normalize=True)

    def prompt_embeddings(self, tags, templates=(DEFAULT_TEMPLATE,)):
        """As :meth:`MuLan.prompt_embeddings`: each tag in every template, averaged."""
        import torch.nn.functional as F

        key = (tuple(tags), tuple(templates))
        if key not in self._prompts:
            texts = [tpl.format(tag) for tag in tags for tpl in templates]
            e = self.embed_text(texts).reshape(len(tags), len(templates), -1)
            self._prompts[key] = F.normalize(e.mean(1), dim=-1)
        return self._prompts[key]


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def load_onnx_model(spec: str) -> OnnxMuLan:
    """``"onnx:DIR"`` (fp32) or ``"onnx-int8:DIR"`` (int8 text tower) → :class:`OnnxMuLan`."""
    kind, _, path = spec.partition(":")
    if kind not in ("onnx", "onnx-int8") or not path:
        raise ValueError(f"model {spec!r}: expected 'onnx:DIR' or 'onnx-int8:DIR'")
    return OnnxMuLan(path, int8="text" if kind == "onnx-int8" else "none", name=spec)
