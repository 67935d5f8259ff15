"""The bridge is standalone: the standard library, its declared dependencies (paho-mqtt,
pymodbus, PyYAML, pysunspec2) and its own distribution (gridaios_bridge, gridaios_wire)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DIST = Path(__file__).parents[2] / "firmware-bridge"
# import name -> distribution name in pyproject.toml
THIRD_PARTY = {
    "paho": "paho-mqtt",
    "pymodbus": "pymodbus",
    "yaml": "PyYAML",
    "sunspec2": "pysunspec2",
}
OWN = {"gridaios_bridge", "gridaios_wire"}


def test_bridge_imports_only_its_declared_dependencies():
    offenders = []
    files = sorted((DIST / "gridaios_bridge").glob("*.py")) + sorted(
        (DIST / "gridaios_wire").glob("*.py")
    )
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
                if top not in OWN | set(THIRD_PARTY) and top not in sys.stdlib_module_names:
                    offenders.append(f"{path.name}: import {name}")
    assert offenders == []


def test_declared_dependencies_are_the_pinned_few():
    import tomllib

    meta = tomllib.loads((DIST / "pyproject.toml").read_text())
    deps = meta["project"]["dependencies"]
    assert sorted(d.split(">")[0].split("=")[0].strip() for d in deps) == sorted(
        THIRD_PARTY.values()
    )
    packages = meta["tool"]["setuptools"]["packages"]["find"]["include"]
    assert "gridaios_wire*" in packages  # the wire formats ship with the bridge
