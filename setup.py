"""Packages and package data, derived from the source tree so that neither list can drift.

Metadata lives in ``pyproject.toml``; so does ``[tool.setuptools.package-dir]``, which maps each
top-level folder to a ``lyrebird`` subpackage (``encoders/`` → ``lyrebird.encoders``). Every
folder with an ``__init__.py`` below a mapped folder is a package here, and every other file
in a package's folder or its non-package subfolders (checkpoints, vocabularies, model cards,
licences, fonts …) is its package data. ``tests/test_packaging.py`` builds the wheel and checks
it against the tracked files.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
SKIP_DIRS = {"__pycache__", "build", "dist"}  # and dot-folders, *.egg-info, *.cache
SKIP_SUFFIXES = (".py", ".pyc", ".pyo", ".so")


def package_dirs() -> dict[str, str]:
    """``{package: folder}`` for every package: the mapped roots and what ``find`` sees under them."""
    roots = tomllib.loads((HERE / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    out = {}
    for name, folder in roots.items():
        out[name] = folder  # a root without __init__.py (beetsplug) is a namespace: its modules
        for sub in find_packages(str(HERE / folder)):
            out[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return out


def skipped(name: str) -> bool:
    return name.startswith(".") or name in SKIP_DIRS or name.endswith((".egg-info", ".cache"))


def data_files(folder: str) -> list[str]:
    """Non-Python files in ``folder`` and its non-package subfolders, relative to ``folder``."""
    base = HERE / folder
    out = []
    for dirpath, dirnames, filenames in os.walk(base):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not skipped(d)
                             and not (here / d / "__init__.py").is_file())
        out += [(here / f).relative_to(base).as_posix() for f in sorted(filenames)
                if not f.startswith(".") and not f.endswith(SKIP_SUFFIXES)]
    return out


PACKAGE_DIRS = package_dirs()
setup(
    packages=sorted(PACKAGE_DIRS),
    package_data={p: files for p, folder in PACKAGE_DIRS.items() if (files := data_files(folder))},
)
