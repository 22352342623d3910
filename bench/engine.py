"""Engine benchmark: learner throughput, memory of a city-year, route planning time.

Measures, on a year of real Chicago incidents (../shared/data when present, else the bundled
two-month sample):

* incidents per second through ``learn_one`` of all four CPSPA learners (goal >= 50,000/s on
  one core), and through ``Engine.ingest`` (projection, revision log, learners);
* memory of the whole city's engine state after the year (traced allocations) and its
  serialised size;
* time to plan one route for a 14-way-point shift (goal <= 20 ms; the paper reports 247 s),
  split into the phases, and the elbow refit of one district. The plan is timed three ways:
  repeated on an unchanged model (``plan_ms_p50``: the learners' caches all hit), after 25 new
  incidents of the district each time (``plan_after_25_ms_p50``: the streaming steady state,
  a revision every ``replan_every`` = 25 incidents) and on a model just restored from its dict
  (``plan_cold_ms_p50``: no cache);
* incidents per second through the embedded :class:`~patrol.policy.EmissionPolicy` on the
  bundled two-month sample with ``bench/stream.py``'s settings (min_incidents 50,
  replan_every 25, material 50 m): planning at every shift start and the debounced
  forecasts, the ceiling planning sets on a streaming worker.

Prints a table and writes ``bench/results/engine.json``. Run: ``python -m bench.engine``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
import tracemalloc
from datetime import date, datetime
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

from bench.common import chicago_year, table, write_result
from patrol.config import EngineConfig
from patrol.engine import Engine
from patrol.incidents.parse import iter_csv
from patrol.incidents.profile import load_profile
from patrol.incidents.report import RejectionReport
from patrol.learners.clusters import SpatialClusterer
from patrol.model import DistrictModel
from patrol.planner import plan_route
from patrol.planning import SHIFTS, order_cpspa, shift_bounds
from patrol.policy import EmissionPolicy
from patrol.travel import make_provider
from simulators.settings import SAMPLE, Settings

HOLD_BACK = 25
"""Incidents of the planned district learned before each ``plan_after_25`` timing."""


def _timeit(fn: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--year", type=int, default=2016, help="Chicago year to replay (default 2016)")
    p.add_argument("--repeat", type=int, default=30, help="repetitions of the planning timings")
    p.add_argument(
        "--policy-incidents",
        type=int,
        default=0,
        help="incidents of the sample fed to the embedded policy (default 0 = all of them)",
    )
    ns = p.parse_args(argv)

    profile = load_profile("chicago")
    path = chicago_year(ns.year) or SAMPLE
    engine = Engine(profile, EngineConfig())
    report = RejectionReport()
    t0 = time.perf_counter()
    incidents = sorted(
        iter_csv(path, profile, report, locator=engine.locator), key=lambda i: i.occurred_at
    )
    parse_s = time.perf_counter() - t0
    n = len(incidents)
    obs = [(engine.district_of(i), engine.observe(i)) for i in incidents]

    # 1. learn_one of all learners, per district model.
    models: dict[str, DistrictModel] = {}
    for d, _ in obs:
        models.setdefault(d, DistrictModel(EngineConfig()))
    gc.collect()
    t0 = time.perf_counter()
    for d, o in obs:
        models[d].learn_one(o)
    learn_s = time.perf_counter() - t0

    # 2. Engine.ingest (projection + revision log + learners), memory traced separately.
    gc.collect()
    t0 = time.perf_counter()
    for inc in incidents:
        engine.ingest(inc)
    ingest_s = time.perf_counter() - t0
    state_json = json.dumps(engine.to_dict())
    tracemalloc.start()
    traced = Engine(profile, EngineConfig())
    for inc in incidents:
        traced.ingest(inc)
    state_bytes, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced

    # 3. Planning a 14-way-point shift: a district whose elbow range is pinned to k = 14.
    district = max(models, key=lambda d: models[d].n_incidents)
    m14 = DistrictModel(EngineConfig())
    m14.clusterer = SpatialClusterer(k_min=14, k_max=14)
    own = [o for d, o in obs if d == district]
    held = own[len(own) - HOLD_BACK * ns.repeat :]
    for o in own[: len(own) - len(held)]:
        m14.learn_one(o)
    last = incidents[-1].occurred_at.astimezone(profile.zone).date()
    day = date.fromordinal(last.toordinal() + 1)
    shift = SHIFTS[2]
    start, end = shift_bounds(day, shift, profile.zone)
    now = start.timestamp() / 86400
    refit = _timeit(lambda: m14.clusterer.fit(now, force=True), 5)
    station = engine.station(district)

    def plan() -> Any:
        return plan_route(
            district=district,
            model=m14,
            station=station,
            day=day,
            shift=shift,
            tz=profile.zone,
            projection=profile.projection,
            travel=engine.travel,
            config=engine.config,
            version=1,
            generated_at=start,
        )

    route = plan()
    plan_times = _timeit(plan, ns.repeat)
    snapshot = m14.to_dict()
    after_25 = []
    for r in range(ns.repeat):  # the streaming steady state: a few new incidents, then a plan
        for o in held[r * HOLD_BACK : (r + 1) * HOLD_BACK]:
            m14.learn_one(o)
        after_25 += _timeit(plan, 1)
    cold = []
    for _ in range(ns.repeat):  # a model just restored: every cache empty
        m14 = DistrictModel.from_dict(snapshot)
        cold += _timeit(plan, 1)
    cands = m14.candidates(now=now, at=now + 1 / 6)
    pts = [station, *(profile.projection.inverse(*c.point) for c in cands)]
    matrix = engine.travel.matrix(pts, hour=shift.start_hour)
    import numpy as np

    prob = np.random.default_rng(0).random((8, len(pts)))
    order_times = _timeit(
        lambda: order_cpspa(
            matrix.distance_m, matrix.time_s, prob, start=0, budget_s=(end - start).total_seconds()
        ),
        ns.repeat,
    )
    # elbow as configured (k from 1..15) on the same district: what the engine really does
    m_default = models[district]
    elbow = _timeit(lambda: m_default.clusterer.fit(now, force=True), 3)

    ms = 1000.0
    res = {
        "data": str(path.name),
        "incidents": n,
        "rejected": report.total,
        "districts": len(models),
        "parse_s": parse_s,
        "learn_one_per_s": n / learn_s,
        "ingest_per_s": n / ingest_s,
        "state_traced_mb": state_bytes / 1e6,
        "state_json_mb": len(state_json) / 1e6,
        "plan_waypoints": len(route.waypoints) if route else 0,
        "plan_candidates": len(cands),
        "plan_ms_p50": statistics.median(plan_times) * ms,
        "plan_ms_max": max(plan_times) * ms,
        "plan_after_25_ms_p50": statistics.median(after_25) * ms,
        "plan_cold_ms_p50": statistics.median(cold) * ms,
        "order_cpspa_ms_p50": statistics.median(order_times) * ms,
        "refit_k14_ms_p50": statistics.median(refit) * ms,
        "elbow_refit_ms_p50": statistics.median(elbow) * ms,
        "elbow_k": m_default.clusterer.fit(now).k,
        **embedded_policy(profile, ns.policy_incidents),
        "district": district,
        "goals": {"learn_one_per_s": 50_000, "plan_ms": 20, "state_mb": 1000},
    }
    rows = [
        ("incidents replayed", f"{n:,} ({report.total:,} rejected) from {path.name}", ""),
        ("learn_one, all learners", f"{res['learn_one_per_s']:,.0f} /s", ">= 50,000 /s"),
        ("Engine.ingest", f"{res['ingest_per_s']:,.0f} /s", ""),
        ("city state after the data (traced)", f"{res['state_traced_mb']:.1f} MB", "< 1,000 MB"),
        ("city state as JSON", f"{res['state_json_mb']:.1f} MB", ""),
        (
            f"plan 14-way-point shift (district {district})",
            f"{res['plan_ms_p50']:.2f} ms p50, {res['plan_ms_max']:.2f} max",
            "<= 20 ms",
        ),
        (f"  after {HOLD_BACK} new incidents", f"{res['plan_after_25_ms_p50']:.2f} ms p50", ""),
        ("  cold (model just restored)", f"{res['plan_cold_ms_p50']:.2f} ms p50", ""),
        ("  of which Algorithm 2 order", f"{res['order_cpspa_ms_p50']:.2f} ms", ""),
        ("k-means refit, k = 14", f"{res['refit_k14_ms_p50']:.1f} ms", "amortised"),
        (
            f"elbow refit k = 1..15 (chose {res['elbow_k']})",
            f"{res['elbow_refit_ms_p50']:.1f} ms",
            "amortised",
        ),
        (
            f"embedded EmissionPolicy ({res['policy_incidents']:,} sample incidents)",
            f"{res['embedded_policy_per_s']:,.0f} /s ({res['policy_routes']:,} routes)",
            "",
        ),
    ]
    print(table(rows, ("measure", "value", "goal")))
    print(f"\nwritten {write_result('engine', res)} at {datetime.now():%H:%M:%S}")
    return 0


def embedded_policy(profile: Any, limit: int) -> dict[str, Any]:
    """Incidents per second through :class:`EmissionPolicy` on the bundled sample, set up as
    ``bench/stream.py``'s ``triggers`` does (default :class:`~simulators.settings.Settings`)."""
    incidents = sorted(iter_csv(SAMPLE, profile, RejectionReport()), key=lambda i: i.occurred_at)
    if limit:
        incidents = incidents[:limit]
    settings = Settings()
    make_engine = getattr(settings, "make_engine", None)  # with the served forecaster's model
    if make_engine is not None:
        engine = make_engine(profile)
    else:  # pragma: no cover - settings without a forecaster
        engine = Engine(profile, settings.engine_config(), make_provider(settings.travel))
    policy = EmissionPolicy(engine, settings.policy_config())
    routes = 0
    gc.collect()
    t0 = time.perf_counter()
    for inc in incidents:
        routes += len(policy.process(inc).routes)
    elapsed = time.perf_counter() - t0
    return {
        "policy_settings": {
            k: getattr(settings, k)
            for k in ("planner", "forecaster", "min_incidents", "replan_every", "material_m")
            if hasattr(settings, k)
        },
        "policy_incidents": len(incidents),
        "policy_routes": routes,
        "embedded_policy_per_s": len(incidents) / elapsed,
    }


if __name__ == "__main__":
    raise SystemExit(main())
