"""A site directory from ``gridaios init`` and its field and conductor as real processes."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support.mosquitto import free_port


def init_site(gridaios: str, directory: Path, env: Mapping[str, str] | None = None) -> Path:
    """``gridaios init DIR`` with the field on a free port; returns site.yaml."""
    done = subprocess.run(
        [gridaios, "init", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=None if env is None else dict(env),
    )
    assert done.returncode == 0, done.stderr
    site = directory / "site.yaml"
    site.write_text(site.read_text().replace("127.0.0.1:48400", f"127.0.0.1:{free_port()}"))
    return site


@contextmanager
def process(
    argv: list[str],
    out_dir: Path,
    name: str,
    *,
    ready_text: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 90,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv``; wait for ``ready_text`` on stdout; kill it on the way out if still up."""
    out, err = out_dir / f"{name}.out", out_dir / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            argv,
            stdout=stdout,
            stderr=stderr,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while ready_text is not None and ready_text not in out.read_text():
            assert proc.poll() is None, f"{name} exited {proc.returncode}: {err.read_text()}"
            assert time.monotonic() < deadline, f"{name} never printed {ready_text!r}"
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def env_with(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}
