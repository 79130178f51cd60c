"""``lyrebird bench myna``: masking speed-up, peak memory, embedding throughput, HF ViT parity.

Everything is measured side by side in one run on this machine:

* training samples/s at mask ratio 0.9 versus 0 (same model, same batch) — the Myna paper's
  efficiency claim; the target is ≥ 8.5× at ViT-S/16 with batch 32;
* peak resident memory of each (each in a fresh subprocess, so peaks don't mix);
* embedding throughput in seconds of audio per second;
* forward time of Hugging Face ``ViTModel`` at the same configuration on the same mel input.
"""

from __future__ import annotations

import subprocess
import sys

import torch

from lyrebird.bench.timing import interleaved_medians
from lyrebird.encoders.myna import MynaConfig, MynaEncoder, presets


def _model(preset: str) -> MynaEncoder:
    torch.manual_seed(0)
    return MynaEncoder(presets()[preset])


def _train_step_fn(model: MynaEncoder, batch: int, ratio: float):
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    f = model.cfg.clip_frames
    g = torch.Generator().manual_seed(0)
    v1 = torch.randn(batch, 128, f, generator=g)
    v2 = torch.randn(batch, 128, f, generator=g)

    def step():
        loss, _ = model.contrastive_loss(v1, v2, mask_ratio=ratio)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def peak_rss_kib() -> int:
    """This process's peak resident memory in KiB: ``VmHWM`` where Linux has it (it starts
    afresh at ``execve``; ``ru_maxrss`` does not, so a child launched by a process that already
    peaked high would measure nothing), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def peak_rss_mb_of_train(preset: str, batch: int, ratio: float, steps: int = 2) -> float:
    """Peak RSS (MiB) over the model's own of a fresh process running ``steps`` training steps."""
    code = (f"from lyrebird.bench.myna import _model, _train_step_fn, peak_rss_kib; "
            f"m = _model({preset!r}); s = _train_step_fn(m, {batch}, {ratio}); "
            f"base = peak_rss_kib(); "
            f"[s() for _ in range({steps})]; "
            f"print((peak_rss_kib() - base) / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def bench_myna(preset: str = "base-square", batch: int = 32, repeats: int = 3,
               embed_model: str | None = None, embed_seconds: float = 120.0,
               memory: bool = True) -> dict:
    """Run the benchmark; returns a JSON-ready dict (see the module docstring)."""
    torch.manual_seed(0)
    model = _model(preset).train()
    steps = {r: _train_step_fn(model, batch, r) for r in (0.9, 0.0)}
    t = interleaved_medians({f"r={r}": fn for r, fn in steps.items()}, repeats=repeats)
    train = {k: {"seconds_per_step": v, "samples_per_s": batch / v} for k, v in t.items()}
    speedup = t["r=0.0"] / t["r=0.9"]
    mem = ({k: peak_rss_mb_of_train(preset, batch, r) for k, r in (("r=0.9", 0.9), ("r=0.0", 0.0))}
           if memory else {})
    # embedding throughput
    from lyrebird.encoders import get_encoder

    enc = get_encoder(embed_model or "default") if embed_model != "random" else _model(preset).eval()
    sr = enc.SAMPLE_RATE
    wav = (torch.randn(int(embed_seconds * sr)) * 0.1).numpy()
    enc.embed(wav[: 10 * sr], sr)  # warm-up
    emb_t = interleaved_medians({"embed": lambda: enc.embed(wav, sr)}, repeats=max(1, repeats - 1),
                                warmup=0)["embed"]
    # parity with Hugging Face ViTModel at the same configuration (square patches, unmasked)
    hf = _hf_parity(model.cfg, batch, repeats)
    return {"preset": preset, "batch": batch, "threads": torch.get_num_threads(),
            "train": train, "masking_speedup": speedup, "peak_rss_mb": mem,
            "embed": {"model": embed_model or "default", "seconds_audio": embed_seconds,
                      "realtime_x": embed_seconds / emb_t},
            "hf_vit": hf}


def _hf_parity(cfg: MynaConfig, batch: int, repeats: int) -> dict:
    try:
        from transformers import ViTConfig, ViTModel
    except ImportError:
        return {"skipped": "transformers not installed"}
    ph, pw = cfg.square
    hcfg = ViTConfig(hidden_size=cfg.dim, num_hidden_layers=cfg.depth,
                     num_attention_heads=cfg.heads, intermediate_size=cfg.mlp_dim,
                     image_size=(cfg.mel.n_mels, cfg.clip_frames), patch_size=(ph, pw),
                     num_channels=1, attn_implementation="sdpa")
    torch.manual_seed(0)
    hf = ViTModel(hcfg, add_pooling_layer=False).eval()
    ours = MynaEncoder(MynaConfig(**{**cfg.__dict__, "patch": "square"})).eval()
    ours.set_embed_mode("square")
    mel = torch.randn(batch, cfg.mel.n_mels, cfg.clip_frames)
    with torch.inference_mode():
        t = interleaved_medians({
            "lyrebird": lambda: ours.encode_mel(mel),
            "hf_vit": lambda: hf(pixel_values=mel[:, None]),
        }, repeats=repeats)
    return {"seconds": t, "lyrebird_speedup": t["hf_vit"] / t["lyrebird"],
            "params": {"lyrebird": sum(p.numel() for p in ours.parameters()),
                       "hf_vit": sum(p.numel() for p in hf.parameters())}}


def format_report(r: dict) -> str:
    """Human-readable summary of :func:`bench_myna` output."""
    lines = [f"Myna {r['preset']}, batch {r['batch']}, {r['threads']} threads"]
    for k, v in r["train"].items():
        mem = r["peak_rss_mb"].get(k)
        lines.append(f"  train {k:6s} {v['samples_per_s']:8.1f} samples/s"
                     + ("" if mem is None else f"   peak memory +{mem:7.0f} MiB over the model"))
    lines.append(f"  masking speed-up (r=0.9 vs r=0): {r['masking_speedup']:.1f}x (target >= 8.5x)")
    lines.append(f"  embedding ({r['embed']['model']}): {r['embed']['realtime_x']:.0f}x real time")
    hf = r["hf_vit"]
    if "seconds" in hf:
        lines.append(f"  forward vs HF ViTModel: lyrebird {hf['seconds']['lyrebird'] * 1e3:.1f} ms, "
                     f"HF {hf['seconds']['hf_vit'] * 1e3:.1f} ms -> lyrebird {hf['lyrebird_speedup']:.2f}x")
    return "\n".join(lines)
