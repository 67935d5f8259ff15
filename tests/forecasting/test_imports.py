"""forecasting/ imports nothing else of gridaios (architecture rule)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = {"runtime", "safety", "simulator", "connectors"}


def test_forecasting_imports_nothing_of_ours() -> None:
    offenders = []
    for path in (ROOT / "forecasting").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in OURS]
    assert offenders == []
