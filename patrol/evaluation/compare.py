"""Paired comparison of two forecasters over the same periods.

For each period both methods are scored on the same incidents, so the comparison uses the
per-period differences ``d_p = PAI_method(p) - PAI_baseline(p)``: their mean, a percentile
bootstrap interval of the mean and the Wilcoxon signed-rank test.

The bootstrap resamples *blocks* of consecutive periods (the circular block bootstrap of
Politis & Romano, "A circular block-resampling procedure for stationary data", 1992), because
week-to-week differences are serially correlated; the default block length is ``n ** (1/3)``
rounded (4 for 52 weeks). ``block=1`` is the ordinary (Efron) bootstrap.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import wilcoxon

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PairedComparison:
    """``method`` minus ``baseline`` over ``n`` periods (periods where either is NaN dropped).

    Attributes
    ----------
    mean_method, mean_baseline
        Mean of each over the periods.
    diff, low, high
        Mean difference and its bootstrap interval at ``level``.
    p_wilcoxon
        Two-sided Wilcoxon signed-rank p-value (NaN when every difference is 0 or n < 2).
    wins, losses
        Periods where the method is above / below the baseline.
    """

    method: str
    baseline: str
    measure: str
    n: int
    mean_method: float
    mean_baseline: float
    diff: float
    low: float
    high: float
    level: float
    block: int
    p_wilcoxon: float
    wins: int
    losses: int

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely on one side of 0."""
        return self.low > 0.0 or self.high < 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {**asdict(self), "excludes_zero": self.excludes_zero}


def block_bootstrap_means(
    d: npt.ArrayLike, n_boot: int = 10_000, block: int | None = None, seed: int = 0
) -> F64:
    """Means of ``n_boot`` circular-block bootstrap resamples of ``d``.

    Examples
    --------
    >>> m = block_bootstrap_means([1.0, 1.0, 1.0, 1.0], n_boot=50)
    >>> bool(np.all(m == 1.0))
    True
    """
    x = np.asarray(d, dtype=np.float64).reshape(-1)
    n = len(x)
    if n == 0:
        return np.full(n_boot, np.nan)
    b = default_block(n) if block is None else max(1, min(int(block), n))
    n_blocks = math.ceil(n / b)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(b)[None, None, :]).reshape(n_boot, -1)[:, :n] % n
    out: F64 = x[idx].mean(axis=1)
    return out


def default_block(n: int) -> int:
    """Block length ``round(n ** (1/3))``, at least 1.

    Examples
    --------
    >>> default_block(52), default_block(365), default_block(1)
    (4, 7, 1)
    """
    return max(1, math.floor(math.pow(n, 1.0 / 3.0) + 0.5))


def paired_comparison(
    method: npt.ArrayLike,
    baseline: npt.ArrayLike,
    names: tuple[str, str] = ("method", "baseline"),
    measure: str = "PAI@1%",
    n_boot: int = 10_000,
    block: int | None = None,
    level: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Mean paired difference, its block-bootstrap interval and the Wilcoxon test.

    Examples
    --------
    A method that is exactly 1 better every period:

    >>> c = paired_comparison([3.0, 5.0, 4.0, 6.0], [2.0, 4.0, 3.0, 5.0], n_boot=200)
    >>> c.diff, c.low, c.high, c.wins, c.losses, c.excludes_zero
    (1.0, 1.0, 1.0, 4, 0, True)
    """
    a = np.asarray(method, dtype=np.float64).reshape(-1)
    b = np.asarray(baseline, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"{a.size} periods for the method, {b.size} for the baseline")
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok], b[ok]
    d = a - b
    n = len(d)
    blk = default_block(n) if block is None else max(1, min(int(block), max(n, 1)))
    means = block_bootstrap_means(d, n_boot, blk, seed)
    alpha = (1.0 - level) / 2.0
    lo, hi = (float(v) for v in np.quantile(means, [alpha, 1.0 - alpha])) if n else (np.nan,) * 2
    p = math.nan
    if n >= 2 and np.any(d != 0):
        p = float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    return PairedComparison(
        method=names[0],
        baseline=names[1],
        measure=measure,
        n=n,
        mean_method=float(a.mean()) if n else math.nan,
        mean_baseline=float(b.mean()) if n else math.nan,
        diff=float(d.mean()) if n else math.nan,
        low=lo,
        high=hi,
        level=level,
        block=blk,
        p_wilcoxon=p,
        wins=int(np.sum(d > 0)),
        losses=int(np.sum(d < 0)),
    )
