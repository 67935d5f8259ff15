"""The layers inside runtime/ (docs/architecture.md), checked on the source.

Every import counts: module level, inside a function (lazy) and under ``TYPE_CHECKING``.
A module may import its own layer and the layers below it, never one above; and no
import cycle may remain between runtime's modules, however the cycle is closed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "runtime"

# Lowest first: a layer may import the ones before it (and itself), never one after it.
LAYERS = (
    "core",
    "config",
    "log",
    "decide",
    "audit",
    "ingest",
    "service",
    "approvals",
    "words",
    "agents",
    "shadow",
    "hierarchy",
    "conductor",
    "api",
    "demo",
    "cli",
)
RANK = {name: i for i, name in enumerate(LAYERS)}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports(path: Path, known: Iterable[str], package: str) -> set[str]:
    """The modules of ``package`` that ``path`` imports, wherever the import statement is."""
    names = set(known)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        dynamic = _dynamic_import(node)
        if dynamic is not None and dynamic.split(".")[0] == package:
            while dynamic not in names and "." in dynamic:  # a name inside a module
                dynamic = dynamic.rsplit(".", 1)[0]
            found.add(dynamic)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == package)
        elif isinstance(node, ast.ImportFrom) and (node.module or node.level):
            if node.level:  # relative (also ``from .. import x``): against this package
                root = next(p for p in path.parents if p.name == package)
                anchor = module_name(path, root).split(".")
                anchor = anchor[: len(anchor) - node.level + (path.name == "__init__.py")]
                target = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                assert node.module is not None
                target = node.module
            if target.split(".")[0] != package:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in names else target)
    return found


def _dynamic_import(node: ast.AST) -> str | None:
    """The module an ``importlib.import_module(...)`` or ``__import__(...)`` call names: a
    constant, or an f-string's constant head up to its last dot (``f"runtime.cli.{name}"``
    imports from ``runtime.cli``); None for anything else."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in ("import_module", "__import__"):
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values:
        head = arg.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str) and "." in head.value:
            return head.value.rsplit(".", 1)[0]
    return None


def graph(root: Path) -> dict[str, set[str]]:
    mods = modules(root)
    package = root.name
    return {m: imports(p, mods, package) & set(mods) - {m} for m, p in mods.items()}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def upward(edges: Mapping[str, set[str]]) -> list[str]:
    out = []
    for src, targets in sorted(edges.items()):
        here = layer(src)
        for dst in sorted(targets):
            there = layer(dst)
            if here is None or there is None:
                continue
            if RANK[there] > RANK[here]:
                out.append(f"{src} ({here}) imports {dst} ({there}), a layer above")
    return out


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_every_module_is_in_a_layer() -> None:
    stray = [m for m in modules(RUNTIME) if m != "runtime" and layer(m) not in RANK]
    assert stray == [], "each runtime module belongs in a layer subpackage (see LAYERS)"


def test_imports_go_down_the_layers() -> None:
    assert upward(graph(RUNTIME)) == []


def test_no_import_cycles_even_lazy_or_type_checking() -> None:
    assert cycles(graph(RUNTIME)) == []


def test_the_checker_sees_lazy_type_checking_and_importlib_imports(tmp_path: Path) -> None:
    root = tmp_path / "runtime"
    (root / "log").mkdir(parents=True)
    (root / "decide").mkdir()
    for d in (root, root / "log", root / "decide"):
        (d / "__init__.py").write_text("")
    (root / "log" / "events.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from runtime.decide.step import Decision\n"
    )
    (root / "decide" / "step.py").write_text(
        "def f():\n    from runtime.log import events\n    return events\n"
    )
    (root / "decide" / "dyn.py").write_text(
        "import importlib\ndef f():\n    return importlib.import_module('runtime.log.events')\n"
    )
    (root / "log" / "dyn.py").write_text(
        "from importlib import import_module\n"
        "def f(name):\n"
        "    a = import_module('runtime.decide.step')\n"
        "    b = __import__('runtime.decide.dyn')\n"
        "    return a, b, import_module(f'runtime.decide.{name}')\n"
    )
    (root / "log" / "rel.py").write_text(
        "def f():\n"
        "    from .. import decide\n"
        "    from ..decide import step\n"
        "    return decide, step\n"
    )
    edges = graph(root)
    assert edges["runtime.log.rel"] == {"runtime.decide", "runtime.decide.step"}
    del edges["runtime.log.rel"]
    assert edges["runtime.decide.dyn"] == {"runtime.log.events"}
    assert edges["runtime.log.dyn"] == {
        "runtime.decide.step",
        "runtime.decide.dyn",
        "runtime.decide",
    }
    del edges["runtime.decide.dyn"], edges["runtime.log.dyn"]
    assert edges["runtime.decide.step"] == {"runtime.log.events"}
    assert edges["runtime.log.events"] == {"runtime.decide.step"}
    assert cycles(edges) == [["runtime.decide.step", "runtime.log.events"]]
    assert upward(edges) == [
        "runtime.log.events (log) imports runtime.decide.step (decide), a layer above"
    ]


def test_the_largest_runtime_module_is_under_450_lines() -> None:
    sizes = {
        str(p.relative_to(REPO)): len(p.read_text(encoding="utf-8").splitlines())
        for p in RUNTIME.rglob("*.py")
    }
    assert {p: n for p, n in sizes.items() if n >= 450} == {}


def test_docs_architecture_lists_the_layers_as_they_are() -> None:
    """docs/architecture.md's layer table: the order this test enforces, the numbers the
    layers' ``__init__`` say, modules that exist, and (where the row does not end in
    '...') every module of the layer, so a newcomer finds each one in the map."""
    import re

    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| `(\w+)/` \| .*? \| (.*) \|$", doc, flags=re.MULTILINE)
    assert tuple(name for _, name, _ in rows) == LAYERS
    problems = []
    for number, name, cell in rows:
        assert int(number) == RANK[name] + 1
        init = (RUNTIME / name / "__init__.py").read_text(encoding="utf-8")
        said = re.match(r'"""Layer (\d+)', init)
        if said is not None and said.group(1) != number:
            problems.append(f"runtime/{name}/__init__.py says layer {said.group(1)}")
        named = {n.rstrip("/") for n in re.findall(r"`(\w+/?)`", cell)}
        actual = {p.stem for p in (RUNTIME / name).glob("*.py") if p.stem != "__init__"}
        actual |= {p.name for p in (RUNTIME / name).iterdir() if (p / "__init__.py").is_file()}
        problems += [f"{name}: no module {n}" for n in named - actual if n[0].islower()]
        if "..." not in cell and name != "cli":
            problems += [f"{name}: {m} not in the table" for m in sorted(actual - named)]
    assert problems == []
