"""Probes of the rollout's phases over DST nights and New Year, and of values typed as text.

Round 16: an operator writes civil dates in Europe/Stockholm; a backend engineer asks "why
not, and from when" at and around every phase boundary. The oracle reads the declared phases
with :mod:`zoneinfo` alone and scans them; it shares no code with geotarget.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import zoneinfo
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import load_policy
from geotarget.errors import InvalidPolicy
from geotarget.rollout import Reason, RolloutPolicy

STHLM = zoneinfo.ZoneInfo("Europe/Stockholm")
UTC = dt.timezone.utc

# --- a small Sweden of two counties and three municipalities ------------------------------------

PARENT: dict[str, str | None] = {"SE": None, "A": "SE", "B": "SE", "A1": "A", "A2": "A", "B1": "B"}
LEVEL = {
    "SE": "country",
    "A": "county",
    "B": "county",
    "A1": "municipality",
    "A2": "municipality",
    "B1": "municipality",
}
FINEST = ("A1", "A2", "B1")


class Catalog:
    """A RegionCatalog over PARENT and LEVEL; unknown codes raise KeyError."""

    def level_of(self, code: str) -> str:
        """The level of ``code``."""
        return LEVEL[code]

    def name_of(self, code: str) -> str:
        """A name made of the code."""
        LEVEL[code]  # (KeyError for an unknown code)
        return f"Region {code}"

    def ancestors(self, code: str) -> tuple[str, ...]:
        """Every code ``code`` lies within, nearest first."""
        out, up = [], PARENT[code]
        while up is not None:
            out.append(up)
            up = PARENT[up]
        return tuple(out)

    def expand(self, codes: Iterable[str], level: str) -> frozenset[str]:
        """Every code at ``level`` within any of ``codes``."""
        wanted = set(codes)
        return frozenset(
            c for c in LEVEL if LEVEL[c] == level and ({c, *self.ancestors(c)} & wanted)
        )


CATALOG = Catalog()


def _within(place: str) -> set[str]:
    """The place and every region it lies in, walked up PARENT."""
    out: set[str] = set()
    code: str | None = place
    while code is not None:
        out.add(code)
        code = PARENT[code]
    return out


def _covered(listed: set[str], region: str) -> bool:
    """Every municipality within ``region`` lies within a listed code (the oracle's map)."""
    places = [m for m in FINEST if region in _within(m)]
    return all(_within(m) & listed for m in places)


# --- civil dates of the declared phases, read with zoneinfo alone -------------------------------

#: Starts as an operator writes them: DST nights of 2025 (30 March, 26 October, both 02:00s),
#: New Year's midnight and its last second before, and plain dates (midnight).
CIVIL = (
    "2025-03-30",
    "2025-03-30T01:59:59",
    "2025-03-30T03:00:00",
    "2025-10-26",
    "2025-10-26T02:00:00+02:00",
    "2025-10-26T02:00:00+01:00",
    "2025-10-26T03:00:00",
    "2025-12-31T23:59:59",
    "2026-01-01",
    "2026-03-29T03:00:00",
)


def _instant(text: str) -> dt.datetime:
    """The instant of a declared start: its offset when written, else Stockholm's wall time."""
    if "+" in text:
        return dt.datetime.fromisoformat(text).astimezone(UTC)
    wall = dt.datetime.fromisoformat(text if "T" in text else f"{text}T00:00:00")
    first, second = wall.replace(tzinfo=STHLM, fold=0), wall.replace(tzinfo=STHLM, fold=1)
    assert first.utcoffset() == second.utcoffset(), "the oracle's starts are unambiguous"
    back = first.astimezone(UTC).astimezone(STHLM).replace(tzinfo=None)
    assert back == wall, "the oracle's starts exist"
    return first.astimezone(UTC)


Declared = list[tuple[str, list[str], int]]


def _toml(phases: Declared) -> str:
    lines = ['timezone = "Europe/Stockholm"']
    for start, regions, pct in phases:
        lines += [
            "[[kinds.tip_request.phases]]",
            f"starts_at = {start}",
            f"regions = {json.dumps(regions)}",
            f"percentage = {pct}",
            "rollback = true",
        ]
    return "\n".join(lines) + "\n"


@st.composite
def schedules(draw: st.DrawFn) -> Declared:
    """1 to 5 phases at distinct civil starts, in time order, each changing something."""
    starts = sorted(
        draw(st.lists(st.sampled_from(CIVIL), min_size=1, max_size=5, unique=True)),
        key=_instant,
    )
    phases: Declared = []
    for start in starts:
        regions = draw(
            st.lists(st.sampled_from(sorted(LEVEL)), min_size=1, max_size=3, unique=True)
        )
        pct = draw(st.sampled_from([0, 50, 100, 100]))
        if phases and set(phases[-1][1]) == set(regions) and phases[-1][2] == pct:
            pct = 100 if pct != 100 else 50  # a phase must change something
        phases.append((start, regions, pct))
    return phases


@settings(max_examples=40)
@given(schedules())
def test_decisions_and_from_when_equal_a_scan_of_the_declared_civil_phases(
    phases: Declared,
) -> None:
    """At, a microsecond before and a second after every start: reason, phase, since, change.

    Half-open phases: the phase whose start is ``t`` is active at ``t``. A region is enabled
    iff the active phase covers it for more than 0 % of devices; "since" is the start of its
    run of such phases (or of the phase that ended the last one), "change" the next flip.
    """
    policy = RolloutPolicy.from_toml(_toml(phases), catalog=CATALOG)
    starts = [_instant(s) for s, _, _ in phases]
    assert [p.starts_at for p in policy.rollout("tip_request").phases] == starts  # type: ignore[union-attr]

    def on(j: int, region: str) -> bool:
        return phases[j][2] > 0 and _covered(set(phases[j][1]), region)

    times = {starts[0] - dt.timedelta(days=1)}
    for s in starts:
        times |= {s, s - dt.timedelta(microseconds=1), s + dt.timedelta(seconds=1)}
    for t in sorted(times):
        active = max((j for j, s in enumerate(starts) if s <= t), default=None)
        d = policy.decide("tip_request", t.astimezone(STHLM))
        nxt: dt.datetime | None
        if active is None:
            reason, nxt = Reason.NOT_STARTED, starts[0]
        else:
            _, listed, pct = phases[active]
            reason = (
                Reason.CANARY
                if pct < 100
                else Reason.NATIONWIDE
                if "SE" in listed
                else Reason.PHASE_ACTIVE
            )
            nxt = starts[active + 1] if active + 1 < len(starts) else None
        assert (d.reason, d.phase_index, d.next_change) == (reason, active, nxt), t
        for region in LEVEL:
            e = policy.explain("tip_request", region, t, catalog=CATALOG)
            enabled = active is not None and on(active, region)
            if enabled:
                assert active is not None
                first = active
                while first > 0 and on(first - 1, region):
                    first -= 1
                since: dt.datetime | None = starts[first]
                flip = range(active + 1, len(starts))
                change = next((starts[j] for j in flip if not on(j, region)), None)
                why = reason
            else:
                upto = -1 if active is None else active
                last = max((j for j in range(upto + 1) if on(j, region)), default=None)
                since = None if last is None else starts[last + 1]
                flip = range(upto + 1, len(starts))
                change = next((starts[j] for j in flip if on(j, region)), None)
                if active is None:
                    why = Reason.NOT_STARTED
                elif _covered(set(phases[active][1]), region):  # listed for 0 % of devices
                    why = reason
                else:
                    why = Reason.REGION_NOT_ENABLED
            got = (e.enabled, e.reason, e.since, e.change_at)
            assert got == (enabled, why, since, change), (region, t)


def test_new_year_and_dst_starts_are_the_civil_instants_in_every_sentence() -> None:
    """Midnight of New Year is 23:00Z; the sentence names the civil time the operator wrote."""
    doc = _toml([("2025-10-26T02:00:00+01:00", ["A"], 100), ("2026-01-01", ["A", "B"], 100)])
    policy = RolloutPolicy.from_toml(doc, catalog=CATALOG)
    eve = dt.datetime(2025, 12, 31, 22, 59, 59, 999999, tzinfo=UTC)
    midnight = dt.datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    assert str(policy.explain("tip_request", "B1", eve, catalog=CATALOG)) == (
        "Tip request alerts are not enabled in Region B1: phase 2, which adds it as part of "
        "Region B, starts 2026-01-01 00:00 Europe/Stockholm."
    )
    assert str(policy.explain("tip_request", "B1", midnight, catalog=CATALOG)) == (
        "Tip request alerts are enabled in Region B1 as part of Region B since 2026-01-01 00:00 "
        "Europe/Stockholm (phase 2)."
    )
    # the second 02:00 of the October night is told with its offset
    assert str(policy.explain("tip_request", "A1", midnight, catalog=CATALOG)) == (
        "Tip request alerts are enabled in Region A1 as part of Region A since 2025-10-26 02:00 "
        "(UTC+01:00) Europe/Stockholm (phase 1)."
    )


# --- a code the catalog does not know: refused, never a silent "no phase enables it" ------------


def test_explain_refuses_a_code_its_catalog_does_not_know() -> None:
    """``"1Z"`` typed for ``"B1"``: explain said "no phase of the policy enables it" for B1.

    The policy was read without the regions (as a service reads its file before it loads
    them); timeline() refused the code, explain() left it out and answered for the rest.
    """
    doc = _toml([("2026-01-01", ["A", "1Z"], 100)])
    policy = RolloutPolicy.from_toml(doc)
    at = dt.datetime(2026, 2, 1, tzinfo=STHLM)
    with pytest.raises(InvalidPolicy) as err:
        policy.explain("tip_request", "B1", at, catalog=CATALOG)
    assert [(p.path, p.message) for p in err.value.problems] == [
        ("kinds.tip_request.phases[0].regions", "unknown region code '1Z'")
    ]
    with pytest.raises(InvalidPolicy):  # as the timeline says
        policy.timeline("tip_request", catalog=CATALOG)
    two = RolloutPolicy.from_toml(
        doc.replace("tip_request", "crime_modus")
        + _toml([("2026-01-01", ["A"], 100)]).split("\n", 1)[1]
    )
    # a kind whose own codes are known is explained; the other kind's typo is its own matter
    assert two.explain("tip_request", "A1", at, catalog=CATALOG).enabled


# --- values written as text that the rule asks to be a bool or a number -------------------------


def test_a_bool_or_number_in_quotes_is_told_to_lose_its_quotes() -> None:
    """``rollback = "false"`` was "must be true or false (got 'false')": the value seemed right.

    Generators and spreadsheets write every cell as text; the message said nothing of the
    quotes. Now each such value is told to be written without them; other text is not.
    """
    doc = {
        "format_version": "1",
        "timezone": "Europe/Stockholm",
        "killed": "False",
        "kinds": {
            "tip_request": {
                "killed": "false",
                "phases": [
                    {"starts_at": "2026-01-01", "regions": ["A"], "percentage": " 12.5 %"},
                    {
                        "starts_at": "2026-02-01",
                        "regions": ["A", "B"],
                        "percentage": "50",
                        "rollback": "true",
                        "illustrative": "yes",
                    },
                ],
            }
        },
    }
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(json.dumps(doc))
    got = {p.path: p.message for p in err.value.problems}
    bare = "; that is text, in quotes: write {} without quotes"
    number = "; that is text, in quotes: write the number {} without quotes"
    assert got == {
        "format_version": "must be 1 (got '1')" + number.format(1),
        "killed": "must be true or false (got 'False')" + bare.format("false"),
        "kinds.tip_request.killed": "must be true or false (got 'false')" + bare.format("false"),
        "kinds.tip_request.phases[0].percentage": "must be a number in [0, 100] "
        "(got ' 12.5 %')" + number.format(12.5) + " and without %",
        "kinds.tip_request.phases[1].percentage": "must be a number in [0, 100] (got '50')"
        + number.format(50),
        "kinds.tip_request.phases[1].rollback": "must be true or false (got 'true')"
        + bare.format("true"),
        "kinds.tip_request.phases[1].illustrative": "must be true or false (got 'yes')",
    }


def test_a_location_rule_bool_in_quotes_is_told_to_lose_its_quotes(tmp_path: Path) -> None:
    """The same value in the same file's location rules gets the rollout's hint.

    So do numbers in quotes there (a count, km², seconds, metres, a multiple).
    """
    file = tmp_path / "policy.toml"
    file.write_text(
        'issuers = "any"\n'
        + _toml([("2026-01-01", ["SE"], 100)])
        + '[location_rules.tip_request]\ninclude_ambiguous = "true"\nmax_recipients = "5000"\n'
        + 'max_area_km2 = " 12.5 "\nlocation = {max_age_s = "600", accuracy = "2"}\n'
        + 'stale = {max_age_s = 3600, margin_m = "500"}\n',
        encoding="utf-8",
    )
    with pytest.raises(InvalidPolicy) as err:
        load_policy(file)
    told = {p.path.rpartition("tip_request.")[2]: p.message for p in err.value.problems}
    assert "write true without quotes" in told.pop("include_ambiguous")
    for key, number in [
        ("max_recipients", "5000"),
        ("max_area_km2", "12.5"),
        ("location.max_age_s", "600"),
        ("location.accuracy", "2"),
        ("stale.margin_m", "500"),
    ]:
        assert f"write the number {number} without quotes" in told.pop(key), key
    assert told == {}


# --- line ends ----------------------------------------------------------------------------------


def _read(reader: str, file: Path) -> RolloutPolicy:
    """The rollout of ``file`` as ``reader`` reads it."""
    return RolloutPolicy.from_toml(file) if reader == "rollout" else load_policy(file).rollout


@pytest.mark.parametrize("reader", ["rollout", "load_policy"])
def test_toml_lines_ended_by_a_lone_cr_are_named_as_such(reader: str, tmp_path: Path) -> None:
    """A file saved with classic Mac OS line ends (CR alone) was "Expected newline ...".

    TOML takes LF or CRLF; the parser saw a file that looks right as a few long lines. The
    same file with CRLF (Windows), a BOM and tabs reads as with LF.
    """
    lines = [
        'issuers = "any"',
        'timezone = "Europe/Stockholm"',
        *_toml([("2026-01-01", ["SE"], 100)]).splitlines()[1:],
    ]
    good = "\ufeff" + "\r\n".join(line.replace(" = ", "\t=\t") for line in lines) + "\r\n"
    file = tmp_path / "good.toml"
    file.write_bytes(good.encode())
    assert _read(reader, file).decide("tip_request", dt.datetime(2026, 1, 1, tzinfo=STHLM)).enabled
    bad = "\r".join(lines) + "\r"
    file = tmp_path / "bad.toml"
    file.write_bytes(bad.encode())
    with pytest.raises(InvalidPolicy) as err:
        _read(reader, file)
    (problem,) = err.value.problems
    # the oracle: the first lone CR, by a plain scan of the text
    first = next(k for k, ch in enumerate(bad) if ch == "\r" and bad[k + 1 : k + 2] != "\n")
    line = bad[:first].count("\n") + 1
    assert problem.message.startswith("not valid TOML: ")
    assert f"; line {line} ends in a lone carriage return (CR" in problem.message
    assert "save the file with LF or CRLF line endings" in problem.message


class _Asked(Catalog):
    """The catalog, remembering every code it is asked about by ``level_of``."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def level_of(self, code: str) -> str:
        """The level of ``code``, remembered."""
        self.asked.append(code)
        return super().level_of(code)


def test_explain_checks_the_codes_of_its_own_kind_once_each() -> None:
    """The check of explain() is the asked kind's: not every kind's, not every phase's again.

    Phases repeat the codes of the phases before; a policy of many kinds is explained one
    kind at a time (a dashboard asks for every region), so the cost is that kind's codes.
    """
    doc = _toml([("2026-01-01", ["A1"], 100), ("2026-02-01", ["A1", "A2"], 100)])
    others = "".join(
        f'[[kinds.other{k}.phases]]\nstarts_at = 2026-01-01\nregions = ["B{k}"]\n'
        for k in range(30)
    )
    policy = RolloutPolicy.from_toml(doc + others)  # (B0...B29: codes no catalog knows)
    catalog = _Asked()
    e = policy.explain("tip_request", "A", dt.datetime(2026, 3, 1, tzinfo=STHLM), catalog=catalog)
    assert e.enabled and e.via == "A"  # every municipality of A listed
    counts = {code: catalog.asked.count(code) for code in set(catalog.asked)}
    assert not {c for c in counts if c.startswith("B")}, counts
    # once for the check, and once a phase for the answer (is A covered by its parts?)
    assert counts.get("A1", 0) <= 1 + 2 and counts.get("A2", 0) <= 1 + 2, counts


# --- the policy's timezone written wrong --------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        (
            "Europe/Stockholm ",
            "; it has spaces or a line break around it: write 'Europe/Stockholm'",
        ),
        (
            "Europe/Stockholm\n",
            "; it has spaces or a line break around it: write 'Europe/Stockholm'",
        ),
        ("Stockholm", "; did you mean 'Europe/Stockholm'?"),
        ("Europe/Stokholm", "; did you mean 'Europe/Stockholm'?"),
        ("America/Sao Paulo", "; did you mean 'America/Sao_Paulo'?"),
        ("+01:00", "; that is a UTC offset, not a zone"),
        ("UTC+1", "; that is a UTC offset, not a zone"),
        ("CEST", "; that is an abbreviation, not a zone (CEST and CET are the summer and"),
        ("Sweden", None),
    ],
)
def test_a_zone_name_written_wrong_names_the_zone_meant(written: str, hint: str | None) -> None:
    """Before: "must be an IANA time zone name ... (got 'Stockholm')" and nothing more.

    A name pasted with a line break, a city without its area, a letter wrong, a space for
    ``_``, an offset or an abbreviation each say what to write; a country's name, which no
    zone ends in, gets no guess (no close match that would point elsewhere).
    """
    doc = {
        "timezone": written,
        "kinds": {"k": {"phases": [{"starts_at": "2026-01-01T00:00:00Z", "regions": ["SE"]}]}},
    }
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(json.dumps(doc))
    (problem,) = err.value.problems
    assert problem.path == "timezone"
    assert problem.message.startswith("must be an IANA time zone name such as 'Europe/Stockholm'")
    if hint is None:
        assert problem.message.endswith(")"), problem.message
    else:
        assert hint in problem.message, problem.message
        meant = hint.partition("'")[2].partition("'")[0]  # the zone named, if any
        if "/" in meant:
            assert meant in zoneinfo.available_timezones()


@pytest.mark.parametrize("written", ["Any", " any ", "ANY", "all", "*", "none", "yes"])
def test_issuers_any_written_otherwise_is_told_the_one_spelling(
    written: str, tmp_path: Path
) -> None:
    """``issuers = "Any"`` was "must be "any" or an array ... (got str 'Any')" and no more.

    A word meaning every sender gets the one spelling; other words ("none", "yes") get no
    guess: what they mean is not every sender.
    """
    file = tmp_path / "policy.json"
    doc = {"issuers": written, **json.loads(_json_rollout())}
    file.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InvalidPolicy) as err:
        load_policy(file)
    (problem,) = err.value.problems
    assert problem.path == "issuers"
    hint = '; to accept every sender write issuers = "any", in lower case'
    meant = written.strip().lower() in ("any", "all", "*")
    assert problem.message.endswith(hint) is meant, problem.message


def _json_rollout() -> str:
    """A JSON rollout of one nationwide phase."""
    phase = {"starts_at": "2026-01-01T00:00:00+01:00", "regions": ["SE"]}
    return json.dumps(
        {"timezone": "Europe/Stockholm", "kinds": {"tip_request": {"phases": [phase]}}}
    )


def test_phases_out_of_order_are_named_by_the_civil_dates_written() -> None:
    """``2025-05-01`` after ``2025-06-01`` was told "starts at 2025-04-30T22:00:00Z, before ...".

    The operator wrote civil dates; the message names other dates (a day earlier), in UTC.
    """
    doc = _toml([("2025-06-01", ["SE"], 100), ("2025-05-01", ["SE", "A"], 100)])
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(doc)
    (problem,) = err.value.problems
    assert problem.path == "kinds.tip_request.phases[1]"
    assert "2025-05-01T00:00:00+02:00" in problem.message
    assert "2025-06-01T00:00:00+02:00" in problem.message


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        (
            calendar.timegm((2025, 6, 1, 0, 0, 0)),
            "; as Unix time in seconds it is 2025-06-01T00:00:00Z: write that instant as text",
        ),
        (
            calendar.timegm((2026, 1, 1, 0, 0, 0)) * 1000 - 3_600_000,  # Stockholm's New Year
            "; as Unix time in milliseconds it is 2025-12-31T23:00:00Z: write that instant",
        ),
        (20250330, "; as a date written without dashes it is 2025-03-30: write 2025-03-30"),
        (20251332, None),  # no month 13
        (5, None),  # no plausible instant
        (True, None),
    ],
)
def test_a_start_written_as_a_number_names_the_instant_it_would_be(
    written: object, hint: str | None
) -> None:
    """``"starts_at": 1748736000`` was "must be a date-time ... (got int 1748736000)" only.

    Exports write instants as Unix time and dates as ``YYYYMMDD`` numbers; the instant or
    date the number reads as is named (the oracle: :func:`calendar.timegm`), others are not.
    """
    doc = {
        "timezone": "Europe/Stockholm",
        "kinds": {"k": {"phases": [{"starts_at": written, "regions": ["SE"]}]}},
    }
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(json.dumps(doc))
    (problem,) = err.value.problems
    assert problem.path == "kinds.k.phases[0].starts_at"
    assert problem.message.startswith("must be a date-time such as 2024-04-15T00:00:00+02:00")
    if hint is None:
        assert problem.message.endswith(")"), problem.message
    else:
        assert hint in problem.message, problem.message
