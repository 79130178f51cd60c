"""``lyrebird demo``: the README's main job.

Until the library and UI land, the demo is a smoke run of the audio stack: it renders a short
synthetic piece, writes it in every supported container, decodes each file back, and computes
the model front-ends on it, reporting what it did.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
import numpy as np

from lyrebird.cli import main
from lyrebird.cli._common import emit, json_option


def _render(sr: int, seconds: float):
    """A deterministic stereo arpeggio ``(T, 2)`` float32 at ``sr`` Hz."""
    t = np.arange(int(sr * seconds)) / sr
    notes = [261.63, 329.63, 392.0, 523.25]
    idx = (t * 4).astype(int) % len(notes)
    f = np.asarray(notes)[idx]
    env = np.exp(-3 * (t * 4 % 1.0))
    phase = 2 * np.pi * np.cumsum(f) / sr
    left = 0.4 * env * np.sin(phase)
    right = 0.4 * env * np.sin(2 * phase) * 0.5 + 0.3 * left
    return np.stack([left, right], axis=1).astype(np.float32)


def smoke(out_dir: Path, seconds: float = 6.0) -> dict:
    """Write, decode and featurise a generated clip; returns a JSON-ready report."""
    import soundfile as sf
    import torch

    from lyrebird.encoders import MEL_PRESETS, MelFrontend, audio_info, load_audio

    out_dir.mkdir(parents=True, exist_ok=True)
    sr = 44100
    stereo = _render(sr, seconds)
    formats = {"wav": ("WAV", "PCM_16", sr), "flac": ("FLAC", "PCM_24", sr),
               "ogg": ("OGG", "VORBIS", sr), "opus": ("OGG", "OPUS", 48000),
               "mp3": ("MP3", "MPEG_LAYER_III", sr)}
    from lyrebird.encoders import resample

    files = {}
    for ext, (fmt, sub, rate) in formats.items():
        data = stereo if rate == sr else np.stack(
            [resample(stereo[:, c], sr, rate) for c in range(2)], axis=1)
        path = out_dir / f"arpeggio.{ext}"
        sf.write(path, data, rate, format=fmt, subtype=sub)
        files[ext] = path
    rows = {}
    for ext, path in files.items():
        info = audio_info(path)
        row = {"file": str(path), "native_sr": info.sample_rate, "channels": info.channels,
               "duration_s": round(info.duration_s, 3)}
        for name, cfg in MEL_PRESETS.items():
            wav = load_audio(path, cfg.sample_rate)
            with torch.inference_mode():
                feats = MelFrontend(cfg)(torch.from_numpy(wav))
            row[name] = {"samples": len(wav), "features": list(feats.shape[1:]),
                         "frame_rate_hz": cfg.frame_rate}
        rows[ext] = row
    return {"out_dir": str(out_dir), "decoded": rows}





@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the generated files (default: a temporary folder).")
@json_option
def demo(out_dir: Path | None, as_json: bool) -> None:
    """Run the end-to-end demo (for now: a smoke run of audio I/O and mel front-ends)."""
    if out_dir is None:
        out_dir = Path(tempfile.mkdtemp(prefix="lyrebird-demo-"))
    rep = smoke(out_dir)
    lines = [f"Lyrebird smoke demo: wrote and decoded a generated clip in {rep['out_dir']}"]
    for ext, row in rep["decoded"].items():
        feats = ", ".join(f"{k} {tuple(row[k]['features'])} @ {row[k]['frame_rate_hz']:g} Hz"
                          for k in ("myna", "muq"))
        lines.append(f"  {ext:5s} {row['native_sr']:>6d} Hz x{row['channels']} "
                     f"{row['duration_s']:6.2f} s -> {feats}")
    lines.append("OK")
    emit(rep, as_json, "\n".join(lines))
