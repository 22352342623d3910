"""Derive the committed incident fixtures and the bundled Chicago city data.

Run by hand (needs ``/work/shared/data``); tests only read the committed files::

    python tests/patrol/incidents/make_fixtures.py            # tests/fixtures/chicago_rows.csv
    python tests/patrol/incidents/make_fixtures.py --cities   # also patrol/cities/data/*

``chicago_rows.csv`` holds 200 real rows of the 2012-2016 exports, byte-for-byte except for the
edits listed in ``EDITS`` (Arrest/Domestic respelled ``True``/``False``/``TRUE``/``FALSE``, as
other exports of the same data spell them; every other value is as published):

* 150 random rows with coordinates (seed 2024) from all five years;
* the first 4 rows without coordinates of 2012 and of 2016 (missing lat/lon);
* the first row per year at (36.619446395, -91.686565684), the geocoding placeholder far
  outside the city (3 rows: not every year has one);
* the DST transition rows of 2016 and 2012: ``03/13/2016 02:30:00 AM`` and
  ``03/11/2012 02:30:00 AM`` (do not exist in local time: the hour is skipped),
  ``11/06/2016 01:30:00 AM`` and ``11/04/2012 01:30:00 AM`` (ambiguous: the hour repeats);
* the first row of district 031 per year (the enclave district without a station);
* padded with random rows to 200, then sorted by Date like the source.

``--cities`` re-derives ``patrol/cities/data/chicago_police_districts.geojson`` (Dec 2012
police districts, coverage-simplified at 0.0003 deg so that neighbours keep shared edges, the
pieces of each district merged, coordinates rounded to 6 decimals) and copies the stations CSV.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import shutil
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHARED = Path("/work/shared/data")
YEARS = range(2012, 2017)
TARGET = ROOT / "tests" / "fixtures" / "chicago_rows.csv"
# k -> (Arrest, Domestic) written into the k-th random row (by ID order).
EDITS = {0: ("True", "False"), 1: ("TRUE", "FALSE"), 2: ("False", "True"), 3: ("FALSE", "TRUE")}


def _rows(year: int) -> tuple[list[str], list[dict[str, str]]]:
    path = SHARED / "chicago" / f"chicago_{year}0101_{year}1231.csv.gz"
    with gzip.open(path, "rt", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        assert reader.fieldnames is not None
        return list(reader.fieldnames), rows


def make_rows() -> None:
    rng = random.Random(2024)
    header: list[str] = []
    picked: dict[str, dict[str, str]] = {}
    pool: list[dict[str, str]] = []
    for year in YEARS:
        header, rows = _rows(year)
        pool.extend(r for r in rows if r["Latitude"])
        if year in (2012, 2016):
            for r in [r for r in rows if not r["Latitude"]][:4]:
                picked[r["ID"]] = r
            for r in rows:
                if r["Date"] in ("03/13/2016 02:30:00 AM", "03/11/2012 02:30:00 AM"):
                    picked[r["ID"]] = r
            for stamp in ("11/06/2016 01:30:00 AM", "11/04/2012 01:30:00 AM"):
                for r in [r for r in rows if r["Date"] == stamp][:3]:
                    picked[r["ID"]] = r
        for r in [r for r in rows if r["Latitude"].startswith("36.6")][:1]:
            picked[r["ID"]] = r
        for r in [r for r in rows if r["District"] == "031"][:1]:
            picked[r["ID"]] = r
    special = set(picked)
    while len(picked) < 200:
        r = rng.choice(pool)
        picked[r["ID"]] = r
    randoms = sorted(i for i in picked if i not in special)
    edited = []
    for k, (arrest, domestic) in EDITS.items():
        rid = randoms[k]
        picked[rid] = {**picked[rid], "Arrest": arrest, "Domestic": domestic}
        edited.append(rid)

    def when(r: dict[str, str]) -> tuple[datetime, str]:
        return datetime.strptime(r["Date"], "%m/%d/%Y %I:%M:%S %p"), r["ID"]

    with TARGET.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        w.writeheader()
        ordered = sorted(picked.values(), key=when)
        w.writerows(ordered)
    print(f"wrote {TARGET} ({len(picked)} rows); Arrest/Domestic respelled in IDs {edited}")


def make_cities() -> None:
    import numpy as np
    import shapely
    from shapely.geometry import mapping, shape

    data = ROOT / "patrol" / "cities" / "data"
    src = json.loads(
        (SHARED / "boundaries" / "chicago_police_districts_dec2012.geojson").read_text()
    )
    geoms = np.array([shape(f["geometry"]) for f in src["features"]])
    ids = [str(f["properties"]["DIST_NUM"]) for f in src["features"]]
    simple = shapely.coverage_simplify(geoms, 0.0003)
    parts: dict[str, list[shapely.Geometry]] = {}
    for i, g in zip(ids, simple, strict=True):
        parts.setdefault(i, []).append(g)

    def rnd(c: object) -> object:
        if isinstance(c, (list, tuple)) and c and isinstance(c[0], float | int):
            return [round(float(c[0]), 6), round(float(c[1]), 6)]
        return [rnd(x) for x in c]  # type: ignore[attr-defined]

    feats = []
    for i in sorted(parts, key=int):
        m = mapping(shapely.union_all(parts[i]) if len(parts[i]) > 1 else parts[i][0])
        geometry = {"type": m["type"], "coordinates": rnd(m["coordinates"])}
        feats.append({"type": "Feature", "properties": {"DIST_NUM": i}, "geometry": geometry})
    out = json.dumps({"type": "FeatureCollection", "features": feats}, separators=(",", ":"))
    (data / "chicago_police_districts.geojson").write_text(out)
    shutil.copyfile(SHARED / "boundaries" / "police-district-stations.csv",
                    data / "chicago_police_stations.csv")  # fmt: skip
    print(f"wrote {data} (districts: {len(out)} bytes)")


if __name__ == "__main__":
    make_rows()
    if "--cities" in sys.argv[1:]:
        make_cities()
