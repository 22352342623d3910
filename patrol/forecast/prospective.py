"""Prospective hotspot mapping (Bowers, Johnson & Pease 2004).

Bowers, K. J., Johnson, S. D. & Pease, K. (2004), "Prospective hot-spotting: the future of
crime mapping?", British Journal of Criminology 44(5), 641-658, doi:10.1093/bjc/azh036; as
implemented in ``open_cp.prohotspot`` (``ClassicWeight``, ``DistanceDiagonalsSame``).

Space is cut into the paper's 50 m cells and time into whole weeks before the forecast. An
incident ``d`` cells away (Chebyshev distance: diagonal neighbours are 1 apart) and ``w`` whole
weeks before the forecast adds

    ``1 / (1 + d) * 1 / (1 + w)``   for ``d < 8`` (400 m) and ``w < 8`` (two months)

to a 50 m cell's risk, and nothing beyond. The 50 m cells are then summed into the evaluation
cells (a 150 m cell holds 3 x 3 of them). The sum over incidents is a convolution: incidents
are binned per week, the week rasters are added with weights ``1 / (1 + w)``, and the result
is convolved once with the spatial weights (``scipy.ndimage.convolve``, around the
incidents only).
"""

from __future__ import annotations

import numpy as np

from patrol.forecast._raster import FineRaster
from patrol.forecast.base import F64, I64, Forecaster


def classic_kernel(bandwidth_cells: int = 8) -> F64:
    """The paper's spatial weights ``1 / (1 + d)`` for Chebyshev distance ``d < bandwidth``.

    Examples
    --------
    >>> classic_kernel(2).round(3).tolist()
    [[0.5, 0.5, 0.5], [0.5, 1.0, 0.5], [0.5, 0.5, 0.5]]
    """
    r = bandwidth_cells - 1
    d = np.maximum.outer(np.abs(np.arange(-r, r + 1)), np.abs(np.arange(-r, r + 1)))
    out: F64 = 1.0 / (1.0 + d)
    return out


class ProspectiveHotspot(Forecaster):
    """Bowers, Johnson & Pease (2004) prospective hotspots.

    Parameters
    ----------
    cell_m
        The paper's cell size (50 m); distances are counted in these cells.
    space_bandwidth
        Incidents this many cells away or farther add nothing (8 cells = 400 m).
    time_bandwidth
        Incidents this many whole weeks old or older add nothing (8 weeks = two months).
    week_days
        Length of the time unit, days (7).

    Examples
    --------
    Two incidents in cell 0, one a week old and one fresh; one incident in cell 2, fresh.
    Cell 0 weighs ``1/2 + 1`` plus ``1/3`` from cell 2 (two 50 m cells away):

    >>> from patrol.evaluation.events import Events
    >>> from patrol.evaluation.grid import Grid
    >>> g = Grid(50.0, 0.0, 0.0, 3, 1)
    >>> ev = Events.from_arrays(t=[1.0, 9.0, 9.5], x=[25.0, 25.0, 125.0], y=[25.0] * 3)
    >>> ProspectiveHotspot().fit(ev, g).predict([0, 1, 2], 10.0).round(4).tolist()
    [1.8333, 1.25, 1.5]
    """

    name: str = "prospective-hotspot"

    def __init__(
        self,
        cell_m: float = 50.0,
        space_bandwidth: int = 8,
        time_bandwidth: int = 8,
        week_days: float = 7.0,
    ) -> None:
        super().__init__()
        if space_bandwidth < 1 or time_bandwidth < 1:
            raise ValueError("bandwidths must be >= 1")
        self.cell_m = float(cell_m)
        self.space_bandwidth = int(space_bandwidth)
        self.time_bandwidth = int(time_bandwidth)
        self.week_days = float(week_days)
        self._kernel = classic_kernel(self.space_bandwidth)
        self._raster: FineRaster | None = None

    def _reset(self) -> None:
        self._raster = FineRaster(self.grid, self.cell_m)

    def _predict(self, cells: I64, start: float, days: float) -> F64:
        assert self._raster is not None
        ev = self.events
        lo = ev.index_of(start - self.time_bandwidth * self.week_days)
        weeks = np.floor((start - ev.t[lo:]) / self.week_days)
        w = np.where(weeks < self.time_bandwidth, 1.0 / (1.0 + weeks), 0.0)
        img = self._raster.bin(ev.x[lo:], ev.y[lo:], w)
        risk = self._raster.convolve(img, self._kernel)
        return self._raster.to_cells(risk)[cells]
