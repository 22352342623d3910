"""The evaluation grid: square cells on the city projection, and the city's area in cells.

design.md ("Measures we report"): hotspot forecasts are ranked over a grid of square cells
(default 150 m); the city's area is the set of cells holding at least one incident in the two
years before the evaluation (:func:`city_cells`).

A cell is identified by its flat index ``ix * ny + iy`` in a raster of ``nx`` by ``ny`` cells
whose lower-left corner is ``(x0, y0)`` (metres on the city's
:class:`~patrol.geo.LocalProjection`); :meth:`Grid.raster` and :meth:`Grid.flat` convert
between per-cell vectors and 2-D rasters (axis 0 = x), which is what kernel smoothers need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from patrol.evaluation.events import Events
    from patrol.geo import LocalProjection
    from patrol.incidents.profile import BBox

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Grid:
    """A raster of square cells.

    Parameters
    ----------
    cell_m
        Side of a cell, metres.
    x0, y0
        Lower-left corner of the raster, metres.
    nx, ny
        Number of cells along x and y.

    Examples
    --------
    >>> g = Grid(cell_m=100.0, x0=0.0, y0=0.0, nx=3, ny=2)
    >>> g.cell_of([50.0, 150.0, 250.0, 250.0, 999.0], [50.0, 50.0, 150.0, -1.0, 0.0]).tolist()
    [0, 2, 5, -1, -1]
    >>> xs, ys = g.centres([5])
    >>> float(xs[0]), float(ys[0])
    (250.0, 150.0)
    >>> g.raster(np.arange(6.0)).tolist()
    [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    """

    cell_m: float
    x0: float
    y0: float
    nx: int
    ny: int

    def __post_init__(self) -> None:
        if not (self.cell_m > 0 and math.isfinite(self.cell_m)):
            raise ValueError(f"cell_m must be positive and finite, got {self.cell_m!r}")
        if self.nx < 1 or self.ny < 1:
            raise ValueError(f"need nx, ny >= 1, got {self.nx}, {self.ny}")

    @classmethod
    def covering(
        cls, xmin: float, ymin: float, xmax: float, ymax: float, cell_m: float = 150.0
    ) -> Grid:
        """The smallest raster aligned on multiples of ``cell_m`` that covers the rectangle.

        Aligning on multiples of ``cell_m`` makes the cells of two grids with the same cell
        size coincide (a district's grid is a window of the city's).
        """
        ix0, iy0 = math.floor(xmin / cell_m), math.floor(ymin / cell_m)
        ix1, iy1 = math.floor(xmax / cell_m), math.floor(ymax / cell_m)
        return cls(cell_m, ix0 * cell_m, iy0 * cell_m, ix1 - ix0 + 1, iy1 - iy0 + 1)

    @classmethod
    def for_bbox(cls, projection: LocalProjection, bbox: BBox, cell_m: float = 150.0) -> Grid:
        """The grid covering a city's bounding box on its projection."""
        xs, ys = projection.forward_many(
            [bbox.min_lat, bbox.min_lat, bbox.max_lat, bbox.max_lat],
            [bbox.min_lon, bbox.max_lon, bbox.min_lon, bbox.max_lon],
        )
        return cls.covering(
            float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()), cell_m
        )

    @property
    def size(self) -> int:
        """Number of cells."""
        return self.nx * self.ny

    @property
    def shape(self) -> tuple[int, int]:
        """Raster shape ``(nx, ny)``."""
        return self.nx, self.ny

    def cell_of(self, x: npt.ArrayLike, y: npt.ArrayLike) -> I64:
        """Flat cell index of each point; -1 outside the raster or not finite."""
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            fx = np.floor((xa - self.x0) / self.cell_m)
            fy = np.floor((ya - self.y0) / self.cell_m)
        ok = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        ix = np.where(ok, fx, 0).astype(np.int64)
        iy = np.where(ok, fy, 0).astype(np.int64)
        out: I64 = np.where(ok, ix * self.ny + iy, -1)
        return out

    def centres(self, cells: npt.ArrayLike) -> tuple[F64, F64]:
        """``(x, y)`` of the cells' centres, metres."""
        c = np.asarray(cells, dtype=np.int64)
        ix, iy = np.divmod(c, self.ny)
        return self.x0 + (ix + 0.5) * self.cell_m, self.y0 + (iy + 0.5) * self.cell_m

    def counts(self, cells: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> F64:
        """Per-cell (weighted) number of the given cell indices (negative ones are ignored)."""
        c = np.asarray(cells, dtype=np.int64)
        keep = c >= 0
        w = None if weights is None else np.asarray(weights, np.float64)[keep]
        out: F64 = np.bincount(c[keep], weights=w, minlength=self.size).astype(np.float64)
        return out

    def raster(self, values: npt.ArrayLike) -> F64:
        """A per-cell vector (length :attr:`size`) as an ``(nx, ny)`` raster."""
        return np.asarray(values, dtype=np.float64).reshape(self.nx, self.ny)

    def flat(self, raster: npt.ArrayLike) -> F64:
        """Inverse of :meth:`raster`."""
        return np.asarray(raster, dtype=np.float64).reshape(self.size)


def city_cells(cells: I64, t: npt.ArrayLike, start: float, end: float) -> I64:
    """The city's area: the sorted distinct cells holding an incident with ``start <= t < end``.

    design.md takes the two years before the evaluation (``end`` = its first day).

    Examples
    --------
    >>> city_cells(np.array([4, 2, 4, 7, -1]), [1.0, 2.0, 3.0, 9.0, 2.0], 0.0, 5.0).tolist()
    [2, 4]
    """
    ta = np.asarray(t, dtype=np.float64)
    c = np.asarray(cells, dtype=np.int64)
    sel = (ta >= start) & (ta < end) & (c >= 0)
    out: I64 = np.unique(c[sel])
    return out


def cells_of(grid: Grid, events: Events) -> I64:
    """Flat cell index of every incident (-1 outside the grid)."""
    return grid.cell_of(events.x, events.y)
