"""The bridge is standalone: it imports the standard library, paho-mqtt and itself only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "firmware-bridge" / "gridaios_bridge"
ALLOWED = {"paho", "gridaios_bridge"}


def test_bridge_imports_nothing_of_ours_and_no_third_party_but_paho():
    offenders = []
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) >= 10
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in ALLOWED and top not in sys.stdlib_module_names:
                    offenders.append(f"{path.name}: import {name}")
    assert offenders == []


def test_declared_dependencies_are_paho_only():
    import tomllib

    meta = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    deps = meta["project"]["dependencies"]
    assert [d.split(">")[0].split("=")[0].strip() for d in deps] == ["paho-mqtt"]
