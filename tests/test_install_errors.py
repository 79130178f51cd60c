"""Missing pieces of an install fail with what to install, not a bare import or pandas error:
FAISS (no extra chosen), FluidSynth or its soundfont (the demo corpus), and a build in which
every item failed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from lyrebird.cli import main
from lyrebird.train.corpora import demo_corpus
from lyrebird.train.corpora.demo_corpus import DemoConfig, build_demo_corpus
from lyrebird.train.corpora.render import RenderError

NO_FAISS = "import sys; sys.modules['faiss'] = None  # what an install without the extra sees\n"


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_FAISS + code], capture_output=True,
                          text=True, timeout=120)


def test_missing_faiss_names_the_extra_to_install(tmp_path):
    res = python("from lyrebird.index import Library")
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: FAISS is not installed")
    assert '.[cpu]' in last and '.[gpu]' in last
    cli = python(f"from lyrebird.cli import main; main(['index', 'info', {str(tmp_path)!r}])")
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    assert 'pip install -e ".[cpu]"' in cli.stderr


def test_missing_fluidsynth_says_which_debian_packages(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # pyfluidsynth or libfluidsynth absent
    cfg = DemoConfig(clips=4, workers=1, probes=False)
    with pytest.raises(RenderError, match="apt-get install fluidsynth fluid-soundfont-gm"):
        build_demo_corpus(tmp_path / "demo", cfg)
    res = CliRunner().invoke(main, ["data", "demo", "--out", str(tmp_path / "cli"), "--clips",
                                    "4", "--workers", "1", "--no-probes"])
    assert res.exit_code == 1 and "fluidsynth fluid-soundfont-gm" in res.output
    assert "KeyError" not in res.output


def test_missing_soundfont_says_which_debian_packages(tmp_path, monkeypatch):
    from lyrebird.train.corpora import render

    monkeypatch.delenv("LYREBIRD_SOUNDFONT", raising=False)
    monkeypatch.setattr(render, "SOUNDFONT_CANDIDATES", (str(tmp_path / "none.sf2"),))
    with pytest.raises(RenderError, match="apt-get install fluidsynth fluid-soundfont-gm"):
        build_demo_corpus(tmp_path / "demo", DemoConfig(clips=4, workers=1, probes=False))


def test_a_build_where_every_item_fails_names_the_first_reasons(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_corpus, "_worker_init", lambda *a: None)
    monkeypatch.setattr(demo_corpus, "run_task", lambda t, out, cfg: {
        "rows": [], "skipped": [{"source": t.source, "collection": t.collection,
                                 "reason": "RenderError: no synthesiser"}]})
    with pytest.raises(ValueError, match=r"every item failed .*first reasons: .*no synthesiser"):
        build_demo_corpus(tmp_path / "demo", DemoConfig(clips=4, workers=1, probes=False))
