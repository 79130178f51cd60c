"""The architecture as a test: one-way arrows between packages and no import cycles.

The graph is read from the installed package's source (every module ``pkgutil`` finds under
``lyrebird``), so it checks what ships, whatever folder each subpackage lives in.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil

import lyrebird

# package → the Lyrebird packages it may import (itself included). The CLI and benchmarks sit
# on top and may import anything.
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "encoders": {"core", "encoders"},
    "mulan": {"core", "encoders", "mulan"},
    "index": {"core", "encoders", "mulan", "index"},
    "ui": {"core", "encoders", "mulan", "index", "ui"},
    "train": {"core", "encoders", "mulan", "index", "train"},
}
# the documented exception: index may hand scale-out embedding to this entry point
EXCEPTIONS = {("index", "lyrebird.train.embed_job")}


PACKAGES = ("core", "encoders", "mulan", "index", "ui", "train", "cli", "bench")
"""The subpackages of ``lyrebird`` (several live in their own top-level folders)."""


def _modules() -> dict[str, str]:
    """Every module under ``lyrebird`` → its source file."""
    out = {"lyrebird": lyrebird.__file__}
    for info in pkgutil.iter_modules(lyrebird.__path__, "lyrebird."):  # lyrebird.demo, ...
        spec = importlib.util.find_spec(info.name)
        if not info.ispkg and spec is not None and spec.origin:
            out[info.name] = spec.origin
    for pkg in PACKAGES:
        mod = importlib.import_module(f"lyrebird.{pkg}")
        out[mod.__name__] = mod.__file__
        for info in pkgutil.walk_packages(mod.__path__, f"{mod.__name__}."):
            spec = importlib.util.find_spec(info.name)
            if spec is not None and spec.origin and spec.origin.endswith(".py"):
                out[info.name] = spec.origin
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(name: str, path: str, modules: dict[str, str], top_only: bool) -> set[str]:
    """Lyrebird modules that ``name`` imports (``top_only``: at module level, as run on import;
    else anywhere, functions included). ``from pkg import sub`` counts as importing ``pkg.sub``."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    is_pkg = path.endswith("__init__.py")
    base = name if is_pkg else name.rpartition(".")[0]
    out: set[str] = set()

    def visit(nodes, top: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                if not top_only:  # type-checking imports count for cycles, not at import time
                    visit(node.body, False)
                visit(node.orelse, top)
                continue
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name.startswith("lyrebird"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = base.split(".")
                    parent = ".".join(parts[: len(parts) - node.level + 1])
                    mod = f"{parent}.{node.module}" if node.module else parent
                else:
                    mod = node.module or ""
                if mod.startswith("lyrebird"):
                    out.add(mod)
                    out.update(f"{mod}.{a.name}" for a in node.names
                               if f"{mod}.{a.name}" in modules)
            if top_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            children = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)]
            if children:
                visit(children, top)

    visit(tree.body, True)
    return {m for m in out if m in modules and m != name}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "lyrebird"


def test_every_subpackage_is_found():
    modules = _modules()
    assert {_package(m) for m in modules} >= set(PACKAGES)
    for deep in ("lyrebird.train.corpora.manifest", "lyrebird.train.probes.run",
                 "lyrebird.train.trainers.myna_module", "lyrebird.core.atomic"):
        assert deep in modules


def test_arrows_point_one_way():
    modules = _modules()
    bad = []
    for name, path in modules.items():
        pkg = _package(name)
        if pkg not in ALLOWED:
            continue
        for dep in _imports(name, path, modules, top_only=False):
            if _package(dep) not in ALLOWED[pkg] and (pkg, dep) not in EXCEPTIONS:
                bad.append(f"{name} -> {dep}")
    assert not bad, "forbidden imports:\n" + "\n".join(sorted(bad))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def _without_parent_edges(name: str, deps: set[str]) -> set[str]:
    # importing a.b.c runs a/__init__ and a/b/__init__ first; a submodule naming its own
    # package's __init__ (for a re-export) is that same implicit edge, not a cycle of design
    return {d for d in deps if not name.startswith(d + ".")}


def test_no_import_cycles_between_modules():
    modules = _modules()
    graph = {n: _without_parent_edges(n, _imports(n, p, modules, top_only=False))
             for n, p in modules.items()}
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_cycles_between_packages():
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for n, p in modules.items():
        for d in _imports(n, p, modules, top_only=False):
            if _package(d) != _package(n) and (_package(n), d) not in EXCEPTIONS:
                graph.setdefault(_package(n), set()).add(_package(d))
    assert not _cycles(graph), graph


def test_the_checker_sees_a_cycle_and_a_forbidden_arrow():
    # the oracle for the checker itself: a hand-made graph with one cycle
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    tree_src = "from lyrebird.ui import app\n"
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(tree_src)
    deps = _imports("lyrebird.encoders.fake", f.name, {"lyrebird.ui": "", "lyrebird.ui.app": ""},
                    top_only=False)
    assert deps == {"lyrebird.ui", "lyrebird.ui.app"}
    assert "ui" not in ALLOWED["encoders"]
