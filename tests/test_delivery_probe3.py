"""Incidents as several issuers and processes send them, against a plain set oracle.

The oracle is written from ``docs/delivery.rst`` and the design's semantics, never from the
stores: a device is told an incident once, whatever the number of versions; an Update tells
only devices never told; unconfirmed claims come back; a Cancel that arrives first is
remembered. Who an area covers is decided with ``pyproj.Geod`` directly.

A Test or Exercise Update that names an Actual alert before that alert arrives (a drill
system replaying production identifiers, a feed delivering out of order) must not keep the
alert, its Updates or its Cancel from the public: it started the incident under the alert's
id with its own status, and the Actual messages were refused for theirs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
from targeting_helpers import T0, exact_rules, make_alert, make_regions, ref

from geotarget import Circle, PositionIndex, Positions
from geotarget.alerts import Alert, MessageType, Status
from geotarget.ledger import MemoryLedger, PostgresLedger, SQLiteLedger
from geotarget.regions import RegionHierarchy
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, Verdict

GEOD = pyproj.Geod(ellps="WGS84")
AT = T0 + dt.timedelta(minutes=5)
CENTRE = (17.5, 59.5)
#: d0 a tester at the centre, d1 1.1 km east, d2 4.5 km east, d3 far away.
LON = np.array([17.5, 17.52, 17.58, 18.4])
LAT = np.full(4, 59.5)
TESTER = [True, False, False, False]


@pytest.fixture(scope="module")
def regions() -> RegionHierarchy:
    """The small synthetic hierarchy of :mod:`targeting_helpers`."""
    return make_regions()


def covered(radius_m: float) -> set[str]:
    """The oracle: devices within ``radius_m`` of the centre on the WGS84 ellipsoid."""
    _, _, dist = GEOD.inv(np.full(4, CENTRE[0]), np.full(4, CENTRE[1]), LON, LAT)
    return {f"d{i}" for i in np.flatnonzero(dist <= radius_m)}


def index() -> PositionIndex:
    """Fresh exact-enough fixes of d0 … d3 (d0 a tester)."""
    ids = [f"d{i}" for i in range(4)]
    return PositionIndex(
        Positions(ids, LON, LAT, accuracy_m=np.full(4, 5.0), observed_at=AT, tester=TESTER)
    )


def ledger(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """A new store of the named kind (PostgreSQL: a fresh schema of the test cluster)."""
    if store == "memory":
        return MemoryLedger()
    handle: Any
    if store == "sqlite":
        handle = SQLiteLedger(tmp_path / "deliveries.db")
    else:
        handle = PostgresLedger(request.getfixturevalue("postgres_dsn"))
    request.addfinalizer(handle.close)
    return handle


def second_handle(store: str, first: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """Another process's handle on the same store (the memory store has only one)."""
    return first if store == "memory" else ledger(store, tmp_path, request)


def chain() -> dict[str, Alert]:
    """An Actual Alert a1, its Actual Update a2 (wider) and Cancel c; a Test Update u1 of a1.

    u1 names a1, as a drill system replaying a1's id would send it.
    """
    a1 = make_alert("explosion", Circle(*CENTRE, 1500.0), ident="a1")
    return {
        "a1": a1,
        "u1": make_alert(
            "explosion",
            Circle(*CENTRE, 6000.0),
            ident="u1",
            msg_type=MessageType.UPDATE,
            refs=(ref(a1),),
            sent=T0 + dt.timedelta(minutes=1),
            status=Status.TEST,
        ),
        "a2": make_alert(
            "explosion",
            Circle(*CENTRE, 6000.0),
            ident="a2",
            msg_type=MessageType.UPDATE,
            refs=(ref(a1),),
            sent=T0 + dt.timedelta(minutes=2),
        ),
        "c": make_alert(
            "explosion",
            Circle(*CENTRE, 1500.0),
            ident="c",
            msg_type=MessageType.CANCEL,
            refs=(ref(a1),),
            sent=T0 + dt.timedelta(minutes=4),
        ),
    }


STORES = ["memory", "sqlite", "postgres"]


def _targeter(
    store: str, regions: RegionHierarchy, tmp_path: Path, request: pytest.FixtureRequest
) -> Targeter:
    """A nationwide Targeter over exact fixes, on the ``store`` under test."""
    return Targeter(
        regions,
        nationwide("XX"),
        location_rules=exact_rules(),
        ledger=ledger(store, tmp_path, request),
    )


@pytest.mark.parametrize("status", [Status.TEST, Status.EXERCISE])
@pytest.mark.parametrize("store", STORES)
def test_an_update_of_another_status_naming_an_alert_first_does_not_keep_it_from_anyone(
    store: str,
    status: Status,
    regions: RegionHierarchy,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Test Update u1 (naming a1), then Actual a1 and a2: the public is told a1, then a2."""
    import attrs

    m = chain()
    drill = attrs.evolve(m["u1"], status=status)
    t = _targeter(store, regions, tmp_path, request)
    first = t.target(drill, index(), AT)
    assert first.verdict is Verdict.DELIVER
    assert first.recipients.tolist() == ["d0"]  # the tester
    assert first.claims is not None
    drill_keys = first.claims.keys().tolist()

    said = t.preview(m["a1"], index(), AT)  # as target() answers, changing nothing
    assert said.verdict is Verdict.DELIVER, said.reason
    assert set(said.recipients.tolist()) == covered(1500.0)
    assert said.already_delivered == 0 and said.no_longer_covered.tolist() == []
    got = t.target(m["a1"], index(), AT)
    assert got.verdict is Verdict.DELIVER, got.reason
    assert got.incident == "polisen@example.se/a1"
    # Everyone in a1's area, the tester too (the drill told it of another incident).
    assert set(got.recipients.tolist()) == covered(1500.0)
    assert got.claims is not None
    t.confirm(got.claims.keys(), AT)
    wider = t.target(m["a2"], index(), AT)
    assert wider.verdict is Verdict.DELIVER, wider.reason
    assert set(wider.recipients.tolist()) == covered(6000.0) - covered(1500.0)
    # The drill's key is still confirmed where its delivery went, once.
    assert t.confirm(drill_keys, AT).confirmed.tolist() == [0]
    assert t.confirm(drill_keys, AT).already.tolist() == [0]
    # The drill's chain goes on as its own incident (testers only), not refused.
    u2 = attrs.evolve(
        m["u1"],
        identifier="u2",
        references=(ref(drill),),
        sent=T0 + dt.timedelta(minutes=3),
        status=status,
    )
    assert t.target(u2, index(), AT).verdict is Verdict.DELIVER
    assert set(t.active_incidents) == {"polisen@example.se/a1", "polisen@example.se/u1"}
    # And the Actual Cancel retracts from exactly the public told a1's chain.
    gone = t.target(m["c"], index(), AT)
    assert gone.verdict is Verdict.CANCELLED
    assert set(gone.retract.tolist()) == covered(6000.0)


@pytest.mark.parametrize("store", STORES)
def test_an_actual_cancel_after_such_an_update_is_remembered_for_its_alert(
    store: str, regions: RegionHierarchy, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Test Update u1, Actual Cancel c, then Actual a1 and a2: nobody is told the alert.

    (An Actual Update arriving before a1 is refused, as any of another status: the drill
    holds the incident until the original arrives.)
    """
    m = chain()
    t = _targeter(store, regions, tmp_path, request)
    assert t.target(m["u1"], index(), AT).verdict is Verdict.DELIVER
    # Refused for its status while the drill holds the incident, as any Cancel of another
    # status, but remembered as a Cancel that came first: it ends the alert when it arrives.
    cancel = t.target(m["c"], index(), AT)
    assert cancel.verdict is Verdict.NOT_AUTHORISED, cancel.reason
    assert cancel.retract.tolist() == []
    for late in (m["a1"], m["a2"]):
        got = t.target(late, index(), AT)
        assert got.verdict is Verdict.CANCELLED, got.reason
        assert got.recipients.tolist() == []
    walker = Positions(["w"], [17.5001], [59.5], accuracy_m=[5.0], observed_at=AT)
    assert t.on_positions(walker, AT) == []


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_handle_that_claimed_for_the_drill_claims_the_alert_for_the_same_devices(
    store: str, regions: RegionHierarchy, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Process B delivered the drill to d0; process A admits a1; B delivers a1, to d0 too.

    A store handle remembers the devices claimed per incident, to leave them out of its next
    claims: those B remembered went with the drill to the drill's own incident.
    """
    m = chain()
    a = Targeter(
        regions,
        nationwide("XX"),
        location_rules=exact_rules(),
        ledger=ledger(store, tmp_path, request),
    )
    b = Targeter(
        regions,
        nationwide("XX"),
        location_rules=exact_rules(),
        ledger=second_handle(store, a.ledger, tmp_path, request),
    )
    assert b.target(m["u1"], index(), AT).recipients.tolist() == ["d0"]
    assert a.ledger.admit(m["a1"], at=AT).incident is not None
    (got,) = b.retarget(index(), AT)  # admitted by A, not delivered yet: B delivers it
    assert got.alert_id == "a1"
    assert set(got.recipients.tolist()) == covered(1500.0)
    assert b.ledger.recipients("polisen@example.se/a1").tolist() == sorted(covered(1500.0))
    assert b.ledger.recipients("polisen@example.se/u1").tolist() == ["d0"]


@pytest.mark.parametrize("store", STORES)
def test_a_text_only_update_streams_the_area_of_a_version_that_arrived_after_it(
    store: str, regions: RegionHierarchy, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Text-only Update v2 first (no area known: nobody), then v1 with its area: v2 keeps it.

    ``retarget`` delivers v2 over v1's area once v1 arrives, and a device walking into that
    area later is told, by this Targeter (which looked at v2 before v1 arrived) and by one
    started afterwards alike.
    """
    from targeting_helpers import without_area

    m = chain()
    v1 = make_alert(
        "explosion",
        Circle(*CENTRE, 1500.0),
        ident="v1",
        msg_type=MessageType.UPDATE,
        refs=(ref(m["a1"]),),
        sent=T0 + dt.timedelta(minutes=1),
    )
    v2 = without_area(
        make_alert(
            "explosion",
            Circle(*CENTRE, 1500.0),
            ident="v2",
            msg_type=MessageType.UPDATE,
            refs=(ref(m["a1"]), ref(v1)),
            sent=T0 + dt.timedelta(minutes=2),
        )
    )
    store_ = ledger(store, tmp_path, request)
    t = Targeter(regions, nationwide("XX"), location_rules=exact_rules(), ledger=store_)
    assert t.target(v2, index(), AT).verdict is Verdict.NO_AREA
    assert t.retarget(index(), AT) == []  # still no area: nobody
    assert t.target(v1, index(), AT).verdict is Verdict.SUPERSEDED
    (got,) = t.retarget(index(), AT)
    assert got.alert_id == "v2"
    assert set(got.recipients.tolist()) == covered(1500.0)
    walker = Positions(["w1"], [17.501], [59.5], accuracy_m=[5.0], observed_at=AT)
    assert {d.device_id for d in t.on_positions(walker, AT)} == {"w1"}
    walkers = Positions(
        ["w1", "w2", "w3"],
        [17.501, 17.502, 17.6],
        [59.5, 59.5, 59.5],
        accuracy_m=[5.0] * 3,
        observed_at=AT,
    )
    fresh = Targeter(
        regions,
        nationwide("XX"),
        location_rules=exact_rules(),
        ledger=second_handle(store, store_, tmp_path, request),
    )
    assert {d.device_id for d in fresh.on_positions(walkers, AT)} == {"w2"}


# --- processes killed at random points, then a restart on the same store ---------------------

#: Devices on a line east of the centre; three versions: an Alert, an Update that widens and
#: moves, one that narrows and moves again (each naming the earlier ones, newest first).
CRASH_N = 300
CRASH_LON = 17.40 + 0.2 * np.arange(CRASH_N) / CRASH_N
CRASH_AREAS = [(17.45, 59.5, 3000.0), (17.47, 59.5, 6000.0), (17.52, 59.5, 4000.0)]
CRASH_LEASE = dt.timedelta(seconds=30)


def crash_versions(cancel: bool) -> list[Alert]:
    """The messages every process is sent, in order (the Cancel names the first and last)."""
    out: list[Alert] = []
    for i, c in enumerate(CRASH_AREAS):
        kw: dict[str, Any] = {}
        if i:
            kw = {"msg_type": MessageType.UPDATE, "refs": tuple(ref(v) for v in reversed(out))}
        out.append(
            make_alert(
                "explosion",
                Circle(*c),
                ident=f"v{i}",
                sent=T0 + dt.timedelta(minutes=i),
                hours=3,
                **kw,
            )
        )
    if cancel:
        out.append(
            make_alert(
                "explosion",
                Circle(*CRASH_AREAS[0]),
                ident="cx",
                msg_type=MessageType.CANCEL,
                refs=(ref(out[0]), ref(out[-1])),
                sent=T0 + dt.timedelta(minutes=9),
            )
        )
    return out


def crash_positions(ids: slice, at: dt.datetime) -> Positions:
    """Fresh fixes of the devices ``ids`` (exact: the oracle is pyproj alone)."""
    names = [f"d{i}" for i in range(CRASH_N)][ids]
    lon = CRASH_LON[ids]
    return Positions(names, lon, np.full(lon.size, 59.5), observed_at=at)


def crash_covered(c: tuple[float, float, float]) -> set[str]:
    """The oracle: the devices within the circle, on the WGS84 ellipsoid."""
    lat = np.full(CRASH_N, 59.5)
    _, _, dist = GEOD.inv(np.full(CRASH_N, c[0]), np.full(CRASH_N, c[1]), CRASH_LON, lat)
    return {f"d{i}" for i in np.flatnonzero(dist <= c[2])}


class Journal:
    """What a process pushed and confirmed, appended as it happens (kept through SIGKILL).

    Each call that may hand out deliveries is logged before it starts, so a push can be told
    apart from one whose call began after a confirmation was known.
    """

    def __init__(self, path: str, tag: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        self.tag = tag
        self.call = 0

    def log(self, **kw: Any) -> None:
        """Append one event, tagged with the process and its current call."""
        kw.update(p=self.tag, c=self.call)
        os.write(self.fd, (json.dumps(kw) + "\n").encode())

    def start(self) -> None:
        """A call that may hand out deliveries begins."""
        self.call += 1
        self.log(start=self.call)


def crash_targeter(store: str, where: str) -> Targeter:
    """One service process's Targeter over the shared store."""
    handle = SQLiteLedger(where) if store == "sqlite" else PostgresLedger(where)
    return Targeter(
        make_regions(),
        nationwide("XX"),
        location_rules=exact_rules(),
        ledger=handle,
        lease=CRASH_LEASE,
    )


def crash_push(t: Targeter, j: Journal, keys: list[str], at: dt.datetime, rng: Any) -> None:
    """Push every key, then confirm them in chunks, leaving some out (their push failed)."""
    for k in keys:
        j.log(push=k)
    for lo in range(0, len(keys), 17):
        chunk = keys[lo : lo + 17]
        if rng.random() < 0.3:
            continue
        done = t.confirm(chunk, at)
        for i in done.confirmed.tolist():
            j.log(confirmed=chunk[i])


def crash_service(store: str, where: str, journal: str, cancel: bool, tag: str) -> None:
    """A service process: each message, then positions streamed and a redelivery."""
    t = crash_targeter(store, where)
    j = Journal(journal, tag)
    rng = random.Random(tag)
    at = T0 + dt.timedelta(minutes=20)
    for m in crash_versions(cancel):
        at += dt.timedelta(seconds=1)
        j.start()
        r = t.target(m, PositionIndex(crash_positions(slice(None), at)), at)
        j.log(msg=m.identifier, verdict=r.verdict.value)
        if r.claims is not None:
            crash_push(t, j, r.claims.keys().tolist(), at, rng)
        for lo in range(0, CRASH_N, 100):
            at += dt.timedelta(seconds=1)
            j.start()
            got = t.on_positions(crash_positions(slice(lo, lo + 100), at), at)
            crash_push(t, j, [d.key for d in got], at, rng)
        at += CRASH_LEASE * 2
        j.start()
        for c in t.redeliver(at):
            crash_push(t, j, c.keys().tolist(), at, rng)
    t.ledger.close()


def crash_recover(store: str, where: str, journal: str, cancel: bool) -> dict[str, Any]:
    """The restarted service; what the store holds afterwards.

    The sender sends every message again, every device reports, redelivery runs until nothing
    is due; every delivery pushed is confirmed.
    """
    t = crash_targeter(store, where)
    j = Journal(journal, "recover")
    at = T0 + dt.timedelta(hours=1)
    for m in crash_versions(cancel):
        at += dt.timedelta(seconds=1)
        j.start()
        r = t.target(m, PositionIndex(crash_positions(slice(None), at)), at)
        j.log(msg=m.identifier, verdict=r.verdict.value)
        if r.claims is not None:
            crash_push(t, j, r.claims.keys().tolist(), at, random.Random(0))
    rounds: list[list[str]] = []
    j.start()
    for r in t.retarget(PositionIndex(crash_positions(slice(None), at)), at):
        rounds.append(r.claims.keys().tolist() if r.claims is not None else [])
    j.start()
    rounds.append([d.key for d in t.on_positions(crash_positions(slice(None), at), at)])
    for _ in range(4):
        for keys in rounds:
            for k in keys:
                j.log(push=k)
            done = t.confirm(keys, at) if keys else None
            for i in [] if done is None else done.confirmed.tolist():
                j.log(confirmed=keys[i])
        at += CRASH_LEASE * 2
        j.start()
        rounds = [c.keys().tolist() for c in t.redeliver(at)]
    inc = f"{SENDER_}/v0"
    final = {
        "recipients": t.ledger.recipients(inc).tolist(),
        "active": list(t.active_incidents),
        "due": [(c.kind.value, c.devices.tolist()) for c in t.ledger.due(at + CRASH_LEASE * 9)],
    }
    t.ledger.close()
    return final


SENDER_ = "polisen@example.se"


def crash_where(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The shared store: a SQLite file, or a fresh PostgreSQL schema."""
    if store == "sqlite":
        return str(tmp_path / "shared.db")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("cancel", [False, True], ids=["updates", "cancelled"])
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_two_processes_killed_at_random_points_then_a_restart_tell_each_device_once(
    store: str, cancel: bool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two processes on one store, killed at random points of a chain; a restart completes it.

    The chain: Alert, widening Update, narrowing Update (and a Cancel). SIGKILL lands while
    targeting, streaming, confirming or redelivering.

    Afterwards: every device in the current area confirmed, nobody outside every area ever
    claimed, no delivery handed out by a call that began after that device's confirmation
    (nor an alert after the Cancel was answered), nothing left due, the Cancel's incident
    ended and every retraction confirmed.
    """
    where = crash_where(store, tmp_path, request)
    journal = str(tmp_path / "journal.jsonl")
    here = Path(__file__).resolve()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent.parent), str(here.parent)])}
    rng = random.Random(f"{store}-{cancel}")
    killed = 0
    for round_ in range(2):
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(here),
                    store,
                    where,
                    journal,
                    str(int(cancel)),
                    f"{round_}{k}",
                ],
                env=env,
                stderr=subprocess.PIPE,
            )
            for k in range(2)
        ]
        # Killed once this round's processes have journalled a random number of events (of
        # the thousand or so a run writes): at a point of the run, however fast it goes.
        began, at_line = time.monotonic(), rng.randrange(1, 900)
        mine = f'"p": "{round_}'
        while time.monotonic() - began < 60 and any(p.poll() is None for p in procs):
            text = Path(journal).read_text() if os.path.exists(journal) else ""
            if text.count(mine) >= at_line:
                break
            time.sleep(0.005)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode in (0, -signal.SIGKILL), err.decode()[-2000:]
            killed += p.returncode == -signal.SIGKILL
    assert killed, "no process was killed mid-way: nothing was probed"
    final = crash_recover(store, where, journal, cancel)

    events = [json.loads(line) for line in Path(journal).read_text().splitlines()]
    starts = {(e["p"], e["start"]): i for i, e in enumerate(events) if "start" in e}
    confirmed: dict[str, int] = {}
    answered_cancel: int | None = None
    for i, e in enumerate(events):
        if e.get("msg") == "cx" and e["verdict"] == "CANCELLED" and answered_cancel is None:
            answered_cancel = i
        for what in ("confirmed", "push"):
            if what not in e or " " not in e[what]:
                continue
            _, version, device = e[what].split(" ")
            if version.endswith("/cx"):
                continue  # a retraction
            began = starts.get((e["p"], e["c"]), -1)
            if what == "confirmed":
                assert device not in confirmed, f"{device} confirmed twice ({e[what]})"
                confirmed[device] = i
            else:
                assert began < confirmed.get(device, len(events)), (
                    f"{e[what]} handed out by a call that began after its device was confirmed"
                )
                assert answered_cancel is None or began < answered_cancel, (
                    f"{e[what]} handed out by a call that began after the Cancel was answered"
                )
    everywhere = set().union(*map(crash_covered, CRASH_AREAS))
    assert set(final["recipients"]) <= everywhere
    assert final["due"] == []
    if cancel:
        assert final["active"] == []
    else:
        assert final["active"] == [f"{SENDER_}/v0"]
        # Told: confirmed in the journal, or pushed and the store's recipient with nothing due
        # (a claim left pending would be due: asserted above), so confirmed there. A
        # process killed after its confirm() committed but before it journalled the
        # confirmations leaves them in the store only (its pushes were journalled first).
        pushed = {
            e["push"].split(" ")[2]
            for e in events
            if " " in e.get("push", "") and not e["push"].split(" ")[1].endswith("/cx")
        }
        told = set(confirmed) | (pushed & set(final["recipients"]))
        assert crash_covered(CRASH_AREAS[-1]) <= told


if __name__ == "__main__":  # one service process of the test above
    crash_service(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5])


@pytest.mark.parametrize("store", STORES)
def test_preview_of_an_update_the_store_would_refuse_is_not_authorised(
    store: str, regions: RegionHierarchy, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """An Update from another sender, or of another status, previews as target() answers."""
    import attrs

    m = chain()
    t = _targeter(store, regions, tmp_path, request)
    assert t.target(m["a1"], index(), AT).verdict is Verdict.DELIVER
    others = [
        attrs.evolve(m["a2"], identifier="o1", sender="someone@example.org"),
        attrs.evolve(m["a2"], identifier="o2", status=Status.EXERCISE),
    ]
    for other in others:
        said = t.preview(other, index(), AT)
        got = t.target(other, index(), AT)
        assert got.verdict is Verdict.NOT_AUTHORISED
        assert said.verdict is Verdict.NOT_AUTHORISED, said.reason
        assert said.recipients.tolist() == [] and said.reason == got.reason
