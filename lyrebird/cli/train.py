"""``lyrebird train <model>``: pretraining and fine-tuning runs (Lightning, in ``train/``).

Options cover the common few (data, output, steps, batch size, learning rate, devices, seed,
resume); every other setting is a field of the verb's config dataclasses, set with
``--config FILE.json`` and ``--set KEY=VALUE`` (:mod:`lyrebird.cli._train_config`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from lyrebird.cli._common import LazyChoice, emit, json_option
from lyrebird.cli._train_config import (
    config_options,
    epilog,
    need,
    print_settings,
    resolve,
)
from lyrebird.cli.train_tag_head import train_tag_head_cmd
from lyrebird.cli.train_tag_student import train_tag_student_cmd
from lyrebird.mulan.config import MuLanConfig
from lyrebird.train.trainers.run_config import RunConfig

# The RunConfig fields that are options (→ help text); the others are --set only.
_RUN_HELP: dict[str, str] = {
    "max_steps": "Optimizer steps.",
    "batch_size": "Examples per step per device.",
    "lr": "Peak learning rate.",
    "devices": "Devices per node (an int, or 'auto').",
    "num_nodes": "Nodes (multi-node DDP).",
    "strategy": "Lightning strategy, e.g. 'ddp' (gloo on CPU, NCCL on GPU).",
    "accelerator": "cpu, gpu or auto.",
    "seed": "Seed of initialisation, batches and masks.",
}
RUN_OPTIONS: tuple[str, ...] = tuple(_RUN_HELP)
"""The :class:`RunConfig` settings that have an option (``--max-steps``…)."""


def _devices(ctx: click.Context, param: click.Parameter, value: str) -> int | str:
    return int(value) if value.isdigit() else value


def run_options(f: Callable) -> Callable:
    """The common trainer options: one per :data:`RUN_OPTIONS` field of :class:`RunConfig`
    (its default shown), and ``--no-resume``."""
    opts = []
    for name, help_ in _RUN_HELP.items():
        default = getattr(RunConfig(), name)
        kw: dict = {"default": default, "help": help_, "show_default": True,
                    "type": type(default)}
        if name == "devices":
            kw.update(type=str, callback=_devices)
        opts.append(click.option("--" + name.replace("_", "-"), **kw))
    opts.append(click.option("--no-resume", is_flag=True,
                             help="Start over even if OUT has a checkpoint."))
    for o in reversed(opts):
        f = o(f)
    return f


@dataclass(frozen=True)
class MynaBatches:
    """How ``train myna`` builds batches (``train_myna``'s ``group_by``/``group_size``).

    Attributes:
        group_by: manifest column (e.g. ``instrument_family``): build each batch from runs of
            clips sharing its value, as hard negatives; ``None``: uniform batches.
        group_size: clips per run of one group; divides the batch size.
    """

    group_by: str | None = None
    group_size: int = 32


@dataclass(frozen=True)
class MelRVQRun:
    """Optimisation of ``train melrvq`` (see ``MelRVQ.fit``).

    Attributes:
        steps: optimizer steps.
        batch_frames: 25 Hz frames per step.
        lr: Adam learning rate.
        restart_every: re-seed codewords unused for this many steps (0 = never).
    """

    steps: int = 2000
    batch_frames: int = 4096
    lr: float = 1e-3
    restart_every: int = 10


@click.group()
def train() -> None:
    """Train models: self-supervised encoders, tokenizers, MuLan and its tag head.

    Every verb takes --config FILE.json, --set KEY=VALUE and --print-config for the settings
    that have no option of their own."""


train.add_command(train_tag_head_cmd)
train.add_command(train_tag_student_cmd)


_DATA_HELP = ("Manifest (parquet/CSV) or folder of audio; repeat to combine sources "
              "(required unless --print-config).")


@train.command("myna", epilog=epilog(
    "MynaConfig (patch, mask_ratio, tau, proj_hidden, transpose, …), MynaBatches (group_by, "
    "group_size: hard-negative batches) and RunConfig (warmup_steps, val_every, …)."))
@click.option("--data", multiple=True, type=click.Path(exists=True, path_type=Path),
              help=_DATA_HELP)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (checkpoints, logs, exported model). Default "
                   "runs/myna-SIZE-PATCH.")
@click.option("--preset", type=click.Choice(["tiny", "small", "base"]), default="small",
              show_default=True,
              help="Model size (base = ViT-S/16, 22 M parameters); the patch kind is the "
                   "setting patch (square, vertical, hybrid or vit1d; default hybrid).")
@click.option("--fp16-export", is_flag=True, help="Store exported weights in fp16 (shipping).")
@run_options
@config_options
@json_option
@click.pass_context
def train_myna_cmd(ctx: click.Context, data: tuple[Path, ...], out_dir: Path | None,
                   preset: str, fp16_export: bool, as_json: bool, no_resume: bool,
                   print_config: bool, **_: object) -> None:
    """Pretrain a Myna encoder (contrastive, 90 % token masking) on a manifest or folder."""
    from lyrebird.encoders.myna import MynaConfig, myna_config

    got = resolve(ctx, {"model": myna_config(f"{preset}-{MynaConfig().patch}"),
                        "batches": MynaBatches(), "run": RunConfig()}, RUN_OPTIONS)
    if print_config:
        return print_settings(got)
    need(ctx, "data")
    from lyrebird.train.trainers.myna_module import train_myna

    cfg, batches = got["model"], got["batches"]
    name = f"{preset}-{cfg.patch}"
    out_dir = out_dir or Path("runs") / f"myna-{name}"
    export = train_myna(list(data), out_dir, cfg, got["run"], preset=name,
                        resume=not no_resume, fp16_export=fp16_export,
                        group_by=batches.group_by, group_size=batches.group_size)
    if export is not None:  # DDP: only rank 0 reports
        emit({"model": str(export), "run_dir": str(out_dir)}, as_json,
             f"exported {export} (load it with get_encoder('{export}'))")


@train.command("mulan", epilog=epilog(
    "MuLanConfig (audio.*, text.*, dim, loss, tau, learn_tau, dropout), MuLanDataConfig "
    "(tag_caption_p, max_windows, teacher, teacher_weight, …) and RunConfig (warmup_steps, "
    "weight_decay, val_every, …)."))
@click.option("--data", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Manifest (parquet/CSV) with captions (and tags); trains on its train split. "
                   "Repeat to combine corpora (e.g. the real corpus and the demo corpus; "
                   "required unless --print-config).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (checkpoints, logs, exported model). Default runs/mulan.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Feature cache root (default: .cache next to the manifest).")
@click.option("--fp16-export", is_flag=True, help="Store exported weights in fp16 (shipping).")
@run_options
@config_options
@json_option
@click.pass_context
def train_mulan_cmd(ctx: click.Context, data: tuple[Path, ...], out_dir: Path | None,
                    cache_dir: Path | None, fp16_export: bool, as_json: bool, no_resume: bool,
                    print_config: bool, **_: object) -> None:
    """Train a MuLan two-tower music–text model (DCL) on a captioned manifest.

    E.g. --set audio.encoder=myna-real --set audio.pooling=meanstd --set text.n_layers=0
    --set tag_caption_p=0.4."""
    from lyrebird.train.trainers.mulan_data import MuLanDataConfig

    got = resolve(ctx, {"model": MuLanConfig(), "data": MuLanDataConfig(), "run": RunConfig()},
                  RUN_OPTIONS)
    if print_config:
        return print_settings(got)
    need(ctx, "data")
    from lyrebird.train.trainers.mulan_module import train_mulan

    out_dir = out_dir or Path("runs") / "mulan"
    export = train_mulan(list(data), out_dir, got["model"], got["run"], got["data"],
                         resume=not no_resume, fp16_export=fp16_export, cache_dir=cache_dir)
    if export is not None:  # DDP: only rank 0 reports
        emit({"model": str(export), "run_dir": str(out_dir)}, as_json,
             f"exported {export} (load it with MuLan.load('{export}'))")


@train.command("muq", epilog=epilog(
    "the preset's MuQConfig (tokenizer.*, backbone.*, objective.*, clip_s, mel.*) and "
    "RunConfig (warmup_steps, val_every, …)."))
@click.option("--data", multiple=True, type=click.Path(exists=True, path_type=Path),
              help=_DATA_HELP)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (tokenizer, checkpoints, logs, exported model). "
                   "Default runs/PRESET.")
@click.option("--preset", type=LazyChoice("lyrebird.encoders.muq:presets", "FAMILY-SIZE"),
              default="muq-small",
              show_default=True,
              help="FAMILY-SIZE: muq (Mel-RVQ), omar (4 random codebooks), omar-fsq, brn-sum / "
                   "brn-att / cnf-sum (seed 001); sizes tiny, small, base, large. Its config "
                   "is the settings' defaults (e.g. --set tokenizer.kind=random for BEST-RQ "
                   "targets of the same shape, --set backbone.mixer=summary).")
@click.option("--tokenizer", "tokenizer_dir", default=None,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A fitted tokenizer directory (from 'lyrebird train melrvq').")
@click.option("--tokenizer-steps", default=2000, show_default=True,
              help="Steps to fit a Mel-RVQ when no --tokenizer is given.")
@click.option("--iter-from", default=None, type=click.Path(exists=True, path_type=Path),
              help="Iterative refinement: a trained 'muq' model whose layer latents are "
                   "quantized for the targets (MuQ_iter).")
@click.option("--iter-layer", default=None, type=int,
              help="Hidden state of --iter-from to quantize (MuQ used layer 10 of 12).")
@click.option("--fp16-export", is_flag=True, help="Store exported weights in fp16 (shipping).")
@run_options
@config_options
@json_option
@click.pass_context
def train_muq_cmd(ctx: click.Context, data: tuple[Path, ...], out_dir: Path | None, preset: str,
                  tokenizer_dir: Path | None, tokenizer_steps: int, iter_from: Path | None,
                  iter_layer: int | None, fp16_export: bool, as_json: bool, no_resume: bool,
                  print_config: bool, **_: object) -> None:
    """Pretrain a masked-token-prediction encoder (MuQ, OMAR-RQ-like, Branchformer)."""
    from lyrebird.encoders.muq import muq_config

    if (iter_from is None) != (iter_layer is None):
        raise click.UsageError("--iter-from and --iter-layer go together")
    got = resolve(ctx, {"model": muq_config(preset), "run": RunConfig()}, RUN_OPTIONS)
    if tokenizer_dir is not None:
        from lyrebird.encoders.tokenizer_io import load_tokenizer
        tok = load_tokenizer(tokenizer_dir).cfg
        got["model"] = dataclasses.replace(got["model"], tokenizer=dataclasses.replace(
            tok, path=str(tokenizer_dir)))
    if print_config:
        return print_settings(got)
    need(ctx, "data")
    from lyrebird.train.trainers.muq_module import train_muq

    out_dir = out_dir or Path("runs") / preset
    export = train_muq(list(data), out_dir, got["model"], got["run"], preset=preset,
                       resume=not no_resume, fp16_export=fp16_export,
                       tokenizer_steps=tokenizer_steps, iter_from=iter_from,
                       iter_layer=iter_layer)
    emit({"model": str(export), "run_dir": str(out_dir)}, as_json,
         f"exported {export} (load it with get_encoder('{export}'))")


_RVQ = MelRVQRun()


@train.command("melrvq", epilog=epilog(
    "TokenizerConfig (num_codebooks, codebook_size, codebook_dim, seed, …) and MelRVQRun "
    "(steps, batch_frames, lr, restart_every: re-seed codewords unused for this many steps, "
    "0 = never)."))
@click.option("--data", multiple=True, type=click.Path(exists=True, path_type=Path),
              help=_DATA_HELP)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/melrvq"), show_default=True, help="Tokenizer directory.")
@click.option("--steps", default=_RVQ.steps, show_default=True, help="Optimizer steps.")
@click.option("--batch-frames", default=_RVQ.batch_frames, show_default=True,
              help="25 Hz frames per step.")
@click.option("--lr", default=_RVQ.lr, show_default=True, help="Adam learning rate.")
@click.option("--seed", default=0, show_default=True,
              help="Seed of the initialisation and the batches.")
@click.option("--encoder", default=None, type=click.Path(exists=True, path_type=Path),
              help="Iterative refinement: fit on the latents of this trained 'muq' model.")
@click.option("--layer", default=None, type=int, help="Hidden state of --encoder to quantize.")
@config_options
@json_option
@click.pass_context
def train_melrvq_cmd(ctx: click.Context, data: tuple[Path, ...], out_dir: Path,
                     encoder: Path | None, layer: int | None, as_json: bool, print_config: bool,
                     **_: object) -> None:
    """Fit a Mel-RVQ tokenizer (MuQ) and report codebook utilisation and perplexity."""
    from lyrebird.encoders.tokenizers import TokenizerConfig

    if (encoder is None) != (layer is None):
        raise click.UsageError("--encoder and --layer go together")
    got = resolve(ctx, {"model": TokenizerConfig(kind="melrvq", num_codebooks=8,
                                                 codebook_size=1024, codebook_dim=16),
                        "run": _RVQ}, ("steps", "batch_frames", "lr", "seed"))
    if print_config:
        return print_settings(got)
    need(ctx, "data")
    from lyrebird.encoders.mel import MEL_PRESETS
    from lyrebird.train.trainers.melrvq import format_report, train_melrvq

    cfg, run = got["model"], got["run"]
    rep = train_melrvq(list(data), out_dir, cfg, MEL_PRESETS["muq"], steps=run.steps,
                       batch_frames=run.batch_frames, lr=run.lr,
                       restart_every=run.restart_every, encoder=encoder, layer=layer,
                       seed=cfg.seed)
    rep = {k: v for k, v in rep.items() if k != "history"} | {"tokenizer": str(out_dir)}
    emit(rep, as_json, format_report(rep) + f"\nsaved {out_dir}")
