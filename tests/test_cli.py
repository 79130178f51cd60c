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

    import lyrebird.ui
    from lyrebird.index import Library

    served = []
    monkeypatch.setattr(lyrebird.ui, "serve", lambda lib, config, **kw: served.append(
        (lib, {"host": config.host, **kw})))
    args = ["demo", "--data", str(tmp_path / "d"), "--clips", "6",
            "--model", "py:tone_model:ToneModel", "--no-real", "--json"]
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

    from lyrebird.demo import open_current

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


def test_importing_the_cli_imports_no_torch():
    """`lyrebird --help` stays fast: the verbs import their packages inside the commands."""
    code = ("import sys, lyrebird.cli; "
            "print(sorted(m for m in ('torch', 'lightning', 'pandas', 'gradio', 'faiss') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def _defaults(cmd: click.Command) -> dict:
    ctx = click.Context(cmd)
    return {p.name: p.get_default(ctx) for p in cmd.params}


def test_option_defaults_are_the_config_defaults():
    """Each default is stated once, in the config dataclass the option fills."""
    from dataclasses import asdict

    from lyrebird.cli.train import RUN_OPTIONS, MelRVQRun
    from lyrebird.demo import DemoSettings
    from lyrebird.encoders.myna import MynaConfig
    from lyrebird.mulan.config import MuLanConfig
    from lyrebird.train.probes.options import ProbeOptions
    from lyrebird.train.trainers.mulan_data import MuLanDataConfig
    from lyrebird.train.trainers.run_config import RunConfig
    from lyrebird.train.trainers.tag_head import TagHeadTrainConfig
    from lyrebird.ui.config import MIB, Limits, ServeConfig

    train = main.commands["train"].commands
    run = asdict(RunConfig())
    for verb in ("myna", "mulan", "muq"):  # the common options; other settings take --set
        got = _defaults(train[verb])
        assert {k: got[k] for k in RUN_OPTIONS} == {k: run[k] for k in RUN_OPTIONS}, verb
    rvq = _defaults(train["melrvq"])
    assert {k: rvq[k] for k in ("steps", "batch_frames", "lr")} == {
        k: getattr(MelRVQRun(), k) for k in ("steps", "batch_frames", "lr")}
    assert _defaults(train["tag-head"])["epochs"] == TagHeadTrainConfig().epochs
    # --print-config with no settings prints the dataclass defaults
    d = json.loads(CliRunner().invoke(main, ["train", "mulan", "--print-config"]).output)
    assert {k: d[k] for k in ("dim", "loss", "tau")} == {"dim": MuLanConfig().dim,
                                                         "loss": MuLanConfig().loss,
                                                         "tau": MuLanConfig().tau}
    assert d["tag_caption_p"] == MuLanDataConfig().tag_caption_p and d["lr"] == run["lr"]
    d = json.loads(CliRunner().invoke(main, ["train", "myna", "--print-config"]).output)
    assert {k: d[k] for k in ("patch", "mask_ratio", "tau")} == {
        "patch": MynaConfig().patch, "mask_ratio": MynaConfig().mask_ratio,
        "tau": MynaConfig().tau}
    probe, popts = _defaults(main.commands["probe"]), ProbeOptions()
    for name in ("grid", "layers", "baselines", "max_epochs", "patience", "halving"):
        assert probe[name] == getattr(popts, name), name
    serve, scfg, lim = _defaults(main.commands["serve"]), ServeConfig(), Limits()
    assert (serve["host"], serve["port"], serve["concurrency"]) == (scfg.host, scfg.port,
                                                                    scfg.concurrency)
    assert serve["max_upload_mb"] * MIB == lim.max_upload_bytes
    assert serve["max_upload_s"] == lim.max_upload_s
    demo, dset = _defaults(main.commands["demo"]), DemoSettings()
    assert (demo["data_dir"], demo["clips"], demo["model"], demo["real"]) == (
        dset.data_dir, dset.clips, dset.model, dset.real)
    assert _defaults(main.commands["demo"])["port"] == serve["port"]


def test_verbs_register_in_one_place_and_never_import_the_root():
    """`lyrebird.cli` adds every verb; no verb module imports `lyrebird.cli` (or `main`) back."""
    import ast

    import lyrebird.cli as cli

    root = Path(cli.__file__).parent
    bad = []
    for path in sorted(root.glob("*.py")):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = {a.name for a in node.names}
                if node.module == "lyrebird.cli" or (node.level and not node.module) or (
                        "main" in names and (node.level or "lyrebird.cli" in (node.module or ""))):
                    bad.append(f"{path.name}: from {node.module or '.'} import {names}")
            elif isinstance(node, ast.Import):
                bad += [f"{path.name}: import {a.name}" for a in node.names
                        if a.name == "lyrebird.cli"]
            elif isinstance(node, ast.Name) and node.id == "main":
                bad.append(f"{path.name}: uses 'main'")
    assert not bad, bad
    assert set(main.commands.values()) == set(cli.VERBS)
