"""The demo with its API, as a real ``gridaios`` process, for the browser tests.

The scenario is ``console-peak``, made for deciding by hand; the site config is a copy
of the demo's, changed so that a browser test has time and something to read:

- the feeder is above the peak-shaving threshold from 18:30 to 18:50 (site clock) and
  below it afterwards; the policy's deadband is 100 kW, so it proposes only a change
  of more than 100 kW: during the peak (each new proposal supersedes the one before),
  and not on the way down. Once the site clock is past ``PEAK_OVER`` the pending
  request is final, and nothing replaces it while the page is open;
- the battery's rating is 120 kW, so the gate clamps the 150 kW proposal to 120 kW
  (a constraint reason to read) and 120 kW needs an operator (auto limit 100 kW);
- the approval expiry is longer than any test, and readings may be 10 simulated
  minutes old (a busy CI machine lags the accelerated clock; staleness is tested
  elsewhere);
- the clock runs at 20 simulated seconds per wall second (the demo's default of 300
  expires a request in 3 wall seconds).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
GRIDAIOS = [sys.executable, "-m", "runtime.cli"]
LISTENING = re.compile(r"api listening on (https?://\S+)")

# configs/scenarios/console-peak.yaml: base 1,130 + load 140 - PV 20 = about 1,250 kW
# from 18:30 to 18:50 (threshold 1,100 kW: discharge 150 kW), then about 1,020 kW
# (nothing to propose while a request waits; "stop discharging" once it was carried out).
SCENARIO = "console-peak"
PEAK_OVER = "2026-07-15T18:52:00+00:00"  # the last proposal is behind us


def write_config(tmp: Path, *, two_person_min_kw: float = 240) -> Path:
    """The demo feeder's config with slow approvals, in ``tmp``."""
    configs = REPO / "configs"
    config = yaml.safe_load((configs / "demo-feeder.yaml").read_text())
    network = config["feeder"].get("network")
    if network:
        config["feeder"]["network"] = str(configs / network)
    battery = next(a for a in config["assets"] if a["id"] == "bat1")
    battery["max_discharge_kw"] = 120  # the gate clamps 150 to 120 kW: a reason to read
    config["approvals"]["expiry_s"] = 6 * 3600
    config["approvals"]["two_person_min_kw"] = two_person_min_kw  # 240: 120 kW needs one
    config["safety"]["max_age_s"] = 600
    config["policy"]["peak_shaving"]["deadband_kw"] = 100  # nothing on the way down
    config_path = tmp / "site.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config_path


def add_user(users: Path, events: Path, name: str, role: str, password: str) -> None:
    """``gridaios users add NAME --role ROLE --password-stdin``, as an admin would."""
    cmd = [*GRIDAIOS, "users", "add", name, "--role", role, "--password-stdin"]
    cmd += ["--users", str(users), "--db", str(events)]
    done = subprocess.run(
        cmd,
        input=password + "\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"gridaios users add {name} failed: {done.stderr.strip()}")


def events_path(tmp: Path) -> Path:
    """The demo's event log (``gridaios users add`` records its auth events there too)."""
    return tmp / "events.db"


@dataclass
class Demo:
    url: str
    db: Path
    process: subprocess.Popen[str]
    stderr: list[str] = field(default_factory=list)

    def log_tail(self, lines: int = 40) -> str:
        return "".join(self.stderr[-lines:])


@contextmanager
def running_demo(
    tmp: Path,
    users: Path,
    *,
    speed: float = 20.0,
    two_person_min_kw: float = 240,
    ready_s: float = 120.0,
) -> Iterator[Demo]:
    """Start ``gridaios demo --api 127.0.0.1:0 --approve-by-hand``; stop it on exit."""
    config = write_config(tmp, two_person_min_kw=two_person_min_kw)
    db = events_path(tmp)
    cmd = [
        *GRIDAIOS,
        "demo",
        "--config", str(config),
        "--scenario", SCENARIO,
        "--speed", str(speed),
        "--db", str(db),
        "--api", "127.0.0.1:0",
        "--users", str(users),
        "--approve-by-hand",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    lines: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:  # keeps the pipe empty for the whole run, not only until ready
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            m = LISTENING.search(line)
            if m and not ready.is_set():
                found.append(m.group(1))
                ready.set()
        ready.set()  # the process ended: stop waiting

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if not ready.wait(ready_s) or not found:
            raise RuntimeError(
                f"the demo did not print 'api listening on ...' within {ready_s:g} s "
                f"(exit code {proc.poll()}):\n{''.join(lines[-40:])}"
            )
        yield Demo(url=found[0].rstrip("/"), db=db, process=proc, stderr=lines)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        reader.join(timeout=10)
