"""Layout: each top-level folder is a ``lyrebird`` subpackage, in editable and wheel installs.

The wheel is built from the source tree (the files a clone has, plus new ones not ignored) and
must hold exactly its modules and package data; installed into a fresh venv it runs
``lyrebird eval real --help`` and imports :mod:`lyrebird.train.realeval` from site-packages.
"""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ["encoders", "mulan", "index", "ui", "train"]


def test_pyproject_maps_each_folder_and_pins_torch():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pkg_dir = meta["tool"]["setuptools"]["package-dir"]
    for sub in SUBPACKAGES:
        assert pkg_dir[f"lyrebird.{sub}"] == sub
        assert (ROOT / sub / "__init__.py").is_file()
    # no hand-written lists that could drift: setup.py derives packages and data from the tree
    assert "packages" not in meta["tool"]["setuptools"]
    assert "package-data" not in meta["tool"]["setuptools"]
    assert "torch==2.13.0" in meta["project"]["dependencies"]
    extras = meta["project"]["optional-dependencies"]
    assert {"dev", "gpu", "bench"} <= set(extras)
    assert any(d.startswith("faiss-gpu") for d in extras["gpu"])


def test_editable_install_resolves_to_the_source_folders():
    import lyrebird.encoders
    import lyrebird.train

    assert Path(lyrebird.encoders.__file__).parent == ROOT / "encoders"
    assert Path(lyrebird.train.__file__).parent == ROOT / "train"


def source_files() -> list[str]:
    """Tracked files and new files git does not ignore, relative to the repository root."""
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the source tree's file list is unknown")
    return sorted(p for p in out.decode().split("\0") if p and (ROOT / p).is_file())


def expected_wheel_files(files: list[str]) -> set[str]:
    """Where each source file of a mapped folder lands in the wheel (``encoders/x`` →
    ``lyrebird/encoders/x``); modules only inside packages, data anywhere below one."""
    roots = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    by_folder = sorted(((folder, name) for name, folder in roots.items()),
                       key=lambda fn: -len(fn[0]))  # the deepest mapping wins
    out = set()
    for f in files:
        hit = next(((d, n) for d, n in by_folder if f.startswith(d + "/")), None)
        if hit is None:
            continue
        folder, name = hit
        rel = Path(f).relative_to(folder)
        if not (ROOT / folder / "__init__.py").is_file():  # a namespace (beetsplug): its modules
            if len(rel.parts) == 1 and f.endswith(".py"):
                out.add(str(Path(*name.split("."), rel).as_posix()))
            continue
        if f.endswith(".py"):  # a module: its folder and every folder up to the root are packages
            parents = [Path(folder, *rel.parts[:i]) for i in range(len(rel.parts))]
            if not all((ROOT / p / "__init__.py").is_file() for p in parents):
                continue
        out.add(str(Path(*name.split("."), rel).as_posix()))
    return out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_wheel_ships_the_source_tree_and_runs_from_a_fresh_venv(tmp_path):
    from importlib.metadata import version

    assert int(version("setuptools").split(".")[0]) >= 77, "setuptools>=77 (the dev extra) builds it"
    files = source_files()
    src = tmp_path / "src"  # build from a copy: no build/ or egg-info races in the checkout
    for f in files:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(wheels), str(src)], check=True, cwd=tmp_path)
    (whl,) = wheels.glob("lyrebird-*.whl")
    names = {n for n in zipfile.ZipFile(whl).namelist() if not n.endswith("/")}
    shipped = {n for n in names if not n.split("/")[0].endswith(".dist-info")}
    expected = expected_wheel_files(files)
    assert "lyrebird/train/realeval/__init__.py" in expected  # the one a hand list once missed
    assert "lyrebird/train/teachers/checkpoints/musicnn/LICENSE" in expected
    assert shipped - expected == set(), "the wheel ships files the source tree does not have"
    assert expected - shipped == set(), "the wheel misses modules or package data"
    assert "beetsplug/lyrebird.py" in shipped and "beetsplug/__init__.py" not in shipped
    assert all(n.startswith(("lyrebird/", "beetsplug/")) for n in shipped)

    # a fresh venv: the wheel in its own site-packages, the dependencies read from this one's
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # a plain path line: this venv's .pth files (the editable install's finder) stay unread
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                    "--no-index", "-q", str(whl)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run = subprocess.run([venv / "bin" / "lyrebird", "eval", "real", "--help"], cwd=tmp_path,
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "Usage: lyrebird eval real" in run.stdout
    code = ("import importlib.resources as r, lyrebird, lyrebird.train.realeval as e; "
            "print(lyrebird.__file__); print(e.__file__); "
            "print(r.files('lyrebird.mulan') / 'checkpoints/default/model.safetensors')")
    out = subprocess.run([py, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    paths = [Path(p) for p in out.stdout.split()]
    assert all(p.is_relative_to(purelib) and p.is_file() for p in paths), paths


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)|<(https?://[^>]+)>")


def test_readme_is_short_and_runs_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = next(line.strip() for line in ci.splitlines() if "pytest" in line
                    and not line.lstrip().startswith("#"))
    assert test_cmd in readme  # .ci/run calls exactly the README's test command
    assert ".ci/setup && .venv/bin/lyrebird demo" in readme


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_doc_links_stay_inside_the_repository_and_resolve(doc):
    text = doc.read_text()
    outside = [u for u in re.findall(r"[a-z]+://[^\s)>`'\"]+", text)
               if not re.match(r"https?://(localhost|127\.0\.0\.1)[:/]", u)]
    assert outside == [], f"{doc.name} names addresses outside the repository"
    for m in LINK.finditer(text):
        target = m.group(1) or m.group(2)
        assert not re.match(r"[a-z]+://", target) or re.match(
            r"https?://(localhost|127\.0\.0\.1)[:/]", target), f"{doc.name} links out: {target}"
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#")[0]
        assert (doc.parent / path).exists(), f"{doc.name}: broken link {target}"
