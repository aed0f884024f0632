"""Probe 11 of the targeting pipeline over calendar time: phases, info blocks, canaries, reasons.

An operator reads a result's reason and ``next_change`` to know when, and why, an alert will
reach someone. The oracles are plain Python: which phase is active is the last start at or
before an instant (``zoneinfo`` for wall times), an info block is in effect while
``start <= t < expires``, a 1 km circle lies in the box of the synthetic municipality holding
its centre, and a device's canary bucket is the BLAKE2b definition of the rollout docs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from zoneinfo import ZoneInfo

import attrs
import pytest
from targeting_helpers import (
    MUNIS,
    SENDER,
    T0,
    exact_rules,
    make_alert,
    make_regions,
    message,
    positions,
    ref,
)
from test_info_windows import _alert, _info

from geotarget import Circle, PositionIndex, Positions, pilot, sweden
from geotarget.alerts import Alert, MessageType
from geotarget.ledger import MemoryLedger
from geotarget.rollout import KindRollout, Phase, RolloutPolicy
from geotarget.targeting import Outcome, Targeter, Verdict

UTC = dt.timezone.utc
STO = ZoneInfo("Europe/Stockholm")
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
#: 1 km circles well inside municipality 0101 and 0202 of the synthetic hierarchy.
WEST = Circle(17.25, 59.5, 1000.0)
EAST = Circle(18.75, 59.5, 1000.0)


def _policy(kind: str, *phases: Phase) -> RolloutPolicy:
    return RolloutPolicy(rollouts=[KindRollout(kind=kind, phases=phases)], country="XX")


def _muni(circle: Circle) -> str:
    """The municipality of the synthetic hierarchy holding the circle's centre."""
    return next(c for c, (w, s, e, n) in MUNIS.items() if w < circle.lon < e and s < circle.lat < n)


def _first_reaching(
    phases: list[tuple[dt.datetime, set[str]]],
    blocks: list[tuple[Circle, dt.datetime, dt.datetime]],
    after: dt.datetime,
) -> dt.datetime | None:
    """The first instant after ``after`` at which a block in effect lies in an enabled region.

    Scanned minute by minute up to the last expiry: the oracle knows nothing of phase starts
    or block edges being the only instants that matter.
    """
    end = max(e for _, _, e in blocks)
    t = after + dt.timedelta(minutes=1)
    while t < end:
        active = [regions for start, regions in phases if start <= t]
        if active:
            live = {_muni(c) for c, s, e in blocks if s <= t < e}
            if live & active[-1]:
                return t
        t += dt.timedelta(minutes=1)
    return None


@pytest.mark.parametrize(
    ("west", "east", "phases"),
    [
        # The west block ends (2 h) before phase 1, which enables only the west, starts: the
        # east block is the one in effect then, and phase 2 enables it. "Phase 1 enables it
        # there" was said, and next_change was phase 1's start, when nobody is told.
        ((0, 2), (0, 72), [(24, {"0101"}), (48, {"0101", "0202"})]),
        # The east block begins 5 h into phase 2, which enables the east: "no later phase of
        # the policy enables it there" was said, of a phase that does.
        ((0, 96), (53, 72), [(0, {"0201"}), (48, {"0201", "0202"})]),
        # Nothing reaches: the east block ends before the phase that enables the east.
        ((0, 96), (0, 30), [(0, {"0201"}), (48, {"0201", "0202"})]),
    ],
)
def test_from_when_is_the_first_phase_reaching_the_blocks_then_in_effect(
    west: tuple[int, int], east: tuple[int, int], phases: list[tuple[int, set[str]]]
) -> None:
    base = dt.datetime(2024, 5, 20, 10, tzinfo=UTC)
    blocks = [
        (WEST, base + west[0] * H, base + west[1] * H),
        (EAST, base + east[0] * H, base + east[1] * H),
    ]
    alert = _alert(*(_info(c, onset=s, expires=e) for c, s, e in blocks))
    policy = _policy("explosion", *(Phase(starts_at=base + h * H, regions=r) for h, r in phases))
    targeter = Targeter(make_regions(), policy, location_rules=exact_rules())
    at = base + 3 * H
    index = PositionIndex(Positions(["w", "e"], [17.25, 18.75], [59.5, 59.5], observed_at=at))
    got = targeter.preview(alert, index, at)
    want = _first_reaching([(base + h * H, r) for h, r in phases], blocks, at)
    assert got.verdict in (Verdict.KIND_NOT_ENABLED, Verdict.AREA_OUTSIDE_ROLLOUT)
    expected = want
    if got.verdict is Verdict.AREA_OUTSIDE_ROLLOUT:  # also when a block begins or ends (docs)
        edges = [t for _, s, e in blocks for t in (s, e) if at < t < max(e for *_, e in blocks)]
        expected = min([*edges, *([want] if want else [])], default=None)
    assert got.next_change == expected
    if want is None:
        assert "no later phase of the policy enables it there" in got.reason
        return
    number = max(k for k, (h, _) in enumerate(phases) if base + h * H <= want) + 1
    if any(base + h * H == want for h, _ in phases):  # a phase start: its Stockholm wall time
        said = want.astimezone(STO).strftime("%Y-%m-%d %H:%M") + " Europe/Stockholm"
    else:  # a block's start, as the alert writes it
        said = want.isoformat()
    assert f"phase {number} enables it there from {said}" in got.reason
    # And at that instant (not a minute before) the alert is delivered.
    then = PositionIndex(Positions(["w", "e"], [17.25, 18.75], [59.5, 59.5], observed_at=want))
    assert targeter.preview(alert, then, want).verdict is Verdict.DELIVER
    before = want - dt.timedelta(minutes=1)
    early = PositionIndex(Positions(["w", "e"], [17.25, 18.75], [59.5, 59.5], observed_at=before))
    assert targeter.preview(alert, early, before).verdict is not Verdict.DELIVER


def test_an_update_without_geometry_is_told_the_phase_reaching_its_incidents_area() -> None:
    """A text-only Update of a kind not started yet: the phase that reaches the kept area.

    Its own area is None, so "phase 1 enables it from" named the first phase enabling the kind
    anywhere (0101), though the incident's area lies in 0201, which phase 2 enables.
    """
    policy = _policy(
        "crime_modus",
        Phase(starts_at=T0 + D, regions={"0101"}),
        Phase(starts_at=T0 + 2 * D, regions={"0101", "0201"}),
    )
    targeter = Targeter(make_regions(), policy, location_rules=exact_rules(), ledger=MemoryLedger())
    first = make_alert("crime_modus", Circle(18.25, 59.5, 3000.0), hours=120)
    index = PositionIndex(positions([18.25], [59.5]))
    assert targeter.target(first, index, T0).next_change == T0 + 2 * D
    later = T0 + dt.timedelta(minutes=5)
    update = make_alert(
        "crime_modus", Circle(18.25, 59.5, 3000.0), hours=120, ident="u1",
        msg_type=MessageType.UPDATE, refs=(ref(first),), sent=later,
    )  # fmt: skip
    update = attrs.evolve(update, infos=tuple(attrs.evolve(i, areas=()) for i in update.infos))
    for got in (targeter.preview(update, index, later), targeter.target(update, index, later)):
        assert got.verdict is Verdict.KIND_NOT_ENABLED
        assert got.next_change == T0 + 2 * D
        assert "phase 2 enables it there from 2024-05-22 14:00 Europe/Stockholm" in got.reason


def _held(how: str) -> RolloutPolicy:
    later = Phase(starts_at=T0 + D, regions={"0101", "0201"})
    policy = _policy("crime_modus", Phase(starts_at=T0 + 2 * H, regions={"0101"}), later)
    if how == "killed":
        return policy.with_killed(kind="crime_modus")
    if how == "all killed":
        return policy.with_killed()
    return _policy("explosion", later)  # crime_modus not named


@pytest.mark.parametrize(
    ("how", "code", "says"),
    [
        ("killed", "KILLED", "the kill switch for crime_modus is on"),
        ("all killed", "ALL_KILLED", "the policy's global kill switch is on"),
        ("not named", "KIND_NOT_IN_POLICY", "the rollout policy does not name crime_modus"),
    ],
)
def test_a_kind_held_off_whatever_its_phases_says_what_holds_it(
    how: str, code: str, says: str
) -> None:
    """A kill switch, or a kind the policy does not name, is named as such.

    "no later phase of the policy enables it there" was said of a killed kind whose next phase
    lists the very region the alert is in: the operator looked for a phase to add.
    """
    targeter = Targeter(make_regions(), _held(how), location_rules=exact_rules())
    alert = make_alert("crime_modus", Circle(18.25, 59.5, 3000.0), hours=48)
    got = targeter.preview(alert, PositionIndex(positions([18.25], [59.5])), T0)
    assert got.verdict is Verdict.KIND_NOT_ENABLED
    assert got.reason.startswith(f"crime_modus is not enabled ({code}): {says}")
    assert "no later phase" not in got.reason and "enables it there" not in got.reason
    assert got.next_change is None


def test_a_pause_of_zero_percent_says_so_not_only_canary() -> None:
    """A phase listing the region for 0 % of devices: "not enabled (CANARY)" read as enabled."""
    policy = _policy(
        "crime_modus",
        Phase(starts_at=T0 - 2 * D, regions={"0201"}),
        Phase(starts_at=T0 - D, regions={"0201"}, percentage=0, rollback=True),
        Phase(starts_at=T0 + D, regions={"0201"}, percentage=50),
    )
    targeter = Targeter(make_regions(), policy, location_rules=exact_rules())
    alert = make_alert("crime_modus", Circle(18.25, 59.5, 3000.0), hours=48)
    got = targeter.preview(alert, PositionIndex(positions([18.25], [59.5])), T0)
    assert got.verdict is Verdict.KIND_NOT_ENABLED
    assert got.reason.startswith(
        "crime_modus is not enabled (CANARY, phase 2 lists it for 0% of devices: a pause); "
        "phase 3 enables it there for 50% of devices (canary) from "
    )
    assert got.next_change == T0 + D


def _bucket(salt: str, kind: str, device: str) -> int:
    """The canary bucket of a string id, as the rollout docs define it."""
    digest = hashlib.blake2b(f"{salt}/{kind}/{device}".encode(), digest_size=8).digest()
    return ((int.from_bytes(digest, "big") >> 32) * 10_000) >> 32


def test_a_canary_delivery_names_its_share_and_the_device_at_the_threshold_is_out() -> None:
    """12.34 %: devices with a bucket below 1234 are told; one at 1234 exactly is not.

    The reason said "enabled (CANARY, phase 1)" and a device left out "outside the canary
    share", neither saying which share: an operator could not tell 0.01 % from 99 %.
    """
    policy = _policy("crime_modus", Phase(starts_at=T0 - D, regions={"0201"}, percentage=12.34))
    candidates = [f"dev-{i}" for i in range(200_000)]
    buckets = {d: _bucket(policy.salt, "crime_modus", d) for d in candidates}
    edge = next(d for d in candidates if buckets[d] == 1234)
    below = next(d for d in candidates if buckets[d] == 1233)
    ids = [*candidates[:2000], edge, below]
    targeter = Targeter(make_regions(), policy, location_rules=exact_rules())
    alert = make_alert("crime_modus", Circle(18.25, 59.5, 3000.0))
    n = len(ids)
    index = PositionIndex(Positions(ids, [18.25] * n, [59.5] * n, observed_at=[T0] * n))
    got = targeter.preview(alert, index, T0)
    assert got.verdict is Verdict.DELIVER
    assert "crime_modus is enabled (CANARY, phase 1, for 12.34% of devices)" in got.reason
    assert set(got.recipients.tolist()) == {d for d in ids if buckets[d] < 1234}
    assert got.outcome_of(edge) is Outcome.OUTSIDE_CANARY
    assert got.outcome_of(below) is Outcome.INSIDE
    assert "phase 1 enables this kind for 12.34% of devices" in got.explain(edge)


def _pilot_alert(onset: dt.datetime, expires: dt.datetime) -> Alert:
    return pilot.crime_modus(
        identifier="dst-1", sender=SENDER, sent=onset - H, area=Circle(18.25, 59.5, 2000.0),
        sv=message("sv"), en=message("en"), onset=onset, expires=expires,
    )  # fmt: skip


@pytest.mark.parametrize(
    "start",
    [
        dt.datetime(2024, 3, 31, 3, 0, tzinfo=STO),  # the first summer instant
        dt.datetime(2024, 10, 27, 2, 30, tzinfo=STO, fold=0),  # the first 02:30
        dt.datetime(2024, 10, 27, 2, 30, tzinfo=STO, fold=1),  # the repeated 02:30
    ],
)
def test_retarget_delivers_at_a_phase_start_on_a_dst_night_given_in_any_zone(
    start: dt.datetime,
) -> None:
    """A waiting alert is delivered by retarget() at the phase's instant, not a µs before.

    The instant is ``start.astimezone(UTC)`` (zoneinfo); ``at`` is given in Tokyo and in
    New York, and the reason shows the start in Stockholm wall time with the offset when the
    wall time happens twice.
    """
    instant = start.astimezone(UTC)
    policy = _policy(
        "crime_modus",
        Phase(starts_at=instant - 30 * D, regions={"0101"}),
        Phase(starts_at=start, regions={"0101", "0201"}),
    )
    targeter = Targeter(make_regions(), policy, location_rules=exact_rules(), ledger=MemoryLedger())
    alert = _pilot_alert(instant - 2 * H, instant + 3 * H)
    first_at = instant - 90 * dt.timedelta(minutes=1)
    waiting = targeter.target(alert, PositionIndex(positions([18.25], [59.5])), first_at)
    assert waiting.verdict is Verdict.AREA_OUTSIDE_ROLLOUT
    assert waiting.next_change == instant
    wall = start.strftime("%Y-%m-%d %H:%M")
    # Named with its offset when the wall time happens twice (both folds differ in offset).
    offset = start.utcoffset()
    assert offset is not None
    twice = start.replace(fold=0).utcoffset() != start.replace(fold=1).utcoffset()
    offset_text = f" (UTC+{offset // H:02d}:00)" if twice else ""
    assert f"phase 2 enables it there from {wall}{offset_text} Europe/Stockholm" in waiting.reason

    def index(at: dt.datetime) -> PositionIndex:
        return PositionIndex(Positions(["d0"], [18.25], [59.5], observed_at=at))

    just_before = (instant - dt.timedelta(microseconds=1)).astimezone(ZoneInfo("Asia/Tokyo"))
    assert targeter.retarget(index(just_before), just_before) == []
    at = instant.astimezone(ZoneInfo("America/New_York"))
    got = targeter.retarget(index(at), at)
    assert [(r.verdict, r.recipients.tolist()) for r in got] == [(Verdict.DELIVER, ["d0"])]


@pytest.mark.parametrize("with_catalog", [False, True])
def test_a_timeline_says_a_code_a_pause_adds_is_listed_for_no_device(with_catalog: bool) -> None:
    """A pause (0 %) that adds Skåne (12): "adds 12" told it enabled from then.

    Oracle: a code is enabled from the first phase listing it for more than 0 % (the rollout
    docs): phase 3 here, as ``enabled_from`` says; the line of phase 2 must not say "adds 12"
    alone.
    """
    policy = RolloutPolicy(
        rollouts=[
            KindRollout(
                kind="tip_request",
                phases=[
                    Phase(starts_at=dt.datetime(2024, 10, 27, 2, 30, tzinfo=STO), regions={"01"}),
                    Phase(
                        starts_at=dt.datetime(2024, 10, 27, 2, 45, tzinfo=STO, fold=1),
                        regions={"01", "12"},
                        percentage=0,
                        rollback=True,
                    ),
                    Phase(
                        starts_at=dt.datetime(2025, 3, 30, 3, 0, tzinfo=STO),
                        regions={"01", "12"},
                        percentage=30,
                    ),
                ],
            )
        ]
    )
    timeline = policy.timeline("tip_request", catalog=sweden.hierarchy() if with_catalog else None)
    assert timeline.enabled_from("12") == dt.datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    lines = str(timeline).splitlines()
    assert lines[2].startswith("  phase 2  2024-10-27 02:45 (UTC+01:00)  adds 12 for 0% of devices")
    assert lines[3] == "  phase 3  2025-03-30 03:00  percentage 0% -> 30%"
