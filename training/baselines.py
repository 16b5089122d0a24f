"""The naive forecasts a skeptic tries first (docs/models.md), for every
family's evaluation: last value, same time yesterday, mean and median of the last hour,
85th percentile of the last day, on a 5-minute grid.

They are yardsticks computed in numpy at evaluation time, never served features.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

HOUR_BINS = 12
DAY_BINS = 288
NAMES = ("last value", "same time yesterday", "mean last hour", "median last hour",
         "p85 last day")


def naive_forecasts(series: NDArray[np.float64], ends: NDArray[np.int64],
                    yesterday: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    """Each baseline's forecast from origins ``ends`` (index of the last bin seen) of the
    target ``series``. ``yesterday`` is the family's label one day earlier (the label is
    what differs: a mean or a peak of the next bins); origins need a day of history."""
    hour = sliding_window_view(series, HOUR_BINS)[ends - HOUR_BINS + 1]
    day = sliding_window_view(series, DAY_BINS)[ends - DAY_BINS + 1]
    return {
        "last value": series[ends],
        "same time yesterday": yesterday,
        "mean last hour": hour.mean(axis=1),
        "median last hour": np.median(hour, axis=1),
        "p85 last day": np.percentile(day, 85, axis=1),
    }
