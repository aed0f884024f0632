"""Fixes on the antimeridian, written -180 or 180, against polygons whose edges run along it.

Lon -180 and 180 are one meridian: a fix reported at -180 lies on a polygon's edge along 180
(boundaries are inside), however it is spelt. The oracle is shapely alone: a point is held
when the lon/lat polygon covers it in either spelling (``shapely.covers`` of a ``Point``);
points off the seam are held when it covers them as written.
"""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import shapely
import shapely.geometry as sg
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import Area, AreaIndex, Location, LocationRule, Polygon, PositionIndex, Positions

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def _held(ring: list[tuple[float, float]], lon: float, lat: float) -> bool:
    """Whether the lon/lat polygon covers the point in some spelling of its longitude."""
    shape = sg.Polygon(ring)
    spellings = [lon, -lon] if abs(lon) == 180.0 else [lon]
    return any(bool(shapely.covers(shape, sg.Point(x, lat))) for x in spellings)


@st.composite
def _case(draw: st.DrawFn) -> tuple[list[tuple[float, float]], list[float], list[float]]:
    """A quadrilateral with an edge along 180 or -180, and points on and near the seam."""
    east = draw(st.booleans())
    side = 180.0 if east else -180.0
    width = draw(st.floats(0.001, 5.0)) * (-1.0 if east else 1.0)
    south = draw(st.floats(-80.0, 70.0))
    north = south + draw(st.floats(0.001, 9.0))
    # The inner edge slanted, so the seam edge is not the only straight one.
    lean = draw(st.floats(-0.45, 0.45)) * (north - south)
    ring = [(side, south), (side + width, south + lean), (side + width, north), (side, north)]
    n = draw(st.integers(1, 12))
    lons, lats = [], []
    for _ in range(n):
        kind = draw(st.sampled_from(["seam", "seam", "corner", "near"]))
        if kind == "corner":
            lons.append(draw(st.sampled_from([180.0, -180.0])))
            lats.append(draw(st.sampled_from([south, north])))
        elif kind == "seam":
            lons.append(draw(st.sampled_from([180.0, -180.0])))
            lats.append(draw(st.floats(south - 1.0, north + 1.0)))
        else:
            lons.append(side + draw(st.floats(0.0, 0.01)) * (-1.0 if east else 1.0))
            lats.append(draw(st.floats(south, north)))
    return ring, lons, lats


@settings(max_examples=150, deadline=None)
@given(_case())
def test_a_fix_on_the_seam_is_held_in_either_spelling(
    case: tuple[list[tuple[float, float]], list[float], list[float]],
) -> None:
    ring, lons, lats = case
    want = np.array([_held(ring, x, y) for x, y in zip(lons, lats, strict=True)])
    poly = Polygon(ring)
    assert poly.contains(lons, lats).tolist() == want.tolist()
    assert Area([poly]).contains(lons, lats).tolist() == want.tolist()

    pos = Positions(
        list(range(len(lons))), lons, lats, accuracy_m=[0.0] * len(lons), observed_at=NOW
    )
    index = PositionIndex(pos)
    expected = np.flatnonzero(want).tolist()
    assert index.query(poly).tolist() == expected
    assert index.count(poly) == len(expected)
    rows, states, box = index.classify(poly, LocationRule(), NOW, return_box=True)
    assert rows.tolist() == expected
    assert set(states.tolist()) <= {int(Location.INSIDE)}
    if expected:
        assert box is not None
        w, s, e, n = box
        assert all(w <= lons[r] <= e and s <= lats[r] <= n for r in expected)
    # The same after a round trip through pickle (a Dask worker receives an index so).
    assert pickle.loads(pickle.dumps(index)).query(poly).tolist() == expected

    areas = AreaIndex({"a": poly})
    got_rows, got_keys = areas.match(lons, lats)
    assert got_rows.tolist() == expected
    assert set(got_keys.tolist()) <= {"a"}
    assert [areas.match_one(x, y) == ("a",) for x, y in zip(lons, lats, strict=True)] == (
        want.tolist()
    )
    # Growing the margin never drops a point the polygon held.
    grown = poly.with_margin(1.0)
    assert (grown.contains(lons, lats) | ~want).all()


def test_a_fix_at_minus_180_on_an_edge_along_180() -> None:
    """The example: a fix written -180 on the edge of a square along 180, and its neighbours."""
    square = Polygon([(179.0, -16.0), (180.0, -16.0), (180.0, -17.0), (179.0, -17.0)])
    other = Polygon([(-180.0, -16.0), (-179.0, -16.0), (-179.0, -17.0), (-180.0, -17.0)])
    lons, lats = [-180.0, 180.0, -180.0, -179.5], [-16.5, -16.5, -17.5, -16.5]
    pos = Positions(["a", "b", "c", "d"], lons, lats, accuracy_m=[0.0] * 4, observed_at=NOW)
    index = PositionIndex(pos)
    assert index.query(square).tolist() == [0, 1]
    assert index.query(other).tolist() == [0, 1, 3]
    assert index.query(Area([square, other])).tolist() == [0, 1, 3]
    assert index.query(square, observed_before=NOW + dt.timedelta(seconds=1)).tolist() == [0, 1]
    rows, states = index.classify(square, LocationRule(max_age=dt.timedelta(hours=1)), NOW)
    assert rows.tolist() == [0, 1]
    assert states.tolist() == [int(Location.INSIDE)] * 2
    stale = NOW + dt.timedelta(hours=2)
    rows, states = index.classify(square, LocationRule(max_age=dt.timedelta(hours=1)), stale)
    assert rows.tolist() == [0, 1]
    assert states.tolist() == [int(Location.UNKNOWN)] * 2
    areas = AreaIndex({"east": square, "west": other})
    got_rows, got_keys = areas.match(lons, lats)
    assert list(zip(got_rows.tolist(), got_keys.tolist(), strict=True)) == [
        (0, "east"),
        (0, "west"),
        (1, "east"),
        (1, "west"),
        (3, "west"),
    ]
    assert areas.match_one(-180.0, -16.5) == ("east", "west")
