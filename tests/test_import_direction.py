"""The import direction of ARCHITECTURE.md, checked on the source (every import, even lazy ones)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = {
    "runtime",
    "safety",
    "forecasting",
    "simulator",
    "connectors",
    "gridaios_bridge",
    "gridaios_wire",
}
ALLOWED: dict[str, set[str]] = {
    "safety": set(),
    "forecasting": set(),
    "simulator": {"safety", "gridaios_wire"},
    "connectors": {"safety", "gridaios_wire"},
    "runtime": {"safety", "forecasting", "simulator", "connectors", "gridaios_wire"},
}
# The device-side bridge is its own program: of ours it may import only the wire formats
# (gridaios_wire, shipped in the same distribution), which import nothing of ours.
BRIDGE = REPO / "firmware-bridge"
WIRE = BRIDGE / "gridaios_wire"
# The wire formats' definitions are standard library only (every side can use them).
STDLIB_ONLY_WIRE = ("jsonv1.py", "battery_map.py", "__init__.py")


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


def violations(package_dir: Path, own: str, allowed: set[str]) -> list[str]:
    out = []
    for path in sorted(package_dir.rglob("*.py")):
        for bad in sorted(imported_packages(path) - allowed - {own}):
            out.append(f"{path.relative_to(REPO)} imports {bad}")
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_architecture_allows(package: str) -> None:
    assert violations(REPO / package, package, ALLOWED[package]) == []


def test_firmware_bridge_imports_only_the_wire_formats() -> None:
    assert violations(BRIDGE / "gridaios_bridge", "gridaios_bridge", {"gridaios_wire"}) == []


def test_the_wire_formats_import_nothing_of_ours() -> None:
    assert violations(WIRE, "gridaios_wire", set()) == []


def test_the_wire_format_definitions_are_standard_library_only() -> None:
    bad = [
        f"{name} imports {m}"
        for name in STDLIB_ONLY_WIRE
        for m in sorted(
            _stdlib_imports(WIRE / name) - set(sys.stdlib_module_names) - {"__future__"}
        )
    ]
    assert bad == []


def test_safety_does_no_io() -> None:
    forbidden = {"os", "io", "socket", "sqlite3", "time", "random", "logging", "asyncio", "pathlib"}
    bad = [
        f"{p.relative_to(REPO)} imports {m}"
        for p in sorted((REPO / "safety").rglob("*.py"))
        for m in sorted(_stdlib_imports(p) & forbidden)
    ]
    assert bad == []


def _stdlib_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_checker_catches_a_bad_import(tmp_path: Path) -> None:
    bad = tmp_path / "safety"
    bad.mkdir()
    (bad / "leak.py").write_text("def f():\n    from runtime.log.eventlog import EventLog\n")
    assert imported_packages(bad / "leak.py") == {"runtime"}
