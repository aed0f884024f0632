"""An info block takes effect at its ``effective`` time, not at the onset of the event it warns of.

CAP 1.2 §3.2.2: ``effective`` is "the effective time of the information of the alert message",
``onset`` "the expected time of the beginning of the subject event". A warning effective at
14:55 of a hazard from 22:00 (as Israel's Home Front Command sent one, in the shared data) is
told from 14:55, while there is time to act; a block with an onset and no effective time still
starts at its onset. Oracle: the document's own times read with ElementTree.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import attrs
import pytest
from targeting_helpers import T0, make_alert, make_regions

from geotarget import Circle, PositionIndex, Positions, cap
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, Verdict

NS = "{urn:oasis:names:tc:emergency:cap:1.2}"


def test_a_real_advance_warning_is_in_effect_from_its_effective_time(shared_data: Path) -> None:
    path = shared_data / "cap" / "kde_il-488abaaf-cad5-4d2b-93b2-703016878453.xml"
    data = path.read_bytes()
    root = ET.fromstring(data)
    blocks = list(root.iter(NS + "info"))
    effective = [dt.datetime.fromisoformat(b.findtext(NS + "effective", "")) for b in blocks]
    onset = [dt.datetime.fromisoformat(b.findtext(NS + "onset", "")) for b in blocks]
    assert all(e < o for e, o in zip(effective, onset, strict=True))  # an advance warning
    alert = cap.loads_lenient(data).alert  # (its empty polygons are dropped, with a warning)
    assert [w[0] for w in alert.windows] == effective
    assert alert.onset == min(effective)
    between = min(effective) + (min(onset) - min(effective)) / 2
    assert alert.is_active(between)
    assert not alert.is_active(min(effective) - dt.timedelta(seconds=1))


@pytest.mark.parametrize(
    ("effective", "onset", "told"),
    [
        (T0, T0 + dt.timedelta(minutes=50), True),  # effective now, the event later: told now
        (None, T0 + dt.timedelta(minutes=50), False),  # an onset alone: from the onset
        (T0 + dt.timedelta(minutes=50), T0, False),  # effective later than the event's onset
    ],
)
def test_target_tells_a_warning_from_its_effective_time(
    effective: dt.datetime | None, onset: dt.datetime, told: bool
) -> None:
    base = make_alert("explosion", Circle(17.5, 59.5, 1000.0))
    infos = [attrs.evolve(i, effective=effective, onset=onset) for i in base.infos]
    alert = attrs.evolve(base, infos=infos)
    at = T0 + dt.timedelta(minutes=10)
    index = PositionIndex(Positions(["here"], [17.5], [59.5], accuracy_m=[5.0], observed_at=at))
    got = Targeter(make_regions(), nationwide("XX")).target(alert, index, at)
    if told:
        assert got.verdict is Verdict.DELIVER, got.reason
        assert got.recipients.tolist() == ["here"]
    else:
        assert got.verdict is Verdict.NOT_YET_ACTIVE, got.reason
        assert got.next_change == (effective or onset)
