"""Matcher probes with areas no other test uses, each against an oracle of its own.

The oracles use pyproj and shapely directly: ``Geod.inv`` for geodesic distances, and shapely
in an azimuthal-equidistant frame about the device for the union of an area's parts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely

from geotarget import Area, Circle, Location, LocationRule, PositionIndex, Positions

GEOD = pyproj.Geod(ellps="WGS84")
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def _states(area: Area, lon: list[float], lat: list[float], acc: list[float]) -> list[str]:
    positions = Positions(list(range(len(lon))), lon, lat, accuracy_m=acc, observed_at=NOW)
    rows, states = PositionIndex(positions).classify(area, LocationRule(), NOW)
    out = ["OUTSIDE"] * len(lon)
    for row, state in zip(rows.tolist(), states.tolist(), strict=True):
        out[row] = Location(state).name
    return out


def _room_in_union(circles: list[tuple[float, float, float]], lon: float, lat: float) -> float:
    """Metres from a point to the boundary of the circles' union (brute force, 4,096-gons).

    In the azimuthal-equidistant frame about the point, where its distance to every point is
    geodesic; each rim drawn through 4,096 exact rim points (inscribed: a lower bound).
    """
    crs = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84 +units=m")
    to_frame = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    az = np.linspace(0.0, 360.0, 4096, endpoint=False)
    rims = []
    for c_lon, c_lat, radius in circles:
        n = az.size
        x, y, _ = GEOD.fwd(np.full(n, c_lon), np.full(n, c_lat), az, np.full(n, radius))
        rims.append(shapely.Polygon(np.column_stack(to_frame.transform(x, y))))
    union = shapely.union_all(rims)
    assert shapely.covers(union, shapely.Point(0.0, 0.0))
    return float(shapely.distance(union.boundary, shapely.Point(0.0, 0.0)))


#: Five overlapping circles around a device, as (azimuth, distance from it, radius), metres.
_FIVE = [
    (158.7, 205.8, 126.5),
    (100.3, 188.6, 162.8),
    (-23.2, 102.5, 164.2),
    (-65.6, 111.6, 214.1),
    (-113.4, 260.8, 192.7),
]


@pytest.mark.parametrize("lat", [79.0, 80.0, 84.5, 89.0, -80.5, -88.0])
def test_circles_near_a_pole_hold_a_disk_together(lat: float) -> None:
    """Small circles above 80° of latitude are united like any others (they were left out).

    Five circles of 130-210 m overlap around a device whose 130 m disk lies 40 m within their
    union and within no single one: INSIDE at 79° and, before the fix, AMBIGUOUS from 80° on,
    though nothing there is near a pole or the antimeridian.
    """
    lon = 25.0
    circles = []
    for az, dist, radius in _FIVE:
        c_lon, c_lat, _ = GEOD.fwd(lon, lat, az, dist)
        circles.append((float(c_lon), float(c_lat), radius))
    acc = 130.0
    _, _, dist = GEOD.inv([c[0] for c in circles], [c[1] for c in circles], [lon] * 5, [lat] * 5)
    assert all(d + acc > c[2] for d, c in zip(dist, circles, strict=True))  # none holds it alone
    assert _room_in_union(circles, lon, lat) > acc + 30.0  # the union does, with room
    area = Area([Circle(*c) for c in circles])
    assert _states(area, [lon], [lat], [acc]) == ["INSIDE"]


def test_a_shapely_geometry_where_an_area_goes_is_named_as_shapelys_with_the_way_in() -> None:
    """A shapely geometry where an area goes is named as shapely's, with the way in."""
    import shapely.geometry as sg

    from geotarget.alerts import AlertArea
    from geotarget.errors import InvalidType

    box: Any = sg.box(17.0, 58.0, 19.0, 60.0)  # (given where the types say otherwise)
    at = dt.datetime(2024, 5, 20, tzinfo=dt.timezone.utc)
    index = PositionIndex(Positions([1], [18.0], [59.0], observed_at=[at]))
    calls: dict[str, Callable[[], object]] = {
        "query": lambda: index.query(box),
        "Area(parts)": lambda: Area([box]),
        "Area(one)": lambda: Area(box),
        "AlertArea": lambda: AlertArea.from_area("x", box),
    }
    for name, call in calls.items():
        with pytest.raises(InvalidType) as err:
            call()
        message = str(err.value)
        assert "(got shapely Polygon: convert it with geotarget.Polygon.from_shapely" in message, (
            name,
            message,
        )
    with pytest.raises(InvalidType, match=r"\(got list\)$"):
        index.query([box])  # type: ignore[arg-type]  # a plain type is named as it is


def test_geojson_from_shapely_mapping_is_read_as_geojson_text_is() -> None:
    """shapely.geometry.mapping() holds GeoJSON arrays as tuples: read as the lists of json."""
    import json

    import shapely.geometry as sg

    shapes = [
        sg.box(17.0, 58.0, 18.0, 59.0),
        sg.MultiPolygon([sg.box(17.0, 58.0, 18.0, 59.0), sg.box(18.5, 58.0, 19.0, 59.0)]),
        sg.Polygon(
            [(17, 58), (19, 58), (19, 60), (17, 60)], [[(17.5, 58.5), (18, 58.5), (18, 59)]]
        ),
        sg.GeometryCollection([sg.box(17.0, 58.0, 18.0, 59.0)]),
    ]
    for shape in shapes:
        mapping = sg.mapping(shape)
        assert Area.from_geojson(mapping) == Area.from_geojson(json.dumps(mapping))
        feature = {"type": "Feature", "properties": {}, "geometry": mapping}
        collection = {"type": "FeatureCollection", "features": (feature,)}
        assert Area.from_geojson(collection) == Area.from_geojson(json.dumps(collection))
