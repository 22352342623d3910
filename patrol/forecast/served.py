"""Our forecaster as the stream serves it: ``ours-boosted`` on one district's incidents.

The hotspot backtest's winner (:class:`~patrol.forecast.boosted.BoostedCells`, docs/backtest.md)
computes every cell's features from *all* the city's incidents. A streaming worker only holds
the districts of its partitions, so the served form describes each ``(district, cell)`` pair
from that district's incidents alone (:func:`district_features`) and forecasts the district's
count in the cell; a cell's forecast is the sum over the districts with incidents in it (most
cells have one). The regressor, its binning and the exposure offset are those of
:class:`~patrol.forecast.boosted.BoostedCells`; only the rows differ. Train as you serve: the
model the workers load is fitted on exactly these rows (:class:`DistrictBoosted`), so the
backtest's ``ours-served`` measures what the stream ranks.

The trained model is applied by :class:`CellRateModel`: pure arithmetic around a ``raw``
function (the boosted trees' raw score, from scikit-learn here and from onnxruntime in the
workers, :mod:`models.forecast`), so this module never touches a model runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

import numpy as np

from patrol.evaluation.events import Events
from patrol.evaluation.grid import Grid
from patrol.forecast.base import F64, I64, period_slots
from patrol.forecast.boosted import F32, BoostedCells
from patrol.forecast.features import TOP_KINDS, cell_features, feature_names

DISTRICT_WINDOW_DAYS = 730.0
"""A district's cells are those holding one of its incidents in this many days before the
origin (design.md's city area, per district); the features read no further back."""


def district_cells(event_cells: I64, t: F64, origin: float) -> I64:
    """Sorted distinct cells of the incidents with ``origin - 730 <= t < origin``.

    Examples
    --------
    >>> district_cells(np.array([3, 1, 3, -1, 9]), np.array([1.0, 2.0, 5.0, 6.0, 800.0]), 7.0)
    array([1, 3])
    """
    i, j = np.searchsorted(t, [origin - DISTRICT_WINDOW_DAYS, origin], side="left")
    c = event_cells[i:j]
    out: I64 = np.unique(c[c >= 0])
    return out


def district_features(
    events: Events,
    event_cells: I64,
    grid: Grid,
    origin: float,
    days: float,
    tz: tzinfo | None,
    kinds: Sequence[str] = TOP_KINDS,
) -> tuple[I64, F32]:
    """The district's cells at ``origin`` and their features (:func:`cell_features`).

    ``events`` are one district's incidents, time-sorted, in cells ``event_cells`` of the
    city's ``grid``; only those before ``origin`` are read.

    Examples
    --------
    >>> g = Grid(150.0, 0.0, 0.0, 4, 4)
    >>> ev = Events.from_arrays(t=[1.0, 2.0, 40.0], x=[10.0, 10.0, 400.0], y=[10.0] * 3)
    >>> cells, x = district_features(ev, g.cell_of(ev.x, ev.y), g, 30.0, 7.0, None, kinds=())
    >>> cells.tolist(), x.shape, float(x[0, feature_names(()).index("n_28d")])
    ([0], (1, 26), 1.0)
    """
    cells = district_cells(event_cells, events.t, origin)
    width = len(feature_names(kinds))
    if not cells.size:
        return cells, np.zeros((0, width), dtype=np.float32)
    slots = period_slots(origin, days, tz)
    x = cell_features(events, event_cells, grid, cells, origin, days, slots, kinds)
    return cells, x


def cell_lookup(grid: Grid, values: F64) -> Callable[[F64, F64], F64]:
    """``at(x, y)``: the value of the grid cell holding each point, 0 outside the grid.

    Examples
    --------
    >>> at = cell_lookup(Grid(100.0, 0.0, 0.0, 2, 1), np.array([3.0, 5.0]))
    >>> at(np.array([50.0, 150.0, 999.0]), np.array([10.0, 10.0, 10.0])).tolist()
    [3.0, 5.0, 0.0]
    """

    def at(x: F64, y: F64) -> F64:
        idx = grid.cell_of(x, y)
        out: F64 = np.where(idx >= 0, values[np.maximum(idx, 0)], 0.0)
        return out

    return at


@dataclass(frozen=True)
class CellRateModel:
    """A trained served forecaster: features -> expected count per row for the period.

    ``forecast = exp(raw(binned(x))) * (x[exposure] + exposure_prior)``: the boosted trees'
    raw score is the log rate per unit of exposure (Poisson loss), the features are replaced by
    their bin numbers first (:func:`~patrol.forecast.boosted.bin_thresholds`).

    Parameters
    ----------
    thresholds
        Bin edges per feature column.
    exposure_index
        Column of the exposure feature (``None``: exposure 1).
    exposure_prior
        Added to the exposure.
    raw
        The trees' raw score of binned rows (float32 ``(n, width)`` -> ``(n,)``).
    version
        Identifies the model in routes and the API (e.g. ``"ours-served@2016-01-04"``).

    Examples
    --------
    A model whose trees say "log rate 0" everywhere forecasts the exposure itself:

    >>> m = CellRateModel([np.array([0.5])], 0, 0.5, lambda b: np.zeros(len(b)), "flat")
    >>> m.forecast(np.array([[0.0], [3.0]], dtype=np.float32)).tolist()
    [0.5, 3.5]
    """

    thresholds: Sequence[F64]
    exposure_index: int | None
    exposure_prior: float
    raw: Callable[[F32], Any]
    version: str = "unversioned"

    def binned(self, x: F32) -> F32:
        """Features replaced by their bin numbers."""
        if x.shape[1] != len(self.thresholds):
            raise ValueError(f"expected {len(self.thresholds)} feature columns, got {x.shape[1]}")
        cols = [np.searchsorted(th, x[:, j], side="left") for j, th in enumerate(self.thresholds)]
        return np.stack(cols, axis=1).astype(np.float32)

    def forecast(self, x: F32) -> F64:
        """Expected count of each row over the period the features were computed for."""
        if not len(x):
            return np.zeros(0)
        rate = np.exp(np.asarray(self.raw(self.binned(x)), dtype=np.float64).reshape(-1))
        if self.exposure_index is None:
            return rate
        out: F64 = rate * (x[:, self.exposure_index].astype(np.float64) + self.exposure_prior)
        return out


class DistrictBoosted(BoostedCells):
    """``ours-boosted`` with per-district rows: what the stream's workers can compute.

    Same parameters as :class:`~patrol.forecast.boosted.BoostedCells`. A row is a
    ``(district, cell)`` pair (``events.area`` is the district), described by
    :func:`district_features` from that district's incidents only and labelled with the
    district's count in the cell; a cell's forecast sums its districts' forecasts. Incidents
    without a district (``area == -1``) form a district of their own.

    Examples
    --------
    Two districts side by side; each one's steady cell outranks its quiet ones:

    >>> g = Grid(100.0, 0.0, 0.0, 4, 1)
    >>> weeks = [float(d) for d in range(0, 700, 7)]
    >>> ev = Events.from_arrays(t=weeks * 2 + [3.0, 4.0], x=[50.0] * 100 + [350.0] * 100
    ...     + [150.0, 250.0], y=[50.0] * 202, area=[0] * 100 + [1] * 100 + [0, 1],
    ...     areas=("A", "B"))
    >>> f = DistrictBoosted(n_origins=20, min_samples_leaf=2).fit(ev, g)
    >>> r = f.predict(np.arange(4), 700.0, 7.0)
    >>> bool(min(r[0], r[3]) > max(r[1], r[2]))
    True
    """

    name: str = "ours-served"
    kind = "ours"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rows_cache: dict[tuple[float, float], tuple[I64, I64, F32]] = {}

    def _reset(self) -> None:
        super()._reset()
        self._rows_cache = {}

    def rows(self, origin: float, days: float) -> tuple[I64, I64, F32]:
        """``(district, cell, features)`` of every row at ``origin`` (cached per origin)."""
        key = (round(origin, 9), round(days, 9))
        got = self._rows_cache.get(key)
        if got is not None:
            return got
        end = self.events.index_of(origin)
        area = self.events.area[:end]
        ds, cs, xs = [], [], []
        for a in np.unique(area):
            sel = np.flatnonzero(area == a)
            cells, x = district_features(
                self.events.take(sel), self.cells[sel], self.grid, origin, days, self.tz
            )
            ds.append(np.full(cells.size, int(a), dtype=np.int64))
            cs.append(cells)
            xs.append(x)
        width = len(self.feature_names)
        got = (
            np.concatenate(ds) if ds else np.zeros(0, np.int64),
            np.concatenate(cs) if cs else np.zeros(0, np.int64),
            np.concatenate(xs) if xs else np.zeros((0, width), np.float32),
        )
        self._rows_cache[key] = got
        return got

    def _labels(self, dist: I64, cells: I64, start: float, end: float) -> F64:
        i, j = self.events.index_of(start), self.events.index_of(end)
        c, a = self.cells[i:j], self.events.area[i:j].astype(np.int64)
        keep = c >= 0
        size = self.grid.size
        pair = np.bincount((a[keep] + 1) * size + c[keep], minlength=0)
        idx = (dist + 1) * size + cells
        out: F64 = np.where(idx < pair.size, pair[np.minimum(idx, pair.size - 1)], 0)
        return out.astype(np.float64)

    def _origin_rows(self, cells: I64, origin: float, days: float) -> tuple[F32, F64]:
        """Every district's rows at ``origin`` and the district's mean count in the cell over
        the ``horizon_periods`` after it (``cells`` is not used: each district has its own)."""
        h = self.horizon_periods
        dist, rc, x = self.rows(origin, days)
        return x, self._labels(dist, rc, origin, origin + h * days) / h

    def _keep_origins(self, keep: set[tuple[float, float]]) -> None:
        self._rows_cache = {k: v for k, v in self._rows_cache.items() if k in keep}

    def served_model(self, version: str = "unversioned") -> CellRateModel:
        """The fitted model as the workers apply it (scikit-learn's raw score)."""
        if self.model is None:
            raise RuntimeError("DistrictBoosted: not trained (too little history?)")
        model = self.model
        names = self.feature_names
        return CellRateModel(
            thresholds=list(self._thresholds),
            exposure_index=None if self.exposure is None else names.index(self.exposure),
            exposure_prior=self.exposure_prior,
            raw=lambda b: np.log(model.predict(b)),  # Poisson loss: predict = exp(raw)
            version=version,
        )

    def _predict(self, cells: I64, start: float, days: float) -> F64:
        if self.model is None or self._since_fit >= self.retrain_every:
            self.train(cells, start, days)
        self._since_fit += 1
        _, rc, x = self.rows(start, days)
        if self.model is None:  # too little history: the last year's counts
            per_row = x[:, self.feature_names.index("n_365d")].astype(np.float64)
        else:
            per_row = self.served_model().forecast(x)
        total = np.bincount(rc, weights=per_row, minlength=self.grid.size).astype(np.float64)
        out: F64 = total[cells]
        return out
