"""``Targeter.target`` / ``on_positions`` equal an independent brute-force oracle (issue 10).

The oracle (``tests/oracle_targeter.py``) is written from the contract alone; the scenarios
(``tests/targeting_strategies.py``) run in a small synthetic world with a shared border, a strip
of water and a notch, and put devices on borders, vertices, circle rims, in the water, within
and beyond the snap distance, with stale, missing and inaccurate fixes, testers and canaries.

Example counts follow ``HYPOTHESIS_PROFILE`` (see ``tests/conftest.py``): each property runs a
quarter of the profile's ``max_examples`` (the scenarios are long), so ``ci`` (200) runs 50
scenarios per property and ``thorough`` (2,000) runs 500.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, note, reject, settings
from oracle_targeter import Borderline, Device, OracleDuplicate, OracleTargeter, Rules
from targeting_strategies import (
    ABOVE,
    MUNIS,
    Scenario,
    Step,
    devices_of,
    hierarchy,
    scenarios,
)

import geotarget.errors
import geotarget.positions
from geotarget import LocationRule, PositionIndex, Positions
from geotarget.targeting import KindRules, Targeter

#: The API the contract adds; absent on ``main`` (the properties that need it say so).
DuplicateIdentifier: Any = getattr(geotarget.errors, "DuplicateIdentifier", None)
StaleRule: Any = getattr(geotarget.positions, "StaleRule", None)
NEW_RULES = {"stale", "include_no_fix", "beyond_border"} <= set(attrs.fields_dict(KindRules))
needs_new_rules = pytest.mark.skipif(
    not NEW_RULES, reason="KindRules has no stale/include_no_fix/beyond_border yet (issue 10)"
)

EXAMPLES = max(10, settings().max_examples // 4)
ORACLE = settings(max_examples=EXAMPLES, deadline=None)
HIERARCHY = hierarchy()


def kind_rules(r: Rules) -> KindRules:
    """The library's KindRules for the oracle's rules."""
    kw: dict[str, Any] = {
        "location": LocationRule(max_age=r.max_age, accuracy=r.accuracy),
        "include_ambiguous": r.include_ambiguous,
    }
    if NEW_RULES:
        kw["stale"] = None if r.stale is None else StaleRule(max_age=r.stale[0], margin_m=r.stale[1])
        kw["include_no_fix"] = r.include_no_fix
        kw["beyond_border"] = r.beyond_border
    else:
        assert r.stale is None and not r.include_no_fix and not r.beyond_border
    return KindRules(**kw)


def positions(devices: list[Device]) -> Positions:
    """A snapshot of the oracle's devices (ids all int or all str)."""
    return Positions(
        [d.id for d in devices],  # type: ignore[misc]
        [d.lon for d in devices],
        [d.lat for d in devices],
        accuracy_m=[d.accuracy_m for d in devices],
        observed_at=[d.observed_at for d in devices],
        tester=np.array([d.tester for d in devices], dtype=bool),
    )


def _keys(ids: Any) -> set[str]:
    return {str(i) for i in np.asarray(ids).tolist()}


def check_step(tg: Targeter, oracle: OracleTargeter, step: Step, n: int) -> None:
    """Run one step on both and compare (unsure devices left out)."""
    devices = devices_of(step)
    if not devices:
        return
    snap = positions(devices)
    at = step.at
    if step.message is None:
        want, unsure = oracle.on_positions(devices, at)
        got = {(str(d.device_id), d.incident) for d in tg.on_positions(snap, at)}
        note(f"step {n}: on_positions at {at:%H:%M} -> {sorted(got)}")
        assert got - unsure == want - unsure, f"step {n}: on_positions deliveries differ"
        return
    msg = step.message.build()
    name = f"step {n}: {msg.msg_type.value} {msg.status.value} {msg.sender}/{msg.identifier}"
    try:
        want_r = oracle.target(msg, devices, at)
    except OracleDuplicate:
        note(f"{name}: DuplicateIdentifier expected")
        assert DuplicateIdentifier is not None, "geotarget.errors.DuplicateIdentifier is missing"
        with pytest.raises(DuplicateIdentifier) as info:
            tg.target(msg, PositionIndex(snap), at)
        text = str(info.value)
        assert msg.sender in text and msg.identifier in text, text
        assert "infos" in text or "area" in text, f"the differing field is not named: {text}"
        return
    res = tg.target(msg, PositionIndex(snap), at)
    note(f"{name} at {at:%H:%M}: {res.verdict.value} {sorted(_keys(res.recipients))} ({res.reason})")
    ok = {want_r.verdict} | want_r.also
    assert res.verdict.value in ok, f"{name}: verdict {res.verdict.value}, oracle {want_r.verdict}"
    if res.verdict.value != want_r.verdict:
        return  # an alternative the contract allows; its details are not compared
    if want_r.incident is not None:
        assert res.incident == want_r.incident, f"{name}: incident {res.incident!r}"
    got = _keys(res.recipients) - want_r.unsure
    assert got == want_r.recipients - want_r.unsure, f"{name}: recipients differ"
    if want_r.retract is not None:
        got_r = _keys(res.retract) - want_r.unsure
        assert got_r == want_r.retract - want_r.unsure, f"{name}: retract differs"


def run(scn: Scenario) -> None:
    """Play a scenario on a fresh Targeter and a fresh oracle, comparing every step."""
    tg = Targeter(
        HIERARCHY,
        scn.policy,
        location_rules={k: kind_rules(r) for k, r in scn.rules.items()},
        snap_m=scn.snap_m,
    )
    oracle = OracleTargeter(MUNIS, ABOVE, scn.policy, scn.rules, scn.snap_m)
    try:
        for n, step in enumerate(scn.steps):
            check_step(tg, oracle, step, n)
    except Borderline:
        reject()


@ORACLE
@given(scenarios(lifecycle=False, new_rules=False))
def test_plain_alerts_equal_the_oracle(scn: Scenario) -> None:
    """Independent Actual/Test/Exercise Alerts and position batches, rules main can express."""
    run(scn)


@needs_new_rules
@ORACLE
@given(scenarios(lifecycle=False, new_rules=True))
def test_location_rules_equal_the_oracle(scn: Scenario) -> None:
    """Stale fixes (StaleRule), missing fixes (include_no_fix) and beyond_border as well."""
    run(scn)


@ORACLE
@given(scenarios(lifecycle=True, new_rules=NEW_RULES))
def test_lifecycles_equal_the_oracle(scn: Scenario) -> None:
    """Alerts, Updates and Cancels shuffled, missing, re-submitted, re-used; intruders, Drafts,
    System messages, Acks and Errors mixed in."""
    run(scn)
