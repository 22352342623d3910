"""The engine's own forecaster: the CPSPA learners' KDE hotspots and space-time table as a map.

What the stream engine believes about the next period, made comparable with the other
methods (seed paper 004, sections 5.1-5.3; :mod:`patrol.learners`). One
:class:`~patrol.model.DistrictModel` per district (the engine's state: k-means clusters with an
elbow-chosen ``k``, per-cluster binned Gaussian KDE, Algorithm 1's ``P(day, hour, cluster)``
table, all with exponential decay) learns every incident. A cell's risk for a period is

    ``sum_k E_k * f_k(cell)``

* ``E_k``: expected incidents of cluster ``k`` over the period's local hours, from the
  space-time table (:meth:`DistrictModel.expected_rate` summed over the period's weekly slots);
* ``f_k``: the share of cluster ``k``'s KDE mass in the cell: the KDE learner's decayed cell
  weights smoothed with its Gaussian bandwidth (the density whose peak is the hotspot ``H_k``),
  restricted to the cluster's region (pixels nearer to its centroid than to any other) and
  normalised to sum 1 over it.

Parameters are the engine's (:class:`~patrol.config.EngineConfig`: 50 m cells, 150 m
bandwidth, 90-day half-life); a district is forecast once it has ``min_incidents``.
"""

from __future__ import annotations

from datetime import tzinfo

import numpy as np
from scipy.ndimage import gaussian_filter

from patrol.config import EngineConfig
from patrol.evaluation.events import Events
from patrol.forecast.base import F64, I64, Forecaster, period_slots
from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering
from patrol.model import DistrictModel


class EngineForecaster(Forecaster):
    """KDE hotspots x space-time table of the engine's per-district CPSPA models.

    Parameters
    ----------
    config
        Engine parameters (default: the engine's defaults).
    tz
        Time zone of the local weekly slots (the city's; default UTC).

    Examples
    --------
    Forty incidents around (500, 500) and ten around (2500, 500), all on Monday nights:

    >>> from patrol.evaluation.grid import Grid
    >>> g = Grid(150.0, 0.0, 0.0, 20, 8)
    >>> xs = [500.0 + i % 5 for i in range(40)] + [2500.0 + i for i in range(10)]
    >>> ev = Events.from_arrays(t=[17000.0 + i / 100 for i in range(50)], x=xs,
    ...     y=[500.0] * 50, hour=[22] * 50, dow=[0] * 50)
    >>> f = EngineForecaster(EngineConfig(min_incidents=10)).fit(ev, g)
    >>> risk = f.predict(np.arange(g.size), 17003.0, 7.0)
    >>> int(np.argmax(risk)) == int(g.cell_of(500.0, 500.0))
    True
    >>> xc, _ = g.centres(np.arange(g.size))
    >>> round(float(risk[xc < 1500].sum() / risk[xc > 1500].sum()), 1)  # 40 : 10 incidents
    4.0
    """

    name: str = "engine-kde-table"
    kind = "engine"

    def __init__(self, config: EngineConfig | None = None, tz: tzinfo | None = None) -> None:
        super().__init__()
        self.config = config or EngineConfig()
        self.tz = tz
        self.models: dict[int, DistrictModel] = {}

    def _reset(self) -> None:
        self.models = {}

    def _learned(self, events: Events, cells: I64) -> None:
        slots = events.dow.astype(np.int64) * 24 + events.hour
        models = self.models
        for a, x, y, t, s in zip(
            events.area.tolist(),
            events.x.tolist(),
            events.y.tolist(),
            events.t.tolist(),
            slots.tolist(),
            strict=True,
        ):
            m = models.get(a)
            if m is None:
                m = models[a] = DistrictModel(self.config)
            m.learn_one(Observation(x, y, t, s))

    def _predict(self, cells: I64, start: float, days: float) -> F64:
        slots = period_slots(start, days, self.tz)
        risk = np.zeros(self.grid.size)
        for m in self.models.values():
            if m.n_incidents < self.config.min_incidents:
                continue
            clustering = m.clustering(start)
            if clustering.k == 0:
                continue
            expected = np.zeros(clustering.k)
            for s in slots.tolist():
                expected += m.expected_rate(clustering, s // 24, s % 24, start)[1]
            self._add_district(risk, m, clustering, expected)
        return risk[cells]

    def _add_district(
        self, risk: F64, m: DistrictModel, clustering: Clustering, expected: F64
    ) -> None:
        rows = np.asarray(m.kde.to_dict()["cells"], dtype=np.float64).reshape(-1, 4)
        rows = rows[rows[:, 2] > 0]
        if not len(rows):
            return
        cell_m = m.kde.cell_m
        sigma = m.kde.bandwidth_m / cell_m
        pad = int(np.ceil(4.0 * sigma)) + 1
        ij = rows[:, :2].astype(np.int64)
        lo = ij.min(axis=0) - pad
        shape = tuple(int(v) for v in ij.max(axis=0) - lo + 1 + pad)
        img = np.zeros(shape)
        np.add.at(img, (ij[:, 0] - lo[0], ij[:, 1] - lo[1]), rows[:, 2] / rows[:, 2].max())
        dens = gaussian_filter(img, sigma, mode="constant", truncate=4.0).reshape(-1)
        gx, gy = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
        px = (lo[0] + gx.reshape(-1) + 0.5) * cell_m
        py = (lo[1] + gy.reshape(-1) + 0.5) * cell_m
        keep = dens > 0
        px, py, dens = px[keep], py[keep], dens[keep]
        label = clustering.assign(px, py)
        mass = np.bincount(label, weights=dens, minlength=clustering.k)
        share = dens / np.where(mass[label] > 0, mass[label], 1.0)
        target = self.grid.cell_of(px, py)
        inside = target >= 0
        risk += np.bincount(
            target[inside], weights=(expected[label] * share)[inside], minlength=self.grid.size
        )
