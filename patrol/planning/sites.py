"""Where a unit could patrol: per-cell risk for a shift's hours and the candidate sites.

* :class:`CellRisk` - expected incidents per grid cell and shift hour, from any forecaster;
* :func:`history_risk` - decayed per-cell counts by weekday and hour (fine cells, 50 m): where
  and when within a coarser forecaster's cell, and the risk when no forecaster is given;
* :func:`forecast_level` / :func:`relevel_risk` - put the level of the best hotspot forecaster
  (``ours-boosted``, :class:`patrol.forecast.BoostedCells`, see docs/backtest.md) on the fine
  cells: each 150 m cell's expected count comes from the forecaster, its split over the 50 m
  cells and the shift's hours from :func:`history_risk`;
* :func:`select_sites` - greedy 250 m discs of most risk, never overlapping (units kept apart).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CellRisk:
    """Risk on a square grid: ``risk[h, iy, ix]``, expected incidents in a cell and hour.

    Cell ``(ix, iy)`` spans ``[x0 + ix * cell_m, x0 + (ix + 1) * cell_m)`` east and likewise north
    (metres on the city projection).
    """

    x0: float
    y0: float
    cell_m: float
    risk: FloatArray


@dataclass(frozen=True, slots=True)
class Sites:
    """Candidate way-points: centres ``(x, y)`` (metres) and ``risk`` ``(n_sites, n_hours)``."""

    x: FloatArray
    y: FloatArray
    risk: FloatArray


def decayed_periods(span_days: float, period_days: float, half_life_days: float) -> float:
    """Decayed number of periods (days or weeks) in ``span_days`` of history.

    ``sum_{k=0}^{K-1} q^k = (1 - q^K) / (1 - q)`` with ``q = 2^(-period / half_life)`` and
    ``K = max(1, span / period)`` (continuous): dividing a decayed count of one hour of the day
    (``period_days=1``) or of the week (7) by it gives the expected count in one such hour.

    Examples
    --------
    >>> decayed_periods(14.0, 7.0, math.inf), round(decayed_periods(1e6, 7.0, 7.0), 6)
    (2.0, 2.0)
    >>> decayed_periods(0.5, 1.0, 30.0)
    1.0
    """
    k = max(1.0, span_days / period_days)
    if math.isinf(half_life_days):
        return float(k)
    q = 2.0 ** (-period_days / half_life_days)
    return float((1.0 - q**k) / (1.0 - q))


def history_risk(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    t: npt.ArrayLike,
    hour: npt.ArrayLike,
    dow: npt.ArrayLike,
    *,
    now: float,
    hours: Sequence[int],
    weekday: int,
    cell_m: float = 50.0,
    half_life_days: float = 365.0,
    week_share: float = 0.5,
) -> CellRisk:
    """Expected incidents per cell and shift hour from decayed counts (where and when).

    For each shift hour ``H`` the risk of a cell is ``week_share * A + (1 - week_share) * B``
    where ``A`` is the decayed count of past incidents in the cell at weekday ``weekday`` and
    hour ``H`` divided by the decayed number of weeks of history, and ``B`` the same at hour
    ``H`` of any day divided by the decayed number of days: two estimates of the expected count
    in that hour, the first specific, the second less noisy. Only incidents with ``t < now`` are
    read (``t`` and ``now`` in days since the epoch).

    Parameters
    ----------
    x, y, t, hour, dow : array_like
        Past incidents: metres, days, local hour (0..23) and weekday (Monday = 0).
    now : float
        The shift start (days).
    hours : sequence of int
        Local hour of each hour row of the shift (:func:`patrol.planning.shift_local_hours`).
    weekday : int
        The shift's weekday.
    cell_m, half_life_days, week_share
        Grid cell side, decay half-life, weight of the same-weekday estimate.

    Returns
    -------
    CellRisk
        ``risk`` has shape ``(len(hours), ny, nx)`` over the bounding box of the incidents.

    Examples
    --------
    One Monday 18:00 incident two weeks before a Monday evening shift (no decay):

    >>> r = history_risk([10.0], [10.0], [0.0], [18], [0], now=14.0, hours=[17, 18], weekday=0,
    ...                  half_life_days=math.inf)
    >>> r.risk.shape, r.risk[:, 0, 0].round(4).tolist()  # 0.5 * 1/2 weeks + 0.5 * 1/14 days
    ((2, 1, 1), [0.0, 0.2857])
    """
    xs, ys, ts = (np.asarray(a, dtype=np.float64) for a in (x, y, t))
    hr, dw = np.asarray(hour, dtype=np.int64), np.asarray(dow, dtype=np.int64)
    past = ts < now
    xs, ys, ts, hr, dw = xs[past], ys[past], ts[past], hr[past], dw[past]
    if xs.size == 0:
        return CellRisk(0.0, 0.0, cell_m, np.zeros((len(hours), 1, 1)))
    x0 = math.floor(xs.min() / cell_m) * cell_m
    y0 = math.floor(ys.min() / cell_m) * cell_m
    ix = ((xs - x0) // cell_m).astype(np.int64)
    iy = ((ys - y0) // cell_m).astype(np.int64)
    nx, ny = int(ix.max()) + 1, int(iy.max()) + 1
    w = np.exp2(-(now - ts) / half_life_days) if math.isfinite(half_life_days) else np.ones_like(ts)
    span = now - float(ts.min())
    per_day = decayed_periods(span, 1.0, half_life_days)
    per_week = decayed_periods(span, 7.0, half_life_days)
    flat = iy * nx + ix
    out = np.zeros((len(hours), ny, nx))
    for h, local_hour in enumerate(hours):
        at_hour = hr == local_hour
        same_day = at_hour & (dw == weekday)
        a = np.bincount(flat[same_day], weights=w[same_day], minlength=nx * ny) / per_week
        b = np.bincount(flat[at_hour], weights=w[at_hour], minlength=nx * ny) / per_day
        out[h] = (week_share * a + (1.0 - week_share) * b).reshape(ny, nx)
    return CellRisk(float(x0), float(y0), cell_m, out)


def disc_footprint(radius_m: float, cell_m: float) -> npt.NDArray[np.bool_]:
    """Cells whose centres lie within ``radius_m`` of the centre cell's centre.

    Examples
    --------
    >>> disc_footprint(100.0, 50.0).astype(int).tolist()
    [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]]
    """
    r = int(radius_m // cell_m)
    off = np.arange(-r, r + 1) * cell_m
    out: npt.NDArray[np.bool_] = np.hypot(off[None, :], off[:, None]) <= radius_m + 1e-9
    return out


def select_sites(
    cells: CellRisk, n_sites: int, *, radius_m: float = 250.0, separation_m: float | None = None
) -> Sites:
    """Up to ``n_sites`` cell centres holding the most risk within ``radius_m``, kept apart.

    Greedy: take the cell whose disc (cells within ``radius_m``) holds the most risk over the
    shift (ties: the lowest row, then column), exclude every cell within ``separation_m``
    (default ``2 * radius_m``: discs do not overlap, so prizes add up and no two sites cover the
    same cell), repeat. Cells with no risk are never sites.

    Returns
    -------
    Sites
        In decreasing order of total risk; ``risk`` is the disc's risk per hour.

    Examples
    --------
    >>> r = np.zeros((1, 1, 30)); r[0, 0, [2, 4, 25]] = [1.0, 2.0, 0.5]
    >>> s = select_sites(CellRisk(0.0, 0.0, 50.0, r), 5, radius_m=100.0)
    >>> s.x.tolist(), s.risk[:, 0].tolist()  # cells 2 and 4 in one disc, then cell 25
    ([125.0, 1175.0], [3.0, 0.5])
    """
    sep = 2.0 * radius_m if separation_m is None else separation_m
    disc = disc_footprint(radius_m, cells.cell_m).astype(np.float64)
    per_hour = np.stack([ndimage.correlate(h, disc, mode="constant") for h in cells.risk])
    total = per_hour.sum(axis=0)
    ny, nx = total.shape
    gy, gx = np.mgrid[0:ny, 0:nx]
    free = total > 1e-12
    picks: list[tuple[int, int]] = []
    while len(picks) < n_sites and free.any():
        flat = int(np.argmax(np.where(free, total, -np.inf)))
        iy, ix = divmod(flat, nx)
        picks.append((iy, ix))
        free &= np.hypot(gx - ix, gy - iy) * cells.cell_m > sep
    iy_a = np.array([p[0] for p in picks], dtype=np.int64)
    ix_a = np.array([p[1] for p in picks], dtype=np.int64)
    return Sites(
        x=(cells.x0 + (ix_a + 0.5) * cells.cell_m).astype(np.float64),
        y=(cells.y0 + (iy_a + 0.5) * cells.cell_m).astype(np.float64),
        risk=per_hour[:, iy_a, ix_a].T.copy(),
    )


def weekly_counts(
    cells: npt.ArrayLike,
    t: npt.ArrayLike,
    *,
    now: float,
    n_cells: int,
    half_life_days: float = 365.0,
) -> FloatArray:
    """Expected incidents per cell in a week by decayed counts: the level :func:`history_risk`
    implies, summed over the hours of a week.

    ``sum 2^(-(now - t) / half_life)`` over the cell's incidents with ``t < now`` (days), divided
    by :func:`decayed_periods` of the history in weeks. Negative cells are ignored.

    Examples
    --------
    Two incidents in cell 1 over two weeks of history, no decay: one a week.

    >>> weekly_counts([1, 1, 0], [0.0, 7.0, 20.0], now=14.0, n_cells=3,
    ...               half_life_days=math.inf).tolist()
    [0.0, 1.0, 0.0]
    """
    c = np.asarray(cells, dtype=np.int64)
    ts = np.asarray(t, dtype=np.float64)
    keep = (ts < now) & (c >= 0)
    c, ts = c[keep], ts[keep]
    if ts.size == 0:
        return np.zeros(n_cells)
    w = np.exp2(-(now - ts) / half_life_days) if math.isfinite(half_life_days) else np.ones_like(ts)
    per_week = decayed_periods(now - float(ts.min()), 7.0, half_life_days)
    out: FloatArray = np.bincount(c, weights=w, minlength=n_cells)[:n_cells] / per_week
    return out


def forecast_level(forecast: npt.ArrayLike, counts: npt.ArrayLike) -> FloatArray:
    """Per coarse cell, the factor that turns the counts' level into the forecaster's.

    ``forecast / counts`` where the counts are positive; 0 elsewhere (no history to spread the
    forecast over). Both are expected incidents per cell over the same period (a week).

    Examples
    --------
    >>> forecast_level([2.0, 1.0, 0.5], [1.0, 0.0, 2.0]).tolist()
    [2.0, 0.0, 0.25]
    """
    f = np.asarray(forecast, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    out: FloatArray = np.divide(f, c, out=np.zeros_like(f), where=c > 0)
    return out


def relevel_risk(
    cells: CellRisk, factor_at: Callable[[FloatArray, FloatArray], FloatArray]
) -> CellRisk:
    """``cells`` with each cell's risk multiplied by ``factor_at(centre_x, centre_y)``.

    With ``factor_at`` looking up :func:`forecast_level` of the coarse cell holding a fine
    cell's centre, the fine cells of a coarse cell keep their shares (where within it, at
    which hours: decayed counts) and together carry the forecaster's expected count.

    Examples
    --------
    Two 50 m cells in one 150 m cell whose forecast is twice its count level:

    >>> r = CellRisk(0.0, 0.0, 50.0, np.array([[[1.0, 3.0]]]))
    >>> relevel_risk(r, lambda x, y: np.where(x < 150.0, 2.0, 0.0)).risk.tolist()
    [[[2.0, 6.0]]]
    """
    _, ny, nx = cells.risk.shape
    cx = cells.x0 + (np.arange(nx) + 0.5) * cells.cell_m
    cy = cells.y0 + (np.arange(ny) + 0.5) * cells.cell_m
    gx, gy = np.meshgrid(cx, cy)
    factor = np.asarray(factor_at(gx.ravel(), gy.ravel()), dtype=np.float64).reshape(ny, nx)
    if (factor < 0).any() or not np.isfinite(factor).all():
        raise ValueError("factor_at must return finite factors >= 0")
    return CellRisk(cells.x0, cells.y0, cells.cell_m, cells.risk * factor[None, :, :])
