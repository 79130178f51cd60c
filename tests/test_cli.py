"""The ``lyrebird`` command: one click tree, --help everywhere, --json output."""

from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

from lyrebird.cli import main


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


def test_demo_smoke_json(tmp_path):
    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert set(rep["decoded"]) == {"wav", "flac", "ogg", "opus", "mp3"}
    for row in rep["decoded"].values():
        assert row["channels"] == 2 and abs(row["duration_s"] - 6.0) < 0.1
        assert row["myna"]["features"][0] == 128 and row["muq"]["features"][0] == 512
        assert abs(row["muq"]["features"][1] - 6.0 * 25) <= 1


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
