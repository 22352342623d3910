"""Hit rate and predictive accuracy index (PAI) of a ranked hotspot forecast.

Definitions (design.md, "Measures we report"; Chainey, Tompson & Uhlig, "The utility of
hotspot mapping for predicting spatial patterns of crime", Security Journal 21, 2008, for PAI):

* rank the city's cells by predicted risk; the top ``a%`` of the city's area is the first
  ``a/100 * N`` cells of ``N``;
* **hit rate at a%** = share of the period's incidents that fall in those cells;
* **PAI at a%** = hit rate / (a/100);
* **ties at the cut are split proportionally**: cells of equal risk form one group; a group
  that straddles the cut, with ``r`` of its ``m`` cells' worth of area inside, contributes
  ``r / m`` of its incidents. The area itself is continuous: with ``a/100 * N = 2.5`` the third
  cell counts for half, so the area selected is exactly ``a%`` for every method.

The *maximum possible* hit rate of a period is the hit rate of its own counts used as the risk.
Incidents of the period outside the city's cells count in the denominator (they cannot be
hit): pass their number as ``outside``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

SHARES = (0.01, 0.05, 0.10)
"""The area shares design.md reports at: 1%, 5% and 10%."""


def hit_rates(
    risk: npt.ArrayLike,
    counts: npt.ArrayLike,
    shares: Sequence[float] | npt.ArrayLike = SHARES,
    outside: float = 0.0,
) -> F64:
    """Hit rate at each area share, ties at the cut split proportionally.

    Parameters
    ----------
    risk
        Predicted risk of each of the city's ``N`` cells (higher = riskier; NaN = lowest).
    counts
        The period's incidents in each of those cells.
    shares
        Area shares in ``[0, 1]`` (0.01 = the top 1% of the cells).
    outside
        The period's incidents outside the city's cells (denominator only).

    Returns
    -------
    numpy.ndarray
        One hit rate per share; NaN when the period has no incident.

    Examples
    --------
    Ten cells, 20 incidents; the top 20% (two cells) hold 8 + 6 of them:

    >>> risk = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    >>> counts = [8, 6, 2, 1, 1, 1, 1, 0, 0, 0]
    >>> hit_rates(risk, counts, [0.1, 0.2, 0.25]).tolist()
    [0.4, 0.7, 0.75]

    A tie at the cut: the top 10% is one cell, but two cells share the top risk, so half of
    their 8 + 6 incidents count:

    >>> hit_rates([5, 5, 1, 1, 1, 1, 1, 1, 1, 1], counts, [0.1]).tolist()
    [0.35]
    """
    r = np.asarray(risk, dtype=np.float64).reshape(-1)
    c = np.asarray(counts, dtype=np.float64).reshape(-1)
    s = np.asarray(shares, dtype=np.float64).reshape(-1)
    if r.shape != c.shape:
        raise ValueError(f"risk has {r.size} cells, counts {c.size}")
    if np.any((s < 0) | (s > 1)):
        raise ValueError("shares must be in [0, 1]")
    if np.any(c < 0) or outside < 0:
        raise ValueError("counts must be >= 0")
    total = float(c.sum()) + float(outside)
    n = r.size
    if total <= 0 or n == 0:
        return np.full(s.shape, np.nan)
    r = np.where(np.isnan(r), -np.inf, r)
    order = np.argsort(-r, kind="stable")
    rs, cs = r[order], c[order]
    new_group = np.empty(n, dtype=bool)
    new_group[0] = True
    new_group[1:] = rs[1:] != rs[:-1]
    gid = np.cumsum(new_group) - 1
    size = np.bincount(gid).astype(np.float64)
    hits = np.bincount(gid, weights=cs)
    start = np.concatenate([[0.0], np.cumsum(size)[:-1]])
    k = s[:, None] * n
    frac = np.clip((k - start[None, :]) / size[None, :], 0.0, 1.0)
    out: F64 = (frac @ hits) / total
    return out


def pai(hit_rate: npt.ArrayLike, shares: Sequence[float] | npt.ArrayLike = SHARES) -> F64:
    """PAI = hit rate / area share (element-wise; shares broadcast over the last axis).

    Examples
    --------
    >>> pai([0.1, 0.25, 0.4], [0.01, 0.05, 0.1]).round(6).tolist()
    [10.0, 5.0, 4.0]
    """
    h = np.asarray(hit_rate, dtype=np.float64)
    s = np.asarray(shares, dtype=np.float64)
    out: F64 = h / s
    return out


def max_hit_rates(
    counts: npt.ArrayLike,
    shares: Sequence[float] | npt.ArrayLike = SHARES,
    outside: float = 0.0,
) -> F64:
    """The maximum possible hit rate: the period's own counts used as the forecast.

    Examples
    --------
    >>> max_hit_rates([0, 3, 1, 0, 0, 0, 0, 0, 0, 0], [0.1, 0.2]).tolist()
    [0.75, 1.0]
    """
    return hit_rates(counts, counts, shares, outside)
