"""Areas and the matcher probed with shapes no other test draws, against independent oracles.

Oracles: an exact point-in-polygon on rational numbers (orientation signs, no GEOS) for
polygons, ``pyproj.Geod.inv`` for circles.
"""

from __future__ import annotations

import datetime as dt
import itertools
from fractions import Fraction
from typing import Any

import numpy as np
import pyproj
import pytest

from geotarget import Area, AreaIndex, Circle, LocationRule, Polygon, PositionIndex, Positions
from geotarget._validate import FloatArray
from geotarget.errors import InvalidCoordinates, InvalidType

GEOD = pyproj.Geod(ellps="WGS84")
NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
SQUARE = [(18.0, 59.0), (18.1, 59.0), (18.1, 59.1), (18.0, 59.1)]


# --- hostile construction input: masked and float16 degrees ---------------------------------


def _masked_ring() -> Any:
    mask = np.array([[0, 0], [1, 0], [0, 0]], dtype=np.bool_)
    return np.ma.masked_array([[18.0, 59.0], [19.0, 59.0], [19.0, 60.0]], mask=mask)


def _rows(*rows: object) -> Any:
    """A ring of rows of any type (the hostile inputs are not ``Sequence[float]``)."""
    return list(rows)


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: Polygon(_masked_ring()), "exterior must have no masked entries"),
        (lambda: Polygon.repair(_masked_ring()), "exterior must have no masked entries"),
        (lambda: Polygon(SQUARE, [_masked_ring()]), "holes[0] must have no masked entries"),
        (
            lambda: Polygon(
                _rows(
                    np.ma.masked_array([18.0, 59.0]),
                    np.ma.masked_array([19.0, 59.0], mask=np.array([1, 0], dtype=np.bool_)),
                    (19.0, 60.0),
                )
            ),
            "exterior[1] must have no masked entries",
        ),
        (
            lambda: Polygon(_rows((18.0, 59.0), (np.ma.masked, 59.0), (19.0, 60.0))),
            "exterior[1] lon must have no masked entries",
        ),
    ],
)
@pytest.mark.filterwarnings("error")  # numpy's "converting a masked element to nan" neither
def test_a_ring_with_masked_entries_is_refused_not_read_by_its_hidden_data(
    build: Any, fragment: str
) -> None:
    """Numpy reads a masked vertex by its hidden data: the area would move without a word."""
    with pytest.raises(InvalidCoordinates, match="masked") as err:
        build()
    assert fragment in str(err.value)
    assert "fill them first" in str(err.value)


def test_a_masked_ring_with_nothing_masked_is_read_as_its_data() -> None:
    ring = np.ma.masked_array([[18.0, 59.0], [19.0, 59.0], [19.0, 60.0]])
    assert Polygon(ring) == Polygon([(18.0, 59.0), (19.0, 59.0), (19.0, 60.0)])


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (
            lambda: Polygon(np.array([[18.0, 59.3], [18.1, 59.3], [18.1, 59.4]], np.float16)),
            "exterior must be degrees in float64 or float32, not float16",
        ),
        (
            lambda: Polygon([(18.0, np.float16(59.3)), (18.1, 59.3), (18.1, 59.4)]),
            "exterior[0] lat must be degrees",
        ),
        (
            lambda: Polygon(
                _rows(
                    np.array([18.0, 59.3], np.float16),
                    np.array([18.1, 59.3]),
                    np.array([18.1, 59.4]),
                )
            ),
            "exterior[0] must be degrees",
        ),
        (
            lambda: Polygon(
                SQUARE, [np.array([[18.02, 59.02], [18.05, 59.02], [18.05, 59.05]], np.float16)]
            ),
            "holes[0] must be degrees",
        ),
        (lambda: Circle(np.float16(18.07), 59.33, 10.0), "lon must be degrees"),
        (lambda: Circle(18.07, np.float16(59.33), 10.0), "lat must be degrees"),
    ],
)
def test_float16_degrees_are_refused_as_contains_refuses_them(build: Any, fragment: str) -> None:
    """float16 holds 59.3 as 59.3125: a vertex or centre 1.4 km off, silently."""
    with pytest.raises(InvalidType, match="float16") as err:
        build()
    assert fragment in str(err.value)
    with pytest.raises(InvalidType, match="float16"):
        Circle(18.0, 59.0, 10.0).contains(
            np.array([18.0], np.float16), np.array([59.0], np.float16)
        )


def test_float32_and_plain_numpy_rows_are_still_read() -> None:
    rows = _rows(np.array([18.0, 59.3]), np.array([18.1, 59.3]), np.array([18.1, 59.4]))
    assert Polygon(rows) == Polygon([(18.0, 59.3), (18.1, 59.3), (18.1, 59.4)])
    f32 = Polygon(np.array([[18.0, 59.3], [18.1, 59.3], [18.1, 59.4]], np.float32))
    assert f32.exterior[0] == (18.0, float(np.float32(59.3)))
    assert Circle(np.float32(18.07), 59.33, 10.0).lon == float(np.float32(18.07))


# --- exact answers on shapes no other test draws -------------------------------------------


def _rect(w: float, s: float, e: float, n: float) -> list[tuple[float, float]]:
    return [(w, s), (e, s), (e, n), (w, n)]


#: Each area as polygons of rings (shell first), as a user writes them.
SHAPES: dict[str, list[list[list[tuple[float, float]]]]] = {
    "a hole touching the shell at a vertex": [
        [_rect(16.0, 62.0, 16.5, 62.25), [(16.0, 62.0), (16.1, 62.2), (16.25, 62.05)]]
    ],
    "a hole touching a shell edge": [
        [_rect(16.0, 62.0, 16.5, 62.25), [(16.25, 62.0), (16.3, 62.1), (16.2, 62.1)]]
    ],
    "two holes touching each other": [
        [
            _rect(14.0, 60.0, 15.0, 60.5),
            [(14.2, 60.1), (14.5, 60.25), (14.2, 60.4)],
            [(14.5, 60.25), (14.8, 60.1), (14.8, 60.4)],
        ]
    ],
    "parts sharing a diagonal edge": [
        [[(17.0, 59.0), (17.4, 59.0), (17.3, 59.3)]],
        [[(17.0, 59.0), (17.3, 59.3), (16.9, 59.35)]],
    ],
    "parts sharing a vertex": [
        [[(17.0, 59.0), (17.4, 59.0), (17.2, 59.2)]],
        [[(17.2, 59.2), (17.5, 59.4), (16.9, 59.4)]],
    ],
    "a 0.1 m strip along a parallel": [[_rect(11.5, 65.0, 24.0, 65.0 + 1e-6)]],
    "a 6 cm strip along a meridian": [[_rect(15.0, 55.3, 15.0 + 1e-6, 69.0)]],
    "a diagonal sliver": [[[(12.0, 56.0), (22.0, 67.0), (22.0, 67.0 + 2e-7)]]],
    "collinear and repeated vertices": [
        [
            [
                (18.0, 59.3),
                (18.05, 59.3),
                (18.05, 59.3),
                (18.1, 59.3),
                (18.1, 59.35),
                (18.1, 59.4),
                (18.1, 59.4),
                (18.0, 59.4),
                (18.0, 59.35),
                (18.0, 59.3),
            ]
        ]
    ],
    "a clockwise shell, a counter-clockwise hole": [
        [list(reversed(_rect(13.0, 58.0, 13.4, 58.3))), _rect(13.1, 58.1, 13.2, 58.2)]
    ],
    "Treriksröset": [[[(20.40, 68.95), (20.5478, 69.0600), (20.70, 68.98), (20.55, 68.90)]]],
    "Smygehuk": [[[(12.80, 55.33), (12.8717, 55.3375), (12.95, 55.33), (12.87, 55.40)]]],
}


def _on_edge(
    p: tuple[Fraction, Fraction], a: tuple[Fraction, Fraction], b: tuple[Fraction, Fraction]
) -> bool:
    cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    return (
        cross == 0
        and min(a[0], b[0]) <= p[0] <= max(a[0], b[0])
        and (min(a[1], b[1]) <= p[1] <= max(a[1], b[1]))
    )


def _covers_exactly(rings: list[list[tuple[float, float]]], x: float, y: float) -> bool:
    """Point in polygon on rational numbers: on an edge is inside; crossing parity otherwise."""
    p = (Fraction(x), Fraction(y))
    closed = [[(Fraction(u), Fraction(v)) for u, v in [*r, r[0]]] for r in rings]
    if any(_on_edge(p, a, b) for r in closed for a, b in itertools.pairwise(r)):
        return True

    def odd(ring: list[tuple[Fraction, Fraction]]) -> bool:
        n = 0
        for a, b in itertools.pairwise(ring):
            if (a[1] > p[1]) != (b[1] > p[1]):
                n += a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]) > p[0]
        return n % 2 == 1

    return odd(closed[0]) and not any(odd(h) for h in closed[1:])


def _points_at_edges(
    polygons: list[list[list[tuple[float, float]]]], rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Vertices, points along every edge, a float step and a millimetre either side of both."""
    xs: list[float] = []
    ys: list[float] = []
    for rings in polygons:
        for ring in rings:
            for (ax, ay), (bx, by) in itertools.pairwise([*ring, ring[0]]):
                kx = 111_320.0 * np.cos(np.radians(ay))
                ky = 110_574.0
                ex, ey = (bx - ax) * kx, (by - ay) * ky
                length = float(np.hypot(ex, ey)) or 1.0
                nx, ny = -ey / length, ex / length
                for t in [0.0, 0.5, 1.0, *rng.random(4).tolist()]:
                    px, py = ax + t * (bx - ax), ay + t * (by - ay)
                    xs += [px, px + 1e-3 * nx / kx, px - 1e-3 * nx / kx]
                    ys += [py, py + 1e-3 * ny / ky, py - 1e-3 * ny / ky]
                    xs += [float(np.nextafter(px, 180.0)), float(np.nextafter(px, -180.0)), px, px]
                    ys += [py, py, float(np.nextafter(py, 90.0)), float(np.nextafter(py, -90.0))]
    return np.array(xs), np.array(ys)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_contains_query_count_and_match_equal_an_exact_point_in_polygon(name: str) -> None:
    """Every answer about a point equals rational arithmetic's, a float step from any edge."""
    polygons = SHAPES[name]
    rng = np.random.default_rng(sorted(SHAPES).index(name))
    area = Area([Polygon(rings[0], rings[1:]) for rings in polygons])
    x, y = _points_at_edges(polygons, rng)
    west, south, east, north = area.bounds
    x = np.concatenate([x, west + (east - west) * rng.random(2000)])
    y = np.concatenate([y, south + (north - south) * rng.random(2000)])
    want = np.array(
        [any(_covers_exactly(r, xi, yi) for r in polygons) for xi, yi in zip(x, y, strict=True)]
    )
    assert want.any() and not want.all()
    assert area.contains(x, y).tolist() == want.tolist()
    index = PositionIndex(Positions(np.arange(x.size), x, y, observed_at=NOW))
    assert index.query(area).tolist() == np.flatnonzero(want).tolist()
    assert index.count(area) == int(want.sum())
    rows, states = index.classify(area, LocationRule(accuracy=0.0), NOW)
    assert rows.tolist() == np.flatnonzero(want).tolist() and set(states.tolist()) <= {1}
    pairs, keys = AreaIndex({"a": area, "far": Circle(24.0, 55.0, 1.0)}).match(x, y)
    assert pairs[keys == "a"].tolist() == np.flatnonzero(want).tolist()


@pytest.mark.parametrize(
    ("lon", "lat", "radius", "margin"),
    [
        (18.0686, 59.3293, 1.0, 0.0),
        (16.0, 62.0, 500_000.0, 0.0),
        (20.5478, 69.06, 1.0, 2.5),
        (12.8717, 55.3375, 3000.0, 700.0),
        (24.1667, 65.83, 0.5, 100_000.0),
    ],
)
def test_circles_classify_as_geod_inv_says_a_millimetre_from_every_threshold(
    lon: float, lat: float, radius: float, margin: float
) -> None:
    """INSIDE iff d + r <= reach, met iff d <= reach + r, with d from ``Geod.inv``."""
    rng = np.random.default_rng(int(radius))
    reach = radius + margin
    accuracy, xs, ys = [], [], []
    for r in (0.0, 1e-3, 0.5, 5.0, 3000.0, 2e5, 4e7):
        for target in (
            reach - r - 1e-3,
            reach - r,
            reach - r + 1e-3,
            reach + r - 1e-3,
            reach + r + 1e-3,
        ):
            if 0.0 < target < 2e7:
                az = rng.random(6) * 360.0
                x, y, _ = GEOD.fwd(np.full(6, lon), np.full(6, lat), az, np.full(6, target))
                xs += list(x)
                ys += list(y)
                accuracy += [r] * 6
    x, y, acc = np.array(xs), np.array(ys), np.array(accuracy)
    _, _, d = GEOD.inv(np.full(x.size, lon), np.full(x.size, lat), x, y)
    want = np.zeros(x.size, np.int8)
    want[np.asarray(d) <= reach + acc] = 2
    want[np.asarray(d) + acc <= reach] = 1
    index = PositionIndex(Positions(np.arange(x.size), x, y, accuracy_m=acc, observed_at=NOW))
    rows, states = index.classify(Circle(lon, lat, radius, margin_m=margin), LocationRule(), NOW)
    got = np.zeros(x.size, np.int8)
    got[rows] = states
    assert got.tolist() == want.tolist()
    assert set(want.tolist()) == {0, 1, 2}
