"""Regenerate ``tests/fixtures/musicnn_reference.npz`` from the ORIGINAL musicnn (TF venv only).

Not part of the runtime: nothing in Lyrebird imports this module; TensorFlow, librosa and musicnn
are imported lazily inside :func:`main`. The clips are synthesised deterministically here (tones,
chords, drum-like hits, noise bursts; no third-party audio), written as 16-bit WAV files and tagged
by ``musicnn.extractor.extractor`` itself, with one fix: its ``batch_data`` casts the mel power to
float16 before ``log10(10000 * x + 1)``, which overflows to inf on ordinary loud audio. The
replacement below is the original function with that cast removed (float32) and librosa's STFT
padding pinned to ``pad_mode="reflect"`` (librosa < 0.10's default, which musicnn 0.1.0 used;
librosa 0.10 changed it to ``"constant"``). The unfixed float16 output of one clip is kept too.

Usage::

    TF_USE_LEGACY_KERAS=1 /work/tfenv/bin/python train/teachers/make_musicnn_fixture.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

SR = 16000
OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "musicnn_reference.npz"
MODELS = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")


def _env(n: int, attack: float, decay: float) -> np.ndarray:
    t = np.arange(n) / SR
    return np.minimum(t / attack, 1.0) * np.exp(-t / decay)


def _tone(f0: float, n: int, partials: int = 6, decay: float = 0.6) -> np.ndarray:
    t = np.arange(n) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t + 0.3 * k) / k**1.3 for k in range(1, partials + 1))
    return x * _env(n, 0.005, decay)


def clip_chords(seconds: float = 6.0) -> np.ndarray:
    """Piano-like additive tones: C, Am, F, G chords (0.75 s each) over a bass note, ~0.5 peak."""
    n = int(SR * seconds)
    out = np.zeros(n)
    chords = [(261.63, 329.63, 392.0), (220.0, 261.63, 329.63), (174.61, 220.0, 261.63),
              (196.0, 246.94, 293.66)]
    step = int(0.75 * SR)
    for i, start in enumerate(range(0, n, step)):
        ch = chords[i % 4]
        m = min(n - start, int(1.5 * SR))
        for f in ch:
            out[start:start + m] += _tone(f, m)
        out[start:start + m] += 0.8 * _tone(ch[0] / 2, m, partials=3, decay=0.9)
    return 0.5 * out / np.abs(out).max()


def clip_drums(seconds: float = 6.0, seed: int = 1) -> np.ndarray:
    """Loud 120 bpm drum pattern (kick sweep, snare, hi-hat noise) over a saw bass, ~0.95 peak."""
    rng = np.random.default_rng(seed)
    n = int(SR * seconds)
    out = np.zeros(n)
    beat = SR // 2
    for b, start in enumerate(range(0, n, beat // 2)):  # eighth notes
        m = min(n - start, beat)
        t = np.arange(m) / SR
        if b % 4 == 0:  # kick: 120 -> 45 Hz sweep
            f = 45 + 75 * np.exp(-t / 0.03)
            out[start:start + m] += 1.2 * np.sin(2 * np.pi * np.cumsum(f) / SR) * _env(m, 1e-3, 0.15)
        if b % 4 == 2:  # snare: noise + 190 Hz body
            out[start:start + m] += (0.6 * rng.standard_normal(m)
                                     + 0.5 * np.sin(2 * np.pi * 190 * t)) * _env(m, 1e-3, 0.08)
        hat = np.diff(rng.standard_normal(m + 1))  # crude high-pass
        out[start:start + m] += 0.25 * hat * _env(m, 5e-4, 0.02)
    t = np.arange(n) / SR
    bass_f = np.where((t // 1.0) % 2 == 0, 55.0, 73.42)
    saw = 2 * ((np.cumsum(bass_f) / SR) % 1.0) - 1
    out += 0.35 * saw
    return 0.95 * np.tanh(out) / np.abs(np.tanh(out)).max()


def clip_texture(seconds: float = 3.0, seed: int = 2) -> np.ndarray:
    """Band-passed noise bursts and a rising sine sweep (200 Hz -> 4 kHz), ~0.7 peak."""
    rng = np.random.default_rng(seed)
    n = int(SR * seconds)
    t = np.arange(n) / SR
    sweep = np.sin(2 * np.pi * (200 * t + (3800 / (2 * seconds)) * t**2)) * 0.4
    noise = rng.standard_normal(n)
    spec = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(n, 1 / SR)
    spec *= np.exp(-0.5 * ((freqs - 1500) / 600) ** 2)
    bursts = np.fft.irfft(spec, n)
    gate = ((t * 4) % 1.0 < 0.3).astype(float)
    out = sweep + 3.0 * bursts / np.abs(bursts).max() * gate * 0.3
    return 0.7 * out / np.abs(out).max()


CLIPS = {
    "chords": (clip_chords, "synthetic: additive piano-like C-Am-F-G chords, 6 s, peak 0.5"),
    "drums": (clip_drums, "synthetic: loud drum pattern + saw bass, 6 s, peak 0.95"),
    "texture": (clip_texture, "synthetic: band-passed noise bursts + sine sweep, 3 s, peak 0.7"),
}


def import_original_extractor():
    """Import the pip ``musicnn`` package, not the port next to this script (same name)."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    import musicnn.configuration as config
    import musicnn.extractor as mx

    if Path(mx.__file__).resolve().parent == here:
        raise SystemExit("imported the port instead of the original musicnn package")
    return config, mx


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import librosa
    import soundfile as sf
    import tensorflow as tf

    config, mx = import_original_extractor()
    original_batch_data = mx.batch_data

    def batch_data_float32(audio_file, n_frames, overlap):
        """musicnn.extractor.batch_data without the float16 cast (and reflect STFT padding)."""
        audio, sr = librosa.load(audio_file, sr=config.SR)
        audio_rep = librosa.feature.melspectrogram(
            y=audio, sr=sr, hop_length=config.FFT_HOP, n_fft=config.FFT_SIZE,
            n_mels=config.N_MELS, pad_mode="reflect").T
        audio_rep = audio_rep.astype(np.float32)  # was: np.float16 (overflows to inf)
        audio_rep = np.log10(10000 * audio_rep + 1)
        last_frame = audio_rep.shape[0] - n_frames + 1
        batch = np.stack([audio_rep[t:t + n_frames] for t in range(0, last_frame, overlap)])
        return batch, audio_rep

    data: dict[str, np.ndarray] = {"sr": np.int64(SR)}
    names = list(CLIPS)
    data["clip_names"] = np.array(names)
    data["clip_sources"] = np.array([CLIPS[k][1] for k in names])
    data["meta"] = np.array([f"musicnn==0.1.0, tensorflow=={tf.__version__}, "
                             f"librosa=={librosa.__version__}, numpy=={np.__version__}; "
                             "batch_data patched: float32 mel, pad_mode=reflect"])
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, name in enumerate(names):
            x = CLIPS[name][0]()
            pcm = np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)
            data[f"clip_{i}"] = pcm
            p = Path(tmp) / f"{name}.wav"
            sf.write(str(p), pcm, SR, subtype="PCM_16")
            paths.append(str(p))
        mx.batch_data = batch_data_float32
        for model in MODELS:
            for i, p in enumerate(paths):
                config.BATCH_SIZE = 1  # the original's setting
                taggram, _ = mx.extractor(p, model=model, extract_features=False)
                data[f"{model}__taggram_{i}"] = taggram.astype(np.float32)
                if "musicnn" in model:
                    # extractor() concatenates the FIRST batch's penultimate for every later
                    # batch (a bug of its own), so take all windows in one batch instead
                    config.BATCH_SIZE = 4096
                    tg_all, _, feats = mx.extractor(p, model=model, extract_features=True)
                    assert np.abs(tg_all - taggram).max() < 1e-5
                    data[f"{model}__penultimate_{i}"] = feats["penultimate"].astype(np.float32)
                    config.BATCH_SIZE = 1
        # one overlapping-window run (input_overlap=1.0 s -> a 61-frame hop)
        taggram, _ = mx.extractor(paths[0], model="MTT_musicnn", input_overlap=1.0,
                                  extract_features=False)
        data["MTT_musicnn__taggram_hop1s_0"] = taggram.astype(np.float32)
        # the unfixed original on the loud clip, for the record
        mx.batch_data = original_batch_data
        with np.errstate(over="ignore"):
            taggram, labels = mx.extractor(paths[1], model="MTT_musicnn", extract_features=False)
        data["MTT_musicnn__float16_bug_taggram_1"] = taggram.astype(np.float32)
        top = np.argsort(-taggram.mean(0))[:4]
        print("unfixed float16 original on 'drums':", [labels[j] for j in top])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **data)
    for i, name in enumerate(names):
        for model in MODELS:
            tg = data[f"{model}__taggram_{i}"]
            labels = config.MTT_LABELS if model.startswith("MTT") else config.MSD_LABELS
            top = np.argsort(-tg.mean(0))[:3]
            print(f"{name:8s} {model:12s} windows={len(tg)} "
                  + ", ".join(f"{labels[j]} {tg.mean(0)[j]:.2f}" for j in top))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
