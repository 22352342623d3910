"""Phase 3: O_k = H_k when H_k and L_k are closer than epsilon, else L_k."""

from __future__ import annotations

import pytest

from patrol.learners import select_waypoint

H = (1000.0, 2000.0)


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        ((1000.0, 2000.0), (H, "hotspot")),  # d = 0
        ((1999.0, 2000.0), (H, "hotspot")),  # d = 999 m
        ((1600.0, 2800.0), ((1600.0, 2800.0), "prediction")),  # d = 1000 m exactly
        ((1000.0, 500.0), ((1000.0, 500.0), "prediction")),  # d = 1500 m
    ],
)
def test_epsilon_rule(pred: tuple[float, float], expected: object) -> None:
    assert select_waypoint(H, pred) == expected


def test_custom_epsilon() -> None:
    assert select_waypoint((0.0, 0.0), (30.0, 40.0), epsilon_m=60.0) == ((0.0, 0.0), "hotspot")
    assert select_waypoint((0.0, 0.0), (30.0, 40.0), epsilon_m=50.0) == ((30.0, 40.0), "prediction")
    # epsilon 0: always the prediction, even when the points coincide
    assert select_waypoint((1.0, 1.0), (1.0, 1.0), epsilon_m=0.0) == ((1.0, 1.0), "prediction")


def test_missing_points() -> None:
    assert select_waypoint(H, None) == (H, "hotspot_only")
    assert select_waypoint(None, H) == (H, "prediction_only")
    assert select_waypoint(None, None) == (None, "none")


def test_negative_epsilon_is_rejected() -> None:
    with pytest.raises(ValueError):
        select_waypoint(H, H, epsilon_m=-1.0)
