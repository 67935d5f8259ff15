"""safety/ is pure: only side-effect-free standard library imports, nothing of ours."""

from __future__ import annotations

import ast
from pathlib import Path

SAFETY = Path(__file__).resolve().parents[2] / "safety"
ALLOWED = {
    "__future__",
    "bisect",
    "collections",
    "dataclasses",
    "datetime",
    "enum",
    "functools",
    "math",
    "typing",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_safety_imports_only_pure_stdlib_and_itself() -> None:
    files = sorted(SAFETY.glob("*.py"))
    assert len(files) >= 10
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top == "safety" or top in ALLOWED, f"{path.name} imports {name}"


def test_no_clock_randomness_or_io_calls() -> None:
    banned_names = {"open", "print", "input", "exec", "eval", "__import__"}
    banned_attrs = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "getLogger"}
    for path in sorted(SAFETY.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name):
                assert func.id not in banned_names, f"{path.name}:{node.lineno} calls {func.id}"
            elif isinstance(func, ast.Attribute):
                assert func.attr not in banned_attrs, f"{path.name}:{node.lineno} calls {func.attr}"
