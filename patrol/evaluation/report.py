"""The backtest's report: every number as a JSON-ready dict, a text table and a Markdown section.

Pure functions of a :class:`~patrol.evaluation.backtest.BacktestResult` (no file I/O): the
command line (:mod:`simulators.backtest`) writes them. The headline interval of a method is
the 95% block-bootstrap interval of its mean PAI@1% over the periods; the comparison with the
strongest baseline is the paired one (:mod:`patrol.evaluation.compare`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from patrol.evaluation.backtest import BacktestResult
from patrol.evaluation.compare import block_bootstrap_means


def method_entries(
    res: BacktestResult, n_boot: int = 10_000, block: int | None = None, seed: int = 0
) -> tuple[str | None, dict[str, Any]]:
    """Per-method summaries (``"maximum"`` last) and the strongest baseline (``None``: none
    ran)."""
    has_baseline = any(m.kind == "baseline" for m in res.methods.values())
    strongest = res.strongest_baseline(0.01) if has_baseline else None
    j1 = res.shares.index(0.01)
    out: dict[str, Any] = {}
    for name in [*res.methods, "maximum"]:
        ms = res.methods.get(name)
        pai = res.pai(name)
        pai1 = pai[:, j1]
        means = block_bootstrap_means(pai1[~np.isnan(pai1)], n_boot, block, seed)
        hit = res.maximum if ms is None else ms.hit
        curve = res.max_curve if ms is None else ms.curve
        entry: dict[str, Any] = {
            "kind": "maximum possible" if ms is None else ms.kind,
            "hit_rate": {f"{s:g}": _f(np.nanmean(hit[:, j])) for j, s in enumerate(res.shares)},
            "pai": {f"{s:g}": _f(np.nanmean(pai[:, j])) for j, s in enumerate(res.shares)},
            "pai_1pct_ci95": [_f(np.quantile(means, 0.025)), _f(np.quantile(means, 0.975))],
            "pai_1pct_per_period": [_f(v, 4) for v in pai1],
            "hit_rate_curve": [_f(v, 5) for v in np.nanmean(curve, axis=0)],
        }
        if ms is not None:
            entry["seconds"] = round(ms.seconds, 3)
            if strongest is not None and name != strongest:
                c = res.compare(name, strongest, 0.01, n_boot=n_boot, block=block, seed=seed)
                entry["vs_strongest_baseline"] = c.to_dict()
        out[name] = entry
    return strongest, out


def _f(v: Any, digits: int = 6) -> float | None:
    x = float(v)
    return None if math.isnan(x) else round(x, digits)


def best_ours(report: Mapping[str, Any]) -> str | None:
    """Our method with the highest mean PAI@1% (``None`` when none ran)."""
    ours = [n for n, m in report["methods"].items() if m["kind"] == "ours"]
    return max(ours, key=lambda n: report["methods"][n]["pai"]["0.01"] or 0.0) if ours else None


def _num(v: float | None, fmt: str = ".2f") -> str:
    return "n/a" if v is None else format(v, fmt)


def table_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the results table, best PAI@1% first, maximum possible last."""
    header = ["method", "kind", "PAI@1%", "95% CI", "PAI@5%", "PAI@10%", "hit@1%", "hit@5%",
              "hit@10%", "vs strongest: diff [95% CI]", "Wilcoxon p", "s"]  # fmt: skip
    ms = report["methods"]
    names = sorted((n for n in ms if n != "maximum"), key=lambda n: -(ms[n]["pai"]["0.01"] or 0))
    rows = []
    for name in [*names, "maximum"]:
        m = ms[name]
        lo, hi = m["pai_1pct_ci95"]
        c = m.get("vs_strongest_baseline")
        if c is not None:
            mark = " *" if c["excludes_zero"] else ""
            versus = f"{c['diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]{mark}"
            p = _num(c["p_wilcoxon"], ".2g")
        else:
            versus, p = ("(strongest baseline)" if m["kind"] == "baseline" else ""), ""
        rows.append([
            name, m["kind"], _num(m["pai"]["0.01"]), f"[{_num(lo)}, {_num(hi)}]",
            _num(m["pai"]["0.05"]), _num(m["pai"]["0.1"]), _num(m["hit_rate"]["0.01"], ".3f"),
            _num(m["hit_rate"]["0.05"], ".3f"), _num(m["hit_rate"]["0.1"], ".3f"), versus, p,
            _num(m.get("seconds"), ".1f") if "seconds" in m else "",
        ])  # fmt: skip
    return header, rows


def text_table(report: Mapping[str, Any]) -> str:
    """The results as a plain-text table with a one-line verdict."""
    header, rows = table_rows(report)
    cells = [header, *rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([_headline(report), "", *lines, "", verdict(report)])


def _headline(report: Mapping[str, Any]) -> str:
    where = f"district {report['district']}" if report.get("district") else "city-wide"
    return (
        f"Hotspot backtest, {where}: {report['periods']} {report['period']}s from "
        f"{report['from']} to {report['to']}, {report['grid_m']:g} m cells, city area = "
        f"{report['city_cells']} cells ({report['city_area_km2']} km2) with an incident since "
        f"{report['city_area_from']}; {report['evaluated_incidents']} incidents evaluated, "
        f"{report['history_incidents']} before --from."
    )


def verdict(report: Mapping[str, Any]) -> str:
    """One sentence: does our best method beat the strongest baseline on PAI@1%?"""
    best = best_ours(report)
    strongest = report["strongest_baseline"]
    if strongest is None:
        return "No baseline was run."
    if best is None:
        return f"Strongest baseline on PAI@1%: {strongest}."
    c = report["methods"][best].get("vs_strongest_baseline")
    if c is None:
        return f"Strongest baseline on PAI@1%: {strongest}."
    won = c["low"] > 0
    return (
        f"{best} vs the strongest baseline ({strongest}) on PAI@1%: {c['diff']:+.3f} "
        f"(95% CI [{c['low']:+.3f}, {c['high']:+.3f}], Wilcoxon p = {_num(c['p_wilcoxon'], '.2g')}"
        f", better in {c['wins']} of {c['n']} {report['period']}s): "
        + ("goal met, the interval excludes zero." if won else "goal NOT met.")
    )


def markdown(report: Mapping[str, Any], images: Sequence[str] = ()) -> str:
    """A Markdown section: settings, the table, the verdict and the plots."""
    header, rows = table_rows(report)
    md = [
        "## Hotspot forecasts: rolling-origin backtest",
        "",
        _headline(report),
        "",
        "Hit rate at a% = share of the period's incidents in the top a% of the city's cells by "
        "predicted risk (ties at the cut split proportionally); PAI = hit rate / (a/100). Means "
        "over periods; 95% CI = block bootstrap of the mean PAI@1% "
        f"({report['bootstrap']['n_boot']} resamples). *vs strongest* = mean paired difference "
        f"of PAI@1% from the strongest baseline ({report['strongest_baseline']}) with its "
        "block-bootstrap interval (`*`: excludes zero) and the Wilcoxon signed-rank p-value.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        verdict(report),
        "",
    ]
    md += [f"![{img.rsplit('/', 1)[-1]}]({img})\n" for img in images]
    return "\n".join(md)
