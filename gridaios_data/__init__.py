"""Where gridaios finds its shipped data and keeps its state, from a checkout or a wheel.

Shipped data (``configs/``: the demo site configs, scenarios, networks, the ask router)
is package data here: ``gridaios_data/configs`` is a symbolic link to the repository's
``configs/`` in a checkout and a real directory inside an installed wheel, so every
command finds the same files either way (never through the working directory).

State (event log, dead letters, users, historian) lives in :func:`state_dir`:

1. ``$GRIDAIOS_STATE_DIR`` when set;
2. ``$STATE_DIRECTORY`` (systemd sets it from the unit's ``StateDirectory=``);
3. ``var/gridaios`` of the source checkout this code runs from (development);
4. ``/var/lib/gridaios`` when it exists (an installed edge box, FHS);
5. ``$XDG_STATE_HOME/gridaios`` (default ``~/.local/state/gridaios``).

Only the standard library: ``gridaios --help`` and the simulator import this.
"""

from __future__ import annotations

import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent
#: The shipped configs (resolved: the repository's ``configs/`` in a checkout).
CONFIGS = (_HERE / "configs").resolve()
SCENARIOS = CONFIGS / "scenarios"
NETWORKS = CONFIGS / "networks"
DEMO_CONFIG = CONFIGS / "demo-feeder.yaml"
ROUTER_CONFIG = CONFIGS / "router.yaml"
FHS_STATE = Path("/var/lib/gridaios")
FHS_CONFIG = Path("/etc/gridaios")


def checkout() -> Path | None:
    """The source checkout this code runs from, or None when installed from a wheel."""
    root = _HERE.parent
    if (root / "pyproject.toml").is_file() and (root / "configs").is_dir():
        return root
    return None


def state_dir(environ: dict[str, str] | None = None) -> Path:
    """Absolute directory for the runtime's state (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    if env.get("GRIDAIOS_STATE_DIR"):
        return Path(env["GRIDAIOS_STATE_DIR"]).expanduser().absolute()
    if env.get("STATE_DIRECTORY"):  # systemd: colon-separated when several are declared
        return Path(env["STATE_DIRECTORY"].split(":")[0]).absolute()
    repo = checkout()
    if repo is not None:
        return repo / "var" / "gridaios"
    if FHS_STATE.is_dir():
        return FHS_STATE
    xdg = env.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    return Path(xdg).absolute() / "gridaios"


def state_path(name: str) -> Path:
    """``state_dir() / name``: the default of every ``--db``/``--users``/``--dlq`` option."""
    return state_dir() / name


def scratch_dir(name: str) -> Path:
    """Where a demo keeps its logs: ``var/NAME`` of a checkout, else ``state_dir() / NAME``."""
    repo = checkout()
    if repo is not None and not os.environ.get("GRIDAIOS_STATE_DIR"):
        return repo / "var" / name
    return state_dir() / name


def config_dir(environ: dict[str, str] | None = None) -> Path:
    """Where a site's own config lives: ``$CONFIGURATION_DIRECTORY`` (systemd) or /etc/gridaios."""
    env = os.environ if environ is None else environ
    if env.get("GRIDAIOS_CONFIG_DIR"):
        return Path(env["GRIDAIOS_CONFIG_DIR"]).expanduser().absolute()
    if env.get("CONFIGURATION_DIRECTORY"):
        return Path(env["CONFIGURATION_DIRECTORY"].split(":")[0]).absolute()
    return FHS_CONFIG
