"""The delivery protocol through the Targeter (issue 12).

Pending claims, confirm, redeliver, incidents in the store, several Targeters over one store,
a Cancel that wins everywhere.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from targeting_helpers import SENDER, T0, make_alert, make_regions, positions, ref

from geotarget import Circle, PositionIndex, Positions
from geotarget.alerts import MessageType
from geotarget.errors import InvalidInput
from geotarget.ledger import (
    ClaimStatus,
    DeliveryKind,
    MemoryLedger,
    PostgresLedger,
    SQLiteLedger,
)
from geotarget.regions import RegionHierarchy
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, Verdict

AREA = Circle(17.5, 59.5, 1000.0)
WIDE = Circle(17.5, 59.5, 2500.0)
LATER = T0 + dt.timedelta(minutes=5)
Opener = Callable[[], Any]


@pytest.fixture(scope="module")
def regions() -> RegionHierarchy:
    """The small synthetic hierarchy of :mod:`targeting_helpers`."""
    return make_regions()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Each call opens another handle on one store (memory: the same object)."""
    kind = request.param
    memory = MemoryLedger()
    dsn = request.getfixturevalue("postgres_dsn") if kind == "postgres" else ""
    opened: list[Any] = []

    def open_store() -> Any:
        if kind == "memory":
            return memory
        store: Any = PostgresLedger(dsn) if kind == "postgres" else SQLiteLedger(tmp_path / "l.db")
        opened.append(store)
        return store

    yield open_store
    for s in opened:
        s.close()


@pytest.fixture(params=["sqlite", "postgres"])
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Each call opens another handle on one durable store."""
    kind = request.param
    dsn = request.getfixturevalue("postgres_dsn") if kind == "postgres" else ""
    opened: list[Any] = []

    def open_store() -> Any:
        store: Any = PostgresLedger(dsn) if kind == "postgres" else SQLiteLedger(tmp_path / "l.db")
        opened.append(store)
        return store

    yield open_store
    for s in opened:
        s.close()


def idx(lon: list[float], lat: list[float]) -> PositionIndex:
    """An index over fresh positions d0, d1, ..."""
    return PositionIndex(positions(lon, lat))


#: d0 at the centre, d1 1.7 km east (inside WIDE only), d2 far away.
DEVICES = ([17.5, 17.53, 18.5], [59.5, 59.5, 59.5])


def walkers(*names: str, at: dt.datetime = LATER) -> Positions:
    """A batch of devices standing inside AREA."""
    n = len(names)
    return Positions(list(names), [17.501] * n, [59.5] * n, observed_at=[at] * n)


def test_recipients_are_pending_claims_with_stable_keys(opener: Opener) -> None:
    """target() returns pending claims; unconfirmed ones come back after the lease, same keys."""
    t = Targeter(make_regions(), nationwide("XX"), ledger=opener(), lease=dt.timedelta(seconds=30))
    alert = make_alert("explosion", WIDE, ident="a1")
    got = t.target(alert, idx(*DEVICES), T0)
    assert got.verdict is Verdict.DELIVER
    assert got.claims is not None and got.claims.status is ClaimStatus.CLAIMED
    keys = got.claims.keys().tolist()
    assert keys == [f"{SENDER}/a1 {SENDER}/a1 d0", f"{SENDER}/a1 {SENDER}/a1 d1"]
    assert got.claims.ids().tolist() == got.recipients.tolist() == ["d0", "d1"]
    # Before the lease runs out nothing is due; afterwards both come back, with the same keys.
    assert t.redeliver(T0 + dt.timedelta(seconds=29)) == []
    again = t.redeliver(T0 + dt.timedelta(seconds=30))
    assert [k for c in again for k in c.keys().tolist()] == keys
    # Taken: not offered twice within the new lease.
    assert t.redeliver(T0 + dt.timedelta(seconds=31)) == []
    done = t.confirm(keys[:1], T0 + dt.timedelta(seconds=40))
    assert done.confirmed.tolist() == [0]
    assert t.confirm(keys[:1], T0 + dt.timedelta(seconds=41)).already.tolist() == [0]  # never twice
    back = t.redeliver(T0 + dt.timedelta(minutes=5))
    assert [k for c in back for k in c.keys().tolist()] == keys[1:]
    t.confirm(keys[1:], T0 + dt.timedelta(minutes=5))
    assert t.redeliver(T0 + dt.timedelta(hours=1)) == []


def test_deliveries_of_an_expired_alert_are_not_offered_again(opener: Opener) -> None:
    """Once the incident's current version has expired, redeliver drops its alert deliveries.

    Regression (found by tests/test_lifecycle_sweep.py): an alert is active only before its
    expiry, yet its unconfirmed deliveries kept coming back after it, in every process. An
    Update that extends the incident claims them again, under its own version and keys.
    """
    lease = dt.timedelta(seconds=30)
    t = Targeter(make_regions(), nationwide("XX"), ledger=opener(), lease=lease)
    alert = make_alert("explosion", WIDE, ident="a1", hours=1)
    keys = t.target(alert, idx(*DEVICES), T0).claims.keys().tolist()  # type: ignore[union-attr]
    assert len(keys) == 2
    before = T0 + dt.timedelta(minutes=59)
    assert [k for c in t.redeliver(before) for k in c.keys().tolist()] == keys
    end = T0 + dt.timedelta(hours=1)
    assert t.redeliver(end + lease) == []
    restarted = Targeter(make_regions(), nationwide("XX"), ledger=opener(), lease=lease)
    assert restarted.redeliver(end + 3 * lease) == []
    longer = make_alert(
        "explosion",
        WIDE,
        ident="a2",
        msg_type=MessageType.UPDATE,
        refs=(ref(alert),),
        sent=T0 + dt.timedelta(minutes=1),
        hours=3,
    )
    extended = restarted.target(longer, idx(*DEVICES), end + 3 * lease)
    assert extended.verdict is Verdict.DELIVER
    moved = [k.replace(f"{SENDER}/a1 d", f"{SENDER}/a2 d") for k in keys]
    assert extended.claims is not None and extended.claims.keys().tolist() == moved
    back = restarted.redeliver(end + 5 * lease)
    assert [k for c in back for k in c.keys().tolist()] == moved
    assert t.redeliver(end + 5 * lease) == []  # taken once


def test_on_positions_returns_keys_and_an_update_claims_only_new_devices(opener: Opener) -> None:
    """Streaming deliveries carry keys; a widened Update claims only devices not yet claimed."""
    t = Targeter(make_regions(), nationwide("XX"), ledger=opener())
    first = make_alert("explosion", AREA, ident="a1")
    told = t.target(first, idx(*DEVICES), T0)
    assert told.recipients.tolist() == ["d0"]
    assert told.claims is not None
    t.confirm(told.claims.keys(), T0)  # pushed: d0 was told
    streamed = t.on_positions(walkers("w1", "d0"), LATER)
    assert [(d.device_id, d.key) for d in streamed] == [("w1", f"{SENDER}/a1 {SENDER}/a1 w1")]
    wider = make_alert(
        "explosion",
        WIDE,
        ident="a2",
        msg_type=MessageType.UPDATE,
        refs=(ref(first),),
        sent=LATER,
    )
    got = t.target(wider, idx(*DEVICES), LATER)
    assert got.recipients.tolist() == ["d1"]
    assert got.claims is not None and got.claims.keys().tolist() == [f"{SENDER}/a1 {SENDER}/a2 d1"]
    assert t.confirm([d.key for d in streamed], LATER).confirmed.tolist() == [0]


def test_cancel_is_a_retraction_claim_set(opener: Opener) -> None:
    """A Cancel returns pending retractions, confirmed like deliveries and redelivered until so."""
    t = Targeter(make_regions(), nationwide("XX"), ledger=opener(), lease=dt.timedelta(seconds=10))
    first = make_alert("explosion", WIDE, ident="a1")
    told = t.target(first, idx(*DEVICES), T0)
    assert told.claims is not None
    t.confirm(told.claims.keys(), T0)
    cancel = make_alert(
        "explosion", WIDE, ident="c1", msg_type=MessageType.CANCEL, refs=(ref(first),)
    )
    got = t.target(cancel, idx(*DEVICES), T0)
    assert got.verdict is Verdict.CANCELLED
    assert got.claims is not None and got.claims.kind is DeliveryKind.RETRACTION
    keys = got.claims.keys().tolist()
    assert keys == [f"{SENDER}/a1 {SENDER}/c1 d0", f"{SENDER}/a1 {SENDER}/c1 d1"]
    back = t.redeliver(T0 + dt.timedelta(seconds=10))
    assert [k for c in back for k in c.keys().tolist()] == keys
    assert t.confirm(keys, T0 + dt.timedelta(seconds=11)).confirmed.tolist() == [0, 1]
    assert t.redeliver(T0 + dt.timedelta(hours=1)) == []


def test_lease_is_checked(regions: RegionHierarchy) -> None:
    """The lease is a positive timedelta; the default is 60 s."""
    assert Targeter(regions, nationwide("XX")).lease == dt.timedelta(seconds=60)
    with pytest.raises(InvalidInput, match="lease must be a timedelta > 0"):
        Targeter(regions, nationwide("XX"), lease=dt.timedelta(0))
    with pytest.raises(InvalidInput, match="at most 30 days"):
        Targeter(regions, nationwide("XX"), lease=dt.timedelta(days=3_000_000))
    with pytest.raises(InvalidInput, match="at most 30 days"):
        MemoryLedger().redeliver(T0, lease=dt.timedelta(days=31))


@pytest.mark.parametrize(
    ("at", "rule"),
    [
        ("9999-12-31T23:59:59-14:00", "within the years 1 to 9999 in UTC"),
        ("0001-01-01T00:00:00+14:00", "within the years 1 to 9999 in UTC"),
        ("9999-12-31T00:00:00+00:00", "before 9999-12-01"),
    ],
)
def test_times_the_ledger_cannot_keep_are_refused(
    regions: RegionHierarchy, at: str, rule: str
) -> None:
    """Extreme times are an InvalidInput naming ``at``, not an OverflowError from the ledger."""
    when = dt.datetime.fromisoformat(at)
    t = Targeter(regions, nationwide("XX"))
    alert = make_alert("explosion", Circle(18.0, 59.0, 1000.0), ident="extreme")
    index = PositionIndex(positions([18.0], [59.0]))
    for call in (
        lambda: t.target(alert, index, when),
        lambda: t.redeliver(when),
        lambda: t.confirm([], when),
    ):
        with pytest.raises(InvalidInput, match=f"at must lie {rule}"):
            call()
    assert t.active_incidents == ()


def test_a_new_targeter_resumes_the_active_alerts(
    regions: RegionHierarchy, durable: Opener
) -> None:
    """After a restart on_positions streams at once; pending claims come back; no one twice."""
    a = Targeter(regions, nationwide("XX"), ledger=durable())
    first = make_alert("explosion", AREA, ident="a1")
    got = a.target(first, idx(*DEVICES), T0)
    assert got.recipients.tolist() == ["d0"]
    a.ledger.close()
    b = Targeter(regions, nationwide("XX"), ledger=durable())  # the process restarted
    assert b.active_incidents == (f"{SENDER}/a1",)
    assert [d.device_id for d in b.on_positions(walkers("w1", "d0"), LATER)] == ["w1"]
    due = b.redeliver(T0 + dt.timedelta(minutes=2))
    assert [k for c in due for k in c.keys().tolist()] == got.claims.keys().tolist()  # type: ignore[union-attr]
    # The same alert again (the upstream re-sends it): nobody new.
    assert b.target(first, idx(*DEVICES), T0).recipients.tolist() == []


def test_a_cancel_on_one_targeter_stops_every_other(
    regions: RegionHierarchy, durable: Opener
) -> None:
    """Two Targeters over one store: a Cancel on A, then B delivers nothing, ever."""
    a = Targeter(regions, nationwide("XX"), ledger=durable())
    b = Targeter(regions, nationwide("XX"), ledger=durable())
    first = make_alert("explosion", AREA, ident="a1")
    a.target(first, idx(*DEVICES), T0)
    assert [d.device_id for d in b.on_positions(walkers("w1"), LATER)] == ["w1"]
    assert list(b.active_incidents) == [f"{SENDER}/a1"]
    cancel = make_alert(
        "explosion", AREA, ident="c1", msg_type=MessageType.CANCEL, refs=(ref(first),)
    )
    got = a.target(cancel, idx(*DEVICES), LATER)
    assert sorted(got.retract.tolist()) == ["d0", "w1"]  # B's streamed device is retracted too
    assert b.on_positions(walkers("w2"), LATER) == []
    assert not b.active_incidents
    late = b.target(first, idx(*DEVICES), LATER)
    assert late.verdict is Verdict.CANCELLED and len(late.recipients) == 0
    # An Update on B joins the cancelled incident: refused there too.
    upd = make_alert(
        "explosion",
        WIDE,
        ident="a2",
        msg_type=MessageType.UPDATE,
        refs=(ref(first),),
        sent=LATER,
    )
    assert b.target(upd, idx(*DEVICES), LATER).verdict is Verdict.CANCELLED


def test_an_update_on_one_targeter_is_streamed_by_another(
    regions: RegionHierarchy, durable: Opener
) -> None:
    """B streams the current version A delivered, and only after A delivered it."""
    a = Targeter(regions, nationwide("XX"), ledger=durable())
    b = Targeter(regions, nationwide("XX"), ledger=durable())
    first = make_alert("explosion", AREA, ident="a1")
    a.target(first, idx(*DEVICES), T0)
    east = Positions(["east"], [17.53], [59.5], observed_at=[LATER])
    assert b.on_positions(east, LATER) == []  # outside AREA
    wider = make_alert(
        "explosion",
        WIDE,
        ident="a2",
        msg_type=MessageType.UPDATE,
        refs=(ref(first),),
        sent=LATER,
    )
    a.target(wider, idx(*DEVICES), LATER)
    got = b.on_positions(east, LATER)
    assert [(d.device_id, d.alert_id) for d in got] == [("east", "a2")]


def test_a_claim_in_flight_loses_to_a_cancel(regions: RegionHierarchy, durable: Opener) -> None:
    """A Cancel applied by A between B's evaluation and B's claim: B's claim is refused."""
    a = Targeter(regions, nationwide("XX"), ledger=durable())
    store_b = durable()
    first = make_alert("explosion", AREA, ident="a1")
    a.target(first, idx(*DEVICES), T0)
    cancel = make_alert(
        "explosion", AREA, ident="c1", msg_type=MessageType.CANCEL, refs=(ref(first),)
    )

    class CancelFirst:
        """B's store: the Cancel lands on A just before B's claim reaches the store."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def claim(self, *args: Any, **kw: Any) -> Any:
            a.target(cancel, idx(*DEVICES), LATER)
            return self.inner.claim(*args, **kw)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    b = Targeter(regions, nationwide("XX"), ledger=CancelFirst(store_b))
    assert b.on_positions(walkers("w1"), LATER) == []
    assert a.ledger.recipients(f"{SENDER}/a1").tolist() == ["d0"]


@pytest.mark.parametrize("when", ["admitted, not yet released", "before the claim"])
def test_a_batch_racing_an_update_in_another_instance_is_claimed_for_the_update(
    regions: RegionHierarchy, durable: Opener, when: str
) -> None:
    """A streams a batch while B applies an Update (AREA widened to WIDE) to the incident.

    Admitted but not yet released by B's ``target()``: A waits for the release and claims
    for the Update. Released just before A's claim (A had read the first version as
    current): A's claim is refused (SUPERSEDED) and A evaluates the batch again for the
    Update. Both lost the batch before: no device of it was ever claimed, though every one
    is inside both areas (and one inside the Update's only), until it reported again.
    """
    a_store, b_store = durable(), durable()
    hooks: dict[str, Callable[[], None]] = {}

    class Hooked:
        """Runs the hook set for this store once, just before its next claim."""

        def __init__(self, inner: Any, name: str) -> None:
            self.inner, self.name = inner, name

        def claim(self, *args: Any, **kw: Any) -> Any:
            hook = hooks.pop(self.name, None)
            if hook is not None:
                hook()
            return self.inner.claim(*args, **kw)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    a = Targeter(regions, nationwide("XX"), ledger=Hooked(a_store, "a"))
    b = Targeter(regions, nationwide("XX"), ledger=Hooked(b_store, "b"))
    first = make_alert("explosion", AREA, ident="a1")
    assert a.target(first, idx([18.5], [59.5]), T0).verdict is Verdict.DELIVER
    wider = make_alert(
        "explosion", WIDE, ident="a2", msg_type=MessageType.UPDATE, refs=(ref(first),), sent=LATER
    )
    batch = Positions(["w0", "w1", "east"], [17.501, 17.499, 17.53], [59.5] * 3, observed_at=LATER)
    got: list[Any] = []
    if when == "admitted, not yet released":
        streamer = threading.Thread(target=lambda: got.extend(a.on_positions(batch, LATER)))
        hooks["b"] = streamer.start  # B admitted the Update; its claim (the release) follows
        assert b.target(wider, idx([18.5], [59.5]), LATER).verdict is Verdict.DELIVER
        streamer.join()
    else:

        def update_first() -> None:  # B's Update lands just before A's claim
            b.target(wider, idx([18.5], [59.5]), LATER)

        hooks["a"] = update_first
        got = a.on_positions(batch, LATER)
    assert sorted((d.device_id, d.alert_id) for d in got) == [
        ("east", "a2"),
        ("w0", "a2"),
        ("w1", "a2"),
    ]
    assert sorted(a_store.recipients(f"{SENDER}/a1").tolist()) == ["east", "w0", "w1"]


def test_a_version_another_instance_never_releases_is_waited_for_once_and_only_when_streaming(
    regions: RegionHierarchy, durable: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B admits an Update its own guard then holds (over the area limit, not confirmed).

    ``active_incidents`` (a listing) never waits for it; A's first ``on_positions`` waits its
    settle time once and streams the version B released before; a second batch waits no more.
    """
    import time

    import geotarget.targeting as targeting

    monkeypatch.setattr(targeting, "_SETTLE_S", 0.3)
    naps: list[float] = []
    nap = time.sleep

    def counted(seconds: float) -> None:
        naps.append(seconds)
        nap(seconds)

    monkeypatch.setattr(time, "sleep", counted)
    a = Targeter(regions, nationwide("XX"), ledger=durable())
    b = Targeter(regions, nationwide("XX"), ledger=durable())
    first = make_alert("explosion", AREA, ident="a1")
    a.target(first, idx([18.5], [59.5]), T0)
    huge = make_alert(
        "explosion",
        Circle(17.5, 59.5, 20_000.0),  # over the Explosion's 100 km²
        ident="a2",
        msg_type=MessageType.UPDATE,
        refs=(ref(first),),
        sent=LATER,
    )
    assert b.target(huge, idx([18.5], [59.5]), LATER).verdict is Verdict.BLAST_RADIUS
    assert a.active_incidents == ()  # its current version (a2) was never released
    assert naps == []  # a listing does not wait
    began = time.monotonic()
    assert a.on_positions(walkers("w0"), LATER) == []  # waited, then skipped, as before
    # It waited its settle time: at least 0.3 s passed, and it slept no more than that (each
    # nap is at most what is left of it; polling the store fills the rest on a loaded host).
    assert time.monotonic() - began >= 0.3
    assert naps and 0.0 < sum(naps) <= 0.3 + 1e-9
    naps.clear()
    assert a.on_positions(walkers("w1"), LATER) == []
    assert naps == []  # seen once: no second wait
    assert b.on_positions(walkers("w2"), LATER) == []
    assert naps == []  # B decided a2 itself: never waits for it


def test_threads_and_two_targeters_never_claim_twice_nor_after_cancel(
    regions: RegionHierarchy, durable: Opener
) -> None:
    """Threads over two Targeters stream, update and cancel one incident at once.

    Every device in the area is claimed once over both; nothing is claimed after the
    Cancel returned: the Cancel's retraction list is the final claim set.
    """
    rng = np.random.default_rng(12)
    n = 1500
    lon = rng.uniform(17.48, 17.52, n)
    lat = rng.uniform(59.49, 59.51, n)
    ids = [f"p{i}" for i in range(n)]
    a = Targeter(regions, nationwide("XX"), ledger=durable())
    b = Targeter(regions, nationwide("XX"), ledger=durable())
    first = make_alert("explosion", Circle(17.5, 59.5, 800.0), ident="a1")
    a.target(first, PositionIndex(Positions(ids[:10], lon[:10], lat[:10], observed_at=T0)), T0)
    claimed: list[str] = []
    lock = threading.Lock()
    retracted: list[list[str]] = []

    def stream(t: Targeter, lo: int) -> None:
        for start in range(lo, n, 400):
            batch = Positions(
                ids[start : start + 400],
                lon[start : start + 400],
                lat[start : start + 400],
                observed_at=LATER,
            )
            got = t.on_positions(batch, LATER)
            with lock:
                claimed.extend(str(d.device_id) for d in got)

    def cancel_now() -> None:
        cancel = make_alert(
            "explosion",
            AREA,
            ident="c1",
            msg_type=MessageType.CANCEL,
            refs=(ref(first),),
        )
        retracted.append(a.target(cancel, idx(*DEVICES), LATER).retract.tolist())

    threads = [threading.Thread(target=stream, args=(t, lo)) for t in (a, b) for lo in (0, 200)]
    threads.insert(2, threading.Thread(target=cancel_now))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    final = a.ledger.recipients(f"{SENDER}/a1").tolist()
    assert len(final) == len(set(final))  # nobody claimed twice
    assert sorted(retracted[0]) == sorted(final)  # nothing claimed after the Cancel returned
    assert set(claimed) <= set(final)
    assert len(claimed) == len(set(claimed))
    assert b.on_positions(Positions(ids, lon, lat, observed_at=LATER), LATER) == []


@pytest.mark.parametrize("ids", ["int", "text", "numeric text"])
def test_recipients_are_every_covered_device_in_id_order(opener: Opener, ids: str) -> None:
    """Whatever the rows' and the ids' orders, the covered devices are told, ids ascending.

    The Targeter hands the store its batch in id order (a sort there would cost milliseconds
    for a tip request's tens of thousands of random ids); the oracle is pyproj's geodesic
    distance of each exact fix from the centre, one device at a time.
    """
    from pyproj import Geod

    rng = np.random.default_rng(11)
    n = 600
    lon = WIDE.lon + rng.uniform(-0.06, 0.06, n)
    lat = WIDE.lat + rng.uniform(-0.03, 0.03, n)
    values = rng.choice(10**15, n, replace=False) - 5 * 10**14
    device = {
        "int": values,
        "text": np.array([f"dev-{v:x}" for v in values.tolist()]),
        "numeric text": np.array([str(v) for v in values.tolist()]),  # the store: ints
    }[ids]
    t = Targeter(make_regions(), nationwide("XX"), ledger=opener())
    got = t.target(
        make_alert("explosion", WIDE, ident="ids-" + ids.replace(" ", "-")),
        idx_of(device, lon, lat),
        T0,
    )
    _, _, dist = Geod(ellps="WGS84").inv(np.full(n, WIDE.lon), np.full(n, WIDE.lat), lon, lat)
    want = device[dist <= WIDE.radius_m]
    assert 50 < want.size < n and not np.any(np.abs(dist - WIDE.radius_m) < 0.01)
    assert got.recipients.tolist() == sorted(want.tolist())
    assert got.claims is not None and got.claims.ids().tolist() == got.recipients.tolist()
    assert sum(got.per_county.values()) == want.size


@pytest.mark.parametrize("ids", ["int", "text"])
def test_a_widened_update_counts_its_new_recipients_per_county(opener: Opener, ids: str) -> None:
    """``per_county`` of an Update counts only the devices it tells anew, wherever they sit.

    The covered devices stay in the evaluation's order while their ids go to the store sorted;
    an Update that tells a subset of them picks that subset in id order. The first alert lies
    wholly in county 02, the Update straddles the border (lon 18.0): devices in random rows with
    random ids. The oracle is pyproj's geodesic distance of each exact fix from each centre, and its
    longitude for the county.
    """
    from pyproj import Geod

    rng = np.random.default_rng(23)
    n = 1200
    lon = 18.0 + rng.uniform(-0.07, 0.07, n)
    lat = 59.5 + rng.uniform(-0.035, 0.035, n)
    values = rng.choice(10**15, n, replace=False)
    device = values if ids == "int" else np.array([f"dev-{v:x}" for v in values.tolist()])
    index = idx_of(device, lon, lat)
    t = Targeter(make_regions(), nationwide("XX"), ledger=opener())
    first = make_alert("explosion", Circle(18.02, 59.5, 1000.0), ident="c1")
    told = t.target(first, index, T0)
    assert told.claims is not None
    t.confirm(told.claims.keys(), T0)  # pushed: they were told
    wider = make_alert(
        "explosion",
        Circle(18.0, 59.5, 3000.0),
        ident="c2",
        msg_type=MessageType.UPDATE,
        refs=(ref(first),),
        sent=LATER,
    )
    got = t.target(wider, index, LATER)
    geod = Geod(ellps="WGS84")
    _, _, near = geod.inv(np.full(n, 18.02), np.full(n, 59.5), lon, lat)
    _, _, far = geod.inv(np.full(n, 18.0), np.full(n, 59.5), lon, lat)
    assert not np.any(np.abs(near - 1000.0) < 0.01) and not np.any(np.abs(far - 3000.0) < 0.01)
    new = (far <= 3000.0) & (near > 1000.0)
    assert sorted(told.recipients.tolist()) == sorted(device[near <= 1000.0].tolist())
    assert got.recipients.tolist() == sorted(device[new].tolist())
    want = {"01": int((new & (lon < 18.0)).sum()), "02": int((new & (lon > 18.0)).sum())}
    assert min(want.values()) > 50 and (near <= 1000.0).sum() > 50 and not np.any(lon == 18.0)
    assert dict(got.per_county) == want


def idx_of(ids: Any, lon: Any, lat: Any) -> PositionIndex:
    """An index over fresh exact fixes of the given ids."""
    return PositionIndex(Positions(ids, lon, lat, observed_at=T0))


def test_an_admission_whose_commit_fails_raises_and_tells_nobody(
    regions: RegionHierarchy, small_tmpfs: Any
) -> None:
    """The SQLite admission commits behind the match: a failed commit fails target() whole.

    The store sits on a nearly full 4 MiB tmpfs; the alert's document (a polygon of 1,500
    vertices, ~110 kB) does not fit when its admission commits. ``target()`` raises StoreFull
    — raised by the commit on the ledger's worker thread, not before it — and nothing of the
    alert is kept: no incident, nobody claimed. With room again, the same alert is delivered
    to every device inside.
    """
    import traceback

    from geotarget import Polygon
    from geotarget.errors import StoreFull

    mnt = small_tmpfs("4m")
    ledger = SQLiteLedger(mnt / "l.db")
    t = Targeter(regions, nationwide("XX"), ledger=ledger)
    angle = np.linspace(0.0, 2.0 * np.pi, 1500, endpoint=False)
    ring = np.c_[17.5 + 0.02 * np.cos(angle), 59.5 + 0.01 * np.sin(angle)]
    alert = make_alert("explosion", Polygon(ring), ident="big")
    index = PositionIndex(positions([17.5, 17.505, 17.51, 18.5], [59.5] * 4))
    filler = mnt / "filler"
    try:
        t.target(make_alert("explosion", AREA, ident="small"), index, T0)  # the WAL grown
        free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
        filler.write_bytes(b"\0" * max(free - 16_384, 0))
        with pytest.raises(StoreFull) as failed:
            t.target(alert, index, T0)
        frames = [f.name for f in traceback.extract_tb(failed.value.__traceback__)]
        assert "_commit_behind" in frames
        key = f"{SENDER}/big"
        assert ledger.incident(key) is None
        assert ledger.recipients(key).tolist() == []
        filler.unlink()
        again = t.target(alert, index, T0)
        assert again.verdict is Verdict.DELIVER
        assert sorted(again.recipients.tolist()) == ["d0", "d1", "d2"]
    finally:
        ledger.close()


def test_an_update_never_lets_an_unconfirmed_delivery_tell_the_replaced_area(
    opener: Opener,
) -> None:
    """Deliveries pending on a version an Update replaced are never offered that version.

    Regression (probe: repro_redeliver_superseded.py): V1 claims d0 and d1, whose pushes are
    not confirmed; V2 moves the area so that it covers d1 only. d0 is in
    ``no_longer_covered`` and must never be offered V1 again (redeliver offered it, as V1);
    d1, still covered and never told, is a recipient of V2 with V2's key. V1's key for d1
    confirmed late (its push went out) ends d1's delivery: not offered again.
    """
    lease = dt.timedelta(seconds=30)
    t = Targeter(make_regions(), nationwide("XX"), ledger=opener(), lease=lease)
    v1 = make_alert("explosion", WIDE, ident="a1")
    first = t.target(v1, idx(*DEVICES), T0)
    assert first.recipients.tolist() == ["d0", "d1"]
    moved = make_alert(
        "explosion",
        Circle(17.54, 59.5, 1000.0),  # d1 (17.53) inside, d0 (17.5) 2.3 km away
        ident="a2",
        msg_type=MessageType.UPDATE,
        refs=(ref(v1),),
        sent=T0 + dt.timedelta(minutes=1),
    )
    at = T0 + dt.timedelta(minutes=2)
    second = t.target(moved, idx(*DEVICES), at)
    assert second.no_longer_covered.tolist() == ["d0"]
    assert second.recipients.tolist() == ["d1"]
    assert second.claims is not None
    assert second.claims.keys().tolist() == [f"{SENDER}/a1 {SENDER}/a2 d1"]
    offered = t.redeliver(at + 2 * lease)
    assert [(c.version, c.devices.tolist()) for c in offered] == [(f"{SENDER}/a2", ["d1"])]
    late = t.confirm([f"{SENDER}/a1 {SENDER}/a1 d1"], at + 2 * lease)
    assert late.confirmed.tolist() == [0]
    assert t.confirm(second.claims.keys(), at + 2 * lease).already.tolist() == [0]
    assert t.redeliver(at + dt.timedelta(hours=1)) == []
    # A restarted process over the store offers nothing either.
    again = Targeter(make_regions(), nationwide("XX"), ledger=opener(), lease=lease)
    assert again.redeliver(at + dt.timedelta(hours=1, minutes=5)) == []


@pytest.mark.parametrize("part", ["circle", "polygon"])
def test_an_alert_built_lat_first_is_refused_in_python_terms_once(part: str) -> None:
    """A Python area written lat first is refused naming the Python form, listed once.

    Regression (probe: repro_swapped_message.py): the message said "CAP document has 2
    problems … CAP writes 'lat,lon'" — no CAP document was involved, and the same part of
    the sv and en info blocks was listed twice.
    """
    from geotarget import InvalidCAP, Polygon

    area: Any = (
        Circle(59.5, 17.5, 500.0)
        if part == "circle"
        else Polygon([(59.5, 17.5), (59.5, 17.51), (59.51, 17.51), (59.5, 17.5)])
    )
    alert = make_alert("explosion", area, ident="s1")
    t = Targeter(make_regions(), nationwide("XX"))
    with pytest.raises(InvalidCAP) as caught:
        t.target(alert, idx(*DEVICES), T0)
    text = str(caught.value)
    assert text.startswith("alert has 1 problem:\n"), text
    assert text.count("\n  - ") == 1
    assert f"info[0]/area[0]/{part}[0], info[1]/area[0]/{part}[0]: " in text
    assert "lon 59.5, lat 17.5" in text and "looks written lat first" in text
    python = "Circle(17.5, 59.5, 500.0)" if part == "circle" else "(17.5, 59.5) first"
    assert python in text
    assert len(caught.value.problems) == 2  # every path stays in .problems
    assert t.ledger.load_active() == []  # nothing admitted


def test_per_county_counts_every_recipient_those_beyond_the_border_under_no_county() -> None:
    """``per_county`` adds up to the recipients; those in no county come under NO_COUNTY.

    Regression (probe: repro_per_county_beyond_border.py): an Explosion at Haparanda/Tornio
    told a device in Finland (Explosion may reach beyond the border), and per_county left it
    out: its counts summed to half the recipients at border towns.
    """
    from geotarget import pilot, sweden
    from geotarget.targeting import TargetingResult

    t0 = dt.datetime(2025, 6, 2, 12, tzinfo=dt.timezone.utc)
    msg = pilot.Message(headline="Explosion", description="Risk.", area_description="Haparanda")
    alert = pilot.explosion(
        identifier="H1",
        sender="polisen@polisen.se",
        sent=t0,
        area=Circle(24.14, 65.835, 3000.0),
        sv=msg,
        en=msg,
        onset=t0,
        expires=t0 + dt.timedelta(hours=2),
    )
    rng = np.random.default_rng(7)
    n = 300
    lon, lat = 24.14 + rng.uniform(-0.05, 0.05, n), 65.835 + rng.uniform(-0.02, 0.02, n)
    ids = ["se", "fi", *(f"r{i}" for i in range(n))]
    pos = Positions(ids, [24.125, 24.158, *lon], [65.835, 65.838, *lat], observed_at=t0)
    got = Targeter(sweden.hierarchy(), sweden.pilot_policy()).target(alert, PositionIndex(pos), t0)
    assert {"se", "fi"} <= set(got.recipients.tolist())
    assert sum(got.per_county.values()) == len(got.recipients)
    assert got.per_county[TargetingResult.NO_COUNTY] >= 1  # "fi" at least
    assert set(got.per_county) <= {"25", TargetingResult.NO_COUNTY}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("www.gov.uk/environment-agency", "X1"), ("www.gov.uk", "environment-agency/X1")),
        (("a/b", "c"), ("a%2Fb", "c")),  # an escape's own text is escaped in turn
        (("a%b", "c"), ("a%25b", "c")),
    ],
)
def test_senders_and_identifiers_with_slashes_name_distinct_messages(
    opener: Opener, first: tuple[str, str], second: tuple[str, str]
) -> None:
    """CAP allows ``/`` (and ``%``) in senders and identifiers: each message keeps its own id.

    Two senders whose ``sender/identifier`` text is the same start two incidents, each told
    to its own devices; a Cancel of one ends only that one.
    """
    import attrs

    t = Targeter(make_regions(), nationwide("XX"), ledger=opener())
    here = idx([17.5, 18.5], [59.5, 59.5])

    def alert(sender: str, ident: str, lon: float) -> Any:
        base = make_alert("explosion", Circle(lon, 59.5, 500.0), ident=ident)
        return attrs.evolve(base, sender=sender)

    a = alert(*first, 17.5)
    b = alert(*second, 18.5)
    got_a, got_b = t.target(a, here, T0), t.target(b, here, T0)
    assert (got_a.verdict, got_b.verdict) == (Verdict.DELIVER, Verdict.DELIVER)
    assert got_a.recipients.tolist() == ["d0"] and got_b.recipients.tolist() == ["d1"]
    assert got_a.incident != got_b.incident
    assert t.incident_of(a) == got_a.incident and t.incident_of(b) == got_b.incident
    stop = attrs.evolve(
        make_alert(
            "explosion", AREA, ident="stop", msg_type=MessageType.CANCEL, refs=(ref(a),), sent=LATER
        ),
        sender=first[0],
    )
    ended = t.target(stop, here, LATER)
    assert ended.verdict is Verdict.CANCELLED and ended.retract.tolist() == ["d0"]
    assert t.active_incidents == (got_b.incident,)


def test_the_same_message_with_its_times_at_another_utc_offset_is_the_same_version(
    opener: Opener,
) -> None:
    """A relay that rewrites the times at another offset sends the same message, not a new one.

    Re-targeted as the same version (nobody told twice), by this Targeter and by another on
    the same store; content that does differ is still refused, naming the field.
    """
    import attrs

    from geotarget.errors import DuplicateIdentifier

    store = opener()
    a = make_alert("explosion", AREA, ident="a1")
    plus2 = dt.timezone(dt.timedelta(hours=2))
    b = attrs.evolve(
        a,
        sent=a.sent.astimezone(plus2),
        infos=tuple(
            attrs.evolve(
                i, effective=i.effective.astimezone(plus2) if i.effective else None,
                onset=i.onset.astimezone(plus2) if i.onset else None,
                expires=i.expires.astimezone(plus2) if i.expires else None,
            )
            for i in a.infos
        ),
    )  # fmt: skip
    assert b == a
    here = idx(*DEVICES)
    t = Targeter(make_regions(), nationwide("XX"), ledger=store)
    assert t.target(a, here, T0).recipients.tolist() == ["d0"]
    for targeter in (t, Targeter(make_regions(), nationwide("XX"), ledger=opener())):
        assert targeter.incident_of(b) == f"{SENDER}/a1"
        again = targeter.target(b, here, T0)
        assert again.verdict is Verdict.DELIVER and again.recipients.tolist() == []
    other = attrs.evolve(a, infos=(attrs.evolve(a.infos[0], headline="Other"), *a.infos[1:]))
    with pytest.raises(DuplicateIdentifier, match=r"first difference: infos\[0\]\.headline"):
        t.target(other, here, T0)


def test_an_expired_incident_does_not_take_an_active_ones_place_under_a_limit(
    opener: Opener,
) -> None:
    """``redeliver(limit=)`` fills its page from the incidents after an expired one's.

    The expired incident's deliveries are dropped and do not count. An older incident comes first in the store's order; its 40 unconfirmed devices used to
    fill every page of 10 again each time their lease ran out, the active incident's never.
    """
    t = Targeter(make_regions(), nationwide("XX"), ledger=opener(), lease=dt.timedelta(seconds=60))
    rng = np.random.default_rng(3)

    def crowd(prefix: str, at: dt.datetime) -> PositionIndex:
        lon, lat = 17.5 + rng.uniform(-0.005, 0.005, 40), 59.5 + rng.uniform(-0.003, 0.003, 40)
        return PositionIndex(
            Positions([f"{prefix}{i}" for i in range(40)], lon, lat, observed_at=at)
        )

    old = make_alert("explosion", AREA, ident="old", hours=1.0)
    assert len(t.target(old, crowd("o", T0), T0).recipients) == 40
    later = T0 + dt.timedelta(minutes=50)
    new = make_alert("explosion", AREA, ident="new", sent=later, hours=2.0)
    assert len(t.target(new, crowd("n", later), later).recipients) == 40
    at = T0 + dt.timedelta(hours=1, minutes=1)  # old has expired, new is active
    offered: list[str] = []
    for step in range(4):
        page = t.redeliver(at + dt.timedelta(seconds=10 * step), limit=10)
        assert [c.incident for c in page] == [f"{SENDER}/new"]
        assert sum(len(c) for c in page) == 10
        offered += page[0].ids().tolist()
    assert sorted(offered) == sorted(f"n{i}" for i in range(40))  # each once, none lost
    # One Claims per delivery: a page taken in two store calls comes back as one.
    whole = t.redeliver(at + dt.timedelta(minutes=2), limit=60)
    assert [(c.incident, len(c)) for c in whole] == [(f"{SENDER}/new", 40)]
    assert sorted(whole[0].ids().tolist()) == sorted(offered)


def test_a_batch_failing_at_its_second_incident_names_the_claims_already_made(
    regions: RegionHierarchy, postgres_dsn: str
) -> None:
    """on_positions claims one incident per transaction: the second's claim fails (StoreBusy).

    The first incident's claims were made, yet the error said only "nothing was applied" (and
    the service answered its batch with that): the caller re-sending the batch was told nothing
    of those devices, which waited a lease unannounced. The error names the incident and the
    count claimed before it, and that they come back through redeliver().
    """
    import psycopg

    from geotarget.errors import StoreBusy

    targeter = Targeter(
        regions, nationwide("XX"), ledger=PostgresLedger(postgres_dsn, lock_timeout=0.3)
    )
    east = Circle(17.6, 59.5, 1000.0)
    first = make_alert("explosion", AREA, ident="west")
    second = make_alert("explosion", east, ident="east")
    nobody = PositionIndex(positions([], []))
    for alert in (first, second):
        assert targeter.target(alert, nobody, T0).verdict is Verdict.DELIVER
    west_key, east_key = f"{SENDER}/west", f"{SENDER}/east"
    assert sorted(targeter.active_incidents) == sorted([west_key, east_key])
    batch = positions([17.5, 17.5, 17.6], [59.5, 59.5001, 59.5])
    held = targeter.active_incidents[1]  # claimed second: fails
    done = targeter.active_incidents[0]
    with psycopg.connect(postgres_dsn) as other:
        other.execute("SELECT 1 FROM gt_incidents WHERE incident = %s FOR UPDATE", (held,))
        with pytest.raises(StoreBusy) as caught:
            targeter.on_positions(batch, T0)
    made = targeter.ledger.recipients(done).tolist()
    assert made and targeter.ledger.recipients(held).tolist() == []
    message = str(caught.value)
    assert f"{len(made)} device(s) of {done}" in message, message
    assert "redeliver()" in message and f"claim for {held}" in message, message
    targeter.ledger.close()


def test_target_whose_claim_fails_after_the_admission_says_the_alert_was_admitted(
    regions: RegionHierarchy, postgres_dsn: str
) -> None:
    """target() admits the alert (one transaction), then claims (another): the claim fails.

    The error said "nothing was applied", yet the alert was admitted. It says so, and how to
    deliver it: send it again, or retarget(); both then deliver it in full.
    """
    import psycopg

    from geotarget.errors import StoreBusy

    targeter = Targeter(
        regions, nationwide("XX"), ledger=PostgresLedger(postgres_dsn, lock_timeout=0.3)
    )
    alert = make_alert("explosion", AREA)
    index = PositionIndex(positions([17.5, 17.5, 17.6], [59.5, 59.5001, 59.5]))
    with psycopg.connect(postgres_dsn) as other:
        other.execute("LOCK TABLE gt_claims IN EXCLUSIVE MODE")
        with pytest.raises(StoreBusy) as caught:
            targeter.target(alert, index, T0)
    message = str(caught.value)
    key = f"{SENDER}/a1"
    assert "nothing was applied" in message  # (of the claim)
    assert f"{key} was admitted before it" in message and "retarget()" in message, message
    assert [i.key for i in targeter.ledger.load_active()] == [key]  # admitted, not released
    assert targeter.ledger.recipients(key).size == 0
    again = targeter.retarget(index, T0)
    assert [r.recipients.tolist() for r in again] == [["d0", "d1"]]
    targeter.ledger.close()
