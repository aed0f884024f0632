"""The Dask path gives the in-memory Targeter's answers over the built-in Swedish data.

``tests/test_dask.py`` checks the Dask path against synthetic box regions around 18.0E 59.5N.
Here the regions are :func:`geotarget.sweden.hierarchy` and the rollout is
:func:`geotarget.sweden.pilot_policy`, at places where the real boundaries matter: lakes and the
territorial sea, county borders, the national borders with Norway and Finland and the Öresund;
with devices without a fix, stale fixes and testers, alerts of the three pilot kinds and
statuses, their Updates and Cancels, later rollout phases (``retarget``), ``keep_expired`` and
streamed batches, also while another process over the same ledger applies an Update. The
property draws 20 scenarios (``GEOTARGET_DASK_EXAMPLES`` sets another number). One
module-scoped ``LocalCluster`` of two worker processes; without it (or the ``dask`` extra) the
tests fail when ``CI=true`` and skip locally.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from targeting_helpers import SENDER, assert_same_result, make_alert, ref

from geotarget import Circle, Polygon, PositionIndex, Positions, sweden
from geotarget.alerts import Alert, MessageType, Status
from geotarget.ledger import MemoryLedger
from geotarget.targeting import Delivery, Targeter, TargetingResult, Verdict

if os.environ.get("CI") != "true":  # in CI a missing extra fails at the import below
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    pytest.importorskip("pyarrow", reason="the dask extra is not installed")
import distributed  # noqa: F401

from geotarget.dask import DaskTargeter, write_partitioned

UTC = dt.timezone.utc
#: Times in each phase of the pilot's rollout (tip requests and crime modus: Stockholm County,
#: then Skåne and Västra Götaland too, then the whole country; explosions everywhere).
PHASE_TIMES = (
    dt.datetime(2024, 5, 20, 12, 0, tzinfo=UTC),
    dt.datetime(2024, 10, 1, 9, 0, tzinfo=UTC),
    dt.datetime(2025, 3, 3, 18, 0, tzinfo=UTC),
)
#: Places where the real boundaries matter: (lon, lat).
PLACES = {
    "Vänern": (13.3, 58.9),
    "Mälaren, Stockholm/Uppsala/Södermanland": (17.25, 59.45),
    "territorial sea off Göteborg": (11.6, 57.6),
    "Öresund, Swedish side": (12.85, 55.8),
    "Öresund, the median line": (12.72, 55.72),
    "Haparanda/Tornio": (24.14, 65.84),
    "Svinesund, Norwegian border": (11.26, 59.09),
    "Riksgränsen": (18.12, 68.43),
    "Stockholm/Uppsala county border": (17.82, 59.68),
    "Skåne/Halland county border": (12.9, 56.45),
    "Västra Götaland/Värmland border on Vänern": (13.0, 59.1),
    "Sergels torg": (18.0653, 59.3325),
    "Baltic, beyond the territorial sea": (19.6, 57.0),
}
CELLS = (0.02, 0.05, 0.25, 1.0)
KINDS = ("explosion", "tip_request", "crime_modus")


def _deliveries(got: list[Delivery]) -> list[tuple[str, str, str]]:
    return sorted((d.incident, d.alert_id, str(d.device_id)) for d in got)


class _Pair:
    """An in-memory Targeter and a DaskTargeter over the same devices, compared call by call."""

    def __init__(
        self, positions: Positions, root: Path, client: Any, cell: float, **kw: Any
    ) -> None:
        regions, policy = sweden.hierarchy(), sweden.pilot_policy()
        self.index = PositionIndex(positions)
        self.memory = Targeter(regions, policy, **kw)
        self.dask = DaskTargeter(
            Targeter(regions, policy, **kw),
            write_partitioned(positions, root, cell_deg=cell),
            client,
        )

    def target(self, alert: Alert, at: dt.datetime) -> TargetingResult:
        want = self.memory.target(alert, self.index, at)
        got = self.dask.target(alert, at)
        assert_same_result(want, got)
        return want

    def retarget(self, at: dt.datetime) -> list[TargetingResult]:
        want = self.memory.retarget(self.index, at)
        got = self.dask.retarget(at)
        assert [r.incident for r in want] == [r.incident for r in got]
        for a, b in zip(want, got, strict=True):
            assert_same_result(a, b)
        return want

    def on_positions(self, batch: Positions, at: dt.datetime) -> list[Delivery]:
        want = self.memory.on_positions(batch, at)
        got = self.dask.on_positions(batch, at)
        assert _deliveries(want) == _deliveries(got)
        return want

    def same_ledgers(self, alerts: list[Alert]) -> None:
        ours, theirs = self.memory.ledger, self.dask.targeter.ledger
        for alert in alerts:
            key = self.memory.incident_of(alert) or f"{SENDER}/{alert.identifier}"
            assert sorted(ours.recipients(key).tolist()) == sorted(theirs.recipients(key).tolist())
        assert [i.key for i in ours.load_active()] == [i.key for i in theirs.load_active()]
        assert self.memory.active_incidents == self.dask.targeter.active_incidents


def _observed(at: dt.datetime, ages_h: list[float]) -> np.ndarray:
    """Fix times ``ages_h`` hours before ``at`` (a negative age: no time, NaT)."""
    base = np.datetime64(at.replace(tzinfo=None), "us")
    return np.array(
        [
            np.datetime64("NaT") if a < 0 else base - np.timedelta64(int(a * 3600e6), "us")
            for a in ages_h
        ],
        dtype="datetime64[us]",
    )


@st.composite
def _devices(
    draw: st.DrawFn,
    lon0: float,
    lat0: float,
    at: dt.datetime,
    prefix: str,
    most: int,
    spread: float = 1.0,
) -> Positions:
    """Devices within about ``spread`` × 5 km of (lon0, lat0): fixes or none, stale or not."""
    n = draw(st.integers(0, most))
    dx, dy = 0.09 * spread, 0.045 * spread
    lon = np.array(draw(st.lists(st.floats(-dx, dx), min_size=n, max_size=n))) + lon0
    lat = np.array(draw(st.lists(st.floats(-dy, dy), min_size=n, max_size=n))) + lat0
    no_fix = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    acc = [draw(st.sampled_from([0.0, 15.0, 300.0, 3000.0])) for _ in range(n)]
    ages = [draw(st.sampled_from([0.0, 0.5, 3.0, 30.0, -1.0])) for _ in range(n)]
    return Positions(
        [f"{prefix}{i}" for i in range(n)],
        np.where(no_fix, np.nan, lon),
        np.where(no_fix, np.nan, lat),
        accuracy_m=np.where(no_fix, np.nan, acc),
        observed_at=_observed(at, ages),
        tester=np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool),
    )


def _concat(*parts: Positions) -> Positions:
    return Positions(
        np.concatenate([p.ids for p in parts]),
        np.concatenate([p.lon for p in parts]),
        np.concatenate([p.lat for p in parts]),
        accuracy_m=np.concatenate([p.accuracy_m for p in parts]),
        observed_at=np.concatenate([p.observed_at for p in parts]),
        tester=np.concatenate([p.tester for p in parts]),
    )


@st.composite
def _scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A place, devices around it (a crowd across its borders), Swedish background, alerts."""
    place = draw(st.sampled_from(sorted(PLACES)))
    lon0, lat0 = PLACES[place]
    at = draw(st.sampled_from(PHASE_TIMES))
    near = draw(_devices(lon0, lat0, at, "d", 40))
    parts = [near]
    if draw(st.booleans()):  # a fresh crowd in a small box: decided by its box, or across
        k = draw(st.integers(64, 80))
        parts.append(
            Positions(
                [f"c{i}" for i in range(k)],
                lon0 + np.linspace(-0.004, 0.004, k),
                lat0 + np.linspace(-0.002, 0.002, k)[::-1],
                accuracy_m=np.zeros(k),
                observed_at=at,
                tester=np.arange(k) % 3 == 0,
            )
        )
    m = draw(st.integers(0, 40))  # devices elsewhere in Sweden
    lon, lat = sweden.synthetic_population(m, seed=draw(st.integers(0, 3)))
    parts.append(
        Positions(
            [f"s{i}" for i in range(m)], lon, lat, accuracy_m=np.full(m, 20.0), observed_at=at
        )
    )
    kind = draw(st.sampled_from(KINDS))
    size = draw(st.sampled_from([700.0, 2500.0, 6000.0]))  # 6 km: over an explosion's limit
    dx, dy = draw(st.sampled_from([(0.0, 0.0), (0.03, 0.0), (-0.02, 0.015)]))
    return {
        "place": place,
        "positions": _concat(*parts),
        "cell": draw(st.sampled_from(CELLS)),
        "at": at,
        "kind": kind,
        "circle": draw(st.booleans()),
        "size": size,
        "move": (dx, dy),
        "status": draw(st.sampled_from([Status.ACTUAL, Status.EXERCISE, Status.TEST])),
        "batch": draw(_devices(lon0 + dx, lat0 + dy, at, "b", 16, spread=0.55)),
        "cancel": draw(st.booleans()),
    }


def _area(lon: float, lat: float, size_m: float, circle: bool) -> Circle | Polygon:
    """A circle of radius ``size_m``, or a square of about that half-side, around a place."""
    if circle:
        return Circle(lon, lat, size_m)
    dlat = size_m / 111_200.0
    dlon = dlat / np.cos(np.radians(lat))
    w, s, e, n = lon - dlon, lat - dlat, lon + dlon, lat + dlat
    return Polygon([(w, s), (e, s), (e, n), (w, n), (w, s)])


# The client's background threads draw from the global ``random`` (retry jitter) while Hypothesis
# generates an example; the strategy itself uses only Hypothesis' draws.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@settings(max_examples=int(os.environ.get("GEOTARGET_DASK_EXAMPLES", "20")), deadline=None)
@given(_scenarios())
def test_dask_targeter_equals_in_memory_targeter_in_sweden(
    client: Any, tmp_path_factory: pytest.TempPathFactory, s: dict[str, Any]
) -> None:
    """An alert, its Update, a streamed batch and a Cancel: the same answers on the cluster.

    At a place where the Swedish boundaries matter (water, a county or national border), in a
    phase of the pilot's rollout, for each kind and status; the ledgers hold the same claims.
    """
    pair = _Pair(s["positions"], tmp_path_factory.mktemp("ds") / "ds", client, s["cell"])
    lon0, lat0 = PLACES[s["place"]]
    at: dt.datetime = s["at"]
    dx, dy = s["move"]
    first = make_alert(
        s["kind"],
        _area(lon0, lat0, s["size"], s["circle"]),
        ident="a1",
        sent=at,
        status=s["status"],
    )
    update = make_alert(
        s["kind"],
        _area(lon0 + dx, lat0 + dy, 2000.0, not s["circle"]),
        ident="a2",
        sent=at + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        refs=(ref(first),),
        status=s["status"],
    )
    got = pair.target(first, at)
    event(f"{s['kind']}: {got.verdict.value}, {'some' if got.recipients.size else 'no'} recipients")
    event(f"update: {pair.target(update, at + dt.timedelta(minutes=1)).verdict.value}")
    event(f"streamed: {len(pair.on_positions(s['batch'], at + dt.timedelta(minutes=2))) > 0}")
    if s["cancel"]:
        cancel = make_alert(
            s["kind"],
            _area(lon0 + dx, lat0 + dy, 2000.0, not s["circle"]),
            ident="a3",
            sent=at + dt.timedelta(minutes=3),
            msg_type=MessageType.CANCEL,
            refs=(ref(first), ref(update)),
            status=s["status"],
        )
        assert pair.target(cancel, at + dt.timedelta(minutes=3)).verdict is Verdict.CANCELLED
        assert pair.on_positions(s["batch"], at + dt.timedelta(minutes=4)) == []
    pair.same_ledgers([first])


def _around(
    prefix: str, lon0: float, lat0: float, at: dt.datetime, *, seed: int, n: int = 60
) -> Positions:
    """``n`` devices within about 4 km of a place: every fifth without a fix, some stale."""
    rng = np.random.default_rng(seed)
    lon = lon0 + rng.uniform(-0.07, 0.07, n)
    lat = lat0 + rng.uniform(-0.035, 0.035, n)
    no_fix = np.arange(n) % 5 == 4
    return Positions(
        [f"{prefix}{i}" for i in range(n)],
        np.where(no_fix, np.nan, lon),
        np.where(no_fix, np.nan, lat),
        accuracy_m=np.where(no_fix, np.nan, rng.choice([0.0, 25.0, 400.0], n)),
        observed_at=_observed(at, rng.choice([0.0, 0.2, 2.0, 30.0, -1.0], n).tolist()),
        tester=np.arange(n) % 4 == 0,
    )


@pytest.mark.parametrize("keep_expired", [dt.timedelta(0), dt.timedelta(hours=6)])
def test_phases_lifecycles_and_expiry_agree_in_sweden(
    client: Any, tmp_path: Path, keep_expired: dt.timedelta
) -> None:
    """Later phases (``retarget``), Updates, Cancels and ``keep_expired``: the same answers.

    A tip request on the Skåne/Halland border admitted before phase 2 (Skåne) is delivered by
    ``retarget`` once it starts; a crime modus by Vänern (Västra Götaland and Värmland) waits
    for phase 3; an Explosion at Haparanda/Tornio (beyond the border) and an Exercise in the
    Öresund are updated and cancelled; batches stream before and after the alerts expire, and
    after their incidents are marked expired.
    """
    t1 = dt.datetime(2024, 9, 1, 12, 0, tzinfo=UTC)  # phase 1: tips in Stockholm County only
    places = [
        ("h", PLACES["Skåne/Halland county border"]),
        ("v", PLACES["Västra Götaland/Värmland border on Vänern"]),
        ("t", PLACES["Haparanda/Tornio"]),
        ("o", PLACES["Öresund, Swedish side"]),
    ]
    devices = _concat(
        *(_around(p, *where, t1, seed=i) for i, (p, where) in enumerate(places)),
    )
    pair = _Pair(devices, tmp_path / "ds", client, 0.25, keep_expired=keep_expired)
    (hx, hy), (vx, vy), (tx, ty), (ox, oy) = (where for _, where in places)
    tip = make_alert("tip_request", _area(hx, hy, 3000.0, False), ident="tip", sent=t1, hours=72)
    modus = make_alert(
        "crime_modus", Circle(vx, vy, 4000.0), ident="modus", sent=t1, hours=24 * 200
    )
    boom = make_alert("explosion", Circle(tx, ty, 2500.0), ident="boom", sent=t1, hours=3)
    drill = make_alert(
        "explosion", Circle(ox, oy, 3000.0), ident="drill", sent=t1, status=Status.EXERCISE
    )
    for alert in (tip, modus, boom, drill):
        pair.target(alert, t1)
    later = t1 + dt.timedelta(minutes=20)
    boom2 = make_alert(
        "explosion",
        Circle(tx + 0.02, ty + 0.01, 3500.0),
        ident="boom2",
        sent=later,
        msg_type=MessageType.UPDATE,
        refs=(ref(boom),),
    )
    drill_off = make_alert(
        "explosion",
        Circle(ox, oy, 3000.0),
        ident="drill-off",
        sent=later,
        msg_type=MessageType.CANCEL,
        refs=(ref(drill),),
        status=Status.EXERCISE,
    )
    assert pair.target(boom2, later).verdict is Verdict.DELIVER
    assert pair.target(drill_off, later).verdict is Verdict.CANCELLED
    assert pair.retarget(later) == []  # the tips wait for phase 2, the crime modus for 3

    def batch(at: dt.datetime, seed: int) -> Positions:
        # Beside each place's devices: fixes 4 km from the updated Explosion's centre (in its
        # 1 km stale margin) 3 hours old (told), of unknown time and fresh (not told), and one
        # 5 km away.
        east = 4000.0 / (111_320.0 * np.cos(np.radians(ty + 0.01)))
        margin = Positions(
            ["m-stale", "m-nat", "m-fresh", "m-far"],
            [tx + 0.02 + east, tx + 0.02, tx + 0.02 - east, tx + 0.02],
            [ty + 0.01, ty + 0.01 + 4000.0 / 111_200.0, ty + 0.01, ty + 0.01 - 0.045],
            accuracy_m=[10.0, 10.0, 10.0, 10.0],
            observed_at=_observed(at, [3.0, -1.0, 0.0, 3.0]),
        )
        return _concat(
            margin,
            *(
                _around(f"n{p}", *where, at, seed=10 + seed + i, n=25)
                for i, (p, where) in enumerate(places)
            ),
        )

    told = {d.device_id for d in pair.on_positions(batch(later, 0), later)}
    assert {"m-stale", "m-nat", "m-fresh", "m-far"} & told == {"m-stale"}  # the stale margin
    phase2 = dt.datetime(2024, 9, 2, 0, 30, tzinfo=UTC)  # 02:30 in Stockholm
    assert [r.incident for r in pair.retarget(phase2)] == [f"{SENDER}/tip"]
    pair.on_positions(batch(phase2, 1), phase2)
    # The explosion expired at 15:00 on 1 September; the tips at 12:00 on 4 September.
    for at in (
        dt.datetime(2024, 9, 4, 12, 30, tzinfo=UTC),  # the tips just expired
        dt.datetime(2024, 9, 4, 20, 0, tzinfo=UTC),  # and 6 hours more: marked expired
    ):
        pair.on_positions(batch(at, 2), at)
        pair.same_ledgers([tip, modus, boom, drill])
    late = dt.datetime(2024, 9, 4, 21, 0, tzinfo=UTC)
    tip2 = make_alert(
        "tip_request",
        _area(hx, hy, 2000.0, True),
        ident="tip2",
        sent=late,
        msg_type=MessageType.UPDATE,
        refs=(ref(tip),),
        hours=24,
    )
    pair.target(tip2, late)  # an Update of an incident marked expired (or not yet)
    phase3 = dt.datetime(2025, 1, 13, 6, 0, tzinfo=UTC)
    assert [r.incident for r in pair.retarget(phase3)] == [f"{SENDER}/modus"]
    pair.on_positions(batch(phase3, 3), phase3)
    pair.same_ledgers([tip, modus, boom, drill])


class _Interleaved(MemoryLedger):
    """A MemoryLedger that runs ``before_claim`` once, just before its next claim.

    It plays another process sharing the ledger (a PostgresLedger in service) whose call lands
    between two steps of this one: an interleaving that cannot be timed otherwise.
    """

    before_claim: Callable[[], None] | None = None
    #: Run once, just before the second ``load_active`` from now (a streamed batch's Targeter
    #: polls the store while it waits for a version another process has not released yet).
    before_second_read: Callable[[], None] | None = None
    _reads = 0

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        hook, self.before_claim = self.before_claim, None
        if hook is not None:
            hook()
        return super().claim(*args, **kwargs)

    def load_active(self) -> Any:
        if self.before_second_read is not None:
            self._reads += 1
            if self._reads == 2:
                hook, self.before_second_read, self._reads = self.before_second_read, None, 0
                hook()
        return super().load_active()


def _moved(
    client: Any, tmp_path: Path, dask: bool, update_m: float
) -> tuple[_Interleaved, Targeter, DaskTargeter | Targeter, Alert, PositionIndex, Positions]:
    """An Explosion delivered by ``ours`` (on the cluster or in memory) over a shared ledger.

    Returns the ledger, a Targeter of another process over it, ours, an Update of the alert
    3 km east (a circle of ``update_m``), the snapshot's index and a batch of two devices: one
    in the first area, one in the Update's, far beyond the first area's stale margin.
    """
    at0 = PHASE_TIMES[0]
    snapshot = Positions(
        ["s1", "s2"],
        [18.0653, 18.12],
        [59.3325, 59.3325],
        accuracy_m=[10.0, 10.0],
        observed_at=at0,
    )
    first = make_alert("explosion", Circle(18.0653, 59.3325, 1000.0), ident="e1", sent=at0)
    update = make_alert(
        "explosion",
        Circle(18.12, 59.3325, update_m),
        ident="e2",
        sent=at0 + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        refs=(ref(first),),
    )
    at = at0 + dt.timedelta(minutes=2)
    batch = Positions(
        ["stayer", "mover"],
        [18.066, 18.121],
        [59.333, 59.333],
        accuracy_m=[5.0, 5.0],
        observed_at=at,
    )
    ledger = _Interleaved()
    regions, policy = sweden.hierarchy(), sweden.pilot_policy()
    here = Targeter(regions, policy, ledger=ledger)
    there = Targeter(regions, policy, ledger=ledger)  # another process over the same store
    index = PositionIndex(snapshot)
    ours: DaskTargeter | Targeter = here
    if dask:
        dataset = write_partitioned(snapshot, tmp_path / "ds", cell_deg=0.25)
        ours = cluster = DaskTargeter(here, dataset, client)
        assert cluster.target(first, at0).recipients.tolist() == ["s1"]
    else:
        assert here.target(first, index, at0).recipients.tolist() == ["s1"]
    return ledger, there, ours, update, index, batch


def _stream(ours: DaskTargeter | Targeter, batch: Positions) -> list[Delivery]:
    return ours.on_positions(batch, PHASE_TIMES[0] + dt.timedelta(minutes=2))


@pytest.mark.parametrize("dask", [False, True])
def test_a_batch_is_claimed_for_an_update_applied_meanwhile(
    client: Any, tmp_path: Path, dask: bool
) -> None:
    """An Update another process applies while a batch is claimed: the batch is its, on the cluster.

    The first claim for the batch finds the incident superseded, so the batch is evaluated
    again for the Update (``Targeter.on_positions``): a device in the Update's area that is far
    from the area the batch was first matched against is claimed for it, as in memory.
    """
    ledger, there, ours, update, index, batch = _moved(client, tmp_path, dask, 1000.0)
    at = PHASE_TIMES[0] + dt.timedelta(minutes=2)

    applied: list[Verdict] = []

    def apply_update() -> None:
        applied.append(there.target(update, index, at).verdict)

    ledger.before_claim = apply_update
    got = _stream(ours, batch)
    assert applied == [Verdict.DELIVER]  # the interleaving happened
    assert _deliveries(got) == [(f"{SENDER}/e1", "e2", "mover")]
    assert sorted(ledger.recipients(f"{SENDER}/e1").tolist()) == ["mover", "s1", "s2"]


def test_a_cluster_lost_as_the_batch_is_matched_again_names_the_claims_made(
    client: Any, tmp_path: Path
) -> None:
    """The cluster is lost while the batch is matched again for an Update: claims made stay.

    Two incidents are live. The batch's claim for the first is made; the second's is refused
    (another process applied an Update meanwhile), and the client is closed by the time the
    batch is matched again for the Update. The ClusterError said only that "the claims made
    before" were pending; it names the incident and count of each, as a store failing at the
    same point does (``tests/test_targeting_delivery.py``), and chains the cluster's error.
    (A client closed as a task was sent raised distributed's ClosedClientError, not a
    ClusterError.)
    """
    from distributed import Client

    from geotarget.errors import ClusterError

    own = Client(client.scheduler.address)  # closed by the test, not the module's client
    try:
        ledger, there, ours, update, index, _ = _moved(own, tmp_path, True, 1000.0)
        assert isinstance(ours, DaskTargeter)
        at0, at = PHASE_TIMES[0], PHASE_TIMES[0] + dt.timedelta(minutes=2)
        north = make_alert("explosion", Circle(18.0653, 59.36, 1000.0), ident="a0", sent=at0)
        assert ours.target(north, at0).verdict is Verdict.DELIVER  # nobody there yet
        batch = Positions(
            ["stayer", "mover", "walker"],
            [18.066, 18.121, 18.0653],
            [59.333, 59.333, 59.3605],
            accuracy_m=[5.0, 5.0, 5.0],
            observed_at=at,
        )
        first, second = f"{SENDER}/a0", f"{SENDER}/e1"  # claimed in this order (by key)
        done: list[Verdict] = []

        def before_second_claim() -> None:
            done.append(there.target(update, index, at).verdict)
            own.close()

        def before_first_claim() -> None:
            ledger.before_claim = before_second_claim

        ledger.before_claim = before_first_claim
        with pytest.raises(ClusterError) as caught:
            ours.on_positions(batch, at)
        assert done == [Verdict.DELIVER]  # the interleaving happened
        message = str(caught.value)
        assert "matching a batch of positions again" in message, message
        assert f"1 device(s) of {first} were made" in message, message
        assert "redeliver()" in message and second not in message, message
        cause = caught.value.__cause__  # distributed's own, as for every ClusterError
        assert cause is not None and not isinstance(cause, ClusterError), repr(cause)
        assert ledger.recipients(first).tolist() == ["walker"]  # made, pending
        assert sorted(ledger.recipients(second).tolist()) == ["s1", "s2"]  # the Update's only
    finally:
        own.close()


def test_an_expired_alert_kept_is_not_matched_on_the_workers(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch after the alert expired (its incident kept for ``keep_expired``): no work sent.

    ``Targeter.on_positions`` skips an expired alert whatever the batch holds, yet the workers
    matched every batch against its area until the incident was marked expired.
    """
    at0 = PHASE_TIMES[0]
    snapshot = Positions(["s1"], [18.0653], [59.3325], accuracy_m=[10.0], observed_at=at0)
    ours = DaskTargeter(
        Targeter(sweden.hierarchy(), sweden.pilot_policy(), keep_expired=dt.timedelta(hours=6)),
        write_partitioned(snapshot, tmp_path / "ds", cell_deg=0.25),
        client,
    )
    boom = make_alert(
        "explosion", Circle(18.0653, 59.3325, 1000.0), ident="e1", sent=at0, hours=1.0
    )
    assert ours.target(boom, at0).recipients.tolist() == ["s1"]
    sent: list[Any] = []
    submit = client.submit

    def counted(*args: Any, **kwargs: Any) -> Any:
        sent.append(args[0])
        return submit(*args, **kwargs)

    monkeypatch.setattr(client, "submit", counted)

    def batch(device: str, at: dt.datetime) -> Positions:
        return Positions([device], [18.066], [59.333], accuracy_m=[5.0], observed_at=at)

    during = at0 + dt.timedelta(minutes=30)
    got = ours.on_positions(batch("b1", during), during)
    assert _deliveries(got) == [(f"{SENDER}/e1", "e1", "b1")]
    assert sent  # matched on the workers while the alert is in force
    sent.clear()
    after = at0 + dt.timedelta(hours=2)
    assert ours.on_positions(batch("b2", after), after) == []
    assert [i.key for i in ours.targeter.ledger.load_active()] == [f"{SENDER}/e1"]  # kept
    assert sent == []


@pytest.mark.parametrize("dask", [False, True])
def test_a_batch_waits_for_an_update_another_process_releases(
    client: Any, tmp_path: Path, dask: bool
) -> None:
    """An Update admitted, not yet released, by another process: the batch is claimed for it.

    The Targeter waits for the release (polling the store) and evaluates the batch for the
    Update; on the cluster the batch is matched against the Update's area, not the areas
    live before the wait.
    """
    ledger, there, ours, update, index, batch = _moved(client, tmp_path, dask, 6000.0)
    at = PHASE_TIMES[0] + dt.timedelta(minutes=2)
    # 113 km²: held by the blast-radius guard (admitted, not released) until confirmed.
    assert there.target(update, index, at).verdict is Verdict.BLAST_RADIUS

    confirmed: list[Verdict] = []

    def confirm_update() -> None:
        confirmed.append(there.target(update, index, at, confirm=True).verdict)

    ledger.before_second_read = confirm_update
    got = _stream(ours, batch)
    assert confirmed == [Verdict.DELIVER]  # the interleaving happened
    # (The Update's 6 km circle holds both devices; the first area's stale margin, not mover.)
    assert _deliveries(got) == [(f"{SENDER}/e1", "e2", d) for d in ("mover", "stayer")]
