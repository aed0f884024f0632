"""``_index.within.grown``: parts grown by at most a slack, never more (an independent oracle).

A block naming no kind may reach past the kind's areas by ``Targeter.border_slack_m``
(docs/who_is_told.rst): proven against the kind's parts grown by it. Growing them by more
would let a block reaching farther through, so every point of a grown polygon must lie within
the slack of the polygon, measured by pyproj alone: each vertex of the grown ring is the centre
of an azimuthal-equidistant frame (distances from the centre are geodesic there), the
original ring densified to 1e-5° is projected into it, and shapely measures the distance.
"""

from __future__ import annotations

import numpy as np
import pyproj
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import Circle, Polygon
from geotarget._index.within import first_not_within, grown


def _distance_m(lon: float, lat: float, ring: np.ndarray) -> float:
    """Geodesic metres from (lon, lat) to the polygon of ``ring`` (0 inside), by pyproj."""
    to = pyproj.Transformer.from_crs(
        "EPSG:4326", pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84"),
        always_xy=True,
    )  # fmt: skip
    dense = shapely.get_coordinates(shapely.segmentize(shapely.polygons(ring), 1e-5))
    x, y = to.transform(dense[:, 0], dense[:, 1])
    return float(shapely.distance(shapely.Point(0.0, 0.0), shapely.polygons(np.c_[x, y])))


@settings(max_examples=15, deadline=None)
@given(
    st.floats(-170.0, 170.0),
    st.floats(-75.0, 75.0),
    st.floats(0.001, 0.05),
    st.floats(0.001, 0.05),
    st.floats(0.5, 500.0),
)
def test_a_grown_polygon_lies_within_the_slack_of_the_polygon(
    lon: float, lat: float, w: float, h: float, slack: float
) -> None:
    ring = np.array([(lon, lat), (lon + w, lat), (lon + w / 2, lat + h), (lon, lat)])
    (out,) = grown([Polygon(ring)], slack)
    assert isinstance(out, Polygon) and out != Polygon(ring)
    vertices = np.array(out.exterior)
    far = max(
        _distance_m(float(x), float(y), ring) for x, y in vertices[:: max(1, len(vertices) // 6)]
    )
    assert far <= slack + 1e-3, (far, slack)
    # And it grew: the farthest vertex is most of the slack away (the buffer is conservative
    # by the spread of the latitudes' scale only).
    assert far >= 0.9 * slack, (far, slack)
    assert first_not_within([Polygon(ring)], [out]) is None


def test_a_grown_circle_holds_a_circle_reaching_past_it_by_the_slack_only() -> None:
    """Circles: the reach grows by the slack, exactly (Geod.inv between the centres)."""
    geod = pyproj.Geod(ellps="WGS84")
    big = Circle(18.0, 59.0, 1000.0)
    lon, lat, _ = geod.fwd(18.0, 59.0, 45.0, 300.0)
    for radius, slack, within in ((715.0, 20.0, True), (725.0, 20.0, False)):
        reach = 300.0 + radius - 1000.0  # past the big circle's rim
        assert (reach <= slack) is within
        got = first_not_within([Circle(lon, lat, radius)], grown([big], slack))
        assert (got is None) is within


def test_a_polygon_reaching_a_pole_or_the_antimeridian_is_left_as_it_is() -> None:
    for ring in ([(179.9999, 0.0), (179.99999, 0.0), (179.9999, 0.01)],
                 [(0.0, 89.9999), (0.01, 89.9999), (0.0, 89.99999)]):  # fmt: skip
        part = Polygon(ring)
        assert grown([part], 25.0) == [part]
