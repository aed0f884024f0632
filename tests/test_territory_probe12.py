"""Probe 12: region files and policies as operators really save them, and territory at the edges.

* A rollout policy saved by Windows PowerShell (``>`` and ``Out-File`` write UTF-16) is named
  as UTF-16 text, not as a stray byte 0xff or as TOML missing an ``=`` after its first letter.
* A region file written in Latin-1 (as shapefiles' attribute tables are) names the byte, its
  line and the rule; a gzip-compressed one says so.
* A phase start that does not exist (2025-02-29, hour 24, a leap second) says what does not;
  a leap-day phase starts at its Stockholm midnight.
* One region name spelt composed and decomposed is one name; codes in each Feature's own
  ``id`` member (RFC 7946) are read; every municipality named as Lantmäteriet's layer spells
  it ("Upplands-Väsby") is told its code, and "Habo" is told Habo alone, not also Håbo.

Oracles: the bytes written here by hand (their encoding is known), shapely and pyproj on the
reference data in ``../shared/data/sweden``, never geotarget's internals.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyproj
import pytest
import shapely.geometry as sg

from geotarget.errors import InvalidPolicy, InvalidRegions, UnknownCode
from geotarget.regions import RegionSet
from geotarget.rollout import RolloutPolicy

_POLICY = (
    'timezone = "Europe/Stockholm"\n'
    "[[kinds.tip_request.phases]]\n"
    "starts_at = 2024-04-15\n"
    'regions = ["01"]  # Stockholms län\n'
)


def _only_problem(err: pytest.ExceptionInfo[InvalidPolicy]) -> str:
    [problem] = err.value.problems
    return problem.message


@pytest.mark.parametrize(
    ("encoding", "name"),
    [
        ("utf-16", "UTF-16"),  # with a byte order mark, as PowerShell 5's Out-File writes
        ("utf-16-le", "UTF-16"),  # without one
        ("utf-16-be", "UTF-16"),
        ("utf-32", "UTF-32"),
        ("utf-32-be", "UTF-32"),
    ],
)
def test_a_policy_saved_as_utf16_or_utf32_is_named_so(
    tmp_path: Path, encoding: str, name: str
) -> None:
    data = _POLICY.encode(encoding)
    path = tmp_path / "policy.toml"
    path.write_bytes(data)
    for source in (data, path):
        with pytest.raises(InvalidPolicy) as err:
            RolloutPolicy.from_toml(source)
        message = _only_problem(err)
        assert f"not UTF-8 but {name} text" in message, message
        assert "policies are UTF-8 text: save it as UTF-8" in message
        assert ("PowerShell" in message) is (name == "UTF-16")
        assert "Expected '='" not in message and "byte 0xff" not in message
    # The same policy in UTF-8, with or without a byte order mark, reads.
    for utf8 in ("utf-8", "utf-8-sig"):
        policy = RolloutPolicy.from_toml(_POLICY.encode(utf8))
        assert policy.rollout("tip_request") is not None


def test_a_policy_in_latin1_still_names_its_byte_and_line() -> None:
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(_POLICY.encode("cp1252"))
    message = _only_problem(err)
    assert "not UTF-8: byte 0xe4 at line 4" in message, message  # "ä" of "län"


def _county_file(name: str) -> bytes:
    feature = {
        "type": "Feature",
        "properties": {"code": "12", "name": name},
        "geometry": sg.mapping(sg.box(13.0, 55.5, 13.2, 55.7)),
    }
    text = json.dumps({"type": "FeatureCollection", "features": [feature]}, ensure_ascii=False)
    return text.replace(', "features"', ',\n"features"').encode("latin-1")


def test_a_latin1_region_file_names_the_byte_its_line_and_the_rule(tmp_path: Path) -> None:
    data = _county_file("Skåne län")
    offset = data.index("å".encode("latin-1"))
    path = tmp_path / "lan.geojson"
    path.write_bytes(data)
    for source in (path, data):
        with pytest.raises(InvalidRegions) as err:
            RegionSet.from_geojson(source, code_property="code", level="county")
        message = str(err.value)
        assert f"not UTF-8: byte 0xe5 at line 2 (offset {offset})" in message, message
        assert "GeoJSON is UTF-8 text" in message
        assert "codec can't decode" not in message
    # The same file in UTF-8 reads, its name intact.
    good = RegionSet.from_geojson(
        data.decode("latin-1").encode("utf-8"),
        code_property="code",
        name_property="name",
        level="county",
    )
    assert good["12"].name == "Skåne län"


def test_a_gzipped_region_file_says_it_is_compressed(tmp_path: Path) -> None:
    data = gzip.compress(_county_file("Skane").decode("latin-1").encode("utf-8"))
    path = tmp_path / "lan.geojson.gz"
    path.write_bytes(data)
    for source in (path, data):
        with pytest.raises(InvalidRegions, match="it is gzip-compressed: decompress it first"):
            RegionSet.from_geojson(source, code_property="code", level="county")
    with pytest.raises(InvalidRegions, match="it is gzip-compressed"):
        RegionSet.from_geoparquet(path, code_property="code", level="county")


# --- a phase date that does not exist: a leap day in a common year, hour 24, a leap second --


def _phase_problem(fmt: str, value: str) -> str:
    if fmt == "toml":
        text = (
            'timezone = "Europe/Stockholm"\n[[kinds.tip_request.phases]]\n'
            f'starts_at = {value}\nregions = ["01"]\n'
        )
        reader = RolloutPolicy.from_toml
    else:
        phase = {"starts_at": value, "regions": ["01"]}
        doc = {"timezone": "Europe/Stockholm", "kinds": {"tip_request": {"phases": [phase]}}}
        text, reader = json.dumps(doc), RolloutPolicy.from_json
    with pytest.raises(InvalidPolicy) as err:
        reader(text)
    return _only_problem(err)


@pytest.mark.parametrize("fmt", ["toml", "json"])
@pytest.mark.parametrize(
    ("value", "said"),
    [
        # 2025 is a common year (not divisible by 4): February has 28 days.
        ("2025-02-29", "2025-02 has 28 days, so there is no day 29, as 2025 is no leap year"),
        ("2025-02-29T00:00:00", "2025-02 has 28 days, so there is no day 29"),
        # 2100 is divisible by 4 but by 100 and not by 400: no leap year either.
        ("2100-02-29T00:00:00", "2100-02 has 28 days, so there is no day 29"),
        ("2028-02-30", "2028-02 has 29 days, so there is no day 30"),
        ("2025-04-31", "2025-04 has 30 days, so there is no day 31"),
        ("2025-13-01", "month 13 does not exist"),
        (
            "2024-12-31T24:00:00",
            "hour 24 does not exist (hours run from 00 to 23): the end of 2024-12-31 is "
            "2025-01-01T00:00:00",
        ),
        ("2025-01-13T00:60:00", "minute 60 does not exist"),
        ("2016-12-31T23:59:60Z", "second 60, a leap second, cannot be written"),
        ("2025-01-13T00:00:00+24:00", "the UTC offset +24:00 does not exist"),
    ],
)
def test_a_phase_start_that_does_not_exist_says_what_does_not(
    fmt: str, value: str, said: str
) -> None:
    message = _phase_problem(fmt, value)
    assert said in message, message
    # Not told to write the date-time another way: its shape is right, its field is not.
    assert "such as 2024-09-02T00:00:00" not in message
    assert "out of range for month" not in message and "must be in" not in message


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_a_leap_day_phase_starts_at_its_midnight_in_stockholm(fmt: str) -> None:
    if fmt == "toml":
        text = (
            'timezone = "Europe/Stockholm"\n[[kinds.tip_request.phases]]\n'
            'starts_at = 2028-02-29\nregions = ["01"]\n'
        )
        policy = RolloutPolicy.from_toml(text)
    else:
        phase = {"starts_at": "2028-02-29", "regions": ["01"]}
        doc = {"timezone": "Europe/Stockholm", "kinds": {"tip_request": {"phases": [phase]}}}
        policy = RolloutPolicy.from_json(json.dumps(doc))
    midnight = dt.datetime(2028, 2, 29, tzinfo=ZoneInfo("Europe/Stockholm"))  # CET, UTC+1
    assert midnight.astimezone(dt.timezone.utc) == dt.datetime(
        2028, 2, 28, 23, 0, tzinfo=dt.timezone.utc
    )
    before = policy.decide("tip_request", midnight - dt.timedelta(microseconds=1))
    at = policy.decide("tip_request", midnight)
    assert not before.enabled and before.next_change == midnight
    assert at.enabled and at.regions == frozenset({"01"})


# --- one name spelt composed and decomposed ----------------------------------------------


def test_one_name_spelt_composed_and_decomposed_is_one_name(tmp_path: Path) -> None:
    composed, decomposed = "Malm\u00f6", "Malmo\u0308"  # "Malmö" both, as NFC and as NFD
    assert composed != decomposed and len(decomposed) == len(composed) + 1
    parts = [sg.box(12.9, 55.5, 13.05, 55.65), sg.box(13.05, 55.5, 13.2, 55.65)]
    features: list[dict[str, Any]] = [
        {"type": "Feature", "properties": {"kod": "1280", "namn": name}, "geometry": sg.mapping(g)}
        for name, g in zip((decomposed, composed), parts, strict=True)
    ]
    fc = {"type": "FeatureCollection", "features": features}
    regions = RegionSet.from_geojson(fc, code_property="kod", name_property="namn", level="m")
    assert regions["1280"].name == composed  # composed, whichever feature came first
    assert regions.locate([12.95, 13.15], [55.6, 55.6]).tolist() == ["1280", "1280"]
    # The same from GeoParquet.
    gpd = pytest.importorskip("geopandas")
    frame = gpd.GeoDataFrame(
        {"kod": ["1280", "1280"], "namn": [decomposed, composed]}, geometry=parts, crs="EPSG:4326"
    )
    frame.to_parquet(tmp_path / "m.parquet")
    read = RegionSet.from_geoparquet(
        tmp_path / "m.parquet", code_property="kod", name_property="namn", level="m"
    )
    assert read["1280"].name == composed
    # Two names that differ in letters are still two names.
    features[1]["properties"]["namn"] = "Malmo"
    with pytest.raises(InvalidRegions, match="code '1280' has two names"):
        RegionSet.from_geojson(fc, code_property="kod", name_property="namn", level="m")


# --- codes in a Feature's own "id" member (RFC 7946 3.2) ----------------------------------


def test_codes_in_the_features_own_id_member_are_read(shared_data: Path) -> None:
    """The index geopandas' ``to_json`` writes as each Feature's id (here the county code)."""
    gpd = pytest.importorskip("geopandas")
    path = shared_data / "sweden" / "lan_lantmateriet_sweref99tm.geojson"
    frame = gpd.read_file(path).set_index("lan_kod")
    text = frame.to_json()
    first = json.loads(text)["features"][0]
    assert "lan_kod" not in first["properties"] and isinstance(first["id"], str)
    counties = RegionSet.from_geojson(text, code_property="id", name_property="namn", level="c")
    assert len(counties) == 21 and counties["01"].name == "Stockholms län"
    # Oracle: shapely on the reference file, far from every boundary.
    fc = json.loads(path.read_text(encoding="utf-8"))
    shapes = {f["properties"]["lan_kod"]: sg.shape(f["geometry"]) for f in fc["features"]}
    to_tm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)
    places = [(18.07, 59.33), (13.0, 55.6), (11.97, 57.71), (18.3, 57.63), (14.55, 58.25)]
    for lon, lat in places:
        point = sg.Point(*to_tm.transform(lon, lat))
        [code] = [c for c, g in shapes.items() if g.covers(point)]
        assert counties.locate([lon], [lat]).tolist() == [code]
    # A property named "id" wins over the Feature's member; without either, the message lists
    # the properties as before.
    doc = json.loads(text)
    doc["features"][0]["properties"]["id"] = "X1"
    assert "X1" in RegionSet.from_geojson(doc, code_property="id", level="c").codes
    del doc["features"][0]["id"], doc["features"][0]["properties"]["id"]
    with pytest.raises(InvalidRegions, match=r"features\[0\] has no property 'id'"):
        RegionSet.from_geojson(doc, code_property="id", level="c")


# --- a municipality named as Lantmäteriet spells it, or with a space for a hyphen -------------


def test_every_lantmateriet_name_is_told_its_code(shared_data: Path) -> None:
    """Lantmäteriet writes "Upplands-Väsby" where SCB (the built-in names) has a space."""
    from geotarget import sweden

    gpd = pytest.importorskip("geopandas")
    layer = gpd.read_file(
        "zip://" + str(shared_data / "sweden" / "lantmateriet_kommuner_ak_riks_sweref99tm.zip")
    )
    names = dict(zip(layer["KOM_KOD"], layer["KOMMUNNAMN"], strict=True))
    assert len(names) == 290
    assert names["0114"] == "Upplands-Väsby"
    hierarchy = sweden.hierarchy()
    for code, name in names.items():
        with pytest.raises(UnknownCode) as err:
            hierarchy.level_of(name)
        assert f"is a region's name, not its code: '{code}'" in str(err.value), str(err.value)
    # A name written with its accents names that region alone: Habo (0643) is not Håbo (0305).
    with pytest.raises(UnknownCode) as habo:
        hierarchy.level_of("Habo")
    assert "'0643' (Habo, municipality)" in str(habo.value) and "0305" not in str(habo.value)
    # A space typed for a hyphen, and a policy naming a region so.
    for typed, code in (("Upplands Bro", "0139"), ("Malung Sälen", "2023"), ("dals ed", "1438")):
        with pytest.raises(UnknownCode, match=f"not its code: '{code}'"):
            hierarchy.level_of(typed)
    text = (
        'timezone = "Europe/Stockholm"\n[[kinds.tip_request.phases]]\n'
        'starts_at = 2024-04-15\nregions = ["Upplands-Väsby"]\n'
    )
    with pytest.raises(InvalidPolicy) as policy_err:
        RolloutPolicy.from_toml(text, hierarchy)
    assert "not its code: '0114' (Upplands Väsby, municipality)" in _only_problem(policy_err)
