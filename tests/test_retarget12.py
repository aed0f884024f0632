"""``Targeter.retarget`` with a snapshot built only when needed (probe 12 follow-up).

The reference service merges each device's newest fix over its kept batches (a second or two
over a million fixes) only for an incident retarget targets. Retarget now also targets a
delivered version whose reach a phase or info block widened, so the service cannot know
beforehand: it passes a function building the snapshot, called only when an incident is
targeted. And a version admitted before its onset and delivered by retarget at the onset is
not targeted again for that onset: before, the next call counted the onset as a widening
(since the admission) and targeted it again over whatever snapshot it was given.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from geotarget import Circle, PositionIndex, Positions, pilot, sweden
from geotarget.errors import InvalidType
from geotarget.targeting import Targeter, Verdict

T0 = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.timezone.utc)
ONSET = T0 + dt.timedelta(minutes=10)
CENTRE = (18.06528, 59.3325)
MSG = pilot.Message(headline="Explosionsrisk", description="Lämna.", area_description="X")


def _alert() -> Any:
    return pilot.explosion(
        identifier="SE-POL-ONSET",
        sender="polisen@polisen.se",
        sent=T0,
        area=Circle(*CENTRE, 500.0),
        sv=MSG,
        en=MSG,
        onset=ONSET,
        expires=T0 + dt.timedelta(hours=2),
    )


def _index(n: int) -> PositionIndex:
    lon = [CENTRE[0] + 0.00002 * i for i in range(n)]
    return PositionIndex(
        Positions([f"d{i}" for i in range(n)], lon, [CENTRE[1]] * n, observed_at=T0)
    )


def test_the_snapshot_is_built_only_when_an_incident_is_targeted() -> None:
    t = Targeter(sweden.hierarchy(), sweden.pilot_policy())
    built: list[dt.datetime] = []

    def snapshot_at(at: dt.datetime) -> Any:
        def build() -> PositionIndex:
            built.append(at)
            return _index(20)

        return build

    assert t.retarget(snapshot_at(T0), T0) == []  # nothing live: nothing built
    assert t.target(_alert(), _index(20), T0).verdict is Verdict.NOT_YET_ACTIVE
    assert t.retarget(snapshot_at(T0), T0 + dt.timedelta(minutes=1)) == []  # not yet
    assert built == []
    (came,) = t.retarget(snapshot_at(ONSET), ONSET)
    assert came.verdict is Verdict.DELIVER and came.recipients.size == 20
    assert built == [ONSET]
    # Delivered at the onset: the onset is not a widening of it any more.
    later = ONSET + dt.timedelta(seconds=5)
    assert t.retarget(snapshot_at(later), later) == []
    assert built == [ONSET]


def test_a_function_returning_no_snapshot_is_refused_by_type() -> None:
    t = Targeter(sweden.hierarchy(), sweden.pilot_policy())
    assert t.target(_alert(), _index(3), T0).verdict is Verdict.NOT_YET_ACTIVE
    with pytest.raises(InvalidType, match=r"index\(\) must return a PositionIndex \(got list\)"):
        t.retarget(lambda: [], ONSET)  # type: ignore[arg-type, return-value]
    with pytest.raises(InvalidType, match=r"index must be a PositionIndex or a function"):
        t.retarget("index", ONSET)  # type: ignore[arg-type]
