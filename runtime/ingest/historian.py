"""The historian: telemetry in Parquet via polars, partitioned by day, written in batches.

Layout: ``ROOT/day=YYYY-MM-DD/part-<first ts>-<n>.parquet`` with columns
``point, ts (UTC, us), value, quality``. Samples are buffered in plain column lists
and written when ``batch_rows`` are waiting (or on ``flush``); the buffer never
holds more than ``max_buffer_rows`` (a full buffer is flushed before it grows),
so memory is bounded whatever the ingest rate. Readers (forecasting, shadow runs,
``gridaios history export``) scan the files lazily with a pushed-down filter.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from connectors import Sample

log = logging.getLogger(__name__)

SCHEMA: dict[str, pl.DataType] = {
    "point": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "value": pl.Float64(),
    "quality": pl.String(),
}


class Historian:
    def __init__(
        self, root: str | Path, *, batch_rows: int = 50_000, max_buffer_rows: int = 200_000
    ) -> None:
        if batch_rows <= 0 or max_buffer_rows < batch_rows:
            raise ValueError(
                f"batch_rows = {batch_rows}, max_buffer_rows = {max_buffer_rows}: "
                "need 0 < batch_rows <= max_buffer_rows"
            )
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.batch_rows = batch_rows
        self.max_buffer_rows = max_buffer_rows
        self._points: list[str] = []
        self._ts: list[datetime] = []
        self._values: list[float] = []
        self._quality: list[str] = []
        self._frames: list[pl.DataFrame] = []
        self._frame_rows = 0
        self._parts = itertools.count()
        self.rows_written = 0
        self.files_written = 0

    # --- writing --------------------------------------------------------------

    def add(self, point: str, ts: datetime, value: float, quality: str = "good") -> None:
        self._points.append(point)
        self._ts.append(ts)
        self._values.append(value)
        self._quality.append(quality)
        if len(self._points) >= self.batch_rows:
            self.flush()

    def on_sample(self, sample: Sample) -> None:
        """Connector callback: keep every sample (``LatestState`` keeps only the newest)."""
        self.add(sample.point, sample.source_ts, sample.value, sample.quality.value)

    def add_many(
        self,
        points: Sequence[str],
        ts: Sequence[datetime],
        values: Sequence[float],
        quality: Sequence[str] | None = None,
    ) -> None:
        """Columnar fast path (a scan of many points at once)."""
        n = len(points)
        if not (len(ts) == len(values) == n) or (quality is not None and len(quality) != n):
            raise ValueError(
                f"add_many: columns differ in length (points {n}, ts {len(ts)}, "
                f"values {len(values)})"
            )
        start = 0
        while start < n:
            room = self.max_buffer_rows - self.buffered()
            end = min(n, start + room)
            self._points.extend(points[start:end])
            self._ts.extend(ts[start:end])
            self._values.extend(values[start:end])
            self._quality.extend(
                quality[start:end] if quality is not None else ["good"] * (end - start)
            )
            start = end
            if len(self._points) >= self.batch_rows:
                self.flush()

    def add_frame(self, frame: pl.DataFrame) -> None:
        """Columnar fast path for native columns (``point, ts, value[, quality]``)."""
        if "quality" not in frame.columns:
            frame = frame.with_columns(pl.lit("good").alias("quality"))
        missing = set(SCHEMA) - set(frame.columns)
        if missing:
            raise ValueError(
                f"add_frame: columns {sorted(missing)} are missing; need {list(SCHEMA)}"
            )
        frame = frame.select(list(SCHEMA)).cast(SCHEMA)  # type: ignore[arg-type]
        while frame.height:
            room = self.max_buffer_rows - self.buffered()
            head, frame = frame.head(room), frame.slice(room)
            self._frames.append(head)
            self._frame_rows += head.height
            if self.buffered() >= self.batch_rows:
                self.flush()

    def buffered(self) -> int:
        return len(self._points) + self._frame_rows

    def flush(self) -> int:
        """Write what is buffered, one file per day touched; returns rows written."""
        if not self.buffered():
            return 0
        frames = list(self._frames)
        if self._points:
            frames.append(
                pl.DataFrame(
                    {
                        "point": self._points,
                        "ts": self._ts,
                        "value": self._values,
                        "quality": self._quality,
                    },
                    schema=SCHEMA,
                )
            )
        frame = pl.concat(frames) if len(frames) > 1 else frames[0]
        self._points, self._ts, self._values, self._quality = [], [], [], []
        self._frames, self._frame_rows = [], 0
        frame = frame.with_columns(pl.col("ts").dt.date().alias("_day"))
        for (day,), part in frame.partition_by("_day", as_dict=True).items():
            assert isinstance(day, date)
            folder = self.root / f"day={day.isoformat()}"
            folder.mkdir(exist_ok=True)
            first = part["ts"].min()
            stamp = first.strftime("%H%M%S%f") if isinstance(first, datetime) else "0"
            path = folder / f"part-{stamp}-{next(self._parts):06d}.parquet"
            tmp = path.with_suffix(".tmp")
            part.drop("_day").sort("point", "ts").write_parquet(tmp, statistics=True)
            tmp.rename(path)  # readers never see a half-written file
            self.files_written += 1
        self.rows_written += frame.height
        return frame.height

    def close(self) -> None:
        self.flush()

    # --- reading --------------------------------------------------------------

    def scan(self) -> pl.LazyFrame:
        files = sorted(self.root.glob("day=*/*.parquet"))
        if not files:
            return pl.DataFrame(schema=SCHEMA).lazy()
        return pl.scan_parquet(files, schema=SCHEMA)

    def read(
        self,
        *,
        point: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """Samples in ``[since, until)`` (all points unless ``point``), sorted by point, ts."""
        query = self.scan()
        if point is not None:
            query = query.filter(pl.col("point") == point)
        if since is not None:
            query = query.filter(pl.col("ts") >= _utc(since))
        if until is not None:
            query = query.filter(pl.col("ts") < _utc(until))
        return query.sort("point", "ts").collect()

    def series(self, point: str, since: datetime, until: datetime) -> pl.DataFrame:
        """The forecasting boundary: ``unique_id, ds, y`` (statsforecast's shape)."""
        return self.read(point=point, since=since, until=until).select(
            pl.col("point").alias("unique_id"), pl.col("ts").alias("ds"), pl.col("value").alias("y")
        )

    def forecast_frame(self, since: datetime, until: datetime, every: timedelta) -> pl.DataFrame:
        """Good-quality samples of every point as ``unique_id, ds, y``, averaged per ``every``.

        Telemetry arrives every few seconds; a forecast wants one value per slot (the
        slot's mean, stamped with its start). Bad and uncertain samples are left out.
        """
        samples = self.read(since=since, until=until).filter(
            (pl.col("quality") == "good") & pl.col("value").is_finite()
        )
        every_us = int(every / timedelta(microseconds=1))
        return (
            samples.group_by_dynamic("ts", every=f"{every_us}us", group_by="point")
            .agg(pl.col("value").mean())
            .select(
                pl.col("point").alias("unique_id"),
                pl.col("ts").alias("ds"),
                pl.col("value").alias("y"),
            )
            .sort("unique_id", "ds")
        )

    def compact_day(self, day: date) -> int:
        """Merge a day's part files into one (fewer files, faster scans); returns parts merged."""
        folder = self.root / f"day={day.isoformat()}"
        parts = sorted(folder.glob("*.parquet"))
        if len(parts) <= 1:
            return 0
        merged = pl.read_parquet(parts, schema=SCHEMA).sort("point", "ts")
        target = folder / f"part-000000000000-day-{next(self._parts):06d}.parquet"
        tmp = target.with_suffix(".tmp")
        merged.write_parquet(tmp, statistics=True)
        tmp.rename(target)
        for p in parts:
            p.unlink()
        return len(parts)


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def days(since: datetime, until: datetime) -> list[date]:
    d, out = since.date(), []
    while d <= until.date():
        out.append(d)
        d += timedelta(days=1)
    return out
