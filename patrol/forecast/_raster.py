"""Fine rasters for the kernel methods: bin incidents finer than the evaluation cells, smooth,
then sum the fine pixels back into the evaluation cells (the risk of a cell is the kernel mass
inside it). Binned kernel estimates are the standard fast way to evaluate a KDE on a grid
(Wand, "Fast computation of multivariate kernel estimators", JCGS 3(4), 1994)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from patrol.evaluation.grid import Grid

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class FineRaster:
    """A raster of ``res_m`` pixels covering ``grid``, and the map from pixels to its cells.

    Examples
    --------
    >>> g = Grid(150.0, 0.0, 0.0, 2, 1)
    >>> fr = FineRaster(g, 50.0)
    >>> fr.fine.shape
    (6, 3)
    >>> img = fr.bin([10.0, 160.0, 170.0], [10.0, 10.0, 140.0])
    >>> fr.to_cells(img).tolist()
    [1.0, 2.0]
    """

    def __init__(self, grid: Grid, res_m: float) -> None:
        if not res_m > 0:
            raise ValueError(f"res_m must be > 0, got {res_m!r}")
        self.grid = grid
        eps = 1e-9 * grid.cell_m
        self.fine = Grid.covering(
            grid.x0,
            grid.y0,
            grid.x0 + grid.nx * grid.cell_m - eps,
            grid.y0 + grid.ny * grid.cell_m - eps,
            res_m,
        )
        xs, ys = self.fine.centres(np.arange(self.fine.size))
        self._to_cell: I64 = grid.cell_of(xs, ys)
        self._inside = self._to_cell >= 0

    def bin(self, x: npt.ArrayLike, y: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> F64:
        """(Weighted) counts of points per pixel, as an ``(nx, ny)`` fine raster."""
        return self.fine.raster(self.fine.counts(self.fine.cell_of(x, y), weights))

    def convolve(self, image: F64, kernel: F64) -> F64:
        """``scipy.ndimage.convolve`` (zero outside), computed only around the non-zero pixels.

        Examples
        --------
        >>> fr = FineRaster(Grid(50.0, 0.0, 0.0, 6, 1), 50.0)
        >>> img = np.zeros((6, 1)); img[4, 0] = 2.0
        >>> fr.convolve(img, np.full((3, 3), 0.5))[:, 0].tolist()
        [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
        """
        out = np.zeros_like(image)
        rows = np.flatnonzero(image.any(axis=1))
        cols = np.flatnonzero(image.any(axis=0))
        if not len(rows):
            return out
        px, py = kernel.shape[0] // 2, kernel.shape[1] // 2
        r0, r1 = max(0, rows[0] - px), min(image.shape[0], rows[-1] + px + 1)
        c0, c1 = max(0, cols[0] - py), min(image.shape[1], cols[-1] + py + 1)
        out[r0:r1, c0:c1] = ndimage.convolve(image[r0:r1, c0:c1], kernel, mode="constant")
        return out

    def to_cells(self, image: npt.ArrayLike) -> F64:
        """Sum a fine raster into the evaluation cells (a vector of ``grid.size``)."""
        v = np.asarray(image, dtype=np.float64).reshape(-1)
        out: F64 = np.bincount(
            self._to_cell[self._inside], weights=v[self._inside], minlength=self.grid.size
        ).astype(np.float64)
        return out
