"""Probes of policies as integrators write them by hand: other kinds, countries and clocks.

Each test checks one answer against an oracle of its own (plain Python over the file's
values), with inputs the other policy tests do not use: a Norwegian or made-up country,
phases at the daylight-saving changes of Europe/Stockholm, canaries and pauses.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import shapely.geometry as sg

from geotarget import load_policy, pilot, sweden
from geotarget.alerts import Alert, Info, NamedValue
from geotarget.errors import InvalidPolicy
from geotarget.issuers import Issuers
from geotarget.kinds import Recognizer
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import RolloutPolicy
from geotarget.targeting import Targeter


def _flood(text: str) -> RolloutPolicy:
    return RolloutPolicy.from_toml('timezone = "Europe/Stockholm"\n' + text)


# --- diffs: what an operator reads before deploying ----------------------------------------


def test_diff_says_the_share_of_a_canary_or_a_pause_that_starts_or_ends() -> None:
    """A kind that starts as a 10 % canary, then pauses at 0 %, is not told as every device.

    The diff said "+ 01" for a window in which the new version enables 01 for 10 % of
    devices, and "+ 01, 12" for one in which it enables them for nobody (a 0 % pause), as if
    they reached everybody there.
    """
    old = _flood('[[kinds.flood.phases]]\nstarts_at = 2024-05-01\nregions = ["01"]\n')
    new = _flood(
        """
        [[kinds.flood.phases]]
        starts_at = 2024-05-01
        regions = ["01"]

        [[kinds.gas.phases]]
        starts_at = 2024-03-31T03:00:00
        regions = ["01"]
        percentage = 10

        [[kinds.gas.phases]]
        starts_at = 2024-10-27T02:00:00+01:00
        regions = ["01", "12"]
        percentage = 10

        [[kinds.gas.phases]]
        starts_at = 2024-10-28
        regions = ["01", "12"]
        percentage = 0
        rollback = true

        [[kinds.gas.phases]]
        starts_at = 2024-11-04
        regions = ["01", "12", "14"]
        percentage = 0
        """
    )
    forward = str(old.diff(new)).splitlines()[2:]
    assert forward == [
        "  gas from 2024-03-31 03:00 until 2024-10-27 02:00 (UTC+01:00) Europe/Stockholm: "
        "+ 01 for 10% of devices",
        "  gas from 2024-10-27 02:00 (UTC+01:00) until 2024-10-28 00:00 Europe/Stockholm: "
        "+ 01, 12 for 10% of devices",
        "  gas from 2024-10-28 00:00 until 2024-11-04 00:00 Europe/Stockholm: "
        "+ 01, 12 for 0% of devices (nobody)",
        "  gas from 2024-11-04 00:00 Europe/Stockholm onwards: "
        "+ 01, 12, 14 for 0% of devices (nobody)",
    ]
    back = str(new.diff(old)).splitlines()[2:]
    assert back[0].endswith(": - 01 for 10% of devices")
    # A window whose percentage changes says so once, not beside the codes.
    wider = _flood(
        """
        [[kinds.gas.phases]]
        starts_at = 2024-03-31T03:00:00
        regions = ["01", "12"]
        percentage = 50
        """
    )
    assert str(new.diff(wider)).splitlines()[-4:] == [
        "  gas from 2024-03-31 03:00 until 2024-10-27 02:00 (UTC+01:00) Europe/Stockholm: "
        "+ 12; percentage 10% -> 50%",
        "  gas from 2024-10-27 02:00 (UTC+01:00) until 2024-10-28 00:00 Europe/Stockholm: "
        "percentage 10% -> 50%",
        "  gas from 2024-10-28 00:00 until 2024-11-04 00:00 Europe/Stockholm: percentage 0% -> 50%",
        "  gas from 2024-11-04 00:00 Europe/Stockholm onwards: - 14; percentage 0% -> 50%",
    ]
    # A full phase stays as it was written: codes alone.
    assert str(_flood("").diff(old)).splitlines()[-1].endswith(": + 01")


# --- issuers: every problem of a hand-written table at once ---------------------------------

_ISSUERS = """
[[issuers]]
name = "syd"
senders = ["syd@polisen.se"]
kinds = ["tip_request"]
regions = ["PR-SYD", "pr-syd", "Skåne län", 12]
acts_for = ["nord"]

[[issuers]]
name = "syd"
senders = ["syd@polisen.se"]
kinds = ["tip_request"]
regions = ["SE"]
signature = "required"

[[issuers]]
name = "väst"
senders = ["vast@polisen.se"]
kinds = ["Tip"]
regions = ["140"]
"""


def test_issuers_name_every_problem_of_the_table_at_once(tmp_path: Path) -> None:
    """A bad field of one entry no longer hides what the entries break together, nor codes.

    An operator's table with a field of the wrong type got that problem alone; once fixed, the
    name and the sender given twice and ``acts_for`` naming no issuer came next, and the
    region codes the hierarchy does not know only in a third run.
    """
    regions = sweden.hierarchy()
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_toml(_ISSUERS, catalog=regions)
    got = [(p.path, p.message) for p in err.value.problems]
    paths = [p for p, _ in got]
    # Each entry's own fields ...
    assert "issuers[0].regions" in paths  # the code written as a number
    assert "issuers[1].signature" in paths  # "required" without certificates
    assert {"issuers[2].name", "issuers[2].kinds"} <= set(paths)
    # ... what the entries break together ...
    assert (
        "issuers[1].name",
        "'syd' is the name of issuers[0] too; issuer names are unique",
    ) in got
    assert any(p == "issuers[1].senders" and "'syd@polisen.se'" in m for p, m in got)
    assert ("issuers[0].acts_for", "'nord' names no issuer") in got
    # ... and every code of the hierarchy's that is not one, with its hint.
    unknown = {m.split(" is not")[0] for p, m in got if "is not a region code of the" in m}
    assert unknown == {"'pr-syd'", "'Skåne län'", "'140'"}
    # The whole file says the same, with its other parts' problems.
    file = tmp_path / "policy.toml"
    file.write_text('timezone = "Europe/Stockholm"\n' + _ISSUERS, encoding="utf-8")
    with pytest.raises(InvalidPolicy) as whole:
        load_policy(file, catalog=regions)
    assert [(p.path, p.message) for p in whole.value.problems] == got
    # A table whose entries are each fine reports the rest as before, codes included.
    fixed = _ISSUERS.replace(", 12]", "]").replace('signature = "required"\n', "")
    fixed = fixed.replace('"väst"', '"vast"').replace('"Tip"', '"tip_request"')
    with pytest.raises(InvalidPolicy) as again:
        Issuers.from_toml(fixed, catalog=regions)
    rest = [(p.path, p.message) for p in again.value.problems]
    assert rest == [
        (p, m)
        for p, m in got
        if p in {"issuers[1].name", "issuers[1].senders", "issuers[0].acts_for"}
        or "is not a region code of the hierarchy" in m
    ]
    assert len(rest) == 6


# --- recognition rules ------------------------------------------------------------------------


def test_a_rule_that_never_applies_is_named_beside_another_rules_bad_field() -> None:
    """A bad field of one rule no longer hides that a later rule never applies.

    Paths are the file's indices, counting the rule that could not be read.
    """
    doc = """
    [[recognition]]
    name = "brand"
    kind = "fire"
    events = ["Brand", "Eld"]

    [[recognition]]
    name = "ras"
    kind = "Landslide"
    events = ["Skred", "Jordskred"]

    [[recognition]]
    name = "gasbrand"
    kind = "gas"
    events = ["BRAND"]
    categories = ["CBRNE"]
    """
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_toml(doc)
    assert [p.path for p in err.value.problems] == ["recognition[1].kind", "recognition[2]"]
    assert err.value.problems[1].message.startswith(
        "rule 'gasbrand' (kind gas) never applies: rule 'brand' (recognition[0], kind fire)"
    )


def _rules_doc(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"recognition": entries}


def test_a_rule_that_earlier_rules_leave_nothing_to_together_is_refused() -> None:
    """Two rules of one kind, each taking one event, leave a rule of two events nothing.

    One earlier rule shadowing a later one of another kind was refused; two doing it together
    were not, and the later rule silently never applied: "Eld" and "Brand" were told as fire.
    """
    doc = """
    [[recognition]]
    name = "brand"
    kind = "fire"
    events = ["Brand"]

    [[recognition]]
    name = "eld"
    kind = "fire"
    events = ["Eld"]

    [[recognition]]
    name = "gasbrand"
    kind = "gas"
    events = ["eld", "BRAND"]
    """
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_toml(doc)
    assert [(p.path, p.message) for p in err.value.problems] == [
        (
            "recognition[2]",
            "rule 'gasbrand' (kind gas) never applies: rules 'brand' (recognition[0], kind "
            "fire), 'eld' (recognition[1], kind fire) are tried first and together match every "
            "alert it matches; put the narrower rule first",
        )
    ]
    # A rule with something of its own left is fine, and so is one only its own kind shadows.
    Recognizer.from_toml(doc.replace('"BRAND"]', '"BRAND", "Gasbrand"]'))
    Recognizer.from_toml(doc.replace('kind = "gas"', 'kind = "fire"'))


_EVENTS = ("Brand", "Eld", "Gas")
_CODES = (("SOS", "B"), ("SOS", "E"))
_SENDERS = ("a@x.se", "b@x.se")
_SOME_CATEGORIES = ("Fire", "CBRNE", "Met")
_CATEGORIES = (
    "CBRNE", "Env", "Fire", "Geo", "Health", "Infra", "Met", "Other", "Rescue", "Safety",
    "Security", "Transport",
)  # fmt: skip


def _first(
    entries: list[dict[str, Any]],
    event: str,
    categories: tuple[str, ...],
    codes: tuple[Any, ...],
    sender: str,
) -> int:
    """The oracle: the first rule (plain Python) a block meets.

    A block carries one event, one or more categories and any number of event codes; a rule
    naming categories (codes) meets it when the block carries any of them.
    """
    for i, e in enumerate(entries):
        named = {(c["value_name"], c["value"]) for c in e.get("event_codes", [])}
        if (
            ("events" not in e or event in e["events"])
            and ("categories" not in e or any(c in e["categories"] for c in categories))
            and ("event_codes" not in e or any(c in named for c in codes))
            and ("senders" not in e or sender in e["senders"])
        ):
            return i
    return -1


def test_rules_that_never_apply_equal_a_brute_force_over_every_block() -> None:
    """On random files, a rule is refused iff no block it meets reaches it, another kind's does.

    The blocks are every event, category (one or two of them), event codes (none, one or two)
    and sender the rules name, and one that none names: which rules a block meets depends
    only on those. (Blocks of one category and at most one code alone missed a rule whose
    alerts carrying a second category another kind's rule takes.)
    """
    rng = random.Random(59)
    for _ in range(150):
        entries: list[dict[str, Any]] = []
        for i in range(rng.randint(2, 4)):
            entry: dict[str, Any] = {"name": f"r{i}", "kind": rng.choice(["fire", "gas"])}
            if rng.random() < 0.7:
                entry["events"] = rng.sample(_EVENTS, rng.randint(1, 2))
            if rng.random() < 0.4 or "events" not in entry:
                entry["event_codes"] = [
                    {"value_name": n, "value": v} for n, v in rng.sample(_CODES, rng.randint(1, 2))
                ]
            if rng.random() < 0.4:
                entry["categories"] = rng.sample(_SOME_CATEGORIES, rng.randint(1, 2))
            if rng.random() < 0.3:
                entry["senders"] = rng.sample(_SENDERS, 1)
            entries.append(entry)
        reached, stolen = set(), set()
        categories = [(c,) for c in _CATEGORIES] + list(itertools.combinations(_CATEGORIES, 2))
        codes = [()] + [(c,) for c in _CODES] + list(itertools.combinations(_CODES, 2))
        for block in itertools.product(
            (*_EVENTS, "Other"), categories, codes, (*_SENDERS, "c@x.se")
        ):
            first = _first(entries, *block)
            if first < 0:
                continue
            reached.add(first)
            for j in range(first + 1, len(entries)):
                if (
                    entries[j]["kind"] != entries[first]["kind"]
                    and j == _first(entries[j:], *block) + j
                ):
                    stolen.add(j)
        expected = sorted(j for j in stolen if j not in reached)
        try:
            Recognizer.from_dict(_rules_doc(entries))
            refused = []
        except InvalidPolicy as err:
            refused = [int(p.path.removeprefix("recognition[")[:-1]) for p in err.problems]
        assert refused == expected, entries


def test_invisible_characters_in_an_event_do_not_hide_its_kind() -> None:
    r"""A byte order mark or soft hyphen left in a feed's event text is not part of the event.

    "\ufeffExplosion" (a BOM a feed left at the start of the field) and "Explo\u00adsion" (a
    soft hyphen) were not the pilot's "Explosion": the alert reached nobody as an
    unrecognised kind. Joiners that change how a script is written are kept.
    """
    sent = dt.datetime(2024, 10, 27, 1, 30, tzinfo=dt.timezone.utc)

    def alert(event: str, code: str = "X") -> Alert:
        info = Info(
            language="sv-SE",
            categories=["Safety"],
            event=event,
            urgency="Immediate",
            severity="Severe",
            certainty="Observed",
            event_codes=[NamedValue("SOS", code)],
        )
        return Alert(
            identifier="I-1",
            sender="larm@sosalarm.se",
            status="Actual",
            msg_type="Alert",
            scope="Public",
            infos=[info],
            sent=sent,
        )

    rules = (
        Recognizer.from_toml(
            """
        [[recognition]]
        name = "sos:code"
        kind = "gas"
        event_codes = [{ value_name = "SOS", value = "GAS\\u200bLUKT" }]
        """
        )
        + pilot.RECOGNITION
    )
    for event in ("\ufeffExplosion", "Explo\u00adsion", "Explosion\u200b", "Ex\u2060plosion"):
        got = rules.recognise(alert(event))
        assert got is not None and (got.kind, got.rule) == ("explosion", "pilot:explosion"), event
    assert rules.recognise(alert("Explo\u200dsion")) is None  # a zero-width joiner is kept
    got = rules.recognise(alert("Lukt", code="gaslukt"))
    assert got is not None and got.kind == "gas"


def test_a_single_table_where_an_array_of_them_goes_is_named_as_written() -> None:
    """``[issuers]`` for ``[[issuers]]``, or a JSON object for an array, is said so.

    The problem named the parser's type: "got dict" for TOML and "got _Object" (a private
    class) for JSON; and the issuers' said no "got" at all.
    """
    table = '[recognition]\nname = "gas"\nkind = "gas"\nevents = ["Gas"]\n'
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_toml(table)
    (problem,) = err.value.problems
    assert problem.path == "recognition"
    assert problem.message.startswith("must be an array of tables (got a single table {'name'")
    assert problem.message.endswith("write [[recognition]] in TOML, or [{...}] in JSON)")
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_json('{"recognition": {"name": "gas", "kind": "gas"}}')
    assert "_Object" not in str(err.value) and "got a single table" in str(err.value)
    issuers = '{"issuers": {"name": "rtj", "senders": ["a@b.se"], "kinds": ["gas"]}}'
    for read, text in ((Issuers.from_json, issuers), (Issuers.from_toml, "[issuers]\nname = 'x'")):
        with pytest.raises(InvalidPolicy) as err:
            read(text)
        (problem,) = err.value.problems
        assert problem.message.startswith(
            'must be "any" or an array of issuer tables (got a single table {'
        ), problem.message
    with pytest.raises(InvalidPolicy, match=r"issuer tables \(got str 'Any'\)"):
        Issuers.from_toml('issuers = "Any"')


def test_a_single_phase_table_where_an_array_of_them_goes_is_named_as_written() -> None:
    """``[kinds.flood.phases]`` for ``[[kinds.flood.phases]]`` names the fix, not "dict"."""
    toml = '[kinds.flood.phases]\nstarts_at = 2024-05-01T00:00:00Z\nregions = ["01"]\n'
    json_text = '{"kinds": {"flood": {"phases": {"starts_at": "2024-05-01", "regions": []}}}}'
    for read, text in ((RolloutPolicy.from_toml, toml), (RolloutPolicy.from_json, json_text)):
        with pytest.raises(InvalidPolicy) as err:
            read(text)
        (problem,) = err.value.problems
        assert problem.path == "kinds.flood.phases"
        assert problem.message.startswith(
            "must be an array of phase tables (got a single table {'starts_at': "
        ), problem.message
        assert problem.message.endswith("write [[kinds.flood.phases]] in TOML, or [{...}] in JSON)")


# --- the Targeter: fail early --------------------------------------------------------------------


def _two_counties() -> RegionHierarchy:
    def level(name: str, boxes: dict[str, tuple[float, float, float, float]]) -> RegionSet:
        return RegionSet(
            [Region(code=c, name=c, level=name, geometry=sg.box(*b)) for c, b in boxes.items()]
        )

    return RegionHierarchy(
        [
            level("municipality", {"0101": (17, 59, 18, 60), "0201": (18, 59, 19, 60)}),
            level("county", {"01": (17, 59, 18, 60), "02": (18, 59, 19, 60)}),
            level("country", {"XX": (17, 59, 19, 60)}),
        ],
        {"0101": "01", "0201": "02", "01": "XX", "02": "XX"},
    )


def test_a_recognition_sender_that_is_no_issuers_is_refused_when_the_targeter_is_built(
    tmp_path: Path,
) -> None:
    """A rule for a sender the issuer table does not know would never apply: said at once.

    Its alerts are refused as UNKNOWN_ISSUER before any rule is tried, so a typo in either
    list ("sosalarm" and "sos-alarm") left the rule dead, unseen until an alert came.
    """
    file = tmp_path / "gas.toml"
    file.write_text(
        """
        timezone = "Europe/Stockholm"
        country = "XX"

        [[kinds.gas.phases]]
        starts_at = 2024-03-31T03:00:00
        regions = ["01"]

        [[recognition]]
        name = "sos:gas"
        kind = "gas"
        events = ["Gasläcka"]
        senders = ["larm@sos-alarm.se", "larm@sosalarm.se"]

        [[issuers]]
        name = "sos"
        senders = ["larm@sosalarm.se"]
        kinds = ["gas"]
        regions = ["XX"]

        [location_rules.gas]
        include_ambiguous = true
        """,
        encoding="utf-8",
    )
    issuers = Issuers.from_toml(file)
    policy = load_policy(_without_issuers(file), issuers_required=False)
    issuer_senders = {s for i in issuers.issuers for s in i.senders}
    unknown = sorted(set(policy.recognition.rules[0].senders) - issuer_senders)
    assert unknown == ["larm@sos-alarm.se"]
    with pytest.raises(InvalidPolicy) as err:
        Targeter(
            _two_counties(),
            policy.rollout,
            recognition=policy.recognition,
            issuers=issuers,
            location_rules=policy.location_rules,
        )
    with pytest.raises(InvalidPolicy) as read:  # reading the file says it first, in the same words
        load_policy(file)
    assert read.value.problems == err.value.problems
    got = [(p.path, p.message) for p in err.value.problems]
    assert [p for p, _ in got] == ["recognition[0].senders"]
    assert got[0][1].startswith(
        "'larm@sos-alarm.se' belongs to no issuer of the policy (issuers: sos)"
    )
    # With issuers = "any" no sender is unknown: the Targeter is built.
    Targeter(
        _two_counties(),
        policy.rollout,
        recognition=policy.recognition,
        issuers=Issuers.any(),
        location_rules=policy.location_rules,
    )


def _without_issuers(file: Path) -> Path:
    text = file.read_text(encoding="utf-8")
    out = file.with_name("no-issuers.toml")
    out.write_text(text[: text.index("[[issuers]]")] + text[text.index("[location_rules") :])
    return out


@pytest.mark.parametrize(
    ("lon", "first_delivery_hour"),
    [(17.75, 2), (18.25, 5)],  # a device in county 01, one in county 02
)
def test_not_enabled_says_when_a_phase_first_reaches_the_alert(
    lon: float, first_delivery_hour: int
) -> None:
    """KIND_NOT_ENABLED's next_change is when the alert is first delivered, found by stepping.

    The night of the 2024 autumn DST change in Stockholm: a 0 % canary of 01 at 01:00, 10 % of
    01 at 02:00 (the first 02:00, CEST), 0 % of 01 and 02 at 04:00, everyone in 01 and 02 at
    05:00. An alert in 01 is first delivered at 02:00 CEST, one in 02 at 05:00 CET; the answer
    at 00:00 must name that time (not the next phase's start, 01:00), in its reason too. The
    oracle calls target() every five minutes from 00:00 until the verdict is DELIVER.
    """
    from targeting_helpers import make_alert, make_regions, positions

    from geotarget import Circle, PositionIndex
    from geotarget.rollout import KindRollout, Phase
    from geotarget.targeting import Verdict

    zone = ZoneInfo("Europe/Stockholm")
    utc = dt.timezone.utc
    midnight = dt.datetime(2024, 10, 27, 0, 0, tzinfo=zone)
    starts = [
        (dt.datetime(2024, 10, 26, 23, 0, tzinfo=utc), {"01"}, 0.0),  # 01:00 CEST
        (dt.datetime(2024, 10, 27, 0, 0, tzinfo=utc), {"01"}, 10.0),  # 02:00 CEST
        (dt.datetime(2024, 10, 27, 3, 0, tzinfo=utc), {"01", "02"}, 0.0),  # 04:00 CET, a pause
        (dt.datetime(2024, 10, 27, 4, 0, tzinfo=utc), {"01", "02"}, 100.0),  # 05:00 CET
    ]
    policy = RolloutPolicy(
        rollouts=[
            KindRollout(
                kind="explosion",
                phases=[
                    Phase(starts_at=t, regions=r, percentage=p, rollback=p < 1.0 and i > 0)
                    for i, (t, r, p) in enumerate(starts)
                ],
            )
        ],
        country="XX",
    )
    alert = make_alert("explosion", Circle(lon, 59.5, 500.0), sent=midnight, hours=8.0)

    def verdict_at(at: dt.datetime) -> Any:
        index = PositionIndex(positions([lon], [59.5], observed_at=[at]))
        return Targeter(make_regions(), policy).target(alert, index, at)

    first = verdict_at(midnight)
    assert first.verdict is Verdict.KIND_NOT_ENABLED
    at = midnight.astimezone(utc)  # stepped in UTC: wall-clock steps repeat the DST hour
    while verdict_at(at).verdict is not Verdict.DELIVER:
        at += dt.timedelta(minutes=5)
        assert at < midnight + dt.timedelta(hours=8)
    assert first.next_change == at
    assert at == starts[1 if first_delivery_hour == 2 else 3][0]
    # (02:00 comes twice that night: the reason names its offset, "02:00 (UTC+02:00)".)
    assert f"from 2024-10-27 0{first_delivery_hour}:00" in first.reason
    assert "01:00" not in first.reason
