"""Real load and PV profiles from the SimBench package, split once, plus faults at known times.

SimBench (the ``bench`` extra) ships a year of 15-min profiles (2016, German load
profiles: holidays behave like Sundays). Its clock labels are German local time WITH
DST (27 March skips 02:00-02:45, 30 October repeats it); the rows are a regular
15-min sequence in real time, so UTC is 2015-12-31 23:00 + row x 15 min. The
package is located on disk and its CSV read directly; it is never imported (that
would import pandapower) and nothing is downloaded.

The SPLIT is fixed here, before any tuning: within each profile type, in sorted
name order, even positions are ``tune`` series and odd positions ``untouched``
series. Models, thresholds and rules are tuned on ``tune`` only; benchmarks report
their final figures on ``untouched``.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from forecasting.frames import ForecastError

Kind = Literal["residential", "commercial", "agricultural", "pv"]
Split = Literal["tune", "untouched"]
KINDS: tuple[Kind, ...] = ("residential", "commercial", "agricultural", "pv")
FOLDER = "1-complete_data-mixed-all-0-sw"
#: SimBench clock labels are German local time (CET/CEST)
SIMBENCH_TZ = "Europe/Berlin"
_FIRST_UTC = datetime(2015, 12, 31, 23, 0, tzinfo=UTC)
_PATTERNS: dict[Kind, str] = {
    "residential": r"^H0-[A-Z]_pload$",
    "commercial": r"^G[0-6]-[A-Z]_pload$",
    "agricultural": r"^L[0-2]-[A-Z]_pload$",
    "pv": r"^PV[0-9]+$",
}


def simbench_dir() -> Path | None:
    """The SimBench data folder if the package is installed (found, not imported)."""
    spec = importlib.util.find_spec("simbench")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "networks" / FOLDER
    return folder if (folder / "LoadProfile.csv").is_file() else None


def kind_of(name: str) -> Kind | None:
    for kind, pattern in _PATTERNS.items():
        if re.match(pattern, name):
            return kind
    return None


def split_of(names: list[str]) -> dict[str, Split]:
    """Even positions per kind (sorted) tune, odd ones are untouched."""
    out: dict[str, Split] = {}
    for kind in KINDS:
        members = sorted(n for n in names if kind_of(n) == kind)
        for i, n in enumerate(members):
            out[n] = "tune" if i % 2 == 0 else "untouched"
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Profiles:
    """``frame``: unique_id, ds (UTC), y; ``kind`` and ``split`` per series."""

    frame: pl.DataFrame
    kind: dict[str, Kind]
    split: dict[str, Split]

    def ids(self, split: Split, kind: Kind | None = None) -> list[str]:
        return sorted(
            u
            for u, s in self.split.items()
            if s == split and (kind is None or self.kind[u] == kind)
        )


def load_simbench(folder: Path | None = None) -> Profiles:
    """All residential, commercial, agricultural and PV profiles, one year, 15 min, UTC."""
    folder = folder or simbench_dir()
    if folder is None:
        raise ForecastError("simbench is not installed: pip install -e '.[bench]'")
    load = pl.read_csv(folder / "LoadProfile.csv", separator=";", infer_schema=False)
    res = pl.read_csv(folder / "RESProfile.csv", separator=";", infer_schema=False)
    lcols = [c for c in load.columns if kind_of(c) is not None]
    rcols = [c for c in res.columns if kind_of(c) is not None]
    if load.height != res.height or load["time"][0] != "01.01.2016 00:00":
        raise ForecastError(f"unexpected SimBench profile layout in {folder}: reinstall simbench")
    ds = pl.datetime_range(
        _FIRST_UTC,
        _FIRST_UTC + timedelta(minutes=15 * (load.height - 1)),
        "15m",
        time_unit="us",
        time_zone="UTC",
        eager=True,
    ).alias("ds")
    wide = load.select(*lcols).hstack(res.select(*rcols)).with_columns(ds)  # equal heights
    long = wide.unpivot(index="ds", variable_name="name", value_name="y").with_columns(
        pl.col("y").cast(pl.Float64),
        pl.col("name").str.replace("_pload$", "").alias("unique_id"),
    )
    names = sorted(set(long["name"].to_list()))
    kinds = {n.removesuffix("_pload"): k for n in names if (k := kind_of(n)) is not None}
    splits = {n.removesuffix("_pload"): s for n, s in split_of(names).items()}
    frame = long.select("unique_id", "ds", "y").sort("unique_id", "ds")
    return Profiles(frame=frame, kind=kinds, split=splits)


def window(frame: pl.DataFrame, start: datetime, days: float) -> pl.DataFrame:
    return frame.filter((pl.col("ds") >= start) & (pl.col("ds") < start + timedelta(days=days)))


# ---- faults and generated holidays at known times -----------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    unique_id: str
    kind: Literal["level_step", "spike"]
    at: datetime  # first affected sample (UTC)
    size: float  # added to y (level step: until the end of the frame)


def inject_faults(
    frame: pl.DataFrame,
    start: datetime,
    days: int,
    *,
    seed: int,
    per_series: int = 4,
    step_share: float = 0.20,
    spike_share: float = 0.5,
) -> list[tuple[pl.DataFrame, Fault]]:
    """Copies of each series with ONE fault each, at random 15-min slots in ``[start, +days)``.

    Level step: +``step_share`` x the series' median of non-zero values from then on
    (+20 %, the issue's size). Spike: one sample + ``spike_share`` x the series' 95th
    percentile. Each copy holds exactly one fault, so detection delay is unambiguous.
    """
    rng = np.random.default_rng(seed)
    out: list[tuple[pl.DataFrame, Fault]] = []
    slots = days * 96
    for (uid,), part in frame.group_by("unique_id", maintain_order=True):
        y = part["y"].to_numpy()
        nz = y[np.abs(y) > 1e-9]
        median = float(np.median(nz)) if nz.size else 0.0
        p95 = float(np.percentile(y, 95))
        ds = part["ds"].to_list()
        first = ds.index(start) if start in ds else 0
        for k in range(per_series):
            kind: Literal["level_step", "spike"] = "level_step" if k % 2 == 0 else "spike"
            pos = first + int(rng.integers(0, slots - 8))
            bad = y.copy()
            if kind == "level_step":
                size = step_share * median
                bad[pos:] += size
            else:
                size = spike_share * p95
                bad[pos] += size
            copy = part.with_columns(pl.Series("y", bad), pl.lit(f"{uid}#{k}").alias("unique_id"))
            out.append((copy, Fault(unique_id=f"{uid}#{k}", kind=kind, at=ds[pos], size=size)))
    return out


def generated_holiday(frame: pl.DataFrame, day: date, like: date) -> pl.DataFrame:
    """``frame`` with local day ``day`` replaced by the values of local day ``like`` (a Sunday,
    same UTC offset), sample for sample. The caller declares ``day`` a holiday."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(SIMBENCH_TZ)
    day_start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    like_start = datetime(like.year, like.month, like.day, tzinfo=zone).astimezone(UTC)
    shift = day_start - like_start
    src = window(frame, like_start, 1).with_columns((pl.col("ds") + shift).alias("ds"))
    keep = frame.filter(~((pl.col("ds") >= day_start) & (pl.col("ds") < day_start + timedelta(1))))
    return pl.concat([keep, src.select(frame.columns)]).sort("unique_id", "ds")
