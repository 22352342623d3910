"""``patrolstream report``: one self-contained HTML page with every measured result.

Bundles, from the JSON results the benchmarks and commands wrote (``bench/results``) and the
plots in ``docs/img``: the hotspot-forecast backtest, the route backtest, the arrest models and
the fairness audit. Images are embedded as base64 (the file can be mailed or opened offline);
each section starts with a short explanation in plain words for a reader who is not a
programmer. A missing result gives a section that says so instead of failing.

Wire it as a sub-command with :func:`add_report_arguments` and :func:`report_main`.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

DESCRIPTION = """\
Write one self-contained HTML report (tables, plots embedded, plain-language explanations) of
the hotspot backtest, the route backtest, the arrest models and the fairness audit, from the
JSON results in --results and the plots in --images."""

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:3px solid #4363d8}h2{margin-top:2.2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f0f3fa}td:first-child,th:first-child{text-align:left}
.explain{background:#f7f7f2;border-left:4px solid #f58231;padding:.6em 1em}
.missing{color:#a00}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
nav a{margin-right:1em}
"""


def add_report_arguments(sub: Any) -> argparse.ArgumentParser:
    """Add the ``report`` sub-command to the CLI's sub-parsers; returns its parser."""
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="one self-contained HTML page with the backtests, arrest models and fairness audit",
        description=DESCRIPTION,
    )
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``patrolstream report``."""
    p.add_argument(
        "--results",
        type=Path,
        default=ROOT / "bench" / "results",
        metavar="DIR",
        help="folder of the JSON results (default: the project's bench/results)",
    )
    p.add_argument(
        "--images",
        type=Path,
        default=ROOT / "docs" / "img",
        metavar="DIR",
        help="folder of the PNG plots (default: the project's docs/img)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("patrolstream-report.html"),
        metavar="FILE",
        help="the HTML file to write (default ./patrolstream-report.html)",
    )


def report_main(ns: argparse.Namespace) -> int:
    """Run ``patrolstream report``; returns the exit code."""
    page = build_report(ns.results, ns.images)
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(page, encoding="utf-8")
    print(f"written {ns.out} ({len(page) / 1e6:.1f} MB)")
    return 0


# -- helpers ----------------------------------------------------------------------------------


def _load(folder: Path, name: str) -> dict[str, Any] | None:
    path = folder / name
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _e(value: object) -> str:
    return html.escape(str(value))


def num(value: Any, digits: int = 3, pct: bool = False) -> str:
    """A number for a table cell (``-`` for missing or NaN); ``pct`` multiplies by 100.

    Examples
    --------
    >>> num(0.12345), num(0.12345, 1, pct=True), num(None), num(float("nan")), num("x")
    ('0.123', '12.3', '-', '-', 'x')
    """
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if math.isnan(value):
        return "-"
    return f"{value * (100 if pct else 1):.{digits}f}"


def interval(v: Any, digits: int = 3, pct: bool = False) -> str:
    """``value [low, high]`` from a ``{"value", "low", "high"}`` dict (or a bare number)."""
    if isinstance(v, dict):
        mid = num(v.get("value"), digits, pct)
        lo, hi = v.get("low"), v.get("high")
        if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
            return mid
        return f"{mid} [{num(lo, digits, pct)}, {num(hi, digits, pct)}]"
    return num(v, digits, pct)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; cells are escaped."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(path: Path, caption: str) -> str:
    """The PNG at ``path`` embedded as a data URI (a note when it is missing)."""
    if not path.exists():
        return f'<p class="missing">plot not available: {_e(path.name)}</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def explain(text: str) -> str:
    """A plain-language box."""
    return f'<div class="explain">{text}</div>'


def missing(what: str, how: str) -> str:
    """The body of a section whose results are absent."""
    return (
        f'<p class="missing">No {_e(what)} results found. Produce them with '
        f"<code>{_e(how)}</code>.</p>"
    )


# -- sections ---------------------------------------------------------------------------------


def hotspot_section(results: Path, images: Path) -> str:
    """Hotspot forecasts: hit rate and PAI of every method, with intervals."""
    d = _load(results, "backtest_hotspots.json")
    out = [
        explain(
            "The city is cut into small squares (150 m). Each week, every method ranks the "
            "squares by how likely crime is there, using only earlier weeks. <b>Hit rate at "
            "1%</b>: the share of that week's crimes that happened in the top 1% of the city's "
            "area. <b>PAI</b> (predictive accuracy index) = hit rate divided by the area share: "
            "PAI 10 at 1% means the flagged squares hold ten times their share of crime. Higher "
            "is better; 'maximum possible' is the ceiling (the week's own crimes). Brackets are "
            "95% intervals over the weeks."
        )
    ]
    if d is None:
        return "".join(out) + missing("hotspot backtest", "python -m bench.backtest --city-wide")
    shares = [str(s) for s in d.get("shares", [0.01, 0.05, 0.1])]
    rows = []
    for name, m in d.get("methods", {}).items():
        vs = m.get("vs_strongest_baseline") or {}
        ci = m.get("pai_1pct_ci95") or [None, None]
        rows.append(
            [
                name,
                m.get("kind", ""),
                *(num(m.get("hit_rate", {}).get(s), 1, pct=True) for s in shares),
                *(num(m.get("pai", {}).get(s), 2) for s in shares),
                f"[{num(ci[0], 2)}, {num(ci[1], 2)}]",
                interval({"value": vs.get("diff"), "low": vs.get("low"), "high": vs.get("high")},
                         2) if vs else "",
            ]
        )  # fmt: skip
    pct = [f"{100 * float(s):g}%" for s in shares]
    header = ["method", "kind", *(f"hit rate {p} (%)" for p in pct), *(f"PAI {p}" for p in pct),
              "PAI 1% 95% CI", "PAI 1% minus strongest baseline"]  # fmt: skip
    out.append(
        f"<p>Weekly periods {_e(d.get('from'))} to {_e(d.get('to'))} ({_e(d.get('periods'))} "
        f"weeks), {_e(d.get('evaluated_incidents'))} incidents evaluated, city area "
        f"{_e(d.get('city_area_km2'))} km² in {_e(d.get('city_cells'))} cells; strongest "
        f"baseline: <b>{_e(d.get('strongest_baseline'))}</b>.</p>"
    )
    out.append(table(header, rows))
    for png in sorted(images.glob("backtest_*.png")):
        out.append(image(png, png.stem.replace("_", " ")))
    return "".join(out)


def route_section(results: Path, images: Path) -> str:
    """Route backtest: coverage of every planner."""
    d = _load(results, "route_backtest.json")
    out = [
        explain(
            "For each district and 8-hour shift, each planner draws a patrol route from past "
            "data only; then we count how many of that shift's real incidents happened within "
            "250 m of a stop the patrol car had already reached (<b>covered in time</b>). "
            "'Spatial' ignores the timing. The oracle, which sees the future, is a ceiling, not "
            "a usable planner. 'x CPSPA' compares the incidents covered with the paper's method."
        )
    ]
    if d is None:
        return "".join(out) + missing("route backtest", "patrolstream backtest routes ...")
    s = d.get("summary", {})
    rows = []
    for name, p in s.get("planners", {}).items():
        ratio = s.get("ratios", {}).get(name)
        rows.append(
            [
                name,
                interval(p.get("in_time"), 1, pct=True),
                interval(p.get("spatial"), 1, pct=True),
                num(p.get("mean_km"), 1),
                num(p.get("mean_minutes"), 0),
                num(p.get("mean_waypoints"), 1),
                "1" if name == s.get("reference") else interval(ratio, 2) if ratio else "",
            ]
        )
    sample = d.get("sample", {})
    out.append(
        f"<p>{_e(s.get('district_shifts'))} district-shifts on {_e(s.get('days'))} days "
        f"({_e(sample.get('from'))} to {_e(sample.get('to'))}); brackets: 95% bootstrap "
        "intervals over days.</p>"
    )
    out.append(
        table(
            ["planner", "covered in time %", "spatial %", "km", "minutes", "stops", "x CPSPA"],
            rows,
        )
    )
    g = d.get("goal") or {}
    if g.get("ratio") is not None:
        out.append(
            f"<p>Goal: the optimising planner covers at least {num(g.get('target'), 1)}x the "
            f"incidents of the paper's pipeline: measured {num(g.get('ratio'), 2)}x "
            f"[{num(g.get('low'), 2)}, {num(g.get('high'), 2)}], "
            f"<b>{'met' if g.get('met') else 'not met'}</b>.</p>"
        )
    for png in sorted({*images.glob("route*backtest*.png"), *images.glob("route_district*.png")}):
        out.append(image(png, png.stem.replace("_", " ")))
    return "".join(out)


METRICS = ("accuracy", "majority_accuracy", "roc_auc", "pr_auc", "brier", "ece")


def _metric_rows(block: dict[str, Any]) -> list[list[str]]:
    return [[name, *(num(m.get(k), 3) for k in METRICS)] for name, m in block.items()]


def arrest_section(results: Path, images: Path) -> str:
    """Arrest models: seed and forward protocols, serving latency, calibration plot."""
    d = _load(results, "arrest_train.json")
    serve = _load(results, "arrest.json")
    out = [
        explain(
            "A model estimates, when an incident is reported, the chance it ends in an arrest. "
            "<b>Accuracy</b> should be read next to the <b>majority</b> accuracy (always "
            "guessing 'no arrest'). <b>ROC-AUC</b> (0.5 = coin toss, 1 = perfect) measures "
            "ranking; <b>Brier</b> and <b>ECE</b> (lower is better) measure whether a '30%' "
            "score really means 30%. The 'forward' protocol trains on earlier years and tests "
            "on a later one, as in real use; 'seed' is the original paper's random split. Some "
            "offence types are recorded only when an arrest is made; the table without them is "
            "the honest one."
        )
    ]
    if d is None:
        return "".join(out) + missing("arrest model", "patrolstream train-arrest ...")
    header = ["model", "accuracy", "majority", "ROC-AUC", "PR-AUC", "Brier", "ECE"]
    if isinstance(d.get("seed"), dict):
        out.append("<h3>Seed protocol (random 80/20 split)</h3>")
        out.append(table(header, _metric_rows(d["seed"])))
    for key, title in (
        ("all_types", "all offence types"),
        ("without_arrest_only", "without the arrest-only types"),
    ):
        block = (d.get("forward") or {}).get(key)
        if isinstance(block, dict):
            out.append(f"<h3>Forward protocol, test year {_e(d.get('test_year'))}: {title}</h3>")
            out.append(table(header, _metric_rows(block)))
    if serve is not None:
        lat = (serve.get("latency") or {}).get("score_one") or {}
        out.append(
            f"<p>Serving ({_e(serve.get('model'))}, onnxruntime): one incident scored in "
            f"{num(lat.get('p50_us'), 0)} µs (median), {num(lat.get('p99_us'), 0)} µs "
            "(99th percentile).</p>"
        )
    out.append(image(images / "arrest_calibration.png", "arrest model calibration"))
    return "".join(out)


def audit_section(results: Path, images: Path) -> str:
    """Fairness audit: patrol time vs incidents by community area, the feedback replay."""
    d = _load(results, "audit.json")
    out = [
        explain(
            "<b>Who gets patrolled?</b> For each community area we compare its share of the "
            "planned patrol minutes with its share of reported incidents (and of residents when "
            "a population table is given). A ratio 'patrol/inc' above 1 means more patrol than "
            "its share of incidents. <b>Does the system feed on itself?</b> Some offences "
            "(drugs, weapons, trespass...) are mostly found by officers, not reported by "
            "victims: where patrols go, more of them get recorded, and the system then sends "
            "patrols there again. We replay real weeks with a stated model of that effect and "
            "measure, each week, the distance (TV, 0 = same, 1 = nothing in common) between "
            "where patrol minutes go and where incidents really happened, with and without two "
            "safeguards."
        )
    ]
    if d is None:
        return "".join(out) + missing("fairness audit", "python -m bench.audit")
    from simulators.audit import area_rows, loop_line, variant_rows

    sample, disc = d.get("sample", {}), d.get("discovery", {})
    out.append(
        f"<p>Districts {_e(', '.join(sample.get('districts', [])))}; {_e(sample.get('weeks'))} "
        f"weeks from {_e(sample.get('from'))}; discovery model: recorded with probability "
        f"{_e(disc.get('base'))} + {_e(disc.get('lift_per_min'))} per patrol minute within "
        f"{_e(disc.get('radius_m'))} m.</p>"
    )
    opened = (d.get("audit") or {}).get("open")
    if opened:
        s = opened["summary"]
        out.append(
            f"<p>Open loop (the engine on the data as recorded): TV between patrol and incident "
            f"shares <b>{num(s.get('tv_patrol_incidents'))}</b>; {_e(s.get('areas_unpatrolled'))}"
            f" of {_e(s.get('areas'))} areas got no patrol minute.</p>"
        )
        out.append(table(*area_rows(opened, 15)))
    if d.get("feedback"):
        out.append(table(*variant_rows(d)))
        out.append(f"<p>{_e(loop_line(d))}</p>")
        out.append(
            explain(
                "How to read this table: 'open' is the system learning every incident. If the "
                "feedback loop mattered, 'closed' would move away from it week after week and "
                "the two safeguards would pull it back. The 'loop effect' line measures exactly "
                "that gap between 'closed' and the down-weighting safeguard (0 = no effect); "
                "the caveats are in docs/fairness.md."
            )
        )
    for png in ("audit_shares.png", "audit_drift.png"):
        out.append(image(images / png, png[:-4].replace("_", " ")))
    others = [(n, t, _load(results, n)) for n, t in AUDIT_RUNS[1:]]
    rows = [_run_row(t, o) for n, t, o in [(AUDIT_RUNS[0][0], AUDIT_RUNS[0][1], d), *others] if o]
    if len(rows) > 1:
        out.append(
            "<h3>Other patrol assumptions</h3><p>The same replay when the unit waits at its last "
            "stop for the rest of the shift, and with the optimising planner (whole shift, "
            "15-minute stops). Mean TV per variant over the replayed weeks.</p>"
        )
        header = ["run", "weeks", "open", "closed", "victim_only", "reweight"]
        out.append(table([*header, "discoverable recorded (closed)"], rows))
        for name, _, o in others:
            drift_png = images / f"audit_drift{name[len('audit') : -len('.json')]}.png"
            if o and drift_png.exists():
                out.append(image(drift_png, drift_png.stem.replace("_", " ")))
    return "".join(out)


AUDIT_RUNS = (
    ("audit.json", "CPSPA routes as planned"),
    ("audit_rest-last.json", "CPSPA, unit waits at its last stop"),
    ("audit_optimizer.json", "optimising planner"),
)


def _run_row(title: str, d: dict[str, Any]) -> list[str]:
    s = d.get("feedback", {}).get("summary", {})
    mean = s.get("mean_drift", {})
    rec = s.get("recording_rate_discoverable", {}).get("closed")
    return [
        title,
        str(d.get("sample", {}).get("weeks", "")),
        *(num(mean.get(v)) for v in ("open", "closed", "victim_only", "reweight")),
        "-" if rec is None else f"{100 * rec:.0f}%",
    ]


SECTIONS: tuple[tuple[str, str, Callable[[Path, Path], str]], ...] = (
    ("hotspots", "Hotspot forecasts", hotspot_section),
    ("routes", "Patrol routes", route_section),
    ("arrest", "Arrest models", arrest_section),
    ("fairness", "Fairness audit", audit_section),
)


def build_report(results: Path, images: Path) -> str:
    """The whole HTML page."""
    nav = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title, _ in SECTIONS)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>patrolstream results</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>patrolstream: measured results</h1>",
        explain(
            "patrolstream plans police patrol routes from a stream of crime reports. This page "
            "collects how well its forecasts and routes did on real Chicago data (trained on "
            "earlier years, tested on 2016), how its arrest-probability models score, and "
            "whether its plans are fair. Every number comes from the result files named in "
            "each section; nothing here is estimated by hand."
        ),
        f"<nav>{nav}</nav>",
    ]
    for sid, title, render in SECTIONS:
        try:
            body = render(results, images)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            body = f'<p class="missing">could not read the {_e(title)} results: {_e(exc)}</p>'
        parts.append(f'<section id="{sid}"><h2>{_e(title)}</h2>{body}</section>')
    parts.append("</body></html>")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m simulators.report``)."""
    p = argparse.ArgumentParser(prog="patrolstream report", description=DESCRIPTION)
    add_arguments(p)
    return report_main(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
