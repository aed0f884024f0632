"""A pickled or deep-copied ``Positions`` keeps its columns read-only (snapshot probe 12).

Its columns are read-only, so that a snapshot an index was built on cannot change under it.
Unpickled with protocols 2 to 4, or deep-copied (dask ships snapshots so), they came back
writeable: a copy could be changed in place under an index built on it.
"""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from typing import Any

import pytest

from geotarget import PositionIndex, Positions

AT = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.timezone.utc)
COLUMNS = ("ids", "lon", "lat", "accuracy_m", "observed_at", "tester")


def _positions() -> Positions:
    return Positions(["b", "a", "c"], [18.0, 18.1, 18.2], [59.3, 59.4, 59.5], observed_at=AT)


@pytest.mark.parametrize(
    "copied",
    [
        *(
            pytest.param(lambda p, k=k: pickle.loads(pickle.dumps(p, protocol=k)), id=f"pickle{k}")
            for k in range(2, pickle.HIGHEST_PROTOCOL + 1)
        ),
        pytest.param(copy.deepcopy, id="deepcopy"),
    ],
)
def test_a_copied_snapshot_s_columns_stay_read_only(copied: Any) -> None:
    p = _positions()
    q = copied(p)
    for name in COLUMNS:
        column = getattr(q, name)
        assert not column.flags.writeable, name
        with pytest.raises(ValueError, match="read-only"):
            column[0] = column[1]
        assert (column == getattr(p, name)).all(), name
    assert q.sorted_ids([0, 1, 2]).tolist() == ["a", "b", "c"]
    assert not copied(PositionIndex(p)).positions.lon.flags.writeable
