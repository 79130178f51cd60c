"""Checkpoint folders on the Hugging Face hub, through ``huggingface_hub``'s file API.

A repository holds one checkpoint folder as it is on disk (``config.json`` +
``model.safetensors`` + ``README.md``), so :func:`download` returns a folder the usual loaders
read, and :func:`upload` sends a folder written by ``save``/``save_pretrained``. Nothing here
talks HTTP itself. With ``HF_HUB_OFFLINE=1`` only repositories already in the local Hugging
Face cache resolve; any other gives a :class:`CheckpointError` that says so.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .checkpoint import CONFIG_NAME, WEIGHTS_NAME, CheckpointError

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
FILES = [CONFIG_NAME, WEIGHTS_NAME, "README.md", "*.png"]
"""What :func:`download` fetches from a repository (a checkpoint folder, its card and plots)."""


def looks_like_repo_id(name: str | os.PathLike) -> bool:
    """``"owner/name"`` that is not an existing local path."""
    s = str(name)
    return bool(_REPO_ID.match(s)) and not Path(s).expanduser().exists()


def download(repo_id: str, revision: str | None = None, token: str | bool | None = None) -> Path:
    """A hub repository's checkpoint folder → its local snapshot (cached by huggingface_hub).

    Raises :class:`CheckpointError` when it cannot be had (offline and not cached, no such
    repository, no network, or no ``config.json`` in it).
    """
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError
    except ImportError as e:  # pragma: no cover - a core dependency of transformers
        raise CheckpointError(f"{repo_id!r}: loading from the hub needs huggingface_hub") from e
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        path = Path(snapshot_download(repo_id, revision=revision, token=token,
                                      allow_patterns=FILES, library_name="lyrebird",
                                      local_files_only=offline))
    except LocalEntryNotFoundError as e:
        raise CheckpointError(
            f"{repo_id!r} is not in the local Hugging Face cache and the hub cannot be reached"
            f"{' (HF_HUB_OFFLINE=1)' if offline else ''}; download it once online, or pass a "
            "local checkpoint directory") from e
    except RepositoryNotFoundError as e:
        raise CheckpointError(f"{repo_id!r}: no such repository on the Hugging Face hub (or it "
                              "is private: log in with `hf auth login`)") from e
    except (OSError, ValueError) as e:  # HTTP errors, bad ids
        raise CheckpointError(f"{repo_id!r}: cannot download from the Hugging Face hub ({e})"
                              ) from e
    if not (path / CONFIG_NAME).is_file():
        raise CheckpointError(f"{repo_id!r}: the repository has no {CONFIG_NAME}; it is not a "
                              "Lyrebird checkpoint")
    return path


def upload(directory: str | os.PathLike, repo_id: str, *, private: bool | None = None,
           token: str | None = None, revision: str | None = None,
           commit_message: str = "Upload Lyrebird checkpoint") -> str:
    """Create ``repo_id`` if needed and upload a checkpoint folder; returns the commit URL."""
    from huggingface_hub import HfApi

    d = Path(directory)
    if not (d / CONFIG_NAME).is_file():
        raise CheckpointError(f"'{d}': not a checkpoint directory (no {CONFIG_NAME})")
    api = HfApi(token=token, library_name="lyrebird")
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(d), repo_id=repo_id, revision=revision,
                             commit_message=commit_message)
    return str(getattr(info, "commit_url", info))


def _metric_rows(results: dict[str, Any], prefix: str = "") -> list[tuple[str, float]]:
    rows: list[tuple[str, float]] = []
    for k, v in results.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, int | float):
            rows.append((prefix + str(k), float(v)))
        elif isinstance(v, dict):
            rows += _metric_rows(v, f"{prefix}{k}/")
    return rows


def model_card(meta: dict[str, Any], *, title: str, summary: list[str],
               results: dict[str, Any] | None = None, notes: str | None = None,
               tags: tuple[str, ...] = ()) -> str:
    """A model card (``README.md`` with hub metadata) from a checkpoint's ``config.json``
    contents, a one-line-per-fact ``summary``, and evaluation ``results`` (nested dicts of
    numbers; the training's own ``final`` metrics are added). ``notes``: text appended (e.g. a
    hand-written card the checkpoint already had)."""
    rows = _metric_rows({"final": meta["final"]}) if isinstance(meta.get("final"), dict) else []
    rows += _metric_rows(results or {})
    front = ["---", "library_name: lyrebird", "tags:",
             *[f"- {t}" for t in ("lyrebird", meta.get("kind", "model"), *tags)], "---"]
    lines = [*front, f"# {title}", "", *[f"- {s}" for s in summary]]
    facts = {k: meta.get(k) for k in ("steps", "data", "dtype", "command") if meta.get(k)}
    if facts:
        lines += ["", "## Training", ""] + [f"- {k}: `{v}`" for k, v in facts.items()]
    if rows:
        lines += ["", "## Evaluation", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" for k, v in rows[:60]]
    lines += ["", "## Configuration", "", "```json",
              json.dumps(meta.get("config", {}), indent=2, default=str), "```", ""]
    if notes:
        lines += ["## Notes", "", notes.strip(), ""]
    return "\n".join(lines)
