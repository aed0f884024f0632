"""Probes of the region rollout over time, as operators write, edit and run it (round 10).

Oracles of their own: the policy text read by hand (which line holds what), instants computed
with :mod:`zoneinfo` directly, and who is told worked out with shapely over the reference
boundaries, not with the library's internals.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from geotarget import load_policy
from geotarget.errors import InvalidPolicy
from geotarget.rollout import RolloutPolicy

_HEAD = 'timezone = "Europe/Stockholm"\nissuers = "any"\n'
_PHASE = '[[kinds.tip_request.phases]]\nstarts_at = 2024-04-15\nregions = ["01"]\n'


def _problem(text: str) -> str:
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(text)
    [problem] = err.value.problems
    return problem.message


# --- an edited file that gives a table or a key twice ----------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        # the edited line copied, its old copy left above it
        (_HEAD + _PHASE.replace("regions", "starts_at = 2024-05-15\nregions"), 5, "starts_at"),
        (_HEAD + _PHASE + 'regions = ["01", "03"]\n', 6, "regions"),
        (_HEAD + 'timezone = "UTC"\n' + _PHASE, 3, "timezone"),
    ],
)
def test_a_key_given_twice_is_named_as_given_twice_not_as_badly_written(
    text: str, line: int, key: str
) -> None:
    """TOML says only "Cannot overwrite a value"; the hint said how to write a date-time.

    ``starts_at`` given twice (the edited copy below the old one) was told "starts_at is a
    TOML date-time such as 2024-09-02T00:00:00 ..." — the date was fine, the key was twice.
    """
    message = _problem(text)
    assert message.startswith("not valid TOML: Cannot overwrite a value")
    lines = text.splitlines()
    first = next(k for k, t in enumerate(lines) if t.startswith(f"{key} ="))
    assert lines[line - 1].startswith(f"{key} =") and first + 1 < line  # (the oracle: by hand)
    assert f"{key} is given twice in the same table (lines {first + 1} and {line})" in message
    assert "date-time such as" not in message and "without quotes" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # a kind's table copied below its phases, to switch its kill switch
            _HEAD + "[kinds.crime_modus]\nkilled = false\n" + _PHASE
            + "\n[kinds.crime_modus]\nkilled = true\n",
            "the table [kinds.crime_modus] is declared twice (first at line 3)",
        ),
        (  # a phase written with single brackets after phases with double ones
            _HEAD + _PHASE + '[kinds.tip_request.phases]\nstarts_at = 2024-09-02\n'
            'regions = ["01", "14"]\n',
            "is written [[kinds.tip_request.phases]], with double brackets",
        ),
    ],
)  # fmt: skip
def test_a_table_declared_twice_is_named_so_not_as_text_without_quotes(
    text: str, expected: str
) -> None:
    """The header line was taken for a value: 'write "kinds.crime_modus"' (in quotes)."""
    message = _problem(text)
    assert "twice" in message.partition(";")[0]  # TOML's own words come first
    assert expected in message
    assert "without quotes" not in message and "true or false" not in message


@pytest.mark.parametrize(
    "header", ["[kinds.tip request.phases]", "[[kinds.tip_request.phases]", "[kinds.tip_request"]
)
def test_a_broken_table_header_gets_no_hint_about_the_line_above(header: str) -> None:
    """A header is no line of the array above it: the key above it says nothing of it."""
    message = _problem(_HEAD + _PHASE + "killed = false\n" + header + "\n")
    assert message.startswith("not valid TOML: ")
    assert ";" not in message, message


def test_load_policy_names_a_key_given_twice_too(tmp_path: Path) -> None:
    """The whole file, as the command's --policy reads it."""
    file = tmp_path / "policy.toml"
    file.write_text(_HEAD + _PHASE + "percentage = 10\npercentage = 20\n", encoding="utf-8")
    with pytest.raises(InvalidPolicy) as err:
        load_policy(file)
    assert "percentage is given twice in the same table (lines 6 and 7)" in str(err.value)


# --- end to end: an operator's file, real boundaries, who is told at each phase boundary -----

_OPERATOR_FILE = """\
# Polisens tipsförfrågningar: Stockholm först, sedan Uppsala, sedan hela landet.
timezone = "Europe/Stockholm"   # dates below without an offset are Stockholm's wall clock
issuers = "any"

[[kinds.tip_request.phases]]    # fas 1: vecka 16
starts_at = 2024-04-15
regions = ["01"]

[[kinds.tip_request.phases]]    # fas 2: natten klockan ställs tillbaka, andra 02:30 (CET)
starts_at = 2024-10-27T01:30:00Z
regions = ["01", "03"]

[[kinds.tip_request.phases]]    # fas 3: hela landet, när sommartiden börjat
starts_at = 2025-03-30T03:00:00+02:00
regions = ["01", "03", "SE"]

[[kinds.tip_request.phases]]    # tillbaka till Stockholm (rollback): reach shrinks
starts_at = 2025-04-01T12:00:00
regions = ["01"]
rollback = true
"""


def test_who_is_told_at_each_phase_boundary_equals_an_oracle_on_real_boundaries(
    tmp_path: Path, shared_data: Path
) -> None:
    """Devices around the Stockholm/Uppsala border and at sea off Värmdö, at every boundary.

    Oracle: each phase's start read from the file by hand (UTC instants written with
    zoneinfo), the active phase the last with start <= t, a device's county from the
    reference municipality polygons (shapely, not the shipped simplified ones), the area by
    geodesic distance (pyproj). Devices nearer than ~170 m to a boundary or 60 m to a rim are
    left out (the shipped boundaries are simplified within 60 m).
    """
    import datetime as dt
    import json
    from zoneinfo import ZoneInfo

    import numpy as np
    import pyproj
    import shapely
    from shapely.geometry import shape

    from geotarget import Area, Circle, PositionIndex, Positions, Targeter, pilot, sweden
    from geotarget.ledger import MemoryLedger
    from geotarget.targeting import Verdict

    sthlm, utc = ZoneInfo("Europe/Stockholm"), dt.timezone.utc
    starts = [
        dt.datetime(2024, 4, 15, tzinfo=sthlm).astimezone(utc),
        dt.datetime(2024, 10, 27, 1, 30, tzinfo=utc),
        dt.datetime(2025, 3, 30, 1, 0, tzinfo=utc),
        dt.datetime(2025, 4, 1, 12, 0, tzinfo=sthlm).astimezone(utc),
    ]
    counties = [{"01"}, {"01", "03"}, None, {"01"}]  # None: the whole country
    file = tmp_path / "pilot.toml"
    file.write_text(_OPERATOR_FILE, encoding="utf-8")
    loaded = load_policy(file, catalog=sweden.hierarchy())
    rollout = loaded.rollout.rollout("tip_request")
    assert rollout is not None and [p.starts_at for p in rollout.phases] == starts

    # -- the devices and the oracle's view of them
    doc = json.loads((shared_data / "sweden" / "kommuner_lantmateriet_wgs84.geojson").read_text())
    codes = [f["properties"]["kommun_kod"] for f in doc["features"]]
    shapes = [shape(f["geometry"]) for f in doc["features"]]
    rng = np.random.default_rng(10)
    border = (17.841877, 59.693847, 6_000.0)  # on the 01/03 county border (places_wgs84.csv)
    sea = (18.95, 59.28, 4_000.0)  # off Sandhamn, Värmdö's territorial sea
    lon = np.concatenate([rng.uniform(17.70, 17.99, 500), rng.uniform(18.86, 19.04, 300)])
    lat = np.concatenate([rng.uniform(59.63, 59.76, 500), rng.uniform(59.24, 59.32, 300)])
    points = shapely.points(lon, lat)
    muni = np.full(lon.size, "", dtype=object)
    near = np.zeros(lon.size, dtype=bool)
    for code, geom in zip(codes, shapes, strict=True):
        muni[shapely.covers(geom, points)] = code
        near |= shapely.distance(geom.boundary, points) < 0.003  # ~170 m east-west here
    geod = pyproj.Geod(ellps="WGS84")
    in_area = np.zeros(lon.size, dtype=bool)
    for clon, clat, radius in (border, sea):
        dist = geod.inv(np.full(lon.size, clon), np.full(lon.size, clat), lon, lat)[2]
        near |= np.abs(dist - radius) < 60.0
        in_area |= dist <= radius
    keep = ~near
    lon, lat, muni, in_area = lon[keep], lat[keep], muni[keep], in_area[keep]
    county = np.array([m[:2] for m in muni], dtype=object)
    ids = [f"d{k}" for k in range(lon.size)]
    # the test reaches what it means to: both sides of the border and the sea, in the area
    for where in ("01", "03"):
        assert (in_area & (county == where)).sum() > 20, where
    assert (in_area & (muni == "0120")).sum() > 20

    area = Area([Circle(*border), Circle(*sea)])
    msg = pilot.Message(headline="Tips", description="Tips.", area_description="Arlanda")
    for start in starts:
        for at in (start - dt.timedelta(microseconds=1), start):
            phase = max((k for k, s in enumerate(starts) if s <= at), default=None)
            expected: list[str] = []
            if phase is not None:
                wanted = counties[phase]
                enabled = muni != ""  # on the territory (not beyond the territorial sea)
                if wanted is not None:
                    enabled &= np.isin(county, sorted(wanted))
                expected = sorted(i for i, yes in zip(ids, in_area & enabled, strict=True) if yes)
            for zone in (utc, sthlm, ZoneInfo("America/New_York")):
                t = at.astimezone(zone)
                sent = (at - dt.timedelta(minutes=10)).replace(microsecond=0)
                alert = pilot.tip_request(
                    identifier=f"tips-{phase}", sender="polisen@polisen.se", sent=sent,
                    area=area, sv=msg, en=msg, onset=sent, expires=sent + dt.timedelta(hours=2),
                )  # fmt: skip
                targeter = Targeter(
                    sweden.hierarchy(), loaded.rollout, ledger=MemoryLedger(),
                    recognition=loaded.recognition, issuers=loaded.issuers,
                    location_rules=loaded.location_rules,
                )  # fmt: skip
                index = PositionIndex(
                    Positions(ids, lon, lat, accuracy_m=np.full(lon.size, 5.0), observed_at=t)
                )
                result = targeter.target(alert, index, t)
                if phase is None:  # not started: from when, the first phase's start
                    assert result.verdict is Verdict.KIND_NOT_ENABLED, (t, result.reason)
                    assert result.next_change == starts[0]
                    continue
                assert result.verdict is Verdict.DELIVER, (t, result.reason)
                assert result.rollout is not None and result.rollout.phase_index == phase, t
                assert sorted(result.recipients.tolist()) == expected, (t, phase)


# --- "then nationwide", written as an operator writes it -------------------------------------


def test_a_nationwide_phase_listing_only_the_country_is_not_said_to_drop_places() -> None:
    """``regions = ["SE"]`` after Stockholm was told it drops 01: SE still covers Stockholm.

    The message said "set rollback = true to drop them", and nothing would be dropped.

    Oracle: the rule read in the docs — phases list every code of the one before (a rule
    about codes), while SE, the country, covers every place — so the problem stays, and its
    words say that the places stay enabled and how to write the phase.
    """
    import datetime as dt
    from zoneinfo import ZoneInfo

    from geotarget.rollout import KindRollout, Phase

    text = (
        _HEAD + _PHASE + '[[kinds.tip_request.phases]]\nstarts_at = 2025-01-13\nregions = ["SE"]\n'
    )
    message = _problem(text)
    assert "drop them" not in message
    assert "SE, the whole country, which it lists, still enables them" in message
    assert "repeat 01 beside SE, or set rollback = true" in message

    # the same phase added in code to a policy of another country code: its code is named
    sthlm = ZoneInfo("Europe/Stockholm")
    first = Phase(starts_at=dt.datetime(2024, 4, 15, tzinfo=sthlm), regions={"01", "0180"})
    policy = RolloutPolicy(rollouts=[KindRollout(kind="tip_request", phases=[first])], country="XX")
    with pytest.raises(InvalidPolicy) as err:
        policy.with_phase(
            "tip_request", Phase(starts_at=dt.datetime(2025, 1, 13, tzinfo=sthlm), regions={"XX"})
        )
    [problem] = err.value.problems
    assert problem.path == "kinds.tip_request.phases[1]"
    assert "repeat 0180, 01 beside XX" not in problem.message  # (codes sorted, as by hand)
    assert "drops 01, 0180, which phases[0] enables, from its list; XX, the whole country" in (
        problem.message
    )

    # a phase that does not list the country still drops what it leaves out
    narrower = _problem(
        _HEAD + _PHASE + '[[kinds.tip_request.phases]]\nstarts_at = 2025-01-13\nregions = ["03"]\n'
    )
    assert narrower.startswith("drops 01, which phases[0] enables; ")
    assert "set rollback = true to drop them" in narrower


# --- an alert active while its canary widens, then while the reach shrinks -------------------


def test_an_active_alert_streams_what_each_new_phase_enables_and_nothing_twice() -> None:
    """Stockholm at 25 %, then 60 % with Uppsala, then Stockholm alone again (rollback).

    One incident, delivered in phase 1; at each later phase start the same devices report
    fixes again. Oracle: a device is told in the phase active when it reports iff its county
    (Sigtuna 01, Knivsta 03: places_wgs84.csv) is listed and its canary bucket — BLAKE2b as
    the conformance README defines it, in plain Python — lies below the percentage × 100;
    and a device is told once in all.
    """
    import datetime as dt
    from zoneinfo import ZoneInfo

    import numpy as np
    from rollout_helpers import oracle_bucket

    from geotarget import Circle, PositionIndex, Positions, Targeter, pilot, sweden
    from geotarget.ledger import MemoryLedger
    from geotarget.rollout import DEFAULT_SALT
    from geotarget.targeting import Verdict

    sthlm = ZoneInfo("Europe/Stockholm")
    policy = RolloutPolicy.from_toml(
        _HEAD
        + '[[kinds.tip_request.phases]]\nstarts_at = 2024-04-15\nregions = ["01"]\n'
        + "percentage = 25\n"
        + '[[kinds.tip_request.phases]]\nstarts_at = 2024-04-15T12:00:00\nregions = ["01", "03"]\n'
        + "percentage = 60\n"
        + '[[kinds.tip_request.phases]]\nstarts_at = 2024-04-15T13:00:00\nregions = ["01"]\n'
        + "percentage = 60\nrollback = true\n"
    )
    plan = [({"01"}, 25.0), ({"01", "03"}, 60.0), ({"01"}, 60.0)]
    starts = [dt.datetime(2024, 4, 15, h, tzinfo=sthlm) for h in (0, 12, 13)]
    n = 400
    ids = np.array([f"app-{k:04d}" for k in range(n)])
    side = np.where(np.arange(n) % 2 == 0, "01", "03")  # Sigtuna / Knivsta, 1 km off the border
    lon = np.where(side == "01", 17.85404, 17.82971)
    lat = np.where(side == "01", 59.68731, 59.70039)
    bucket = np.array([oracle_bucket(str(i), DEFAULT_SALT, "tip_request") for i in ids])

    targeter = Targeter(
        sweden.hierarchy(), policy, ledger=MemoryLedger(), recognition=pilot.RECOGNITION
    )
    sent = starts[0] + dt.timedelta(hours=11)
    msg = pilot.Message(headline="Tips", description="Tips.", area_description="Arlanda")
    alert = pilot.tip_request(
        identifier="tips-1", sender="polisen@polisen.se", sent=sent,
        area=Circle(17.841877, 59.693847, 3_000.0), sv=msg, en=msg, onset=sent,
        expires=sent + dt.timedelta(hours=4),
    )  # fmt: skip

    def wanted(phase: int) -> set[str]:
        regions, percentage = plan[phase]
        return set(
            ids[np.isin(side, sorted(regions)) & (bucket < round(percentage * 100))].tolist()
        )

    first = targeter.target(
        alert,
        PositionIndex(Positions(ids, lon, lat, accuracy_m=np.full(n, 5.0), observed_at=sent)),
        sent,
    )
    assert first.verdict is Verdict.DELIVER and first.next_change == starts[1]
    told = set(first.recipients.tolist())
    assert told == wanted(0) and 30 < len(told) < 75  # a quarter of the 200 in Stockholm
    for phase, at in ((1, starts[1]), (2, starts[2])):
        batch = Positions(ids, lon, lat, accuracy_m=np.full(n, 5.0), observed_at=at)
        new = {d.device_id for d in targeter.on_positions(batch, at)}
        assert new == wanted(phase) - told, phase
        assert not new & told
        told |= new
    assert told == wanted(0) | wanted(1)


# --- a policy pasted through a word processor or a chat app ----------------------------------


@pytest.mark.parametrize(
    ("fmt", "line", "shown", "straight"),
    [
        ("TOML", "regions = [\u201c01\u201d, \u201c03\u201d]", "\u201c01\u201d", '"01"'),
        ("TOML", "regions = [\u201d01\u201d]", "\u201d01\u201d", '"01"'),  # Swedish style
        ("TOML", "timezone = \u201cEurope/Stockholm\u201d", "\u201cEurope/Stockholm\u201d", None),
        ("JSON", '"regions": [\u201c01\u201d]', "\u201c01\u201d", '"01"'),
        ("JSON", '"regions": [\u00ab01\u00bb]', "\u00ab01\u00bb", '"01"'),
    ],
)
def test_typographic_quotes_are_named_not_taken_for_no_quotes(
    tmp_path: Path, fmt: str, line: str, shown: str, straight: str | None
) -> None:
    """“01” was told "01 is text written without quotes": the operator sees quotes there.

    Oracle: the line by hand — the text between the typographic quotes, in straight ones.
    """
    if fmt == "TOML":
        text = (
            _HEAD + "[[kinds.tip_request.phases]]\nstarts_at = 2024-04-15\n"
            + (line if line.startswith("regions") else 'regions = ["01"]\n' + line) + "\n"
        )  # fmt: skip
    else:
        text = (
            '{"timezone": "Europe/Stockholm", "issuers": "any", "kinds": {"tip_request": '
            '{"phases": [{"starts_at": "2024-04-15",\n' + line + "}]}}}\n"
        )
    file = tmp_path / f"policy.{fmt.lower()}"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidPolicy) as err:
        load_policy(file)
    [problem] = err.value.problems
    inner = shown[1:-1]
    assert problem.message.startswith(f"not valid {fmt}: ")
    assert f"{shown} is in typographic quotes, which {fmt} does not read as quotes" in (
        problem.message
    )
    assert f'write "{inner}" with straight quotes' in problem.message
    assert straight is None or straight == f'"{inner}"'
    assert "without quotes" not in problem.message


def test_typographic_quotes_in_a_comment_are_left_alone() -> None:
    """A comment may quote as it likes: the error is elsewhere on the line."""
    message = _problem(_HEAD + _PHASE.replace('["01"]', "[01]  # \u201cStockholm\u201d"))
    assert "typographic" not in message
    assert '01 is text written without quotes: write "01"' in message


@pytest.mark.parametrize(
    ("code", "codes"),
    [("01, 03", ["01", "03"]), ("01;03;12", ["01", "03", "12"]), ("01,03,", ["01", "03"])],
)
def test_codes_typed_into_one_text_are_named_as_several_codes(code: str, codes: list[str]) -> None:
    """``regions = ["01, 03"]`` got "close matches: '0183', '0513', '1083'" with a catalog."""
    from geotarget import sweden

    quoted = ", ".join(f'"{c}"' for c in codes)
    text = _HEAD + _PHASE.replace('["01"]', f'["{code}"]')
    for catalog in (None, sweden.hierarchy()):
        with pytest.raises(InvalidPolicy) as err:
            RolloutPolicy.from_toml(text, catalog)
        [problem] = err.value.problems
        assert problem.path == "kinds.tip_request.phases[0].regions"
        assert problem.message.endswith(
            f"; it holds {len(codes)} codes in one text: write each in quotes of its own, {quoted}"
        ), problem.message
        assert "close matches" not in problem.message


def test_a_name_with_a_space_is_not_taken_for_several_codes() -> None:
    """A name with a space ("Region Stockholm") is a name, the catalog says whose: not codes."""
    from geotarget import sweden

    text = _HEAD + _PHASE.replace('["01"]', '["Region Stockholm"]')
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(text, sweden.hierarchy())
    [problem] = err.value.problems
    assert "in one text" not in problem.message
    assert "'PR-STOCKHOLM'" in problem.message


# --- a JSON policy commented, or edited leaving a comma --------------------------------------

_JSON_PHASE = '{"starts_at": "2024-04-15", "regions": ["01"]}'


@pytest.mark.parametrize(
    "text",
    [
        '{"timezone": "Europe/Stockholm", // Stockholm first\n "issuers": "any", "kinds": {}}',
        '// the pilot, week 16\n{"timezone": "Europe/Stockholm", "issuers": "any"}',
        '{"timezone": "Europe/Stockholm" /* CET/CEST */, "issuers": "any"}',
        '{"timezone": "Europe/Stockholm",\n  # Stockholm first\n "issuers": "any"}',
    ],
)
def test_a_comment_in_a_json_policy_is_named_as_a_comment(tmp_path: Path, text: str) -> None:
    """JSON has no comments; the parser said only "Expecting property name ...".

    Oracle: the text by hand — each document is valid JSON once its comment is removed.
    """
    import json
    import re

    json.loads(re.sub(r"//[^\n]*|/\*.*?\*/|\n\s*#[^\n]*", "", text))  # valid without it
    file = tmp_path / "policy.json"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidPolicy) as err:
        load_policy(file)
    [problem] = err.value.problems
    assert problem.message.startswith("not valid JSON: ")
    assert "; JSON has no comments: remove it, or write the policy as TOML" in problem.message


@pytest.mark.parametrize(
    ("text", "closing", "line"),
    [
        ('{"kinds": {"tip_request": {"phases": [' + _JSON_PHASE + ",\n]}}}", "]", 1),
        ('{"timezone": "Europe/Stockholm",\n "kinds": {},\n}', "}", 2),
        ('{"kinds": {"tip_request": {"phases": [{"starts_at": "2024-04-15",\n'
         ' "regions": ["01", "03",]}]}}}', "]", 2),
    ],
)  # fmt: skip
def test_a_trailing_comma_in_a_json_policy_is_named_with_its_line(
    text: str, closing: str, line: int
) -> None:
    """A phase deleted from the end of a list leaves its comma: JSON allows none there."""
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(text)
    [problem] = err.value.problems
    assert problem.message.endswith(
        f"; JSON allows no comma before {closing}: remove the one at line {line}"
    ), problem.message
    comma = [k + 1 for k, t in enumerate(text.splitlines()) if t.rstrip().endswith(",")]
    assert line in comma or f",{closing}" in text.splitlines()[line - 1]  # by hand


def test_a_json_error_without_a_comment_or_comma_gets_no_such_hint() -> None:
    """A text of a slash (a zone) in a string is no comment; a missing comma is no trailing one."""
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json('{"timezone": "Europe/Stockholm" "salt": "a//b"}')
    [problem] = err.value.problems
    assert "comment" not in problem.message and "comma before" not in problem.message


# --- a phase edited while an alert is active --------------------------------------------------


def test_an_edited_policy_decides_for_the_alerts_already_active(tmp_path: Path) -> None:
    """The file gains a rollback of Uppsala while an alert straddles the 01/03 border.

    The service restarts on the edited file over the same store. Oracle: by hand — before
    the new phase a fix in Knivsta (03) is told; from it, not; the fix in Sigtuna (01) is
    told once in all; the diff names the one change, in Stockholm's wall time.
    """
    import datetime as dt

    from geotarget import Circle, PositionIndex, Positions, Targeter, pilot, sweden
    from geotarget.ledger import SQLiteLedger
    from geotarget.targeting import Verdict

    regions = sweden.hierarchy()
    file = tmp_path / "policy.toml"
    first = _HEAD + _PHASE.replace('["01"]', '["01", "03"]')
    file.write_text(first, encoding="utf-8")
    before = load_policy(file).rollout
    edited = first + (
        "\n# Uppsala paused after complaints (edited while an alert was active)\n"
        '[[kinds.tip_request.phases]]\nstarts_at = 2024-06-01T14:00:00\nregions = ["01"]\n'
        "rollback = true\n"
    )
    file.write_text(edited, encoding="utf-8")
    after = load_policy(file).rollout
    assert str(before.diff(after, catalog=regions)).splitlines()[1:] == [
        "  tip_request from 2024-06-01 14:00 Europe/Stockholm onwards: - 03"
    ]

    store = tmp_path / "ledger.db"
    at = dt.datetime(2024, 6, 1, 11, tzinfo=dt.timezone.utc)  # 13:00 in Stockholm
    msg = pilot.Message(headline="Tips", description="Tips.", area_description="Arlanda")
    alert = pilot.tip_request(
        identifier="tips-edit", sender="polisen@polisen.se", sent=at,
        area=Circle(17.841877, 59.693847, 3_000.0), sv=msg, en=msg, onset=at,
        expires=at + dt.timedelta(hours=6),
    )  # fmt: skip
    old = Targeter(regions, before, ledger=SQLiteLedger(store), recognition=pilot.RECOGNITION)
    nobody = PositionIndex(Positions(["far"], [11.97], [57.71], accuracy_m=[5.0], observed_at=at))
    assert old.target(alert, nobody, at).verdict is Verdict.DELIVER
    old.ledger.close()

    new = Targeter(regions, after, ledger=SQLiteLedger(store), recognition=pilot.RECOGNITION)
    sigtuna, knivsta = (17.85404, 59.68731), (17.82971, 59.70039)  # places_wgs84.csv

    def report(ids: list[str], where: list[tuple[float, float]], t: dt.datetime) -> set[str]:
        lon, lat = [p[0] for p in where], [p[1] for p in where]
        batch = Positions(ids, lon, lat, accuracy_m=[5.0] * len(ids), observed_at=t)
        return {str(d.device_id) for d in new.on_positions(batch, t)}

    change = dt.datetime(2024, 6, 1, 12, tzinfo=dt.timezone.utc)  # 14:00 in Stockholm
    assert report(["k1", "s1"], [knivsta, sigtuna], change - dt.timedelta(seconds=1)) == {
        "k1",
        "s1",
    }
    assert report(["k2", "s2", "s1"], [knivsta, sigtuna, sigtuna], change) == {"s2"}
    new.ledger.close()


# --- a policy written from memory: a phase's keys in the wrong table ---------------------------


@pytest.mark.parametrize(
    ("header", "path", "where"),
    [
        ("[kinds.tip_request]", "kinds.tip_request.starts_at", "[[kinds.tip_request.phases]]"),
        ("", "starts_at", "[[kinds.<kind>.phases]]"),  # a phase at the top level
        ("[[phases]]", "phases", "[[kinds.<kind>.phases]]"),  # phases of no kind
    ],
)
def test_a_phases_keys_outside_a_phase_table_say_where_they_go(
    header: str, path: str, where: str
) -> None:
    """``starts_at`` in the kind's own table was "unknown key (valid: killed, phases)"."""
    text = _HEAD + header + '\nstarts_at = 2024-04-15\nregions = ["01"]\n'
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(text)
    problem = next(p for p in err.value.problems if p.path.startswith(path))
    assert problem.message.startswith("unknown key (valid: ")
    assert problem.message.endswith(
        f"; a phase's keys (starts_at, regions...) go in a {where} table, one per phase"
    )


@pytest.mark.parametrize("fmt", ["TOML", "JSON"])
def test_a_kind_written_as_an_array_of_phases_says_where_they_go(fmt: str) -> None:
    """``[[kinds.tip_request]]`` (or ``"tip_request": [{...}]``) was "(got list)" only."""
    if fmt == "TOML":
        read = RolloutPolicy.from_toml
        text = _HEAD + '[[kinds.tip_request]]\nstarts_at = 2024-04-15\nregions = ["01"]\n'
    else:
        read = RolloutPolicy.from_json
        text = (
            '{"timezone": "Europe/Stockholm", "kinds": {"tip_request": '
            '[{"starts_at": "2024-04-15", "regions": ["01"]}]}}'
        )
    with pytest.raises(InvalidPolicy) as err:
        read(text)
    [problem] = err.value.problems
    assert problem.path == "kinds.tip_request"
    assert problem.message.endswith(
        "; its phases go in an array under the key phases: write each as "
        '[[kinds.tip_request.phases]] in TOML, or "phases": [{...}] in JSON'
    )


def test_other_unknown_keys_of_a_kind_get_no_phase_hint() -> None:
    """A misspelt kill switch is no phase key."""
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(_HEAD + "[kinds.tip_request]\nkill = true\n" + _PHASE)
    [problem] = err.value.problems
    assert problem.path == "kinds.tip_request.kill"
    assert problem.message == "unknown key (valid: killed, phases)"


def test_codes_merged_into_an_enclosing_region_are_said_to_stay_enabled(
    tmp_path: Path, shared_data: Path
) -> None:
    """Stockholm (0180) replaced by its county, the counties of Region Stockholm by it.

    Read with the regions, the phase that lists the enclosing code is still refused (the
    rule is about codes) but no longer told that it drops places. Oracle: the police
    regions' counties from polisregioner.csv, the municipality's county from its code.
    """
    import csv

    from geotarget import sweden

    with (shared_data / "sweden" / "polisregioner.csv").open(encoding="utf-8") as f:
        counties = next(r for r in csv.DictReader(f) if r["polisregion"] == "Region Stockholm")
    members = sorted(counties["lan_koder"].split(";"))
    assert members == ["01", "09"]
    cases = [
        (["0180"], ["01"], "0180 within 01"),  # a municipality's code, then its county's
        (members, ["PR-STOCKHOLM"], ", ".join(f"{c} within PR-STOCKHOLM" for c in members)),
    ]
    for before, after, pairs in cases:
        text = (
            _HEAD
            + _PHASE.replace('["01"]', str(before).replace("'", '"'))
            + "[[kinds.tip_request.phases]]\nstarts_at = 2024-09-02\n"
            + f"regions = {str(after).replace(chr(39), chr(34))}\n"
        )
        file = tmp_path / "policy.toml"
        file.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidPolicy) as err:
            load_policy(file, catalog=sweden.hierarchy())
        [problem] = err.value.problems
        assert problem.path == "kinds.tip_request.phases[1]"
        assert f"still enable {'it' if len(before) == 1 else 'them'} ({pairs})" in (problem.message)
        assert "to drop them" not in problem.message
        # without the regions, the code alone: it cannot know
        assert "to drop them" in _problem(text)


@pytest.mark.parametrize(
    "text",
    [
        str({"timezone": "Europe/Stockholm", "issuers": "any"}),  # a dict printed by Python
        '{"kinds": {"tip_request": {"phases": [{"starts_at": "2024-04-15", "regions": [\'01\']}]}}}',
    ],
)
def test_single_quoted_strings_in_a_json_policy_are_named(text: str) -> None:
    """``{'timezone': ...}`` was "Expecting property name enclosed in double quotes" only."""
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(text)
    [problem] = err.value.problems
    assert problem.message.startswith("not valid JSON: ")
    assert '; JSON strings are written in double quotes ("01"), never single ones' in (
        problem.message
    )


# --- a policy version whose salt changes -------------------------------------------------------


def test_a_new_salt_says_which_canaries_are_drawn_anew() -> None:
    """The diff said only "salt: 'geotarget' -> 'polisen'", and ``kinds`` was empty.

    Oracle: the canary buckets of the conformance README, in plain Python, before and after:
    devices in the 10 % canary of tip_request before are out after (no schedule changed).
    """
    from rollout_helpers import oracle_bucket

    def version(salt: str) -> RolloutPolicy:
        return RolloutPolicy.from_toml(
            f'timezone = "Europe/Stockholm"\nsalt = "{salt}"\n'
            + _PHASE.replace('["01"]', '["01"]\npercentage = 10')
            + '[[kinds.explosion.phases]]\nstarts_at = 2024-04-15\nregions = ["SE"]\n'
        )

    ids = [f"app-{k}" for k in range(2_000)]
    was = {i for i in ids if oracle_bucket(i, "geotarget", "tip_request") < 1000}
    now = {i for i in ids if oracle_bucket(i, "polisen", "tip_request") < 1000}
    assert was - now  # devices in before are out after: the canary is another

    change = version("geotarget").diff(version("polisen"))
    assert change.kinds == {"tip_request"} and change.redrawn == {"tip_request"}
    assert str(change).splitlines()[1:] == [
        "  salt: 'geotarget' -> 'polisen'",
        "  the new salt draws the canaries of tip_request anew: other devices are in them, "
        "and one in before may be out",
    ]
    # without a canary (explosion alone, nationwide) a new salt changes no device
    plain = RolloutPolicy.from_toml(_HEAD.replace('issuers = "any"\n', "") + _PHASE)
    other = RolloutPolicy.from_toml('salt = "polisen"\n' + _HEAD + _PHASE)
    assert plain.diff(other).kinds == frozenset()
    assert str(plain.diff(other)).splitlines()[1:] == ["  salt: 'geotarget' -> 'polisen'"]
