"""A bool or a numeric string among numbers is refused wherever geotarget reads numbers.

numpy reads ``[True, 18.0]`` as ``[1.0, 18.0]`` and shapely reads GeoJSON's ``"18.0"`` as
18.0, so without a check a device, a vertex or a region moves to longitude 1 without a word:
a silent wrong answer. Each call below is given such a list where numbers belong and must
raise geotarget's own error; the same call with the bool replaced by a number must work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from geotarget import Area, Circle, Polygon, Positions, RegionSet, sweden
from geotarget.errors import GeotargetError
from geotarget.matcher import AreaIndex

T0 = dt.datetime(2024, 5, 20, 12, tzinfo=dt.timezone.utc)
CIRCLE = Circle(18.0, 59.0, 1000.0)
RING = [[18.0, 59.0], [18.1, 59.0], [18.1, 59.1]]


def _feature_collection(first: list[Any]) -> dict[str, Any]:
    ring = [first, [18.1, 59.0], [18.1, 59.1], [18.0, 59.0]]
    geometry = {"type": "Polygon", "coordinates": [ring]}
    feature = {"type": "Feature", "properties": {"code": "A"}, "geometry": geometry}
    return {"type": "FeatureCollection", "features": [feature]}


#: name → call(first value): ``18.0`` must work, ``True`` (or ``"18.0"``) must raise.
CALLS: dict[str, Callable[[Any], object]] = {
    "Positions lon": lambda v: Positions(["a", "b"], [v, 18.0], [59.0, 59.0], observed_at=T0),
    "Positions accuracy_m": lambda v: Positions(
        ["a", "b"], [18.0, 18.0], [59.0, 59.0], accuracy_m=[v, 5.0], observed_at=T0
    ),
    "Circle.contains lon": lambda v: CIRCLE.contains([v, 18.0], [59.0, 59.0]),
    "Area.contains lat": lambda v: Area([CIRCLE]).contains([18.0, 18.0], [v, 59.0]),
    "Polygon ring": lambda v: Polygon([[v, 59.0], *RING[1:]]),
    "Polygon.repair ring": lambda v: Polygon.repair([[v, 59.0], *RING[1:]]),
    "Area.from_geojson": lambda v: Area.from_geojson(
        {"type": "Polygon", "coordinates": [[[v, 59.0], *RING[1:], [v, 59.0]]]}
    ),
    "RegionSet.from_geojson": lambda v: RegionSet.from_geojson(
        _feature_collection([v, 59.0]), code_property="code", level="x"
    ),
    "RegionSet.locate lon": lambda v: sweden.counties().locate([v, 18.0], [59.3, 59.3]),
    "AreaIndex.match lon": lambda v: AreaIndex({"a": Area([CIRCLE])}).match(
        [v, 18.0], [59.0, 59.0]
    ),
}


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("bad", [True, False], ids=["True", "False"])
def test_a_bool_among_numbers_is_refused(name: str, bad: bool) -> None:
    CALLS[name](18.0)  # the same call with a number works
    with pytest.raises(GeotargetError, match=r"bool|true or false"):
        CALLS[name](bad)


def test_region_coordinates_as_text_are_refused() -> None:
    """GeoJSON's ``["18.0", "59.0"]`` is text, not a position (shapely would read it)."""
    with pytest.raises(GeotargetError, match=r"features\[0\]\.geometry .* must be numbers"):
        RegionSet.from_geojson(_feature_collection(["18.0", 59.0]), code_property="code", level="x")


@pytest.mark.parametrize(
    "ids",
    [np.array([2**63, 1], dtype=np.uint64), [2**70, 1], np.array([2**64 - 1, 7], dtype=np.uint64)],
    ids=["uint64 2**63", "int 2**70", "uint64 max"],
)
def test_ids_beyond_int64_are_refused_not_wrapped(ids: Any) -> None:
    """Refused, not wrapped: numpy casts uint64 2**63 to -2**63, another device's id."""
    with pytest.raises(GeotargetError, match=r"ids must .*(2\*\*63 - 1|64-bit).* row 0"):
        Positions(ids, [18.0, 18.0], [59.0, 59.0], observed_at=T0)
    assert Positions(np.array([2**63 - 1, 1], dtype=np.uint64), [18.0] * 2, [59.0] * 2,
                     observed_at=T0).ids.tolist() == [2**63 - 1, 1]  # fmt: skip


@pytest.mark.parametrize(
    "call",
    [
        lambda lon: Positions(["a"], lon, np.array([59.0], dtype=lon.dtype), observed_at=T0),
        lambda lon: CIRCLE.contains(lon, np.array([59.0], dtype=lon.dtype)),
        lambda lon: sweden.counties().locate(lon, np.array([59.3], dtype=lon.dtype)),
    ],
    ids=["Positions", "Circle.contains", "RegionSet.locate"],
)
def test_float16_degrees_are_refused(call: Callable[[Any], object]) -> None:
    """float16 holds 18.06528 as 18.0625: 200 m off. float32 is kept (0.1 m here)."""
    call(np.array([18.06528], dtype=np.float32))
    with pytest.raises(GeotargetError, match="not float16"):
        call(np.array([18.06528], dtype=np.float16))


@pytest.mark.parametrize(
    ("dtype", "said"),
    [
        ("timedelta64[s]", "durations, dtype timedelta64[s]"),
        ("datetime64[s]", "datetimes, dtype datetime64[s]"),
        ("complex128", "complex numbers, dtype complex128"),
        ("V1", "values, dtype |V1"),
    ],
)
def test_degrees_of_a_dtype_that_is_no_number_name_it_once(dtype: str, said: str) -> None:
    """The refusal names the dtype once ("got dtype timedelta64[s], dtype timedelta64[s]")."""
    from geotarget.errors import InvalidType

    lon = np.zeros(1, dtype=dtype)
    with pytest.raises(InvalidType) as err:
        Circle(18.0, 59.0, 10.0).contains(lon, np.array([59.0]))
    assert str(err.value) == f"lon must be numbers in degrees (got {said})"
