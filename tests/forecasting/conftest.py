"""Forecasting tests: numba (statsforecast) caches compiled code under var/ for fast reruns."""

import os
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[2] / "var" / "numba"))
