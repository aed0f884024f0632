"""Delivery stores: one suite over memory, SQLite (with and without RETURNING) and PostgreSQL."""

from __future__ import annotations

import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from conftest import private_postgres
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from geotarget import Circle, InvalidInput, InvalidType, cap, pilot
from geotarget.alerts import Alert, MessageType, Reference, Status
from geotarget.errors import StoreUnavailable
from geotarget.ledger import (
    ClaimStatus,
    DeliveryKind,
    DeliveryLedger,
    IncidentState,
    MemoryLedger,
    PostgresLedger,
    SQLiteLedger,
    Transition,
)

T0 = datetime(2024, 4, 15, 10, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)
BACKENDS = ["memory", "sqlite", "postgres"]
Opener = Callable[[], Any]


@pytest.fixture(params=BACKENDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens a store of each backend; every call opens another handle on the same data."""
    kind = request.param
    opened: list[Any] = []
    memory = MemoryLedger()
    dsn = request.getfixturevalue("postgres_dsn") if kind == "postgres" else ""

    def open_store() -> Any:
        if kind == "memory":
            return memory
        if kind == "postgres":
            store: Any = PostgresLedger(dsn)
        else:
            store = SQLiteLedger(tmp_path / "ledger.db")
        opened.append(store)
        return store

    yield open_store
    for s in opened:
        s.close()


@pytest.fixture
def store(opener: Opener) -> Any:
    """A fresh store of each backend."""
    return opener()


def _alert(identifier: str = "K1", description: str = "x", **kw: Any) -> Alert:
    msg = pilot.Message(headline="x", description=description, area_description="x")
    base = pilot.explosion(
        identifier=identifier,
        sender="polisen@polisen.se",
        sent=T0,
        area=Circle(18.06, 59.33, 500.0),
        sv=msg,
        en=msg,
        onset=T0,
        expires=T0 + timedelta(hours=2),
    )
    return attrs.evolve(base, **kw) if kw else base


def _follow(kind: MessageType, identifier: str, ref: str, minutes: int, **kw: Any) -> Alert:
    return _alert(
        identifier,
        msg_type=kind,
        sent=T0 + minutes * MIN,
        references=(Reference(sender="polisen@polisen.se", identifier=ref, sent=T0),),
        **kw,
    )


V1 = "polisen@polisen.se/K1"
INC = V1


# -- claims ----------------------------------------------------------------------------------


def test_every_store_is_a_delivery_ledger(store: Any) -> None:
    """Each backend implements the DeliveryLedger protocol."""
    assert isinstance(store, DeliveryLedger)


def test_claim_returns_only_new_devices_with_positions_and_keys(store: Any) -> None:
    """A second claim returns only devices not yet claimed, at their first position in the batch."""
    got = store.claim("inc", ["b", "a", "7", "a"], version="v1", at=T0)
    assert got.status is ClaimStatus.CLAIMED
    assert got.positions.tolist() == [0, 1, 2]
    assert got.devices.tolist() == ["b", "a", "7"]
    assert got.keys().tolist() == ["inc v1 b", "inc v1 a", "inc v1 7"]
    assert got.lease_until == T0 + timedelta(seconds=60)
    again = store.claim("inc", ["c", "a", 7, "c", "d"], version="v1", at=T0)
    assert again.positions.tolist() == [0, 4]
    assert again.devices.tolist() == ["c", "d"]
    # claim order: by claim, and within one claim integer ids first, then strings
    assert store.recipients("inc").tolist() == ["7", "a", "b", "c", "d"]


def test_claims_are_immutable(store: Any) -> None:
    """A claim's result (and a confirmation's) cannot be changed: no attribute, no array."""
    got = store.claim("inc", ["b", "a"], version="v1", at=T0)
    for name in ("incident", "version", "status", "positions", "lease_until", "_devices"):
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(got, name, None)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            delattr(got, name)
    for array in (got.positions, got.devices):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = array[1]
    assert got.devices.tolist() == ["b", "a"]
    assert got.keys().tolist() == ["inc v1 b", "inc v1 a"]
    confirmed = store.confirm(got.keys(), at=T0)
    for array in (confirmed.confirmed, confirmed.already, confirmed.unknown):
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 0
    assert confirmed.confirmed.tolist() == [0, 1]
    back = pickle.loads(pickle.dumps(got))  # (a service may hand claims to another process)
    assert repr(back) == repr(got)
    assert back.keys().tolist() == got.keys().tolist()
    assert back.lease_until == got.lease_until
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        back.status = ClaimStatus.CLAIMED
    with pytest.raises(ValueError, match="read-only"):
        back.positions[0] = 1


def test_device_identity_is_canonical_text(store: Any) -> None:
    """1 and "1" are one device across calls; "007" and 7 are two; -5 and "-5" are one."""
    assert store.claim("inc", [1, -5], version="v", at=T0).devices.tolist() == ["1", "-5"]
    got = store.claim("inc", np.array(["1", "007", "-5", "-0", "+7", "7"]), version="v", at=T0)
    assert got.devices.tolist() == ["007", "-0", "+7", "7"]
    assert store.claim(
        "inc", np.array([7, 8], dtype=np.int64), version="v", at=T0
    ).ids().tolist() == [8]
    assert store.delivered("inc", ["1", 1, "8", 9, "007"]).tolist() == [
        True,
        True,
        True,
        False,
        True,
    ]


def test_longer_string_ids_after_shorter_ones_stay_whole(store: Any) -> None:
    """A long id claimed after short ones is remembered whole, not truncated."""
    store.claim("inc", ["d0"], version="v", at=T0)
    assert store.claim("inc", ["walker"], version="v", at=T0).devices.tolist() == ["walker"]
    assert store.claim("inc", ["walker", "wa"], version="v", at=T0).devices.tolist() == ["wa"]


def test_incidents_are_independent(store: Any) -> None:
    """Claiming for one incident does not claim for another."""
    store.claim("one", ["a"], version="v", at=T0)
    assert store.claim("two", ["a"], version="v", at=T0).devices.tolist() == ["a"]
    assert store.delivered("one", ["a", "b"]).tolist() == [True, False]


def test_the_removed_alert_id_form_is_a_type_error(store: Any) -> None:
    """claim(alert_id=) was removed in 0.2 (it returned an array instead of Claims)."""
    with pytest.raises(TypeError, match="alert_id"):
        store.claim("inc", np.array([5, 6]), alert_id="v1", at=T0)
    assert store.recipients("inc").tolist() == []


def test_bad_arguments_are_rejected_before_anything_is_recorded(store: Any) -> None:
    """Bad ids, incidents, versions, times and leases raise precise errors and record nothing."""
    with pytest.raises(InvalidType, match=r"device_ids\[1\] must be a str or an int"):
        store.claim("inc", ["a", 1.5], version="v", at=T0)
    with pytest.raises(InvalidType, match=r"device_ids\[0\] must be a str or an int \(got True\)"):
        store.claim("inc", [True], version="v", at=T0)
    with pytest.raises(InvalidInput, match=r"device_ids\[1\] must be a non-empty str"):
        store.claim("inc", np.array(["a", ""]), version="v", at=T0)
    with pytest.raises(InvalidInput, match="signed 64-bit"):
        store.claim("inc", [2**64], version="v", at=T0)
    # A NUL in a text id: SQLite cut the text there ("b\x00c" was stored, and told again, as
    # "b"), numpy drops trailing ones, PostgreSQL refuses them: refused by every store alike.
    for ids in (["a", "b\x00c"], np.array(["a", "b\x00c"]), ["a", "b\x00"], ["a", 7, "\x00"]):
        row = len(ids) - 1
        with pytest.raises(InvalidInput, match=rf"device_ids\[{row}\] must not contain NUL"):
            store.claim("inc", ids, version="v", at=T0)
    # A lone surrogate is no Unicode text: PostgreSQL's driver raised UnicodeEncodeError.
    for ids in (["a", "b\ud800c"], np.array(["a", "\udfff"]), ["a", 7, "x\udc80"]):
        row = len(ids) - 1
        with pytest.raises(InvalidInput, match=rf"device_ids\[{row}\] must be valid Unicode"):
            store.claim("inc", ids, version="v", at=T0)
    with pytest.raises(InvalidInput, match="incident must be a non-empty str without whitespace"):
        store.claim("in c", ["a"], version="v", at=T0)
    # Nor in an incident, a version or a key (SQLite's driver raised UnicodeEncodeError).
    surrogate = "without whitespace, NUL or lone surrogate"
    with pytest.raises(InvalidInput, match=rf"incident must be a non-empty str {surrogate}"):
        store.claim("in\ud800c", ["a"], version="v", at=T0)
    with pytest.raises(InvalidInput, match=rf"version must be a non-empty str {surrogate}"):
        store.claim("inc", ["a"], version="v\udc00", at=T0)
    with pytest.raises(InvalidInput, match=rf"incident must be a non-empty str {surrogate}"):
        store.incident("in\ud800c")
    for keys in (["inc v a", "in\ud800c v a"], ["inc v\udfff a"], ["inc v a\ud800"]):
        with pytest.raises(InvalidInput, match=rf"keys\[{len(keys) - 1}\] .* lone surrogate"):
            store.confirm(keys, at=T0)
    with pytest.raises(InvalidInput, match="version must be a non-empty str"):
        store.claim("inc", ["a"], version="", at=T0)
    with pytest.raises(InvalidInput, match="timezone-aware"):
        store.claim("inc", ["a"], version="v", at=datetime(2024, 4, 15))
    with pytest.raises(InvalidInput, match="lease must be a timedelta > 0"):
        store.claim("inc", ["a"], version="v", at=T0, lease=timedelta(0))
    with pytest.raises(InvalidType, match="not one str"):
        store.claim("inc", "abc", version="v", at=T0)
    for one in (5, 5.5, None, T0):  # TypeError from list() before
        with pytest.raises(InvalidType, match=f"not one {type(one).__name__}"):
            store.claim("inc", one, version="v", at=T0)
        with pytest.raises(
            InvalidInput, match=f"keys must be a sequence .* not one {type(one).__name__}"
        ):
            store.confirm(one, at=T0)
    assert store.recipients("inc").tolist() == []


# -- confirmations and redelivery --------------------------------------------------------------


def test_confirm_is_once_and_reports_no_ops_and_unknown_keys(store: Any) -> None:
    """A key is confirmed once; again is a no-op; a key of another version or device is unknown."""
    keys = store.claim("inc", ["a", "b"], version="v1", at=T0).keys()
    got = store.confirm([keys[0], keys[0], "inc v2 b", "inc v1 zz", "other v1 a"], at=T0)
    assert got.confirmed.tolist() == [0]
    assert got.already.tolist() == []
    assert got.unknown.tolist() == [2, 3, 4]
    again = store.confirm(keys, at=T0)
    assert (again.confirmed.tolist(), again.already.tolist()) == ([1], [0])
    with pytest.raises(InvalidInput, match=r"keys\[0\] must be a delivery key"):
        store.confirm(["no-spaces"], at=T0)


def test_confirm_devices_by_incident(store: Any) -> None:
    """Devices of one incident can be confirmed without keys; ints and strs are one device."""
    store.claim("inc", [1, 2, 3], version="v1", at=T0)
    got = store.confirm_devices("inc", ["1", 2, 9, 1], at=T0)
    assert (got.confirmed.tolist(), got.unknown.tolist()) == ([0, 1], [2])
    assert store.confirm_devices("inc", [1], at=T0).already.tolist() == [0]


def test_unconfirmed_claims_come_back_with_the_same_key_once_their_lease_runs_out(
    store: Any,
) -> None:
    """Redelivery offers exactly the pending claims past their lease, and renews the lease."""
    first = store.claim("inc", ["a", "b", "c"], version="v1", at=T0, lease=5 * MIN)
    store.confirm(first.keys()[:1], at=T0)
    assert store.due(T0 + 4 * MIN) == []
    assert store.redeliver(T0 + 4 * MIN) == []
    (due,) = store.due(T0 + 5 * MIN)
    assert due.keys().tolist() == ["inc v1 b", "inc v1 c"]
    (back,) = store.redeliver(T0 + 5 * MIN, lease=2 * MIN)
    assert sorted(back.keys().tolist()) == ["inc v1 b", "inc v1 c"]
    assert back.lease_until == T0 + 7 * MIN
    assert store.redeliver(T0 + 6 * MIN) == []  # the lease was renewed: not offered twice
    store.confirm(["inc v1 b"], at=T0 + 6 * MIN)
    (last,) = store.redeliver(T0 + 8 * MIN, limit=5)
    assert last.devices.tolist() == ["c"]


def test_redeliver_limit_bounds_the_batch(store: Any) -> None:
    """A limit returns at most that many deliveries; the rest stay due."""
    store.claim("inc", [f"d{i}" for i in range(10)], version="v", at=T0, lease=MIN)
    got = store.redeliver(T0 + MIN, limit=4)
    assert sum(len(c) for c in got) == 4
    rest = store.redeliver(T0 + MIN)
    assert sum(len(c) for c in rest) == 6
    assert {d for c in got + rest for d in c.devices.tolist()} == {f"d{i}" for i in range(10)}
    with pytest.raises(InvalidInput, match="limit must be an int >= 1"):
        store.redeliver(T0, limit=0)


@pytest.mark.parametrize("limit", [np.int64(4), np.uint8(4), np.intp(4)])
def test_a_numpy_integer_limit_is_an_int_to_every_store(store: Any, limit: Any) -> None:
    """A limit counted with numpy (``np.int64(4)``) was refused as "must be an int"."""
    store.claim("inc", [f"d{i}" for i in range(10)], version="v", at=T0, lease=MIN)
    assert sum(len(c) for c in store.due(T0 + MIN, limit=limit)) == 4
    assert sum(len(c) for c in store.redeliver(T0 + MIN, limit=limit)) == 4
    for bad in (np.int64(0), np.float64(4.0), np.bool_(True)):
        with pytest.raises(InvalidInput, match=r"limit must be an int >= 1 and <= 2\*\*63 - 1"):
            store.redeliver(T0 + MIN, limit=bad)


@pytest.mark.parametrize("limit", [2**63, 10**30])
def test_a_limit_beyond_a_64_bit_integer_is_refused_alike_by_every_store(
    store: Any, limit: int
) -> None:
    """Not an OverflowError from SQLite or a StoreError from PostgreSQL: the argument's fault."""
    store.claim("inc", ["a"], version="v", at=T0, lease=MIN)
    for call in (store.redeliver, store.due):
        with pytest.raises(InvalidInput, match=r"limit must be an int >= 1 and <= 2\*\*63 - 1"):
            call(T0 + MIN, limit=limit)
    assert [len(c) for c in store.redeliver(T0 + MIN, limit=2**63 - 1)] == [1]


@pytest.mark.parametrize("kind", ["alert", 0, None, 1])
def test_confirm_devices_refuses_a_kind_that_is_not_a_delivery_kind(store: Any, kind: Any) -> None:
    """A wrong ``kind`` was read as RETRACTION: the alert delivery stayed unconfirmed."""
    store.claim("inc", ["a"], version="v", at=T0, lease=MIN)
    with pytest.raises(InvalidType, match="kind must be a DeliveryKind"):
        store.confirm_devices("inc", ["a"], at=T0, kind=kind)
    assert store.confirm_devices("inc", ["a"], at=T0).confirmed.tolist() == [0]


# -- lifecycle in the store -----------------------------------------------------------------


def test_retract_cancels_claims_everywhere_and_retracts_from_every_claimed_device(
    store: Any,
) -> None:
    """After retract, claims are refused; every claimed device, pending or not, gets a retraction."""
    got = store.claim("inc", ["a", "b"], version="v1", at=T0, lease=MIN)
    store.confirm(got.keys()[:1], at=T0)
    back = store.retract("inc", version="c1", at=T0 + MIN)
    assert back.kind is DeliveryKind.RETRACTION
    assert back.devices.tolist() == ["a", "b"]
    assert back.keys().tolist() == ["inc c1 a", "inc c1 b"]
    refused = store.claim("inc", ["c"], version="v1", at=T0 + MIN)
    assert (refused.status, len(refused)) == (ClaimStatus.CANCELLED, 0)
    # The pending alert claim is no longer due; the retractions are, until confirmed.
    due = store.due(T0 + 3 * MIN)
    assert [(c.kind, c.devices.tolist()) for c in due] == [(DeliveryKind.RETRACTION, ["a", "b"])]
    assert (
        store.retract("inc", version="c2", at=T0 + 2 * MIN).keys().tolist() == back.keys().tolist()
    )
    assert store.confirm(back.keys(), at=T0 + 3 * MIN).confirmed.tolist() == [0, 1]
    assert store.due(T0 + 9 * MIN) == []
    assert store.incident("inc").state is IncidentState.CANCELLED


def test_expire_stops_claims_and_redelivery(store: Any) -> None:
    """An expired incident refuses claims and its pending claims are no longer due."""
    store.claim("inc", ["a"], version="v", at=T0, lease=MIN)
    assert store.expire("inc", at=T0) is True
    assert store.expire("inc", at=T0) is False
    assert store.claim("inc", ["b"], version="v", at=T0).status is ClaimStatus.EXPIRED
    assert store.due(T0 + 5 * MIN) == []


@pytest.mark.parametrize("opener", ["sqlite", "postgres"], indirect=True)
def test_a_handle_forgets_the_claims_of_incidents_another_handle_ended(opener: Opener) -> None:
    """load_active() forgets the claimed devices of incidents no longer active, wherever ended.

    A handle remembers the devices it claimed per incident (speed only), and forgot them only
    when it ended the incident itself: a service instance kept those of every incident another
    instance cancelled or expired, for ever (about 8 bytes a device per incident).
    """
    import gc
    import tracemalloc

    a, b = opener(), opener()
    n = 50_000  # integer ids: about 400 kB remembered (8 bytes each)
    a.admit(_alert(), at=T0)
    tracemalloc.start()
    try:
        assert len(b.claim(INC, np.arange(n), version=V1, at=T0)) == n
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        a.admit(_follow(MessageType.CANCEL, "C1", "K1", 1), at=T0 + MIN)
        assert b.load_active() == []
        gc.collect()
        released = held - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert released > 5 * n, released  # 5 of the 8 bytes a device held (1 MB at 200,000)
    later = b.claim(INC, [n + 1], version=V1, at=T0 + MIN)  # the database still decides
    assert later.status is ClaimStatus.CANCELLED


def test_admission_follows_the_incident_rules(store: Any) -> None:
    """Alert starts, the same alert is SAME, other content CONFLICT, Update becomes current."""
    a = _alert()
    first = store.admit(a, at=T0)
    assert (first.transition, first.incident.key, first.incident.version) == (
        Transition.STARTED,
        INC,
        V1,
    )
    assert first.incident.alert == a
    assert store.admit(a, at=T0).transition is Transition.SAME
    other = store.admit(attrs.evolve(a, note="changed"), at=T0)
    assert other.transition is Transition.CONFLICT
    assert other.stored_document is not None and "changed" not in other.stored_document
    assert store.claim(INC, [1, 3], version=V1, at=T0).status is ClaimStatus.CLAIMED
    store.confirm([f"{INC} {V1} 3"], at=T0)
    up = store.admit(_follow(MessageType.UPDATE, "K2", "K1", 5), at=T0)
    assert (up.transition, up.incident.version) == (Transition.UPDATED, "polisen@polisen.se/K2")
    # A claim for the old version is refused in the same transaction: the caller re-plans.
    assert store.claim(INC, [2], version=V1, at=T0).status is ClaimStatus.SUPERSEDED
    # 3 was told (confirmed); 1's delivery, never confirmed, moves to K2 with 2's.
    got = store.claim(INC, [1, 2, 3], version="polisen@polisen.se/K2", at=T0)
    assert got.devices.tolist() == ["1", "2"]
    older = store.admit(_follow(MessageType.UPDATE, "K0", "K1", 1), at=T0)
    assert older.transition is Transition.SUPERSEDED
    assert older.incident.version == "polisen@polisen.se/K2"
    bad = _follow(MessageType.UPDATE, "K9", "K2", 6, sender="someone@else.se")
    assert store.admit(bad, at=T0).transition is Transition.NOT_AUTHORISED
    test = _follow(MessageType.UPDATE, "K8", "K2", 6, status=Status.TEST)
    assert store.admit(test, at=T0).transition is Transition.NOT_AUTHORISED
    cancel = store.admit(_follow(MessageType.CANCEL, "K3", "K2", 9), at=T0 + MIN)
    assert cancel.transition is Transition.RETRACTED
    assert cancel.retraction is not None
    assert cancel.retraction.devices.tolist() == ["3", "1", "2"]  # claim order: 1 moved
    assert cancel.retraction.version == "polisen@polisen.se/K3"
    assert cancel.incident.state is IncidentState.CANCELLED
    assert store.admit(a, at=T0).transition is Transition.CANCELLED
    late = _follow(MessageType.UPDATE, "K4", "K2", 10)
    assert store.admit(late, at=T0).transition is Transition.CANCELLED
    assert store.load_active() == []
    ack = _follow(MessageType.ACK, "A1", "K1", 11)
    with pytest.raises(InvalidInput, match="msg_type must be one of 'Alert', 'Cancel', 'Update'"):
        store.admit(ack, at=T0)


def test_a_cancel_that_comes_first_is_remembered(store: Any) -> None:
    """A Cancel of an unknown alert is remembered; the alert arriving later is refused."""
    early = store.admit(_follow(MessageType.CANCEL, "K3", "K1", 9), at=T0)
    assert (early.transition, early.incident) == (Transition.REMEMBERED, None)
    late = store.admit(_alert(), at=T0)
    assert late.transition is Transition.CANCELLED
    assert store.claim(INC, [1], version=V1, at=T0).status is ClaimStatus.CANCELLED
    assert store.load_active() == []


def test_a_cancel_that_comes_first_ends_only_an_incident_it_may_cancel(opener: Opener) -> None:
    """A remembered Cancel is held to the authority rule of every Cancel, in every store.

    Regression (found by tests/test_lifecycle_sweep.py): a Cancel from another sender, or with
    Test status, that named an Actual alert before it arrived ended that alert when it came —
    anyone could pre-cancel anyone's alert; and only the first Cancel naming a version was kept,
    so a genuine Cancel after a foreign one was lost. Both hold after a new handle (a restart).
    """
    store = opener()
    foreign = attrs.evolve(_follow(MessageType.CANCEL, "X1", "K1", 9), sender="other@example.se")
    drill = _follow(MessageType.CANCEL, "X2", "K1", 9, status=Status.TEST)
    for cancel in (foreign, drill):
        assert store.admit(cancel, at=T0).transition is Transition.REMEMBERED
    store = opener()
    assert store.admit(_alert(), at=T0).transition is Transition.STARTED
    # An Update joining a known incident, named by a foreign Cancel that came first.
    named = attrs.evolve(_follow(MessageType.CANCEL, "X3", "K4", 9), sender="other@example.se")
    assert store.admit(named, at=T0).transition is Transition.REMEMBERED
    update = _follow(MessageType.UPDATE, "K4", "K1", 2)
    assert store.admit(update, at=T0).transition is Transition.UPDATED
    # An Update starting an incident, named by a Test Cancel that came first.
    test_first = _follow(MessageType.CANCEL, "X4", "K6", 9, status=Status.TEST)
    assert store.admit(test_first, at=T0).transition is Transition.REMEMBERED
    assert store.admit(_follow(MessageType.UPDATE, "K6", "K5", 1), at=T0).transition is (
        Transition.STARTED
    )
    # A genuine Cancel after a foreign one, both first: the genuine one ends the alert.
    for cancel in (
        attrs.evolve(_follow(MessageType.CANCEL, "X5", "K7", 9), sender="other@example.se"),
        _follow(MessageType.CANCEL, "X6", "K7", 9),
    ):
        assert store.admit(cancel, at=T0).transition is Transition.REMEMBERED
    store = opener()
    assert store.admit(_alert("K7"), at=T0).transition is Transition.CANCELLED
    assert [i.key for i in store.load_active()] == [INC, "polisen@polisen.se/K5"]


def test_a_cancel_that_comes_first_keys_the_retractions_when_it_ends_an_incident(
    store: Any,
) -> None:
    """A remembered Cancel that ends a delivered incident keys the retractions by itself.

    When the Update it named arrives, the retractions are ``"{incident} {cancel} {device}"``,
    as every retraction's (docs: delivery). Regression (found by tests/test_lifecycle_sweep.py): they were keyed by the Update.
    """
    assert store.admit(_alert(), at=T0).transition is Transition.STARTED
    store.claim(INC, ["a", "b"], version=V1, at=T0)
    early = store.admit(_follow(MessageType.CANCEL, "X1", "K4", 9), at=T0)
    assert early.transition is Transition.REMEMBERED
    ended = store.admit(_follow(MessageType.UPDATE, "K4", "K1", 2), at=T0)
    assert ended.transition is Transition.RETRACTED
    assert ended.retraction is not None
    assert ended.retraction.keys().tolist() == [
        f"{INC} polisen@polisen.se/X1 a",
        f"{INC} polisen@polisen.se/X1 b",
    ]


def test_a_remembered_cancel_reused_with_other_content_is_a_conflict(opener: Opener) -> None:
    """A remembered Cancel's id re-used with other content is CONFLICT, also after a restart.

    Regression: the store kept only the ids the Cancel named, not its document, so the same
    Cancel id with a different text (or an Alert or Update under that id) was remembered again,
    or started an incident, instead of being refused as a duplicate identifier.
    """
    store = opener()
    cancel = _follow(MessageType.CANCEL, "K3", "K1", 9)
    assert store.admit(cancel, at=T0).transition is Transition.REMEMBERED
    again = opener()  # another handle (a restart, or another process) over the same store
    assert again.admit(cancel, at=T0 + MIN).transition is Transition.REMEMBERED  # the same: fine
    other = attrs.evolve(cancel, note="another text")
    got = again.admit(other, at=T0 + MIN)
    assert (got.transition, got.incident) == (Transition.CONFLICT, None)
    assert got.stored_document == cap.dumps(cancel)
    assert again.remembered_cancel("polisen@polisen.se/K3") == cap.dumps(cancel)
    assert again.remembered_cancel("polisen@polisen.se/K1") is None  # named, not remembered
    # The Cancel is found under the version it names (what Targeter.preview reads).
    assert again.cancels_naming("polisen@polisen.se/K1") == [cap.dumps(cancel)]
    assert again.cancels_naming("polisen@polisen.se/K3") == []
    as_alert = _alert("K3")
    assert again.admit(as_alert, at=T0 + MIN).transition is Transition.CONFLICT
    assert again.lookup_version("polisen@polisen.se/K3") is None  # nothing was recorded
    # A version that references the Cancel's id makes it a placeholder: still a conflict. (That
    # Update names the Cancel, so it is of its chain: the Cancel ends the incident it starts.)
    up = _follow(MessageType.UPDATE, "K5", "K3", 12)
    assert again.admit(up, at=T0 + MIN).transition is Transition.CANCELLED
    assert again.admit(other, at=T0 + MIN).transition is Transition.CONFLICT
    # The remembered Cancel itself still cancels the alert it named.
    assert again.admit(_alert(), at=T0 + MIN).transition is Transition.CANCELLED


def test_an_update_without_its_original_starts_the_incident(store: Any) -> None:
    """An Update naming an unknown version starts the incident under that version's key."""
    up = store.admit(_follow(MessageType.UPDATE, "K2", "K1", 5), at=T0)
    assert (up.transition, up.incident.key) == (Transition.STARTED, INC)
    original = store.admit(_alert(), at=T0)
    assert (original.transition, original.incident.version) == (
        Transition.SUPERSEDED,
        "polisen@polisen.se/K2",
    )


def test_active_incidents_survive_a_new_store_handle(opener: Opener) -> None:
    """A new handle over the same store (a restart) recovers the active alerts and the claims."""
    first = opener()
    first.admit(_alert(), at=T0)
    first.admit(_alert("X1", sent=T0 + MIN), at=T0)
    first.admit(_follow(MessageType.CANCEL, "X2", "X1", 3), at=T0)
    first.claim(INC, [1, 2], version=V1, at=T0, lease=MIN)
    second = opener()
    (active,) = second.load_active()
    assert (active.key, active.version, active.state) == (INC, V1, IncidentState.ACTIVE)
    assert active.alert == _alert()
    assert second.claim(INC, [2, 3], version=V1, at=T0).devices.tolist() == ["3"]
    assert sorted(second.redeliver(T0 + MIN)[0].devices.tolist()) == ["1", "2", "3"]


# -- an oracle ---------------------------------------------------------------------------------

_op = st.one_of(
    st.tuples(
        st.just("claim"),
        st.lists(st.integers(0, 12) | st.sampled_from(["3", "x", "007"]), max_size=10),
    ),
    st.tuples(st.just("confirm"), st.lists(st.integers(0, 12), max_size=6)),
    st.tuples(st.just("redeliver"), st.integers(0, 3)),
    st.tuples(st.just("retract"), st.just(0)),
)


def _run_oracle(store: Any, ops: list[tuple[str, Any]], inc: str = "inc") -> None:
    claimed: dict[str, str] = {}  # device -> "pending" | "confirmed"
    lease: dict[str, int] = {}
    retracted: dict[str, str] = {}
    cancelled = False
    now = 0
    for op, arg in ops:
        now += 1
        at = T0 + now * MIN
        if op == "claim":
            got = store.claim(inc, arg, version="v", at=at, lease=2 * MIN)
            want: list[str] = []
            if not cancelled:
                for d in map(str, arg):
                    if d not in claimed and d not in want:
                        want.append(d)
                for d in want:
                    claimed[d], lease[d] = "pending", now + 2
            assert got.devices.tolist() == want
        elif op == "confirm":
            keys = [f"{inc} v {d}" for d in arg]
            got = store.confirm(keys, at=at)
            seen: set[str] = set()
            for i, d in enumerate(map(str, arg)):
                if d in seen:
                    continue
                seen.add(d)
                bucket = (
                    got.confirmed
                    if claimed.get(d) == "pending"
                    else got.already
                    if claimed.get(d) == "confirmed"
                    else got.unknown
                )
                assert i in bucket.tolist()
                if d in claimed:
                    claimed[d] = "confirmed"
        elif op == "redeliver":
            now += arg
            at = T0 + now * MIN
            got = [c for c in store.redeliver(at, lease=2 * MIN) if c.incident == inc]
            alert = {d for c in got if c.kind is DeliveryKind.ALERT for d in c.devices.tolist()}
            back = {d for c in got if c.kind is DeliveryKind.RETRACTION for d in c.devices.tolist()}
            want_alert = (
                set()
                if cancelled
                else {d for d, s in claimed.items() if s == "pending" and lease[d] <= now}
            )
            want_back = {d for d, lz in retracted.items() if int(lz) <= now}
            assert (alert, back) == (want_alert, want_back)
            for d in want_alert:
                lease[d] = now + 2
            for d in want_back:
                retracted[d] = str(now + 2)
        else:
            got = store.retract(inc, version="c", at=at, lease=2 * MIN)
            if not cancelled:
                retracted = {d: str(now + 2) for d in claimed}
            cancelled = True
            assert sorted(got.devices.tolist()) == sorted(claimed)
    assert sorted(store.recipients(inc).tolist()) == sorted(claimed)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(_op, max_size=12))
def test_memory_store_equals_a_dict_oracle(ops: list[tuple[str, Any]]) -> None:
    """Claims, confirmations, redelivery and retraction match a plain-dict model (memory)."""
    _run_oracle(MemoryLedger(), ops)


@settings(max_examples=25, deadline=None)
@given(ops=st.lists(_op, max_size=10))
def test_sqlite_store_equals_a_dict_oracle(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, Any]]
) -> None:
    """The same model holds for the SQLite store."""
    with SQLiteLedger(tmp_path_factory.mktemp("oracle") / "l.db") as store:
        _run_oracle(store, ops)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(_op, max_size=10))
def test_postgres_store_equals_a_dict_oracle(postgres_dsn: str, ops: list[tuple[str, Any]]) -> None:
    """The same model holds for the PostgreSQL store (a fresh incident per example)."""
    with PostgresLedger(postgres_dsn) as store:
        _run_oracle(store, ops, inc=f"inc-{uuid.uuid4().hex}")


def test_a_postgres_store_whose_claim_kind_is_smallint_still_equals_the_oracle(
    postgres_dsn: str,
) -> None:
    """A store whose ``gt_claims.kind`` is SMALLINT (as earlier builds created it) works.

    The column is INTEGER now (the primary key's text column then starts aligned); a table
    made before keeps its type, and every claim path (straight COPY, then the ON CONFLICT
    path after a conflict), confirmation, redelivery and retraction must still agree with
    the model.
    """
    import psycopg

    PostgresLedger(postgres_dsn).close()  # today's schema, then the column as it was
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE gt_claims ALTER COLUMN kind TYPE smallint")
        row = conn.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = 'gt_claims'"
            " AND column_name = 'kind'"
        ).fetchone()
    assert row == ("smallint",)
    ops: list[tuple[str, Any]] = [
        ("claim", [1, 2, "a"]),
        ("claim", [2, 3, "a", "b", 3]),  # a conflict: the ON CONFLICT path from here on
        ("confirm", [1, "a", "zz"]),
        ("redeliver", 3),
        ("claim", [4]),
        ("retract", 0),
        ("redeliver", 3),
    ]
    with PostgresLedger(postgres_dsn) as store:
        _run_oracle(store, ops)


def test_a_handle_never_skips_a_device_claimed_by_nobody(opener: Opener) -> None:
    """Each handle's memory of claimed devices only ever skips devices really claimed."""
    a, b = opener(), opener()
    assert a.claim("inc", [1, 2], version="v", at=T0).devices.tolist() == ["1", "2"]
    assert b.claim("inc", [2, 3], version="v", at=T0).devices.tolist() == ["3"]
    assert a.claim("inc", [3, 4, "5"], version="v", at=T0).devices.tolist() == ["4", "5"]
    assert b.claim("inc", np.arange(7), version="v", at=T0).ids().tolist() == [0, 6]
    assert sorted(a.recipients("inc").tolist()) == ["0", "1", "2", "3", "4", "5", "6"]


@pytest.mark.parametrize("text", [False, True], ids=["ints", "texts"])
def test_a_large_batch_that_meets_other_handles_claims_late_claims_just_the_rest(
    opener: Opener, text: bool
) -> None:
    """A batch of thousands whose few claimed devices come late gets just the others.

    PostgreSQL streams a claim's COPY in chunks of 1,000 rows: a conflict in a later chunk,
    after earlier chunks went in, must still leave exactly the unclaimed devices to the claim.
    """
    a, b = opener(), opener()
    as_ids = (lambda r: np.char.add("d", r.astype(str))) if text else (lambda r: r)
    taken = np.arange(6_500, 6_600, dtype=np.int64)
    assert len(a.claim("inc", as_ids(taken), version="v", at=T0).devices) == 100
    batch = np.arange(7_000, dtype=np.int64)
    got = b.claim("inc", as_ids(batch), version="v", at=T0)
    expected = np.setdiff1d(batch, taken)
    assert got.positions.tolist() == expected.tolist()
    assert sorted(got.devices.tolist()) == sorted(str(d) for d in as_ids(expected).tolist())
    assert len(a.recipients("inc")) == 7_000


def test_warm_loads_what_is_claimed_and_changes_no_answer(opener: Opener) -> None:
    """A restarted handle warmed with warm() answers exactly as a cold one would."""
    a = opener()
    a.claim("inc", [1, 2, "x", "3"], version="v", at=T0)
    b = opener()
    assert b.warm("inc") == 4
    assert b.claim("inc", [2, "3", 4, "x", "y"], version="v", at=T0).devices.tolist() == ["4", "y"]
    assert b.warm("nothing") == 0


# -- deliveries pending on a version an Update replaced ----------------------------------------

V2 = "polisen@polisen.se/K2"


def _update(store: Any, n: int = 2, minutes: int = 1) -> str:
    """Admit Update K{n} of incident K1; its version id."""
    adm = store.admit(_follow(MessageType.UPDATE, f"K{n}", "K1", minutes), at=T0 + minutes * MIN)
    assert adm.transition is Transition.UPDATED
    return f"polisen@polisen.se/K{n}"


def test_a_delivery_pending_on_a_replaced_version_is_held_not_redelivered(store: Any) -> None:
    """Once an Update is current, a delivery still pending on the older version is not offered.

    Not by ``due`` or ``redeliver`` (that would tell the replaced area), whether or not the
    Update was claimed yet; the current version's own pending deliveries still are.
    """
    store.admit(_alert(), at=T0)
    store.claim(INC, ["west", "east"], version=V1, at=T0, lease=MIN)
    _update(store)
    assert store.due(T0 + 5 * MIN) == []
    assert store.redeliver(T0 + 5 * MIN) == []
    got = store.claim(INC, ["east", "new"], version=V2, at=T0 + 5 * MIN, lease=MIN)
    assert got.keys().tolist() == [f"{INC} {V2} east", f"{INC} {V2} new"]
    (due,) = store.redeliver(T0 + 7 * MIN)
    assert (due.version, sorted(due.devices.tolist())) == (V2, ["east", "new"])
    assert store.redeliver(T0 + 60 * MIN) == [] or all(
        "west" not in c.devices.tolist() for c in store.redeliver(T0 + 60 * MIN)
    )
    # Held, not lost: it enters the current area, and is claimed under the current version.
    back = store.claim(INC, ["west"], version=V2, at=T0 + 61 * MIN)
    assert back.keys().tolist() == [f"{INC} {V2} west"]
    assert sorted(store.recipients(INC).tolist()) == ["east", "new", "west"]


def test_an_old_key_confirmed_late_confirms_the_delivery_that_moved(store: Any) -> None:
    """A key of a replaced version, confirmed after the Update, ends that device's delivery.

    Its push told the device: the delivery (held, or moved to the current version) is
    confirmed once and never offered again; the moved key confirmed afterwards is ``already``.
    A key of the current version for a delivery still held, or of a version never seen, is
    unknown.
    """
    store.admit(_alert(), at=T0)
    store.claim(INC, [1, 2, 3], version=V1, at=T0, lease=MIN)
    _update(store)
    store.claim(INC, [2], version=V2, at=T0 + 2 * MIN, lease=MIN)  # 2 moves to V2; 1, 3 held
    late = store.confirm(
        [f"{INC} {V1} 1", f"{INC} {V1} 2", f"{INC} {V2} 3", f"{INC} polisen@polisen.se/ZZ 3"],
        at=T0 + 3 * MIN,
    )
    assert (late.confirmed.tolist(), late.already.tolist(), late.unknown.tolist()) == (
        [0, 1],
        [],
        [2, 3],
    )
    assert store.confirm([f"{INC} {V2} 2"], at=T0 + 3 * MIN).already.tolist() == [0]
    assert store.redeliver(T0 + 30 * MIN) == []
    # Confirmed devices are told: not claimed again; the held one is.
    got = store.claim(INC, [1, 2, 3], version=V2, at=T0 + 30 * MIN)
    assert got.devices.tolist() == ["3"]


def test_a_cancel_retracts_from_held_deliveries_too(store: Any) -> None:
    """Every device claimed, held ones too (their push may have gone out), gets a retraction."""
    store.admit(_alert(), at=T0)
    store.claim(INC, ["a", "b"], version=V1, at=T0, lease=MIN)
    _update(store)
    store.claim(INC, ["b"], version=V2, at=T0 + MIN)
    adm = store.admit(_follow(MessageType.CANCEL, "K3", "K1", 2), at=T0 + 2 * MIN)
    assert sorted(adm.retraction.devices.tolist()) == ["a", "b"]
    (due,) = store.due(T0 + 10 * MIN)
    assert due.kind is DeliveryKind.RETRACTION


def test_a_handle_that_knew_a_device_claims_it_again_once_it_is_held(opener: Opener) -> None:
    """A handle's memory of claimed devices never skips a held one.

    Handle ``a`` claimed ``x`` under V1; another handle admits and releases V2 (``x`` not
    covered); ``x`` then enters V2's area and ``a``, which remembers ``x`` as claimed, must
    still claim it under V2. The same after ``warm``.
    """
    a, b = opener(), opener()
    a.admit(_alert(), at=T0)
    a.claim(INC, ["x", "y", 1, 2], version=V1, at=T0, lease=MIN)
    a.confirm([f"{INC} {V1} y"], at=T0)
    _update(b)
    assert b.claim(INC, [1], version=V2, at=T0 + MIN).devices.tolist() == ["1"]
    got = a.claim(INC, ["x", "y", 1, 2], version=V2, at=T0 + 2 * MIN)
    assert got.devices.tolist() == ["x", "2"]
    c = opener()
    b.admit(_follow(MessageType.UPDATE, "K3", "K1", 3), at=T0 + 3 * MIN)
    assert c.warm(INC) == 4
    v3 = "polisen@polisen.se/K3"
    got = c.claim(INC, ["x", "y", 1, 2], version=v3, at=T0 + 4 * MIN)
    assert got.devices.tolist() == ["x", "1", "2"]


_vop = st.one_of(
    st.tuples(st.just("claim"), st.lists(st.integers(0, 8) | st.just("x"), max_size=8)),
    st.tuples(
        st.just("confirm"),
        st.tuples(st.lists(st.integers(0, 8), max_size=4), st.integers(0, 3)),
    ),
    st.tuples(st.just("update"), st.just(0)),
    st.tuples(st.just("redeliver"), st.integers(0, 3)),
    st.tuples(st.just("retract"), st.just(0)),
)


def _run_version_oracle(store: Any, ops: list[tuple[str, Any]]) -> None:
    """Claims, confirmations and redelivery across Updates against a plain-dict model.

    The rule: a claim of the current version takes each device never claimed, or whose
    delivery is pending on an older version (held); only deliveries pending on the current
    version are due; a key confirms the device's delivery when it names the delivery's
    version, or a version no longer current (a late confirmation of a replaced key).
    """
    sender = "polisen@polisen.se"
    store.admit(_alert(), at=T0)
    versions = [V1]
    rows: dict[str, list[int]] = {}  # device -> [state (0 pending, 1 confirmed), version, lease]
    back: dict[str, int] = {}  # device -> retraction lease
    cancelled = False
    now = 0
    for op, arg in ops:
        now += 1
        at = T0 + now * MIN
        cur = len(versions) - 1
        if op == "claim":
            got = store.claim(INC, arg, version=versions[cur], at=at, lease=2 * MIN)
            want: list[str] = []
            if not cancelled:
                for d in map(str, arg):
                    row = rows.get(d)
                    if d not in want and (row is None or (row[0] == 0 and row[1] != cur)):
                        want.append(d)
                        rows[d] = [0, cur, now + 2]
            assert got.devices.tolist() == want
            assert set(got.keys().tolist()) == {f"{INC} {versions[cur]} {d}" for d in want}
        elif op == "confirm":
            devices, k = arg
            k = min(k, cur)
            got = store.confirm([f"{INC} {versions[k]} {d}" for d in devices], at=at)
            for i, d in enumerate(map(str, devices)):
                if d in map(str, devices[:i]):
                    continue
                row = rows.get(d)
                if row is None or (row[1] != k and k == cur):
                    assert i in got.unknown.tolist()
                else:
                    assert i in (got.already if row[0] == 1 else got.confirmed).tolist()
                    row[0] = 1
        elif op == "update":
            n = len(versions) + 1
            adm = store.admit(_follow(MessageType.UPDATE, f"K{n}", "K1", now), at=at)
            if not cancelled:
                assert adm.transition is Transition.UPDATED
                versions.append(f"{sender}/K{n}")
        elif op == "redeliver":
            now += arg
            at = T0 + now * MIN
            got = store.redeliver(at, lease=2 * MIN)
            alert = {
                (c.version, d)
                for c in got
                if c.kind is DeliveryKind.ALERT
                for d in c.devices.tolist()
            }
            rt = {d for c in got if c.kind is DeliveryKind.RETRACTION for d in c.devices.tolist()}
            want_alert = (
                set()
                if cancelled
                else {
                    (versions[r[1]], d)
                    for d, r in rows.items()
                    if r[0] == 0 and r[1] == cur and r[2] <= now
                }
            )
            want_back = {d for d, lz in back.items() if lz <= now}
            assert (alert, rt) == (want_alert, want_back)
            for _, d in want_alert:
                rows[d][2] = now + 2
            for d in want_back:
                back[d] = now + 2
        else:
            got = store.retract(INC, version=f"{sender}/C", at=at, lease=2 * MIN)
            if not cancelled:
                back = dict.fromkeys(rows, now + 2)
            cancelled = True
            assert sorted(got.devices.tolist()) == sorted(rows)
    assert sorted(store.recipients(INC).tolist()) == sorted(rows)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(_vop, max_size=12))
@example(ops=[("claim", [1, 2]), ("update", 0), ("redeliver", 3), ("claim", [2, 3])])
def test_memory_store_across_updates_equals_a_dict_oracle(ops: list[tuple[str, Any]]) -> None:
    """Held deliveries, claims under the current version and late keys match the model."""
    _run_version_oracle(MemoryLedger(), ops)


@settings(max_examples=25, deadline=None)
@given(ops=st.lists(_vop, max_size=10))
def test_two_sqlite_handles_across_updates_equal_a_dict_oracle(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, Any]]
) -> None:
    """The same model for SQLite, two handles taking turns (their memories of claims differ)."""
    path = tmp_path_factory.mktemp("oracle") / "l.db"
    with SQLiteLedger(path) as a, SQLiteLedger(path) as b:
        _run_version_oracle(_Alternating(a, b), ops)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(_vop, max_size=10))
def test_two_postgres_handles_across_updates_equal_a_dict_oracle(
    postgres_dsn: str, ops: list[tuple[str, Any]]
) -> None:
    """The same model for PostgreSQL, two handles taking turns (a fresh schema per example)."""
    import psycopg

    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(
            "DROP TABLE IF EXISTS gt_incidents, gt_versions, gt_early_cancels,"
            " gt_early_cancel_refs, gt_remembered_cancels, gt_holds, gt_tokens, gt_claims"
        )
    with PostgresLedger(postgres_dsn) as a, PostgresLedger(postgres_dsn) as b:
        _run_version_oracle(_Alternating(a, b), ops)


# -- a closed store ------------------------------------------------------------------------------

_AFTER_CLOSE: dict[str, Callable[[Any], Any]] = {
    "claim": lambda s: s.claim(INC, [1], version=V1, at=T0),
    "claim nothing": lambda s: s.claim(INC, [], version=V1, at=T0),
    "confirm": lambda s: s.confirm([f"{INC} {V1} 1"], at=T0),
    "confirm nothing": lambda s: s.confirm([], at=T0),
    "confirm_devices": lambda s: s.confirm_devices(INC, [1], at=T0),
    "confirm_devices nothing": lambda s: s.confirm_devices(INC, [], at=T0),
    "due": lambda s: s.due(T0),
    "redeliver": lambda s: s.redeliver(T0),
    "retract": lambda s: s.retract(INC, version="c", at=T0),
    "recipients": lambda s: s.recipients(INC),
    "delivered": lambda s: s.delivered(INC, [1]),
    "admit": lambda s: s.admit(_alert("K9"), at=T0),
    "lookup_version": lambda s: s.lookup_version(V1),
    "hold": lambda s: s.hold(V1, at=T0),
    "held": lambda s: s.held(V1),
    "remembered_cancel": lambda s: s.remembered_cancel(V1),
    "cancels_naming": lambda s: s.cancels_naming(V1),
    "expire": lambda s: s.expire(INC, at=T0),
    "incident": lambda s: s.incident(INC),
    "load_active": lambda s: s.load_active(),
    "warm": lambda s: s.warm(INC),
    "pending": lambda s: s.pending(INC),
    "versions": lambda s: s.versions(INC),
}


@pytest.mark.parametrize("method", sorted(_AFTER_CLOSE))
def test_every_call_on_a_closed_store_is_store_unavailable(opener: Opener, method: str) -> None:
    """After close(), each public method raises StoreUnavailable naming the store and why.

    Not the driver's own error (``sqlite3.ProgrammingError``), and PostgreSQL does not
    silently reconnect. Closing twice is harmless; the data stays for a new handle.
    """
    store = opener()
    store.admit(_alert(), at=T0)
    store.claim(INC, [1], version=V1, at=T0)
    store.close()
    store.close()
    names: dict[type, str] = {MemoryLedger: "memory store", SQLiteLedger: "SQLite store"}
    name = names.get(type(store), "PostgreSQL store")
    with pytest.raises(StoreUnavailable, match=rf"^{name}.*closed") as caught:
        _AFTER_CLOSE[method](store)
    assert "nothing was applied" in str(caught.value)
    if not isinstance(store, MemoryLedger):
        assert opener().recipients(INC).tolist() == ["1"]


def test_every_public_store_method_is_covered_after_close() -> None:
    """The table above names every method of the protocol but close()."""
    public = {m for m in dir(DeliveryLedger) if not m.startswith("_")} - {"close"}
    assert {m.split()[0] for m in _AFTER_CLOSE} == public


def test_targeter_over_a_closed_sqlite_store_raises_store_unavailable(tmp_path: Path) -> None:
    """target(), redeliver(), confirm() and on_positions() over a closed store: StoreError."""
    import shapely.geometry as sg

    from geotarget import PositionIndex, Positions
    from geotarget.regions import Region, RegionHierarchy, RegionSet
    from geotarget.rollout import nationwide
    from geotarget.targeting import Targeter

    box = sg.box(17.7, 59.2, 18.3, 59.45)
    regions = RegionHierarchy(
        [
            RegionSet([Region(code="0180", name="S", level="municipality", geometry=box)]),
            RegionSet([Region(code="SE", name="Sverige", level="country", geometry=box)]),
        ],
        {"0180": "SE"},
    )
    t = Targeter(regions, nationwide(), ledger=SQLiteLedger(tmp_path / "d.db"))
    t.ledger.close()
    now = Positions(["d"], [18.06], [59.33], observed_at=T0)
    for call in (
        lambda: t.target(_alert(), PositionIndex(now), T0),
        lambda: t.redeliver(T0),
        lambda: t.confirm([f"{INC} {V1} d"], T0),
        lambda: t.on_positions(now, T0),
    ):
        with pytest.raises(StoreUnavailable, match="closed"):
            call()


# -- SQLite specifics and failures ------------------------------------------------------------


class _Alternating:
    """Two handles on one store, each call going to the next (their memories differ)."""

    def __init__(self, *handles: Any) -> None:
        self.handles = handles
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        self.calls += 1
        return getattr(self.handles[self.calls % len(self.handles)], name)


@settings(max_examples=25, deadline=None)
@given(ops=st.lists(_op, max_size=10))
def test_two_sqlite_handles_in_turn_equal_a_dict_oracle(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, Any]]
) -> None:
    """The dict model holds when two handles on one file take turns.

    A new incident's claims go to the claim log; the other handle's next claim must check
    against it, and a confirmation, redelivery or retraction by either must fold it first.
    """
    path = tmp_path_factory.mktemp("oracle") / "l.db"
    with SQLiteLedger(path) as a, SQLiteLedger(path) as b:
        _run_oracle(_Alternating(a, b), ops)


def _warm_count(path: Path, incident: str) -> int:
    with SQLiteLedger(path) as store:
        return int(store.warm(incident))


def _log_rows(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as db:
        logged = db.execute("SELECT count(*) FROM gt_claim_log").fetchone()[0]
        rows = db.execute("SELECT count(*) FROM gt_claims").fetchone()[0]
    return int(logged), int(rows)


def test_sqlite_claims_of_a_new_incident_are_log_rows_that_a_confirmation_folds(
    tmp_path: Path,
) -> None:
    """A new incident's claims cost a row a batch; reads see them, a confirmation folds them.

    Every answer is the same before and after the fold, and a read never writes.
    """
    path = tmp_path / "ledger.db"
    ids = np.random.default_rng(7).choice(2**62, 5_000, replace=False)

    def reads(store: Any, other: Any) -> tuple[Any, ...]:
        return (
            store.recipients("inc").tolist(),
            [(c.incident, c.version, c.kind, c.devices.tolist()) for c in store.due(T0 + MIN)],
            [c.devices.tolist() for c in other.due(T0 + MIN, limit=10)],
            _warm_count(path, "inc"),
        )

    with SQLiteLedger(path) as store, SQLiteLedger(path) as other:
        first = store.claim("inc", [*ids[:3_000].tolist(), "x"], version="v", at=T0, lease=MIN)
        assert first.positions.size == 3_001
        assert _log_rows(path) == (1, 0)
        before = reads(store, other)
        assert _log_rows(path) == (1, 0)  # the reads wrote nothing
        in_order = [*map(str, np.sort(ids[:3_000]).tolist()), "x"]  # ints ascending, then texts
        assert before == (
            in_order,
            [("inc", "v", DeliveryKind.ALERT, in_order)],
            [in_order[:10]],
            3_001,
        )
        # Another handle's claim (it never saw the first) is checked against the log.
        second = other.claim("inc", [*ids[2_000:].tolist(), "x", "y"], version="v", at=T0)
        assert second.devices.tolist() == [*map(str, ids[3_000:].tolist()), "y"]
        assert _log_rows(path) == (2, 0)
        logged = reads(store, other)
        assert logged[0] == [*in_order, *map(str, np.sort(ids[3_000:]).tolist()), "y"]
        assert logged[1][0][3][:3_001] == in_order and logged[2] == before[2]
        assert logged[3] == 5_002
        assert store.confirm(first.keys()[:1], at=T0).confirmed.tolist() == [0]  # folds
        assert _log_rows(path) == (0, 5_002)
        after = reads(store, other)
        assert after[0] == logged[0] and after[3] == 5_002
        assert after[1][0][3] == [d for d in logged[1][0][3] if d != str(ids[0])]
        assert after[2] == [after[1][0][3][:10]]
        # A confirmation of a logged claim in a new incident.
        again = store.claim("new", ids[:5], version="v", at=T0)
        assert _log_rows(path) == (1, 5_002)
        assert other.confirm(again.keys()[1:2], at=T0).confirmed.tolist() == [0]
        assert _log_rows(path) == (0, 5_007)
        assert store.confirm(again.keys()[1:2], at=T0).already.tolist() == [0]


def test_sqlite_redelivery_folds_an_incident_whole_so_later_claims_see_every_device(
    tmp_path: Path,
) -> None:
    """A redelivery that takes one of an incident's logged batches folds all of them.

    A batch still within its lease must not stay in the log once the incident has rows: the
    next claim checks the rows alone. Incidents with nothing due stay logged.
    """
    path = tmp_path / "ledger.db"
    with SQLiteLedger(path) as a, SQLiteLedger(path) as b:
        a.claim("inc", [1, 2], version="v", at=T0, lease=MIN)
        a.claim("inc", [3, 4], version="v", at=T0, lease=10 * MIN)
        a.claim("other", [1], version="v", at=T0, lease=10 * MIN)
        a.claim("ended", [1], version="v", at=T0, lease=MIN)
        a.expire("ended", at=T0)  # due by its lease, but ended: never redelivered nor folded
        got = b.redeliver(T0 + MIN)
        assert [(c.incident, c.devices.tolist()) for c in got] == [("inc", ["1", "2"])]
        assert _log_rows(path) == (2, 4)
        assert b.claim("inc", [2, 3, 4, 5], version="v", at=T0).devices.tolist() == ["5"]
        assert b.claim("other", [1, 6], version="v", at=T0).devices.tolist() == ["6"]
        assert b.recipients("inc").tolist() == ["1", "2", "3", "4", "5"]
        assert b.recipients("ended").tolist() == ["1"]
        assert _log_rows(path) == (3, 5)


def test_sqlite_an_incident_keeps_at_most_eight_log_rows(tmp_path: Path) -> None:
    """The ninth batch folds the incident's eight log rows, then goes in as rows."""
    from geotarget.ledger._sqlite import MAX_LOG_ROWS

    path = tmp_path / "ledger.db"
    with SQLiteLedger(path) as store:
        for b in range(MAX_LOG_ROWS):
            store.claim("inc", [b, b + 1, f"t{b}"], version="v", at=T0)
        assert _log_rows(path) == (MAX_LOG_ROWS, 0)
        with SQLiteLedger(path) as other:  # (it knows none of them)
            got = other.claim("inc", [0, 3, MAX_LOG_ROWS + 1, "t0", "u"], version="v", at=T0)
        assert got.devices.tolist() == [str(MAX_LOG_ROWS + 1), "u"]
        assert _log_rows(path) == (0, 2 * MAX_LOG_ROWS + 3)
        want = [*map(str, range(MAX_LOG_ROWS + 2)), *(f"t{b}" for b in range(MAX_LOG_ROWS)), "u"]
        assert sorted(store.recipients("inc").tolist()) == sorted(want)


@settings(max_examples=20, deadline=None)
@given(
    claims=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.lists(st.one_of(st.integers(-5, 40), st.sampled_from(["x", "y", "07"])), max_size=8),
            st.integers(1, 3),
        ),
        max_size=8,
    ),
    limit=st.integers(1, 30),
)
# The limit ending among a logged batch's ints, at its first text, and among its texts.
@example(claims=[("a", [3, 1, "x", "y", "07"], 1), ("b", [2], 1)], limit=1)
@example(claims=[("a", [3, 1, "x", "y", "07"], 1), ("b", [2], 1)], limit=3)
@example(claims=[("a", [3, 1, "x", "y", "07"], 1), ("b", [2], 1)], limit=4)
def test_sqlite_due_over_logged_claims_equals_due_over_folded_ones(
    tmp_path_factory: pytest.TempPathFactory,
    claims: list[tuple[str, list[Any], int]],
    limit: int,
) -> None:
    """due() (with and without a limit) reads the claim log as if it were rows.

    The oracle is the same claims in a second file where a confirmation of an unknown device
    after each claim folds the log at once.
    """
    tmp = tmp_path_factory.mktemp("due")
    with SQLiteLedger(tmp / "logged.db") as logged, SQLiteLedger(tmp / "rows.db") as rows:
        for inc, batch, minutes in claims:
            for store in (logged, rows):
                store.claim(inc, batch, version="v" + inc, at=T0, lease=minutes * MIN)
            rows.confirm_devices(inc, ["not-claimed"], at=T0)
        assert _log_rows(tmp / "rows.db")[0] == 0
        for store in (logged, rows):
            store.expire("c", at=T0)  # (its claims stay logged in one store: never due)

        def due(store: Any, at: datetime, n: int | None) -> list[Any]:
            return [
                (c.incident, c.version, c.kind, c.devices.tolist()) for c in store.due(at, limit=n)
            ]

        for at in (T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN):
            assert due(logged, at, None) == due(rows, at, None)
            assert due(logged, at, limit) == due(rows, at, limit)
            assert logged.recipients("a").tolist() == rows.recipients("a").tolist()


def test_sqlite_store_of_a_later_format_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """A file whose format this build does not know is refused at open, untouched.

    A later format may keep claims where this build would not look: opening it anyway could
    tell a device twice or miss a retraction.
    """
    from geotarget.errors import StoreUnavailable
    from geotarget.ledger._sqlite import FORMAT

    path = tmp_path / "ledger.db"
    with SQLiteLedger(path) as store:
        store.claim("inc", [1], version="v", at=T0)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE gt_meta SET value = ? WHERE name = 'format'", (FORMAT + 1,))
        db.execute("DROP TABLE gt_claim_log")
    with pytest.raises(StoreUnavailable, match=rf"its format is {FORMAT + 1}, newer than"):
        SQLiteLedger(path)
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "gt_claim_log" not in tables  # nothing created by the refused open
        db.execute("UPDATE gt_meta SET value = ? WHERE name = 'format'", (FORMAT,))
    with SQLiteLedger(path) as store:  # the format it knows: it opens (and makes its log)
        assert store.claim("inc", [2], version="v", at=T0).devices.tolist() == ["2"]


def test_sqlite_store_of_an_earlier_build_without_a_claim_log_opens_and_works(
    tmp_path: Path,
) -> None:
    """A file written before the claim log existed gets the table and keeps its claims."""
    path = tmp_path / "ledger.db"
    with SQLiteLedger(path) as store:
        store.claim("inc", [1, 2], version="v", at=T0)
        store.confirm_devices("inc", [1], at=T0)  # folded: rows, as an earlier build wrote
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE gt_claim_log")
        db.execute("DELETE FROM gt_meta WHERE name = 'format'")
    with SQLiteLedger(path) as store:
        assert store.claim("inc", [2, 3], version="v", at=T0).devices.tolist() == ["3"]
        assert store.recipients("inc").tolist() == ["1", "2", "3"]
        assert store.claim("new", [2, 3], version="v", at=T0).devices.tolist() == ["2", "3"]
    assert _log_rows(path) == (1, 3)


def test_sqlite_store_uses_wal_and_no_strict_tables(tmp_path: Path) -> None:
    """The database runs in WAL mode and declares no STRICT table (SQLite 3.31 compatible)."""
    path = tmp_path / "ledger.db"
    SQLiteLedger(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        sql = " ".join(
            r[0] for r in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")
        )
    assert "STRICT" not in sql.upper()


def test_sqlite_statements_need_nothing_newer_than_sqlite_3_31(tmp_path: Path) -> None:
    """No statement of the whole protocol uses RETURNING (3.35) or STRICT (3.37)."""
    seen: list[str] = []
    store = SQLiteLedger(tmp_path / "ledger.db")
    store._db.set_trace_callback(seen.append)
    store.admit(_alert(), at=T0)
    got = store.claim(INC, [1, 2, "x"], version=V1, at=T0, lease=MIN)
    store.claim(INC, [2, 3], version=V1, at=T0, lease=MIN)
    store.confirm(got.keys()[:1], at=T0)
    store.confirm_devices(INC, [3], at=T0)
    store.due(T0 + MIN)
    store.redeliver(T0 + MIN)
    store.warm(INC)
    store.admit(_follow(MessageType.CANCEL, "K3", "K1", 9), at=T0)
    store.close()
    assert len(seen) > 20
    assert not [q for q in seen if "RETURNING" in q.upper() or "STRICT" in q.upper()]


def test_sqlite_older_than_3_31_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An SQLite older than the minimum is refused with a precise error, nothing created."""
    from geotarget.errors import StoreUnavailable

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 30, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.30.1")
    with pytest.raises(StoreUnavailable, match=r"SQLite 3\.30\.1 is too old: .*>= 3\.31\.0"):
        SQLiteLedger(tmp_path / "ledger.db")
    assert not (tmp_path / "ledger.db").exists()


def test_sqlite_missing_directory_is_store_unavailable(tmp_path: Path) -> None:
    """A path in a directory that does not exist raises StoreUnavailable naming it."""
    from geotarget.errors import StoreUnavailable

    with pytest.raises(StoreUnavailable, match="does not exist"):
        SQLiteLedger(tmp_path / "nope" / "ledger.db")


def test_sqlite_path_under_a_file_or_ending_in_a_separator_is_named_and_creates_nothing(
    tmp_path: Path,
) -> None:
    """``run.sh/x.db`` (run.sh a file) and ``x.db/``: refused as what they are, nothing made.

    The first said "the directory 'run.sh' does not exist" (it does, as a file; and a missing
    directory is a mount that may come, which the service waits for); the second made the
    file ``x.db`` although the path names a directory.
    """
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    with pytest.raises(InvalidInput, match=r"'.*run\.sh' is a file, not a directory"):
        SQLiteLedger(tmp_path / "run.sh" / "x.db")
    with pytest.raises(InvalidInput, match=r"not a directory \(got '.*x\.db/': it ends with"):
        SQLiteLedger(f"{tmp_path}/x.db/")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.sh"]


@pytest.mark.parametrize(
    ("dsn", "said"),
    [
        ("host=/tmp port=notaport dbname=x", "port must be a whole number from 1 to 65535"),
        ("postgresql://u:secret@localhost:notaport/db", "(got 'notaport')"),
        ("host=a,b port=5432,70000", "(got '70000')"),
        ("dbnme=alerts", "connection option 'dbnme' is not one libpq knows"),
        ("host=x password=my secret", "libpq's message is not shown"),
        ("postgresql://u:p%zz@h/db", "libpq's message is not shown"),
    ],
)
def test_a_dsn_libpq_cannot_read_is_invalid_input_never_quoted(dsn: str, said: str) -> None:
    """A DSN no retry mends is ``InvalidInput`` before any connection, its text never shown.

    ``port=notaport`` was ``StoreUnavailable`` (libpq refuses it only when connecting), which
    the reference service takes for a server not up yet and answers 503 for ever; libpq's
    parse errors quote the DSN, a password's pieces included.
    """
    pytest.importorskip("psycopg", reason="the postgres extra")
    from geotarget.ledger import PostgresLedger

    with pytest.raises(InvalidInput) as err:
        PostgresLedger(dsn, connect_timeout=1)
    assert said in str(err.value)
    for secret in ("secret", "p%zz"):
        assert secret not in str(err.value)


def test_sqlite_store_whose_file_is_removed_or_replaced_refuses_every_call(tmp_path: Path) -> None:
    """Files removed under an open handle (a clean-up job): StoreUnavailable, nothing applied.

    The handle went on answering, its claims written to the unlinked file: another handle, or
    the same service after a restart, saw an empty store and told every device again.
    """
    from geotarget.errors import StoreUnavailable

    path = tmp_path / "d.db"
    first = SQLiteLedger(path)
    assert len(first.claim("inc", ["a"], version="v", at=T0)) == 1
    for f in tmp_path.iterdir():
        f.unlink()
    for call in (
        lambda: first.claim("inc", ["b"], version="v", at=T0),
        lambda: first.recipients("inc"),
        lambda: first.confirm(["inc v a"], at=T0),
    ):
        with pytest.raises(StoreUnavailable, match="was removed or replaced while it was open"):
            call()
    assert not path.exists()  # (nothing was made again under its name)
    # Replaced: a new store at the same path, made by another handle.
    second = SQLiteLedger(path)
    assert len(second.claim("inc", ["z"], version="v", at=T0)) == 1
    with pytest.raises(StoreUnavailable, match="removed or replaced"):
        first.claim("inc", ["c"], version="v", at=T0)
    assert second.recipients("inc").tolist() == ["z"]
    first.close()
    second.close()


def test_sqlite_non_database_file_is_store_corrupt(tmp_path: Path) -> None:
    """A file that is not a database raises StoreCorrupt, and the file is left as it was."""
    from geotarget.errors import StoreCorrupt

    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a database, just text\n" * 200)
    with pytest.raises(StoreCorrupt, match="not a SQLite database"):
        SQLiteLedger(path)
    assert path.read_bytes() == b"not a database, just text\n" * 200


@contextmanager
def _read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory holding an existing ledger.db (one claim), then made read-only.

    As root (who ignores permission bits) it is a small tmpfs remounted read-only.
    """
    ro = tmp_path / "ro"
    ro.mkdir()
    root = os.geteuid() == 0
    if root:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(ro)])
        if done.returncode != 0:
            pytest.skip("root ignores permission bits and cannot mount a tmpfs here")
    try:
        with SQLiteLedger(ro / "ledger.db") as db:
            db.claim("inc", ["a"], version="v", at=T0)
        if root:
            subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        else:
            (ro / "ledger.db").chmod(0o444)
            ro.chmod(0o555)
        yield ro
    finally:
        if root:
            subprocess.run(["umount", "-l", str(ro)], check=False)
        else:
            ro.chmod(0o755)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and mounts")
def test_sqlite_read_only_places_are_store_read_only(tmp_path: Path) -> None:
    """A new store in a read-only directory, or an existing one there, raises StoreReadOnly."""
    from geotarget.errors import StoreReadOnly

    with _read_only_dir(tmp_path) as ro:
        with pytest.raises(StoreReadOnly, match="not writable"):
            SQLiteLedger(ro / "new.db")
        with pytest.raises(StoreReadOnly):
            SQLiteLedger(ro / "ledger.db").claim("inc", ["b"], version="v", at=T0)
        assert (ro / "ledger.db").exists()


def test_sqlite_path_that_is_empty_a_directory_or_a_uri_is_refused_naming_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty path, a directory or a ``file:`` URI is InvalidInput naming ``path``, no file made.

    A directory said "open failed: it cannot be opened"; "" opened the working directory; and
    SQLite read "file:x.db?mode=memory" as a database in memory ("is the directory writable?").
    """
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInput, match=r"^path must name the store's file \(got ''\)$"):
        SQLiteLedger("")
    for folder in (tmp_path, str(tmp_path), Path(), "."):
        with pytest.raises(
            InvalidInput,
            match=r"^path must name the store's file, not a directory \(got '.*', a directory; "
            r"e\.g\. '.*ledger\.db'\)$",
        ):
            SQLiteLedger(folder)
    for uri in ("file:x.db?mode=memory", "file:x.db"):
        with pytest.raises(InvalidInput, match=r"^path must be a file path, not a SQLite URI"):
            SQLiteLedger(uri)
    assert list(tmp_path.iterdir()) == []


def test_sqlite_held_lock_is_store_busy_within_the_timeout_and_applies_nothing(
    tmp_path: Path,
) -> None:
    """Another connection holding the write lock makes a claim fail fast with StoreBusy."""
    from geotarget.errors import StoreBusy

    path = tmp_path / "ledger.db"
    store = SQLiteLedger(path, busy_timeout=0.2)
    store.claim("inc", ["a"], version="v", at=T0)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    t0 = time.perf_counter()
    with pytest.raises(StoreBusy, match="busy timeout"):
        store.claim("inc", ["b", "c"], version="v", at=T0)
    assert time.perf_counter() - t0 < 5
    other.execute("ROLLBACK")
    other.close()
    assert store.recipients("inc").tolist() == ["a"]
    assert store.claim("inc", ["b"], version="v", at=T0).devices.tolist() == ["b"]
    store.close()


def test_sqlite_full_database_is_store_full_and_applies_nothing(tmp_path: Path) -> None:
    """A batch that does not fit (max_page_count) raises StoreFull; nothing of it is kept."""
    from geotarget.errors import StoreFull

    store = SQLiteLedger(tmp_path / "ledger.db")
    store.claim("inc", ["a"], version="v", at=T0)
    (pages,) = store._db.execute("PRAGMA page_count").fetchone()
    store._db.execute(f"PRAGMA max_page_count = {pages + 4}")
    with pytest.raises(StoreFull, match="full"):
        store.claim("inc", [f"device-{i:06d}" for i in range(20_000)], version="v", at=T0)
    assert store.recipients("inc").tolist() == ["a"]
    assert store.claim("inc", ["b"], version="v", at=T0).devices.tolist() == ["b"]
    store.close()


def test_sqlite_disk_full_on_a_small_tmpfs_is_store_full(small_tmpfs: Any) -> None:
    """On a 1 MiB tmpfs, a claim that fills the disk raises StoreFull and keeps nothing of it."""
    from geotarget.errors import StoreFull

    mnt = small_tmpfs("1m")
    store = SQLiteLedger(mnt / "ledger.db", synchronous="NORMAL")
    try:
        store.claim("inc", ["a"], version="v", at=T0)

        def fill() -> None:
            for n in range(100):
                store.claim(
                    "inc", [f"{n}-{i:08d}-padding" for i in range(5_000)], version="v", at=T0
                )

        with pytest.raises(StoreFull):
            fill()
        kept = store.recipients("inc")
        assert kept.size % 5_000 == 1  # whole batches only
    finally:
        store.close()


FILE_SIZE_LIMITED = textwrap.dedent(
    """
    import json, os, resource, sys
    from datetime import datetime, timezone
    from geotarget.errors import StoreError
    from geotarget.ledger import SQLiteLedger
    path = sys.argv[1]
    at = datetime(2024, 4, 15, tzinfo=timezone.utc)
    store = SQLiteLedger(path)
    store.claim("inc", ["a"], version="v", at=at)
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    biggest = max(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    resource.setrlimit(resource.RLIMIT_FSIZE, (biggest + 64 * 1024, hard))  # ulimit -f
    try:
        store.claim("inc", [f"device-{i:06d}-padding" for i in range(20_000)], version="v", at=at)
        failed = None
    except StoreError as err:
        failed = [type(err).__name__, str(err)]
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    kept = store.recipients("inc").tolist()
    again = store.claim("inc", ["b"], version="v", at=at).devices.tolist()
    store.close()
    print(json.dumps({"failed": failed, "kept": kept, "again": again}))
    """
)


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE is POSIX")
def test_sqlite_file_size_limit_is_store_full_naming_the_limit(tmp_path: Path) -> None:
    """A write past the process's file size limit (``ulimit -f``) is StoreFull, naming it.

    SQLite reports the refused write (EFBIG) as a disk I/O error: it was StoreUnavailable
    saying the store "cannot be opened". Nothing of the batch is kept, and once the limit is
    raised the same handle claims on.
    """
    done = subprocess.run(
        [sys.executable, "-c", FILE_SIZE_LIMITED, str(tmp_path / "ledger.db")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["failed"] is not None, "the claim past the limit succeeded"
    name, message = got["failed"]
    assert name == "StoreFull", message
    assert "file size limit" in message and "ulimit -f" in message, message
    assert "nothing was applied" in message and "cannot be opened" not in message, message
    assert got["kept"] == ["a"] and got["again"] == ["b"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_sqlite_commit_worker_is_started_anew_in_a_forked_process(tmp_path: Path) -> None:
    """A forked process starts its own thread to commit a Targeter's admissions.

    A fork copies no thread: the child's first admission would wait for the parent's for ever.
    """
    store = SQLiteLedger(tmp_path / "ledger.db")
    try:
        parent = store._committer()
        assert parent.submit(os.getpid).result(timeout=10) == os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: report through the exit status only
            ok = False
            try:
                child = store._committer()
                ok = child is not parent and child.submit(os.getpid).result(timeout=10) == (
                    os.getpid()
                )
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert store._committer() is parent
    finally:
        store.close()


def _claim_log_rows(store: SQLiteLedger, first: int, n: int, *, one_by_one: bool) -> dict[str, Any]:
    """Claim 40,000 new int ids (~80 WAL frames) into each of ``n`` new incidents."""
    rng = np.random.default_rng(first)
    claimed = {}
    for i in range(first, first + n):
        ids = rng.choice(2**62, size=40_000, replace=False)
        got = store.claim(f"inc/{i}", ids, version=f"inc/{i}", at=T0)
        assert got.status is ClaimStatus.CLAIMED and got.devices.size == ids.size
        claimed[f"inc/{i}"] = np.sort(ids)
        if one_by_one:
            assert store._wal is not None
            store._wal.wait()
    return claimed


def _assert_kept(path: Path, claimed: dict[str, Any]) -> None:
    """A new handle on ``path`` reads back each incident's claimed ids (sorted int64 arrays)."""
    again = SQLiteLedger(path)
    try:
        for key, ids in claimed.items():
            assert np.array_equal(np.sort(again.recipients(key).astype(np.int64)), ids)
    finally:
        again.close()


def test_sqlite_checkpoints_the_wal_on_a_thread_of_its_own(tmp_path: Path) -> None:
    """Large claims: the WAL is copied into the database beside them, and stays small.

    SQLite checkpoints inside the commit that takes the WAL past 1,000 frames, ~7 ms on the
    caller's thread; the store leaves that to its own thread and lets the caller's commits
    checkpoint only from 4,000 frames. 3,200 frames claimed one claim at a time: the WAL file
    stays near 1,000 frames. Then claims back to back, beside the checkpoints: every claim is
    kept (read again by a new handle), and once the writes pause the WAL starts over.
    """
    import geotarget.ledger._sqlite as sqlite_store

    path = tmp_path / "ledger.db"
    store = SQLiteLedger(path)
    try:
        wal = store._wal
        assert wal is not None
        (auto,) = store._db.execute("PRAGMA wal_autocheckpoint").fetchone()
        assert auto == sqlite_store.FALLBACK_FRAMES
        claimed = _claim_log_rows(store, 0, 40, one_by_one=True)
        frame = 4096 + 24  # a page and its frame header
        assert Path(f"{path}-wal").stat().st_size <= (sqlite_store.CHECKPOINT_FRAMES + 200) * frame
        claimed |= _claim_log_rows(store, 40, 40, one_by_one=False)
        for k in range(3):  # writes after a pause: the last checkpoints, then a new WAL
            wal.wait()
            # A new device each time: a claim of known devices writes nothing, and SQLite
            # starts the WAL over only in a write.
            pause = store.claim("pause", [len(claimed) + 10 + k], version="pause", at=T0)
            assert pause.devices.size == 1
        wal.wait()
        other = sqlite3.connect(path, isolation_level=None)
        try:  # (busy, frames in the WAL, frames copied): the WAL started over
            got = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            assert got[1] < sqlite_store.CHECKPOINT_FRAMES
        finally:
            other.close()
        before = wal.last  # a small WAL in a large file: no checkpoint
        store.claim("pause", [len(claimed) + 1], version="pause", at=T0)
        wal.wait()
        assert wal.last is before
    finally:
        store.close()
    _assert_kept(path, claimed)


def test_sqlite_admissions_alone_keep_the_wal_small(tmp_path: Path) -> None:
    """Admissions committed behind the caller start checkpoints too, as the commit worker ends.

    A store that admits alerts and claims nothing (alerts not yet active, outside the rollout)
    would otherwise leave its log to SQLite's fallback, 4,000 frames copied inside one commit.
    120 admissions of ~25 frames each: the WAL file stays near 1,000 frames, and a new handle
    reads every incident back.
    """
    from geotarget.ledger._sqlite import CHECKPOINT_FRAMES
    from geotarget.ledger._store import admit_behind

    path = tmp_path / "ledger.db"
    store = SQLiteLedger(path)
    keys = []
    try:
        wal = store._wal
        assert wal is not None
        for i in range(120):
            alert = _alert(f"A{i}", description="x" * 20_000)
            adm, on_disk = admit_behind(
                store, alert, at=T0, lease=timedelta(minutes=5), may_act_for=None
            )
            on_disk()
            wal.wait()
            assert adm.transition is Transition.STARTED and adm.incident is not None
            keys.append(adm.incident.key)
        frame = 4096 + 24  # a page and its frame header
        assert Path(f"{path}-wal").stat().st_size <= (CHECKPOINT_FRAMES + 200) * frame
        assert wal.last is not None and wal.last[1] >= CHECKPOINT_FRAMES
    finally:
        store.close()
    again = SQLiteLedger(path)
    try:
        assert [again.incident(key) is not None for key in keys] == [True] * len(keys)
    finally:
        again.close()


@pytest.mark.parametrize("synchronous", ["AUTO", "FULL", "NORMAL"])
def test_sqlite_admission_commits_behind_the_caller_only_when_it_syncs(
    tmp_path: Path, synchronous: str
) -> None:
    """An admission waiting for an ``fsync`` commits on the worker; any other one before returning.

    Either way the admission is on disk once ``on_disk`` returned, and another connection then
    reads it; with ``NORMAL`` it does so at once and no worker thread was started.
    """
    from geotarget.ledger._store import admit_behind

    path = tmp_path / "ledger.db"
    store = SQLiteLedger(path, synchronous=synchronous)
    try:
        adm, on_disk = admit_behind(
            store, _alert("A1"), at=T0, lease=timedelta(minutes=5), may_act_for=None
        )
        assert adm.transition is Transition.STARTED and adm.incident is not None
        behind = store._worker is not None
        assert behind is (synchronous != "NORMAL")
        if not behind:
            other = sqlite3.connect(path, timeout=0.0)  # a reader sees committed rows only
            try:
                got = other.execute("SELECT count(*) FROM gt_incidents").fetchone()
                assert got == (1,)
            finally:
                other.close()
        on_disk()
        again = SQLiteLedger(path)
        try:
            assert again.incident(adm.incident.key) is not None
        finally:
            again.close()
    finally:
        store.close()


def test_a_failed_admission_commit_raises_each_time_and_frees_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's failed ``COMMIT`` reaches ``on_disk`` as a StoreError, every time asked.

    The worker rolls the admission back and releases the store's lock: the store admits the
    same alert afresh, and a new handle finds only that admission.
    """
    from geotarget.errors import StoreError
    from geotarget.ledger import _sqlite
    from geotarget.ledger._store import admit_behind

    def broken(cur: sqlite3.Cursor) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    path = tmp_path / "ledger.db"
    store = SQLiteLedger(path)
    try:
        monkeypatch.setattr(_sqlite, "_commit", broken)
        adm, on_disk = admit_behind(
            store, _alert("A1"), at=T0, lease=timedelta(minutes=5), may_act_for=None
        )
        assert adm.transition is Transition.STARTED
        with pytest.raises(StoreError, match="disk I/O error") as first:
            on_disk()
        with pytest.raises(StoreError) as second:
            on_disk()
        assert second.value is first.value
        monkeypatch.undo()
        assert store.incident("polisen@polisen.se/A1") is None  # rolled back; the lock is free
        again = store.admit(_alert("A1"), at=T0)
        assert again.transition is Transition.STARTED
    finally:
        store.close()
    reopened = SQLiteLedger(path)
    try:
        assert reopened.incident("polisen@polisen.se/A1") is not None
    finally:
        reopened.close()


def test_sqlite_wal_size_is_read_from_the_current_log_only(tmp_path: Path) -> None:
    """The store's reading of the WAL's size agrees with SQLite's, before and after a restart.

    SQLite reuses the ``-wal`` file when it starts the log over: frames past the new log's end
    are the old log's, and must not count.
    """
    from geotarget.ledger._sqlite import _Checkpointer

    path = tmp_path / "x.db"
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.execute("CREATE TABLE t (b BLOB)")
        wal = _Checkpointer(path)
        sizes = []
        for rows in (60, 7):  # a log of hundreds of frames; after a restart, a short one
            for _ in range(rows):
                db.execute("INSERT INTO t VALUES (?)", (os.urandom(20_000),))
            busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            assert busy == 0 and frames == copied  # all copied: the next write starts over
            sizes.append(frames)
            assert wal.holds(frames) and not wal.holds(frames + 1)
        assert sizes[1] < sizes[0]
        assert not wal.holds(sizes[0])  # the old log's frames are still in the file
    finally:
        db.close()


def test_sqlite_claim_stands_when_no_checkpoint_thread_can_start(tmp_path: Path) -> None:
    """A commit whose checkpoint cannot be started (the interpreter shutting down) still stands.

    The checkpoint is started after the commit: its failure must not turn a written claim
    into an error.
    """
    path = tmp_path / "ledger.db"
    store = SQLiteLedger(path)
    try:
        claimed = _claim_log_rows(store, 0, 14, one_by_one=True)  # past 1,000 frames once
        wal = store._wal
        assert wal is not None and wal._pool is not None
        wal._pool.shutdown()  # submit() now raises RuntimeError, as at interpreter exit
        claimed |= _claim_log_rows(store, 14, 14, one_by_one=False)
    finally:
        store.close()
    _assert_kept(path, claimed)


LOG_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    import numpy as np
    from geotarget.ledger import SQLiteLedger
    path, seed = sys.argv[1], int(sys.argv[2])
    store = SQLiteLedger(path, busy_timeout=30)
    rng = np.random.default_rng(seed)
    at = datetime(2024, 4, 15, tzinfo=timezone.utc)
    for i in range(30):  # ~80 WAL frames each: checkpoints on this process's thread
        ids = rng.choice(2**62, size=40_000, replace=False)
        got = store.claim(f"p{seed}/{i}", ids, version=f"p{seed}/{i}", at=at)
        assert got.devices.size == ids.size
    store.close()
    """
)


def test_sqlite_processes_checkpointing_one_file_keep_every_claim(tmp_path: Path) -> None:
    """Two processes claim into one file at once, each checkpointing on its own thread.

    Their checkpoints run beside each other's writes (a PASSIVE checkpoint finding another
    under way gives up) while handles open and close beside them; a new handle then reads back
    every claim of both.
    """
    path = tmp_path / "ledger.db"
    SQLiteLedger(path).close()  # the schema, before the writers race to make it
    procs = [
        subprocess.Popen([sys.executable, "-c", LOG_WRITER, str(path), str(seed)])
        for seed in (1, 2)
    ]
    deadline = time.monotonic() + 300
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        reader = SQLiteLedger(path)  # connections come and go beside the writers
        reader.recipients("p1/0")
        reader.close()
    assert [p.wait(timeout=10) for p in procs] == [0, 0]
    claimed = {}
    for seed in (1, 2):  # the writers' ids, drawn again as they drew them
        rng = np.random.default_rng(seed)
        for i in range(30):
            claimed[f"p{seed}/{i}"] = np.sort(rng.choice(2**62, size=40_000, replace=False))
    _assert_kept(path, claimed)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_sqlite_checkpoint_thread_is_started_anew_in_a_forked_process(tmp_path: Path) -> None:
    """A forked process checkpoints on a thread and a connection of its own.

    A fork copies no thread (the child's checkpoint would wait for ever), and SQLite forbids
    using a connection across a fork.
    """
    from geotarget.ledger._sqlite import CHECKPOINT_FRAMES

    path = tmp_path / "ledger.db"
    store = SQLiteLedger(path)
    try:
        _claim_log_rows(store, 0, 14, one_by_one=True)  # the parent's thread has checkpointed
        wal = store._wal
        assert wal is not None and wal._pool is not None and wal.last is not None
        # Frames the store's thread has not copied yet: written by another connection.
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("PRAGMA wal_autocheckpoint = 0")
        other.execute("CREATE TABLE junk (b BLOB)")
        for _ in range(CHECKPOINT_FRAMES // 45):
            other.execute("INSERT INTO junk VALUES (?)", (os.urandom(200_000),))
        other.close()
        pid = os.fork()
        if pid == 0:  # the child: report through the exit status only
            ok = False
            try:
                before = wal.last
                # As the child sees a checkpoint its parent was running at the fork: never ends.
                wal._running = Future()
                wal.after_commit()
                assert wal._running is not None
                wal._running.result(timeout=10)
                got = wal.last
                ok = got is not before and got is not None and got[1] == got[2] >= CHECKPOINT_FRAMES
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        store.close()


# -- PostgreSQL failures ---------------------------------------------------------------------


def test_postgres_down_is_store_unavailable(tmp_path: Path) -> None:
    """A server that does not answer raises StoreUnavailable (no driver error leaks)."""
    from geotarget.errors import StoreUnavailable

    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        PostgresLedger(
            f"host={tmp_path} port=5999 user=postgres dbname=postgres", connect_timeout=2
        )


def test_postgres_refusing_the_database_is_not_said_to_be_out_of_reach(postgres_dsn: str) -> None:
    """A database that does not exist: the server answered, and the message says it may have.

    It said "the server cannot be reached", which sends an operator to the network, not to the
    DSN's database name (or role, or password).
    """
    from geotarget.errors import StoreUnavailable

    with pytest.raises(StoreUnavailable) as caught:
        PostgresLedger(f"{postgres_dsn} dbname=gt_no_such_database", connect_timeout=2)
    message = str(caught.value)
    assert message.startswith(
        "PostgreSQL store: connect failed: the server cannot be reached or refused the connection ("
    )
    assert '"gt_no_such_database" does not exist' in message


def test_postgres_connection_lost_while_idle_is_replaced_by_the_next_call(
    postgres_dsn: str,
) -> None:
    """A backend terminated between calls: the next call runs on a new connection, once."""
    import psycopg

    store = PostgresLedger(postgres_dsn)
    store.claim("inc", ["a"], version="v", at=T0)
    for new in ("b", "c"):  # each time: nothing fails, nothing is lost or claimed twice
        pid = store._conn.info.backend_pid
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            _wait_gone(admin, pid)
        assert store.claim("inc", [new, "a"], version="v", at=T0).devices.tolist() == [new]
        assert store._conn.info.backend_pid != pid
    assert store.recipients("inc").tolist() == ["a", "b", "c"]
    store.close()


@pytest.fixture(scope="module")
def _restartable_server() -> Iterator[Any]:
    """One private PostgreSQL server (scripts/_pg.py) for the tests that stop and start it."""
    with private_postgres() as db:
        yield db


@attrs.define
class _OwnDatabase:
    """A database of its own on the module's private server, which a test may stop and start."""

    server: Any
    name: str

    @property
    def dsn(self) -> str:
        return str(self.server.dsn).replace("dbname=postgres", f"dbname={self.name}")

    @property
    def root(self) -> Path:
        return Path(self.server.root)

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()


@pytest.fixture
def restartable_postgres(_restartable_server: Any) -> Iterator[_OwnDatabase]:
    """A fresh database on a private server (one ``initdb`` for the module), running after."""
    import psycopg

    db = _OwnDatabase(_restartable_server, f"t_{uuid.uuid4().hex}")
    with psycopg.connect(_restartable_server.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {db.name}")
    yield db  # (left to the server's removal at the module's end)
    if _restartable_server.pid is None:
        _restartable_server.start()


def test_postgres_restarted_while_idle_costs_no_failed_call(
    restartable_postgres: _OwnDatabase,
) -> None:
    """Server restarted between two calls: the second runs as usual (no StoreUnavailable)."""
    store = PostgresLedger(restartable_postgres.dsn, connect_timeout=2)
    store.claim("inc", ["a"], version="v", at=T0)
    restartable_postgres.stop()
    restartable_postgres.start()
    assert store.claim("inc", ["b", "a"], version="v", at=T0).devices.tolist() == ["b"]
    assert store.recipients("inc").tolist() == ["a", "b"]
    store.close()


@pytest.mark.parametrize("lacks", ["TEMP", "CREATE"])
def test_postgres_refused_setup_fails_precisely_and_keeps_no_connection(
    own_postgres: Any, lacks: str
) -> None:
    """A role that may log in but not set up (no temporary table, no schema): a StoreError.

    The connection it opened is closed at once (no backend of that role stays open).
    """
    import psycopg

    from geotarget.errors import StoreError

    with psycopg.connect(own_postgres.dsn, autocommit=True) as admin:
        admin.execute("CREATE ROLE lowly LOGIN")
        admin.execute("REVOKE TEMP ON DATABASE postgres FROM PUBLIC")
        admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        if lacks == "CREATE":
            admin.execute("GRANT TEMP ON DATABASE postgres TO lowly")
        dsn = own_postgres.dsn.replace("user=postgres", "user=lowly")
        with pytest.raises(StoreError, match="permission denied") as caught:
            PostgresLedger(dsn, connect_timeout=2)
        assert ("connect failed" in str(caught.value)) is (lacks == "TEMP")
        for _ in range(500):
            left = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = 'lowly'"
            ).fetchone()
            if left == (0,):
                break
            time.sleep(0.01)
        assert left == (0,), "the refused handle kept its connection open"


def _wait_gone(admin: Any, pid: int) -> None:
    """Until the terminated backend ``pid`` has left ``pg_stat_activity``."""
    import time

    for _ in range(500):
        if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchall():
            return
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} still running 5 s after pg_terminate_backend")


def test_postgres_stopped_and_restarted_fails_precisely_then_recovers(
    restartable_postgres: _OwnDatabase,
) -> None:
    """Server stopped: StoreUnavailable, nothing applied; restarted: the same handle works on."""
    from geotarget.errors import StoreUnavailable

    store = PostgresLedger(restartable_postgres.dsn, connect_timeout=2)
    store.claim("inc", ["a"], version="v", at=T0)
    restartable_postgres.stop()
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        store.claim("inc", ["b"], version="v", at=T0)
    with pytest.raises(StoreUnavailable):
        store.retract("inc", version="c", at=T0)
    restartable_postgres.start()
    assert store.claim("inc", ["b", "a"], version="v", at=T0).devices.tolist() == ["b"]
    assert store.recipients("inc").tolist() == ["a", "b"]
    incident = store.incident("inc")  # the failed retract left nothing behind
    assert incident is not None and incident.state is IncidentState.ACTIVE
    store.close()


class _CommitDropper:
    """A Unix-socket proxy before a PostgreSQL server: once armed, it hangs up after a COMMIT.

    The server commits; its answer never reaches the client.
    """

    def __init__(self, upstream: str, root: Path, dbname: str = "postgres") -> None:
        import socket
        import threading

        self.upstream = upstream
        self.armed = False
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(root / ".s.PGSQL.5432"))
        self.server.listen(8)
        self.dsn = f"host={root} port=5432 user=postgres dbname={dbname}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed
            server = socket.socket(socket.AF_UNIX)
            server.connect(self.upstream)
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: Any, server: Any) -> None:
        import select

        try:
            while True:
                ready, _, _ = select.select([client, server], [], [])
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        return
                    server.sendall(data)
                    if self.armed and b"COMMIT" in data:
                        self.armed = False
                        server.recv(65536)  # the server has committed: its answer is dropped
                        return
                if server in ready:
                    data = server.recv(65536)
                    if not data:
                        return
                    client.sendall(data)
        finally:
            client.close()
            server.close()

    def close(self) -> None:
        self.server.close()


def test_postgres_connection_lost_while_committing_says_it_may_have_been_applied(
    restartable_postgres: _OwnDatabase, tmp_path: Path
) -> None:
    """The connection drops after the server committed, before its answer arrived.

    The error said "nothing was applied" although the claim had been made. It says the
    operation may have been applied, and repeating it applies nothing twice: the devices it
    claimed come back through redeliver() once their lease runs out.
    """
    from geotarget.errors import StoreUnavailable

    upstream = restartable_postgres.root / ".s.PGSQL.5432"
    proxy = _CommitDropper(str(upstream), tmp_path, restartable_postgres.name)
    store = PostgresLedger(proxy.dsn)
    try:
        store.claim("inc", ["a"], version="v", at=T0, lease=timedelta(seconds=30))
        proxy.armed = True
        with pytest.raises(StoreUnavailable) as caught:
            store.claim("inc", ["b", "c"], version="v", at=T0, lease=timedelta(seconds=30))
        message = str(caught.value)
        assert "nothing was applied" not in message, message
        assert "may have been applied" in message and "while committing" in message, message
        assert store.recipients("inc").tolist() == ["a", "b", "c"]  # it was: b and c are claimed
        assert store.claim("inc", ["b", "c"], version="v", at=T0).devices.tolist() == []
        later = T0 + timedelta(minutes=1)
        assert [c.devices.tolist() for c in store.redeliver(later)] == [["a", "b", "c"]]
        proxy.armed = True  # a read applies nothing, whenever its connection goes
        with pytest.raises(StoreUnavailable, match=r"nothing was applied$"):
            store.recipients("inc")
    finally:
        store.close()
        proxy.close()


def test_postgres_held_lock_is_store_busy_within_lock_timeout(postgres_dsn: str) -> None:
    """A Cancel in another session holding the incident's row makes a claim fail fast."""
    import psycopg

    from geotarget.errors import StoreBusy

    store = PostgresLedger(postgres_dsn, lock_timeout=0.3)
    store.claim("inc", ["a"], version="v", at=T0)
    with psycopg.connect(postgres_dsn) as other:
        other.execute("SELECT 1 FROM gt_incidents WHERE incident = 'inc' FOR UPDATE")
        t0 = time.perf_counter()
        with pytest.raises(StoreBusy, match="lock_timeout"):
            store.claim("inc", ["b"], version="v", at=T0)
        assert time.perf_counter() - t0 < 5
    assert store.claim("inc", ["b"], version="v", at=T0).devices.tolist() == ["b"]
    store.close()


# -- several processes -------------------------------------------------------------------------

CLAIMER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import datetime, timezone
    from geotarget.ledger import PostgresLedger, SQLiteLedger
    kind, where, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = PostgresLedger(where) if kind == "postgres" else SQLiteLedger(where, busy_timeout=30)
    at = datetime(2024, 4, 15, tzinfo=timezone.utc)
    mine = []
    start = float(sys.argv[4])
    while time.time() < start:
        time.sleep(0.001)
    for b in range(20):
        ids = [(seed * 7 + b * 13 + i) % 3000 for i in range(0, 1500, 1 + (seed + b) % 3)]
        mine += store.claim("inc", ids, version="v", at=at).devices.tolist()
    print(json.dumps(mine))
    """
)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_concurrent_processes_claim_disjoint_sets_covering_every_device(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Four processes claiming overlapping devices at once: disjoint claims, union = all offered."""
    import json

    where = (
        request.getfixturevalue("postgres_dsn") if kind == "postgres" else str(tmp_path / "l.db")
    )
    if kind == "postgres":
        PostgresLedger(where).close()  # the schema, before the race
    else:
        SQLiteLedger(where).close()
    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, kind, where, str(seed), str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    claimed = [json.loads(o) for o in outs]
    flat = [d for c in claimed for d in c]
    assert len(flat) == len(set(flat)), "a device was claimed twice"
    offered = {
        str((seed * 7 + b * 13 + i) % 3000)
        for seed in range(4)
        for b in range(20)
        for i in range(0, 1500, 1 + (seed + b) % 3)
    }
    assert set(flat) == offered
    store = PostgresLedger(where) if kind == "postgres" else SQLiteLedger(where)
    assert sorted(store.recipients("inc").tolist()) == sorted(offered)
    store.close()


CANCEL_RACE = textwrap.dedent(
    """
    import json, os, sys, time
    from datetime import datetime, timezone
    from geotarget.ledger import PostgresLedger, SQLiteLedger
    kind, where, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = PostgresLedger(where) if kind == "postgres" else SQLiteLedger(where, busy_timeout=30)
    at = datetime(2024, 4, 15, tzinfo=timezone.utc)
    mine, n = [], 0
    parent = os.getppid()
    while os.getppid() == parent:  # a test that died sends no Cancel: do not claim for ever
        got = store.claim("inc", [f"{seed}-{n + i}" for i in range(200)], version="v", at=at)
        n += 200
        if got.status.name != "CLAIMED":
            break
        mine += got.devices.tolist()
    print(json.dumps(mine))
    """
)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_cancel_stops_claims_in_flight_in_every_process(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Claimers in other processes stop at a retract; it retracts exactly what they claimed."""
    import json

    where = (
        request.getfixturevalue("postgres_dsn") if kind == "postgres" else str(tmp_path / "l.db")
    )
    store: Any = PostgresLedger(where) if kind == "postgres" else SQLiteLedger(where)
    store.claim("inc", ["seed"], version="v", at=T0)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CANCEL_RACE, kind, where, str(seed)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in range(3)
    ]
    while len(store.recipients("inc")) < 2000:
        time.sleep(0.05)
    back = store.retract("inc", version="c", at=T0)
    outs = [p.communicate(timeout=120)[0] for p in procs]
    claimed = {"seed"} | {d for o in outs for d in json.loads(o)}
    assert set(back.devices.tolist()) == claimed
    assert set(store.recipients("inc").tolist()) == claimed
    store.close()


WRITER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    from geotarget.ledger import SQLiteLedger
    ledger = SQLiteLedger(sys.argv[1])
    at = datetime(2024, 4, 15, tzinfo=timezone.utc)
    for batch in range(10_000):
        ledger.claim("inc", [f"{batch}:{i}" for i in range(2000)], version="v", at=at)
        print(batch, flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_batch_loses_nothing_acknowledged_and_leaves_no_partial_batch(
    tmp_path: Path,
) -> None:
    """A writer killed with SIGKILL mid-batch: every acknowledged batch is whole, none partial."""
    path = tmp_path / "ledger.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acked: list[int] = []
    while len(acked) < 5:
        line = proc.stdout.readline()
        assert line, "writer ended early"
        acked.append(int(line))
    time.sleep(0.003)  # land the kill inside a later batch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    acked += [int(x) for x in proc.stdout.read().split()]
    proc.stdout.close()
    with SQLiteLedger(path) as ledger:
        rows = ledger.recipients("inc")
        assert len(ledger.due(T0 + timedelta(days=1))[0]) == rows.size  # all pending, all due
    per_batch: dict[str, int] = {}
    for device in rows.tolist():
        batch = str(device).split(":")[0]
        per_batch[batch] = per_batch.get(batch, 0) + 1
    assert all(n == 2000 for n in per_batch.values()), "a partial batch was committed"
    assert {str(b) for b in acked} <= set(per_batch), "an acknowledged batch was lost"


def test_two_processes_redelivering_at_once_take_disjoint_sets(
    opener: Opener, tmp_path: Path
) -> None:
    """Two handles redelivering the same due claims each take a disjoint part."""
    a = opener()
    a.claim("inc", [str(i) for i in range(500)], version="v", at=T0, lease=MIN)
    b = opener()
    got_a = {d for c in a.redeliver(T0 + MIN, limit=300) for d in c.devices.tolist()}
    got_b = {d for c in b.redeliver(T0 + MIN) for d in c.devices.tolist()}
    assert not got_a & got_b
    assert got_a | got_b == {str(i) for i in range(500)}


def test_admit_lets_the_issuer_table_say_who_may_act_for_whom(store: Any) -> None:
    """A Cancel from another sender is refused unless may_act_for allows it; status must match."""
    from geotarget.issuers import Issuer, Issuers

    table = Issuers([
        Issuer(name="national", senders=["polisen@polisen.se"], kinds=["explosion"],
               regions=["SE"]),
        Issuer(name="syd", senders=["syd@polisen.se"], kinds=["explosion"], regions=["SE"],
               acts_for=["national"]),
    ])  # fmt: skip
    assert store.admit(_alert(), at=T0).transition is Transition.STARTED
    cancel = _follow(MessageType.CANCEL, "K9", "K1", 5, sender="syd@polisen.se")
    assert store.admit(cancel, at=T0).transition is Transition.NOT_AUTHORISED
    test = attrs.evolve(cancel, status=Status.TEST)
    got = store.admit(test, at=T0, may_act_for=table.may_act_for)
    assert got.transition is Transition.NOT_AUTHORISED
    got = store.admit(cancel, at=T0, may_act_for=table.may_act_for)
    assert got.transition is Transition.RETRACTED


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        (5, InvalidType, r"^path must be a file path \(str or pathlib.Path\) \(got int\)$"),
        (b"deliveries.db", InvalidType, r"\(got bytes\)$"),
        ("NUL", InvalidInput, r"^path must not contain a NUL character"),
    ],
)
def test_sqlite_ledger_refuses_a_path_it_cannot_open_with_geotarget_errors(
    tmp_path: Path, path: Any, error: type[Exception], message: str
) -> None:
    """Not a path, or a NUL in it: the store's own error (was a TypeError or a ValueError)."""
    if path == "NUL":
        path = tmp_path / "a\0.db"
    with pytest.raises(error, match=message):
        SQLiteLedger(path)
