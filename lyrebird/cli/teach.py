"""``lyrebird teach MANIFEST``: add the teacher taggers' labels to a manifest."""

from __future__ import annotations

from pathlib import Path

import click

from lyrebird.cli._common import ConfigDefault, emit, json_option

_CFG = "lyrebird.train.teachers.annotate:TeachConfig"


@click.command("teach")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write the labelled manifest here (default: update MANIFEST in place); "
                   "with --windows, the output folder (required).")
@click.option("--windows", is_flag=True,
              help="Label every ≈3 s window of a split with all four musicnn teachers "
                   "(probabilities + penultimate features, float16 shards; resumable).")
@click.option("--split", default="train", show_default=True,
              help="With --windows: the split to label ('all' for every row).")
@click.option("--copies", default=0, show_default=True,
              help="With --windows: seeded augmented copies per track (gain, EQ tilt, noise, "
                   "speed).")
@click.option("--voice", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
              help="With --copies: probability that a copy also carries a synthetic sung line.")
@click.option("--seed", default=0, show_default=True, help="With --windows: augmentation seed.")
@click.option("--teachers", default=ConfigDefault(_CFG, "teachers", ",".join), show_default=True,
              help="Comma-separated teachers (lyrebird.train.teachers.TEACHERS).")
@click.option("--threshold", type=float, default=ConfigDefault(_CFG, "threshold"),
              show_default=True, help="Probability from which a tag goes into teacher_tags.")
@click.option("--part-rows", type=int, default=ConfigDefault(_CFG, "part_rows"),
              show_default=True, help="Rows per resumable part.")
@click.option("--max-seconds", type=float, default=None,
              help="Analyse at most this many seconds per clip, as evenly spaced 15 s excerpts "
                   "(default: all of it).")
@json_option
def teach_cmd(manifest: Path, out: Path | None, windows: bool, split: str, copies: int,
              voice: float, seed: int, teachers: str, threshold: float, part_rows: int,
              max_seconds: float | None, as_json: bool) -> None:
    """Label every clip of MANIFEST with offline teacher taggers (musicnn ports).

    Adds teacher_probs (per-tag probabilities of each teacher), teacher_tags (tags above the
    threshold; estimates, never ground truth) and teacher_source. Resumable: run it again
    after an interruption.
    """
    from lyrebird.train.teachers.annotate import TeachConfig, annotate_manifest

    names = tuple(t.strip() for t in teachers.split(",") if t.strip())
    if windows:
        _windows(manifest, out, split, copies, voice, seed, teachers, as_json)
        return
    try:
        rep = annotate_manifest(manifest, out, TeachConfig(teachers=names, threshold=threshold,
                                                           part_rows=part_rows,
                                                           max_s=max_seconds))
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    obj = {"out": rep.out, "rows": rep.rows, "labelled": rep.labelled,
           "reused_parts": rep.reused_parts, "failed": rep.failed,
           "audio_hours": round(rep.audio_hours, 3), "seconds": round(rep.seconds, 1),
           "audio_hours_per_hour": round(rep.hours_per_hour, 1)}
    lines = [f"{rep.out}: {rep.labelled}/{rep.rows} clips labelled "
             f"({rep.audio_hours:.2f} h of audio in {rep.seconds:.0f} s, "
             f"{rep.hours_per_hour:.0f} audio hours per hour; {rep.reused_parts} parts reused)"]
    lines += [f"  failed row {f['row']}: {f['path']}: {f['reason']}" for f in rep.failed[:20]]
    emit(obj, as_json, "\n".join(lines))


def _windows(manifest: Path, out: Path | None, split: str, copies: int, voice: float, seed: int,
             teachers: str, as_json: bool) -> None:
    from lyrebird.train.teachers.windows import ALL_TEACHERS, WindowConfig, label_windows

    if out is None:
        raise click.UsageError("--windows needs --out DIR")
    names = tuple(t.strip() for t in teachers.split(",") if t.strip())
    src = click.get_current_context().get_parameter_source("teachers")
    if src is not None and src.name == "DEFAULT":  # the clip-level default: use all four
        names = ALL_TEACHERS
    cfg = WindowConfig(teachers=names, split=None if split == "all" else split,
                       copies=copies, voice=voice, seed=seed)
    try:
        rep = label_windows(manifest, out, cfg)
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    obj = {"out": rep.out, "shards": rep.shards, "written": rep.written, "reused": rep.reused,
           "windows": rep.windows, "audio_hours": round(rep.audio_hours, 3),
           "seconds": round(rep.seconds, 1), "failed": rep.failed}
    lines = [f"{rep.out}: {rep.shards} shards ({rep.written} new, {rep.reused} reused), "
             f"{rep.windows} new windows from {rep.audio_hours:.2f} h in {rep.seconds:.0f} s"]
    lines += [f"  failed row {f['row']}: {f['path']}: {f['reason']}" for f in rep.failed[:20]]
    emit(obj, as_json, "\n".join(lines))
