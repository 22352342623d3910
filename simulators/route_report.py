"""Tables and the figure of ``patrolstream backtest routes`` (from its result dict or JSON).

:func:`text_table` (printed), :func:`markdown` (``route_backtest.md``) and
:func:`plot_route_backtest` (``route_backtest.png``; redraw from a saved JSON that kept its
rows with ``plot_route_backtest(json.load(open(FILE)), Path(PNG))``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from simulators.cliargs import md_table, plain_table

PLANNER_LABELS = {
    "cpspa": "CPSPA (paper pipeline)",
    "nearest": "nearest-neighbour order",
    "random": "random order",
    "optimizer": "optimising planner",
    "optimizer-counts": "optimising planner, counts risk",
    "oracle": "oracle (sees the shift)",
}


SHORT_LABELS = {
    "cpspa": "CPSPA\n(paper)",
    "nearest": "nearest-\nneighbour",
    "random": "random\norder",
    "optimizer": "optimiser",
    "optimizer-counts": "optimiser\n(counts risk)",
    "oracle": "oracle\n(ceiling)",
}


def _share(v: dict[str, float], pct: bool = True) -> str:
    k, f = (100.0, ".1f") if pct else (1.0, ".2f")
    if math.isnan(v["low"]):
        return f"{v['value'] * k:{f}}"
    return f"{v['value'] * k:{f}} [{v['low'] * k:{f}}, {v['high'] * k:{f}}]"


def _table_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = [
        "planner",
        "covered in time %",
        "spatial %",
        "in presence %",
        "per km",
        "km",
        "min",
        "way-pts",
        "x CPSPA (in time)",
    ]
    rows = []
    for name, p in summary["planners"].items():
        ratio = summary["ratios"].get(name)
        rows.append(
            [
                name,
                _share(p["in_time"]),
                _share(p["spatial"]),
                _share(p["in_presence"]),
                f"{p['in_time_per_km']['value']:.3f}",
                f"{p['mean_km']:.1f}",
                f"{p['mean_minutes']:.0f}",
                f"{p['mean_waypoints']:.1f}",
                "1"
                if name == summary["reference"]
                else (_share(ratio, pct=False) if ratio else ""),
            ]
        )
    return header, rows


def text_table(summary: dict[str, Any]) -> str:
    """The summary as a plain-text table."""
    head = (
        f"{summary['district_shifts']} district-shifts on {summary['days']} days; "
        f"{int(summary['level'] * 100)}% bootstrap intervals over days"
    )
    return head + "\n" + plain_table(*_table_rows(summary))


def markdown(result: dict[str, Any]) -> str:
    """A Markdown section with the sample, the table and the goal."""
    s, sample = result["summary"], result["sample"]
    lines = [
        "## Route coverage backtest",
        "",
        f"Data: {', '.join(result['data'])}. Evaluated {s['district_shifts']} district-shifts "
        f"on {s['days']} days ({sample['from']}..{sample['to']}, sample_weeks="
        f"{sample['sample_weeks']}), shifts {', '.join(sample['shifts'])}, districts "
        f"{', '.join(sample['districts'])}; every shift planned only from incidents before it. "
        f"Optimiser: {result['config']['units']} unit(s), "
        f"{result['config']['dwell_min']:g} min stops, "
        f"{result['config']['sites_per_unit']} sites per unit. Shares pool all district-shifts "
        f"(covered / incidents); brackets: {int(s['level'] * 100)}% bootstrap over days.",
        "",
        *md_table(*_table_rows(s)),
        "",
    ]
    f = result.get("forecaster_vs_counts")
    if f:
        lines += [
            f"Optimiser with the forecaster's level over the optimiser on decayed counts alone "
            f"(incidents covered in time, same shifts): **{f['value']:.3f}x** "
            f"[{f['low']:.3f}, {f['high']:.3f}].",
            "",
        ]
    g = result["goal"]
    if g["ratio"] is not None:
        lines += [
            f"Goal (issue 6): optimiser >= {g['target']:g}x CPSPA's incidents covered in time: "
            f"**{g['ratio']:.2f}x** [{g['low']:.2f}, {g['high']:.2f}], "
            f"{'met' if g['met'] else 'not met'}.",
            "",
        ]
    return "\n".join(lines)


def plot_route_backtest(result: dict[str, Any], out: Path) -> Path:
    """Two panels: pooled coverage per planner with intervals; per-shift coverage in time.

    The right panel needs the per-shift ``rows`` (left out with ``--no-rows``: then only the
    left panel is drawn). Headless Agg on a bare :class:`~matplotlib.figure.Figure`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    summary, sample = result["summary"], result["sample"]
    names = list(summary["planners"])
    short = dict(SHORT_LABELS)
    if result.get("config", {}).get("risk") == "boosted":
        short["optimizer"] = "optimiser\n(forecaster)"
    elif result.get("config", {}).get("risk") == "counts":
        short["optimizer"] = "optimiser\n(counts risk)"
    labels = [short.get(n, n) for n in names]
    rows = result.get("rows")
    fig = Figure(figsize=(12.0 if rows else 6.5, 5.2), dpi=120)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if rows else 1, squeeze=False)[0]
    left = axes[0]
    xs = np.arange(len(names))
    for offset, measure, label, colour in (
        (-0.27, "in_time", "covered in time: <= 250 m of a way-point reached before it",
         "#4363d8"),
        (0.0, "spatial", "spatial: <= 250 m of any way-point, any time", "#9ecae1"),
        (0.27, "in_presence", "in presence: the unit was at that way-point", "#f58231"),
    ):  # fmt: skip
        v = [summary["planners"][n][measure] for n in names]
        mid = np.array([x["value"] for x in v]) * 100
        err = np.abs(np.array([[x["low"], x["high"]] for x in v]).T * 100 - mid)
        left.bar(xs + offset, mid, width=0.27, label=label, color=colour)
        left.errorbar(xs + offset, mid, yerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
    left.set_xticks(xs, labels, fontsize=8)
    left.set_ylim(0, 115)
    left.set_ylabel("incidents covered, % of the shift's incidents")
    left.set_title(
        f"Pooled over {summary['district_shifts']} district-shifts; "
        f"bars: {int(summary['level'] * 100)}% bootstrap interval over days",
        fontsize=9,
    )
    left.legend(fontsize=7, loc="upper left")
    if rows:
        right = axes[1]
        per: dict[str, list[float]] = {n: [] for n in names}
        for r in rows:
            if r["planner"] in per and r["incidents"] > 0:
                per[r["planner"]].append(100.0 * r["in_time"] / r["incidents"])
        right.boxplot([per[n] for n in names], showmeans=True, widths=0.6)
        right.set_xticks(xs + 1, labels, fontsize=8)
        right.set_ylim(-3, 105)
        right.set_ylabel("coverage in time of one district-shift, %")
        right.set_title(
            "Per district-shift with incidents: box = quartiles, line = median, triangle = mean",
            fontsize=9,
        )
    units = result.get("config", {}).get("units", 1)
    fig.suptitle(
        f"Route coverage per planner, {summary['days']} days of {sample['from']}..{sample['to']}"
        f", {units} unit{'s' if units != 1 else ''} per district and 8-hour shift",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(out)
    return out
