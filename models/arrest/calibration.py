"""Online recalibration of served arrest scores from late arrest labels.

Arrest labels arrive late, as revisions of the same incident id. :class:`OnlineCalibrator`
learns from them to keep the served probabilities calibrated while the arrest rate drifts:
two online Platt scalings (river logistic regressions on ``logit(score)``), a global one and
one per offence group applied on top of it, each starting at the identity (so before any
label the calibrated score is the model's score). The state is a plain dict
(:meth:`OnlineCalibrator.to_dict`), so a stream processor can keep it in a table. Nothing here
reads the wall clock: :func:`replay` simulates label delay in event time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from river import linear_model, optim

EPS = 1e-6
"""Scores are clipped to ``[EPS, 1 - EPS]`` before the logit."""

GLOBAL = "*"
"""Name of the global level in the state dict."""


def logit(p: float) -> float:
    """``log(p / (1 - p))`` of ``p`` clipped to ``[EPS, 1 - EPS]``; NaN reads as 0.5.

    Examples
    --------
    >>> logit(0.5), round(logit(0.9), 4), logit(2.0) == logit(1 - EPS)
    (0.0, 2.1972, True)
    """
    if math.isnan(p):
        return 0.0
    q = min(max(p, EPS), 1.0 - EPS)
    return math.log(q / (1.0 - q))


class _Platt:
    """``sigmoid(a * z + b)`` learned online by a river logistic regression (SGD)."""

    def __init__(self, lr: float, a: float = 1.0, b: float = 0.0, n: int = 0) -> None:
        self.lr = lr
        self.n = n
        self.model = linear_model.LogisticRegression(
            optimizer=optim.SGD(lr),
            intercept_lr=lr,
            l2=0.0,
            intercept_init=b,
            initializer=optim.initializers.Constant(1.0),
        )
        self.model._weights["z"] = a  # river creates weights lazily: set the identity now

    def logit(self, z: float) -> float:
        return float(self.model._weights["z"]) * z + float(self.model.intercept)

    def learn(self, z: float, label: bool) -> None:
        self.model.learn_one({"z": z}, bool(label))
        self.n += 1

    def to_dict(self) -> dict[str, float]:
        return {"a": float(self.model._weights["z"]), "b": float(self.model.intercept), "n": self.n}


class OnlineCalibrator:
    """Global then per-group online Platt scaling (state: a plain dict).

    Parameters
    ----------
    lr : float
        SGD step of both levels (constant: old labels fade, so it follows drift).
    min_group_labels : int
        A group's own scaling is applied only once it has learned from this many labels.

    Examples
    --------
    >>> cal = OnlineCalibrator(lr=0.05)
    >>> cal.predict_one(0.3, "THEFT")  # identity before any label
    0.3
    >>> for _ in range(2000):
    ...     cal.learn_one(0.3, "THEFT", False)
    >>> cal.predict_one(0.3, "THEFT") < 0.1
    True
    >>> OnlineCalibrator.from_dict(cal.to_dict()).predict_one(0.3, "THEFT") == (
    ...     cal.predict_one(0.3, "THEFT"))
    True
    """

    def __init__(self, lr: float = 0.002, min_group_labels: int = 50) -> None:
        self.lr = lr
        self.min_group_labels = min_group_labels
        self._global = _Platt(lr)
        self._groups: dict[str, _Platt] = {}

    def _z(self, score: float, group: str | None) -> tuple[float, float]:
        z0 = logit(score)
        z1 = self._global.logit(z0)
        g = self._groups.get(group or "")
        z2 = g.logit(z1) if g is not None and g.n >= self.min_group_labels else z1
        return z1, z2

    def predict_one(self, score: float, group: str | None) -> float:
        """The recalibrated probability of a raw model score of an incident of ``group``."""
        if self._global.n == 0 and not self._groups:  # nothing learned: exactly the identity
            return 0.5 if math.isnan(score) else score
        _, z = self._z(score, group)
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def learn_one(self, score: float, group: str | None, label: bool) -> None:
        """Learn from one late label (the arrest flag of an incident scored ``score``)."""
        z1, _ = self._z(score, group)
        self._global.learn(logit(score), label)
        g = self._groups.get(group or "")
        if g is None:
            g = self._groups[group or ""] = _Platt(self.lr)
        g.learn(z1, label)

    def to_dict(self) -> dict[str, Any]:
        """The whole state as plain JSON-ready values."""
        return {
            "lr": self.lr,
            "min_group_labels": self.min_group_labels,
            "levels": {
                GLOBAL: self._global.to_dict(),
                **{k: v.to_dict() for k, v in self._groups.items()},
            },
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> OnlineCalibrator:
        """The inverse of :meth:`to_dict`."""
        cal = cls(lr=float(state["lr"]), min_group_labels=int(state["min_group_labels"]))
        for name, s in state["levels"].items():
            p = _Platt(cal.lr, float(s["a"]), float(s["b"]), int(s["n"]))
            if name == GLOBAL:
                cal._global = p
            else:
                cal._groups[name] = p
        return cal


def replay(
    occurred: np.ndarray,
    groups: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    delay: np.timedelta64,
    calibrator: OnlineCalibrator,
) -> np.ndarray:
    """Serve scores in event-time order while labels arrive ``delay`` after each incident.

    Before an incident occurring at ``t`` is scored, every label of an incident that occurred
    at or before ``t - delay`` has been learned. Returns the calibrated scores (input order).
    """
    t = np.asarray(occurred).astype("datetime64[ns]")
    order = np.argsort(t, kind="stable")
    arrival = t + np.asarray(delay).astype("timedelta64[ns]")
    out = np.empty(len(t), dtype=np.float64)
    j = 0
    for i in order:
        while j < len(order) and arrival[order[j]] <= t[i]:
            k = order[j]
            calibrator.learn_one(float(scores[k]), str(groups[k]), bool(labels[k]))
            j += 1
        out[i] = calibrator.predict_one(float(scores[i]), str(groups[i]))
    return out
