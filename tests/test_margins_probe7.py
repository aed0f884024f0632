"""Probes of large polygon margins: exact ranks against a pyproj/shapely oracle, bounded work.

A polygon with a margin of kilometres (up to the 100 km accepted) puts most of its devices in
the margin band, where each device's rank depends on its distance to the polygon in the
polygon's metric frame. The oracle here measures that distance with pyproj's ``aeqd`` and
GEOS's distances to the densified rings (the documented definition: ``docs/`` and
:attr:`Polygon.margin_error_bound_m`), never the library's kernels. The work test counts the
point-segment distances the classification measures, which must grow with the devices and
the boundary, not with their product times the margin.
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import numpy as np
import numpy.typing as npt
import pyproj
import pytest
import shapely

from geotarget import Location, LocationRule, Polygon, PositionIndex, Positions, sweden
from geotarget._index import segments

AT = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
RULE = LocationRule(max_age=dt.timedelta(hours=1))
Arr = npt.NDArray[np.float64]


def _stockholm(margin: float) -> Polygon:
    """Stockholm municipality's largest part (shared boundary data) with the margin."""
    geom = sweden.municipalities()["0180"].geometry
    largest = max(shapely.get_parts(geom), key=lambda g: g.area)
    return Polygon.from_shapely(largest, margin_m=margin)


def _frame(part: Polygon) -> tuple[pyproj.Transformer, Any]:
    """The documented metric frame: aeqd at the bounds' middle, rings densified to 0.001°."""
    west, south, east, north = part.shape.bounds
    lon0, lat0 = (west + east) / 2.0, (south + north) / 2.0
    crs = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +ellps=WGS84")
    t = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    rings = [
        shapely.transform(
            shapely.segmentize(shapely.LineString(ring), 0.001),
            lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])),
        )
        for ring in [part.exterior, *part.holes]
    ]
    shell = shapely.get_coordinates(rings[0])
    holes = [shapely.get_coordinates(h) for h in rings[1:]]
    return t, shapely.Polygon(shell, holes)


def _boundary_distance(metric: Any, pts: Any) -> Arr:
    """GEOS's distance from each point to the metric polygon's boundary (nearest segment)."""
    lines: list[Any] = []
    for ring in [metric.exterior, *metric.interiors]:
        c = shapely.get_coordinates(ring)
        lines.append(shapely.linestrings(np.stack([c[:-1], c[1:]], axis=1)))
    tree = shapely.STRtree(np.concatenate(lines))
    (which, _), d = tree.query_nearest(pts, return_distance=True, all_matches=False)
    out = np.full(len(pts), np.nan)
    out[which] = d
    return out


def _oracle(
    part: Polygon, lon: Arr, lat: Arr, r: Arr
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.bool_]]:
    """Each disk's rank by the definition (2 held, 1 met, 0 neither) and where 1 or 2 may do.

    Devices within a millimetre of a threshold (or of the boundary, outside it) are not
    compared (``-1``). A disk met but held by neither side alone may be held by the polygon
    grown by its margin (water narrower than twice the margin): 1 or 2 is allowed when every
    one of 64 rim points lies within the margin of the polygon.
    """
    m = part.margin_m
    in_poly = shapely.intersects_xy(part.shape, lon, lat)
    t, metric = _frame(part)
    mx, my = t.transform(lon, lat)
    b = _boundary_distance(metric, shapely.points(mx, my))
    tol = 1e-3
    held = np.where(in_poly, (r <= m) | (b > r - m), (r <= m) & (b <= m - r))
    met = in_poly | (b <= m + r)
    want = np.where(held, 2, np.where(met, 1, 0)).astype(np.int8)
    near = np.abs(b - (m + r)) < tol
    near |= np.where(in_poly, (r > m) & (np.abs(b - (r - m)) < tol), np.abs(b - (m - r)) < tol)
    near |= ~in_poly & (b < tol)
    want[near] = -1
    either = np.zeros(lon.size, dtype=np.bool_)
    sel = np.flatnonzero((want == 1) & (r > 0))
    if sel.size:
        a = np.linspace(0.0, 2.0 * np.pi, 64, endpoint=False)
        rx = (mx[sel, None] + r[sel, None] * np.cos(a)).reshape(-1)
        ry = (my[sel, None] + r[sel, None] * np.sin(a)).reshape(-1)
        shapely.prepare(metric)
        near = shapely.dwithin(metric, shapely.points(rx, ry), m + tol)
        either[sel] = near.reshape(-1, a.size).all(axis=1)
    return want, either


def _devices(part: Polygon, n: int, seed: int) -> tuple[Arr, Arr, Arr]:
    """Devices around the polygon, with radii from exact fixes to cell-tower guesses (0-3 km).

    Uniform in its margin window, and packed along its margin line and its boundary, alone
    and in crowds.
    """
    rng = np.random.default_rng(seed)
    t, metric = _frame(part)
    m = part.margin_m
    west, south, east, north = part.bounds
    lon = [rng.uniform(west, east, n)]
    lat = [rng.uniform(south, north, n)]
    for line, k in ((shapely.buffer(metric, m, quad_segs=32).exterior, n), (metric.exterior, n)):
        pts = shapely.line_interpolate_point(line, rng.uniform(0.0, 1.0, k), normalized=True)
        xy = shapely.get_coordinates(pts)
        jitter = rng.choice([0.5, 20.0, 300.0, 3000.0], k) * rng.standard_normal((2, k))
        x, y = t.transform(xy[:, 0] + jitter[0], xy[:, 1] + jitter[1], direction="INVERSE")
        lon.append(np.asarray(x))
        lat.append(np.asarray(y))
        # Crowds (a town on the line: the index's leaves of 32 devices are small there).
        c = np.repeat(xy[: k // 25], 40, axis=0)
        spread = np.repeat(rng.choice([5.0, 40.0, 200.0], k // 25), 40)
        x, y = t.transform(
            c[:, 0] + spread * rng.standard_normal(c.shape[0]),
            c[:, 1] + spread * rng.standard_normal(c.shape[0]),
            direction="INVERSE",
        )
        lon.append(np.asarray(x))
        lat.append(np.asarray(y))
    lon_a, lat_a = np.concatenate(lon), np.concatenate(lat)
    r = rng.choice([0.0, 3.0, 12.0, 100.0, 800.0, 3000.0], lon_a.size)
    r *= np.exp(rng.uniform(-0.3, 0.3, lon_a.size))
    return lon_a, lat_a, r


def _index(lon: Arr, lat: Arr, r: Arr) -> PositionIndex:
    ids = np.arange(lon.size, dtype=np.int64)
    stamp = np.datetime64(AT.replace(tzinfo=None), "us")
    seen = np.full(lon.size, stamp)
    return PositionIndex(Positions(ids, lon, lat, accuracy_m=r, observed_at=seen))


def _ranks(index: PositionIndex, part: Polygon, n: int) -> npt.NDArray[np.int8]:
    rows, states = index.classify(part, RULE, AT)
    out = np.zeros(n, dtype=np.int8)
    out[rows] = np.where(states == Location.INSIDE, 2, 1)
    return out


#: Polygons elsewhere: far north (Svalbard), at 180° (Fiji's Taveuni), a 100 m square, and a
#: square with a lake hole narrower than twice the margin beside a wide one.
ELSEWHERE = {
    "svalbard": [(15.2, 78.0), (16.4, 78.05), (16.2, 78.35), (15.4, 78.3)],
    "taveuni": [(179.75, -16.95), (180.0, -16.75), (180.0, -16.6), (179.8, -16.7)],
    "small": [(18.0, 59.3), (18.0017, 59.3), (18.0017, 59.3009), (18.0, 59.3009)],
}
HOLEY = Polygon(
    [(17.6, 59.1), (18.4, 59.1), (18.4, 59.6), (17.6, 59.6)],
    [
        [(17.9, 59.3), (17.95, 59.3), (17.95, 59.32), (17.9, 59.32)],
        [(18.1, 59.2), (18.3, 59.2), (18.3, 59.5), (18.1, 59.5)],
    ],
)


@pytest.mark.parametrize("margin", [300.0, 5_000.0, 50_000.0, 100_000.0])
@pytest.mark.parametrize("place", ["stockholm", "holey", *ELSEWHERE])
def test_large_margin_ranks_match_the_metric_oracle(place: str, margin: float) -> None:
    """Every compared disk of a polygon with a large margin ranks as the definition says."""
    if place == "stockholm":
        part = _stockholm(margin)
    elif place == "holey":
        part = HOLEY.with_margin(margin)
    else:
        part = Polygon(ELSEWHERE[place], margin_m=margin)
    lon, lat, r = _devices(part, 1500, seed=int(margin))
    got = _ranks(_index(lon, lat, r), part, lon.size)
    want, either = _oracle(part, lon, lat, r)
    checked = want >= 0
    assert checked.sum() > 0.95 * lon.size
    bad = np.flatnonzero(checked & (got != want) & ~(either & (got >= 1)))
    assert bad.size == 0, (margin, bad[:5], got[bad[:5]], want[bad[:5]])
    # The probe reaches every rank, on both sides of the margin's line.
    assert set(np.unique(want[checked]).tolist()) == {0, 1, 2}


def _count_pairs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the (point, segment) distances the classification's kernels measure."""
    count = [0]
    pairs = segments.SegmentGrid._pairs

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        for q, j in pairs(self, *args, **kwargs):
            count[0] += int(q.size)
            yield q, j

    monkeypatch.setattr(segments.SegmentGrid, "_pairs", counted)
    nearest = segments.nearest

    def counted_nearest(rows: Any, px: Any, py: Any) -> Any:
        count[0] += int(rows.shape[1]) * int(px.size)
        return nearest(rows, px, py)

    monkeypatch.setattr(segments, "nearest", counted_nearest)
    try:
        margin = importlib.import_module("geotarget._index.margin")
    except ImportError:
        return count
    distances = margin._distances

    def counted_distances(rows: Any, px: Any, py: Any, item: Any, seg: Any) -> Any:
        count[0] += int(item.size)
        return distances(rows, px, py, item, seg)

    monkeypatch.setattr(margin, "_distances", counted_distances)
    return count


@pytest.mark.parametrize("margin", [5_000.0, 50_000.0])
def test_large_margin_work_grows_with_devices_not_margin(
    monkeypatch: pytest.MonkeyPatch, margin: float
) -> None:
    """A large margin's classification measures a few hundred distances a device at most.

    40,000 synthetic Swedish devices around Stockholm, the municipality with a 5 km and a
    50 km margin: every device of the margin band used to be measured against every boundary
    segment within its reach (some 1,700 of them at 50 km; hundreds of millions of pairs for
    the 1.2 M devices of the benchmark, 5-10 s).
    """
    lon, lat = sweden.synthetic_population(200_000, seed=3)
    keep = (np.abs(lon - 18.0) < 1.2) & (np.abs(lat - 59.35) < 0.6)
    lon, lat = lon[keep], lat[keep]
    rng = np.random.default_rng(4)
    r = np.clip(rng.lognormal(np.log(12.0), 0.8, lon.size), 3.0, 2000.0)
    index = _index(lon, lat, r)
    part = _stockholm(margin)
    count = _count_pairs(monkeypatch)
    got = _ranks(index, part, lon.size)
    met = int(np.count_nonzero(got))
    assert met > 5_000
    # (Before the cell bounds: 15 and 25 million pairs, 300 and 490 a device.)
    assert count[0] <= 64 * lon.size + (1 << 20), (count[0], lon.size)
