"""Areas and the matcher probed with shapes no other test draws, against independent oracles.

Oracles: an exact point-in-polygon on rational numbers (orientation signs, no GEOS) for
polygons, ``pyproj.Geod.inv`` for circles.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyproj
import pytest

from geotarget import Circle, Polygon
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
