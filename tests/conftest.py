"""Shared fixtures: real Chicago incidents from the bundled sample (no ../shared needed)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile, load_profile
from patrol.incidents.schema import Incident
from simulators.settings import SAMPLE

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def chicago() -> CityProfile:
    return load_profile("chicago")


@pytest.fixture(scope="session")
def sample_rows() -> list[str]:
    """The bundled sample's CSV lines (header first): real rows, Sept-Oct 2016."""
    with gzip.open(SAMPLE, "rt", newline="") as fh:
        return fh.read().splitlines()


def slice_csv(lines: list[str], districts: set[str], days: int) -> str:
    """Rows of ``districts`` (as exported, e.g. '008') in the first ``days`` days of September."""
    rows = list(csv.reader(lines))
    header, body = rows[0], rows[1:]
    col, date = header.index("District"), header.index("Date")
    keep = [
        r
        for r in body
        if r[col] in districts and r[date].startswith("09/") and int(r[date][3:5]) <= days
    ]
    out = io.StringIO()
    csv.writer(out).writerows([header, *keep])
    return out.getvalue()


@pytest.fixture(scope="session")
def slicer(sample_rows: list[str]) -> Callable[[set[str], int], str]:
    """``slicer(districts, days)``: a CSV text of real sample rows (see :func:`slice_csv`)."""
    return lambda districts, days: slice_csv(sample_rows, districts, days)


@pytest.fixture(scope="session")
def district8_september(sample_rows: list[str], chicago: CityProfile) -> list[Incident]:
    """Real incidents of district 8, 1-30 Sept 2016, in event-time order."""
    text = slice_csv(sample_rows, {"008"}, 30)
    batch = read_csv(io.StringIO(text), chicago)
    return sorted(batch.incidents, key=lambda i: i.occurred_at)


@pytest.fixture()
def model_copy(tmp_path: Path) -> Path:
    """The committed arrest model and its card, copied to ``tmp_path/model``."""
    from models.arrest import DEFAULT_MODEL
    from models.arrest.export import card_path

    dst = tmp_path / "model" / DEFAULT_MODEL.name
    dst.parent.mkdir()
    shutil.copy(DEFAULT_MODEL, dst)
    shutil.copy(card_path(DEFAULT_MODEL), card_path(dst))
    return dst


def _new_model_version(model: Path, version: str) -> None:
    from models.arrest.export import card_path

    card = json.loads(card_path(model).read_text())
    card["version"] = version
    tmp = card_path(model).with_suffix(".tmp")
    tmp.write_text(json.dumps(card))
    os.replace(tmp, card_path(model))  # a rename: a watcher never sees half a card


@pytest.fixture(scope="session")
def new_model_version() -> Callable[[Path, str], None]:
    """``new_model_version(model, version)``: give the card of ``model`` another version (the
    model bytes stay valid)."""
    return _new_model_version
