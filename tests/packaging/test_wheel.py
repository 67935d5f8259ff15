"""The shippable artifact: a wheelhouse that installs with no index and runs outside the repo.

Built as `make dist` builds it: the project's wheels, every dependency of requirements/
edge.lock as a wheel (hash-checked; llama-cpp-python from pip's wheel cache when built
before), and requirements.txt pinning each wheel by its sha256. The dependency wheels are
cached under var/ by the lock's hash (a lock change rebuilds them); the project's wheels
are rebuilt every session. A fresh venv installs from it with ``--no-index`` and runs
``check-config``, ``sim field`` (its default scenario) and ``run`` from a directory
outside the repository, with the state directory read-only in one case.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.procs import env_with, init_site, process

REPO = Path(__file__).resolve().parents[2]
EDGE_LOCK = REPO / "requirements" / "edge.lock"
PIP = [sys.executable, "-m", "pip"]
LLAMA_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"

# building and installing the wheelhouse takes minutes on a loaded 2-core box
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1500)]


def _pip(*args: str, timeout_s: float = 1200) -> None:
    env = env_with(CMAKE_ARGS=LLAMA_CMAKE_ARGS, CMAKE_BUILD_PARALLEL_LEVEL="2")
    done = subprocess.run(
        [*PIP, *args], capture_output=True, text=True, timeout=timeout_s, check=False, env=env
    )
    assert done.returncode == 0, f"pip {' '.join(args)}:\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = hashlib.sha256(EDGE_LOCK.read_bytes()).hexdigest()[:16]
    deps = REPO / "var" / "wheelhouse-deps" / key
    if not (deps / ".complete").exists():
        shutil.rmtree(deps, ignore_errors=True)
        _pip("wheel", "-q", "--no-deps", "--require-hashes", "-w", str(deps), "-r", str(EDGE_LOCK))
        (deps / ".complete").write_text("")
    house = tmp_path_factory.mktemp("wheelhouse")
    _pip("wheel", "-q", "--no-deps", "-w", str(house), str(REPO), str(REPO / "firmware-bridge"))
    for wheel in deps.glob("*.whl"):
        os.link(wheel, house / wheel.name)
    done = subprocess.run(
        [sys.executable, str(REPO / "packaging" / "wheelhouse.py"), str(house)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return house


@pytest.fixture(scope="module")
def installed(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv installed from the wheelhouse alone (no index), as an edge box; its bin/."""
    venv = tmp_path_factory.mktemp("edge") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    offline = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    offline.pop("PYTHONPATH", None)
    manifest = wheelhouse / "requirements.txt"
    for args in (
        # what an edge box runs: every wheel of the manifest, hash-checked, no index
        ["install", "-q", "--require-hashes", "-r", str(manifest)],
    ):
        done = subprocess.run(
            [py, "-m", "pip", "--isolated", *args, "--no-index", "--find-links", str(wheelhouse)],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            env=offline,
        )
        assert done.returncode == 0, f"pip {' '.join(args)}:\n{done.stderr[-3000:]}"
    yield venv / "bin"


def _outside_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["GRIDAIOS_STATE_DIR"] = str(tmp_path / "state")
    return env


def test_wheel_carries_console_configs_and_models(installed: Path, tmp_path: Path) -> None:
    py = str(installed / "python")
    code = (
        "import importlib.util as u, pathlib, gridaios_data, runtime.api.context as c\n"
        "models = pathlib.Path(u.find_spec('forecasting').submodule_search_locations[0])\n"
        "print(gridaios_data.checkout(), gridaios_data.DEMO_CONFIG.is_file(),"
        " (c.STATIC_DIR / 'views' / 'approval.js').is_file(),"
        " sorted(p.name for p in (models / 'models').iterdir())[:1],"
        " len(list(gridaios_data.SCENARIOS.glob('*.yaml'))), gridaios_data.CONFIGS)"
    )
    done = subprocess.run(
        [py, "-c", code], capture_output=True, text=True, cwd="/", env=_outside_env(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    scenarios = len(list((REPO / "configs" / "scenarios").glob("*.yaml")))  # all of them
    assert done.stdout.startswith(f"None True True ['anomaly.int8.onnx'] {scenarios} "), done.stdout
    assert "site-packages/gridaios_data/configs" in done.stdout  # not the checkout's


def test_check_config_sim_field_and_run_from_outside_the_repo(
    installed: Path, tmp_path: Path
) -> None:
    gridaios = str(installed / "gridaios")
    env = _outside_env(tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    site = init_site(gridaios, tmp_path / "etc", env)
    done = subprocess.run(
        [gridaios, "check-config", str(site)], capture_output=True, text=True, cwd=work, env=env
    )
    assert done.returncode == 0, done.stderr
    # ask without --config/--router: the demo site and router from the wheel
    done = subprocess.run(
        [gridaios, "ask", "hold battery 1 at 200 kW until 19:00", "--no-llm", "--json"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0 and '"tier": "rules"' in done.stdout, done.stdout + done.stderr
    with (
        process(
            [gridaios, "sim", "field", "--config", str(site)],  # default scenario, from the wheel
            tmp_path,
            "field",
            ready_text="virtual field:",
            env=env,
            cwd=work,
        ),
        process(
            [gridaios, "run", "--config", str(site)], tmp_path, "run", env=env, cwd=work
        ) as run,
    ):
        db = tmp_path / "state" / "events.db"  # the default --db, from GRIDAIOS_STATE_DIR
        deadline = time.monotonic() + 60
        while not (db.exists() and _dispatch_or_telemetry(db)):
            assert run.poll() is None, (tmp_path / "run.err").read_text()
            assert time.monotonic() < deadline, "no event from the conductor within 60 s"
            time.sleep(0.2)
        time.sleep(3)  # a few seconds of running
        assert run.poll() is None, (tmp_path / "run.err").read_text()
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 0, (tmp_path / "run.err").read_text()
    assert "Traceback" not in (tmp_path / "run.err").read_text()
    assert not (work / "var").exists()  # nothing written relative to the working directory


def _dispatch_or_telemetry(db: Path) -> bool:
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        try:
            (n,) = con.execute("SELECT count(*) FROM events").fetchone()
        except sqlite3.OperationalError:
            return False
    return bool(n)


def test_run_with_an_unwritable_state_dir_says_so_in_one_line(
    installed: Path, tmp_path: Path
) -> None:
    gridaios = str(installed / "gridaios")
    env = _outside_env(tmp_path)
    site = init_site(gridaios, tmp_path / "etc", env)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    env["GRIDAIOS_STATE_DIR"] = str(blocker / "state")  # even root cannot create this
    done = subprocess.run(
        [gridaios, "run", "--config", str(site)],
        capture_output=True,
        text=True,
        cwd="/",
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"gridaios run: cannot open the event log {blocker}/state/")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_demo_runs_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    """`gridaios demo` with its default site and scenario from the wheel, outside the repo."""
    env = _outside_env(tmp_path)
    argv = ["demo", "--auto-approve", "--speed", "300", "--duration", "1800", "--json"]
    done = subprocess.run(
        [str(installed / "gridaios"), *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"observation_mismatches": 0' in done.stdout, done.stdout[-1000:]
    assert list((tmp_path / "state" / "demo").glob("events-*.db"))  # under the state dir
