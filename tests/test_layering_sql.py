"""The library's layering as a test: SQL lives in ``lyrebird.index`` only, and no module reaches
into another's private members of the library's objects.

Outside ``index/`` (the folders of every other Lyrebird package, the CLI, the benchmarks, the
beets plug-in) there is no SQL statement, no ``sqlite3``, no ``execute`` call, no import of
:mod:`lyrebird.index.store` and no ``.con`` (a library's connection): front ends read through
the public methods of :class:`lyrebird.index.Library` (``track_vectors``, ``counts``,
``content_key``, …). Nowhere does a module touch a private member (``obj._x``, ``obj`` not
``self``/``cls``) of a library object: a receiver named like one (``lib``, ``library``,
``reader``, ``writer``, ``indexes``, ``self._lib()``…), or a private member that a class of
``index/`` defines, used from another module.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "index"

SQL = re.compile(r"\b(SELECT\b[\s\S]+\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|"
                 r"DELETE\s+FROM|CREATE\s+(TEMP\s+)?(TABLE|INDEX|VIEW|TRIGGER)|DROP\s+(TABLE|INDEX)|"
                 r"ALTER\s+TABLE|PRAGMA\s+\w+|BEGIN\s+(IMMEDIATE|EXCLUSIVE|DEFERRED|TRANSACTION))\b")
"""An SQL statement in a string (upper-case keywords, as this project writes them)."""
LIBRARY_RECEIVER = re.compile(r"^_*(lib|library|libs|reader|writer|indexes|[a-z_]*_lib)$")
"""Names that hold a library object (``lib``, ``self.library``, ``self._lib()``, ``big_lib``)."""
EXECUTE = {"execute", "executemany", "executescript"}

KNOWN: dict[str, set[str]] = {}
"""Files allowed to break the rule, with what they still use (none now; an entry must name
what to replace, and the test fails on a stale one)."""


def _source_folders() -> dict[str, Path]:
    """Package → folder, from ``[tool.setuptools] package-dir`` (the layout that ships)."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {pkg: ROOT / d for pkg, d in cfg["tool"]["setuptools"]["package-dir"].items()}


def _files() -> list[Path]:
    out: set[Path] = set()
    for folder in _source_folders().values():
        out.update(p for p in folder.rglob("*.py") if ".venv" not in p.parts)
    return sorted(out)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _name(node: ast.AST) -> str | None:
    """The last identifier of a receiver: ``lib`` for ``lib``, ``self.lib``, ``get_lib()``."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _private(attr: str) -> bool:
    return attr.startswith("_") and not attr.startswith("__")


LIBRARY_CLASSES = {"Library", "LibraryQueries", "LibraryReader", "LibraryWriter",
                   "LibraryIndexes", "ModelHandle"}
"""The ``index/`` classes that make up a library object."""


def _index_privates() -> dict[str, set[str]]:
    """Private member → the ``index/`` modules whose library classes (:data:`LIBRARY_CLASSES`)
    define it (``def _x`` in the class, ``self._x = …`` in its methods)."""
    out: dict[str, set[str]] = {}
    for path in INDEX.glob("*.py"):
        for cls in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(cls, ast.ClassDef) or cls.name not in LIBRARY_CLASSES:
                continue
            for node in ast.walk(cls):
                names = []
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node in cls.body:
                    names.append(node.name)
                if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                        and isinstance(node.value, ast.Name) and node.value.id == "self":
                    names.append(node.attr)
                for n in names:
                    if _private(n):
                        out.setdefault(n, set()).add(path.stem)
    return out


def _findings(path: Path, privates: dict[str, set[str]]) -> list[tuple[str, str, int]]:
    """``(kind, what, line)`` of each layering breach in one file."""
    src = path.read_text(encoding="utf-8")
    tree = ast.parse(src, str(path))
    in_index = path.parent == INDEX
    docs = _docstrings(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) \
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            recv = _name(node.value) or "?"
            defined_elsewhere = privates.get(node.attr, set()) - (
                {path.stem} if in_index else set())
            if LIBRARY_RECEIVER.match(recv) or defined_elsewhere:
                out.append(("private", f"{recv}.{node.attr}", node.lineno))
        if in_index:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docs and SQL.search(node.value):
            out.append(("sql", node.value.strip()[:40], node.lineno))
        elif isinstance(node, ast.Attribute) and node.attr == "con":
            out.append(("con", ".con", node.lineno))
        elif isinstance(node, ast.Attribute) and node.attr == "store" \
                and _name(node.value) == "index":  # lyrebird.index.store.counts(...)
            out.append(("import", "store import", node.lineno))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in EXECUTE:
            out.append(("execute", f".{node.func.attr}(", node.lineno))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "sqlite3" or a.name.startswith("lyrebird.index.store"):
                    out.append(("import", a.name if a.name == "sqlite3" else "store import",
                                node.lineno))
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if mod == "sqlite3" or mod.startswith("lyrebird.index.store") or (
                    mod == "lyrebird.index" and any(a.name == "store" for a in node.names)):
                out.append(("import", "sqlite3" if mod == "sqlite3" else "store import",
                            node.lineno))
    return out


def _breaches() -> dict[str, set[str]]:
    privates = _index_privates()
    out: dict[str, set[str]] = {}
    for path in _files():
        rel = path.relative_to(ROOT).as_posix()
        for kind, what, line in _findings(path, privates):
            out.setdefault(rel, set()).add(what if kind in ("private", "con", "import")
                                           else f"{kind}: {what} (line {line})")
    return out


def test_no_sql_and_no_private_reach_outside_their_module():
    found = _breaches()
    new = {f: sorted(w - KNOWN.get(f, set())) for f, w in found.items()}
    new = {f: w for f, w in new.items() if w}
    assert not new, "layering breaches (use the public Library/LibraryReader/LibraryWriter " \
                    "methods):\n" + "\n".join(f"{f}: {', '.join(w)}" for f, w in sorted(new.items()))
    stale = {f: sorted(w - found.get(f, set())) for f, w in KNOWN.items()}
    stale = {f: w for f, w in stale.items() if w}
    assert not stale, f"fixed, remove from KNOWN: {stale}"


def test_the_scanner_sees_each_kind_of_breach(tmp_path):
    # the oracle for the scanner: one line of each kind, and legitimate code beside them
    bad = tmp_path / "front.py"
    bad.write_text(
        "from lyrebird.index import store\n"
        "import sqlite3\n"
        "def f(lib, svc, request, locked):\n"
        "    store.counts(lib.con)\n"
        "    q = 'SELECT id FROM tracks WHERE id = ?'\n"
        "    lib._model.top_tags(1)\n"
        "    svc._lib()._indexes.knn()\n"
        "    x.execute(q)\n"
        "    request._body, locked._m, self._cache  # not library objects\n"
        "    item.store()  # beets' Item.store, not the index's store\n"
        "    return 'Select a folder from the list', lib.track_vectors()\n")
    got = {(k, w) for k, w, _ in _findings(bad, _index_privates())}
    assert got == {("import", "store import"), ("import", "sqlite3"), ("con", ".con"),
                   ("sql", "SELECT id FROM tracks WHERE id = ?"), ("private", "lib._model"),
                   ("private", "_lib._indexes"), ("execute", ".execute(")}


def test_the_library_passes_its_own_rule():
    # index/ itself: the write path reaches nothing private of Library (the writer is typed)
    found = _breaches()
    assert not found.get("index/writer.py") and not found.get("index/library.py")
    assert not found.get("index/sync.py") and not found.get("index/catalog.py")
