"""``python packaging/wheelhouse.py DIR``: write DIR/requirements.txt pinning every wheel in DIR.

Each line is ``name==version --hash=sha256:...`` of the wheel file actually shipped, so an
edge box installs exactly this wheelhouse, hash-checked, with no index::

    pip install --no-index --find-links DIR --require-hashes -r DIR/requirements.txt

(The lock's hashes are PyPI's; a wheel built here, such as llama-cpp-python's, has its own.)
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path


def wheel_name_version(path: Path) -> tuple[str, str]:
    """``(name, version)`` from a wheel file name (PEP 427: name-version-...-tags.whl)."""
    parts = path.name.removesuffix(".whl").split("-")
    if len(parts) < 5:
        raise ValueError(f"{path.name}: not a wheel file name (name-version-py-abi-platform.whl)")
    return parts[0].replace("_", "-").lower(), parts[1]


def manifest(directory: Path) -> str:
    lines = []
    for wheel in sorted(directory.glob("*.whl")):
        name, version = wheel_name_version(wheel)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{name}=={version} --hash=sha256:{digest}")
    if not lines:
        raise ValueError(f"{directory}: no wheels; run `make dist`")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python packaging/wheelhouse.py DIR", file=sys.stderr)
        return 2
    directory = Path(argv[0])
    try:
        text = manifest(directory)
    except ValueError as err:
        print(f"wheelhouse: {err}", file=sys.stderr)
        return 1
    (directory / "requirements.txt").write_text(text, encoding="utf-8")
    print(f"wheelhouse: {directory}: {text.count(chr(10))} wheels pinned in requirements.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
