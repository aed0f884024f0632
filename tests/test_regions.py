"""Regions: exact point → region lookup against a brute-force oracle, loaders, errors, hierarchy."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import region_partitions

import geotarget.regions as regions_module
from geotarget import (
    Area,
    GeotargetError,
    InvalidCoordinates,
    InvalidRegions,
    InvalidType,
    MissingExtra,
    Region,
    RegionHierarchy,
    RegionSet,
    UnknownCode,
    _locate,
    _regions_io,
)
from geotarget.areas import _estimated_bytes

# --- helpers ------------------------------------------------------------------------------


def brute_locate(regions: dict[str, Any], lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The oracle: test every region with shapely covers; the lowest covering code wins."""
    out = np.full(lon.shape, "", dtype=object)
    for code in sorted(regions, reverse=True):
        out[shapely.intersects_xy(regions[code], lon, lat)] = code
    return out.astype(str)


def tree_oracle(rs: RegionSet, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The oracle for big sets: bbox candidates, exact covers, the lowest code wins.

    Each region's candidates are tested by a prepared private copy of its geometry (the
    tree's own predicate query prepares the points instead, walking every edge per point).
    """
    geoms = shapely.from_wkb(shapely.to_wkb(np.array([r.geometry for r in rs], dtype=object)))
    pi, gi = shapely.STRtree(geoms).query(shapely.points(lon, lat))
    order = np.argsort(gi, kind="stable")
    pi, gi = pi[order], gi[order]
    hit = np.zeros(pi.size, dtype=bool)
    starts = np.flatnonzero(np.r_[True, gi[1:] != gi[:-1]][: gi.size])
    for a, b in zip(starts, np.append(starts[1:], gi.size)[: starts.size], strict=True):
        shapely.prepare(geoms[gi[a]])
        hit[a:b] = shapely.intersects_xy(geoms[gi[a]], lon[pi[a:b]], lat[pi[a:b]])
    pi, gi = pi[hit], gi[hit]
    best = np.full(lon.size, len(rs))
    np.minimum.at(best, pi, gi)
    return np.append(np.array(rs.codes), "")[np.where(best < len(rs), best, -1)]


def make_set(regions: dict[str, Any], level: str = "district", **kw: Any) -> RegionSet:
    return RegionSet(
        [Region(code=c, name=f"Region {c}", level=level, geometry=g) for c, g in regions.items()],
        **kw,
    )


def feature(code: Any, geometry: Any, **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"code": code, **props},
        "geometry": geometry if isinstance(geometry, dict) else sg.mapping(geometry),
    }


def collection(*features: dict[str, Any], crs: str | None = None) -> dict[str, Any]:
    fc: dict[str, Any] = {"type": "FeatureCollection", "features": list(features)}
    if crs is not None:
        fc["crs"] = {"type": "name", "properties": {"name": crs}}
    return fc


def border_points(lon: np.ndarray, lat: np.ndarray, rng: np.random.Generator) -> Any:
    """Grid vertices, edge midpoints and random points on the grid edges."""
    xs = [lon.ravel(), (lon[:, 1:] + lon[:, :-1]).ravel() / 2, (lon[1:] + lon[:-1]).ravel() / 2]
    ys = [lat.ravel(), (lat[:, 1:] + lat[:, :-1]).ravel() / 2, (lat[1:] + lat[:-1]).ravel() / 2]
    t = rng.uniform(0.0, 1.0, lon[:, 1:].shape)
    xs.append((lon[:, :-1] + t * (lon[:, 1:] - lon[:, :-1])).ravel())
    ys.append((lat[:, :-1] + t * (lat[:, 1:] - lat[:, :-1])).ravel())
    return np.concatenate(xs), np.concatenate(ys)


# Four unit squares meeting at (1, 1): codes chosen so the lowest is not the first drawn.
QUAD = {
    "B": sg.box(0, 0, 1, 1),
    "A": sg.box(1, 0, 2, 1),
    "D": sg.box(0, 1, 1, 2),
    "C": sg.box(1, 1, 2, 2),
}


# --- the oracle ---------------------------------------------------------------------------


@settings(max_examples=1000)
@given(part=region_partitions(), seed=st.integers(0, 2**32 - 1))
def test_locate_equals_brute_force_for_random_and_border_points(
    part: tuple[dict[str, Any], np.ndarray, np.ndarray], seed: int
) -> None:
    """Locate equals covers over all regions plus lowest-code-wins, on borders and vertices too."""
    regions, nodes_lon, nodes_lat = part
    rs = make_set(regions)
    rng = np.random.default_rng(seed)
    west, south, east, north = rs.bounds
    pad = max(east - west, north - south) * 0.1
    lon = np.concatenate([rng.uniform(west - pad, east + pad, 500), nodes_lon.ravel()])
    lat = np.concatenate([rng.uniform(south - pad, north + pad, 500), nodes_lat.ravel()])
    blon, blat = border_points(nodes_lon, nodes_lat, rng)
    lon = np.clip(np.concatenate([lon, blon]), -180, 180)
    lat = np.clip(np.concatenate([lat, blat]), -90, 90)
    np.testing.assert_array_equal(rs.locate(lon, lat), brute_locate(regions, lon, lat))


@settings(max_examples=300)
@given(part=region_partitions(), seed=st.integers(0, 2**32 - 1))
def test_locate_with_overlaps_holes_and_islands_equals_brute_force(
    part: tuple[dict[str, Any], np.ndarray, np.ndarray], seed: int
) -> None:
    """An overlapping region and an island in a hole still give lowest-code-wins answers."""
    regions, nodes_lon, nodes_lat = part
    rng = np.random.default_rng(seed)
    west, south, east, north = shapely.total_bounds(list(regions.values()))
    w, h = east - west, north - south
    # "00" overlaps the middle of everything; "999" has a hole holding the island "5".
    box = sg.box(west + w * 0.3, south + h * 0.3, west + w * 0.6, north - h * 0.2)
    outer = sg.box(west + w * 0.1, south + h * 0.1, west + w * 0.5, south + h * 0.5)
    hole = sg.box(west + w * 0.2, south + h * 0.2, west + w * 0.4, south + h * 0.4)
    extra = {
        **regions,
        "00": box,
        "999": sg.Polygon(outer.exterior.coords, [hole.exterior.coords]),
        "5": hole,
    }
    rs = make_set(extra, overlap_tolerance=1.0)
    lon = rng.uniform(west - w * 0.1, east + w * 0.1, 2000)
    lat = rng.uniform(south - h * 0.1, north + h * 0.1, 2000)
    blon, blat = border_points(nodes_lon, nodes_lat, rng)
    corners = shapely.get_coordinates(list(extra.values()))
    lon = np.clip(np.concatenate([lon, blon, corners[:, 0]]), -180, 180)
    lat = np.clip(np.concatenate([lat, blat, corners[:, 1]]), -90, 90)
    np.testing.assert_array_equal(rs.locate(lon, lat), brute_locate(extra, lon, lat))


@settings(max_examples=200)
@given(part=region_partitions(), pick=st.integers(1, 2**8 - 1), seed=st.integers(0, 2**32 - 1))
def test_union_covers_exactly_the_points_of_its_regions(
    part: tuple[dict[str, Any], np.ndarray, np.ndarray], pick: int, seed: int
) -> None:
    """union(codes).contains equals "some named region covers the point", borders included."""
    regions, nodes_lon, nodes_lat = part
    rs = make_set(regions)
    codes = [c for i, c in enumerate(rs.codes) if pick >> (i % 8) & 1] or [rs.codes[0]]
    rng = np.random.default_rng(seed)
    west, south, east, north = rs.bounds
    blon, blat = border_points(nodes_lon, nodes_lat, rng)
    lon = np.concatenate([rng.uniform(west, east, 500), blon])
    lat = np.concatenate([rng.uniform(south, north, 500), blat])
    expected = np.zeros(lon.shape, dtype=bool)
    for code in codes:
        expected |= shapely.intersects_xy(regions[code], lon, lat)
    np.testing.assert_array_equal(rs.union(codes).contains(lon, lat), expected)


@pytest.mark.parametrize(
    ("limit", "value"), [("_MAX_TABLE", 300), ("_MAX_MARKS", 2_000), ("_MAX_TABLE", 20_000)]
)
def test_locate_stays_exact_when_the_index_is_capped(
    monkeypatch: pytest.MonkeyPatch, limit: str, value: int
) -> None:
    """Capping the index size (coarser cells, fewer levels) changes speed, never answers."""
    monkeypatch.setattr(_locate, limit, value)
    rng = np.random.default_rng(7)
    regions = {
        f"{i:02d}{j:02d}": sg.box(i, j, i + 1, j + 1).buffer(0.3 * rng.uniform(), quad_segs=2)
        for i in range(8)
        for j in range(8)
    }
    rs = make_set(regions, overlap_tolerance=1.0)
    lon = rng.uniform(-1, 10, 20_000)
    lat = rng.uniform(-1, 10, 20_000)
    np.testing.assert_array_equal(rs.locate(lon, lat), brute_locate(regions, lon, lat))


def test_locate_handles_tiny_regions_far_from_the_origin() -> None:
    """A region a centimetre wide at lon 179.9 still gets exact answers (cells stay >= 0.1 m)."""
    tiny = {"T": sg.box(179.9, -60.0, 179.9 + 1e-7, -60.0 + 1e-7)}
    rs = make_set(tiny)
    lon = np.array([179.9, 179.9 + 5e-8, 179.9 + 1e-7, 179.9 + 2e-7, -180.0])
    lat = np.array([-60.0, -60.0 + 5e-8, -60.0 + 1e-7, -60.0, -60.0])
    assert rs.locate(lon, lat).tolist() == ["T", "T", "T", "", ""]


# --- the tie rule and lookups ---------------------------------------------------------------


def test_shared_border_and_corner_go_to_the_lowest_code() -> None:
    """Edges and the corner shared by four squares belong to the lowest code covering them."""
    rs = make_set(QUAD)
    lon = [1.0, 0.5, 1.5, 1.0, 1.0, 0.5]
    lat = [1.0, 1.0, 1.0, 0.5, 1.5, 0.5]
    assert rs.locate(lon, lat).tolist() == ["A", "B", "A", "A", "C", "B"]
    assert rs.contains("B", 1.0, 1.0) and rs.contains("D", 1.0, 1.0)


def test_points_outside_every_region_get_empty_string_and_index_minus_one() -> None:
    """Points in no region are "" in locate and -1 in locate_index, even far away."""
    rs = make_set(QUAD)
    lon = [-0.1, 2.0000001, 180.0, -180.0, 1.0]
    lat = [0.5, 1.0, 90.0, -90.0, 1.0]
    assert rs.locate(lon, lat).tolist() == ["", "", "", "", "A"]
    assert rs.locate_index(lon, lat).tolist() == [-1, -1, -1, -1, 0]


def test_locate_keeps_the_input_shape_and_index_matches_codes() -> None:
    """A 2-D input gives a 2-D answer; a scalar gives a 0-d array; indexes point into codes."""
    rs = make_set(QUAD)
    lon = np.array([[0.5, 1.5], [0.5, 1.5]])
    lat = np.array([[0.5, 0.5], [1.5, 1.5]])
    assert rs.locate(lon, lat).tolist() == [["B", "A"], ["D", "C"]]
    assert rs.locate(0.5, 0.5).shape == ()
    assert rs.locate([], []).shape == (0,)
    idx = rs.locate_index(lon, lat)
    assert idx.dtype == np.int32
    assert [rs.codes[i] for i in idx.ravel()] == ["B", "A", "D", "C"]


def test_locate_rejects_bad_coordinates() -> None:
    """NaN, out-of-range and mismatched inputs raise InvalidCoordinates, not a wrong answer."""
    rs = make_set(QUAD)
    with pytest.raises(InvalidCoordinates, match="lon must be finite"):
        rs.locate([np.nan], [0.0])
    with pytest.raises(InvalidCoordinates, match=r"lat must be within \[-90, 90\]"):
        rs.locate([0.0], [91.0])
    with pytest.raises(InvalidCoordinates, match="same shape"):
        rs.locate([0.0, 1.0], [0.0])


def test_set_behaves_as_an_ordered_mapping_of_codes() -> None:
    """Regions iterate in code order; len, in, [] and codes agree."""
    rs = make_set(QUAD)
    assert rs.codes == ("A", "B", "C", "D")
    assert [r.code for r in rs] == list(rs.codes)
    assert len(rs) == 4 and "C" in rs and "E" not in rs
    assert rs["C"].name == "Region C" and rs.level == "district"
    assert rs.bounds == (0.0, 0.0, 2.0, 2.0)
    assert "4 regions" in repr(rs)


def test_unknown_code_lists_close_matches() -> None:
    """An unknown code raises UnknownCode (a KeyError) naming close matches."""
    rs = make_set({"0114": sg.box(0, 0, 1, 1), "0115": sg.box(1, 0, 2, 1)})
    with pytest.raises(UnknownCode, match=r"'0116'.*close matches: '0114', '0115'") as err:
        rs["0116"]
    assert isinstance(err.value, KeyError)
    with pytest.raises(UnknownCode, match="valid codes include '0114', '0115'"):
        rs.contains("XYZ", 0.5, 0.5)
    with pytest.raises(UnknownCode):
        rs.union(["0114", "9999"])
    # A code with spaces around it is not a matter of case.
    with pytest.raises(UnknownCode, match="codes have no surrounding spaces: did you mean '0114'"):
        rs["0114  "]


def test_union_is_an_area_of_the_named_regions() -> None:
    """union(codes) covers exactly the named regions, borders included, and is cached."""
    rs = make_set(QUAD)
    area = rs.union(["A", "C"])
    assert isinstance(area, Area)
    lon = np.array([1.5, 1.5, 0.5, 1.0, 1.0, 2.0, 0.99])
    lat = np.array([0.5, 1.5, 0.5, 1.0, 2.0, 0.0, 0.5])
    assert area.contains(lon, lat).tolist() == [True, True, False, True, True, True, False]
    assert rs.union(["C", "A"]) is area
    assert rs.union("B").contains(0.5, 0.5)
    assert len(rs.union(["A", "D"]).parts) == 2
    with pytest.raises(InvalidRegions, match="at least one region"):
        rs.union([])
    with pytest.raises(InvalidType, match=r"codes\[0\] must be a region code string"):
        rs.union([1])  # type: ignore[list-item]


def test_union_cache_shared_by_threads_evicts_each_entry_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A thread evicting the oldest union while another evicts it too finds it gone.

    The unions' cache is one dict per set, shared by the threads calling :meth:`union`. Thread
    A, evicting, picks the oldest entry; if thread B evicts that same entry before A pops it,
    A's pop raised ``KeyError`` from inside ``union`` (and sums over the dict while it changes
    could raise ``RuntimeError``). The interleaving is forced here: when A has picked the oldest
    entry, B makes a union of its own -- running to the end without the cache's lock (the
    defect), or waiting for it (the fix: A finishes first).
    """
    import threading

    rs = make_set(QUAD)
    monkeypatch.setattr(regions_module, "UNION_CACHE_BYTES", 1)  # every union evicts the last
    size = {c: _estimated_bytes(rs.union(c)) for c in "ABCD"}
    monkeypatch.setattr(regions_module, "UNION_CACHE_BYTES", size["A"] + size["C"] // 2)
    rs._lazy["unions"].clear()
    rs.union("A")  # cached; the next union makes the cache evict it
    waited = threading.Event()
    errors: list[BaseException] = []

    class Racing(dict):  # type: ignore[type-arg]
        started = False

        def pop(self, key: Any, *default: Any) -> Any:
            if not default and not Racing.started:  # A has picked the oldest: B runs now
                Racing.started = True
                b.start()
                waited.wait(60)
            return super().pop(key, *default)

    def other() -> None:
        try:
            rs.union("C")
        except BaseException as err:  # reported below
            errors.append(err)
        waited.set()

    b = threading.Thread(target=other)
    if hasattr(regions_module, "_UNIONS"):

        class Watched:  # the cache's lock, telling when B waits for it
            def __init__(self, lock: Any) -> None:
                self.lock = lock

            def __enter__(self) -> None:
                if not self.lock.acquire(blocking=False):
                    waited.set()
                    self.lock.acquire()

            def __exit__(self, *exc: object) -> None:
                self.lock.release()

        monkeypatch.setattr(regions_module, "_UNIONS", Watched(regions_module._UNIONS))
    rs._lazy["unions"] = Racing(rs._lazy["unions"])
    area = rs.union("B")  # A
    b.join()
    assert not errors
    assert area.contains(0.5, 0.5)
    assert rs.union("C").contains(1.5, 1.5)


def test_region_to_area_and_bounds() -> None:
    """A region converts to an Area covering it, holes excluded."""
    donut = sg.Polygon(sg.box(0, 0, 3, 3).exterior.coords, [sg.box(1, 1, 2, 2).exterior.coords])
    region = Region(code="D", name="Donut", level="town", geometry=donut)
    assert region.to_area().contains([0.5, 1.5, 1.0], [0.5, 1.5, 1.0]).tolist() == [
        True,
        False,
        True,
    ]
    assert region.bounds == (0.0, 0.0, 3.0, 3.0)


# --- validation ----------------------------------------------------------------------------


def test_region_refuses_bad_fields() -> None:
    """Codes, names, levels and geometries are validated with messages that say why."""
    box = sg.box(0, 0, 1, 1)
    with pytest.raises(InvalidRegions, match="code must be non-empty"):
        Region(code=" 01", name="x", level="county", geometry=box)
    with pytest.raises(InvalidType, match="code must be a string"):
        Region(code=1, name="x", level="county", geometry=box)  # type: ignore[arg-type]
    with pytest.raises(InvalidRegions, match="level must be a lowercase identifier"):
        Region(code="01", name="x", level="County", geometry=box)
    with pytest.raises(InvalidType, match="must be a shapely Polygon or MultiPolygon"):
        Region(code="01", name="x", level="county", geometry=sg.Point(0, 0))  # type: ignore[arg-type]
    with pytest.raises(InvalidRegions, match="must not be empty"):
        Region(code="01", name="x", level="county", geometry=sg.Polygon())
    with pytest.raises(InvalidRegions, match=r"self-intersection at lon 0\.5, lat 0\.5"):
        Region(
            code="01",
            name="x",
            level="county",
            geometry=sg.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]),
        )
    with pytest.raises(InvalidRegions, match="is it projected"):
        Region(code="01", name="x", level="county", geometry=sg.box(600000, 6.5e6, 7e5, 6.6e6))
    with pytest.raises(InvalidRegions, match="2-D"):
        Region(
            code="01",
            name="x",
            level="county",
            geometry=sg.Polygon([(0, 0, 1), (1, 0, 1), (1, 1, 1)]),
        )


def test_region_set_refuses_bad_collections() -> None:
    """No regions, mixed levels and repeated codes are refused."""
    a = Region(code="A", name="A", level="county", geometry=sg.box(0, 0, 1, 1))
    with pytest.raises(InvalidRegions, match="at least one Region"):
        RegionSet([])
    with pytest.raises(InvalidRegions, match=r"one level.*county, town"):
        RegionSet([a, Region(code="B", name="B", level="town", geometry=sg.box(1, 0, 2, 1))])
    with pytest.raises(InvalidRegions, match="'A' is used by two regions"):
        RegionSet([a, a])
    with pytest.raises(InvalidType, match=r"regions\[1\] must be a Region"):
        RegionSet([a, "B"])  # type: ignore[list-item]
    with pytest.raises(InvalidType, match="iterable of Region"):
        RegionSet("AB")  # type: ignore[arg-type]


def test_overlaps_beyond_the_tolerance_are_refused_with_both_codes() -> None:
    """Regions sharing more than overlap_tolerance of the smaller area are refused."""
    regions = {"A": sg.box(0, 0, 1, 1), "B": sg.box(0.9, 0, 2, 1)}  # 10 % of A
    with pytest.raises(InvalidRegions, match=r"'A' and 'B' overlap by 10\.0%.*near lon 0\.95"):
        make_set(regions)
    assert len(make_set(regions, overlap_tolerance=0.1)) == 2
    sliver = {"A": sg.box(0, 0, 1, 1), "B": sg.box(0.999, 0, 2, 1)}  # 0.1 %: a digitising sliver
    assert make_set(sliver).locate([0.9995], [0.5]).tolist() == ["A"]
    with pytest.raises(InvalidRegions, match="overlap_tolerance must be a finite number"):
        make_set(regions, overlap_tolerance=2.0)


# --- GeoJSON --------------------------------------------------------------------------------


def test_from_geojson_reads_text_bytes_paths_and_merges_one_code(tmp_path: Path) -> None:
    """Several features with one code become one region; text, bytes and paths all work."""
    fc = collection(
        feature("A", sg.box(0, 0, 1, 1), name="Alpha"),
        feature("A", sg.box(5, 5, 6, 6), name="Alpha"),
        feature("B", sg.box(1, 0, 2, 1), name="Beta"),
    )
    path = tmp_path / "r.geojson"
    path.write_text(json.dumps(fc))
    for source in (fc, json.dumps(fc), json.dumps(fc).encode(), path, str(path)):
        rs = RegionSet.from_geojson(source, code_property="code", name_property="name", level="x")
        assert rs.codes == ("A", "B")
        assert rs["A"].name == "Alpha" and isinstance(rs["A"].geometry, sg.MultiPolygon)
        assert rs.locate([5.5, 1.5], [5.5, 0.5]).tolist() == ["A", "B"]
    plain = RegionSet.from_geojson(fc, code_property="code", level="x")
    assert plain["B"].name == "B"


def _stray_m(boundary: Any, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Metres from each point to ``boundary`` (lon/lat), in a local equirectangular frame.

    Scaled at the points' mean latitude (a 100 km square at 60°N spans under 1.5 % of scale),
    independently of the loader's own (axis-blind) overestimate.
    """
    k = math.cos(math.radians(float(np.mean(lat))))

    def scale(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([xy[:, 0] * k * 111_320.0, xy[:, 1] * 110_574.0])

    local = shapely.transform(boundary, scale)
    pts = shapely.points(scale(np.column_stack([lon, lat])))
    return np.asarray(shapely.distance(local, pts))


def test_projected_edges_keep_their_course() -> None:
    """Long straight edges of a projected file stay within ``BOW_M`` of their course in lon/lat.

    Two 100 km squares in EPSG:3006 sharing an edge: moved vertex by vertex, each edge would bow
    by about half a kilometre, and a point 1 m beside the shared edge would land in the wrong
    square. Points along every edge (placed in EPSG:3006, moved by pyproj) lie within
    ``BOW_M`` of the loaded boundary; points 1 m either side of the shared edge locate to their
    own square; the squares share their added vertices.
    """
    west = sg.box(500_000, 6_600_000, 600_000, 6_700_000)
    east = sg.box(600_000, 6_600_000, 700_000, 6_700_000)
    rs = RegionSet.from_geojson(
        collection(feature("W", west), feature("E", east), crs="EPSG:3006"),
        code_property="code",
        level="x",
    )
    to_wgs = pyproj.Transformer.from_crs(3006, 4326, always_xy=True)
    t = np.linspace(0.0, 1.0, 401)
    for code, square in (("W", west), ("E", east)):
        c = shapely.get_coordinates(square)
        pts = c[:-1, None, :] * (1 - t)[None, :, None] + c[1:, None, :] * t[None, :, None]
        lon, lat = to_wgs.transform(*pts.reshape(-1, 2).T)
        stray = _stray_m(rs[code].geometry.boundary, np.asarray(lon), np.asarray(lat))
        assert stray.max() <= _regions_io.BOW_M * 1.05
    y = 6_600_000 + 100_000 * t[1:-1]
    for dx, want in ((-1.0, "W"), (1.0, "E")):
        lon, lat = to_wgs.transform(np.full(y.size, 600_000 + dx), y)
        assert (rs.locate(lon, lat) == want).all()
    shared = shapely.get_coordinates(rs["W"].geometry.intersection(rs["E"].geometry))
    assert len(shared) > 2  # the shared edge, with its added vertices, in both squares
    w_xy = {tuple(p) for p in shapely.get_coordinates(rs["W"].geometry).tolist()}
    e_xy = {tuple(p) for p in shapely.get_coordinates(rs["E"].geometry).tolist()}
    assert len(w_xy & e_xy) > 2 and all(tuple(p) in w_xy & e_xy for p in shared.tolist())


def test_projected_edges_too_bent_to_follow_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the bound on added vertices the file is refused, naming the feature and the rule."""
    monkeypatch.setattr(_regions_io, "_MAX_GROWTH", 1)
    monkeypatch.setattr(_regions_io, "_MAX_EXTRA", 3)
    fc = collection(feature("S", sg.box(500_000, 6_600_000, 600_000, 6_700_000)), crs="EPSG:3006")
    with pytest.raises(
        InvalidRegions,
        match=r"features\[0\] \(code 'S'\) has an edge that crs "
        r"'EPSG:3006' bends too much .* strays .* m from its course \(at most ",
    ):
        RegionSet.from_geojson(fc, code_property="code", level="x")


def test_from_geojson_reprojects_a_declared_crs() -> None:
    """Coordinates in EPSG:3006 (legacy crs member or argument) land where pyproj puts them."""
    square = sg.box(674000, 6580000, 676000, 6582000)
    to_wgs = pyproj.Transformer.from_crs(3006, 4326, always_xy=True)
    lon, lat = to_wgs.transform(675000.0, 6581000.0)
    corner = to_wgs.transform(674000.0, 6580000.0)
    for rs in (
        RegionSet.from_geojson(
            collection(feature("S", square), crs="urn:ogc:def:crs:EPSG::3006"),
            code_property="code",
            level="x",
        ),
        RegionSet.from_geojson(
            collection(feature("S", square)), code_property="code", level="x", crs="EPSG:3006"
        ),
    ):
        assert rs.locate([lon], [lat]).tolist() == ["S"]
        coords = shapely.get_coordinates(rs["S"].geometry)
        assert np.abs(coords - np.array(corner)).sum(axis=1).min() < 1e-12
    lonlat = collection(feature("S", sg.box(18, 59, 19, 60)), crs="urn:ogc:def:crs:OGC:1.3:CRS84")
    assert RegionSet.from_geojson(lonlat, code_property="code", level="x").bounds == (
        18.0,
        59.0,
        19.0,
        60.0,
    )


@pytest.mark.parametrize(
    ("fc", "kw", "message"),
    [
        ({"type": "Feature"}, {}, "must be a FeatureCollection"),
        (collection(), {}, "features must be a non-empty list"),
        (
            collection(feature("A", sg.box(0, 0, 1, 1)), {"type": "Feature", "properties": {}}),
            {},
            r"features\[1\] has no property 'code' \(code_property\); its properties are: none",
        ),
        (
            collection(feature(114, sg.box(0, 0, 1, 1))),
            {},
            r"features\[0\] property 'code' must be a non-empty string \(got int 114\)",
        ),
        (
            collection(
                feature("A", sg.box(0, 0, 1, 1), name="One"),
                feature("A", sg.box(2, 0, 3, 1), name="Two"),
            ),
            {"name_property": "name"},
            r"code 'A' has two names: 'One' \(features\[0\]\) and 'Two' \(features\[1\]\)",
        ),
        (
            collection(feature("A", sg.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]))),
            {},
            r"features\[0\] \(code 'A'\) has an invalid geometry: self-intersection at "
            r"lon 0\.5, lat 0\.5.*repair=True",
        ),
        (
            collection(feature("A", sg.Point(0, 0))),
            {},
            "must be a non-empty Polygon or MultiPolygon",
        ),
        (
            collection({"type": "Feature", "properties": {"code": "A"}, "geometry": None}),
            {},
            "has no geometry",
        ),
        (
            collection(feature("A", {"type": "Polygon", "coordinates": "nope"})),
            {},
            "is not valid GeoJSON geometry",
        ),
        (
            collection(feature("A", sg.box(600000, 6500000, 700000, 6600000))),
            {},
            "looks projected but declares no CRS; pass crs=",
        ),
        (  # the coordinate named is one out of range, not the ring's first (0, 0)
            collection(feature("A", sg.Polygon([(0, 0), (200, 0), (1, 1)]))),
            {},
            "has coordinates such as x=200, y=0, outside the lon/lat range",
        ),
        (
            collection(feature("A", sg.box(0, 0, 1, 1)), crs="EPSG:999999"),
            {},
            "crs 'EPSG:999999' is not a CRS that pyproj knows",
        ),
        (
            collection(feature("A", sg.box(600000, 6500000, 700000, 6600000)), crs="EPSG:3006"),
            {"crs": "EPSG:3021"},
            "disagrees with the CRS the data declares",
        ),
        (
            collection(feature("A", sg.box(0, 0, 1e9, 1e9)), crs="EPSG:3006"),
            {},
            "after reprojection",
        ),
        ('{"type": ', {}, "not valid JSON"),
        ({"type": "FeatureCollection", "crs": {"type": "link"}, "features": []}, {}, "named CRS"),
    ],
)
def test_from_geojson_errors_say_which_feature_and_why(
    fc: Any, kw: dict[str, Any], message: str
) -> None:
    """Bad region data raises InvalidRegions naming the feature, the rule and the value."""
    with pytest.raises(InvalidRegions, match=message):
        RegionSet.from_geojson(fc, code_property="code", level="x", **kw)


def test_from_geojson_repairs_only_when_asked_and_missing_files_are_clear(tmp_path: Path) -> None:
    """repair=True turns a bow-tie into two triangles; a missing file names its path."""
    bowtie = collection(feature("A", sg.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])))
    rs = RegionSet.from_geojson(bowtie, code_property="code", level="x", repair=True)
    assert rs.locate([0.1, 0.9, 0.5, 0.5], [0.5, 0.5, 0.5, 0.1]).tolist() == ["A", "A", "A", ""]
    with pytest.raises(InvalidRegions, match=r"cannot read region file .*nope.geojson"):
        RegionSet.from_geojson(tmp_path / "nope.geojson", code_property="code", level="x")
    with pytest.raises(InvalidRegions, match="source must be a path"):
        RegionSet.from_geojson(42, code_property="code", level="x")  # type: ignore[arg-type]
    # open() raises ValueError, not OSError, for a NUL in the name
    with pytest.raises(InvalidRegions, match=r"cannot read region file .*a\\x00\.geojson"):
        RegionSet.from_geojson(tmp_path / "a\0.geojson", code_property="code", level="x")


def test_from_geojson_refuses_to_repair_a_scribble() -> None:
    """repair=True untangles a few crossings, not a ring of 3,000 random vertices.

    That ring crosses itself a million times (55 s and 2.4 GB in GEOS make_valid); it is
    refused at once, naming the feature.
    """
    rng = np.random.default_rng(7)
    scribble = sg.Polygon(np.column_stack([rng.random(3_000), rng.random(3_000)]))
    fc = collection(feature("A", sg.box(2, 0, 3, 1)), feature("B", scribble))
    with pytest.raises(
        InvalidRegions,
        match=r"features\[1\] \(code 'B'\) cannot be repaired: its rings must meet \(cross or "
        r"touch\) each other or themselves at most 10,000 times",
    ):
        RegionSet.from_geojson(fc, code_property="code", level="x", repair=True)


# --- GeoParquet -----------------------------------------------------------------------------


def write_geoparquet(path: Path, codes: list[str], geoms: list[Any], crs: Any = "absent") -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    column: dict[str, Any] = {"encoding": "WKB", "geometry_types": ["Polygon"]}
    if crs != "absent":
        column["crs"] = crs
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": column}}
    table = pa.table(
        {"kod": codes, "namn": [f"N{c}" for c in codes], "geometry": shapely.to_wkb(geoms)}
    )
    pq.write_table(table.replace_schema_metadata({"geo": json.dumps(geo)}), path)


def test_from_geoparquet_reads_wkb_and_reprojects(tmp_path: Path) -> None:
    """GeoParquet regions load with names, and a PROJJSON CRS is reprojected."""
    path = tmp_path / "r.parquet"
    write_geoparquet(path, ["B", "A"], [sg.box(1, 0, 2, 1), sg.box(0, 0, 1, 1)])
    rs = RegionSet.from_geoparquet(path, code_property="kod", name_property="namn", level="x")
    assert rs.codes == ("A", "B") and rs["B"].name == "NB"
    assert rs.locate([1.0], [0.5]).tolist() == ["A"]
    projected = tmp_path / "p.parquet"
    square = sg.box(674000, 6580000, 676000, 6582000)
    write_geoparquet(projected, ["S"], [square], crs=pyproj.CRS(3006).to_json_dict())
    lon, lat = pyproj.Transformer.from_crs(3006, 4326, always_xy=True).transform(675e3, 6581e3)
    rs = RegionSet.from_geoparquet(projected, code_property="kod", level="x")
    assert rs.locate([lon], [lat]).tolist() == ["S"]


def test_from_geoparquet_errors(tmp_path: Path) -> None:
    """Non-GeoParquet files, missing columns and unknown CRS say what is wrong."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"kod": ["A"]}), plain)
    with pytest.raises(InvalidRegions, match="not GeoParquet"):
        RegionSet.from_geoparquet(plain, code_property="kod", level="x")
    good = tmp_path / "g.parquet"
    write_geoparquet(good, ["A"], [sg.box(0, 0, 1, 1)])
    with pytest.raises(InvalidRegions, match=r"no column 'code' .* columns: geometry, kod, namn"):
        RegionSet.from_geoparquet(good, code_property="code", level="x")
    nocrs = tmp_path / "n.parquet"
    write_geoparquet(nocrs, ["A"], [sg.box(6e5, 6.5e6, 7e5, 6.6e6)], crs=None)
    with pytest.raises(InvalidRegions, match="looks projected"):
        RegionSet.from_geoparquet(nocrs, code_property="kod", level="x")
    with pytest.raises(InvalidRegions, match="cannot read GeoParquet"):
        RegionSet.from_geoparquet(tmp_path / "missing.parquet", code_property="kod", level="x")


def test_from_geoparquet_without_pyarrow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pyarrow, from_geoparquet raises MissingExtra('geoparquet')."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(
        MissingExtra, match=r"pip install -e '\.\[geoparquet\]' from a geotarget checkout"
    ) as err:
        RegionSet.from_geoparquet("x.parquet", code_property="kod", level="x")
    assert err.value.extra == "geoparquet"


# --- hierarchy ------------------------------------------------------------------------------


def small_hierarchy() -> RegionHierarchy:
    towns = make_set(
        {"t1": sg.box(0, 0, 1, 1), "t2": sg.box(1, 0, 2, 1), "t3": sg.box(2, 0, 3, 1)}, "town"
    )
    shires = make_set({"S": sg.box(0, 0, 2, 1), "T": sg.box(2, 0, 3, 1)}, "shire")
    realm = make_set({"R": sg.box(0, 0, 3, 1)}, "realm")
    return RegionHierarchy(
        [towns, shires, realm], {"t1": "S", "t2": "S", "t3": "T", "S": "R", "T": "R"}
    )


def test_hierarchy_maps_codes_up_and_down() -> None:
    """parent, ancestors, children, level_of and expand follow the parent mapping."""
    h = small_hierarchy()
    assert h.levels == ("town", "shire", "realm")
    assert h.parent("t2") == "S" and h.parent("R") is None
    assert h.ancestors("t3") == ("T", "R") and h.ancestors("R") == ()
    assert h.children("S") == {"t1", "t2"} and h.children("t1") == frozenset()
    assert h.level_of("T") == "shire" and "t1" in h and "x" not in h
    assert h.expand(["R"], "town") == {"t1", "t2", "t3"}
    assert h.expand(["S", "t3"], "town") == {"t1", "t2", "t3"}
    assert h.expand(["t1"], "shire") == frozenset()  # no shire lies within a town
    assert h.expand("T", "shire") == {"T"}
    assert h.region("S").name == "Region S" and h.region_set("realm").codes == ("R",)
    assert h.name_of("t3") == "Region t3"
    assert "3 town" in repr(h)


def test_hierarchy_locate_agrees_across_levels() -> None:
    """Hierarchy.locate maps the finest answer up, so levels agree even on borders."""
    h = small_hierarchy()
    lon = [0.5, 1.0, 2.0, 2.5, 4.0]
    lat = [0.5, 0.5, 0.5, 0.5, 0.5]
    assert h.locate(lon, lat).tolist() == ["t1", "t1", "t2", "t3", ""]
    assert h.locate(lon, lat, "shire").tolist() == ["S", "S", "S", "T", ""]
    assert h.locate(lon, lat, "realm").tolist() == ["R", "R", "R", "R", ""]


def test_hierarchy_unknown_codes_and_levels_are_explained() -> None:
    """Unknown codes list close matches; unknown levels list the valid levels."""
    h = small_hierarchy()
    with pytest.raises(UnknownCode, match=r"'t4'.*close matches: 't1', 't2', 't3'"):
        h.parent("t4")
    with pytest.raises(UnknownCode, match="valid levels: realm, shire, town"):
        h.region_set("county")
    with pytest.raises(UnknownCode, match="valid levels: realm, shire, town"):
        h.expand(["S"], "county")
    with pytest.raises(UnknownCode):
        h.expand(["Q"], "town")


def test_hierarchy_refuses_inconsistent_mappings() -> None:
    """Missing parents, wrong levels, repeated codes and misplaced children are refused."""
    towns = make_set({"t1": sg.box(0, 0, 1, 1), "t2": sg.box(1, 0, 2, 1)}, "town")
    shires = make_set({"S": sg.box(0, 0, 1, 1), "T": sg.box(1, 0, 2, 1)}, "shire")
    with pytest.raises(InvalidRegions, match="town 't2' has no parent"):
        RegionHierarchy([towns, shires], {"t1": "S"})
    with pytest.raises(InvalidRegions, match="town 't2' has parent 't1', which is not a shire"):
        RegionHierarchy([towns, shires], {"t1": "S", "t2": "t1"})
    with pytest.raises(InvalidRegions, match="town 't2' is not inside its parent 'S'"):
        RegionHierarchy([towns, shires], {"t1": "S", "t2": "S"})
    with pytest.raises(InvalidRegions, match=r"coarsest level .* names 'S'"):
        RegionHierarchy([towns, shires], {"t1": "S", "t2": "T", "S": "T"})
    with pytest.raises(UnknownCode, match="'x'"):
        RegionHierarchy([towns, shires], {"t1": "S", "t2": "T", "x": "S"})
    same = make_set({"S": sg.box(0, 0, 1, 1)}, "other")
    with pytest.raises(InvalidRegions, match="'S' is used at two levels"):
        RegionHierarchy([shires, same], {"S": "S", "T": "S"})
    with pytest.raises(InvalidRegions, match="distinct levels"):
        RegionHierarchy([towns, towns], {})
    with pytest.raises(InvalidRegions, match="non-empty sequence"):
        RegionHierarchy([], {})


# --- sets of unions (from_unions) --------------------------------------------------------


@settings(max_examples=300)
@given(
    part=region_partitions(),
    groups=st.lists(st.sampled_from(["P", "Q", "R"]), min_size=8, max_size=8),
    seed=st.integers(0, 2**32 - 1),
)
def test_from_unions_locates_the_parent_of_the_finer_answer_and_nests_exactly(
    part: tuple[dict[str, Any], np.ndarray, np.ndarray], groups: list[str], seed: int
) -> None:
    """A union set answers the parent of the finer winner (borders too) and nests exactly.

    The oracle: shapely covers over the finer regions, lowest finer code, mapped up; and a point
    is covered by a union iff one of its members covers it.
    """
    regions, nodes_lon, nodes_lat = part
    finer = make_set(regions, "town")
    parents = {code: groups[i % len(groups)] for i, code in enumerate(finer.codes)}
    coarse = RegionSet.from_unions(finer, parents, level="shire")
    assert coarse.codes == tuple(sorted(set(parents.values())))
    rng = np.random.default_rng(seed)
    west, south, east, north = finer.bounds
    pad = max(east - west, north - south) * 0.1
    blon, blat = border_points(nodes_lon, nodes_lat, rng)
    lon = np.clip(np.concatenate([rng.uniform(west - pad, east + pad, 300), blon]), -180, 180)
    lat = np.clip(np.concatenate([rng.uniform(south - pad, north + pad, 300), blat]), -90, 90)
    fine = brute_locate(regions, lon, lat)  # the oracle: covers + lowest finer code
    expected = np.array([parents[c] if c else "" for c in fine.tolist()], dtype=str)
    np.testing.assert_array_equal(coarse.locate(lon, lat), expected)
    for code in coarse.codes:
        members = [regions[c] for c in finer.codes if parents[c] == code]
        in_any = np.any([shapely.intersects_xy(g, lon, lat) for g in members], axis=0)
        np.testing.assert_array_equal(coarse.contains(code, lon, lat), in_any)


@settings(max_examples=200)
@given(
    part=region_partitions(),
    groups=st.lists(st.sampled_from(["P", "Q"]), min_size=8, max_size=8),
    seed=st.integers(0, 2**32 - 1),
)
def test_from_unions_over_overlapping_regions_still_follows_the_finer_winner(
    part: tuple[dict[str, Any], np.ndarray, np.ndarray], groups: list[str], seed: int
) -> None:
    """Where unions overlap (their members do), the answer is still the finer winner's parent."""
    regions, nodes_lon, nodes_lat = part
    west, south, east, north = shapely.total_bounds(list(regions.values()))
    w, h = east - west, north - south
    extra = {**regions, "00": sg.box(west + w * 0.2, south + h * 0.2, east - w * 0.2, north)}
    finer = make_set(extra, "town", overlap_tolerance=1.0)
    parents = {code: groups[i % len(groups)] for i, code in enumerate(finer.codes)}
    parents["00"] = "Z"  # overlaps regions of P and Q, and sorts last among the unions
    coarse = RegionSet.from_unions(finer, parents, level="shire")
    rng = np.random.default_rng(seed)
    blon, blat = border_points(nodes_lon, nodes_lat, rng)
    lon = np.clip(np.concatenate([rng.uniform(west, east, 1000), blon]), -180, 180)
    lat = np.clip(np.concatenate([rng.uniform(south, north, 1000), blat]), -90, 90)
    fine = brute_locate(extra, lon, lat)
    expected = np.array([parents[c] if c else "" for c in fine.tolist()], dtype=str)
    np.testing.assert_array_equal(coarse.locate(lon, lat), expected)
    np.testing.assert_array_equal(
        coarse.locate(lon, lat, snap_m=50.0)[fine != ""], expected[fine != ""]
    )


def _points_in_box(
    box: tuple[float, float, float, float],
    nodes: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Random points of a box, its corners and edges, and the border points inside it."""
    w, s, e, n = box
    t = rng.uniform(0.0, 1.0, (2, 300))
    lon = [w + t[0] * (e - w), np.array([w, e, w, e, w, e]), w + t[1, :20] * (e - w)]
    lat = [s + t[1] * (n - s), np.array([s, s, n, n, (s + n) / 2, (s + n) / 2]), np.full(20, n)]
    blon, blat = border_points(nodes[0], nodes[1], rng)
    keep = (blon >= w) & (blon <= e) & (blat >= s) & (blat <= n)
    return np.concatenate([*lon, blon[keep]]), np.concatenate([*lat, blat[keep]])


@settings(max_examples=300)
@given(
    part=region_partitions(),
    overlap=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_locate_box_answers_only_what_locate_answers_everywhere_in_the_box(
    part: tuple[dict[str, Any], np.ndarray, np.ndarray], overlap: bool, seed: int
) -> None:
    """A decided box gets the brute-force answer at every point of it (borders included).

    The oracle is the brute-force locate over plain and union sets (with an overlapping
    region or not); boxes are random, some tiny, some around grid vertices, some whole cells.
    """
    regions, nodes_lon, nodes_lat = part
    west, south, east, north = shapely.total_bounds(list(regions.values()))
    w, h = east - west, north - south
    if overlap:
        regions = {**regions, "00": sg.box(west + w * 0.2, south + h * 0.2, east - w * 0.3, north)}
    plain = make_set(regions, "town", overlap_tolerance=1.0)
    parents = {code: "P" if i % 3 else "Q" for i, code in enumerate(plain.codes)}
    coarse = RegionSet.from_unions(plain, parents, level="shire")
    rng = np.random.default_rng(seed)
    decided = 0
    for _ in range(12):
        cx, cy = rng.uniform(west - w * 0.1, east + w * 0.1), rng.uniform(south, north)
        half = w * 10 ** rng.uniform(-6, -0.5)
        box = (cx - half, cy - half * rng.uniform(0.2, 2), cx + half, cy + half)
        box = (max(box[0], -180.0), max(box[1], -90.0), min(box[2], 180.0), min(box[3], 90.0))
        lon, lat = _points_in_box(box, (nodes_lon, nodes_lat), rng)
        fine = brute_locate(regions, lon, lat)
        for rs, expected in (
            (plain, fine),
            (coarse, np.array([parents[c] if c else "" for c in fine.tolist()], dtype=str)),
        ):
            got = rs.locate_box(*box)
            if got is None:
                continue
            decided += 1
            want = "" if got == -1 else rs.codes[got]
            assert set(expected.tolist()) == {want}, (box, want, set(expected.tolist()))
    with pytest.raises(InvalidRegions, match=r"west <= east and south <= north \(got west="):
        plain.locate_box(east, north, west, south)


def test_locate_box_decides_boxes_inside_one_swedish_county_and_not_across_a_border() -> None:
    """A 2 km box at Sergels torg is in Stockholm County; a box over two counties is not."""
    from geotarget import sweden

    counties = sweden.counties()
    got = counties.locate_box(18.05, 59.32, 18.08, 59.34)
    assert got is not None and counties.codes[got] == "01"
    assert counties.locate_box(17.0, 59.0, 19.0, 60.5) is None  # Stockholm and Uppsala


@pytest.mark.parametrize(
    ("box", "error", "match"),
    [
        ((float("nan"), 59.0, 18.0, 59.1), InvalidCoordinates, "west"),
        ((18.0, 59.0, 181.0, 59.1), InvalidCoordinates, "east"),
        ((18.0, -91.0, 18.1, 59.1), InvalidCoordinates, "south"),
        ((18.0, 59.0, 18.1, "59.1"), InvalidType, "north"),
        ((18.0, 59.0, True, 59.1), InvalidType, "east"),
    ],
)
def test_locate_box_refuses_a_bad_bound_naming_it(
    box: tuple[Any, ...], error: type[Exception], match: str
) -> None:
    rs = make_set({"A": sg.box(0, 0, 1, 1)}, "town")
    with pytest.raises(error, match=match):
        rs.locate_box(*box)


def test_from_unions_resolves_ties_through_the_finer_set_not_its_own_codes() -> None:
    """On the border of t1 (shire Z) and t2 (shire A) the point is in t1, so in Z, not A."""
    towns = make_set(
        {"t1": sg.box(0, 0, 1, 1), "t2": sg.box(1, 0, 2, 1), "t3": sg.box(2, 0, 3, 1)}, "town"
    )
    shires = RegionSet.from_unions(towns, {"t1": "Z", "t2": "A", "t3": "A"}, level="shire")
    plain = make_set({"Z": sg.box(0, 0, 1, 1), "A": sg.box(1, 0, 3, 1)}, "shire")
    lon, lat = [0.5, 1.0, 2.0, 9.0], [0.5, 0.5, 0.5, 0.5]
    assert shires.locate(lon, lat).tolist() == ["Z", "Z", "A", ""]
    assert plain.locate(lon, lat).tolist() == ["Z", "A", "A", ""]  # lowest own code
    assert shires.locate_index(lon, lat).tolist() == [1, 1, 0, -1]
    assert shires["Z"].name == "Z" and shires["A"].geometry.equals(sg.box(1, 0, 3, 1))
    # snap_m snaps to the nearest finer region and maps it up
    assert shires.locate([-0.001], [0.5], snap_m=200.0).tolist() == ["Z"]
    chained = RegionSet.from_unions(shires, {"A": "W", "Z": "W"}, level="realm")
    assert chained.locate(lon, lat).tolist() == ["W", "W", "W", ""]


def test_from_unions_refuses_incomplete_or_unknown_mappings() -> None:
    """Every finer code needs a parent; unknown keys, same level and bad types are refused."""
    towns = make_set({"t1": sg.box(0, 0, 1, 1), "t2": sg.box(1, 0, 2, 1)}, "town")
    with pytest.raises(InvalidRegions, match=r"parents has no entry for 1 town code, e\.g\. 't2'"):
        RegionSet.from_unions(towns, {"t1": "S"}, level="shire")
    with pytest.raises(UnknownCode, match=r"'t9'"):
        RegionSet.from_unions(towns, {"t1": "S", "t2": "S", "t9": "S"}, level="shire")
    with pytest.raises(UnknownCode, match=r"'X'.*names"):
        RegionSet.from_unions(towns, {"t1": "S", "t2": "S"}, level="shire", names={"X": "x"})
    with pytest.raises(InvalidRegions, match="level must differ"):
        RegionSet.from_unions(towns, {"t1": "S", "t2": "S"}, level="town")
    with pytest.raises(InvalidType, match="finer must be a RegionSet"):
        RegionSet.from_unions([], {}, level="shire")  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match=r"parents\['t1'\] must be a code string"):
        RegionSet.from_unions(towns, {"t1": 1, "t2": "S"}, level="shire")  # type: ignore[dict-item]


def test_hierarchy_with_union_sets_agrees_at_every_level_and_checks_them() -> None:
    """Union levels locate like the hierarchy; a union level made differently is refused."""
    towns = make_set(
        {"t1": sg.box(0, 0, 1, 1), "t2": sg.box(1, 0, 2, 1), "t3": sg.box(2, 0, 3, 1)}, "town"
    )
    parents = {"t1": "Z", "t2": "A", "t3": "A"}
    shires = RegionSet.from_unions(towns, parents, level="shire")
    h = RegionHierarchy([towns, shires], parents)
    lon = np.linspace(-0.5, 3.5, 81)  # steps of 0.05: every border and corner
    lat = np.full(lon.shape, 1.0)
    expected = [parents.get(c, "") for c in towns.locate(lon, lat).tolist()]
    np.testing.assert_array_equal(h.locate(lon, lat, "shire"), expected)
    np.testing.assert_array_equal(shires.locate(lon, lat), expected)
    other = make_set(
        {"t1": sg.box(0, 0, 1, 1), "t2": sg.box(1, 0, 2, 1), "t3": sg.box(2, 0, 3, 1)}, "town"
    )
    with pytest.raises(InvalidRegions, match="not this hierarchy's town set"):
        RegionHierarchy([other, shires], parents)
    swapped = RegionSet.from_unions(towns, {"t1": "A", "t2": "Z", "t3": "A"}, level="shire")
    with pytest.raises(InvalidRegions, match="town 't1' has parent 'Z' in parents but 'A'"):
        RegionHierarchy([towns, swapped], {"t1": "Z", "t2": "A", "t3": "A"})


def test_every_error_is_a_geotarget_error() -> None:
    """Region errors belong to the one exception family."""
    assert issubclass(InvalidRegions, GeotargetError) and issubclass(UnknownCode, GeotargetError)


# --- Lantmäteriet's detailed boundaries (../shared/data) ------------------------------------


@pytest.fixture(scope="module")
def lm_municipalities(shared_data: Path) -> RegionSet:
    return RegionSet.from_geojson(
        shared_data / "sweden" / "kommuner_lantmateriet_sweref99tm.geojson",
        code_property="kommun_kod",
        name_property="namn",
        level="municipality",
    )


@pytest.fixture(scope="module")
def lm_counties(shared_data: Path) -> RegionSet:
    return RegionSet.from_geojson(
        shared_data / "sweden" / "lan_lantmateriet_sweref99tm.geojson",
        code_property="lan_kod",
        name_property="namn",
        level="county",
    )


@pytest.mark.shared_data
def test_lantmateriet_municipalities_load_from_sweref99(
    shared_data: Path, lm_municipalities: RegionSet
) -> None:
    """The EPSG:3006 file loads into lon/lat: 290 municipalities, every vertex kept.

    (The GeoJSON holds 121,580 coordinates; the 121,996 of SOURCES.md count the shapefile's
    328 records before they were grouped into one feature per municipality.) Vertices are
    added along long edges (``test_projected_edges_keep_their_course``), none is lost.
    """
    doc = json.loads(
        (shared_data / "sweden" / "kommuner_lantmateriet_sweref99tm.geojson").read_text()
    )
    in_file = sum(
        int(shapely.get_num_coordinates(sg.shape(f["geometry"]))) for f in doc["features"]
    )
    assert len(lm_municipalities) == 290
    assert lm_municipalities.codes[0] == "0114" and lm_municipalities.codes[-1] == "2584"
    assert sum(shapely.get_num_coordinates(r.geometry) for r in lm_municipalities) > in_file
    tr = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)
    for f in doc["features"]:
        lon, lat = tr.transform(*shapely.get_coordinates(sg.shape(f["geometry"])).T)
        kept = shapely.get_coordinates(lm_municipalities[f["properties"]["kommun_kod"]].geometry)
        assert np.isin(lon, kept[:, 0]).all() and np.isin(lat, kept[:, 1]).all()
    west, south, east, north = lm_municipalities.bounds
    assert 10.5 < west < 11.2 and 55.0 < south < 55.4 and 24.0 < east < 24.3 and north < 69.1


@pytest.mark.shared_data
def test_lantmateriet_edges_keep_their_course(
    shared_data: Path, lm_municipalities: RegionSet
) -> None:
    """Every edge over 2 km of the SWEREF 99 TM file stays within ``BOW_M`` of its course.

    Points along each such edge, placed in EPSG:3006 and moved by pyproj, against the loaded
    municipality's boundary (moved vertex by vertex, the worst strayed 60 m, at the middle of
    the 38 km sea border of Luleå and Piteå).
    """
    doc = json.loads(
        (shared_data / "sweden" / "kommuner_lantmateriet_sweref99tm.geojson").read_text()
    )
    to_wgs = pyproj.Transformer.from_crs(3006, 4326, always_xy=True)
    t = np.linspace(0.05, 0.95, 19)
    worst = 0.0
    for f in doc["features"]:
        region = lm_municipalities[f["properties"]["kommun_kod"]].geometry
        for ring in shapely.get_rings(shapely.get_parts(sg.shape(f["geometry"]))):
            c = shapely.get_coordinates(ring)
            long = np.flatnonzero(np.hypot(*(c[1:] - c[:-1]).T) > 2_000.0)
            if long.size == 0:
                continue
            pts = (
                c[long, None, :] * (1 - t)[None, :, None] + c[long + 1, None, :] * t[None, :, None]
            )
            lon, lat = to_wgs.transform(*pts.reshape(-1, 2).T)
            stray = _stray_m(region.boundary, np.asarray(lon), np.asarray(lat))
            worst = max(worst, float(stray.max()))
    assert 0.0 < worst <= _regions_io.BOW_M * 1.05


@pytest.mark.shared_data
def test_lantmateriet_locate_equals_oracle_at_every_vertex_and_random_points(
    lm_municipalities: RegionSet,
) -> None:
    """All 121,996 vertices (shared borders, triple points), edge midpoints and random points."""
    coords = np.concatenate([shapely.get_coordinates(r.geometry) for r in lm_municipalities])
    rng = np.random.default_rng(3)
    west, south, east, north = lm_municipalities.bounds
    mids = (coords[:-1] + coords[1:]) / 2
    lon = np.concatenate([coords[:, 0], mids[:, 0], rng.uniform(west, east, 100_000)])
    lat = np.concatenate([coords[:, 1], mids[:, 1], rng.uniform(south, north, 100_000)])
    ours = lm_municipalities.locate(lon, lat)
    np.testing.assert_array_equal(ours, tree_oracle(lm_municipalities, lon, lat))
    assert (ours[: len(coords)] != "").all()


@pytest.mark.shared_data
def test_lantmateriet_wgs84_needs_repair_and_then_agrees(
    shared_data: Path, lm_municipalities: RegionSet
) -> None:
    """The rounded WGS84 file has one self-intersection (2482); repaired, it matches SWEREF."""
    path = shared_data / "sweden" / "kommuner_lantmateriet_wgs84.geojson"
    kw: dict[str, Any] = {"code_property": "kommun_kod", "level": "municipality"}
    with pytest.raises(InvalidRegions, match=r"code '2482'.*self-intersection at lon 21\.8152"):
        RegionSet.from_geojson(path, **kw)
    wgs = RegionSet.from_geojson(path, repair=True, **kw)
    rng = np.random.default_rng(5)
    lon = rng.uniform(10.5, 24.2, 100_000)
    lat = rng.uniform(55.2, 69.1, 100_000)
    ours = wgs.locate(lon, lat)
    np.testing.assert_array_equal(ours, tree_oracle(wgs, lon, lat))
    assert (ours == lm_municipalities.locate(lon, lat)).mean() > 0.9999


@pytest.mark.shared_data
def test_lantmateriet_places_fall_in_their_municipality_and_county(
    shared_data: Path, lm_municipalities: RegionSet, lm_counties: RegionSet
) -> None:
    """Every fixture place is in its expected kommun and län; the on-line point in 01 or 03."""
    with (shared_data / "sweden" / "places_wgs84.csv").open(encoding="utf-8") as fh:
        places = list(csv.DictReader(fh))
    lon = np.array([float(p["lon"]) for p in places])
    lat = np.array([float(p["lat"]) for p in places])
    kommun = lm_municipalities.locate(lon, lat)
    lan = lm_counties.locate(lon, lat)
    for p, k, c in zip(places, kommun, lan, strict=True):
        if p["kommun_kod"]:
            assert (k, c) == (p["kommun_kod"], p["lan_kod"]), p["id"]
        else:  # on the 01/03 border by construction: exactly one, by the tie rule
            one_lon, one_lat = np.array([float(p["lon"])]), np.array([float(p["lat"])])
            assert c == tree_oracle(lm_counties, one_lon, one_lat)[0]
            assert c in {"01", "03"}


def test_snap_puts_points_just_outside_every_region_in_the_nearest_one() -> None:
    """With snap_m, a point 150 m outside region B's edge is in B; 3 km out it stays in none."""
    a = Region(code="A", name="A", level="l", geometry=sg.box(18.0, 59.0, 18.1, 59.1))
    b = Region(code="B", name="B", level="l", geometry=sg.box(18.2, 59.0, 18.3, 59.1))
    rs = RegionSet([a, b])
    geod = pyproj.Geod(ellps="WGS84")
    lon, lat, _ = geod.fwd(
        [18.3, 18.3, 18.3], [59.05, 59.05, 59.05], [90.0, 90.0, 90.0], [150.0, 1990.0, 3000.0]
    )
    assert rs.locate(lon, lat).tolist() == ["", "", ""]
    assert rs.locate(lon, lat, snap_m=2000.0).tolist() == ["B", "B", ""]
    mid = 18.15  # equidistant from both boxes: the lowest code wins
    assert rs.locate([mid], [59.05], snap_m=5000.0).tolist() == ["A"]
    assert rs["B"].geometry.equals(sg.box(18.2, 59.0, 18.3, 59.1))  # nothing was moved


def test_snap_rejects_a_bad_distance() -> None:
    """snap_m must be a finite number in [0, 100 km]."""
    rs = RegionSet([Region(code="A", name="A", level="l", geometry=sg.box(0, 0, 1, 1))])
    with pytest.raises(
        InvalidRegions, match=r"snap_m must be a finite number >= 0 and <= 100000 \(got -1\)"
    ):
        rs.locate([0.5], [0.5], snap_m=-1)


def _aeqd_distance(lon: float, lat: float, geom: Any) -> float:
    """Oracle: geodesic metres from a point to a lon/lat polygon.

    Measured in an AEQD frame centred on the point (exact for distances from the centre), the
    polygon densified to 0.0001°. The callers' points lie outside the polygon, so this is the
    distance to its boundary, densified as lines: GEOS densifies a *polygon* through
    ``buffer(0)`` when the result looks invalid, which collapses a near-degenerate sliver (area
    ~1e-16 deg²) and made this oracle answer hundreds of metres too far.
    """
    crs = pyproj.CRS.from_proj4(
        f"+proj=aeqd +lat_0={lat!r} +lon_0={lon!r} +ellps=WGS84 +units=m +no_defs"
    )
    t = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    dense = shapely.segmentize(shapely.boundary(geom), 0.0001)
    metric = shapely.transform(dense, lambda xy: np.column_stack(t.transform(*xy.T)))
    return float(metric.distance(sg.Point(0.0, 0.0)))


@st.composite
def _point_near_a_polygon(draw: Any) -> tuple[Any, float, float, float]:
    """A small random polygon (lat up to 70°) and a point 0-30 km from it (outside it)."""
    lat0 = draw(st.floats(-70.0, 70.0))
    lon0 = draw(st.floats(-170.0, 170.0))
    offs = draw(
        st.lists(st.tuples(st.floats(-0.02, 0.02), st.floats(-0.02, 0.02)), min_size=3, max_size=7)
    )
    shape = sg.MultiPoint([(lon0 + dx, lat0 + dy) for dx, dy in offs]).convex_hull
    if draw(st.booleans()):
        shape = shape.buffer(draw(st.floats(0.0005, 0.005)), quad_segs=4)
    if shape.area <= 0.0:
        shape = shape.buffer(0.001)
    az = draw(st.floats(0.0, 360.0))
    out = draw(st.floats(0.0, 30_000.0))
    c = shape.centroid
    lon, lat, _ = pyproj.Geod(ellps="WGS84").fwd(c.x, c.y, az, out + 3_000.0)
    return shape, float(lon), float(lat), out


@settings(deadline=None)
@given(_point_near_a_polygon())
def test_snap_distance_is_geodesic_within_a_millimetre(
    case: tuple[Any, float, float, float],
) -> None:
    """The snap metric never undercuts the geodesic distance and exceeds it by < 1 mm (30 km)."""
    from geotarget import _geodesy

    shape, lon, lat, _ = case
    if shape.covers(sg.Point(lon, lat)):
        return
    got = float(
        _geodesy.distance_to_geometries(np.array([lon]), np.array([lat]), np.array([shape]))[0]
    )
    want = _aeqd_distance(lon, lat, shape)
    assert want - 1e-4 <= got <= want + 1e-3, (got, want)


@st.composite
def _across_the_180th_meridian(draw: Any) -> tuple[Any, float, float]:
    """A small polygon just east or west of the 180th meridian, a point just across it."""
    side = draw(st.sampled_from([-1.0, 1.0]))
    lat0 = draw(st.floats(-70.0, 70.0))
    lon0 = side * draw(st.floats(179.9, 179.97))
    offs = draw(
        st.lists(st.tuples(st.floats(-0.02, 0.02), st.floats(-0.02, 0.02)), min_size=3, max_size=7)
    )
    shape = sg.MultiPoint([(lon0 + dx, lat0 + dy) for dx, dy in offs]).convex_hull
    if shape.area <= 0.0:
        shape = shape.buffer(0.001)
    # Towards the meridian (east of a polygon in the east, west of one in the west), and over.
    az = draw(st.floats(45.0, 135.0)) if side > 0 else draw(st.floats(225.0, 315.0))
    c = shape.centroid
    lon, lat, _ = pyproj.Geod(ellps="WGS84").fwd(c.x, c.y, az, draw(st.floats(8_000.0, 30_000.0)))
    assume(math.copysign(1.0, lon) != side)  # the point lies across the meridian
    return shape, float(lon), float(lat)


@settings(deadline=None)
@given(_across_the_180th_meridian())
def test_snap_distance_across_the_180th_meridian_is_geodesic(
    case: tuple[Any, float, float],
) -> None:
    """A polygon just across the 180th meridian is near, not 360° of longitude away.

    Regression: the nearest point was sought in lon/lat frames only on the point's own side:
    (179.99, -16.7) to a square from -179.99° got 2,134.21 m, not 2,133.08 m.
    """
    from geotarget import _geodesy

    shape, lon, lat = case
    got = float(
        _geodesy.distance_to_geometries(np.array([lon]), np.array([lat]), np.array([shape]))[0]
    )
    want = _aeqd_distance(lon, lat, shape)
    assert want - 1e-4 <= got <= want + 1e-3, (got, want)


@settings(deadline=None)
@given(_point_near_a_polygon(), st.floats(-2.0, 2.0))
def test_snap_decides_by_the_geodesic_distance(
    case: tuple[Any, float, float, float], delta: float
) -> None:
    """A point within snap_m - 1 mm of the only region is snapped; beyond snap_m it is not."""
    shape, lon, lat, _ = case
    if shape.covers(sg.Point(lon, lat)):
        return
    want = _aeqd_distance(lon, lat, shape)
    snap = want + delta
    if not 0.0 < snap <= 30_000.0 or abs(delta) < 2e-3:
        return
    rs = RegionSet([Region(code="R", name="R", level="l", geometry=shape)])
    got = rs.locate([lon], [lat], snap_m=snap).tolist()
    assert got == (["R"] if delta > 0 else [""]), (want, snap)


def test_union_and_expand_of_what_is_not_codes_are_type_errors() -> None:
    """A number or None where region codes belong: InvalidType (TypeError before)."""
    rs = make_set(QUAD)
    for bad in (None, 5, b"A"):
        with pytest.raises(InvalidType, match=r"^codes must be region codes \(got "):
            rs.union(bad)  # type: ignore[arg-type]
    assert rs.union("A") is rs.union(["A"])  # one code as a str
    h = small_hierarchy()
    for bad in (None, 5):
        with pytest.raises(InvalidType, match=r"^codes must be region codes \(got "):
            h.expand(bad, "town")  # type: ignore[arg-type]
