"""Options and input checks shared by the replay sub-commands (``backtest``, ``audit``).

Argument types (:func:`iso_date`, :func:`positive_int`), the options every replay has
(:func:`add_data_option`, :func:`add_city_travel_options`), the checks before a run
(:func:`input_error`), the objects built from those options (:func:`travel_provider`,
:func:`district_ids`, :func:`read_incidents`), plain-text and Markdown tables
(:func:`plain_table`, :func:`md_table`) and the stand-alone ``main`` (:func:`standalone`).
Only the standard library is imported at the top: the core install builds every ``--help``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any


def iso_date(text: str) -> date:
    """An ``argparse`` type: a ``YYYY-MM-DD`` date.

    Examples
    --------
    >>> iso_date("2016-01-04")
    datetime.date(2016, 1, 4)
    >>> iso_date("2016-13-01")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: '2016-13-01': month must be in 1..12
    """
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def positive_int(text: str) -> int:
    """An ``argparse`` type: a whole number >= 1.

    Examples
    --------
    >>> positive_int("3")
    3
    >>> positive_int("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: must be >= 1, got 0
    """
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_data_option(p: argparse.ArgumentParser, period: str) -> None:
    """``--data FILE...``: the incident exports, holding the history and the ``period``."""
    p.add_argument(
        "--data",
        help=f"incident CSV exports (plain or .gz), history and {period} together",
        type=Path,
        nargs="+",
        action="extend",
        required=True,
        metavar="FILE",
    )


def add_city_travel_options(p: argparse.ArgumentParser, travel_help: str) -> None:
    """``--city``, ``--travel`` (help ``travel_help``) and ``--osm`` (into ``osm_path``)."""
    p.add_argument(
        "--city",
        help="city profile: a bundled name or a .toml path (default chicago)",
        default="chicago",
        metavar="NAME|PATH",
    )
    p.add_argument(
        "--travel", help=travel_help, choices=["street-grid", "osm-road"], default="street-grid"
    )
    p.add_argument(
        "--osm",
        help="OpenStreetMap XML file for --travel osm-road",
        dest="osm_path",
        metavar="FILE",
    )


def input_error(ns: argparse.Namespace, files: Iterable[Path], label: str = "") -> str | None:
    """The first problem with the inputs, as an ``error: ...`` line, or ``None``.

    A file of ``files`` that does not exist (named after ``label``, e.g. ``--data``), or
    ``--travel osm-road`` without ``--osm``.

    Examples
    --------
    >>> ns = argparse.Namespace(travel="osm-road", osm_path=None)
    >>> input_error(ns, [Path("/nonexistent.csv")], "--data")
    'error: --data /nonexistent.csv: no such file'
    >>> input_error(ns, [])
    'error: --travel osm-road needs --osm FILE'
    """
    for path in files:
        if not path.exists():
            return f"error: {label + ' ' if label else ''}{path}: no such file"
    if ns.travel == "osm-road" and not ns.osm_path:
        return "error: --travel osm-road needs --osm FILE"
    return None


def travel_provider(ns: argparse.Namespace) -> Any:
    """The travel-time provider of ``--travel`` (with ``--osm`` when given)."""
    from patrol.travel import make_provider

    return make_provider(ns.travel, **({"osm_path": ns.osm_path} if ns.osm_path else {}))


def district_ids(ids: Sequence[str] | None) -> set[str] | None:
    """``--districts`` without leading zeros; ``None`` (every district) when not given.

    Examples
    --------
    >>> sorted(district_ids(["008", "11", "0"]))
    ['0', '11', '8']
    >>> district_ids(None) is None
    True
    """
    return None if not ids else {d.lstrip("0") or "0" for d in ids}


def read_incidents(
    paths: Sequence[Path],
    profile: Any,
    report: Any,
    locator: Any,
    *,
    progress: bool,
    keep: Callable[[Any], bool] | None = None,
) -> list[Any]:
    """Parse every file of ``paths`` with a progress bar per file; rejections go to ``report``.

    ``keep`` filters the parsed incidents (default: keep all); the file order is kept.
    """
    from tqdm import tqdm

    from patrol.incidents.parse import iter_csv

    incidents = []
    for path in paths:
        rows = iter_csv(path, profile, report, locator=locator)
        bar = tqdm(rows, desc=f"read {path.name}", unit=" rows", disable=not progress)
        incidents.extend(bar if keep is None else filter(keep, bar))
    return incidents


def plain_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table: left-aligned columns, a dashed line under the header.

    Examples
    --------
    >>> print(plain_table(["a", "bb"], [["xyz", "12"]]))
    a    bb
    ---  --
    xyz  12
    """
    cells = [header, *rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """The lines of a Markdown table.

    Examples
    --------
    >>> md_table(["a", "b"], [["1", "2"]])
    ['| a | b |', '|---|---|', '| 1 | 2 |']
    """
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def standalone(
    prog: str,
    description: str,
    epilog: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None,
) -> int:
    """Parse ``argv`` with a parser of ``prog`` built by ``add_arguments``, then ``run`` it."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    return run(p.parse_args(argv))
