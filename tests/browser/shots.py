"""Screenshots the browser tests save for people to review (issue #19): under var/, kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "console"


def shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
