"""Fast start: the pure decision layer and ``gridaios --help`` load no I/O library.

Each check runs in a fresh interpreter (``sys.modules`` of the parent holds everything
the suite imported already).
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.cli import COMMANDS

REPO = Path(__file__).resolve().parents[2]
IO_LIBRARIES = ("asyncua", "paho", "sqlite3", "polars", "fastapi", "uvicorn", "pyarrow")


def loaded_after(code: str) -> set[str]:
    """The top-level packages in ``sys.modules`` after running ``code`` in a new process."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "firmware-bridge")])}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    )
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "code",
    [
        "import runtime.decide",
        "import runtime.decide.step",
        "from runtime.decide.step import decide_step, DecisionContext",
        "import runtime.decide.gate_inputs, runtime.decide.approval_rule",
    ],
)
def test_the_decision_layer_loads_no_io_library(code: str) -> None:
    assert loaded_after(code) & set(IO_LIBRARIES) == set()


def test_twin_state_does_not_load_the_opc_ua_server() -> None:
    loaded = loaded_after("from simulator import TwinState, validate_plan")
    assert "asyncua" not in loaded  # the twin, not the virtual field's OPC UA server


def test_help_loads_no_subcommand_module_and_no_io_library() -> None:
    code = (
        "import contextlib, io\n"
        "from runtime.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
    )
    loaded = loaded_after(code)
    assert loaded & set(IO_LIBRARIES) == set()
    assert "safety" not in loaded and "simulator" not in loaded


def _seconds(args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "firmware-bridge")])}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], capture_output=True, check=True, env=env)
    return time.perf_counter() - t0


def test_help_takes_at_most_0_4_s_more_than_an_empty_interpreter() -> None:
    # best of three, each against an empty interpreter measured alongside (a loaded box
    # slows both alike)
    help_s = min(_seconds(["-m", "runtime.cli", "--help"]) for _ in range(3))
    pass_s = min(_seconds(["-c", "pass"]) for _ in range(3))
    assert help_s - pass_s <= 0.4, (help_s, pass_s)


@pytest.mark.parametrize(("name", "module", "help_text"), COMMANDS)
def test_each_subcommand_line_is_what_its_module_registers(
    name: str, module: str, help_text: str
) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(f"runtime.cli.{module}").register(sub)
    registered = {a.dest: a.help for a in sub._choices_actions}
    assert registered == {name: help_text}
