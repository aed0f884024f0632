"""numpy masked arrays: a masked entry is refused by name, never read by its hidden data.

numpy's ``asarray`` drops a mask and keeps the data under it, so a masked "no fix" was located
where that data pointed (a probe found it in ``RegionSet.locate``), and a masked id hashed into
a canary bucket by its hidden value. Every array entry point refuses masked entries; a masked
array with no entry masked reads as its data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import shapely

from geotarget import Area, Circle, PositionIndex, Positions
from geotarget.errors import InvalidCoordinates, InvalidInput, InvalidPositions
from geotarget.ledger import MemoryLedger
from geotarget.regions import Region, RegionSet
from geotarget.rollout import canary_buckets

NOW = dt.datetime(2025, 5, 1, 12, tzinfo=dt.timezone.utc)
LON = np.array([18.0, 18.01, 18.02])
LAT = np.array([59.3, 59.31, 59.32])


def _masked(values: Any, masked: int | None) -> np.ma.MaskedArray[Any, Any]:
    mask = np.zeros(len(values), dtype=bool)
    if masked is not None:
        mask[masked] = True
    return np.ma.masked_array(values, mask=mask)


def _positions(**given: Any) -> Positions:
    cols: dict[str, Any] = {
        "ids": [1, 2, 3],
        "lon": LON,
        "lat": LAT,
        "accuracy_m": np.array([10.0, 20.0, 30.0]),
        "observed_at": np.array([NOW.replace(tzinfo=None)] * 3, dtype="datetime64[us]"),
        "tester": np.array([False, True, False]),
    }
    cols.update(given)
    return Positions(
        cols["ids"],
        cols["lon"],
        cols["lat"],
        accuracy_m=cols["accuracy_m"],
        observed_at=cols["observed_at"],
        tester=cols["tester"],
    )


_SQUARE = Region(code="A", name="A", level="county", geometry=shapely.box(17.9, 59.2, 18.1, 59.4))

#: (field, error, call with one array replaced by a masked one)
CASES: list[tuple[str, type[InvalidInput], Callable[[Any], Any]]] = [
    ("ids", InvalidPositions, lambda m: _positions(ids=m)),
    ("lon", InvalidPositions, lambda m: _positions(lon=m)),
    ("lat", InvalidPositions, lambda m: _positions(lat=m)),
    ("accuracy_m", InvalidPositions, lambda m: _positions(accuracy_m=m)),
    ("observed_at", InvalidPositions, lambda m: _positions(observed_at=m)),
    ("tester", InvalidPositions, lambda m: _positions(tester=m)),
    ("lon", InvalidCoordinates, lambda m: RegionSet([_SQUARE]).locate(m, LAT)),
    ("lat", InvalidCoordinates, lambda m: Area([Circle(18.0, 59.3, 5000.0)]).contains(LON, m)),
    ("device_ids", InvalidInput, lambda m: canary_buckets(m, kind="explosion")),
    ("device_ids", InvalidInput, lambda m: MemoryLedger().delivered("s/i", m)),
]

#: The field's plain values, masked in the cases above.
VALUES: dict[str, Any] = {
    "ids": np.array([1, 2, 3]),
    "lon": LON,
    "lat": LAT,
    "accuracy_m": np.array([10.0, 20.0, 30.0]),
    "observed_at": np.array([NOW.replace(tzinfo=None)] * 3, dtype="datetime64[us]"),
    "tester": np.array([False, True, False]),
    "device_ids": np.array([1, 2, 3]),
}


@pytest.mark.parametrize(("field", "error", "call"), CASES)
def test_a_masked_entry_is_refused_naming_the_field(
    field: str, error: type[InvalidInput], call: Callable[[Any], Any]
) -> None:
    with pytest.raises(
        error, match=rf"{field} must have no masked entries.*the first at {field}\[1\]"
    ):
        call(_masked(VALUES[field], 1))


@pytest.mark.parametrize(("field", "error", "call"), CASES)
def test_a_masked_array_without_masked_entries_reads_as_its_data(
    field: str, error: type[InvalidInput], call: Callable[[Any], Any]
) -> None:
    got, want = call(_masked(VALUES[field], None)), call(VALUES[field])
    if isinstance(got, Positions):
        index = PositionIndex(got)
        assert (
            index.query(Circle(18.0, 59.3, 5000.0)).tolist()
            == PositionIndex(want).query(Circle(18.0, 59.3, 5000.0)).tolist()
        )
        assert got.ids.tolist() == want.ids.tolist()
    else:
        assert np.asarray(got).tolist() == np.asarray(want).tolist()
