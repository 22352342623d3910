"""Per-cell features of the past, for the learned forecaster (:mod:`patrol.forecast.boosted`).

Every feature of a cell at a forecast origin ``s`` is computed from incidents with ``t < s``
only (the caller passes the time-sorted incidents learned so far, which the forecaster base
guarantees end before ``s``). Each is one ``np.bincount`` over a time slice of the incidents,
so a full set for every cell of the city costs a few tens of milliseconds.

Groups (the ideas the literature found to matter at fine scales):

* **counts over long and short windows** -- the last period, 4 periods, 28, 91, 365 and 730
  days: long windows capture the stable concentration of crime at places (Weisburd, "The law
  of crime concentration and the criminology of place", Criminology 53(2), 2015), short ones
  its drift;
* **near-repeat, self-exciting terms** -- exponentially decayed counts (half-lives 3, 14, 60
  days) in the cell and in its ring of 8 neighbours (Johnson & Bowers, "The burglary as
  clue to the future", European Journal of Criminology 1(2), 2004; Mohler et al. 2011);
* **neighbourhood** -- the counts of the 3 x 3 and 5 x 5 rings around the cell (365 days);
* **regularity** -- distinct days and distinct weeks with an incident in the last year, days
  since the last incident;
* **season** -- the cell's count in the same weeks one year earlier;
* **time of day and week** -- last year's incidents in four 6-hour bands, and in the
  forecast period's own weekly hours (for a day: the same weekday);
* **offence mix** -- last year's incidents of the most common offence types, and domestic ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.ndimage import convolve

from patrol.evaluation.events import Events
from patrol.evaluation.grid import Grid

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

TOP_KINDS = (
    "THEFT", "BATTERY", "CRIMINAL DAMAGE", "NARCOTICS", "ASSAULT", "OTHER OFFENSE",
    "DECEPTIVE PRACTICE", "BURGLARY", "MOTOR VEHICLE THEFT", "ROBBERY", "CRIMINAL TRESPASS",
)  # fmt: skip
"""Offence types whose last-year counts are features (Chicago's eleven most common)."""

WINDOWS_DAYS = (28.0, 91.0, 365.0, 730.0)
HALF_LIVES_DAYS = (3.0, 14.0, 60.0)
_BOX3 = np.ones((3, 3))
_BOX5 = np.ones((5, 5))


def feature_names(kinds: Sequence[str] = TOP_KINDS) -> list[str]:
    """Column names of :func:`cell_features`, in order.

    Examples
    --------
    >>> names = feature_names(("THEFT",))
    >>> names[:3], names[-2:], len(names)
    (['n_period', 'n_4periods', 'n_28d'], ['kind_THEFT', 'domestic_365d'], 27)
    """
    names = ["n_period", "n_4periods", *(f"n_{w:g}d" for w in WINDOWS_DAYS)]
    names += [f"decay_{h:g}d" for h in HALF_LIVES_DAYS]
    names += [f"ring1_decay_{h:g}d" for h in HALF_LIVES_DAYS]
    names += ["ring1_28d", "ring1_365d", "ring2_365d"]
    names += ["active_days_365d", "active_weeks_364d", "days_since_last"]
    names += ["last_year_same_period", "last_year_3periods"]
    names += [f"tod_{h:02d}" for h in (0, 6, 12, 18)]
    names += ["period_hours_365d"]
    names += [f"kind_{k}" for k in kinds]
    names += ["domestic_365d"]
    return names


def cell_features(
    events: Events,
    event_cells: I64,
    grid: Grid,
    cells: I64,
    start: float,
    days: float,
    period_slots: I64,
    kinds: Sequence[str] = TOP_KINDS,
) -> F32:
    """Feature matrix ``(len(cells), len(feature_names(kinds)))`` at origin ``start``.

    Parameters
    ----------
    events, event_cells
        Time-sorted incidents and their grid cells; only those with ``t < start`` are read.
    grid
        The grid of the cells.
    cells
        The cells to describe (rows).
    start, days
        The forecast period ``[start, start + days)``.
    period_slots
        Local weekly slots (``dow * 24 + hour``) of the period's hours.
    kinds
        Offence types counted (names from ``events.kinds``; unknown names count 0).

    Examples
    --------
    >>> g = Grid(100.0, 0.0, 0.0, 3, 3)
    >>> ev = Events.from_arrays(t=[10.0, 95.0, 99.0, 120.0], x=[150.0] * 4, y=[150.0] * 4)
    >>> X = cell_features(ev, g.cell_of(ev.x, ev.y), g, np.array([4, 0]), 100.0, 7.0,
    ...                   np.arange(168), kinds=())
    >>> dict(zip(feature_names(()), X[0].tolist()))["n_period"]  # t=95, 99 (not 120)
    2.0
    >>> dict(zip(feature_names(()), X[1].tolist()))["ring1_365d"]  # cell 0 touches cell 4
    3.0
    """
    end = events.index_of(start)
    t = events.t[:end]
    c = event_cells[:end]
    ok = c >= 0
    size = grid.size

    def count(since: float, until: float = start, weights: F64 | None = None) -> F64:
        i, j = np.searchsorted(t, [since, until], side="left")
        sel = ok[i:j]
        w = None if weights is None else weights[sel]
        return np.bincount(c[i:j][sel], weights=w, minlength=size).astype(np.float64)

    # ring sums only in the window of the requested cells plus 2 (the 5 x 5 reach): exact
    # there, zero elsewhere (a district's window is a small part of the city's raster)
    ix, iy = np.divmod(np.asarray(cells, dtype=np.int64), grid.ny)
    x0, x1 = (int(ix.min()) - 2, int(ix.max()) + 3) if len(cells) else (0, 0)
    y0, y1 = (int(iy.min()) - 2, int(iy.max()) + 3) if len(cells) else (0, 0)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, grid.nx), min(y1, grid.ny)

    def ring(full: F64, box: F64) -> F64:
        r = grid.raster(full)
        out = np.zeros_like(r)
        out[x0:x1, y0:y1] = convolve(r[x0:x1, y0:y1], box, mode="constant")
        return out.reshape(size)

    cols: list[F64] = [count(start - days), count(start - 4 * days)]
    cols += [count(start - w) for w in WINDOWS_DAYS]
    decays = []
    for h in HALF_LIVES_DAYS:
        i = int(np.searchsorted(t, start - 20 * h))
        decays.append(count(start - 20 * h, weights=np.exp2(-(start - t[i:]) / h)))
    cols += decays
    cols += [ring(d, _BOX3) - d for d in decays]
    n28, n365 = cols[2], cols[4]
    box3 = ring(n365, _BOX3)
    cols += [ring(n28, _BOX3) - n28, box3 - n365, ring(n365, _BOX5) - box3]

    i = int(np.searchsorted(t, start - 365.0))
    cy = c[i:][ok[i:]]
    ty = t[i:][ok[i:]]
    day = np.floor(start - ty).astype(np.int64)
    cols.append(_distinct(cy, day, size))
    cols.append(_distinct(cy, np.minimum(day // 7, 51), size))
    i2 = int(np.searchsorted(t, start - 730.0))
    last = np.full(size, -np.inf)
    c2, t2 = c[i2:][ok[i2:]], t[i2:][ok[i2:]]
    last[c2] = t2  # sorted by time: the last write per cell is its newest incident
    cols.append(np.minimum(start - last, 730.0))
    cols.append(count(start - 364.0, start - 364.0 + days))
    cols.append(count(start - 364.0 - days, start - 364.0 + 2 * days))

    hour = events.hour[:end][i:][ok[i:]].astype(np.int64)
    dow = events.dow[:end][i:][ok[i:]].astype(np.int64)
    cols += [np.bincount(cy[(hour // 6) == b], minlength=size).astype(np.float64)
             for b in range(4)]  # fmt: skip
    in_period = np.zeros(168, dtype=bool)
    in_period[np.asarray(period_slots, dtype=np.int64) % 168] = True
    cols.append(np.bincount(cy[in_period[dow * 24 + hour]], minlength=size).astype(np.float64))
    kind = events.kind[:end][i:][ok[i:]]
    for k in kinds:
        code = events.kinds.index(k) if k in events.kinds else -2
        cols.append(np.bincount(cy[kind == code], minlength=size).astype(np.float64))
    dom = events.domestic[:end][i:][ok[i:]]
    cols.append(np.bincount(cy[dom], minlength=size).astype(np.float64))
    return np.stack([col[cells] for col in cols], axis=1).astype(np.float32)


def _distinct(cells: I64, bucket: I64, size: int) -> F64:
    """Per cell, the number of distinct ``bucket`` values among its incidents."""
    if not len(cells):
        return np.zeros(size)
    key = np.unique(cells * (int(bucket.max()) + 1) + bucket)
    out: F64 = np.bincount(key // (int(bucket.max()) + 1), minlength=size).astype(np.float64)
    return out
