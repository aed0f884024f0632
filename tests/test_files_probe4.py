"""A newcomer's files, fourth probe: position files as other tools and people write them.

Each test states the input a real system produced, what geotarget did with it and what it
should do; oracles are worked out by hand or with the csv module and plain Python.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from geotarget._position_files import read
from geotarget.errors import InvalidPositions

AT = dt.datetime(2024, 5, 20, tzinfo=dt.timezone.utc)
#: 2024-05-20T14:00:00Z in epoch seconds, worked out by hand (19 863 days * 86 400 + 50 400).
SECONDS = 19_863 * 86_400 + 14 * 3600


@pytest.mark.parametrize(
    ("digits", "unit", "divisor"),
    [
        (f"{SECONDS}000", "milliseconds", "1000"),  # JavaScript's Date.now(), Kafka, Spark
        (f"{SECONDS}000000", "microseconds", "1000000"),  # Postgres epoch * 1e6, Java Instant
        (f"{SECONDS}123456789", "nanoseconds", "1000000000"),  # pandas' int64 times
    ],
)
def test_epoch_times_in_a_finer_unit_name_that_unit_and_its_divisor(
    tmp_path: Path, digits: str, unit: str, divisor: str
) -> None:
    """Epoch microseconds and nanoseconds were told "milliseconds? divide by 1000".

    Following that advice left a microsecond time 1000 times too large, refused again; the
    refusal now names the unit the magnitude points to and the divisor that makes seconds.
    """
    assert int(digits) // int(divisor) == SECONDS  # the advice, followed, gives the instant
    path = tmp_path / "devices.csv"
    path.write_text(f"id,lon,lat,accuracy_m,observed_at\np1,18.0,59.3,5,{digits}\n", "utf-8")
    with pytest.raises(InvalidPositions) as err:
        read(path)
    text = str(err.value)
    assert "column observed_at" in text and repr(digits) in text
    assert f"{unit}? divide by {divisor} " in text
