from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from runtime.cli import main
from runtime.ingest.historian import Historian

T0 = datetime(2026, 7, 15, 23, 50, tzinfo=UTC)


def _fill(h: Historian, n: int = 1200) -> None:
    for i in range(n):
        ts = T0 + timedelta(seconds=i)  # crosses midnight at i = 600
        h.add("bat1.soc_pct", ts, 80.0 - i / 100)
        h.add("substation.p_kw", ts, 1000.0 + i)


def test_batches_are_partitioned_by_day_and_read_back(tmp_path: Path) -> None:
    h = Historian(tmp_path / "hist", batch_rows=500, max_buffer_rows=1000)
    _fill(h)
    h.close()
    days = sorted(p.name for p in (tmp_path / "hist").iterdir())
    assert days == ["day=2026-07-15", "day=2026-07-16"]
    assert h.rows_written == 2400 and h.buffered() == 0
    frame = h.read(point="bat1.soc_pct", since=T0, until=T0 + timedelta(seconds=1200))
    assert frame.height == 1200
    assert frame["ts"].is_sorted() and frame["value"][0] == 80.0
    assert frame.schema["ts"] == pl.Datetime("us", "UTC")
    window = h.read(since=T0 + timedelta(seconds=590), until=T0 + timedelta(seconds=610))
    assert window.height == 40


def test_buffer_never_exceeds_its_bound(tmp_path: Path) -> None:
    h = Historian(tmp_path / "hist", batch_rows=100, max_buffer_rows=100)
    ts = [T0 + timedelta(seconds=i) for i in range(1050)]
    h.add_many(["p"] * 1050, ts, [float(i) for i in range(1050)])
    assert h.buffered() <= 100
    h.flush()
    assert h.read(point="p").height == 1050


def test_series_has_the_forecasting_shape_and_compaction_keeps_rows(tmp_path: Path) -> None:
    h = Historian(tmp_path / "hist", batch_rows=100)
    _fill(h, 300)
    h.close()
    assert h.compact_day(T0.date()) > 1
    assert len(list((tmp_path / "hist" / "day=2026-07-15").glob("*.parquet"))) == 1
    s = h.series("substation.p_kw", T0, T0 + timedelta(hours=1))
    assert s.columns == ["unique_id", "ds", "y"] and s.height == 300


def test_history_export_csv_and_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "hist"
    h = Historian(root, batch_rows=1000)
    _fill(h, 100)
    h.close()
    args = [
        "history",
        "export",
        "--root",
        str(root),
        "--point",
        "substation.p_kw",
        "--from",
        "2026-07-15T23:50:00Z",
        "--to",
        "2026-07-15T23:51:00",
    ]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "point,ts,value,quality" and len(lines) == 61
    out = tmp_path / "x.parquet"
    assert main([*args, "--format", "parquet", "--out", str(out)]) == 0
    assert pl.read_parquet(out).height == 60
    assert main([*args[:5], "nope", *args[6:]]) == 1
    assert "no samples for point 'nope'" in capsys.readouterr().err


def test_add_frame_takes_native_columns_and_refuses_missing_ones(tmp_path: Path) -> None:
    h = Historian(tmp_path / "hist", batch_rows=50, max_buffer_rows=60)
    frame = pl.DataFrame(
        {
            "point": ["m.p_kw"] * 130,
            "ts": [T0 + timedelta(seconds=i) for i in range(130)],
            "value": [float(i) for i in range(130)],
        }
    )
    h.add_frame(frame)
    assert h.buffered() <= 60
    h.close()
    got = h.read(point="m.p_kw")
    assert got.height == 130 and set(got["quality"]) == {"good"}
    with pytest.raises(ValueError, match=r"\['value'\] are missing"):
        h.add_frame(frame.drop("value"))
