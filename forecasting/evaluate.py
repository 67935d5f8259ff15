"""Evaluation on real profiles: anomaly false alarms and detection delays per profile type.

Used by ``benchmarks/bench_forecast.py`` (untouched series) and by tuning (tune series).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from forecasting.anomaly_profile import DetectorConfig, calibrate, day_matrix, local_grid, score
from forecasting.calendar import SiteCalendar
from forecasting.profiles import SIMBENCH_TZ, Profiles, generated_holiday, inject_faults, window

WINDOW_STEPS = 8  # a "window" is 2 h of 15-min samples; detection must come within one
#: evaluation periods (first test day); each has CALIB_DAYS of history before it
PERIODS = (
    datetime(2016, 3, 7, tzinfo=UTC),
    datetime(2016, 6, 6, tzinfo=UTC),
    datetime(2016, 9, 5, tzinfo=UTC),
    datetime(2016, 11, 28, tzinfo=UTC),
)
CALIB_DAYS = 42
TEST_DAYS = 28


@dataclass(frozen=True, slots=True, kw_only=True)
class AnomalyReport:
    kind: str
    normal_windows: int
    false_alarm_windows: int
    steps: int
    steps_detected_2h: int
    spikes: int
    spikes_detected: int

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarm_windows / max(self.normal_windows, 1)

    @property
    def step_rate(self) -> float:
        return self.steps_detected_2h / max(self.steps, 1)

    @property
    def spike_rate(self) -> float:
        return self.spikes_detected / max(self.spikes, 1)


def _matrix(part: pl.DataFrame, cal: SiteCalendar) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    days, slots = local_grid(part["ds"].to_list(), cal)
    dates, mat = day_matrix(part["y"].to_numpy(), days, slots)
    return dates, mat, cal.day_types(dates)


def anomaly_report(
    profiles: Profiles,
    ids: list[str],
    cal: SiteCalendar,
    cfg: DetectorConfig | None = None,
    *,
    seed: int = 7,
) -> dict[str, AnomalyReport]:
    """Per profile type over ``PERIODS``: false alarms on normal 2-h windows of the test
    weeks, level steps (+20 % of median) caught within 2 h, spikes caught within 2 h."""
    cfg = cfg or DetectorConfig()
    acc: dict[str, list[int]] = {}
    for p, start in enumerate(PERIODS):
        span = window(
            profiles.frame.filter(pl.col("unique_id").is_in(ids)),
            start - timedelta(days=CALIB_DAYS),
            CALIB_DAYS + TEST_DAYS,
        )
        for (uid,), part in span.group_by("unique_id", maintain_order=True):
            kind = profiles.kind[str(uid)]
            a = acc.setdefault(kind, [0] * 6)
            dates, mat, types = _matrix(part, cal)
            calib = dates < np.datetime64(start.date())
            det = calibrate(mat[calib], types[calib], cfg)
            sc = score(det, mat, types, cfg)
            test_alarm = sc.alarm.reshape(mat.shape)[~calib].ravel()
            n_win = len(test_alarm) // WINDOW_STEPS
            wins = test_alarm[: n_win * WINDOW_STEPS].reshape(n_win, WINDOW_STEPS).any(axis=1)
            a[0] += n_win
            a[1] += int(wins.sum())
            for copy, fault in inject_faults(part, start, TEST_DAYS, seed=seed + p):
                _, fmat, _ = _matrix(copy, cal)
                fal = score(det, fmat, types, cfg).alarm
                # the fault's place in the local-time day matrix (not its row in the frame)
                fday, fslot = local_grid([fault.at], cal)
                pos = int(np.searchsorted(dates, fday[0])) * 96 + int(fslot[0])
                hit = bool(fal[pos : pos + WINDOW_STEPS].any())
                if fault.kind == "level_step":
                    a[2] += 1
                    a[3] += int(hit)
                else:
                    a[4] += 1
                    a[5] += int(hit)
    return {
        k: AnomalyReport(
            kind=k,
            normal_windows=v[0],
            false_alarm_windows=v[1],
            steps=v[2],
            steps_detected_2h=v[3],
            spikes=v[4],
            spikes_detected=v[5],
        )
        for k, v in acc.items()
    }


# ---- forecasts ------------------------------------------------------------------------------

HISTORY_DAYS = 28
#: generated holidays: a normal Wednesday replaced by the Sunday before it (declared a
#: holiday through the calendar's extra days), one per season
GENERATED_HOLIDAYS = (
    (date(2016, 4, 20), date(2016, 4, 17)),
    (date(2016, 7, 13), date(2016, 7, 10)),
    (date(2016, 11, 16), date(2016, 11, 13)),
)
#: ordinary next-day evaluation days, chosen before tuning; the year's holidays (March to
#: December) and the generated ones are added
ORDINARY_DAYS = tuple(date(2016, 3, 2) + timedelta(days=19 * k) for k in range(15))


def forecast_days(cal: SiteCalendar) -> list[tuple[date, bool]]:
    """(local date, is holiday) of every evaluation day."""
    hol = cal.holidays_between(date(2016, 3, 1), date(2016, 12, 28))
    return [(d, d in hol) for d in sorted(set(ORDINARY_DAYS) | hol)]


def with_generated_holidays(profiles: Profiles) -> tuple[pl.DataFrame, SiteCalendar]:
    """The profiles with the generated holidays written in, and a calendar that knows them."""
    frame = profiles.frame
    for day, like in GENERATED_HOLIDAYS:
        frame = generated_holiday(frame, day, like)
    cal = SiteCalendar(
        country="DE", tz=SIMBENCH_TZ, extra_holidays=tuple(d for d, _ in GENERATED_HOLIDAYS)
    )
    return frame, cal


@dataclass(frozen=True, slots=True, kw_only=True)
class DayScore:
    unique_id: str
    day: date
    holiday: bool
    model: str
    mase: float
    snaive: float
    mstl: float
    hits80: int
    hits95: int
    n: int


def _polars(frame: object) -> pl.DataFrame:
    return frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)


def forecast_report(
    frame: pl.DataFrame,
    ids: list[str],
    cal: SiteCalendar,
    *,
    with_mstl: bool = True,
    n_jobs: int = 2,
    days: list[tuple[date, bool]] | None = None,
) -> list[DayScore]:
    """Next-day forecasts from local midnight on 28 days of history, per series and day,
    scored against seasonal naive (the same instant a day earlier) and MSTL(daily, weekly)
    run in the same call; MASE is scaled by the history's daily seasonal-naive MAE."""
    from statsforecast import StatsForecast

    from forecasting.candidates import mstl
    from forecasting.engine import EngineConfig, ForecastEngine
    from forecasting.frames import clean
    from forecasting.metrics import naive_scale

    zone = ZoneInfo(cal.tz)
    data = frame.filter(pl.col("unique_id").is_in(ids))
    out: list[DayScore] = []
    for day, is_hol in days or forecast_days(cal):
        local = datetime(day.year, day.month, day.day, tzinfo=zone)
        origin = local.astimezone(UTC)
        h = int(((local + timedelta(days=1)).astimezone(UTC) - origin) / timedelta(minutes=15))
        hist = clean(window(data, origin - timedelta(days=HISTORY_DAYS), HISTORY_DAYS))
        actual = window(data, origin, h / 96)
        engine = ForecastEngine(
            EngineConfig(horizon=timedelta(minutes=15 * h), n_jobs=n_jobs, calendar=cal)
        )
        fc = engine.forecast(hist, engine.select(hist, origin)).frame
        ref: pl.DataFrame | None = None
        if with_mstl:
            naive_ds = hist.frame.select("unique_id", "ds", "y").with_columns(
                pl.col("ds").dt.replace_time_zone(None)
            )
            ref = _polars(
                StatsForecast(models=[mstl(96, 672, h)], freq="15m", n_jobs=n_jobs).forecast(
                    h=h, df=naive_ds
                )
            )
        for (uid,), part in actual.group_by("unique_id"):
            y = part.sort("ds")["y"].to_numpy()
            hist_y = hist.frame.filter(pl.col("unique_id") == uid)["y"].to_numpy()
            scale = naive_scale(hist_y, 96)
            f = fc.filter(pl.col("unique_id") == uid).sort("ds")
            sn = np.resize(hist_y[-96:], len(y))  # the same instant a day earlier
            m = float("nan")
            if ref is not None:
                r = ref.filter(pl.col("unique_id") == uid).sort("ds")["MSTL"].to_numpy()
                m = float(np.mean(np.abs(y - r[: len(y)])) / scale)
            lo80, hi80 = f["lo_80"].to_numpy(), f["hi_80"].to_numpy()
            lo95, hi95 = f["lo_95"].to_numpy(), f["hi_95"].to_numpy()
            out.append(
                DayScore(
                    unique_id=str(uid),
                    day=day,
                    holiday=is_hol,
                    model=str(f["model"][0]),
                    mase=float(np.mean(np.abs(y - f["yhat"].to_numpy())) / scale),
                    snaive=float(np.mean(np.abs(y - sn)) / scale),
                    mstl=m,
                    hits80=int(((y >= lo80) & (y <= hi80)).sum()),
                    hits95=int(((y >= lo95) & (y <= hi95)).sum()),
                    n=len(y),
                )
            )
    return out


def _mean(vals: list[float]) -> float:
    v = [x for x in vals if np.isfinite(x)]
    return float(np.mean(v)) if v else float("nan")


def summarize(scores: list[DayScore], kinds: dict[str, str]) -> dict[str, Any]:
    """Pooled MASE (all days, holidays), coverage pooled and per series, per profile type."""
    hol = [s for s in scores if s.holiday]
    per_series: dict[str, list[DayScore]] = {}
    for s in scores:
        per_series.setdefault(s.unique_id, []).append(s)
    cov80 = {u: sum(x.hits80 for x in v) / sum(x.n for x in v) for u, v in per_series.items()}
    cov95 = {u: sum(x.hits95 for x in v) / sum(x.n for x in v) for u, v in per_series.items()}
    n = sum(s.n for s in scores)
    return {
        "mase": _mean([s.mase for s in scores]),
        "snaive": _mean([s.snaive for s in scores]),
        "mstl": _mean([s.mstl for s in scores]),
        "holiday_mase": _mean([s.mase for s in hol]),
        "holiday_snaive": _mean([s.snaive for s in hol]),
        "holiday_mstl": _mean([s.mstl for s in hol]),
        "coverage_80": sum(s.hits80 for s in scores) / n,
        "coverage_95": sum(s.hits95 for s in scores) / n,
        "min_series_coverage_80": min(cov80.values()),
        "min_series_coverage_95": min(cov95.values()),
        "cov80": cov80,
        "cov95": cov95,
        "by_kind": {
            k: _mean([s.mase for s in scores if kinds[s.unique_id] == k])
            for k in sorted({kinds[s.unique_id] for s in scores})
        },
        "models": {m: sum(1 for s in scores if s.model == m) for m in {s.model for s in scores}},
        "days": len({s.day for s in scores}),
        "holidays": len({s.day for s in hol}),
    }
