"""Probe 13: how operators name the places of a phased rollout, and territory at its edges.

* The designations a Swedish operator copies into a Stockholm-first rollout from the
  reference tables and layers are told the code to write: a county as Lantmäteriet's county
  layer spells it ("Västernorrland län", without the genitive s SCB writes), a police region
  as the police write it ("Polisregion Syd", "Syd"), a county's regional council ("Region
  Skåne"), and SCB's metropolitan areas -- Storgöteborg and Stormalmö are several
  municipalities (Kungsbacka in Halland among them), so all of their codes are told.

Oracles: the reference tables and the shapefile's attribute table in ``../shared/data/sweden``
read here by hand (csv, zipfile, struct), never geotarget's internals.
"""

from __future__ import annotations

import csv
import json
import re
import struct
import zipfile
from pathlib import Path

import pytest
import shapely.geometry as sg

from geotarget import sweden
from geotarget.errors import InvalidPolicy, InvalidRegions, InvalidType, UnknownCode
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import RolloutPolicy


def _rows(shared_data: Path, name: str) -> list[dict[str, str]]:
    with (shared_data / "sweden" / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _dbf_records(data: bytes, encoding: str) -> list[dict[str, str]]:
    """The records of a dBASE III table (a shapefile's attributes), read by hand."""
    count, header, size = struct.unpack("<IHH", data[4:12])
    fields = []
    at = 32
    while data[at] != 0x0D:
        name = data[at : at + 11].split(b"\0", 1)[0].decode("ascii")
        fields.append((name, data[at + 16]))
        at += 32
    out = []
    for i in range(count):
        rec = data[header + i * size : header + (i + 1) * size]
        pos = 1  # the deletion flag
        row = {}
        for name, width in fields:
            row[name] = rec[pos : pos + width].decode(encoding).strip()
            pos += width
        out.append(row)
    return out


def _told(text: str) -> str:
    """The UnknownCode message the built-in hierarchy gives for ``text``."""
    with pytest.raises(UnknownCode) as err:
        sweden.hierarchy().level_of(text)
    return str(err.value)


def _codes_told(message: str) -> set[str]:
    """The codes a message tells to write: those after 'designation of' or 'not its code'."""
    after = re.split(
        r"another designation of|is a region's name, not its code:", message, maxsplit=1
    )
    assert len(after) == 2, message
    return set(re.findall(r"'([0-9A-Z-]+)'", after[1].split(": write", 1)[0]))


def test_lantmateriets_county_names_are_told_their_county(shared_data: Path) -> None:
    """Lantmäteriet's county layer writes "Västernorrland län"; SCB "Västernorrlands län"."""
    with zipfile.ZipFile(shared_data / "sweden" / "lantmateriet_lan_an_riks_sweref99tm.zip") as z:
        [dbf] = [n for n in z.namelist() if n.endswith(".dbf")]
        records = _dbf_records(z.read(dbf), "latin-1")
    names = {(r["LANSNAMN"], r["LAN_KOD"]) for r in records}
    assert ("Västernorrland län", "22") in names  # as SOURCES.md says
    for name, code in sorted(names):
        assert _codes_told(_told(name)) == {code}, name
    # Either spelling of every county of SCB's table, with or without the genitive s.
    for row in _rows(shared_data, "lan.csv"):
        short, code = row["lan_namn_kort"], row["lan_kod"]
        for text in (f"{short} län", f"{short}s län", row["lan_namn"]):
            assert _codes_told(_told(text)) == {code}, text


def test_police_regions_as_the_police_write_them_are_told_their_code(
    shared_data: Path,
) -> None:
    """Police regions written "Polisregion Syd", "Syd": the counties polisregioner.csv lists."""
    h = sweden.hierarchy()
    for row in _rows(shared_data, "polisregioner.csv"):
        counties = set(row["lan_koder"].split(";"))
        short = row["polisregion"].removeprefix("Region ")
        texts = [row["polisregion"], f"Polisregion {short}", f"polisregion {short.lower()}"]
        if short != "Stockholm":  # "Stockholm" is the municipality's name
            texts.append(short)
        for text in texts:
            message = _told(text)
            told = re.findall(r"'(PR-[A-Z]+)'", message)
            assert told, (text, message)
            assert set(h.children(told[0])) == counties, (text, message)
    assert "'0180'" in _told("Stockholm")


@pytest.mark.parametrize(
    ("council", "county"),
    [
        ("Region Skåne", "12"),
        ("Västra Götalandsregionen", "14"),
        ("Region Sörmland", "04"),
        ("Region Jämtland Härjedalen", "23"),
        ("Region Kalmar län", "08"),
        ("Region Gotland", "09"),
        ("Region Norrbotten", "25"),
    ],
)
def test_a_regional_council_is_told_its_county(council: str, county: str) -> None:
    assert _codes_told(_told(council)) == {county}


def test_metropolitan_areas_are_told_all_their_municipalities(shared_data: Path) -> None:
    """Storgöteborg (Kungsbacka in Halland too) and Stormalmö are told every code to write."""
    areas: dict[str, set[str]] = {}
    counties: dict[str, set[str]] = {}
    for row in _rows(shared_data, "storstadsomraden.csv"):
        areas.setdefault(row["omrade"], set()).add(row["kommun_kod"])
        counties.setdefault(row["omrade"], set()).add(row["lan_kod"])
    assert counties["Storstockholm"] == {"01"}  # SCB's definition since 2005: county 01
    assert _codes_told(_told("Storstockholm")) == {"01"}
    assert _codes_told(_told("Stor-Stockholm")) == {"01"}
    for area in ("Storgöteborg", "Stormalmö"):
        for text in (area, "Stor-" + area[4:], area.upper(), area.replace("ö", "o")):
            assert _codes_told(_told(text)) == areas[area], text
    # And in a rollout policy read with the regions, where an operator writes it.
    text = (
        'timezone = "Europe/Stockholm"\n[[kinds.tip_request.phases]]\n'
        'starts_at = 2024-04-15\nregions = ["01", "Storgöteborg"]\n'
    )
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(text, catalog=sweden.hierarchy())
    [problem] = err.value.problems
    assert _codes_told(problem.message) == areas["Storgöteborg"]


def _towns() -> tuple[RegionSet, RegionSet]:
    towns = RegionSet(
        Region(code=c, name=c, level="town", geometry=sg.box(x, 0, x + 1, 1))
        for c, x in (("T1", 0), ("T2", 1), ("T3", 2))
    )
    land = RegionSet([Region(code="L", name="Land", level="land", geometry=sg.box(0, 0, 3, 1))])
    return towns, land


def test_a_designation_of_several_regions_names_them_all_and_is_no_code() -> None:
    towns, land = _towns()
    parents = {"T1": "L", "T2": "L", "T3": "L"}
    h = RegionHierarchy([towns, land], parents, aliases={"Twin Towns": ["T2", "T1"]})
    with pytest.raises(UnknownCode, match=r"2 town regions together, 'T1' \(T1\), 'T2' \(T2\)"):
        h.level_of("twin towns")
    for bad in ([], 7, [7], b"T1", {"T1": 1}):
        with pytest.raises(InvalidType, match=r"aliases must map text to a code"):
            RegionHierarchy([towns, land], parents, aliases={"x": bad})  # type: ignore[dict-item]
    with pytest.raises(UnknownCode, match=r"aliases\['x'\]"):
        RegionHierarchy([towns, land], parents, aliases={"x": ["T1", "T9"]})
    with pytest.raises(InvalidRegions, match=r"never a code"):
        RegionHierarchy([towns, land], parents, aliases={"T3": ["T1", "T2"]})


def test_one_designation_in_two_cases_may_not_name_two_regions() -> None:
    """Designations are compared in any case: "Öst" and "ÖST" are one, naming one region."""
    towns, land = _towns()
    parents = {"T1": "L", "T2": "L", "T3": "L"}
    with pytest.raises(InvalidRegions, match=r"aliases\['Öst'\] and aliases\['ÖST'\] are one"):
        RegionHierarchy([towns, land], parents, aliases={"Öst": "T1", "ÖST": "T2"})
    # Differing in accents only, they are two: each found as spelt, neither without accents.
    h = RegionHierarchy([towns, land], parents, aliases={"Öst": "T1", "Ost": "T2", "Väst": "T3"})
    for text, code in (("öst", "T1"), ("OST", "T2"), ("vast", "T3")):
        with pytest.raises(UnknownCode, match=rf"another designation of '{code}'"):
            h.level_of(text)


def test_a_municipality_as_its_organisation_writes_it_is_told_its_code(
    shared_data: Path,
) -> None:
    """Written "Stockholms stad" or "Nacka kommun"; Habo's and Håbo's each their own."""
    rows = _rows(shared_data, "kommuner_folkmangd_2024.csv")
    assert len(rows) == 290
    for row in rows:
        name, code = row["kommun_namn"], row["kommun_kod"]
        for text in (f"{name} kommun", f"{name}s stad".upper()):
            assert _codes_told(_told(text)) == {code}, text
    assert _codes_told(_told("Habo kommun")) == {"0643"}
    assert _codes_told(_told("Håbo kommun")) == {"0305"}
    assert _codes_told(_told("Goteborgs Stad")) == {"1480"}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Sweden", "SE"),
        ("SWE", "SE"),
    ],
)
def test_the_country_in_english_is_told_its_code(text: str, code: str) -> None:
    assert _codes_told(_told(text)) == {code}


def _doc_shares() -> tuple[float, float]:
    """The shares of devices tested exactly that docs/regions.rst states (item 3 of the grid)."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "regions.rst").read_text("utf-8")
    item = " ".join(text.split("3. Points in a finest cell", 1)[1].split("\n\n", 1)[0].split())
    found = re.search(r"\(([\d.]+) % of Swedish devices for .*?municipalities, ([\d.]+) %", item)
    assert found is not None, item
    return float(found.group(1)) / 100.0, float(found.group(2)) / 100.0


def test_the_share_of_devices_tested_exactly_is_what_the_docs_say(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The built-in regions cover territory, so the coast is no boundary: few exact tests.

    The shares the regions page gives were measured on land outlines, whose coast is a
    boundary (3 % and 1.5 %). Counted here: the points each lookup passes to an exact test,
    over the synthetic population (a model of where Swedes are, not of the index).
    """
    from geotarget import _locate

    tested = [0]
    resolve = _locate.GridIndex._resolve

    def counting(self: _locate.GridIndex, leaf: object, x: object, y: object) -> object:
        tested[0] += len(leaf)  # type: ignore[arg-type]
        return resolve(self, leaf, x, y)  # type: ignore[arg-type]

    monkeypatch.setattr(_locate.GridIndex, "_resolve", counting)
    lon, lat = sweden.synthetic_population(200_000, seed=13)
    shares = []
    for regions in (sweden.municipalities(), sweden.counties()):
        tested[0] = 0
        regions.locate_index(lon, lat)
        shares.append(tested[0] / lon.size)
    for doc, measured in zip(_doc_shares(), shares, strict=True):
        assert abs(measured - doc) <= 0.15 * doc, (doc, measured)


def _counties_fc(shared_data: Path) -> dict[str, object]:
    text = (shared_data / "sweden" / "lan_lantmateriet_sweref99tm.geojson").read_text("utf-8")
    fc: dict[str, object] = json.loads(text)
    assert isinstance(fc["features"], list) and len(fc["features"]) == 21
    return fc


def _page(fc: dict[str, object], n: int, **members: object) -> dict[str, object]:
    features = fc["features"]
    assert isinstance(features, list)
    return {**fc, "features": features[:n], **members}


_NEXT = {"rel": "next", "type": "application/geo+json", "href": "https://example.se/items?offset=5"}


@pytest.mark.parametrize(
    ("members", "said"),
    [
        # OGC API Features (Lantmäteriet's and others' geodata services), WFS 2.0 GeoJSON
        ({"numberMatched": 21, "numberReturned": 5, "links": [_NEXT]}, "5 of the 21 features"),
        ({"numberMatched": "unknown", "links": [_NEXT]}, "rel 'next'"),
        ({"totalFeatures": 21, "numberReturned": 5}, "5 of the 21 features"),  # GeoServer
        ({"properties": {"exceededTransferLimit": True}}, "exceededTransferLimit"),  # ArcGIS
        ({"exceededTransferLimit": True}, "exceededTransferLimit"),
    ],
)
def test_one_page_of_a_paged_answer_is_refused_not_read_as_all_the_regions(
    shared_data: Path, members: dict[str, object], said: str
) -> None:
    """A region service's first page saved as the region file: 5 counties of Sweden's 21.

    It was read as five regions, silently: a device in any other county lay in no region,
    as if abroad (a tip request told it nothing, an Explosion counted it beyond the border).
    Oracle: the page is cut here from Lantmäteriet's 21 counties.
    """
    page = _page(_counties_fc(shared_data), 5, **members)
    with pytest.raises(InvalidRegions, match=re.escape(said)) as err:
        RegionSet.from_geojson(page, code_property="lan_kod", level="county")
    assert "one page" in str(err.value) and "as if abroad" in str(err.value)


def test_every_page_merged_or_one_page_of_all_is_read(shared_data: Path) -> None:
    """A complete answer is read: one page of all 21, or pages merged under page 1's members."""
    fc = _counties_fc(shared_data)
    for members in (
        {"numberMatched": 21, "numberReturned": 21, "links": []},
        {"numberMatched": 21, "numberReturned": 5, "links": [_NEXT]},  # merged pages
        {"totalFeatures": 21},
    ):
        counties = RegionSet.from_geojson(
            _page(fc, 21, **members), code_property="lan_kod", level="county"
        )
        assert len(counties) == 21
        assert counties.locate([18.0686], [59.3293]).tolist() == ["01"]  # Stockholm


def _places(shared_data: Path) -> tuple[list[float], list[float], list[str]]:
    """The reference places far from a county border: lon, lat and their county (lan_kod)."""
    rows = [
        r
        for r in _rows(shared_data, "places_wgs84.csv")
        if not r["id"].startswith("border_") and float(r["dist_to_own_kommun_boundary_m"]) > 100
    ]
    assert len(rows) >= 8
    return (
        [float(r["lon"]) for r in rows],
        [float(r["lat"]) for r in rows],
        [r["lan_kod"] for r in rows],
    )


@pytest.mark.parametrize(
    ("member", "given"),
    [
        # WFS 1.0's and GML 2's srsName, which servers also write into GeoJSON
        (
            {
                "type": "name",
                "properties": {"name": "http://www.opengis.net/gml/srs/epsg.xml#3006"},
            },
            None,
        ),
        # the GeoJSON drafts' form, still written by OpenLayers 2
        ({"type": "EPSG", "properties": {"code": 3006}}, None),
        ({"type": "EPSG", "properties": {"code": "3006"}}, None),
        # a linked CRS is not fetched: named by crs=..., it is read
        (
            {"type": "link", "properties": {"href": "https://epsg.io/3006.proj4", "type": "proj4"}},
            "EPSG:3006",
        ),
        (None, "http://www.opengis.net/gml/srs/epsg.xml#3006"),
    ],
)
def test_swedish_counties_with_their_crs_spelt_as_servers_write_it_are_read(
    shared_data: Path, member: dict[str, object] | None, given: str | None
) -> None:
    """Lantmäteriet's counties in SWEREF 99 TM, their CRS in forms that were refused.

    Oracle: the reference places and the county SOURCES.md looked up for each.
    """
    fc = _counties_fc(shared_data)
    fc.pop("crs")
    if member is not None:
        fc["crs"] = member
    counties = RegionSet.from_geojson(fc, code_property="lan_kod", level="county", crs=given)
    lon, lat, county = _places(shared_data)
    assert counties.locate(lon, lat).tolist() == county


def test_a_linked_crs_alone_asks_for_crs(shared_data: Path) -> None:
    fc = _counties_fc(shared_data)
    fc["crs"] = {"type": "link", "properties": {"href": "https://epsg.io/3006.proj4"}}
    with pytest.raises(InvalidRegions, match=r"linked CRS .* not fetch: pass crs="):
        RegionSet.from_geojson(fc, code_property="lan_kod", level="county")
    gml = {"type": "name", "properties": {"name": "http://www.opengis.net/gml/srs/epsg.xml#4326"}}
    fc["crs"] = gml  # named lon/lat, for projected coordinates: refused as such
    with pytest.raises(InvalidRegions, match=r"outside the lon/lat range"):
        RegionSet.from_geojson(fc, code_property="lan_kod", level="county")


def test_spherical_edges_in_geoparquet_are_refused_saying_why_and_what_to_do(
    tmp_path: Path,
) -> None:
    """GeoParquet may declare spherical edges (great circles), as BigQuery exports write.

    A great circle from lon 20 to 22 at lat 65 runs north of the straight lon/lat edge: its
    middle lies more than 150 m away (pyproj's Geod, the oracle), so such a file is refused,
    and the refusal says why and what to do, not only "must have planar edges".
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyproj

    mid = pyproj.Geod(ellps="WGS84").npts(20.0, 65.0, 22.0, 65.0, 1)[0]
    _, _, apart = pyproj.Geod(ellps="WGS84").inv(21.0, 65.0, mid[0], mid[1])
    assert apart > 150.0
    square = sg.box(20.0, 64.0, 22.0, 65.0)
    meta = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {"encoding": "WKB", "geometry_types": ["Polygon"], "edges": "spherical"}
        },
    }
    table = pa.table({"code": ["X"], "geometry": [square.wkb]})
    table = table.replace_schema_metadata({b"geo": json.dumps(meta).encode()})
    pq.write_table(table, tmp_path / "bq.parquet")
    with pytest.raises(
        InvalidRegions, match=r"planar edges \(got 'spherical'\): its edges follow great circles"
    ):
        RegionSet.from_geoparquet(tmp_path / "bq.parquet", code_property="code", level="area")


def test_a_code_written_after_its_countrys_or_countys_code_is_told_that_code(
    shared_data: Path,
) -> None:
    """Written "SE-0180", "SE01", "01-0180": the region after the prefix is meant.

    They were told "valid codes include '01', '0114', ...; it is not 'SE'". A code after one it
    does not lie in ("14-0180": Stockholm is not in Västra Götaland) or two codes in one text
    are told no such code. Oracle: SCB's municipality table.
    """
    county = {
        r["kommun_kod"]: r["lan_kod"] for r in _rows(shared_data, "kommuner_folkmangd_2024.csv")
    }
    for muni in ("0180", "2583", "0980", "1280"):
        for text in (f"SE-{muni}", f"SE{muni}", f"SE_{muni}", f"{county[muni]}-{muni}"):
            message = _told(text)
            assert f"did you mean '{muni}'" in message, message
        other = "14" if county[muni] != "14" else "01"
        assert "did you mean" not in _told(f"{other}-{muni}")
    assert "did you mean '01'" in _told("SE-01")
    assert "did you mean" not in _told("0180 0181")
