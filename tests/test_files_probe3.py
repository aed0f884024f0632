"""A newcomer's files, third probe: tables, exports and answers as other tools hand them over.

Each test states the input a real system produced, what geotarget did with it and what it
should do; oracles read the files with the csv and json modules, pandas, pyproj and shapely.
"""

from __future__ import annotations

import datetime as dt

import pytest

from geotarget import Positions
from geotarget.errors import InvalidPositions

NOW = dt.datetime(2024, 5, 20, 14, 0, tzinfo=dt.timezone.utc)


def test_a_one_column_table_is_no_column_of_ids() -> None:
    """``df[["device"]]`` (a DataFrame, the double-bracket slip) is refused as ids.

    A DataFrame iterates over its column labels: a one-row table gave a snapshot whose one
    device's id was the column's name, ``"device"``, without a word.
    """
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"device": ["0701234567"], "lon": [18.06], "lat": [59.33]})
    with pytest.raises(InvalidPositions, match=r"ids must be one-dimensional.*DataFrame.*\(1, 1\)"):
        Positions(frame[["device"]], frame["lon"], frame["lat"], observed_at=NOW)
    wide = pd.DataFrame({"id": ["a", "b"], "x": [1, 2]})
    with pytest.raises(InvalidPositions, match=r"DataFrame of shape \(2, 2\)"):
        Positions(wide, [18.0, 18.1], [59.0, 59.1], observed_at=NOW)
    # One column of it is read as its values.
    assert Positions(frame["device"], frame["lon"], frame["lat"], observed_at=NOW).ids.tolist() == [
        "0701234567"
    ]
