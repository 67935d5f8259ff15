"""Evaluation on real profiles: anomaly false alarms and detection delays per profile type.

Used by ``benchmarks/bench_forecast.py`` (untouched series) and by tuning (tune series).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from forecasting.anomaly_profile import DetectorConfig, calibrate, day_matrix, local_grid, score
from forecasting.calendar import SiteCalendar
from forecasting.profiles import Profiles, inject_faults, window

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
                pos = copy["ds"].to_list().index(fault.at)
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
