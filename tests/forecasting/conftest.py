"""Forecasting tests: numba (statsforecast) caches its compiled code under var/ so reruns are fast."""

import os
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[2] / "var" / "numba"))
