"""Parsing of real Chicago rows, other cities' rows and JSON events into Incidents."""

from __future__ import annotations

import csv
import gzip
import io
import json
import pickle
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patrol.incidents import (
    Incident,
    IncidentError,
    RejectionReport,
    iter_csv,
    load_profile,
    parse_event,
    parse_row,
    read_csv,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CHICAGO_CSV = FIXTURES / "chicago_rows.csv"
CHI = load_profile("chicago")
CDT, CST = timezone(timedelta(hours=-5)), timezone(timedelta(hours=-6))

GOOD = {  # a real row of the 2016 export (ID 10365841)
    "ID": "10365841", "Case Number": "HZ101659", "Date": "01/01/2016 12:00:00 AM",
    "Block": "002XX N DEARBORN ST", "IUCR": "1320", "Primary Type": "CRIMINAL DAMAGE",
    "Description": "TO VEHICLE", "Location Description": "PARKING LOT/GARAGE(NON.RESID.)",
    "Arrest": "false", "Domestic": "false", "Beat": "0111", "District": "001", "Ward": "42",
    "Community Area": "32", "FBI Code": "14", "X Coordinate": "1175901",
    "Y Coordinate": "1901839", "Year": "2016", "Updated On": "02/10/2018 03:50:01 PM",
    "Latitude": "41.886012928", "Longitude": "-87.629505318",
    "Location": "(41.886012928, -87.629505318)",
}  # fmt: skip


def _raw_rows() -> list[dict[str, str]]:
    with CHICAGO_CSV.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def batch() -> Any:
    return read_csv(CHICAGO_CSV, CHI)


# -- one real row, field by field ------------------------------------------------------------
def test_good_row_every_field() -> None:
    inc = parse_row(GOOD, CHI)
    assert inc == Incident(
        id="10365841",
        occurred_at=datetime(2016, 1, 1, 0, 0, tzinfo=CST),
        latitude=41.886012928,
        longitude=-87.629505318,
        case_number="HZ101659",
        updated_at=datetime(2018, 2, 10, 15, 50, 1, tzinfo=CST),
        block="002XX N DEARBORN ST",
        iucr="1320",
        primary_type="CRIMINAL DAMAGE",
        description="TO VEHICLE",
        location_description="PARKING LOT/GARAGE(NON.RESID.)",
        arrest=False,
        domestic=False,
        beat="111",
        district="1",
        ward="42",
        community_area="32",
        fbi_code="14",
        source="chicago",
    )
    assert inc.occurred_at.isoformat() == "2016-01-01T00:00:00-06:00"
    assert inc.timestamp == 1451628000.0  # 2016-01-01T06:00:00Z


@pytest.mark.parametrize(
    ("date", "iso"),
    [
        ("01/01/2016 12:00:00 AM", "2016-01-01T00:00:00-06:00"),  # 12 AM is midnight
        ("01/01/2016 12:30:00 PM", "2016-01-01T12:30:00-06:00"),  # 12 PM is noon
        ("07/04/2016 11:59:59 PM", "2016-07-04T23:59:59-05:00"),
        ("07/04/2016 01:05:09 pm", "2016-07-04T13:05:09-05:00"),
        ("11/06/2016 12:59:59 AM", "2016-11-06T00:59:59-05:00"),
        ("11/06/2016 01:30:00 AM", "2016-11-06T01:30:00-05:00"),  # ambiguous: first (CDT)
        ("11/06/2016 02:00:00 AM", "2016-11-06T02:00:00-06:00"),
        ("03/13/2016 01:59:59 AM", "2016-03-13T01:59:59-06:00"),
        ("03/13/2016 02:00:00 AM", "2016-03-13T03:00:00-05:00"),  # skipped hour: forward
        ("03/13/2016 02:30:00 AM", "2016-03-13T03:30:00-05:00"),
        ("03/13/2016 03:00:00 AM", "2016-03-13T03:00:00-05:00"),
        ("02/29/2016 10:00:00 AM", "2016-02-29T10:00:00-06:00"),
        ("2016-07-04T21:15:00", "2016-07-04T21:15:00-05:00"),  # naive ISO: local time
        ("2016-07-04 21:15:00", "2016-07-04T21:15:00-05:00"),
        ("2016-07-04T21:15:00.000", "2016-07-04T21:15:00-05:00"),  # the portal API's form
        ("2016-07-05T02:15:00Z", "2016-07-04T21:15:00-05:00"),
        ("2016-07-04T21:15:00+02:00", "2016-07-04T14:15:00-05:00"),
        ("2016-11-06T01:30:00", "2016-11-06T01:30:00-05:00"),
        ("2016-11-06T01:30:00-06:00", "2016-11-06T01:30:00-06:00"),  # second 01:30, explicit
        ("2016-03-13T02:30:00", "2016-03-13T03:30:00-05:00"),
    ],
)
def test_times(date: str, iso: str) -> None:
    inc = parse_row({**GOOD, "Date": date, "Updated On": ""}, CHI)
    assert inc.occurred_at.isoformat() == iso
    assert inc.occurred_at == datetime.fromisoformat(iso)


def test_dst_fold_keeps_two_distinct_instants() -> None:
    first = parse_row({**GOOD, "Date": "11/06/2016 01:30:00 AM", "Updated On": ""}, CHI)
    second = parse_row({**GOOD, "Date": "2016-11-06T01:30:00-06:00", "Updated On": ""}, CHI)
    assert second.timestamp - first.timestamp == 3600


@pytest.mark.parametrize(
    ("spelling", "value"),
    [("true", True), ("false", False), ("True", True), ("FALSE", False), ("t", True),
     ("F", False), ("1", True), ("0", False), ("yes", True), ("No", False), (" TRUE ", True),
     ("", None), ("  ", None)],
)  # fmt: skip
def test_boolean_spellings(spelling: str, value: bool | None) -> None:
    inc = parse_row({**GOOD, "Arrest": spelling, "Domestic": spelling}, CHI)
    assert inc.arrest is value and inc.domestic is value


@pytest.mark.parametrize(
    ("beat", "district", "want_beat", "want_district"),
    [("0632", "006", "632", "6"), ("1654", "031", "1654", "31"), ("0111", "001", "111", "1"),
     ("  ", "", None, None), ("2512", "025 ", "2512", "25")],
)  # fmt: skip
def test_codes_lose_leading_zeros(
    beat: str, district: str, want_beat: str | None, want_district: str | None
) -> None:
    inc = parse_row({**GOOD, "Beat": beat, "District": district}, CHI)
    assert (inc.beat, inc.district) == (want_beat, want_district)


def test_strings_are_stripped_and_blank_is_none() -> None:
    inc = parse_row({**GOOD, "ID": " 42 ", "Block": "  001XX W MADISON ST ",
                     "Location Description": "   ", "Ward": ""}, CHI)  # fmt: skip
    assert (inc.id, inc.block, inc.location_description, inc.ward) == (
        "42", "001XX W MADISON ST", None, None,
    )  # fmt: skip


def test_unmapped_and_absent_columns_are_none() -> None:
    row = {k: GOOD[k] for k in ("ID", "Date", "Latitude", "Longitude")}
    inc = parse_row(row, CHI)
    assert inc.district is None and inc.arrest is None and inc.updated_at is None


# -- bad inputs: the error names the field and a coarse reason ------------------------------
BAD_ROWS = [
    ({"ID": ""}, "id", "missing"),
    ({"ID": "   "}, "id", "missing"),
    ({"ID": "x" * 129}, "id", "too long"),
    ({"Date": ""}, "occurred_at", "missing"),
    ({"Date": "02/30/2016 10:00:00 AM"}, "occurred_at", "not a valid date"),
    ({"Date": "13/01/2016 10:00:00 AM"}, "occurred_at", "not a valid date"),
    ({"Date": "01/01/2016 13:00:00 PM"}, "occurred_at", "not a valid date"),
    ({"Date": "01/01/2016 00:10:00 AM"}, "occurred_at", "not a valid date"),
    ({"Date": "01/01/2016 10:61:00 AM"}, "occurred_at", "not a valid date"),
    ({"Date": "2016-02-30T10:00:00"}, "occurred_at", "not a valid date"),
    ({"Date": "yesterday"}, "occurred_at", "unrecognised time format"),
    ({"Date": "01/01/2016 10:00:00 XM"}, "occurred_at", "unrecognised time format"),
    ({"Date": "01/01/1899 10:00:00 AM"}, "occurred_at", "implausible year"),
    ({"Date": "0001-01-01T00:00:00+01:00"}, "occurred_at", "implausible year"),
    ({"Date": "03/01/2018 10:00:00 AM"}, "occurred_at", "after updated_at"),
    ({"Updated On": "02/31/2018 03:50:01 PM"}, "updated_at", "not a valid date"),
    ({"Latitude": ""}, "latitude", "missing"),
    ({"Latitude": "", "Longitude": ""}, "latitude", "missing"),
    ({"Longitude": " "}, "longitude", "missing"),
    ({"Latitude": "north"}, "latitude", "not a number"),
    ({"Latitude": "4_1.88"}, "latitude", "not a number"),
    ({"Latitude": "nan"}, "latitude", "not a number"),
    ({"Longitude": "-inf"}, "longitude", "not a number"),
    ({"Latitude": "95.2"}, "latitude", "out of range"),
    ({"Longitude": "-187.6"}, "longitude", "out of range"),
    ({"Latitude": "36.619446395", "Longitude": "-91.686565684"}, "latitude", "outside bbox"),
    ({"Latitude": "0", "Longitude": "0"}, "latitude", "outside bbox"),
    ({"Longitude": "87.629505318"}, "longitude", "outside bbox"),
    ({"Arrest": "maybe"}, "arrest", "not a boolean"),
    ({"Domestic": "2"}, "domestic", "not a boolean"),
]


@pytest.mark.parametrize(("edit", "field", "category"), BAD_ROWS)
def test_bad_rows_name_field_and_reason(edit: dict[str, str], field: str, category: str) -> None:
    with pytest.raises(IncidentError) as info:
        parse_row({**GOOD, **edit}, CHI)
    err = info.value
    assert (err.field, err.category) == (field, category)
    assert str(err).startswith(f"{field}: ")


def test_outside_bbox_message_shows_value_and_bbox() -> None:
    with pytest.raises(IncidentError) as info:
        parse_row({**GOOD, "Latitude": "36.619446395", "Longitude": "-91.686565684"}, CHI)
    msg = str(info.value)
    assert "36.619446395" in msg and "41.6" in msg and "42.07" in msg and "-87.99" in msg


def test_incident_error_pickles() -> None:
    err = IncidentError("latitude", "95.2 is out of range", "out of range")
    back = pickle.loads(pickle.dumps(err))
    assert (back.field, back.reason, back.category, str(back)) == (
        "latitude", "95.2 is out of range", "out of range", "latitude: 95.2 is out of range",
    )  # fmt: skip


# -- the committed fixture of real rows ------------------------------------------------------
def test_fixture_counts(batch: Any) -> None:
    raw = _raw_rows()
    missing = sum(1 for r in raw if not r["Latitude"])
    outside = sum(1 for r in raw if r["Latitude"] and float(r["Latitude"]) < 41.6)
    assert (len(raw), missing, outside) == (200, 8, 3)
    assert batch.rows == 200
    assert len(batch.incidents) == 200 - missing - outside
    assert batch.rejections.by_reason() == {
        "latitude: missing": missing, "latitude: outside bbox": outside,
    }  # fmt: skip
    assert [i.id for i in batch.incidents] == [
        r["ID"] for r in raw if r["Latitude"] and float(r["Latitude"]) > 41.6
    ]


def test_fixture_values_against_raw(batch: Any) -> None:
    raw = {r["ID"]: r for r in _raw_rows()}
    for inc in batch.incidents:
        r = raw[inc.id]
        assert inc.district == r["District"].lstrip("0")
        assert inc.beat == r["Beat"].lstrip("0")
        assert inc.latitude == float(r["Latitude"]) and inc.longitude == float(r["Longitude"])
        assert inc.arrest is (r["Arrest"].lower() == "true")
        assert inc.domestic is (r["Domestic"].lower() == "true")
        assert inc.primary_type == r["Primary Type"] and inc.block == r["Block"]
        assert inc.updated_at is not None and inc.updated_at >= inc.occurred_at


def test_fixture_times_match_pandas(batch: Any) -> None:
    """pandas localises independently: fold -> DST (first), gap -> forward by the gap (1 h).

    (pandas' ``nonexistent="shift_forward"`` would put 02:30 on 03:00, the end of the gap; we
    shift by the gap's length like PEP 495 ``fold=0`` and java.time: 02:30 -> 03:30.)
    """
    raw = {r["ID"]: r for r in _raw_rows()}
    ids = [i.id for i in batch.incidents]
    naive = pd.to_datetime([raw[i]["Date"] for i in ids], format="%m/%d/%Y %I:%M:%S %p")
    local = naive.tz_localize("America/Chicago", ambiguous=True, nonexistent=pd.Timedelta(hours=1))
    want = [int(t.value // 10**9) for t in local]
    assert [int(i.timestamp) for i in batch.incidents] == want


@pytest.mark.parametrize(
    ("rid", "iso"),
    [
        ("10446629", "2016-03-13T03:30:00-05:00"),  # real row dated 03/13/2016 02:30:00 AM
        ("8515744", "2012-03-11T03:30:00-05:00"),  # real row dated 03/11/2012 02:30:00 AM
        ("10743834", "2016-11-06T01:30:00-05:00"),  # real row dated 11/06/2016 01:30:00 AM
        ("8873548", "2012-11-04T01:30:00-05:00"),  # real row dated 11/04/2012 01:30:00 AM
    ],
)
def test_fixture_dst_rows(batch: Any, rid: str, iso: str) -> None:
    inc = next(i for i in batch.incidents if i.id == rid)
    assert inc.occurred_at.isoformat() == iso


@pytest.mark.parametrize(
    ("rid", "arrest", "domestic"),
    [("10005662", True, False), ("10019443", True, False), ("10020088", False, True),
     ("10021960", False, True)],
)  # fmt: skip
def test_fixture_respelled_booleans(batch: Any, rid: str, arrest: bool, domestic: bool) -> None:
    raw = {r["ID"]: r for r in _raw_rows()}
    assert raw[rid]["Arrest"] not in ("true", "false")  # the edited copies (see make_fixtures)
    inc = next(i for i in batch.incidents if i.id == rid)
    assert (inc.arrest, inc.domestic) == (arrest, domestic)


def test_gzip_reads_the_same(batch: Any, tmp_path: Path) -> None:
    gz = tmp_path / "rows.csv.gz"
    with CHICAGO_CSV.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    again = read_csv(gz, CHI)
    assert again.incidents == batch.incidents
    assert again.rejections.to_dict() == batch.rejections.to_dict()


def test_report_carries_no_row_content(batch: Any) -> None:
    text = json.dumps(batch.rejections.to_dict())
    raw = [r for r in _raw_rows() if not r["Latitude"] or float(r["Latitude"]) < 41.6]
    for r in raw:
        assert r["ID"] in text
        assert r["Block"] not in text and r["Case Number"] not in text
        assert not r["Latitude"] or r["Latitude"] not in text
    for example in batch.rejections.examples:
        assert set(example) == {"row", "id", "reason"}


def test_rejection_report_merge_and_round_trip() -> None:
    a, b = RejectionReport(max_examples=3), RejectionReport(max_examples=3)
    a.add(IncidentError("latitude", "missing"), 1, "x1")
    a.add(IncidentError("latitude", "36.6 is outside ...", "outside bbox"), 2, "x2")
    b.add(IncidentError("latitude", "missing"), 7, "y1")
    b.add(IncidentError("arrest", "not a boolean: 'maybe'", "not a boolean"), 8, None)
    assert a.merge(b) is a
    assert a.total == 4
    assert a.by_reason() == {
        "latitude: missing": 2, "arrest: not a boolean": 1, "latitude: outside bbox": 1,
    }  # fmt: skip
    assert [(e["row"], e["id"]) for e in a.examples] == [(1, "x1"), (2, "x2"), (7, "y1")]
    assert b.total == 2  # the merged-in report is unchanged
    back = RejectionReport.from_dict(json.loads(json.dumps(a.to_dict())), max_examples=3)
    assert back.to_dict() == a.to_dict()


def test_locate_fills_only_missing_districts() -> None:
    text = "ID,Date,Latitude,Longitude,District\n" \
           "1,01/01/2016 12:00:00 AM,41.9484,-87.6553,\n" \
           "2,01/01/2016 12:00:00 AM,41.9484,-87.6553,018\n"  # fmt: skip
    placed = read_csv(io.StringIO(text), CHI)
    assert [i.district for i in placed.incidents] == ["19", "18"]
    unplaced = read_csv(io.StringIO(text), CHI, locate=False)
    assert [i.district for i in unplaced.incidents] == [None, "18"]


def test_broken_rows_never_raise() -> None:
    text = 'ID,Date,Latitude,Longitude\n1,01/01/2016 12:00:00 AM,41.9,-87.6\n2,x\n' \
           '3,01/01/2016 12:00:00 AM,41.9,-87.6,extra\n\n"4,unterminated\n'  # fmt: skip
    report = RejectionReport()
    got = list(iter_csv(io.StringIO(text), CHI, report))
    assert [i.id for i in got] == ["1"]
    assert report.by_reason() == {"row: wrong field count": 3}
    assert [e["row"] for e in report.examples] == [2, 3, 4]


def test_header_without_required_column_raises() -> None:
    with pytest.raises(ValueError, match=r"'Latitude' \(latitude\)"):
        read_csv(io.StringIO("ID,Date,Lat,Longitude\n"), CHI)
    with pytest.raises(ValueError, match="empty"):
        read_csv(io.StringIO(""), CHI)


def test_a_new_city_needs_no_code() -> None:
    city = load_profile("example_grid_city")
    got = read_csv(FIXTURES / "example_grid_city_rows.csv", city)
    assert got.rows == 8
    assert got.rejections.by_reason() == {
        "latitude: missing": 1, "latitude: outside bbox": 1, "occurred_at: not a valid date": 1,
    }  # fmt: skip
    by_id = {i.id: i for i in got.incidents}
    assert sorted(by_id) == ["SPR-0001", "SPR-0002", "SPR-0003", "SPR-0004", "SPR-0008"]
    a = by_id["SPR-0001"]
    assert a.occurred_at.isoformat() == "2016-07-04T21:15:00-05:00"
    assert a.updated_at == datetime(2016, 7, 5, 8, 0, tzinfo=UTC)
    assert (a.arrest, a.domestic, a.beat, a.iucr, a.district) == (False, False, "3", "0820", "g0_0")
    assert a.source == "example-grid-city-open-data"
    assert by_id["SPR-0002"].occurred_at.isoformat() == "2016-11-06T01:30:00-05:00"
    assert (by_id["SPR-0002"].arrest, by_id["SPR-0002"].beat) == (True, "12")
    assert by_id["SPR-0003"].occurred_at.isoformat() == "2016-03-13T03:30:00-05:00"
    assert by_id["SPR-0004"].occurred_at.isoformat() == "2016-01-15T04:00:00-06:00"
    assert (by_id["SPR-0004"].arrest, by_id["SPR-0004"].beat) == (True, None)
    assert (by_id["SPR-0008"].arrest, by_id["SPR-0008"].domestic) == (True, False)
    assert by_id["SPR-0008"].occurred_at.microsecond == 500000
    assert [by_id[k].district for k in sorted(by_id)] == ["g0_0", "g-1_4", "g-4_-3", "g5_-6",
                                                          "g3_2"]  # fmt: skip


# -- JSON events -----------------------------------------------------------------------------
EVENT = {"id": "10365841", "occurred_at": "2016-01-01T00:00:00-06:00",
         "latitude": 41.886012928, "longitude": -87.629505318, "schema_version": 1}  # fmt: skip


def test_event_types() -> None:
    inc = parse_event({**EVENT, "arrest": True, "domestic": "FALSE", "district": 7,
                       "beat": "0632", "ward": 42.0, "latitude": "41.886012928",
                       "updated_at": None, "source": " replay "}, CHI)  # fmt: skip
    assert (inc.arrest, inc.domestic, inc.district, inc.beat, inc.ward, inc.source) == (
        True, False, "7", "632", "42", "replay",
    )  # fmt: skip
    assert inc.latitude == 41.886012928
    assert parse_event({**EVENT, "arrest": 1, "domestic": 0}, CHI).arrest is True
    assert parse_event({**EVENT, "id": 10365841}, CHI).id == "10365841"
    assert parse_event({**EVENT, "latitude": 42}, CHI).latitude == 42.0


@pytest.mark.parametrize(
    ("edit", "field", "category"),
    [
        ({"schema_version": 2}, "schema_version", "unsupported version"),
        ({"schema_version": "2.0"}, "schema_version", "unsupported version"),
        ({"schema_version": True}, "schema_version", "unsupported version"),
        ({"schema_version": "one"}, "schema_version", "unsupported version"),
        ({"id": None}, "id", "missing"),
        ({"id": 1.5}, "id", "wrong type"),
        ({"occurred_at": 1451628000}, "occurred_at", "wrong type"),
        ({"latitude": True}, "latitude", "wrong type"),
        ({"latitude": [41.8]}, "latitude", "wrong type"),
        ({"latitude": 10**400}, "latitude", "out of range"),
        ({"latitude": float("nan")}, "latitude", "not a number"),
        ({"arrest": 2}, "arrest", "wrong type"),
        ({"arrest": "perhaps"}, "arrest", "not a boolean"),
        ({"block": {"street": "x"}}, "block", "wrong type"),
        ({"district": 6.5}, "district", "wrong type"),
        ({"source": 3}, "source", "wrong type"),
    ],
)
def test_bad_events(edit: dict[str, Any], field: str, category: str) -> None:
    with pytest.raises(IncidentError) as info:
        parse_event({**EVENT, **edit}, CHI)
    assert (info.value.field, info.value.category) == (field, category)


def test_event_versions_accepted() -> None:
    for version in (1, "1", "1.3"):
        assert parse_event({**EVENT, "schema_version": version}, CHI).schema_version == 1
    no_version = {k: v for k, v in EVENT.items() if k != "schema_version"}
    assert parse_event(no_version, CHI).id == "10365841"
    with pytest.raises(IncidentError, match="event: expected a JSON object"):
        parse_event([1, 2], CHI)  # type: ignore[arg-type]


def test_fixture_round_trips_through_json(batch: Any) -> None:
    for inc in batch.incidents:
        assert parse_event(json.loads(json.dumps(inc.to_event())), CHI) == inc


# -- properties ------------------------------------------------------------------------------
TOKENS = st.sampled_from([
    "", " ", "0", "1", "true", "FALSE", "nan", "-inf", "1e308", "41.88", "-87.63", "42.07",
    "01/01/2016 12:00:00 AM", "02/30/2016 10:00:00 AM", "03/13/2016 02:30:00 AM",
    "99/99/9999 99:99:99 PM", "12/31/9999 11:59:59 PM", "2016-03-13T02:30:00", "0000-00-00",
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00", "006", "0632", "\x00", "٤١.٨",
])  # fmt: skip
VALUES = st.one_of(st.none(), st.text(max_size=30), TOKENS)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({h: VALUES for h in CHI.columns.values()}))
def test_parse_row_raises_only_incident_error(row: dict[str, str | None]) -> None:
    try:
        inc = parse_row(row, CHI)
    except IncidentError as err:
        assert err.field and err.reason and str(err).startswith(err.field)
    else:
        assert inc.id and CHI.bbox.contains(inc.latitude, inc.longitude)
        assert inc.occurred_at.utcoffset() is not None


@settings(deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.one_of(st.none(), st.text(max_size=20))))
def test_parse_row_arbitrary_dicts(row: dict[str, str | None]) -> None:
    try:
        parse_row(row, CHI)
    except IncidentError as err:
        assert err.field


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | TOKENS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional={f: JSON for f in [*EVENT, *CHI.columns, "source"]}))
def test_parse_event_raises_only_incident_error(obj: dict[str, Any]) -> None:
    try:
        parse_event(obj, CHI)
    except IncidentError as err:
        assert err.field and err.reason


def _stripped(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=max_size).map(str.strip).filter(bool)


_codes = st.none() | st.from_regex(r"[1-9][0-9]{0,3}", fullmatch=True) | st.just("0")
_offsets = st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_times = st.datetimes(datetime(1901, 1, 2), datetime(2180, 12, 31), timezones=_offsets)
INCIDENTS = st.builds(
    Incident,
    id=_stripped(128),
    occurred_at=_times,
    latitude=st.floats(41.60, 42.07),
    longitude=st.floats(-87.99, -87.48),
    case_number=st.none() | _stripped(),
    updated_at=st.none(),
    block=st.none() | _stripped(),
    iucr=st.none() | _stripped(6),
    primary_type=st.none() | _stripped(),
    description=st.none() | _stripped(),
    location_description=st.none() | _stripped(),
    arrest=st.none() | st.booleans(),
    domestic=st.none() | st.booleans(),
    beat=_codes,
    district=_codes,
    ward=_codes,
    community_area=_codes,
    fbi_code=st.none() | _stripped(4),
    source=st.none() | _stripped(),
)


@settings(max_examples=300, deadline=None)
@given(INCIDENTS, st.none() | st.timedeltas(timedelta(0), timedelta(days=3000)))
def test_event_round_trip(inc: Incident, later: timedelta | None) -> None:
    if later is not None:
        upd = inc.occurred_at + later
        inc = Incident(**{**inc.to_event(), "occurred_at": inc.occurred_at, "updated_at": upd})
    assert parse_event(inc.to_event(), CHI) == inc
    assert parse_event(json.loads(json.dumps(inc.to_event())), CHI) == inc


@settings(deadline=None)
@given(
    st.sampled_from([("true", True), ("false", False), ("t", True), ("f", False),
                     ("yes", True), ("no", False), ("1", True), ("0", False)]),
    st.randoms(use_true_random=False),
    st.sampled_from(["", " ", "\t", "  "]),
)  # fmt: skip
def test_boolean_spellings_any_case(pair: tuple[str, bool], rnd: Any, pad: str) -> None:
    word, value = pair
    mixed = "".join(c.upper() if rnd.random() < 0.5 else c for c in word)
    inc = parse_row({**GOOD, "Arrest": pad + mixed + pad}, CHI)
    assert inc.arrest is value


_WHOLE_SECONDS = st.datetimes(datetime(1950, 1, 1), datetime(2150, 12, 31)).map(
    lambda d: d.replace(microsecond=0)
)


@settings(max_examples=200, deadline=None)
@given(_WHOLE_SECONDS)
def test_chicago_format_matches_pandas_oracle(naive: datetime) -> None:
    text = naive.strftime("%m/%d/%Y %I:%M:%S %p")
    inc = parse_row({**GOOD, "Date": text, "Updated On": ""}, CHI)
    oracle = pd.Timestamp(naive).tz_localize(
        "America/Chicago", ambiguous=True, nonexistent=pd.Timedelta(hours=1)
    )
    assert inc.timestamp == oracle.timestamp()
    iso = parse_row({**GOOD, "Date": naive.isoformat(), "Updated On": ""}, CHI)
    assert iso.occurred_at == inc.occurred_at
