"""Per-series anomaly detection: switch-overs are normal, steps and spikes are not."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from forecasting.anomaly_profile import calibrate, day_matrix, local_grid, score
from forecasting.calendar import SiteCalendar
from forecasting.frames import ForecastError
from tests.forecasting.test_calendar import office

CAL = SiteCalendar(country="DE", tz="Europe/Berlin")
HOL = CAL.holidays_between(date(2026, 1, 1), date(2026, 12, 31))


def matrix(days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    frame = office(days, date(2026, 2, 2), HOL, seed=seed)
    d, s = local_grid(frame["ds"].to_list(), CAL)
    dates, mat = day_matrix(frame["y"].to_numpy(), d, s)
    return mat, CAL.day_types(dates)


def test_office_switch_overs_and_holidays_do_not_alarm() -> None:
    mat, types = matrix(70, seed=1)  # Feb-Apr: DST change and Easter included
    det = calibrate(mat[:42], types[:42])
    alarms = score(det, mat, types).alarm.reshape(mat.shape)[42:]
    assert alarms.sum() == 0  # 07:30/18:30 switch-overs, Good Friday and Easter Monday


def test_level_step_and_spike_are_caught_within_two_hours() -> None:
    mat, types = matrix(56, seed=2)
    det = calibrate(mat[:42], types[:42])
    flat = mat.ravel().copy()
    at = 45 * 96 + 8  # 02:00 local on a test day
    flat[at:] += 0.5 * det.level  # +50 % of the median level (5 noise SDs at night)
    step = score(det, flat.reshape(mat.shape), types).alarm
    assert step[42 * 96 : at].sum() == 0 and step[at : at + 8].any()
    flat = mat.ravel().copy()
    at = 50 * 96 + 48  # midday
    flat[at] += 0.5 * np.nanpercentile(mat, 95)
    spike = score(det, flat.reshape(mat.shape), types).alarm
    assert spike[42 * 96 : at].sum() == 0 and spike[at : at + 8].any()


def test_too_short_history_is_a_clear_error() -> None:
    mat, types = matrix(9, seed=3)
    with pytest.raises(ForecastError, match="at least 21 days of history"):
        calibrate(mat, types)
