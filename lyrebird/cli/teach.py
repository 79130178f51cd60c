"""``lyrebird teach MANIFEST``: add the teacher taggers' labels to a manifest."""

from __future__ import annotations

from pathlib import Path

import click

from lyrebird.cli._common import ConfigDefault, emit, json_option

_CFG = "lyrebird.train.teachers.annotate:TeachConfig"


@click.command("teach")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the labelled manifest here (default: update MANIFEST in place).")
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
def teach_cmd(manifest: Path, out: Path | None, teachers: str, threshold: float, part_rows: int,
              max_seconds: float | None, as_json: bool) -> None:
    """Label every clip of MANIFEST with offline teacher taggers (musicnn ports).

    Adds teacher_probs (per-tag probabilities of each teacher), teacher_tags (tags above the
    threshold; estimates, never ground truth) and teacher_source. Resumable: run it again
    after an interruption.
    """
    from lyrebird.train.teachers.annotate import TeachConfig, annotate_manifest

    names = tuple(t.strip() for t in teachers.split(",") if t.strip())
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
