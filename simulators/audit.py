"""``patrolstream audit``: where the engine sends patrols, and whether it feeds on itself.

Reads city CSV exports and replays ``--weeks`` weeks from ``--from`` through
:func:`patrol.evaluation.feedback.closed_loop` with the engine as the policy (every shift of the
chosen districts planned from the incidents learned before it), then writes to ``--out``:

* ``audit.json`` - settings, the per-community-area audit table of the open loop (the engine on
  the data as recorded: patrol-minute share against incident share, and population share with
  ``--population``), the closed-loop drift series and their trends;
* ``audit.md`` - the same as Markdown; ``audit_shares.png`` and ``audit_drift.png`` - plots.

Wire it as a sub-command with :func:`add_audit_arguments` and :func:`audit_main`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from simulators.cliargs import (
    add_city_travel_options,
    add_data_option,
    district_ids,
    input_error,
    iso_date,
    md_table,
    plain_table,
    positive_int,
    read_incidents,
    standalone,
    travel_provider,
)

DESCRIPTION = """\
Fairness audit of the patrol plans. (1) Per community area: the share of planned patrol minutes
against the share of reported incidents (and of residents with --population). (2) A closed-loop
replay: incidents of 'discoverable' offence types (narcotics, weapons, trespass, ...) are recorded
with probability base + lift x (planned patrol minutes within --radius-m of them in their
shift), and the engine learns only what was recorded, shift after shift; the drift is the total
variation distance between the patrol-minute shares and the true-incident shares by community
area, week by week. Variants: open (no feedback, everything recorded), closed (the feedback),
and two mitigations: victim_only (learn only victim-reported types) and reweight (learn a
discovered incident with probability base/p, after Ensign et al. 2018)."""

EPILOG = """\
example (history from 2015, 12 weeks of 2016, five districts; about 3 minutes of CPU):
  patrolstream audit --data chicago_2015*.csv.gz chicago_2016*.csv.gz \\
      --from 2016-01-04 --weeks 12 --districts 6 8 11 12 19 --out audit

--population FILE: a CSV with header community_area,population (one row per area)."""

VARIANT_LABELS = {
    "open": "open loop (everything recorded)",
    "closed": "closed loop (discovery model)",
    "victim_only": "mitigation: learn victim-reported types only",
    "reweight": "mitigation: down-weight discovered incidents",
}


COLORS = {"open": "#4363d8", "closed": "#e6194b", "victim_only": "#3cb44b", "reweight": "#f58231"}


def add_audit_arguments(sub: Any) -> argparse.ArgumentParser:
    """Add the ``audit`` sub-command to the CLI's sub-parsers; returns its parser."""
    from patrol.evaluation.feedback import VARIANTS

    p: argparse.ArgumentParser = sub.add_parser(
        "audit",
        help="fairness audit: patrol time vs incidents by community area, feedback-loop replay",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p, VARIANTS)
    return p


def add_arguments(p: argparse.ArgumentParser, variants: Sequence[str]) -> None:
    """The options of ``patrolstream audit`` (every one has a help)."""

    def opt(flag: str, help: str, **kw: Any) -> None:
        p.add_argument(flag, help=help, **kw)

    add_data_option(p, "audited period")
    # fmt: off
    opt("--from", "first replayed local date, YYYY-MM-DD (incidents before it are history)",
        dest="date_from", type=iso_date, required=True, metavar="DATE")
    opt("--weeks", "replayed weeks (default 12)", type=positive_int, default=12, metavar="N")
    opt("--history-days", "days of history before --from the engine learns first (default 365)",
        type=positive_int, default=365, metavar="DAYS")
    opt("--districts", "audit only these districts, e.g. 6 8 11 (default: every district; "
        "about 0.5 s of CPU per district-week and variant with cpspa)", nargs="+", metavar="ID")
    opt("--population", "CSV community_area,population: also compare with residents",
        type=Path, metavar="FILE")
    opt("--areas", "GeoJSON of the community areas (default: Chicago's 77, bundled)",
        type=Path, metavar="FILE")
    opt("--area-field", "property of --areas holding the area id (default 'area')",
        default="area", metavar="NAME")
    opt("--base", "discovery model: recording probability of a discoverable incident with no "
        "patrol near it (default 0.2)", type=float, default=0.2, metavar="P")
    opt("--lift", "discovery model: added probability per planned patrol minute within "
        "--radius-m (default 0.02)", type=float, default=0.02, metavar="P_PER_MIN")
    opt("--radius-m", "discovery model: how near a way-point exposes an incident (default 250)",
        type=float, default=250.0, metavar="M")
    opt("--planner", "the policy in the loop: 'cpspa' (the engine's routes, as in the stream; "
        "default) or 'optimizer' (the optimising planner over decayed-count sites, whole "
        "shift, 15-minute stops)", choices=["cpspa", "optimizer"], default="cpspa")
    opt("--rest", "where the unit spends the shift after its route's planned end: 'none' (not "
        "counted: only what the plan says, default) or 'last' (at its last way-point, the "
        "convention of coverage in presence)", choices=["none", "last"], default="none")
    opt("--variants", "replay variants (default: all)", nargs="+", choices=list(variants),
        default=list(variants))
    opt("--seed", "seed of the recording draws (default 0)", type=int, default=0)
    # fmt: on
    add_city_travel_options(p, "travel-time provider (default street-grid)")
    # fmt: off
    opt("--out", "folder for audit.json/.md and the PNGs (default ./audit)",
        type=Path, default=Path("audit"), metavar="DIR")
    opt("--no-plot", "do not draw the PNGs", action="store_true")
    opt("--no-progress", "hide the progress bars", action="store_true")
    # fmt: on


def audit_main(ns: argparse.Namespace) -> int:
    """Run ``patrolstream audit`` with parsed arguments; returns the exit code."""
    from tqdm import tqdm

    from patrol.engine import Engine
    from patrol.evaluation import fairness as fair
    from patrol.evaluation import feedback as fb
    from patrol.evaluation import feedback_engine as fe
    from patrol.incidents.profile import load_profile
    from patrol.incidents.report import RejectionReport

    error = input_error(ns, [*ns.data, *([ns.population] if ns.population else [])])
    if error:
        print(error, file=sys.stderr)
        return 2
    try:
        discovery = fb.DiscoveryModel(base=ns.base, lift_per_min=ns.lift, radius_m=ns.radius_m)
        population = fair.read_population(ns.population) if ns.population else None
        areas = (
            fair.CommunityAreas(ns.areas, id_field=ns.area_field)
            if ns.areas
            else fair.CommunityAreas()
        )
    except (ValueError, KeyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    profile = load_profile(ns.city)
    travel = travel_provider(ns)
    probe = Engine(profile, travel=travel)
    report = RejectionReport()
    first_hist = ns.date_from - timedelta(days=ns.history_days)
    end = ns.date_from + timedelta(days=7 * ns.weeks)
    incidents = read_incidents(
        ns.data,
        profile,
        report,
        probe.locator,
        progress=not ns.no_progress,
        keep=lambda inc: first_hist <= inc.occurred_at.astimezone(probe.tz).date() < end,
    )
    wanted = district_ids(ns.districts)
    events = fe.engine_events(probe, incidents, wanted, areas.locate_many)
    districts = sorted(
        wanted or {probe.district_of(e.payload) for e in events}, key=fair.natural_key
    )
    if not events:
        print("error: no incidents of the chosen districts in the data", file=sys.stderr)
        return 2
    slots = fe.shift_slots(probe, ns.date_from, 7 * ns.weeks)
    stay = ns.rest == "last"

    def policy() -> fb.Policy:
        engine = Engine(profile, travel=travel)
        if ns.planner == "optimizer":
            return fe.OptimizerPolicy(engine, districts, areas.locate_many)
        return fe.EnginePolicy(engine, districts, areas.locate_many, stay=stay)

    weeks = [(ns.date_from + timedelta(days=7 * w)).isoformat() for w in range(ns.weeks)]
    with tqdm(
        total=len(slots) * len(ns.variants),
        desc="closed loop",
        unit=" shifts",
        disable=ns.no_progress,
    ) as bar:
        result = fb.closed_loop(
            events,
            slots,
            policy,
            discovery=discovery,
            variants=ns.variants,
            seed=ns.seed,
            week_labels=weeks,
            on_shift=lambda variant, slot: bar.update(1),
        )
    out = build_result(result, ns, districts, areas.names, population, report.total, len(events))
    ns.out.mkdir(parents=True, exist_ok=True)
    (ns.out / "audit.json").write_text(json.dumps(out, indent=1) + "\n")
    (ns.out / "audit.md").write_text(markdown(out))
    print(text_summary(out))
    if not ns.no_plot:
        for png in plot_audit(out, ns.out):
            print(f"plot: {png}")
    print(f"written {ns.out / 'audit.json'} and {ns.out / 'audit.md'}")
    return 0


def build_result(
    result: Any,
    ns: argparse.Namespace,
    districts: Sequence[str],
    names: dict[str, str],
    population: dict[str, float] | None,
    rejected: int,
    n_events: int,
) -> dict[str, Any]:
    """The JSON report: settings, the open loop's audit table, the replay and its summary."""
    from patrol.evaluation import fairness as fair
    from patrol.evaluation import feedback as fb

    true_total: dict[str, int] = {}
    for week in result.true_counts:
        for k, v in week.items():
            true_total[k] = true_total.get(k, 0) + v
    tables: dict[str, Any] = {}
    for variant in result.variants:
        rows = fair.audit_table(
            fb.exposure_totals(result, variant), true_total, population=population, names=names
        )
        tables[variant] = {
            "summary": fair.audit_summary(rows),
            "rows": [r.to_dict() for r in rows],
        }
    feedback = result.to_dict()
    return {
        "command": "patrolstream audit",
        "data": [p.name for p in ns.data],
        "rows_rejected": rejected,
        "incidents": n_events,
        "sample": {
            "from": ns.date_from.isoformat(),
            "weeks": ns.weeks,
            "history_days": ns.history_days,
            "districts": list(districts),
            "population": ns.population.name if ns.population else None,
            "rest": ns.rest,
            "planner": ns.planner,
        },
        "discovery": result.discovery.to_dict(),
        "discoverable_types": sorted(fb.DISCOVERABLE_TYPES),
        "seed": ns.seed,
        "audit": tables,
        "feedback": {
            "weeks": feedback["weeks"],
            "drift": feedback["drift"],
            "drift_vs_open": feedback["drift_vs_open"],
            "summary": fb.summarise(result),
            "true_counts": feedback["true_counts"],
            "variants": feedback["variants"],
        },
    }


def _f(v: float | None, digits: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def variant_rows(out: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    s = out["feedback"]["summary"]
    header = [
        "variant",
        "TV first 4 wk",
        "TV last 4 wk",
        "change",
        "slope /wk",
        "mean TV",
        "mean TV vs open",
        "discoverable recorded",
    ]
    rows = []
    for name, tr in s["drift"].items():
        rec = s["recording_rate_discoverable"].get(name)
        rows.append(
            [
                name,
                _f(tr["first"]),
                _f(tr["last"]),
                _f(tr["change"]),
                _f(tr["slope_per_week"], 4),
                _f(s["mean_drift"].get(name)),
                _f(s["mean_drift_vs_open"].get(name)),
                "-" if rec is None else f"{100 * rec:.0f}%",
            ]
        )
    return header, rows


def area_rows(table: dict[str, Any], limit: int = 15) -> tuple[list[str], list[list[str]]]:
    with_pop = any(r["population_share"] is not None for r in table["rows"])
    header = ["area", "name", "incidents", "incident %", "patrol min", "patrol %", "patrol/inc"]
    if with_pop:
        header.append("population %")
    rows = []
    for r in table["rows"][:limit]:
        row = [
            r["area"],
            r["name"],
            str(r["incidents"]),
            f"{100 * r['incident_share']:.1f}",
            f"{r['patrol_minutes']:.0f}",
            f"{100 * r['patrol_share']:.1f}",
            _f(r["patrol_over_incident_share"], 2),
        ]
        if with_pop:
            ps = r["population_share"]
            row.append("-" if ps is None else f"{100 * ps:.1f}")
        rows.append(row)
    return header, rows


def text_summary(out: dict[str, Any]) -> str:
    """The printed summary: the open loop's headline numbers, its areas, the drift table."""
    lines = []
    if "open" in out["audit"]:
        s = out["audit"]["open"]["summary"]
        lines.append(
            f"open loop: TV(patrol, incidents) = {_f(s['tv_patrol_incidents'])}; "
            f"{s['areas_unpatrolled']} of {s['areas']} areas never patrolled, holding "
            f"{100 * s['incident_share_unpatrolled']:.1f}% of the incidents"
            + (
                f"; TV(patrol, population) = {_f(s['tv_patrol_population'])}"
                if "tv_patrol_population" in s
                else ""
            )
        )
        lines.append(plain_table(*area_rows(out["audit"]["open"], 10)))
        lines.append("")
    lines.append("drift: TV(patrol-minute shares, true-incident shares) by community area, weekly")
    lines.append(plain_table(*variant_rows(out)))
    lines.append(loop_line(out))
    return "\n".join(lines)


def loop_line(out: dict[str, Any]) -> str:
    """One sentence on the loop's own effect: TV between the closed and reweight shares."""
    loop = out["feedback"]["summary"].get("loop_effect")
    if not loop:
        return ""
    return (
        f"loop effect, TV(closed, reweight) patrol shares: mean {_f(loop['mean'])}, first 4 "
        f"weeks {_f(loop['first'])}, last 4 weeks {_f(loop['last'])} (same history and draws: "
        "what the feedback alone moved)"
    )


def markdown(out: dict[str, Any]) -> str:
    """A Markdown section with the settings, the audit table and the drift table."""
    sample, d = out["sample"], out["discovery"]
    lines = [
        "## Fairness audit",
        "",
        f"Data: {', '.join(out['data'])}; districts {', '.join(sample['districts'])}; "
        f"{sample['weeks']} weeks from {sample['from']} after {sample['history_days']} days of "
        f"history; {out['incidents']} incidents; planner {sample.get('planner', 'cpspa')}, rest of "
        f"the shift: {sample['rest']}. "
        f"Discovery model: base {d['base']:g}, lift {d['lift_per_min']:g} per patrol minute "
        f"within {d['radius_m']:g} m, seed {out['seed']}.",
        "",
    ]
    if "open" in out["audit"]:
        s = out["audit"]["open"]["summary"]
        lines += [
            "### Patrol time against incidents (open loop: the engine on the data as recorded)",
            "",
            f"Total variation between patrol-minute shares and incident shares: "
            f"**{_f(s['tv_patrol_incidents'])}**; {s['areas_unpatrolled']} of {s['areas']} areas "
            f"with incidents got no patrol minute ({100 * s['incident_share_unpatrolled']:.1f}% "
            f"of the incidents); the 5 most patrolled areas got "
            f"{100 * s['top5_patrol_share']:.0f}% of the minutes."
            + (
                f" Against population: TV {_f(s['tv_patrol_population'])} (incidents against "
                f"population: {_f(s['tv_incidents_population'])})."
                if "tv_patrol_population" in s
                else ""
            ),
            "",
            *md_table(*area_rows(out["audit"]["open"])),
            "",
        ]
    lines += [
        "### Feedback loop (closed-loop replay)",
        "",
        "TV = total variation distance between the week's patrol-minute shares and its "
        "true-incident shares by community area (0 = same distribution, 1 = disjoint).",
        "",
        *md_table(*variant_rows(out)),
        "",
        loop_line(out),
        "",
    ]
    return "\n".join(lines)


def plot_audit(out: dict[str, Any], folder: Path) -> list[Path]:
    """``audit_shares.png`` (open loop's shares by area) and ``audit_drift.png`` (TV by week)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    written = []
    if "open" in out["audit"]:
        rows = out["audit"]["open"]["rows"][:25]
        fig = Figure(figsize=(12.0, 4.8), dpi=110)
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        xs = np.arange(len(rows))
        series = [
            ("incident_share", "incidents", "#4363d8"),
            ("patrol_share", "patrol minutes", "#f58231"),
        ]
        if any(r["population_share"] is not None for r in rows):
            series.append(("population_share", "residents", "#3cb44b"))
        width = 0.8 / len(series)
        for k, (key, label, color) in enumerate(series):
            vals = [100 * (r[key] or 0.0) for r in rows]
            ax.bar(xs + (k - (len(series) - 1) / 2) * width, vals, width, label=label, color=color)
        ax.set_xticks(xs, [r["name"] for r in rows], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("share, %")
        ax.set_title(
            "Open loop: share of planned patrol minutes vs share of incidents, by community area",
            fontsize=10,
        )
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = folder / "audit_shares.png"
        fig.savefig(path)
        written.append(path)
    fig = Figure(figsize=(13.0, 4.6), dpi=110)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    weeks = out["feedback"]["weeks"]
    step = max(1, len(weeks) // 6)
    for ax, key, ylabel, title in (
        (left, "drift", "TV(patrol shares, true-incident shares)",
         "Patrol minutes against the true incidents, by week"),
        (right, "drift_vs_open", "TV(patrol shares, open-loop patrol shares)",
         "Patrol minutes against the open loop's, by week"),
    ):  # fmt: skip
        for name, series_v in out["feedback"].get(key, {}).items():
            ys = [np.nan if v is None else v for v in series_v]
            ax.plot(range(len(weeks)), ys, marker="o", ms=3, label=VARIANT_LABELS.get(name, name),
                    color=COLORS.get(name))  # fmt: skip
        ax.set_xticks(range(0, len(weeks), step), weeks[::step], fontsize=7)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_xlabel("week starting", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = folder / "audit_drift.png"
    fig.savefig(path)
    written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m simulators.audit``)."""
    from patrol.evaluation.feedback import VARIANTS

    return standalone(
        "patrolstream audit",
        DESCRIPTION,
        EPILOG,
        lambda p: add_arguments(p, VARIANTS),
        audit_main,
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
