"""``lyrebird export <format>``: models for other tools (sentence-transformers, ONNX, the hub)."""

from __future__ import annotations

from pathlib import Path

import click

from lyrebird.cli._common import emit, json_option, user_errors
from lyrebird.core.model_spec import SPEC_HELP

_model = click.option("--model", default="default", show_default=True,
                      help=f"MuLan to export: {SPEC_HELP}.")
_out = click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
                    help="Folder to write.")


def _errors() -> tuple[type[BaseException], ...]:
    return (ValueError, FileNotFoundError, ImportError, RuntimeError)


@click.group("export")
def export_group() -> None:
    """Write a model for other tools: sentence-transformers, ONNX, the Hugging Face hub."""


@export_group.command("st")
@_model
@_out
@json_option
def export_st_cmd(model: str, out: Path, as_json: bool) -> None:
    """The text tower as a sentence-transformers folder (SentenceTransformer(OUT).encode)."""
    from lyrebird.mulan.exports import export_st

    with user_errors(*_errors()):
        rep = export_st(model, out)
    emit(rep, as_json, f"wrote {rep['out']}: SentenceTransformer('{rep['out']}').encode(texts) "
                       f"→ {rep['dim']}-d, prompt {rep['prompt']!r}")


@export_group.command("onnx")
@_model
@_out
@click.option("--text/--no-text", default=True, show_default=True, help="Export the text tower.")
@click.option("--audio/--no-audio", default=True, show_default=True,
              help="Export the audio tower (mel front-end included).")
@click.option("--int8", is_flag=True, help="Also write int8 dynamically quantised graphs.")
@json_option
def export_onnx_cmd(model: str, out: Path, text: bool, audio: bool, int8: bool,
                    as_json: bool) -> None:
    """Both towers as ONNX graphs for onnxruntime (serve with --model onnx:OUT)."""
    from lyrebird.mulan.exports import export_onnx_spec

    with user_errors(*_errors()):
        rep = export_onnx_spec(model, out, text, audio, int8)
    lines = [f"wrote {rep['out']}: {', '.join(sorted(rep['files'].values()))}"]
    lines += [f"  {k}: cosine to PyTorch (fp32) ≥ {v['min_cosine_fp32']:.6f}"
              for k, v in rep["parity"].items()]
    emit(rep, as_json, "\n".join(lines))


@export_group.command("hub")
@_model
@click.option("--repo-id", required=True, help="Hugging Face repository, owner/name.")
@click.option("--results", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Evaluation report (JSON of `lyrebird eval mulan --json`) for the card.")
@click.option("--private", is_flag=True, default=None, help="Create the repository private.")
@json_option
def export_hub_cmd(model: str, repo_id: str, results: str | None, private: bool | None,
                   as_json: bool) -> None:
    """Upload a model (MuLan with a generated card, or an encoder checkpoint folder)."""
    from lyrebird.mulan.exports import push

    with user_errors(*_errors()):
        rep = push(model, repo_id, results, private)
    emit(rep, as_json, f"uploaded {model} to {repo_id}: {rep['commit']}")
