"""Export MuLan's towers to ONNX (``lyrebird export onnx``) for onnxruntime inference.

The export folder holds:

* ``text.onnx``: ``input_ids``, ``attention_mask`` ``(B, L)`` int64 → L2-normalised
  ``(B, dim)`` — backbone, extra layers, masked mean, projection, normalisation;
* ``audio.onnx``: ``audio (B, window)`` float32 waveform windows at the tower's rate and
  ``valid (B,)`` int64 real samples → L2-normalised ``(B, dim)`` — the mel front-end included:
  its STFT is computed as a convolution with windowed DFT kernels (the same numbers as
  ``torch.stft``), which every ONNX runtime runs;
* ``tokenizer.json``: the backbone's tokenizer (``tokenizers`` format);
* ``*.int8.onnx`` (optional): dynamic int8 quantisation of the weights (onnxruntime);
* ``lyrebird_onnx.json``: what :class:`~lyrebird.mulan.onnx_runtime.OnnxMuLan` needs (prefix,
  max length, rate, window, dim, the source model's fingerprint) and the parity measured at
  export time (cosine to PyTorch, fp32).

Needs ``onnx``, ``onnxscript`` and ``onnxruntime`` (``pip install "lyrebird[onnx]"``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from .model import MuLan

log = logging.getLogger("lyrebird.mulan")

MANIFEST = "lyrebird_onnx.json"
PARITY_TEXTS = ("a calm piano piece", "ein schneller Rocksong mit verzerrter Gitarre",
                "Une valse lente jouée par un quatuor à cordes", "安静的古筝音乐",
                "loud drums, fast, electronic")


ONNX_EXTRA = "pip install 'lyrebird[onnx]'"
"""What installs onnxruntime and the exporter (onnx, onnxscript)."""


class OnnxExportError(RuntimeError):
    """The model could not be exported (a missing package or an untraceable part)."""


class RuntimeUnavailableError(ImportError):
    """onnxruntime (or the exporter) is needed and not installed; the message names
    :data:`ONNX_EXTRA`."""


class TextGraph(nn.Module):
    """Token ids → normalised text vectors, through the Hugging Face backbone module."""

    def __init__(self, model: MuLan):
        super().__init__()
        self.hf = model.text.backbone.model
        self.tower = model.text

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.hf(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return F.normalize(self.tower.head(states, attention_mask.bool()), dim=-1)


class ConvStft(nn.Module):
    """``|STFT|^2`` as a strided convolution with windowed cos/sin kernels (ONNX-friendly),
    for the mel front-end's settings (``center`` with its pad mode)."""

    def __init__(self, mel):
        super().__init__()
        c = mel.cfg
        win = c.win_length or c.n_fft
        window = torch.zeros(c.n_fft, dtype=torch.float64)
        off = (c.n_fft - win) // 2
        window[off: off + win] = torch.hann_window(win, periodic=True, dtype=torch.float64)
        k = torch.arange(c.n_fft // 2 + 1, dtype=torch.float64)[:, None]
        n = torch.arange(c.n_fft, dtype=torch.float64)[None, :]
        ang = 2 * torch.pi * k * n / c.n_fft
        kern = torch.cat([torch.cos(ang) * window, -torch.sin(ang) * window])  # (2F, n_fft)
        self.register_buffer("kernel", kern.float().unsqueeze(1))
        self.n_fft, self.hop, self.center, self.pad_mode = c.n_fft, c.hop_length, c.center, c.pad_mode
        self.power = c.power

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = wav.unsqueeze(1)
        if self.center:
            x = F.pad(x, (self.n_fft // 2, self.n_fft // 2), mode=self.pad_mode)
        ri = F.conv1d(x, self.kernel, stride=self.hop)  # (B, 2F, frames)
        re, im = ri.chunk(2, dim=1)
        mag2 = re.square() + im.square()
        return mag2 if self.power == 2.0 else mag2.pow(self.power / 2.0)


@contextlib.contextmanager
def conv_stft(encoder: nn.Module):
    """Inside the block, every mel front-end of ``encoder`` computes its STFT with
    :class:`ConvStft` (restored after)."""
    patched = []
    for mod in encoder.modules():
        if hasattr(mod, "power_spectrogram") and hasattr(mod, "mel_fb"):
            stft = ConvStft(mod).to(mod.mel_fb.device)
            mod.add_module("_onnx_stft", stft)
            object.__setattr__(mod, "power_spectrogram", stft)  # shadows the method
            patched.append(mod)
    try:
        yield patched
    finally:
        for mod in patched:
            del mod.power_spectrogram
            del mod._onnx_stft


class AudioGraph(nn.Module):
    """Waveform windows and valid lengths → normalised audio vectors."""

    def __init__(self, model: MuLan):
        super().__init__()
        self.tower = model.audio

    def forward(self, audio: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.tower(audio, valid), dim=-1)


def _export(module: nn.Module, args: tuple, path: Path, names: list[str], dynamic: dict,
            output: str) -> None:
    try:
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError as e:
        raise OnnxExportError(f"ONNX export needs onnx and onnxscript: {ONNX_EXTRA}") from e
    for noisy in ("torch.onnx", "onnx_ir", "onnxscript"):  # per-initializer INFO lines, etc.
        logging.getLogger(noisy).setLevel(logging.WARNING if noisy != "torch.onnx" else logging.ERROR)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(module, args, dynamo=True, input_names=names,
                                 output_names=[output], dynamic_shapes=dynamic,
                                 optimize=True, verbose=False)
    prog.save(str(path), external_data=False)


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).min())


def export_text(model: MuLan, out: Path) -> dict[str, Any]:
    """``text.onnx`` + ``tokenizer.json``; returns the parity against PyTorch (fp32)."""
    bb = model.text.backbone
    if getattr(bb, "pooled", False):
        raise OnnxExportError("a sentence-transformers backbone (st:...) is exported with "
                              "'lyrebird export st', not to ONNX")
    enc = bb.tokenize(list(PARITY_TEXTS))
    ids, mask = enc["input_ids"], enc["attention_mask"]
    b, seq = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("seq", min=2, max=8192)
    graph = TextGraph(model).eval()
    _export(graph, (ids, mask), out / "text.onnx", ["input_ids", "attention_mask"],
            {"input_ids": {0: b, 1: seq}, "attention_mask": {0: b, 1: seq}}, "text_vector")
    fast = bb._fast if bb._fast is not None else getattr(bb.tokenizer, "backend_tokenizer", None)
    if fast is None:
        raise OnnxExportError(f"text backbone {bb.name!r} has no fast (tokenizers) tokenizer")
    fast.save(str(out / "tokenizer.json"))
    with torch.no_grad():
        ref = graph(ids, mask).numpy()
    got = _session(out / "text.onnx").run(None, {"input_ids": ids.numpy(),
                                                  "attention_mask": mask.numpy()})[0]
    return {"min_cosine_fp32": _cos(ref, got), "texts": len(PARITY_TEXTS)}


def parity_audio(model: MuLan, n: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` test windows (a tone, noise, a partly silent window) and their valid lengths."""
    w = model.audio.window
    sr = model.audio.sample_rate
    rng = np.random.default_rng(seed)
    t = np.arange(w) / sr
    clips = [0.3 * np.sin(2 * np.pi * 440 * t), 0.1 * rng.standard_normal(w),
             0.2 * np.sin(2 * np.pi * 110 * t) * (t < t[-1] * 0.6)][:n]
    valid = np.array([w, w, int(w * 0.6)][:n], dtype=np.int64)
    return np.stack(clips).astype(np.float32), valid


def export_audio(model: MuLan, out: Path) -> dict[str, Any]:
    """``audio.onnx`` (mel front-end included); returns the parity against PyTorch (fp32)."""
    audio, valid = parity_audio(model)
    graph = AudioGraph(model).eval()
    with torch.no_grad():
        ref = graph(torch.from_numpy(audio), torch.from_numpy(valid)).numpy()
    b = torch.export.Dim("batch", min=1, max=4096)
    with conv_stft(model.audio.encoder):
        with torch.no_grad():
            conv = graph(torch.from_numpy(audio), torch.from_numpy(valid)).numpy()
        _export(graph, (torch.from_numpy(audio), torch.from_numpy(valid)), out / "audio.onnx",
                ["audio", "valid"], {"audio": {0: b}, "valid": {0: b}}, "audio_vector")
    got = _session(out / "audio.onnx").run(None, {"audio": audio, "valid": valid})[0]
    return {"min_cosine_fp32": _cos(ref, got), "conv_stft_vs_torch_stft": _cos(ref, conv),
            "clips": len(audio), "mel_in_graph": True}


def quantize_int8(out: Path, names: tuple[str, ...] = ("text", "audio")) -> list[str]:
    """Dynamic int8 weight quantisation (onnxruntime) of the exported graphs present."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # "consider pre-processing" (no gain for dynamic int8 here)
    try:
        done = _quantize(out, names)
    finally:
        root.setLevel(level)
    return done


def _quantize(out: Path, names: tuple[str, ...]) -> list[str]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    done = []
    for name in names:
        src = out / f"{name}.onnx"
        if src.is_file():
            quantize_dynamic(str(src), str(out / f"{name}.int8.onnx"), weight_type=QuantType.QInt8)
            done.append(f"{name}.int8.onnx")
    return done


def export_onnx(model: MuLan, directory: str | os.PathLike, *, text: bool = True,
                audio: bool = True, int8: bool | tuple[str, ...] = False) -> dict[str, Any]:
    """Export ``model``'s towers into ``directory`` (see the module docstring); returns the
    manifest written to ``lyrebird_onnx.json`` (with the parity measured). ``int8``: also
    quantise both towers (``True``) or those named (``("text",)``)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    bb = model.text.backbone
    manifest: dict[str, Any] = {
        "format": 1, "fingerprint": model.fingerprint(), "dim": int(model.cfg.dim),
        "prefix": bb.prefix, "max_length": int(bb.max_length), "config": None, "files": {},
        "parity": {}}
    if text:
        manifest["parity"]["text"] = export_text(model, out)
        manifest["files"]["text"] = "text.onnx"
    if audio and model.has_audio:
        manifest["parity"]["audio"] = export_audio(model, out)
        manifest["files"]["audio"] = "audio.onnx"
        manifest.update(sample_rate=int(model.audio.sample_rate),
                        window=int(model.audio.window), window_s=float(model.cfg.audio.window_s))
    if int8:
        for f in quantize_int8(out, ("text", "audio") if int8 is True else tuple(int8)):
            manifest["files"][f.replace(".onnx", "").replace(".", "_")] = f
    from lyrebird.core.configs import config_to_dict

    manifest["config"] = config_to_dict(model.cfg)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest
