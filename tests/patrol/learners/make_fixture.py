"""Derive ``tests/fixtures/learners_district8_2016q1.csv`` from the shared Chicago export.

Run once by hand (needs ``/work/shared/data``); the tests only read the committed CSV::

    python tests/patrol/learners/make_fixture.py [path/to/chicago_20160101_20161231.csv.gz]

District 008, Date in January-March 2016 (local time), rows without coordinates dropped.
``epoch_s`` is the POSIX time of the local America/Chicago ``Date`` (times that do not exist
because of the spring-forward gap are shifted forward); ``slot`` = local ``dow * 24 + hour`` with
Monday = 0, taken from the localised time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

SOURCE = "/work/shared/data/chicago/chicago_20160101_20161231.csv.gz"
TARGET = Path(__file__).resolve().parents[2] / "fixtures" / "learners_district8_2016q1.csv"


def main(source: str = SOURCE) -> None:
    df = pd.read_csv(source, dtype=str, usecols=["ID", "Date", "District", "Latitude", "Longitude"])
    df = df[df["District"].str.lstrip("0") == "8"].dropna(subset=["Latitude", "Longitude"])
    local = pd.to_datetime(df["Date"], format="%m/%d/%Y %I:%M:%S %p")
    df = df[(local >= "2016-01-01") & (local < "2016-04-01")]
    local = local.loc[df.index].dt.tz_localize(
        "America/Chicago", nonexistent="shift_forward", ambiguous=True
    )
    out = pd.DataFrame(
        {
            "id": df["ID"].astype("int64"),
            "lat": df["Latitude"].astype(float).round(9),
            "lon": df["Longitude"].astype(float).round(9),
            "epoch_s": (local.dt.tz_convert("UTC") - pd.Timestamp("1970-01-01", tz="UTC"))
            // pd.Timedelta(seconds=1),
            "slot": local.dt.day_of_week * 24 + local.dt.hour,
        }
    ).sort_values(["epoch_s", "id"])
    out.to_csv(TARGET, index=False)
    print(f"{len(out)} rows -> {TARGET} ({TARGET.stat().st_size} bytes)")


if __name__ == "__main__":
    main(*sys.argv[1:])
