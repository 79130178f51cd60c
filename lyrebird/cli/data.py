"""``lyrebird data``: build, import, check and summarise datasets (manifests)."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import click

from lyrebird.cli._common import ConfigDefault, emit, json_option

_DEMO = "lyrebird.train.corpora.demo_corpus:DemoConfig"
_IMPORT = "lyrebird.train.corpora.importer:ImportConfig"
_DEMO_MANIFEST = ConfigDefault("lyrebird.train.corpora:DEFAULT_DEMO_MANIFEST", convert=Path)


@click.group()
def data() -> None:
    """Datasets: the demo corpus, folder import, manifest validation and summaries."""


@data.command("demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=ConfigDefault("lyrebird.train.corpora.demo_corpus:DEFAULT_OUT"),
              show_default=True, help="Output folder (manifest.parquet, audio/, probes/).")
@click.option("--clips", type=click.IntRange(1), default=ConfigDefault(_DEMO, "clips"),
              show_default=True, help="Number of 10 s clips.")
@click.option("--seed", type=int, default=ConfigDefault(_DEMO, "seed"), show_default=True,
              help="Random seed.")
@click.option("--workers", type=click.IntRange(1), default=ConfigDefault(_DEMO, "workers"),
              show_default=True, help="Worker processes.")
@click.option("--clip-seconds", "clip_s", type=click.FloatRange(1.0, 60.0),
              default=ConfigDefault(_DEMO, "clip_s"), show_default=True,
              help="Clip length in seconds.")
@click.option("--sample-rate", type=click.Choice(["22050", "44100"]),
              default=ConfigDefault(_DEMO, "sample_rate", convert=str), show_default=True,
              help="Sample rate of the FLAC files (Hz).")
@click.option("--soundfont", type=click.Path(dir_okay=False), default=None,
              help="GM soundfont (.sf2); default: $LYREBIRD_SOUNDFONT or fluid-soundfont-gm.")
@click.option("--no-probes", is_flag=True, help="Skip the probe tasks.")
@click.option("--pitch-instruments", type=click.IntRange(0),
              default=ConfigDefault(_DEMO, "pitch_instruments"), show_default=True,
              help="Instruments rendered for the single-note pitch probe task.")
@click.option("--force", is_flag=True, help="Rebuild even if OUT holds another build.")
@json_option
def demo_cmd(out: Path, clips: int, seed: int, workers: int, clip_s: float, sample_rate: str,
             soundfont: str | None, no_probes: bool, pitch_instruments: int, force: bool,
             as_json: bool) -> None:
    """Build the rendered music–text demo corpus (resumable; cached when complete)."""
    from lyrebird.train.corpora.demo_corpus import DemoConfig, build_demo_corpus
    from lyrebird.train.corpora.render import RenderError

    cfg = DemoConfig(clips=clips, seed=seed, workers=workers, clip_s=clip_s,
                     sample_rate=int(sample_rate), soundfont=soundfont, probes=not no_probes,
                     pitch_instruments=pitch_instruments)
    try:
        rep = build_demo_corpus(out, cfg, force=force)
    except (ValueError, RenderError) as err:
        raise click.ClickException(str(err)) from err
    d = asdict(rep)
    human = (f"{'cached: ' if rep.cached else ''}{rep.clips} clips from {rep.works} works in "
             f"{rep.seconds:.0f} s → {rep.manifest}\n"
             f"collections: {rep.collections}\nsplits: {rep.splits}\n"
             f"skipped: {len(rep.skipped)} {rep.skipped_reasons}")
    if rep.probes:
        human += "\nprobe tasks: " + ", ".join(f"{k} ({v.get('rows')} rows)"
                                             for k, v in rep.probes.items())
    emit(d, as_json, human)


@data.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "manifest", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Manifest to write (.parquet or .csv).")
@click.option("--clip-seconds", "clip_s", type=click.FloatRange(1.0), default=None,
              help="Cut files into consecutive clips of this length (default: one row per file).")
@click.option("--min-seconds", type=click.FloatRange(0.0),
              default=ConfigDefault(_IMPORT, "min_duration_s"), show_default=True,
              help="Leave out files shorter than this.")
@click.option("--keep-duplicates", is_flag=True, help="Also list files whose content repeats.")
@click.option("--no-verify", is_flag=True, help="Skip the decode check of each file.")
@click.option("--absolute", is_flag=True, help="Write absolute paths.")
@json_option
def import_cmd(folder: Path, manifest: Path, clip_s: float | None, min_seconds: float,
               keep_duplicates: bool, no_verify: bool, absolute: bool, as_json: bool) -> None:
    """Turn a folder of audio (recursively) into a manifest, with a per-file error report."""
    from lyrebird.train.corpora.importer import ImportConfig, import_folder

    cfg = ImportConfig(clip_s=clip_s, min_duration_s=min_seconds,
                       keep_duplicates=keep_duplicates, verify=not no_verify,
                       absolute_paths=absolute)
    rep = import_folder(folder, manifest, cfg)
    lines = [f"{rep.imported} of {rep.audio_files} audio files imported "
             f"({rep.total_duration_s / 3600:.2f} h, {rep.rows} rows) → {rep.manifest}",
             f"{len(rep.errors)} errors, {len(rep.duplicates)} duplicates, "
             f"{rep.ignored} non-audio files ignored"]
    lines += [f"  error: {e['path']}: {e['error']}" for e in rep.errors[:50]]
    lines += [f"  duplicate: {d['path']} = {d['duplicate_of']}" for d in rep.duplicates[:50]]
    emit(asdict(rep), as_json, "\n".join(lines))


@data.command("validate")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--check-files", is_flag=True, help="Also check that every audio file exists.")
@json_option
def validate_cmd(manifest: Path, check_files: bool, as_json: bool) -> None:
    """Check a manifest against the schema; names each bad row. Exit 1 when invalid."""
    from lyrebird.train.corpora.manifest import ManifestError, format_problems, validate_manifest

    try:
        problems = validate_manifest(manifest, check_files=check_files)
    except ManifestError as err:
        raise click.ClickException(str(err)) from err
    res = {"manifest": str(manifest), "valid": not problems, "problems": len(problems),
           "details": [asdict(p) for p in problems]}
    emit(res, as_json, f"{manifest}: valid" if not problems else
         f"{manifest}: {len(problems)} problems\n{format_problems(problems)}")
    if problems:
        sys.exit(1)


@data.command("summary")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path),
                default=_DEMO_MANIFEST)
@click.option("--top", type=click.IntRange(1), default=25, show_default=True,
              help="Rows shown per table.")
@json_option
def summary_cmd(manifest: Path, top: int, as_json: bool) -> None:
    """Clip counts per split, collection, instrument and tag."""
    from lyrebird.train.corpora.manifest import ManifestError
    from lyrebird.train.corpora.summary import format_summary, summarize

    try:
        s = summarize(manifest)
    except ManifestError as err:
        raise click.ClickException(str(err)) from err
    emit(s, as_json, format_summary(s, top=top))


@data.command("probes")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=_DEMO_MANIFEST)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the task manifests (default: probes/ beside MANIFEST).")
@click.option("--pitch-instruments", type=click.IntRange(0),
              default=ConfigDefault(_DEMO, "pitch_instruments"), show_default=True,
              help="Instruments rendered for the pitch task (0: skip it).")
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
def probes_cmd(manifest: Path, out: Path | None, pitch_instruments: int, seed: int,
               as_json: bool) -> None:
    """(Re)build the offline probe tasks from a demo-corpus manifest."""
    from lyrebird.train.corpora.probe_tasks import build_probe_tasks

    info = build_probe_tasks(manifest, out or manifest.parent / "probes", seed=seed,
                             pitch_instruments=pitch_instruments)
    emit(info, as_json, "\n".join(
        f"{k}: {v.get('rows')} rows, splits {v.get('splits')}" + (
            f", {v['classes']} classes" if "classes" in v else "") for k, v in info.items()))


@data.command("debian-music")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data/debian-music"), show_default=True,
              help="Output folder (audio/, parts/, manifest.parquet, build.json).")
@click.option("--install", "do_install", is_flag=True,
              help="apt-get install the packages that are missing (root).")
@click.option("--large", is_flag=True,
              help="Also the large packages (naev, supertuxkart, widelands, berusky2, 0ad, "
                   "unknown-horizons, megaglest; 0.2-1.3 GB each).")
@click.option("--package", "packages", multiple=True,
              help="Only this package (repeatable; names from the corpus list).")
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True,
              help="Worker processes.")
@click.option("--clip-seconds", "clip_s", type=click.FloatRange(1.0), default=None,
              help="Cut tracks into consecutive clips (default: one row per track).")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Manifest to write (default: OUT/manifest.parquet).")
@json_option
def debian_music_cmd(out: Path, do_install: bool, large: bool, packages: tuple[str, ...],
                     workers: int, clip_s: float | None, manifest: Path | None,
                     as_json: bool) -> None:
    """Build the real-recording corpus from Debian's game-music packages (resumable)."""
    from lyrebird.train.corpora.debian_corpus import DebianConfig, build_debian_corpus

    cfg = DebianConfig(large=large, packages=packages, install=do_install, workers=workers,
                       clip_s=clip_s)
    try:
        rep = build_debian_corpus(out, cfg, manifest=manifest)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    lines = [f"{rep.tracks} tracks, {rep.hours:.2f} h ({rep.hours_music:.2f} h without "
             f"ambience, {rep.hours_unique:.2f} h counting repeats once; flagged "
             f"{rep.hours_flagged}), {rep.rows} rows in {rep.timing.get('total_s')} s "
             f"→ {rep.manifest} (valid: {rep.valid})",
             "splits: " + ", ".join(f"{k} {v['hours']:.2f} h / {v['tracks']} tracks"
                                    for k, v in rep.per_split.items()),
             f"skipped {len(rep.skipped)}, duplicates {len(rep.duplicates)}, flagged "
             f"{len(rep.flagged)}, stems left out {rep.stems_left_out}; report: "
             f"{Path(rep.out) / 'build.json'}"]
    lines += [f"  {k}: {v.get('tracks', 0)} tracks, {v.get('hours', 0):.2f} h"
              for k, v in rep.packages.items()]
    if rep.missing:
        lines.append(f"missing packages: {' '.join(rep.missing)} (install: {rep.install_hint})")
    emit(asdict(rep), as_json, "\n".join(lines))


@data.command("caption")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here (default: update MANIFEST in place; required with --windows).")
@click.option("--windows", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Window labels of MANIFEST ('lyrebird teach MANIFEST --windows "
              "--out DIR'): write one row per 10 s window of each train track instead, "
              "captioned from that window's own teacher tags.")
@json_option
def caption_cmd(manifest: Path, out: Path | None, windows: Path | None, as_json: bool) -> None:
    """Compose en/de/fr/es captions for a real-recording manifest from its own text (genre,
    title, artist, album) and its teacher tags (run `lyrebird teach` first), each with its
    source; the test split gets file captions only."""
    if windows is not None:
        from lyrebird.train.corpora.window_captions import window_manifest

        if out is None:
            raise click.UsageError("--windows writes a new manifest: give --out FILE")
        counts = window_manifest(manifest, windows, out)
    else:
        from lyrebird.train.corpora.real_captions import caption_manifest

        counts = caption_manifest(manifest, out)
    emit(counts, as_json, ", ".join(f"{k}: {v}" for k, v in counts.items()))
