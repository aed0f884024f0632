"""Probes of a policy file an operator edits by hand, and of the pilot's message builders.

Each test checks one answer against an oracle of its own, written from the documentation in
plain Python (sets of names, the handset standard's emergency numbers), never from the
library's internals.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import shapely

from geotarget import Circle, Polygon, cap, load_policy, pilot
from geotarget.alerts import Alert, TipChannel, TipChannelKind
from geotarget.errors import InvalidAlert, InvalidInput, InvalidPolicy
from geotarget.kinds import Kind

# --- a [location_rules.<kind>] table whose kind nothing else names ---------------------------

_HEAD = """format_version = 1
timezone = "Europe/Stockholm"
country = "SE"
"""


def _kind(kind: str) -> str:
    return f"""
[kinds.{kind}]
[[kinds.{kind}.phases]]
starts_at = 2024-04-15T00:00:00
regions = ["01"]
"""


def _rules(kind: str) -> str:
    return f"""
[location_rules.{kind}]
include_ambiguous = true
include_no_fix = false
beyond_border = false
location = {{ max_age_s = 3600, accuracy = 1.0 }}
"""


def _rule(kind: str) -> str:
    return f"""
[[recognition]]
name = "rule-{kind}"
kind = "{kind}"
events = ["Event of {kind}"]
"""


def _issuer(kinds: list[str]) -> str:
    listed = ", ".join(f'"{k}"' for k in kinds)
    return f"""
[[issuers]]
name = "polisen"
senders = ["polisen@polisen.se"]
kinds = [{listed}]
regions = ["SE"]
"""


def test_a_location_rules_table_of_a_mistyped_kind_is_refused_naming_the_kind_meant(
    tmp_path: Path,
) -> None:
    """``[location_rules.tip_requests]`` where the rollout names ``tip_request``.

    The operator fails open on ambiguous fixes for tip requests; the table's name is one
    letter off. The file was read, a Targeter was built from it, and tip requests kept the
    pilot's rules (fail closed) while the operator's rules belonged to a kind no alert can
    be of: the rollout denies every kind it does not name.
    """
    text = _HEAD + 'issuers = "any"\n' + _kind("tip_request") + _rules("tip_requests")
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidPolicy) as caught:
        load_policy(path)
    [problem] = caught.value.problems
    assert problem.path == "location_rules.tip_requests"
    assert "'tip_request'" in problem.message  # the kind meant
    assert "pilot's location rules" in problem.message  # what happens to it


_CUSTOM = ("wildfire", "flood")


@pytest.mark.parametrize(
    ("rollout", "recognised", "issued"),
    [
        (r, c, i)
        for r in ((), ("wildfire",))
        for c in ((), ("flood",), ("wildfire", "flood"))
        for i in (None, (), ("flood",), ("wildfire",))
        if r or c or i  # a rollout of no kind is refused on its own
    ],
)
def test_which_location_rules_tables_are_refused_is_which_no_other_part_names(
    tmp_path: Path,
    rollout: tuple[str, ...],
    recognised: tuple[str, ...],
    issued: tuple[str, ...] | None,
) -> None:
    """Every table of both custom kinds, under files naming them in other parts or not.

    Oracle: a table is refused iff its kind is none of the rollout's kinds, the file's
    recognition rules' kinds (with the pilot's: explosion, crime_modus, tip_request) and the
    issuers' kinds. A kind prepared before its rollout that a rule or an issuer names is kept.
    """
    kinds = rollout or ("explosion",)
    text = _HEAD + ('issuers = "any"\n' if issued is None else _issuer([*issued, *kinds]))
    text += "".join(_kind(k) for k in kinds)
    text += "".join(_rule(k) for k in recognised)
    text += "".join(_rules(k) for k in _CUSTOM)
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    named = {*kinds, *recognised, *(issued or ()), *(k.name for k in pilot.KINDS)}
    expected = sorted(f"location_rules.{k}" for k in _CUSTOM if k not in named)
    if expected:
        with pytest.raises(InvalidPolicy) as caught:
            load_policy(path)
        assert sorted(p.path for p in caught.value.problems) == expected
    else:
        assert sorted(load_policy(path).location_rules) == sorted(_CUSTOM)


def test_a_table_of_a_pilot_kind_not_rolled_out_yet_is_kept(tmp_path: Path) -> None:
    """The example's three tables, with a rollout of explosion only: kept.

    The pilot's rules name crime_modus and tip_request, so their tables are kinds prepared,
    not typos; without the pilot's rules nothing names them.
    """
    text = _HEAD + 'issuers = "any"\n' + _kind("explosion")
    text += "".join(_rules(k.name) for k in pilot.KINDS)
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    assert sorted(load_policy(path).location_rules) == sorted(k.name for k in pilot.KINDS)
    with pytest.raises(InvalidPolicy) as caught:
        load_policy(path, pilot_recognition=False)
    assert sorted(p.path for p in caught.value.problems) == [
        "location_rules.crime_modus",
        "location_rules.tip_request",
    ]


@pytest.mark.parametrize(
    ("broken", "path"),
    [
        ('\n[[recognition]]\nname = "r"\nkind = "tip_request"\nevents = "Tips"\n',
         "recognition[0].events"),
        (_issuer(["tip_request"]).replace('regions = ["SE"]', "regions = []"), "issuers[0].regions"),
        (_kind("explosion").replace('regions = ["01"]', "regions = [1]"),
         "kinds.explosion.phases[0].regions[0]"),
    ],
)  # fmt: skip
def test_a_mistyped_table_is_named_beside_another_parts_problem(
    tmp_path: Path, broken: str, path: str
) -> None:
    """Every problem of every part at once: the typo too, when another part has a problem.

    A part that could not be read still names its kinds as written: the broken issuer's
    and rule's tip_request keep nothing else from being compared, and name no typo.
    """
    issuers = "" if "[[issuers]]" in broken else 'issuers = "any"\n'
    text = _HEAD + issuers + _kind("tip_request") + broken
    text += _rules("tip_requests") + _rules("tip_request")
    file = tmp_path / "policy.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidPolicy) as caught:
        load_policy(file, pilot_recognition=False)
    paths = [p.path for p in caught.value.problems]
    assert path in paths
    assert "location_rules.tip_requests" in paths
    assert "location_rules.tip_request" not in paths


# --- the tip request's channels -------------------------------------------------------------

_T0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)
_TEXT = pilot.Message(headline="Vittnen sökes", description="Såg du något?", area_description="X")


def _tips(channels: list[TipChannel]) -> Alert:
    return pilot.tip_request(
        identifier="SE-POL-12",
        sender="polisen@polisen.se",
        sent=_T0,
        area=Circle(18.06528, 59.3325, 500.0),
        sv=_TEXT,
        en=_TEXT,
        onset=_T0,
        expires=_T0 + timedelta(days=1),
        tip_channels=channels,
    )


#: 3GPP TS 22.101, section 10.1.1: a handset treats 112 and 911 as emergency numbers always,
#: and 000, 08, 110, 118, 119 and 999 too when it has no SIM. Each is a 112 call in Sweden.
_HANDSET_EMERGENCY = ("112", "911", "000", "08", "110", "118", "119", "999")


def _dialled(address: str) -> str:
    """The number as dialled within Sweden: no spaces or dashes, no +46 or 0046."""
    digits = address.replace(" ", "").replace("-", "")
    for prefix in ("+46", "0046"):
        if digits.startswith(prefix):
            return digits[len(prefix) :]
    return digits


@pytest.mark.parametrize(
    "address",
    [
        "911", "9 11", "+46 911", "0046-911", "999", "000", "08", "110", "118", "119",
        "112",  # as before
        "114 14", "+46 77 114 14 00", "1177", "113 13", "0911-123 45", "08-401 00 00", "9111",
    ],
)  # fmt: skip
def test_a_number_a_phone_calls_112_for_is_refused_as_a_tip_line(address: str) -> None:
    """A tip request copied from an American template: "Call 911 with tips".

    Every handset calls the emergency service for 911 (SOS Alarm, in Sweden): the builder
    refused 112 only and wrote "Tipsa polisen: 911" to the public. Oracle: the standard's
    list; other numbers (the tip line, 1177, Piteå's 0911, Stockholm's 08-) are kept.
    """
    channel = TipChannel(TipChannelKind.PHONE, address)
    if _dialled(address) in _HANDSET_EMERGENCY:
        with pytest.raises(InvalidAlert, match=r"^tip_channels\[1\] must not be .*emergency"):
            _tips([pilot.POLICE_TIP_WEB, channel])
    else:
        alert = _tips([pilot.POLICE_TIP_WEB, channel])
        assert [c.address for c in alert.tip_channels] == [pilot.POLICE_TIP_WEB.address, address]


# --- texts that show nothing ----------------------------------------------------------------

#: Default_Ignorable_Code_Point, as Unicode's DerivedCoreProperties.txt lists it: characters a
#: text is rendered without. With U+2800 BRAILLE PATTERN BLANK, a cell without dots.
_DEFAULT_IGNORABLE = [
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
]  # fmt: skip
_INVISIBLE = sorted(
    {chr(c) for first, last in _DEFAULT_IGNORABLE for c in {first, (first + last) // 2, last}}
    | {"\u2800"}
)


def _message(**texts: str) -> pilot.Message:
    fields = {"headline": "Vittnen sökes", "description": "Såg du något?"}
    return pilot.Message(**{**fields, "area_description": "Rinkeby", **texts})


@pytest.mark.parametrize("char", _INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_a_text_of_characters_shown_as_nothing_is_refused(char: str) -> None:
    """A headline of characters a text is shown without: the public saw an empty headline.

    Hangul fillers (U+3164, the "invisible name" of chat apps), a variation selector left
    from an emoji, a blank braille cell were accepted as text.

    Oracle: Unicode's list of default-ignorable code points; the same character beside a
    letter is a text that shows something.
    """
    for text in (char, f" {char}\n{char} "):
        with pytest.raises(InvalidAlert, match=r"^headline must not be blank"):
            _message(headline=text)
    assert _message(headline=f"{char}A{char}").headline == f"{char}A{char}"
    with pytest.raises(InvalidAlert, match=r"^instruction must not be blank.*leave it None"):
        _message(instruction=char)


@pytest.mark.parametrize(
    "char", [" ", "\u200b", "\x00", *_INVISIBLE], ids=lambda c: f"U+{ord(c):04X}"
)
def test_a_kind_label_that_shows_nothing_is_refused(char: str) -> None:
    """A kind's label is "how people call it; not blank": invisible ones passed.

    A zero-width space, a NUL or a Hangul filler was taken as a label, since only spaces
    were stripped. Oracle: as for a message's text.
    """
    with pytest.raises(InvalidInput, match=r"^label must be a non-blank str"):
        Kind("wildfire", f"{char}{char}")
    assert Kind("wildfire", f"{char}Skogsbrand").label == f"{char}Skogsbrand"


def _one_channel(first: TipChannel, second: TipChannel) -> bool:
    """Oracle: one number, or one page.

    One number once 00 is read as + and spaces and dashes dropped; one page when the URLs
    differ only in the case of their host (RFC 3986: a host name has no case).
    """
    if first.kind is not second.kind:
        return False
    if first.kind is TipChannelKind.PHONE:

        def number(c: TipChannel) -> str:
            digits = c.address.replace(" ", "").replace("-", "")
            return "+" + digits[2:] if digits.startswith("00") else digits

        return number(first) == number(second)
    a, b = (c.address.split("/", 3) for c in (first, second))
    return a[:2] == b[:2] and a[2].lower() == b[2].lower() and a[3:] == b[3:]


_CHANNELS = [
    ("phone", "+46 77 114 14 00"), ("phone", "0046 77 114 14 00"), ("phone", "0046-771-141400"),
    ("phone", "114 14"), ("phone", "0046 11414"), ("phone", "+46 11414"),
    ("web", "https://polisen.se/lagg-fram-tips"), ("web", "https://POLISEN.se/lagg-fram-tips"),
    ("web", "https://polisen.se/LAGG-fram-tips"), ("web", "https://polisen.se/lagg-fram-tips/"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("first", "second"), list(itertools.combinations(_CHANNELS, 2)), ids=lambda c: c[1]
)
def test_a_tip_channel_written_twice_in_two_forms_is_refused(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    """One channel in two forms: the public read it twice.

    The police's number from abroad as +46 and as 0046, the form's URL with its host in
    capitals ("Tipsa polisen: +46 77 114 14 00 eller 0046 77 114 14 00"). Oracle: the
    channel's number or URL as people and RFC 3986 read it; 0046 11414 is not 114 14.
    """
    one, two = (
        TipChannel(TipChannelKind(first[0]), first[1]),
        TipChannel(TipChannelKind(second[0]), second[1]),
    )
    if _one_channel(one, two):
        with pytest.raises(InvalidAlert, match=r"^tip_channels\[1\] must not repeat tip_chan"):
            _tips([one, two])
    else:
        assert len(_tips([one, two]).tip_channels) == 2


def test_an_area_with_a_hole_is_written_as_polygons_covering_the_same_ground() -> None:
    """The builders' documentation said an area has no holes; one with a hole is taken.

    The alert's polygons (read back from CAP) cover the square without its hole. Oracle:
    shapely's union of the written rings against the square minus the hole.
    """
    square = [(18.0, 59.3), (18.1, 59.3), (18.1, 59.4), (18.0, 59.4)]
    hole = [(18.03, 59.33), (18.06, 59.33), (18.06, 59.36), (18.03, 59.36)]
    alert = pilot.explosion(
        identifier="SE-POL-13", sender="polisen@polisen.se", sent=_T0,
        area=Polygon(square, holes=[hole]), sv=_TEXT, en=_TEXT, onset=_T0,
        expires=_T0 + timedelta(hours=1),
    )  # fmt: skip
    read = cap.loads(cap.dumps(alert))
    written = shapely.union_all([shapely.Polygon(r) for r in read.infos[0].areas[0].polygons])
    expected = shapely.Polygon(square, [hole])
    assert written.symmetric_difference(expected).area < 1e-12
    assert not written.contains(shapely.Point(18.045, 59.345))  # the hole's middle
    assert written.contains(shapely.Point(18.01, 59.31))
