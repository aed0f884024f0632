"""Polygons with holes as CAP can draw them: parts without holes covering the same points.

Sweden's regions with enclaves (16 municipalities, three counties, two police regions) and
random polygons with holes; the oracle is shapely's ``intersects_xy`` on the polygon itself
(boundary included), at random points, every vertex, and points on the cuts.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import Area, Circle, Polygon, sweden


def _holed_regions() -> list[str]:
    h = sweden.hierarchy()
    return [
        code
        for level in h.levels
        for code in h.region_set(level).codes
        if any(len(p.interiors) for p in shapely.get_parts(h.region(code).geometry))
    ]


def _same_points(poly: Polygon, pieces: Area, seed: int) -> None:
    """The pieces cover what the polygon covers, at random points, vertices and cut lines."""
    shape = shapely.Polygon(poly.exterior, poly.holes)
    rng = np.random.default_rng(seed)
    west, south, east, north = shape.bounds
    x = [rng.uniform(west, east, 20_000)]
    y = [rng.uniform(south, north, 20_000)]
    vx, vy = shapely.get_coordinates(shape).T
    x.append(vx)
    y.append(vy)
    for hole in poly.holes:  # along the meridian through the middle of each hole
        hx = np.asarray(hole)[:, 0]
        x.append(np.full(2_000, (hx.min() + hx.max()) / 2.0))
        y.append(np.linspace(south, north, 2_000))
    lon, lat = np.concatenate(x), np.concatenate(y)
    want = shapely.intersects_xy(shape, lon, lat)
    got = pieces.contains(lon, lat)
    assert np.array_equal(got, want), int((got != want).sum())


def test_sweden_has_regions_with_holes() -> None:
    """Municipalities, counties and police regions around a neighbour's enclave."""
    codes = _holed_regions()
    assert {"0331", "2029", "14", "PR-VAST"} <= set(codes), codes


@pytest.mark.parametrize("code", _holed_regions())
def test_a_region_with_enclaves_splits_into_parts_without_holes(code: str) -> None:
    """Each polygon of the region becomes hole-free pieces covering exactly its points."""
    area = sweden.hierarchy().region(code).to_area()
    assert any(p.holes for p in area.parts if isinstance(p, Polygon))
    split = area.without_holes()
    assert all(not p.holes for p in split.parts if isinstance(p, Polygon))
    assert len(split.parts) > len(area.parts)
    for i, part in enumerate(area.parts):
        if isinstance(part, Polygon) and part.holes:
            _same_points(part, part.without_holes(), seed=i)
    union = split.to_shapely()
    assert shapely.symmetric_difference(union, area.to_shapely()).area < 1e-12


@st.composite
def _holed(draw: st.DrawFn) -> Polygon:
    """A square 0.5° wide with 1-4 random disjoint rectangular or triangular holes."""
    lon0 = draw(st.floats(-170.0, 170.0))
    lat0 = draw(st.floats(-80.0, 80.0))
    shell = [(lon0, lat0), (lon0 + 0.5, lat0), (lon0 + 0.5, lat0 + 0.5), (lon0, lat0 + 0.5)]
    holes = []
    for k in range(draw(st.integers(1, 4))):  # one per quarter: never overlapping
        qx, qy = lon0 + 0.25 * (k % 2), lat0 + 0.25 * (k // 2)
        a = draw(st.floats(0.01, 0.1))
        b = draw(st.floats(0.01, 0.1))
        cx, cy = qx + draw(st.floats(0.01, 0.14)), qy + draw(st.floats(0.01, 0.14))
        if draw(st.booleans()):
            holes.append([(cx, cy), (cx + a, cy), (cx + a, cy + b), (cx, cy + b)])
        else:
            holes.append([(cx, cy), (cx + a, cy), (cx + a / 3.0, cy + b)])
    margin = draw(st.sampled_from([0.0, 50.0]))
    return Polygon(shell, holes, margin_m=margin)


@given(poly=_holed(), seed=st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_without_holes_covers_the_same_points(poly: Polygon, seed: int) -> None:
    """Random polygons with holes: no piece has one, and they cover the polygon's points."""
    pieces = poly.without_holes()
    assert all(isinstance(p, Polygon) and not p.holes for p in pieces.parts)
    assert all(p.margin_m == poly.margin_m for p in pieces.parts)
    _same_points(poly.with_margin(0.0), Area([p.with_margin(0.0) for p in pieces.parts]), seed)


def test_without_holes_keeps_plain_parts_as_they_are() -> None:
    """A polygon without holes, and a circle, come back unchanged."""
    square = Polygon([(18.0, 59.0), (18.1, 59.0), (18.1, 59.1), (18.0, 59.1)], margin_m=20.0)
    circle = Circle(18.5, 59.0, 300.0)
    assert square.without_holes() == Area([square])
    assert Area([square, circle]).without_holes() == Area([square, circle])


@pytest.mark.parametrize("code", ["0331", "2029", "14"])
def test_an_alert_for_a_region_with_enclaves_reaches_exactly_its_devices(code: str) -> None:
    """Heby, Leksand, Västra Götaland: a pilot tip request for the region, through CAP.

    Before, the alert could not be built ("CAP polygons have no holes"). The oracle: shapely's
    ``intersects_xy`` on the region's own geometry; devices at random in its bounds, on its
    vertices (the enclaves' included) and in its enclaves.
    """
    import datetime as dt

    from geotarget import Location, LocationRule, PositionIndex, Positions, cap, pilot

    region = sweden.hierarchy().region(code)
    at = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    msg = pilot.Message(headline="Tips", description="Tipsa polisen.", area_description="x")
    alert = pilot.tip_request(
        identifier=f"T-{code}",
        sender="polisen@polisen.se",
        sent=at,
        area=region.to_area(),
        sv=msg,
        en=msg,
        onset=at,
        expires=at + dt.timedelta(hours=2),
    )
    read = cap.loads(cap.dumps(alert))
    assert read.area is not None
    assert all(not p.holes for p in read.area.parts if isinstance(p, Polygon))
    rng = np.random.default_rng(int(code, 36) % 2**32)
    west, south, east, north = region.bounds
    vx, vy = shapely.get_coordinates(region.geometry).T
    lon = np.concatenate([rng.uniform(west, east, 30_000), vx])
    lat = np.concatenate([rng.uniform(south, north, 30_000), vy])
    want = np.flatnonzero(shapely.intersects_xy(region.geometry, lon, lat))
    index = PositionIndex(Positions(np.arange(lon.size), lon, lat, observed_at=at))
    np.testing.assert_array_equal(index.query(read.area), want)
    rows, states = index.classify(read.area, LocationRule(accuracy=0.0), at)
    np.testing.assert_array_equal(rows, want)
    assert (states == Location.INSIDE).all()
    holes = [h for p in shapely.get_parts(region.geometry) for h in p.interiors]
    hx, hy = np.array([shapely.Polygon(h).representative_point().coords[0] for h in holes]).T
    assert not read.area.contains(hx, hy).any()  # the enclaves are not the region's
