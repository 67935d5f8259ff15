"""Historian benchmark: samples/s written to day-partitioned Parquet through ``Historian``,
next to polars writing the same frame to one Parquet file in the same run (target >= 500,000).
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from runtime.ingest.historian import SCHEMA, Historian

T0 = datetime(2026, 7, 15, 22, 0, tzinfo=UTC)  # crosses midnight: two day partitions


def _columns(n: int, points: int = 200) -> tuple[list[str], list[datetime], list[float]]:
    names = [f"asset{i}.p_kw" for i in range(points)]
    step = timedelta(milliseconds=20)
    pts = [names[i % points] for i in range(n)]
    ts = [T0 + (i // points) * step * 50 for i in range(n)]  # one scan per second
    values = [float(i % 1000) for i in range(n)]
    return pts, ts, values


def _row(name: str, value: float, unit: str, baseline: float, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, 1),
        "unit": unit,
        "baseline": round(baseline, 1),
        "ratio": round(value / baseline, 3) if baseline else None,
        **extra,
    }


def _frame(n: int, points: int = 200) -> pl.DataFrame:
    """``n`` samples of ``points`` points, one scan every second, as native columns."""
    i = np.arange(n)
    start_us = int(T0.timestamp() * 1_000_000)
    return pl.DataFrame(
        {
            "point": pl.Series([f"asset{k}.p_kw" for k in range(points)])[i % points],
            "ts": pl.Series(start_us + (i // points) * 1_000_000).cast(pl.Datetime("us", "UTC")),
            "value": (i % 1000).astype(np.float64),
            "quality": pl.repeat("good", n, eager=True),
        }
    )


def run() -> list[dict[str, Any]]:
    n = 2_000_000
    data = _frame(n)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-historian-") as d:
        tmp = Path(d)
        chunk = 10_000  # one scan of many points per call
        scans = [data.slice(i, chunk) for i in range(0, n, chunk)]
        h = Historian(tmp / "hist", batch_rows=200_000, max_buffer_rows=400_000)
        t = time.perf_counter()
        for scan in scans:
            h.add_frame(scan)
        h.close()
        columnar = n / (time.perf_counter() - t)
        assert h.rows_written == n

        t = time.perf_counter()
        data.write_parquet(tmp / "raw.parquet", statistics=True)
        raw = n / (time.perf_counter() - t)
        rows.append(
            _row(
                "historian.write_columnar",
                columnar,
                "samples/s",
                raw,
                target=">= 500000",
                note="Historian.add_frame in 10k-sample scans, 200k-row batches, by day; "
                "baseline: polars writing the same samples to one Parquet file",
            )
        )

        m = 300_000
        pts, ts, values = _columns(m)
        h2 = Historian(tmp / "hist2", batch_rows=100_000, max_buffer_rows=100_000)
        t = time.perf_counter()
        for k in range(m):
            h2.add(pts[k], ts[k], values[k])
        h2.close()
        single = m / (time.perf_counter() - t)
        t = time.perf_counter()
        pl.DataFrame(
            {"point": pts, "ts": ts, "value": values, "quality": ["good"] * m}, schema=SCHEMA
        ).write_parquet(tmp / "raw2.parquet")
        raw_py = m / (time.perf_counter() - t)
        rows.append(
            _row(
                "historian.write_per_sample",
                single,
                "samples/s",
                raw_py,
                note="Historian.add one sample at a time (the connector callback path); "
                "baseline: the same Python objects -> one DataFrame -> one Parquet file",
            )
        )

        t = time.perf_counter()
        got = h.read(point="asset7.p_kw", since=T0, until=T0 + timedelta(hours=6))
        read_s = time.perf_counter() - t
        assert got.height == n // 200
        rows.append(
            _row(
                "historian.read_one_point",
                got.height / read_s,
                "samples/s",
                0.0,
                note="scan with pushed-down filter over every part file",
            )
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
