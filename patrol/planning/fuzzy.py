"""The fuzzy decision-making system (FDSS) of CPSPA phase 5 (paper section 5.5).

Inputs, all normalised to [0, 1] by the caller (see :mod:`patrol.planning.cpspa`):

* route distance ``Rd`` and route time ``Rt``: triangular sets *near* (0..0.4, peak 0),
  *middle* (0.1..0.9, peak 0.5) and *far* (0.6..1.0, peak 1);
* crime-spot probability ``P(CS)``: *low*, *medium*, *high* with the same three shapes.

The output *point selection* has two singletons, *unselected* and *selected* (section 5.5).
They are realised as narrow triangles of half-width :data:`OUTPUT_WIDTH` at 0 and 1 on
:data:`OUTPUT_UNIVERSE`, and the result is the centroid, a crisp score in [0, 1]:
min for AND, max aggregation (Mamdani).  :meth:`FuzzyPointSelector.score_reference` runs
exactly that in scikit-fuzzy; :meth:`FuzzyPointSelector.score` is the vectorised fast path.

Why the fast path is exact
--------------------------
Fuzzification uses the same discretised membership arrays and the same linear interpolation
(``np.interp``) as ``skfuzzy``, so the 27 rule strengths are bit-identical.  scikit-fuzzy
then inserts the cut points into the output universe and integrates the clipped, piecewise
linear output exactly (trapezoids), so its centroid is the exact centroid of the two clipped
half-triangles, which do not overlap.  For a half-triangle of half-width ``w`` clipped at
height ``h`` the area is ``w h (1 - h/2)`` and the first moment about its peak is
``w**2 (1 - (1 - h)**3) / 6``; :func:`centroid_score` combines both terms in closed form.  The
two paths differ only by floating-point rounding (observed < 1e-15; tests use 1e-12).

Known non-monotonicity
----------------------
The three sets are not a partition of unity: at 0.25 and 0.75 the largest membership is only
0.375.  With max-min inference and two outputs, every rule base makes the crisp score sag
between the peaks 0, 0.5 and 1 (e.g. ``Rd = Rt = 0``: score at ``P = 0.75`` is below the
score at ``P = 0.5``).  What :data:`DEFAULT_RULES` guarantees, and the tests check, is: the decision
``score >= 0.5`` is monotone (non-decreasing in ``P``, non-increasing in ``Rd`` and ``Rt``;
verified on a 201**3 grid, not proved), and at the 27 label peaks the score is monotone.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

ProbabilityLabel = Literal["low", "medium", "high"]
ProximityLabel = Literal["near", "middle", "far"]
FloatArray = npt.NDArray[np.float64]

PROBABILITY_LABELS: Final[tuple[ProbabilityLabel, ...]] = ("low", "medium", "high")
PROXIMITY_LABELS: Final[tuple[ProximityLabel, ...]] = ("near", "middle", "far")
SET_CORNERS: Final[tuple[tuple[float, float, float], ...]] = (
    (0.0, 0.0, 0.4),
    (0.1, 0.5, 0.9),
    (0.6, 1.0, 1.0),
)
"""(left foot, peak, right foot) of the low/near, medium/middle, high/far sets (section 5.5)."""

INPUT_UNIVERSE: Final[FloatArray] = np.linspace(0.0, 1.0, 101)
"""Discretised input universe shared by both paths (every set corner is a grid point)."""

OUTPUT_WIDTH: Final[float] = 1.0 / 16.0
"""Half-width of the output triangles standing in for the selected/unselected singletons."""

OUTPUT_UNIVERSE: Final[FloatArray] = np.arange(65, dtype=np.float64) / 64.0
"""Output universe (step 1/64: the triangles' corners are exact binary fractions)."""


def _triangle(universe: FloatArray, left: float, peak: float, right: float) -> FloatArray:
    """Triangular membership sampled on ``universe`` (shoulders allowed at the ends)."""
    up = np.ones_like(universe) if peak == left else (universe - left) / (peak - left)
    down = np.ones_like(universe) if peak == right else (right - universe) / (right - peak)
    return np.clip(np.minimum(up, down), 0.0, 1.0)


INPUT_MEMBERSHIPS: Final[tuple[FloatArray, ...]] = tuple(
    _triangle(INPUT_UNIVERSE, *corners) for corners in SET_CORNERS
)
UNSELECTED_MF: Final[FloatArray] = _triangle(OUTPUT_UNIVERSE, 0.0, 0.0, OUTPUT_WIDTH)
SELECTED_MF: Final[FloatArray] = _triangle(OUTPUT_UNIVERSE, 1.0 - OUTPUT_WIDTH, 1.0, 1.0)


@dataclass(frozen=True, slots=True)
class FuzzyRule:
    """``IF P(CS) is probability AND Rd is distance AND Rt is time THEN selected/unselected``.

    Examples
    --------
    >>> print(FuzzyRule("high", "middle", "near", selected=True))
    IF P(CS) is high AND Rd is middle AND Rt is near THEN selected
    """

    probability: ProbabilityLabel
    distance: ProximityLabel
    time: ProximityLabel
    selected: bool

    def __str__(self) -> str:
        verdict = "selected" if self.selected else "unselected"
        return (
            f"IF P(CS) is {self.probability} AND Rd is {self.distance} "
            f"AND Rt is {self.time} THEN {verdict}"
        )


def _default_rules() -> tuple[FuzzyRule, ...]:
    rules = []
    for ip, p in enumerate(PROBABILITY_LABELS):
        for i_d, d in enumerate(PROXIMITY_LABELS):
            for i_t, t in enumerate(PROXIMITY_LABELS):
                rules.append(FuzzyRule(p, d, t, selected=ip > i_d + i_t))
    return tuple(rules)


DEFAULT_RULES: Final[tuple[FuzzyRule, ...]] = _default_rules()
"""The complete 27-rule base: SELECTED iff level(P) > level(Rd) + level(Rt).

Levels are low/near = 0, medium/middle = 1, high/far = 2.  Written out (S = selected, rows
``Rd``, columns ``Rt`` near/middle/far)::

    P low          P medium       P high
    near   . . .   near   S . .   near   S S .
    middle . . .   middle . . .   middle S . .
    far    . . .   far    . . .   far    . . .

Selection grows with ``P`` and shrinks with ``Rd`` and ``Rt``, which weigh the same.  Why so
selective: the sets are not a partition of unity, so along each input the two outputs split
the three labels 2 + 1 and, between the two labels sharing an output, that output's
activation sags to 0.375; the crisp score then ranks a point in the sag below points at
either peak.  This table puts the distance/time sag inside NOT SELECTED (near -> selected,
middle and far -> not), where it only reorders points that are all rejected.  On simulated
circuits (5-14 way-points, correlated ``Rd``/``Rt``, skewed ``P``, greedy as in
:func:`patrol.planning.cpspa.order_cpspa`) it is among the monotone 27-cell tables that least
often pick a candidate Pareto-dominated by another (1.7 % of steps on average, against 5.7 %
for ``2 level(P) > level(Rd) + level(Rt)``), and with equal probabilities it goes to the
nearest point in 93 % of random cases (44 %).  The price: when every leg is long (``Rd``,
``Rt`` >~ 0.4) nothing is selected and the ranking then hardly reflects ``P``.

The paper's only example, "if P(CS) is High and Rd is Middle and Rt is Near then NOT
SELECTED", is deliberately *not* included (here it is SELECTED).  In a rule base that grows
with ``P`` and shrinks with ``Rd``/``Rt``, that rule forces every middle or far point to be
rejected whatever its probability, so ``P`` would only matter among near points; a middle
distance driven in near time is a fast road, a reason to go; and the best table containing
it picks dominated candidates more than twice as often (3.9 %) in the same simulation.  We
read it as a misprint.
"""


def centroid_score(unselected: npt.ArrayLike, selected: npt.ArrayLike) -> FloatArray:
    """Exact centroid of the output clipped at the given rule activations.

    Parameters
    ----------
    unselected, selected : array_like
        Aggregated (max) activations in [0, 1] of the two output terms; not both zero.

    Returns
    -------
    numpy.ndarray
        Crisp score; ``>= 0.5`` exactly when ``selected >= unselected`` (up to rounding
        when the two are equal).

    Examples
    --------
    >>> centroid_score([1.0, 0.0, 0.5], [0.0, 1.0, 0.5]).round(6).tolist()
    [0.020833, 0.979167, 0.5]
    """
    h = np.stack(np.broadcast_arrays(np.asarray(unselected, np.float64), selected))
    return _centroid(h)


def _centroid(h: FloatArray) -> FloatArray:
    """Centroid for activations ``h = [unselected, selected]`` (shape ``(2, ...)``).

    With ``g = 1 - h`` and half-width ``w``, a half-triangle clipped at ``h`` has area
    ``w (1 - g**2) / 2`` and first moment ``w**2 (1 - g**3) / 6`` about its peak; the selected
    piece is mirrored about 1, so ``(M_u + A_s - M_s) / (A_u + A_s)`` simplifies to this.
    """
    g = 1.0 - h
    g2 = g * g
    g3 = g2 * g
    return np.asarray(
        ((OUTPUT_WIDTH / 3.0) * (g3[1] - g3[0]) + 1.0 - g2[1]) / (2.0 - g2[0] - g2[1]),
        dtype=np.float64,
    )


class FuzzyPointSelector:
    """The section 5.5 FDSS with a numpy fast path and a scikit-fuzzy reference.

    Parameters
    ----------
    rules : iterable of FuzzyRule
        A complete rule base: each of the 27 label combinations exactly once.

    Examples
    --------
    >>> fdss = FuzzyPointSelector()
    >>> fdss.score([0.0, 1.0, 0.2], [0.0, 1.0, 0.3], [1.0, 1.0, 0.9]).round(4).tolist()
    [0.9792, 0.0208, 0.6264]
    >>> fdss.selected([0.0, 1.0], [0.0, 1.0], [1.0, 1.0]).tolist()
    [True, False]
    """

    def __init__(self, rules: Iterable[FuzzyRule] = DEFAULT_RULES) -> None:
        self._rules = tuple(rules)
        table: dict[tuple[int, int, int], bool] = {}
        for rule in self._rules:
            key = (
                PROBABILITY_LABELS.index(rule.probability),
                PROXIMITY_LABELS.index(rule.distance),
                PROXIMITY_LABELS.index(rule.time),
            )
            if key in table:
                raise ValueError(f"duplicate rule for {key}: {rule}")
            table[key] = rule.selected
        if len(table) != 27:
            raise ValueError(f"rule base must cover all 27 combinations, got {len(table)}")
        flags = np.array([table[k] for k in sorted(table)], dtype=bool)  # index 9p + 3d + t
        self._selected_idx = np.flatnonzero(flags)
        self._unselected_idx = np.flatnonzero(~flags)
        self._simulation: Any = None

    @property
    def rules(self) -> tuple[FuzzyRule, ...]:
        """The rule base, in the order given."""
        return self._rules

    def activations(
        self, distance: npt.ArrayLike, time: npt.ArrayLike, probability: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Aggregated activations ``(unselected, selected)`` of the output terms.

        Inputs broadcast against each other; values are clipped to [0, 1] like scikit-fuzzy.

        Examples
        --------
        >>> a, s = FuzzyPointSelector().activations(0.25, 0.0, 1.0)
        >>> round(float(a), 9), round(float(s), 9)
        (0.0, 0.375)
        """
        h = self._activations(distance, time, probability)
        return h[0], h[1]

    def _activations(
        self, distance: npt.ArrayLike, time: npt.ArrayLike, probability: npt.ArrayLike
    ) -> FloatArray:
        """``[unselected, selected]`` activations, shape ``(2, *broadcast_shape)``."""
        d = np.asarray(distance, dtype=np.float64)
        t = np.asarray(time, dtype=np.float64)
        p = np.asarray(probability, dtype=np.float64)
        if d.shape == t.shape == p.shape:
            x = np.array((d, t, p))
        else:
            x = np.array(np.broadcast_arrays(d, t, p))
        shape = x.shape[1:]
        x = x.reshape(3, -1)
        if not np.isfinite(x).all():
            raise ValueError("FDSS inputs must be finite")
        np.minimum(np.maximum(x, 0.0, out=x), 1.0, out=x)  # clip like skfuzzy
        # mu[k, v, i]: membership in set k of input v (distance, time, probability),
        # interpolated on the discretised universe exactly as skfuzzy does.
        mu = np.array(
            [np.interp(x, INPUT_UNIVERSE, mf, left=0.0, right=0.0) for mf in INPUT_MEMBERSHIPS]
        )
        dt = np.minimum(mu[:, None, 0], mu[None, :, 1])
        fire = np.minimum(mu[:, None, None, 2], dt[None]).reshape(27, -1)  # 9 p + 3 d + t
        h = np.empty((2, x.shape[1]))
        h[0] = fire[self._unselected_idx].max(axis=0, initial=0.0)
        h[1] = fire[self._selected_idx].max(axis=0, initial=0.0)
        return h.reshape(2, *shape)

    def score(
        self, distance: npt.ArrayLike, time: npt.ArrayLike, probability: npt.ArrayLike
    ) -> FloatArray:
        """Crisp point-selection score, vectorised over candidates (fast path).

        Parameters
        ----------
        distance, time, probability : array_like
            Normalised ``Rd``, ``Rt`` and ``P(CS)``; broadcast together.

        Returns
        -------
        numpy.ndarray
            Scores in ``[OUTPUT_WIDTH / 3, 1 - OUTPUT_WIDTH / 3]``, the broadcast shape.

        Examples
        --------
        >>> FuzzyPointSelector().score(0.5, 0.5, 0.5).round(6).tolist()
        0.020833
        """
        return _centroid(self._activations(distance, time, probability))

    def selected(
        self, distance: npt.ArrayLike, time: npt.ArrayLike, probability: npt.ArrayLike
    ) -> npt.NDArray[np.bool_]:
        """``score >= 0.5``: the SELECTED/NOT SELECTED decision of section 5.5.

        Examples
        --------
        >>> FuzzyPointSelector().selected(0.1, 0.1, [0.2, 0.8]).tolist()
        [False, True]
        """
        return np.asarray(self.score(distance, time, probability) >= 0.5)

    def score_reference(self, distance: float, time: float, probability: float) -> float:
        """The same score computed by ``skfuzzy.control`` (slow; for validation).

        The control system is built on first use and cached on the instance; a
        simulation object is stateful, so do not share one selector across threads here.

        Examples
        --------
        >>> round(FuzzyPointSelector().score_reference(0.2, 0.3, 0.9), 4)
        0.6264
        """
        for value in (distance, time, probability):
            if not np.isfinite(value):
                raise ValueError("FDSS inputs must be finite")
        if self._simulation is None:
            self._simulation = _build_simulation(self._rules)
        sim = self._simulation
        sim.input["distance"] = float(distance)
        sim.input["time"] = float(time)
        sim.input["probability"] = float(probability)
        with warnings.catch_warnings():
            # skfuzzy 0.5 passes ``out`` positionally to np.maximum (deprecated in numpy 2.4).
            warnings.simplefilter("ignore", DeprecationWarning)
            sim.compute()
        return float(sim.output["selection"])


def _build_simulation(rules: tuple[FuzzyRule, ...]) -> Any:
    """Build the scikit-fuzzy ``ControlSystemSimulation`` for ``rules``."""
    from skfuzzy import control

    probability = control.Antecedent(INPUT_UNIVERSE, "probability")
    distance = control.Antecedent(INPUT_UNIVERSE, "distance")
    time = control.Antecedent(INPUT_UNIVERSE, "time")
    for p_label, d_label, mf in zip(
        PROBABILITY_LABELS, PROXIMITY_LABELS, INPUT_MEMBERSHIPS, strict=True
    ):
        probability[p_label] = mf
        distance[d_label] = mf
        time[d_label] = mf
    selection = control.Consequent(OUTPUT_UNIVERSE, "selection", defuzzify_method="centroid")
    selection["unselected"] = UNSELECTED_MF
    selection["selected"] = SELECTED_MF
    system = control.ControlSystem(
        [
            control.Rule(
                probability[r.probability] & distance[r.distance] & time[r.time],
                selection["selected" if r.selected else "unselected"],
                label=str(r),
            )
            for r in rules
        ]
    )
    return control.ControlSystemSimulation(system)
