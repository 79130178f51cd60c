"""The ``lyrebird`` command: one click tree, --help everywhere, --json output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from lyrebird.cli import main
from lyrebird.index import Library


def _walk(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, (*prefix, name))


def test_console_script_lists_every_verb():
    out = subprocess.run([sys.executable, "-m", "lyrebird", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for verb in main.commands:
        assert verb in out
    assert "bench" in main.commands and "demo" in main.commands


def test_every_command_has_help():
    runner = CliRunner()
    paths = list(_walk(main))
    assert len(paths) >= 3
    for path, cmd in paths:
        res = runner.invoke(main, [*path, "--help"])
        assert res.exit_code == 0, (path, res.output)
        assert "Usage:" in res.output and (cmd.help or "").split("\n")[0][:20] in res.output


def test_unknown_verb_fails_with_usage():
    res = CliRunner().invoke(main, ["frobnicate"])
    assert res.exit_code != 0 and "No such command" in res.output


def test_demo_builds_a_titled_library_then_serves(tmp_path, monkeypatch):
    import pandas as pd

    import lyrebird.cli.demo as demo_mod
    from lyrebird.index import Library

    served = []
    monkeypatch.setattr(demo_mod, "run_server", lambda lib, **kw: served.append((lib, kw)))
    args = ["demo", "--data", str(tmp_path / "d"), "--clips", "6",
            "--model", "py:tone_model:ToneModel", "--json"]
    res = CliRunner().invoke(main, [*args, "--no-serve"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["corpus"]["clips"] == 6 and rep["corpus"]["tagged"] == 6
    assert rep["library"]["tracks"] == 6 and rep["library"]["added"] == 6 and not served
    man = pd.read_parquet(tmp_path / "d" / "manifest.parquet")
    from tone_model import ToneModel

    with Library.open(tmp_path / "d" / "library", model=ToneModel(), readonly=True) as lib:
        titles = {Path(r.path).name: r.title for r in lib.tracks()}
    want = {Path(p).name: t if isinstance(t, str) else c.replace("_", " ")
            for p, t, c in zip(man.path, man.title, man.collection, strict=True)}
    assert titles == want
    again = CliRunner().invoke(main, [*args, "--port", "0"], catch_exceptions=False)
    rep2 = json.loads(again.stdout)  # cached corpus, nothing re-tagged or re-added
    assert rep2["corpus"]["cached"] and rep2["corpus"]["tagged"] == 0
    assert rep2["library"]["added"] == 0 and rep2["library"]["duplicates"] == 6
    (lib_path, kw), = served
    assert lib_path == tmp_path / "d" / "library" and kw["host"] == "127.0.0.1" and kw["examples"]


def test_demo_migrates_a_library_built_by_an_older_default(ui_library, tmp_path):
    """A cached demo library from an older shipped model is re-embedded, never refused."""
    import shutil

    from tone_model import ToneModel

    from lyrebird.cli.demo import open_current

    path = tmp_path / "lib"
    shutil.copytree(ui_library, path)
    with Library.open(path, model=ToneModel(), readonly=True) as lib:
        before = {r.id: r.path for r in lib.tracks()}
    newer = ToneModel(salt=0.5)
    lib, n = open_current(path, newer)
    with lib:
        assert n == len(before) and lib.meta["fingerprint"] == newer.fingerprint()
        assert {r.id: r.path for r in lib.tracks()} == before
        hit = lib.search("tone at 880 Hz", k=1)[0]
        assert hit.path.endswith("tone880.flac")
    lib, n = open_current(path, newer)
    lib.close()
    assert n == 0


def test_bench_frontend_reports_ratios_and_agreement():
    res = CliRunner().invoke(main, ["bench", "frontend", "--preset", "myna", "--seconds", "2",
                                    "--batch", "1", "--repeats", "1", "--json"])
    assert res.exit_code == 0, res.output
    (rep,) = json.loads(res.output)
    names = set(rep["results"])
    assert {"lyrebird (torch.stft)", "nnAudio MelSpectrogram", "librosa"} <= names
    for r in rep["results"].values():
        assert r["seconds"] > 0 and r["lyrebird_speedup"] > 0
        assert r["max_rel_err_vs_lyrebird"] < 1e-4  # all candidates compute the same thing
