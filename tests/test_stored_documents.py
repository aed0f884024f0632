"""A delivery store whose stored CAP documents another program damaged, read by the Targeter.

A version's document the store holds that no longer reads is the store's fault
(:class:`~geotarget.errors.StoreCorrupt`), never :class:`~geotarget.errors.InvalidCAP`, which
blames the document the caller sent: the Targeter's own reads of stored versions (the walk of
a text-only Update to the area it keeps, the blast-radius guard's look at the area delivered)
say so as the stores' do.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
import shapely.geometry as sg

from geotarget import Circle, PositionIndex, Positions, pilot
from geotarget.alerts import Alert, MessageType, Reference
from geotarget.errors import InvalidCAP, StoreCorrupt
from geotarget.ledger import SQLiteLedger
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter

T0 = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.timezone.utc)
MSG = pilot.Message(headline="Explosionsrisk", description="Lämna.", area_description="X")


def _regions() -> RegionHierarchy:
    box = sg.box(17.7, 59.2, 18.3, 59.45)
    return RegionHierarchy(
        [
            RegionSet([Region(code="0180", name="S", level="municipality", geometry=box)]),
            RegionSet([Region(code="SE", name="Sverige", level="country", geometry=box)]),
        ],
        {"0180": "SE"},
    )


def _damaged(tmp_path: Path) -> tuple[SQLiteLedger, Alert]:
    """A store that delivered one Explosion, its stored documents then cut short."""
    alert = pilot.explosion(
        identifier="SE-POL-1",
        sender="polisen@polisen.se",
        sent=T0,
        area=Circle(18.06528, 59.3325, 500.0),
        sv=MSG,
        en=MSG,
        onset=T0,
        expires=T0 + dt.timedelta(hours=2),
    )
    path = tmp_path / "deliveries.db"
    store = SQLiteLedger(path)
    fixes = Positions(["p1"], [18.0653], [59.3325], observed_at=T0)
    got = Targeter(_regions(), nationwide(), ledger=store).target(alert, PositionIndex(fixes), T0)
    assert got.recipients.tolist() == ["p1"]
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE gt_incidents SET document = substr(document, 1, 200)")
        db.execute("UPDATE gt_versions SET document = substr(document, 1, 200)")
    db.close()
    return SQLiteLedger(path), alert


def test_a_text_only_update_of_a_damaged_version_is_the_stores_fault(tmp_path: Path) -> None:
    """The Update keeps the area of the version it names, which the store can no longer read."""
    import attrs

    store, alert = _damaged(tmp_path)
    try:
        update = attrs.evolve(
            alert,
            identifier="SE-POL-2",
            sent=T0 + dt.timedelta(minutes=5),
            msg_type=MessageType.UPDATE,
            references=[Reference(sender="polisen@polisen.se", identifier="SE-POL-1", sent=T0)],
            infos=[attrs.evolve(i, areas=[]) for i in alert.infos],
        )
        assert update.area is None and alert.area is not None
        fixes = Positions(["p1", "p2"], [18.0653, 18.0654], [59.3325, 59.3326], observed_at=T0)
        targeter = Targeter(_regions(), nationwide(), ledger=store)
        with pytest.raises(StoreCorrupt, match="SE-POL-1") as caught:
            targeter.target(update, PositionIndex(fixes), T0 + dt.timedelta(minutes=5))
        assert not isinstance(caught.value, InvalidCAP)
    finally:
        store.close()


def test_the_same_alert_sent_again_changed_over_a_damaged_version_is_the_stores_fault(
    tmp_path: Path,
) -> None:
    """A re-used identifier is compared with the stored version: that read is the store's."""
    import attrs

    store, alert = _damaged(tmp_path)
    try:
        changed = attrs.evolve(alert, note="sent again, changed")
        fixes = Positions(["p1"], [18.0653], [59.3325], observed_at=T0)
        targeter = Targeter(_regions(), nationwide(), ledger=store)
        with pytest.raises(StoreCorrupt, match="SE-POL-1") as caught:
            targeter.target(changed, PositionIndex(fixes), T0)
        assert not isinstance(caught.value, InvalidCAP)
    finally:
        store.close()
