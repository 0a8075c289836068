"""Intraclass correlation coefficients of Shrout & Fleiss (1979) for interval ratings: ``n``
targets (rows) rated by the same ``k`` judges (columns), no missing values.

From the two-way ANOVA mean squares (BMS between targets, WMS within targets, JMS between
judges, EMS residual)::

    ICC(1,1) = (BMS - WMS) / (BMS + (k - 1) WMS)                    one-way random
    ICC(2,1) = (BMS - EMS) / (BMS + (k - 1) EMS + k (JMS - EMS) / n) two-way random, absolute
    ICC(3,1) = (BMS - EMS) / (BMS + (k - 1) EMS)                     two-way mixed, consistency
    ICC(1,k) = (BMS - WMS) / BMS
    ICC(2,k) = (BMS - EMS) / (BMS + (JMS - EMS) / n)
    ICC(3,k) = (BMS - EMS) / BMS

The ``(.,k)`` forms are the reliability of the mean of the ``k`` judges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["icc"]


def icc(data: Sequence[Sequence[float]]) -> dict[str, float]:
    """The six ICCs, keyed ``"ICC(1,1)"`` ... ``"ICC(3,k)"`` with ``k`` the number of judges."""
    x = np.asarray(data, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"ICC needs at least 2 targets x 2 judges, got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError("ICC needs every judge to rate every target (no missing values)")
    n, k = x.shape
    grand = x.mean()
    ss_targets = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_judges = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((x - grand) ** 2).sum()
    ss_within = ss_total - ss_targets
    ss_error = ss_within - ss_judges
    bms = ss_targets / (n - 1)
    wms = ss_within / (n * (k - 1))
    jms = ss_judges / (k - 1)
    ems = ss_error / ((n - 1) * (k - 1))

    def ratio(num: float, den: float) -> float:
        return float(num / den) if den != 0 else math.nan

    return {"ICC(1,1)": ratio(bms - wms, bms + (k - 1) * wms),
            "ICC(2,1)": ratio(bms - ems, bms + (k - 1) * ems + k * (jms - ems) / n),
            "ICC(3,1)": ratio(bms - ems, bms + (k - 1) * ems),
            f"ICC(1,{k})": ratio(bms - wms, bms),
            f"ICC(2,{k})": ratio(bms - ems, bms + (jms - ems) / n),
            f"ICC(3,{k})": ratio(bms - ems, bms)}
