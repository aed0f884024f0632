"""Benchmark: the point-in-area matcher against the peers a Python backend would otherwise use.

Scenarios (1.2 M synthetic Swedish devices, see ``_population.py``), each peer's answer checked
equal to geotarget's:

* area → devices: a 1 km and a 10 km circle at Stockholm C, and Stockholm municipality;
* points → areas: 200,000 positions against 1,000 active alert areas (40,000 in quick mode);
* one point → areas, per call;
* building the index over 1.2 M positions;
* index memory in a fresh subprocess (RSS delta; ``tracemalloc`` for geotarget too).

Peers: brute-force ``shapely.contains_xy``, numpy bbox + ``contains_xy``, ``rtree`` bbox +
``contains_xy``, shapely ``STRtree`` bbox + ``contains_xy``, and ``geopandas.sjoin`` (imported
here only). Circles are given to the peers as ``Area.to_shapely()`` polygons (4,096 vertices on
the exact rim, within 0.3 mm of it at 1 km).

Memory is recorded as :class:`Timing` rows whose ``seconds`` field holds **bytes per device**
(scenario ``index memory (B/device)``), with a pseudo-implementation ``bar`` holding 48; the
gate ``Gate(scenario, "geotarget", "bar", 1.0)`` then reads ``48 / ours >= 1``.

Full mode (``quick=False``) also times queries from 100 k to 10 M devices and writes
``benchmarks/results/matcher_scaling.png``. Run it with ``python benchmarks/run.py --only matcher``
(or ``PYTHONPATH=. python benchmarks/bench_matcher.py [--quick]`` for this module's table).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from _harness import Gate, Report, Timing, best_of
from _population import (
    STOCKHOLM_C,
    has_shared_data,
    municipality_polygons,
    population,
)

from geotarget import Area, AreaIndex, Circle, Polygon, PositionIndex, Positions

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROOT = Path(__file__).resolve().parents[1]
#: Every fix in the benchmark snapshots is observed now (their age plays no part here).
_NOW = dt.datetime(2024, 5, 20, 12, 0, tzinfo=dt.timezone.utc)
IntArray = npt.NDArray[np.intp]

#: Stockholm municipality without the shared data: a documented stand-in polygon around the
#: inner city (Bromma–Sköndal, Kista–Liljeholmen), about 190 km², for when Lantmäteriet's
#: polygon is not beside the clone.
FALLBACK_STOCKHOLM = (
    (17.84, 59.30), (17.88, 59.36), (17.93, 59.41), (18.02, 59.42), (18.10, 59.37),
    (18.17, 59.33), (18.16, 59.27), (18.10, 59.24), (18.00, 59.26), (17.92, 59.27),
)  # fmt: skip


def stockholm_area() -> Area:
    """Stockholm municipality (code 0180) as an Area, or the documented fallback polygon."""
    if has_shared_data():
        geom = municipality_polygons()["0180"]
        polys = [geom] if geom.geom_type == "Polygon" else list(getattr(geom, "geoms", []))
        return Area([Polygon.from_shapely(p) for p in polys])
    return Area([Polygon(FALLBACK_STOCKHOLM)])


def alert_areas(count: int, seed: int = 7) -> dict[str, Area]:
    """``count`` alert areas where people are: 70 % circles (200 m – 5 km), 30 % octagons."""
    rng = np.random.default_rng(seed)
    lon, lat = population()
    pick = rng.choice(lon.size, size=count, replace=False)
    out: dict[str, Area] = {}
    for i, j in enumerate(pick.tolist()):
        r = float(10 ** rng.uniform(math.log10(200.0), math.log10(5000.0)))
        x, y = float(lon[j]), float(lat[j])
        if rng.random() < 0.7:
            out[f"alert-{i:04d}"] = Area([Circle(x, y, r)])
        else:
            ang = np.radians(np.arange(8) * 45.0 + rng.uniform(0, 45))
            dy = r * rng.uniform(0.6, 1.0, 8) * np.sin(ang) / 111_320.0
            dx = (
                r * rng.uniform(0.6, 1.0, 8) * np.cos(ang) / (111_320.0 * math.cos(math.radians(y)))
            )
            ring = tuple(zip((x + dx).tolist(), (y + dy).tolist(), strict=True))
            out[f"alert-{i:04d}"] = Area([Polygon(ring)])
    return out


def _points(lon: Any, lat: Any) -> Any:
    return shapely.points(lon, lat)


def _check(name: str, got: Any, want: Any) -> None:
    if not np.array_equal(np.asarray(got), np.asarray(want)):
        raise AssertionError(f"{name} disagrees with geotarget")


# ---------------------------------------------------------------------------------------------
# Area → devices
# ---------------------------------------------------------------------------------------------


class Peers:
    """The peer indexes over the same devices, built once."""

    def __init__(self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> None:
        import rtree

        self.lon = lon
        self.lat = lat
        self.tree = shapely.STRtree(_points(lon, lat))
        xy = np.column_stack([lon, lat])
        self.rtree: Any = rtree.index.Index((np.arange(lon.size, dtype=np.int64), xy, xy))
        self._gdf: Any = None

    def gdf(self) -> Any:
        """Return the devices as a GeoDataFrame with its spatial index built."""
        if self._gdf is None:
            import geopandas

            self._gdf = geopandas.GeoDataFrame(
                geometry=geopandas.points_from_xy(self.lon, self.lat), crs="EPSG:4326"
            )
            self._gdf.sindex  # noqa: B018  (build the spatial index up front)
        return self._gdf

    def queries(self, geom: Any) -> dict[str, Callable[[], IntArray]]:
        """Each peer's query for the devices inside ``geom``, sorted rows."""
        lon, lat = self.lon, self.lat
        shapely.prepare(geom)
        w, s, e, n = geom.bounds
        box = shapely.box(w, s, e, n)
        mins, maxs = np.array([[w, s]]), np.array([[e, n]])

        def brute() -> IntArray:
            return np.flatnonzero(shapely.contains_xy(geom, lon, lat))

        def numpy_bbox() -> IntArray:
            c = np.flatnonzero((lon >= w) & (lon <= e) & (lat >= s) & (lat <= n))
            return c[shapely.contains_xy(geom, lon[c], lat[c])]

        def rtree_bbox() -> IntArray:
            c: IntArray = np.sort(self.rtree.intersection_v(mins, maxs)[0])
            return c[shapely.contains_xy(geom, lon[c], lat[c])]

        def strtree_bbox() -> IntArray:
            c = np.sort(self.tree.query(box))
            return c[shapely.contains_xy(geom, lon[c], lat[c])]

        return {
            "brute shapely contains_xy": brute,
            "numpy bbox + contains_xy": numpy_bbox,
            "rtree bbox + contains_xy": rtree_bbox,
            "STRtree bbox + contains_xy": strtree_bbox,
        }

    def sjoin(self, geom: Any) -> Callable[[], IntArray]:
        """Return a ``geopandas.sjoin`` of the devices with ``geom`` (sorted rows)."""
        import geopandas

        gdf = self.gdf()
        area = geopandas.GeoDataFrame(geometry=[geom], crs="EPSG:4326")

        def run() -> IntArray:
            j = geopandas.sjoin(gdf, area, predicate="intersects")
            return np.sort(j.index.to_numpy())

        return run


def _area_scenarios(report: Report, quick: bool, index: PositionIndex, peers: Peers) -> None:
    repeat = 3 if quick else 9
    scenarios = [
        ("1 km circle at Stockholm C", Area([Circle(*STOCKHOLM_C, 1_000.0)]), 5.0),
        ("10 km circle at Stockholm C", Area([Circle(*STOCKHOLM_C, 10_000.0)]), 20.0),
        ("Stockholm municipality polygon", stockholm_area(), 10.0),
    ]
    for name, area, bar in scenarios:
        geom = area.to_shapely()
        t0 = time.perf_counter()
        want = index.query(area)  # first query: builds the area's cell rasters
        cold = time.perf_counter() - t0
        ours = best_of(partial(index.query, area), repeat=repeat * 20)
        report.add(
            Timing(name, "geotarget", ours, int(want.size), note=f"first query {cold:.4f} s")
        )
        report.add(
            Timing(
                name,
                "geotarget count()",
                best_of(partial(index.count, area), repeat=repeat * 20),
                int(want.size),
            )
        )
        best_peer, best_time = "", math.inf
        for impl, fn in peers.queries(geom).items():
            if impl.startswith("brute") and quick:
                continue
            _check(f"{impl} on {name}", fn(), want)
            t = best_of(fn, repeat=repeat)
            report.add(Timing(name, impl, t, int(want.size)))
            if t < best_time:
                best_peer, best_time = impl, t
        if not quick:  # seconds per call: full mode only
            sj = peers.sjoin(geom)
            _check(f"geopandas.sjoin on {name}", sj(), want)
            report.add(Timing(name, "geopandas.sjoin", best_of(sj, repeat=1)))
        report.gates.append(
            Gate(name, "geotarget", best_peer, bar, f"≥ {bar:g}× faster than the best peer")
        )


# ---------------------------------------------------------------------------------------------
# Points → areas
# ---------------------------------------------------------------------------------------------


def _pairs_scenario(report: Report, quick: bool) -> None:
    n_points = 40_000 if quick else 200_000
    name = f"{n_points:,} points × 1,000 active areas"
    areas = alert_areas(1000)
    lon, lat = population(n=n_points, seed=99)
    t0 = time.perf_counter()
    index = AreaIndex(areas)
    build = time.perf_counter() - t0
    rows, keys = index.match(lon, lat)
    key_index = {k: i for i, k in enumerate(sorted(areas))}
    want = np.array(
        [r * 1000 + key_index[k] for r, k in zip(rows.tolist(), keys.tolist(), strict=True)]
    )
    repeat = 3 if quick else 7
    ours = best_of(lambda: index.match(lon, lat), repeat=repeat)
    report.add(
        Timing(
            name,
            "geotarget",
            ours,
            n_points,
            note=f"{rows.size:,} pairs; AreaIndex build {build:.3f} s",
        )
    )
    geoms = np.array([areas[k].to_shapely() for k in sorted(areas)], dtype=object)
    shapely.prepare(geoms)
    tree = shapely.STRtree(geoms)

    def strtree_bbox() -> Any:
        pts = shapely.points(lon, lat)
        p, a = tree.query(pts)
        ok = shapely.contains_xy(geoms[a], lon[p], lat[p])
        return np.sort(p[ok] * 1000 + a[ok])

    def strtree_predicate() -> Any:
        p, a = tree.query(shapely.points(lon, lat), predicate="intersects")
        return np.sort(p * 1000 + a)

    peers = {
        "STRtree bbox + contains_xy": strtree_bbox,
        "STRtree query(predicate='intersects')": strtree_predicate,
    }
    best_peer, best_time = "", math.inf
    for impl, fn in peers.items():
        _check(f"{impl} on {name}", fn(), want)
        t = best_of(fn, repeat=repeat)
        report.add(Timing(name, impl, t, n_points))
        if t < best_time:
            best_peer, best_time = impl, t
    if not quick:
        import geopandas

        pts = geopandas.GeoDataFrame(geometry=geopandas.points_from_xy(lon, lat), crs="EPSG:4326")
        polys = geopandas.GeoDataFrame(geometry=list(geoms), crs="EPSG:4326")

        def sjoin() -> Any:
            j = geopandas.sjoin(pts, polys, predicate="intersects")
            return np.sort(j.index.to_numpy() * 1000 + j["index_right"].to_numpy())

        _check("geopandas.sjoin", sjoin(), want)
        report.add(Timing(name, "geopandas.sjoin", best_of(sjoin, repeat=2), n_points))
    report.gates.append(Gate(name, "geotarget", best_peer, 5.0, "≥ 5× the best peer's throughput"))

    # One point at a time.
    one = "single point → areas (per call)"
    sample = np.random.default_rng(5).choice(n_points, size=2000, replace=False)
    xs = lon[sample].tolist()
    ys = lat[sample].tolist()

    def ours_one() -> None:
        for x, y in zip(xs, ys, strict=True):
            index.match_one(x, y)

    def peer_one() -> None:
        for x, y in zip(xs, ys, strict=True):
            c = tree.query(shapely.Point(x, y))
            c[shapely.contains_xy(geoms[c], x, y)]

    for i in range(0, 2000, 97):
        got = index.match_one(xs[i], ys[i])
        c = tree.query(shapely.Point(xs[i], ys[i]))
        hit = sorted(c[shapely.contains_xy(geoms[c], xs[i], ys[i])].tolist())
        _check("STRtree single point", [key_index[k] for k in got], hit)
    report.add(Timing(one, "geotarget match_one", best_of(ours_one, repeat=5) / 2000, 1))
    report.add(Timing(one, "STRtree + contains_xy", best_of(peer_one, repeat=5) / 2000, 1))
    report.gates.append(
        Gate(
            one,
            "geotarget match_one",
            "STRtree + contains_xy",
            1 / 0.6,
            "≤ 0.6× the peer's time per call",
        )
    )


# ---------------------------------------------------------------------------------------------
# Build and memory
# ---------------------------------------------------------------------------------------------


def _build_scenario(report: Report, quick: bool, positions: Positions) -> None:
    import geopandas
    import rtree

    name = "build over 1.2 M positions"
    lon, lat = positions.lon, positions.lat
    n = lon.size
    repeat = 2 if quick else 3
    report.add(Timing(name, "geotarget", best_of(lambda: PositionIndex(positions), repeat=repeat)))

    def strtree() -> Any:
        return shapely.STRtree(_points(lon, lat))

    def rtree_arrays() -> Any:
        xy = np.column_stack([lon, lat])
        return rtree.index.Index((np.arange(n, dtype=np.int64), xy, xy))

    def gpd() -> Any:
        g = geopandas.GeoDataFrame(geometry=geopandas.points_from_xy(lon, lat), crs="EPSG:4326")
        return g.sindex

    peers = {"STRtree": strtree, "rtree from arrays": rtree_arrays, "geopandas sindex": gpd}
    best_peer, best_time = "", math.inf
    for impl, fn in peers.items():
        t = best_of(fn, repeat=1 if quick else 2)
        report.add(Timing(name, impl, t))
        if t < best_time:
            best_peer, best_time = impl, t
    report.gates.append(Gate(name, "geotarget", best_peer, 2.0, "≤ 0.5× the fastest peer's build"))


_MEMORY_PROBE = r"""
import gc, json, os, sys, tracemalloc
sys.path[:0] = [{root!r}, {here!r}]
import numpy as np
from _population import population

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

lon, lat = population()
impl = sys.argv[1]
if impl == "geotarget":
    from geotarget import Positions, PositionIndex
    from datetime import datetime, timezone
    pos = Positions(np.arange(lon.size), lon, lat, observed_at=datetime.now(timezone.utc))
gc.collect()
before = rss()
tracemalloc.start()
if impl == "geotarget":
    keep = PositionIndex(pos)
elif impl == "STRtree":
    import shapely
    keep = shapely.STRtree(shapely.points(lon, lat))
elif impl == "rtree":
    import rtree
    xy = np.column_stack([lon, lat])
    keep = rtree.index.Index((np.arange(lon.size, dtype=np.int64), xy, xy))
    del xy
elif impl == "geopandas":
    import geopandas
    keep = geopandas.GeoDataFrame(geometry=geopandas.points_from_xy(lon, lat))
    keep.sindex
gc.collect()
traced = tracemalloc.get_traced_memory()[0]
print(json.dumps({{"rss": rss() - before, "traced": traced, "n": int(lon.size)}}))
"""


def memory(impl: str) -> dict[str, int]:
    """Bytes an index holds, measured in a fresh interpreter (RSS delta and tracemalloc)."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEMORY_PROBE.format(root=str(ROOT), here=str(Path(__file__).resolve().parent)),
            impl,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    data: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def _memory_scenario(report: Report, quick: bool) -> None:
    name = "index memory (B/device)"
    impls = ["geotarget"] if quick else ["geotarget", "rtree", "STRtree", "geopandas"]
    for impl in impls:
        m = memory(impl)
        per = m["rss"] / m["n"]
        note = (
            f"RSS delta; tracemalloc {m['traced'] / m['n']:.1f} B/device"
            if impl == "geotarget"
            else "RSS delta"
        )
        report.add(Timing(name, impl, per, note=note, unit="B/device"))
    report.add(Timing(name, "bar", 48.0, note="the issue's bound, 48 B/device", unit="B/device"))
    report.gates.append(Gate(name, "geotarget", "bar", 1.0, "≤ 48 B/device (ratio = 48 / ours)"))


# ---------------------------------------------------------------------------------------------
# Scaling (full mode)
# ---------------------------------------------------------------------------------------------


def _scaling_row(n: int, small: Area, big: Area) -> dict[str, float]:
    lon, lat = population(n=n, seed=11)
    index = PositionIndex(Positions(np.arange(n), lon, lat, observed_at=_NOW))
    tree = shapely.STRtree(_points(lon, lat))
    peers = Peers.__new__(Peers)
    peers.lon, peers.lat, peers.tree = lon, lat, tree
    row = {"n": float(n)}
    for label, area in (("1 km", small), ("10 km", big)):
        q = peers.queries(area.to_shapely())
        row[f"geotarget {label}"] = best_of(partial(index.query, area), repeat=20)
        row[f"STRtree {label}"] = best_of(q["STRtree bbox + contains_xy"], repeat=3)
        row[f"numpy {label}"] = best_of(q["numpy bbox + contains_xy"], repeat=3)
    return row


def _scaling(report: Report) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [100_000, 300_000, 1_000_000, 3_000_000, 10_000_000]
    small = Area([Circle(*STOCKHOLM_C, 1_000.0)])
    big = Area([Circle(*STOCKHOLM_C, 10_000.0)])
    rows = [_scaling_row(n, small, big) for n in sizes]
    report.extra["scaling"] = rows
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, style in (("geotarget", "-o"), ("STRtree", "--s"), ("numpy", ":^")):
        for label in ("1 km", "10 km"):
            ax.loglog(
                [r["n"] for r in rows],
                [r[f"{key} {label}"] * 1e3 for r in rows],
                style,
                label=f"{key}, {label} circle",
            )
    ax.set_xlabel("devices in the snapshot")
    ax.set_ylabel("query time (ms)")
    ax.set_title("Devices inside a circle at Stockholm C")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(RESULTS / "matcher_scaling.png", dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------


def run(quick: bool) -> Report:
    """Run every matcher scenario; ``quick`` keeps it well under a minute."""
    report = Report()
    lon, lat = population()
    positions = Positions(np.arange(lon.size), lon, lat, observed_at=_NOW)
    index = PositionIndex(positions)
    peers = Peers(lon, lat)
    report.extra["devices"] = int(lon.size)
    report.extra["index_nbytes_per_device"] = index.nbytes / lon.size
    report.extra["stockholm_polygon"] = (
        "Lantmäteriet 0180" if has_shared_data() else "fallback polygon"
    )
    _area_scenarios(report, quick, index, peers)
    del peers
    _build_scenario(report, quick, positions)
    _pairs_scenario(report, quick)
    _memory_scenario(report, quick)
    if not quick:
        _scaling(report)
    return report


def _table(report: Report) -> str:
    lines = ["| scenario | implementation | time | note |", "| --- | --- | --- | --- |"]
    for t in report.timings:
        unit = "ms" if t.unit == "s" else t.unit
        value = t.seconds * 1e3 if t.unit == "s" else t.seconds
        lines.append(f"| {t.scenario} | {t.impl} | {value:.4g} {unit} | {t.note} |")
    lines.append("")
    lines.append("| gate | ours vs peer | ratio | bar |")
    lines.append("| --- | --- | --- | --- |")
    for g in report.gates:
        lines.append(
            f"| {g.scenario} | {g.ours} vs {g.peer} | {report.ratio(g):.2f} | {g.bar:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    result = run(quick="--quick" in sys.argv)
    print(_table(result))
