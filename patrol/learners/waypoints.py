"""CPSPA phase 3 (paper section 5.3): the way-point O_k of a cluster from H_k and L_k.

The paper is inconsistent here, so we state which reading we follow:

* its text says that when ``H_k`` and ``L_k`` are far apart "a midpoint will be obtained" and
  when they are close the hotspot ``H_k`` is selected;
* its case formula (``d_E = |H_k - L_k|``, threshold ``epsilon = 0.01`` degrees, "1 km") is read
  in our design document as ``O_k = L_k`` when ``d_E > epsilon`` and ``O_k = H_k`` when
  ``0 < d_E < epsilon``, with a further ``P_mean`` case. (The published formula is garbled in
  extraction; it also parses as ``H_k`` when far and ``P_mean`` when close.)
* its worked example (cluster ``Cl_1``: ``d_E = 0.0017 < epsilon``) computes ``P_mean`` (written
  as half the *difference* of the coordinates) and then reports ``O_1 = H_1``.

We follow the design document (design.md, "The CPSPA method", step 3): ``O_k = H_k`` if
``|H_k - L_k| < epsilon``, else ``O_k = L_k`` (a distance exactly equal to ``epsilon`` counts
as far). This agrees with the worked example's outcome. Distances are Euclidean in metres on the
local projection, with ``epsilon = 1000 m`` for the paper's 1 km. The midpoint is never used.
When only one of the two points exists (a cluster without incidents, or without a regression)
that point is used.
"""

from __future__ import annotations

import math
from typing import Literal

Point = tuple[float, float]
Rule = Literal["hotspot", "prediction", "hotspot_only", "prediction_only", "none"]
"""Why a way-point was chosen: ``hotspot`` (H and L close), ``prediction`` (far), ``*_only``
(the other point was missing), ``none`` (both missing)."""


def select_waypoint(
    h: Point | None,
    l: Point | None,  # noqa: E741 (the paper's name for the predicted point)
    epsilon_m: float = 1000.0,
) -> tuple[Point | None, Rule]:
    """``(O_k, rule)`` from the hotspot ``h`` and predicted point ``l`` (metres).

    Examples
    --------
    >>> select_waypoint((0.0, 0.0), (300.0, 400.0))  # 500 m apart: keep the hotspot
    ((0.0, 0.0), 'hotspot')
    >>> select_waypoint((0.0, 0.0), (600.0, 800.0))  # exactly 1 km: the prediction
    ((600.0, 800.0), 'prediction')
    >>> select_waypoint(None, (5.0, 5.0))
    ((5.0, 5.0), 'prediction_only')
    >>> select_waypoint(None, None)
    (None, 'none')
    """
    if not epsilon_m >= 0.0:
        raise ValueError(f"epsilon_m must be >= 0, got {epsilon_m!r}")
    if h is None:
        return (None, "none") if l is None else (l, "prediction_only")
    if l is None:
        return h, "hotspot_only"
    if math.hypot(h[0] - l[0], h[1] - l[1]) < epsilon_m:
        return h, "hotspot"
    return l, "prediction"
