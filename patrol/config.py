"""Typed, frozen parameters of the engine (pure values: reading them from the environment or
flags is the adapters' job, see :mod:`simulators.settings`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Every knob of the CPSPA engine, with the paper's values where it gives them.

    Parameters
    ----------
    cell_m
        Side of the grid cells the KDE, trend and probability learners aggregate on, metres.
    cluster_cell_m
        Coarser cells for the k-means of phase 1 (its refit cost grows with occupied cells).
    half_life_days
        Exponential decay of all learners: an incident this many days old counts half.
    bandwidth_m
        Gaussian KDE bandwidth for hotspots (phase 2.1).
    epsilon_m
        Phase 3 threshold between hotspot H_k and predicted point L_k (paper: 0.01 deg = 1 km).
    k_max
        Largest k the elbow method tries (phase 1).
    refit_days, refit_growth
        When the clusters are re-chosen: after this much event time or relative change of mass.
    min_incidents
        A district is planned only once it has seen this many incidents (warm-up).
    district_tolerance_m
        An incident farther than this outside its recorded district is re-placed by its
        coordinates.
    retention_days
        How long an incident id is remembered for revisions; older arrivals are dropped as late.
    planner
        ``"cpspa"`` (fuzzy Algorithm 2), ``"nearest"`` or ``"random"`` (orders of the CPSPA
        way-points), or ``"optimizer"``: where to patrol as well as in what order
        (:mod:`patrol.planning.optimizer`, needs the ``optimize`` extra, i.e. OR-Tools).
    return_to_station
        Whether the route ends back at the station (CPSPA orders only).
    units
        Patrol units per district and shift (routes for units 1..n); more than one needs
        ``planner="optimizer"``.
    sites_per_unit, site_radius_m, dwell_s
        The optimiser's candidate sites (the highest-risk 250 m discs, see
        :func:`patrol.planning.select_sites`) per unit, their radius, and the patrol stop at each.
    solver_solutions
        The optimiser's OR-Tools search stops after this many solutions (a deterministic limit,
        unlike a time limit, so every runtime plans the same routes).
    forecaster
        The per-cell hotspot forecaster: ``"counts"`` (the learners' decayed counts only) or
        ``"served"`` (``ours-served``, the hotspot backtest's best, :mod:`patrol.forecast.served`:
        the engine keeps each district's last two years of incidents and needs a trained
        model). It ranks the optimiser's sites and the hotspot cells of the API.
    forecast_cell_m
        Cell side of the served forecaster (its model was trained on this grid).
    """

    cell_m: float = 50.0
    cluster_cell_m: float = 150.0
    half_life_days: float = 90.0
    bandwidth_m: float = 150.0
    epsilon_m: float = 1000.0
    k_max: int = 15
    refit_days: float = 7.0
    refit_growth: float = 0.25
    min_incidents: int = 50
    district_tolerance_m: float = 500.0
    retention_days: float = 365.0
    planner: str = "cpspa"
    return_to_station: bool = False
    units: int = 1
    sites_per_unit: int = 25
    site_radius_m: float = 250.0
    dwell_s: float = 900.0
    solver_solutions: int = 200
    forecaster: str = "counts"
    forecast_cell_m: float = 150.0

    def __post_init__(self) -> None:
        positive = ("cell_m", "cluster_cell_m", "half_life_days", "bandwidth_m", "epsilon_m")
        for name in (*positive, "refit_days"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        for name in ("k_max", "units", "sites_per_unit", "solver_solutions"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not self.site_radius_m > 0 or not self.dwell_s >= 0:
            raise ValueError(
                f"site_radius_m and dwell_s: need > 0 and >= 0, "
                f"got {self.site_radius_m} and {self.dwell_s}"
            )
        if self.planner not in PLANNERS:
            raise ValueError(f"planner: must be one of {sorted(PLANNERS)}, got {self.planner!r}")
        if self.forecaster not in FORECASTERS:
            raise ValueError(
                f"forecaster: must be one of {sorted(FORECASTERS)}, got {self.forecaster!r}"
            )
        if not self.forecast_cell_m > 0:
            raise ValueError(f"forecast_cell_m: must be > 0, got {self.forecast_cell_m}")
        if self.units > 1 and self.planner != "optimizer":
            raise ValueError(f"units: {self.units} units need planner 'optimizer'")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the parameters."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EngineConfig:
        """Build from a dict, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


PLANNERS = frozenset({"cpspa", "nearest", "random", "optimizer"})
FORECASTERS = frozenset({"counts", "served"})
