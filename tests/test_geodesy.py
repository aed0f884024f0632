"""The exact geodesic distance kernel against pyproj's own scalar ``Geod.inv``, one pair at a time."""

from __future__ import annotations

import numpy as np
import pyproj
from hypothesis import given
from hypothesis import strategies as st

from geotarget._geodesy import inv_distance

_GEOD = pyproj.Geod(ellps="WGS84")
_LON = st.floats(-180.0, 180.0, allow_nan=False)
_LAT = st.floats(-90.0, 90.0, allow_nan=False)


@given(
    _LON,
    _LAT,
    st.lists(st.tuples(_LON, _LAT), min_size=0, max_size=5),
    st.sampled_from(["float", "0-d"]),
)
def test_one_centre_and_a_row_of_points_equal_scalar_calls(
    lon0: float, lat0: float, points: list[tuple[float, float]], centre: str
) -> None:
    """Any number of points (one included, the circle kernel's common band), each exact."""
    lon = np.array([p[0] for p in points], dtype=np.float64)
    lat = np.array([p[1] for p in points], dtype=np.float64)
    before = (lon.copy(), lat.copy())
    c_lon = lon0 if centre == "float" else np.array(lon0)
    c_lat = lat0 if centre == "float" else np.array(lat0)
    got = inv_distance(c_lon, c_lat, lon, lat)
    want = [_GEOD.inv(lon0, lat0, x, y)[2] for x, y in points]
    assert got.shape == (len(points),)
    assert got.tolist() == want
    assert np.array_equal(lon, before[0]) and np.array_equal(lat, before[1])  # inputs untouched


@given(_LON, _LAT, _LON, _LAT)
def test_broadcast_shapes_are_kept(lon0: float, lat0: float, lon1: float, lat1: float) -> None:
    """Arrays of centres and points broadcast, and the answer has the broadcast shape."""
    centres = np.array([[lon0], [lon1]])
    got = inv_distance(centres, np.array([[lat0], [lat1]]), np.array([lon1, lon0]), lat1)
    assert got.shape == (2, 2)
    want = [
        [_GEOD.inv(c, cl, x, lat1)[2] for x in (lon1, lon0)]
        for c, cl in ((lon0, lat0), (lon1, lat1))
    ]
    assert got.tolist() == want
