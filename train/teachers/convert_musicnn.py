"""One-time conversion of the musicnn TF1 checkpoints to safetensors (run in a TensorFlow venv).

Not part of the runtime: nothing in Lyrebird imports this module, and TensorFlow is imported
lazily inside :func:`main`. It reads the four checkpoints shipped in the ``musicnn==0.1.0`` wheel
(ISC licence), drops the optimizer state (Adam slots, ``beta*_power``), renames and transposes the
variables to the PyTorch layout of :mod:`lyrebird.train.teachers.musicnn`, and writes
``checkpoints/musicnn/<NAME>.safetensors`` plus ``checkpoints/musicnn/<NAME>.json``.

Usage (see ``checkpoints/musicnn/README.md`` for building the TF venv)::

    TF_USE_LEGACY_KERAS=1 /work/tfenv/bin/python train/teachers/convert_musicnn.py \
        --dtype auto
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

OUT_DIR = Path(__file__).resolve().parent / "checkpoints" / "musicnn"
MODELS = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")


# TF variable scope (creation order in musicnn/models.py) -> torch module prefix.
MUSICNN_CONVS = {  # tf conv2d name -> (torch prefix, kind)
    "conv2d": ("front.timbral.0.conv", "conv2d"),     # [7, 38] timbral
    "conv2d_1": ("front.timbral.1.conv", "conv2d"),   # [7, 67] timbral
    "conv2d_2": ("front.temporal.0.conv", "conv2d"),  # [128, 1] temporal
    "conv2d_3": ("front.temporal.1.conv", "conv2d"),  # [64, 1] temporal
    "conv2d_4": ("front.temporal.2.conv", "conv2d"),  # [32, 1] temporal
    "conv2d_5": ("mid.0.conv", "conv1d"),             # [7, 561] -> 64
    "conv2d_6": ("mid.1.conv", "conv1d"),
    "conv2d_7": ("mid.2.conv", "conv1d"),
    "dense": ("back.dense", "dense"),
    "dense_1": ("back.out", "dense"),
}
MUSICNN_BNS = {
    "batch_normalization": "front.input_bn",
    "batch_normalization_1": "front.timbral.0.bn",
    "batch_normalization_2": "front.timbral.1.bn",
    "batch_normalization_3": "front.temporal.0.bn",
    "batch_normalization_4": "front.temporal.1.bn",
    "batch_normalization_5": "front.temporal.2.bn",
    "batch_normalization_6": "mid.0.bn",
    "batch_normalization_7": "mid.1.bn",
    "batch_normalization_8": "mid.2.bn",
    "batch_normalization_9": "back.pool_bn",
    "batch_normalization_10": "back.dense_bn",
}
VGG_CONVS = {f"{i}CNN": (f"blocks.{i - 1}.conv", "conv2d") for i in range(1, 6)}
VGG_CONVS["dense"] = ("out", "dense")
VGG_BNS = {"batch_normalization": "input_bn"}
VGG_BNS.update({f"batch_normalization_{i}": f"blocks.{i - 1}.bn" for i in range(1, 6)})

BN_FIELDS = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
             "moving_variance": "running_var"}


def convert_tensors(tf_vars: dict[str, np.ndarray], family: str) -> dict[str, np.ndarray]:
    """Rename and transpose TF variables (no optimizer slots) to the torch state dict."""
    convs, bns = (MUSICNN_CONVS, MUSICNN_BNS) if family == "musicnn" else (VGG_CONVS, VGG_BNS)
    out: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for tf_name, (prefix, kind) in convs.items():
        k, b = tf_vars[f"{tf_name}/kernel"], tf_vars[f"{tf_name}/bias"]
        used |= {f"{tf_name}/kernel", f"{tf_name}/bias"}
        if kind == "conv2d":  # [kh, kw, in, out] -> [out, in, kh, kw]
            w = k.transpose(3, 2, 0, 1)
        elif kind == "conv1d":  # [k, in_features, 1, out] -> [out, in_features, k]
            w = k[:, :, 0, :].transpose(2, 1, 0)
        else:  # dense [in, out] -> [out, in]
            w = k.T
        out[f"{prefix}.weight"] = np.ascontiguousarray(w)
        out[f"{prefix}.bias"] = b
    for tf_name, prefix in bns.items():
        for tf_field, torch_field in BN_FIELDS.items():
            out[f"{prefix}.{torch_field}"] = tf_vars[f"{tf_name}/{tf_field}"]
            used.add(f"{tf_name}/{tf_field}")
    left = sorted(set(tf_vars) - used)
    if left:
        raise SystemExit(f"unmapped TF variables: {left}")
    return out


def read_checkpoint(tf, ckpt_dir: Path) -> dict[str, np.ndarray]:
    """All model variables of a TF1 checkpoint as float32 arrays, optimizer state dropped."""
    reader = tf.compat.v1.train.NewCheckpointReader(str(ckpt_dir) + "/")
    names = reader.get_variable_to_shape_map()
    return {n: np.asarray(reader.get_tensor(n), dtype=np.float32) for n in sorted(names)
            if "Adam" not in n and not n.startswith(("beta1_power", "beta2_power"))}


def import_original_musicnn():
    """Import the pip ``musicnn`` package, not the port next to this script (same name)."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    import musicnn

    if Path(musicnn.__file__).resolve().parent == here:
        raise SystemExit("imported the port instead of the original musicnn package")
    return musicnn


def storage_dtype(value: np.ndarray, dtype: str) -> np.ndarray:
    """Cast one torch-layout tensor for storage.

    ``mixed``: conv/dense kernels in float16, except the convs that read the (1-channel) input
    spectrogram, whose float16 rounding errors add up coherently (up to 7e-4 in tag
    probability); those, biases and batch-norm vectors stay float32 (max error ≈ 2e-4).
    """
    if dtype == "mixed":
        first_conv = value.ndim == 4 and value.shape[1] == 1
        dtype = "float16" if value.ndim >= 2 and not first_conv else "float32"
    return value.astype(dtype)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--dtype", default="auto", choices=["auto", "mixed", "float16", "float32"],
                    help="storage dtype (the port computes in float32). mixed: kernels in "
                         "float16 except the first convs; auto: float32 for the musicnn "
                         "models (float16 rounding anywhere in them moves real-music window "
                         "probabilities by up to 1e-3), mixed for vgg (<= 2e-4)")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    musicnn = import_original_musicnn()
    import musicnn.configuration as mcfg
    import tensorflow as tf
    from safetensors.numpy import save_file

    assert (mcfg.SR, mcfg.FFT_SIZE, mcfg.FFT_HOP, mcfg.N_MELS) == (16000, 512, 256, 96)
    src_root = Path(musicnn.__file__).resolve().parent
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        family = "vgg" if name.endswith("_vgg") else "musicnn"
        ckpt = src_root / name
        tf_vars = read_checkpoint(tf, ckpt)
        n_params = int(sum(v.size for v in tf_vars.values()))
        tensors = convert_tensors(tf_vars, family)
        dtype = args.dtype if args.dtype != "auto" else (
            "float32" if family == "musicnn" else "mixed")
        tensors = {k: storage_dtype(v, dtype) for k, v in tensors.items()}
        for k, v in tensors.items():
            if not np.isfinite(v).all():
                raise SystemExit(f"{name}.{k} overflows {v.dtype}; use --dtype float32")
        st_path = args.out / f"{name}.safetensors"
        save_file(tensors, str(st_path), metadata={"source": f"musicnn==0.1.0/{name}",
                                                   "format": "lyrebird-musicnn-v1"})
        st_path.chmod(0o644)
        train_cfg = json.loads((ckpt / "config.json").read_text())
        arch = ({"family": "musicnn", "n_mels": 96, "n_frames": 187, "num_filt_frontend": 1.6,
                 "num_filt_midend": 64, "num_units_backend": 200, "num_classes": 50,
                 "bn_eps": 0.001}
                if family == "musicnn" else
                {"family": "vgg", "n_mels": 96, "n_frames": 187, "num_filters": 128,
                 "num_classes": 50, "bn_eps": 0.001})
        card = {
            "format_version": 1,
            "name": name,
            "architecture": arch,
            "frontend": {"sample_rate": 16000, "n_fft": 512, "hop_length": 256, "n_mels": 96,
                         "window": "hann", "center": True, "pad_mode": "reflect",
                         "mel_norm": "slaney", "mel_htk": False, "log": "log10(10000*x+1)",
                         "window_frames": 187, "window_hop_frames": 187},
            "dataset": "MagnaTagATune" if name.startswith("MTT") else "Million Song Dataset",
            "tags": list(mcfg.MTT_LABELS if name.startswith("MTT") else mcfg.MSD_LABELS),
            "n_params": n_params,
            "storage_dtype": dtype,
            "source": {"package": "musicnn", "version": "0.1.0", "checkpoint": name,
                       "url": "https://github.com/jordipons/musicnn",
                       "data_sha256": sha256(ckpt / ".data-00000-of-00001"),
                       "index_sha256": sha256(ckpt / ".index"),
                       "train_config": {k: train_cfg[k] for k in
                                        ("model_number", "n_frames", "pre_processing",
                                         "pad_short", "batch_size", "learning_rate",
                                         "optimizer") if k in train_cfg}},
            "authors": "Jordi Pons and Xavier Serra (Music Technology Group, UPF)",
            "license": "ISC",
            "citation": "Pons, J. and Serra, X. (2019). musicnn: pre-trained convolutional "
                        "neural networks for music audio tagging. ISMIR late-breaking demo.",
        }
        (args.out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
        print(f"{name}: {len(tensors)} tensors, {n_params} params, "
              f"{st_path.stat().st_size / 1e6:.2f} MB ({dtype}) -> {st_path}")


if __name__ == "__main__":
    main()
