"""Calendar-aware day-type profile forecast, in the site's local time.

For each target local day, each 15-min local slot: the mean of that slot over the
last ``n_days`` history days of the same day type (workday / Saturday /
Sunday-or-holiday, :mod:`forecasting.calendar`). A holiday is forecast from the
site's Sundays (and learns from past holidays, which are Sundays too); a workday
after a holiday is not polluted by it. DST: slots are local clock slots, so the
profile moves with the clock.
"""

from __future__ import annotations

import numpy as np

from forecasting.calendar import SUNDAY, WORKDAY

#: same-type days averaged, per day type (workday, Saturday, Sunday/holiday)
N_DAYS = (5, 3, 3)


def daytype_profile(
    mat: np.ndarray,
    types: np.ndarray,
    target_types: np.ndarray,
    n_days: tuple[int, int, int] = N_DAYS,
) -> np.ndarray:
    """Forecast [len(target_types), SLOTS] from history ``mat`` [D, SLOTS] with ``types`` [D].

    A type with no history day falls back to Sunday, then to the last days of any type.
    """
    out = np.full((len(target_types), mat.shape[1]), np.nan)
    for i, t in enumerate(target_types):
        rows = np.flatnonzero(types == t)[-n_days[int(t)] :]
        if len(rows) == 0:
            rows = np.flatnonzero(types == SUNDAY)[-n_days[SUNDAY] :]
        if len(rows) == 0:
            rows = np.arange(len(mat))[-n_days[WORKDAY] :]
        out[i] = np.nanmean(mat[rows], axis=0)
    return out
