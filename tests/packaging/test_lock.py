"""The lock files cover every dependency pyproject.toml declares, with hashes; make uses them.

A dependency added to a pyproject.toml without `make lock` fails here (and `pip check`
in make fails on a machine that installs from the lock).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEV_LOCK = REPO / "requirements" / "dev.lock"
EDGE_LOCK = REPO / "requirements" / "edge.lock"
DEMO_LOCK = REPO / "requirements" / "demo.lock"
# the SimBench profiles (about 400 MB) are for `python -m benchmarks` only, never locked
UNLOCKED_EXTRAS = {"bench"}
EDGE_EXTRAS = {"forecast", "ml", "llm"}


def _name(requirement: str) -> str:
    found = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert found, requirement
    return re.sub(r"[-_.]+", "-", found.group(0)).lower()


def pins(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of each entry of a pip-compile --generate-hashes file."""
    out: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text()):
        head = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", block)
        if head:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
            out[_name(head.group(1))] = (head.group(2), hashes)
    return out


def declared(extras: set[str] | None) -> set[str]:
    """Names the project and the bridge depend on (with ``extras``; None: all locked ones)."""
    names: set[str] = set()
    for path in (REPO / "pyproject.toml", REPO / "firmware-bridge" / "pyproject.toml"):
        project = tomllib.loads(path.read_text())["project"]
        names |= {_name(r) for r in project.get("dependencies", [])}
        for extra, reqs in project.get("optional-dependencies", {}).items():
            if (extras is None and extra not in UNLOCKED_EXTRAS) or (extras and extra in extras):
                names |= {_name(r) for r in reqs}
    return names


@pytest.mark.parametrize(
    ("lock", "extras"),
    [(DEV_LOCK, None), (EDGE_LOCK, EDGE_EXTRAS), (DEMO_LOCK, set())],
    ids=["dev", "edge", "demo"],
)
def test_lock_pins_every_declared_dependency_with_hashes(
    lock: Path, extras: set[str] | None
) -> None:
    locked = pins(lock)
    missing = declared(extras) - set(locked)
    assert not missing, f"{lock.name} lacks {sorted(missing)}: run `make lock`"
    unhashed = [name for name, (_, hashes) in locked.items() if not hashes]
    assert not unhashed, unhashed


def test_edge_and_demo_locks_are_subsets_of_the_dev_lock() -> None:
    dev, edge, demo = pins(DEV_LOCK), pins(EDGE_LOCK), pins(DEMO_LOCK)
    assert set(demo) < set(edge) < set(dev)
    for lock in (edge, demo):
        differ = {n: (lock[n][0], dev[n][0]) for n in lock if lock[n][0] != dev[n][0]}
        assert not differ, differ
    for tool in ("pytest", "mypy", "ruff", "playwright", "pandapower"):
        assert tool in dev and tool not in edge


def test_make_installs_from_the_lock() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "LOCK      := requirements/dev.lock" in makefile
    assert "pip install -q --require-hashes -r $(LOCK)" in makefile
    assert "pip install -q --require-hashes -r $(DEMO_LOCK)" in makefile
    assert "pip install -q --no-deps -e . -e firmware-bridge" in makefile
    assert "--require-hashes -w dist/wheelhouse -r $(EDGE_LOCK)" in makefile
