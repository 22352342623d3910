"""City profiles: the bundled ones, custom files, and clear errors naming the bad key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from patrol.geo import LocalProjection
from patrol.incidents import BBox, CityProfile, ProfileError, load_profile, profile_from_dict
from patrol.incidents.profile import CITIES_DIR

CHICAGO_STATIONS = {  # DISTRICT -> (LATITUDE, LONGITUDE) as printed in the stations CSV
    "1": (41.85837259, -87.62735617),
    "7": (41.77963154, -87.66088702),
    "12": (41.86297662, -87.65697251),  # the row whose DISTRICT NAME spans two lines
    "25": (41.91860889, -87.76557448),
}

GOOD_TOML = """
name = "testville"
timezone = "Europe/Berlin"
time_formats = ["%d.%m.%Y %H:%M"]
fallback_grid_m = 250

[columns]
id = "Nr"
occurred_at = "Zeit"
latitude = "Breite"
longitude = "Laenge"

[bbox]
min_lat = 52.3
max_lat = 52.7
min_lon = 13.0
max_lon = 13.8
"""


def test_bundled_chicago_profile() -> None:
    p = load_profile("chicago")
    assert isinstance(p, CityProfile)
    assert p.name == "chicago"
    assert p.timezone == "America/Chicago"
    assert p.time_formats == ("%m/%d/%Y %I:%M:%S %p",)
    assert p.columns["occurred_at"] == "Date"
    assert p.columns["updated_at"] == "Updated On"
    assert p.columns["community_area"] == "Community Area"
    assert len(p.columns) == 18
    assert p.bbox == BBox(41.60, 42.07, -87.99, -87.48)
    assert p.projection == LocalProjection(41.84, -87.69)
    assert p.fallback_grid_m == 0.0
    assert p.source_name == "chicago"
    assert p.districts is not None and p.districts.id_property == "DIST_NUM"
    assert p.districts.geojson.is_file()
    assert p.districts.geojson.stat().st_size < 250_000


def test_chicago_stations_exclude_headquarters_and_normalise_ids() -> None:
    stations = load_profile("chicago").stations()
    assert "Headquarters" not in stations
    expected_ids = {str(d) for d in [*range(1, 13), *range(14, 21), 22, 24, 25]}
    assert set(stations) == expected_ids
    for district, latlon in CHICAGO_STATIONS.items():
        assert stations[district] == latlon


def test_example_grid_city_profile() -> None:
    p = load_profile("example_grid_city")
    assert p.districts is None and p.station_source is None
    assert p.stations() == {}
    assert p.fallback_grid_m == 500.0
    assert p.time_formats == ()
    assert p.columns["latitude"] == "lat" and p.columns["id"] == "incident_id"
    assert p.projection == LocalProjection(39.78, -89.65)  # the bbox centre
    assert p.source_name == "example-grid-city-open-data"


def test_load_by_path_str_and_path(tmp_path: Path) -> None:
    f = tmp_path / "testville.toml"
    f.write_text(GOOD_TOML)
    for arg in (f, str(f)):
        p = load_profile(arg)
        assert p.name == "testville"
        assert p.zone.key == "Europe/Berlin"
        assert p.path == f
    assert load_profile(CITIES_DIR / "chicago.toml") == load_profile("chicago")


def test_profile_is_frozen_and_hashable() -> None:
    p = load_profile("chicago")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "x"  # type: ignore[misc]
    assert hash(p) == hash(load_profile("chicago"))
    assert {p: 1}[load_profile("chicago")] == 1


def test_unknown_bundled_name_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"atlantis.*chicago.*example_grid_city"):
        load_profile("atlantis")


def test_relative_paths_resolve_next_to_the_profile(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    (tmp_path / "data" / "s.csv").write_text("D,LAT,LON\n007,52.5,13.4\nHQ,52.4,13.3\n")
    extra = (
        '\n[districts]\ngeojson = "data/d.geojson"\nid_property = "id"\n'
        '\n[stations]\ncsv = "data/s.csv"\ndistrict = "D"\nlatitude = "LAT"\n'
        'longitude = "LON"\nexclude = ["HQ"]\n'
        "\n[projection]\nlat0 = 52.52\nlon0 = 13.40\n"
    )
    f = tmp_path / "t.toml"
    f.write_text(GOOD_TOML + extra)
    p = load_profile(f)
    assert p.districts is not None
    assert p.districts.geojson == (tmp_path / "data" / "d.geojson").resolve()
    assert p.stations() == {"7": (52.5, 13.4)}
    assert p.projection == LocalProjection(52.52, 13.40)


BAD = [
    # (edit of GOOD_TOML: old -> new, expected key named in the message)
    ('name = "testville"\n', "", "name: missing"),
    ('"Europe/Berlin"', '"Mars/Olympus"', "timezone: unknown IANA time zone"),
    ('latitude = "Breite"\n', "", "columns.latitude: missing"),
    ('latitude = "Breite"', 'lattitude = "Breite"', "columns.lattitude: unknown key"),
    ('id = "Nr"', 'id = ""', "columns.id: expected a column name"),
    ("min_lat = 52.3", 'min_lat = "52.3"', "bbox.min_lat: expected a number"),
    ("min_lat = 52.3", "min_lat = 53.0", "bbox.min_lat: need"),
    ("min_lon = 13.0", "min_lon = 200.0", "bbox.min_lon: need"),
    ("max_lon = 13.8\n", "", "bbox.max_lon: missing"),
    ("fallback_grid_m = 250", "fallback_grid_m = -5", "fallback_grid_m: expected a size"),
    ("fallback_grid_m = 250", 'fallback_grid_m = "big"', "fallback_grid_m: wrong type"),
    ('["%d.%m.%Y %H:%M"]', '["dd.mm.yyyy"]', "time_formats[0]: expected a strptime format"),
    ('name = "testville"', 'name = "testville"\ncolour = "red"', "colour: unknown key"),
    ("[bbox]", "[box]", "box: unknown key"),
    ('name = "testville"', 'name = "testville', "not valid TOML"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD, ids=[b[2] for b in BAD])
def test_bad_profiles_name_the_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD_TOML
    f = tmp_path / "bad.toml"
    f.write_text(GOOD_TOML.replace(old, new, 1))
    with pytest.raises(ProfileError) as info:
        load_profile(f)
    assert message in str(info.value)
    assert str(f) in str(info.value)


STATIONS = '[stations]\ncsv = "t.toml"\ndistrict = "D"\nlatitude = "Y"\nlongitude = "X"\n'


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[districts]\ngeojson = "missing.geojson"\nid_property = "x"', "districts.geojson: file"),
        ('[districts]\ngeojson = "t.toml"', "districts.id_property: missing"),
        (STATIONS.replace('longitude = "X"\n', ""), "stations.longitude: missing"),
        (STATIONS + 'exclude = "HQ"\n', "stations.exclude: wrong type"),
        ('[projection]\nlat0 = 52.5', "projection.lon0: missing"),
    ],
)  # fmt: skip
def test_bad_optional_tables_name_the_key(tmp_path: Path, table: str, message: str) -> None:
    f = tmp_path / "t.toml"
    f.write_text(GOOD_TOML + "\n" + table + "\n")
    with pytest.raises(ProfileError, match=message.replace("[", r"\[")):
        load_profile(f)


def test_missing_file() -> None:
    with pytest.raises(ProfileError, match="not found"):
        load_profile("/nonexistent/city.toml")


def test_profile_from_dict_without_file() -> None:
    p = profile_from_dict(
        {
            "name": "x",
            "timezone": "UTC",
            "columns": {"id": "i", "occurred_at": "t", "latitude": "y", "longitude": "x"},
            "bbox": {"min_lat": -1, "max_lat": 1, "min_lon": 10, "max_lon": 12},
        }
    )
    assert p.projection == LocalProjection(0.0, 11.0)
    assert p.path is None and p.districts is None and p.fallback_grid_m == 0.0
    with pytest.raises(ProfileError, match=r"<profile>: columns: missing"):
        profile_from_dict({"name": "x", "timezone": "UTC"})


def test_bad_station_row_is_reported(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("D,LAT,LON\n1,north,13.4\n")
    f = tmp_path / "t.toml"
    stations = '[stations]\ncsv = "s.csv"\ndistrict = "D"\nlatitude = "LAT"\nlongitude = "LON"\n'
    f.write_text(GOOD_TOML + "\n" + stations)
    with pytest.raises(ProfileError, match=r"line 2: station '1'"):
        load_profile(f).stations()
