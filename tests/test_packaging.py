"""Layout: each top-level folder is a ``lyrebird`` subpackage, in editable and wheel installs."""

from __future__ import annotations

import os
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
    assert "torch==2.13.0" in meta["project"]["dependencies"]
    extras = meta["project"]["optional-dependencies"]
    assert {"dev", "gpu", "bench"} <= set(extras)
    assert any(d.startswith("faiss-gpu") for d in extras["gpu"])


def test_editable_install_resolves_to_the_source_folders():
    import lyrebird.encoders
    import lyrebird.train

    assert Path(lyrebird.encoders.__file__).parent == ROOT / "encoders"
    assert Path(lyrebird.train.__file__).parent == ROOT / "train"


@pytest.mark.timeout(600)
def test_regular_wheel_install_imports_from_site_packages(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(ROOT)], check=True, cwd=tmp_path)
    (whl,) = wheels.glob("lyrebird-*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    for sub in SUBPACKAGES:
        assert f"lyrebird/{sub}/__init__.py" in names
    assert "lyrebird/encoders/audio.py" in names and "lyrebird/cli/__init__.py" in names
    for ck in ("encoders", "mulan"):  # shipped defaults travel with a wheel install
        assert f"lyrebird/{ck}/checkpoints/default/model.safetensors" in names
        assert f"lyrebird/{ck}/checkpoints/default/config.json" in names
    assert not any(n.startswith(("tests/", "encoders/")) for n in names)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(whl)], check=True)
    code = ("import lyrebird.encoders as e, lyrebird.cli as c; "
            "print(e.__file__); print(c.__file__); e.load_audio")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tmp_path, check=True).stdout.split()
    assert all(Path(p).is_relative_to(target) for p in out), out
