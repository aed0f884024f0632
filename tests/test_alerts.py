"""The alert model: CAP-exact enums, validation, the pilot kinds, languages and time windows."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import numpy as np
import pytest
from alert_strategies import alerts, infos
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import Area, Circle, InvalidAlert, InvalidCoordinates, InvalidType, Polygon, pilot
from geotarget.alerts import (
    KIND_CODE,
    Alert,
    AlertArea,
    Category,
    Certainty,
    Info,
    MessageType,
    NamedValue,
    Reference,
    ResponseType,
    Scope,
    Severity,
    Status,
    TipChannel,
    TipChannelKind,
    Urgency,
)
from geotarget.pilot import POLICE_TIP_CHANNELS, Message

T0 = datetime(2026, 5, 4, 21, 30, tzinfo=timezone(timedelta(hours=2)))
SERGELS = Circle(18.06528, 59.3325, 500.0)
SV = Message(
    headline="Polisen larmad om explosion vid Sergels torg",
    description="Polisen är på plats.",
    instruction="Undvik området.",
    area_description="Sergels torg, Stockholm",
)
EN = Message(
    headline="Police alerted to an explosion at Sergels torg",
    description="The police are on site.",
    instruction="Avoid the area.",
    area_description="Sergels torg, Stockholm",
)


def explosion(**kw: Any) -> Alert:
    args: dict[str, Any] = {
        "identifier": "SE-POL-1", "sender": "polisen@polisen.se", "sent": T0, "area": SERGELS,
        "sv": SV, "en": EN, "onset": T0, "expires": T0 + timedelta(hours=2),
    }  # fmt: skip
    args.update(kw)
    return pilot.explosion(**args)


def info(**kw: Any) -> Info:
    args: dict[str, Any] = {
        "categories": [Category.SAFETY], "event": "Test", "urgency": Urgency.UNKNOWN,
        "severity": Severity.UNKNOWN, "certainty": Certainty.UNKNOWN,
    }  # fmt: skip
    args.update(kw)
    return Info(**args)


def alert(**kw: Any) -> Alert:
    args: dict[str, Any] = {
        "identifier": "X-1", "sender": "x@example.org", "sent": T0, "status": Status.TEST,
        "msg_type": MessageType.ALERT, "scope": Scope.PUBLIC,
    }  # fmt: skip
    args.update(kw)
    return Alert(**args)


# --- enumerations ---------------------------------------------------------------------------


def test_alert_kind_is_a_deprecated_alias_of_the_pilot_names() -> None:
    """AlertKind warns when used; its members are str equal to the pilot's kind names."""
    import geotarget
    from geotarget import alerts as al

    for module in (geotarget, al, pilot):
        with pytest.warns(DeprecationWarning, match="AlertKind is deprecated"):
            kind_enum = module.AlertKind
        assert {k.name: k.value for k in kind_enum} == {
            "EXPLOSION": "explosion",
            "CRIME_MODUS": "crime_modus",
            "TIP_REQUEST": "tip_request",
        }
    assert [k.value for k in kind_enum] == [k.name for k in pilot.KINDS]
    assert "AlertKind" not in geotarget.__all__ and "AlertKind" not in al.__all__
    coded = info(event_codes=[NamedValue(KIND_CODE, kind_enum.EXPLOSION)])
    assert coded.kind == "explosion" and type(coded.kind) is str


@pytest.mark.parametrize(
    ("enum", "values"),
    [
        (Status, "Actual Exercise System Test Draft"),
        (MessageType, "Alert Update Cancel Ack Error"),
        (Scope, "Public Restricted Private"),
        (Category, "Geo Met Safety Security Rescue Fire Health Env Transport Infra CBRNE Other"),
        (ResponseType, "Shelter Evacuate Prepare Execute Avoid Monitor Assess AllClear None"),
        (Urgency, "Immediate Expected Future Past Unknown"),
        (Severity, "Extreme Severe Moderate Minor Unknown"),
        (Certainty, "Observed Likely Possible Unlikely Unknown"),
    ],
)
def test_enums_carry_exactly_the_cap_values(enum: type[Any], values: str) -> None:
    """Each enum holds exactly the CAP 1.2 schema's values, in schema order."""
    assert [m.value for m in enum] == values.split()


def test_enum_fields_accept_exact_wire_values_and_list_options_sorted() -> None:
    """A field takes a member or its exact CAP value; anything else names the sorted options."""
    assert alert(status="Exercise").status is Status.EXERCISE
    with pytest.raises(InvalidAlert, match=r"status must be one of Actual, Draft, Exercise, "
                       r"System, Test \(got 'actual'\)"):  # fmt: skip
        alert(status="actual")
    with pytest.raises(InvalidAlert, match=r"categories\[1\] must be one of CBRNE, Env"):
        info(categories=[Category.GEO, "Weather"])


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "a b", "a,b", "a<b", "a&b", "a\tb"])
def test_identifier_rejects_what_cap_forbids(bad: str) -> None:
    """Identifiers and senders reject blanks, whitespace, ',', '<' and '&', naming the field."""
    with pytest.raises(InvalidAlert, match="identifier must"):
        alert(identifier=bad)
    with pytest.raises(InvalidAlert, match="sender must"):
        alert(sender=bad)


def test_identifier_and_sender_are_bounded_in_length() -> None:
    """256 characters at most (they are in every delivery key); the error shows the start only."""
    assert alert(identifier="i" * 256, sender="s" * 256).identifier == "i" * 256
    for field in ("identifier", "sender"):
        with pytest.raises(InvalidAlert, match=rf"{field} must be at most 256 characters") as err:
            alert(**{field: "x" * 200_000})
        assert "200,000 characters: 'xxxx" in str(err.value) and len(str(err.value)) < 300
    with pytest.raises(InvalidAlert, match="identifier must be at most 256"):
        Reference(sender="s", identifier="i" * 257, sent=T0)


def test_datetimes_must_be_aware_and_whole_seconds() -> None:
    """A naive or fractional-second datetime is refused with a fix in the message."""
    with pytest.raises(InvalidAlert, match=r"sent must be timezone-aware \(got naive"):
        alert(sent=datetime(2026, 5, 4, 12, 0))
    with pytest.raises(InvalidAlert, match=r"onset must have whole seconds.*microsecond=0"):
        info(onset=T0.replace(microsecond=5))
    with pytest.raises(InvalidAlert, match="whole-minute UTC offset"):
        alert(sent=T0.replace(tzinfo=timezone(timedelta(seconds=30))))
    with pytest.raises(InvalidType, match="sent must be a datetime"):
        alert(sent="2026-05-04T12:00:00+00:00")


class _NoInstant(datetime):
    """A datetime of no instant, as pandas' ``NaT`` is: its offset cannot be asked."""

    def utcoffset(self) -> timedelta | None:
        raise ValueError("NaTType does not support utcoffset")


def test_a_time_of_no_instant_or_one_the_clocks_skip_is_refused() -> None:
    """``pandas.NaT`` raised ValueError from ``utcoffset``; a skipped wall time was accepted.

    02:30 on the night Stockholm's clocks jump from 02:00 to 03:00 names no instant (Python
    reads it as 03:30); the Targeter and the stores refuse it, and so does the alert model.
    """
    from zoneinfo import ZoneInfo

    with pytest.raises(InvalidType, match=r"^sent must be a datetime of an instant \(got "):
        alert(sent=_NoInstant(2026, 5, 4, 12, 0, tzinfo=timezone.utc))
    skipped = datetime(2024, 3, 31, 2, 30, tzinfo=ZoneInfo("Europe/Stockholm"))
    with pytest.raises(
        InvalidAlert, match=r"^onset must be a real clock reading: 2024-03-31T02:30"
    ):
        info(onset=skipped)
    kept = datetime(2024, 3, 31, 3, 30, tzinfo=ZoneInfo("Europe/Stockholm"))
    assert info(onset=kept).onset == kept


def test_expires_may_equal_or_precede_onset_as_in_cap() -> None:
    """CAP sets no order on onset, effective and expires: such a block is kept, never active."""
    assert info(onset=T0, expires=T0).expires == T0
    assert info(effective=T0, expires=T0 - timedelta(seconds=1)).effective == T0
    assert info(onset=T0, expires=T0 + timedelta(seconds=1)).expires is not None


def test_message_types_other_than_alert_need_references() -> None:
    """An Update, Cancel, Ack or Error must reference at least one earlier message."""
    ref = Reference(sender="x@example.org", identifier="X-0", sent=T0)
    for mt in (MessageType.UPDATE, MessageType.CANCEL, MessageType.ACK, MessageType.ERROR):
        with pytest.raises(InvalidAlert, match=f"references .* for msg_type {mt.value}"):
            alert(msg_type=mt)
        assert alert(msg_type=mt, references=[ref]).references == (ref,)


def test_scope_rules() -> None:
    """Restricted needs a restriction and Private needs addresses."""
    with pytest.raises(InvalidAlert, match="restriction is required"):
        alert(scope=Scope.RESTRICTED)
    with pytest.raises(InvalidAlert, match="addresses must name"):
        alert(scope=Scope.PRIVATE)
    assert alert(scope=Scope.PRIVATE, addresses=["a b", "c"]).addresses == ("a b", "c")
    with pytest.raises(InvalidAlert, match=r"addresses\[0\] must be non-blank and hold no"):
        alert(addresses=['say "hi"'])


def test_text_must_be_xml_safe() -> None:
    """Text XML cannot carry (control characters) is refused with its position."""
    with pytest.raises(InvalidAlert, match=r"note must hold only characters XML 1.0 allows "
                       r"\(got '\\x00' at index 1"):  # fmt: skip
        alert(note="a\x00b")
    with pytest.raises(InvalidType, match="headline must be a str"):
        info(headline=3)


def test_values_are_frozen() -> None:
    """Alerts and their parts cannot be changed after construction."""
    a = explosion()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.identifier = "other"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.infos[0].areas[0].description = "x"  # type: ignore[misc]


# --- kinds ----------------------------------------------------------------------------------


def test_kind_comes_from_the_event_code_and_is_none_for_foreign_alerts() -> None:
    """The kind is the KIND_CODE event code; without one the alert is foreign (None)."""
    assert alert().kind is None
    assert alert(infos=[info()]).kind is None
    coded = info(event_codes=[NamedValue("other", "x"), NamedValue(KIND_CODE, "tip_request")])
    assert coded.kind == "tip_request"
    assert alert(infos=[info(), coded]).kind == "tip_request"


def test_any_well_formed_kind_name_is_carried() -> None:
    """Kinds are data: any kind name a policy may register travels in the event code."""
    coded = info(event_codes=[NamedValue(KIND_CODE, "chemical_release")])
    assert coded.kind == "chemical_release"
    assert alert(infos=[coded, coded]).kind == "chemical_release"


@pytest.mark.parametrize("value", ["Fire", "chemical release", "9lives", "", "a" * 65, "brand\n"])
def test_malformed_or_contradictory_kinds_are_refused(value: str) -> None:
    """A malformed kind name names field, rule and value; infos naming two kinds are refused."""
    with pytest.raises(
        InvalidAlert,
        match=r"event_codes\[0\] \(geotarget:kind\) must be a kind name: 1 to 64 lower-case "
        rf"ASCII letters, digits or '_', starting with a letter \(got {re.escape(repr(value))}\)",
    ):
        info(event_codes=[NamedValue(KIND_CODE, value)])
    with pytest.raises(InvalidAlert, match="contradictory kinds"):
        info(event_codes=[NamedValue(KIND_CODE, "explosion"), NamedValue(KIND_CODE, "tip_request")])
    a, b = (info(event_codes=[NamedValue(KIND_CODE, k)]) for k in ("explosion", "crime_modus"))
    with pytest.raises(InvalidAlert, match="infos must agree on the alert kind"):
        alert(infos=[a, b])


def test_explosion_pilot_alert() -> None:
    """The Explosion constructor writes sv-SE and en blocks with the documented CAP mapping."""
    a = explosion()
    assert a.kind == "explosion"
    assert (a.status, a.msg_type, a.scope) == (Status.ACTUAL, MessageType.ALERT, Scope.PUBLIC)
    assert a.languages == ("sv-SE", "en")
    sv, en = a.infos
    assert (sv.headline, en.headline) == (SV.headline, EN.headline)
    assert (sv.instruction, en.instruction) == (SV.instruction, EN.instruction)
    for i in a.infos:
        assert i.categories == (Category.SAFETY,)
        assert i.response_types == (ResponseType.AVOID,)
        assert (i.urgency, i.severity, i.certainty) == (
            Urgency.IMMEDIATE, Severity.SEVERE, Certainty.LIKELY,
        )  # fmt: skip
        assert i.event_codes == (NamedValue(KIND_CODE, "explosion"),)
        assert i.areas[0].description == "Sergels torg, Stockholm"
        assert i.sender_name == "Polisen"
    assert a.area == Area([SERGELS])
    assert (a.onset, a.expires) == (T0, T0 + timedelta(hours=2))


def test_crime_modus_and_tip_request_mappings() -> None:
    """Each kind maps deterministically to its event code, category and response type."""
    common: dict[str, Any] = {
        "identifier": "SE-POL-2", "sender": "polisen@polisen.se", "sent": T0, "area": SERGELS,
        "sv": SV, "en": EN, "onset": T0, "expires": T0 + timedelta(days=1),
    }  # fmt: skip
    modus = pilot.crime_modus(**common)
    tips = pilot.tip_request(**common)
    assert (modus.kind, tips.kind) == ("crime_modus", "tip_request")
    assert modus.infos[0].response_types == (ResponseType.MONITOR,)
    assert tips.infos[0].response_types == (ResponseType.NONE,)
    assert {i.categories for i in (*modus.infos, *tips.infos)} == {(Category.SECURITY,)}
    assert modus.tip_channels == ()
    assert tips.tip_channels == POLICE_TIP_CHANNELS
    assert [i.web for i in tips.infos] == ["https://polisen.se/lagg-fram-tips"] * 2
    assert tips.infos[0].contact == "Tipsa polisen: 114 14 eller https://polisen.se/lagg-fram-tips"


def test_tip_request_takes_its_own_channels_and_needs_one() -> None:
    """A tip request may name other channels, but not none."""
    phone = TipChannel(TipChannelKind.PHONE, "+46 77-114 14 00")
    common: dict[str, Any] = {
        "identifier": "SE-POL-3", "sender": "polisen@polisen.se", "sent": T0, "area": SERGELS,
        "sv": SV, "en": EN, "onset": T0, "expires": T0 + timedelta(days=1),
    }  # fmt: skip
    a = pilot.tip_request(**common, tip_channels=[phone])
    assert a.tip_channels == (phone,)
    assert a.infos[0].web is None
    assert phone.uri == "tel:+46771141400"
    with pytest.raises(InvalidAlert, match="tip_channels must name at least one"):
        pilot.tip_request(**common, tip_channels=[])


@pytest.mark.parametrize(
    ("kind", "address", "match"),
    [
        ("phone", "call 114", "digits, spaces and '-'"),
        ("web", "http://polisen.se", "https:// URL"),
        ("web", "https://polisen.se/a b", "https:// URL"),
        ("fax", "114 14", "kind must be one of phone, web"),
    ],
)
def test_tip_channels_are_validated(kind: str, address: str, match: str) -> None:
    """Phone channels hold a dialable number, web channels an https URL."""
    with pytest.raises(InvalidAlert, match=match):
        TipChannel(kind, address)


def test_pilot_constructors_check_their_inputs() -> None:
    """Texts must be Messages, headlines not blank, and areas CAP-expressible."""
    with pytest.raises(InvalidType, match="sv must be a Message"):
        explosion(sv="Explosion!")
    with pytest.raises(InvalidAlert, match="headline must not be blank"):
        Message(headline=" ", description="x", area_description="y")
    with pytest.raises(InvalidAlert, match="CAP cannot carry a margin"):
        explosion(area=Circle(18.0, 59.0, 500.0, margin_m=50.0))
    with pytest.raises(InvalidAlert, match="expires must be after onset"):
        explosion(expires=T0)


# --- areas ----------------------------------------------------------------------------------

SQUARE = ((18.0, 59.0), (18.1, 59.0), (18.1, 59.1), (18.0, 59.1), (18.0, 59.0))


def test_alert_area_from_area_keeps_the_geometry() -> None:
    """An Area of polygons then circles comes back equal from AlertArea.geometry."""
    area = Area([Polygon(SQUARE[:-1]), SERGELS])
    a = AlertArea.from_area("x", area)
    assert a.geometry == area
    assert a.circles == ((18.06528, 59.3325, 500.0),)
    assert a.polygons == (Polygon(SQUARE[:-1]).exterior,)


def test_alert_area_refuses_what_cap_cannot_say() -> None:
    """A margin cannot be written in CAP, so from_area refuses it; holes are split away."""
    holed = Polygon(SQUARE, [[(18.04, 59.04), (18.06, 59.04), (18.06, 59.06)]])
    a = AlertArea.from_area("x", holed)
    assert len(a.polygons) == 2 and a.geometry == holed.without_holes()
    with pytest.raises(InvalidAlert, match=r"area.parts\[0\] has margin_m=10.0"):
        AlertArea.from_area("x", holed.with_margin(10.0))
    with pytest.raises(InvalidType, match="area must be an Area"):
        AlertArea.from_area("x", SQUARE)  # type: ignore[arg-type]


def test_polygons_must_be_closed_rings_of_four_points() -> None:
    """A CAP polygon is a closed ring of at least 4 points; the message names which one."""
    with pytest.raises(
        InvalidAlert, match=r"polygons\[0\] must be a closed ring.*got 5 points, first"
    ):
        AlertArea(description="x", polygons=[(*SQUARE[:-1], (18.0, 59.05))])
    with pytest.raises(InvalidAlert, match=r"polygons\[0\] must be a closed ring.*got 3 points"):
        AlertArea(description="x", polygons=[SQUARE[:2] + SQUARE[:1]])
    with pytest.raises(InvalidCoordinates, match=r"polygons\[0\]\[2\] lat must be"):
        AlertArea(description="x", polygons=[((0.0, 0.0), (1.0, 0.0), (1.0, 95.0), (0.0, 0.0))])
    with pytest.raises(InvalidType, match="bool"):
        AlertArea(description="x", polygons=[((0.0, 0.0), (True, 0.0), (1.0, 1.0), (0.0, 0.0))])


def test_self_crossing_rings_are_kept_and_their_geometry_repaired() -> None:
    """CAP allows a bow-tie; it is kept as written and its geometry is both lobes."""
    bowtie = ((0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0))
    a = AlertArea(description="x", polygons=[bowtie])
    assert a.polygons == (bowtie,)
    assert a.geometry is not None and len(a.geometry.parts) == 2
    assert a.geometry.contains([0.1, 0.9, 0.5], [0.5, 0.5, 0.1]).tolist() == [True, True, False]


def test_rings_enclosing_no_area_are_kept_and_add_no_geometry() -> None:
    """Collinear or repeated points are valid CAP: kept as written, like a radius-0 circle."""
    line = ((0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (0.0, 0.0))
    point = ((18.0, 59.0),) * 4
    square = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0))
    a = AlertArea(description="x", polygons=[line, square, point])
    assert a.polygons == (line, square, point) and a.empty_polygons == (0, 2)
    assert a.geometry is not None and len(a.geometry.parts) == 1
    assert a.geometry.contains([0.5, 1.5], [0.5, 0.0]).tolist() == [True, False]
    only = AlertArea(description="x", polygons=[line])
    assert only.geometry is None and only.empty_polygons == (0,)
    assert AlertArea(description="x", polygons=[square]).empty_polygons == ()


def test_zero_radius_circles_are_points_without_area() -> None:
    """A radius-0 circle (a USGS epicentre) is kept but adds no geometry."""
    a = AlertArea(description="x", circles=[(18.0, 59.0, 0.0)])
    assert a.circles == ((18.0, 59.0, 0.0),)
    assert a.geometry is None
    assert alert(infos=[info(areas=[a])]).area is None
    with pytest.raises(InvalidAlert, match=r"circles\[0\] radius_m must be a finite number >= 0"):
        AlertArea(description="x", circles=[(18.0, 59.0, -1.0)])


def test_ceiling_needs_altitude() -> None:
    """CAP allows <ceiling> only with <altitude>."""
    with pytest.raises(InvalidAlert, match="ceiling needs an altitude"):
        AlertArea(description="x", ceiling=100.0)
    assert AlertArea(description="x", altitude=10, ceiling=100.0).altitude == 10.0


def test_alert_area_is_the_union_over_infos_without_repeats() -> None:
    """Two language blocks with the same area give one part; different areas are a union."""
    a = explosion()
    assert a.area is not None and len(a.area.parts) == 1
    other = AlertArea.from_area("y", Polygon(SQUARE[:-1]))
    b = alert(infos=[info(areas=[a.infos[0].areas[0]]), info(areas=[other])])
    assert b.area == Area([SERGELS, Polygon(SQUARE[:-1])])
    assert alert(infos=[info()]).area is None


@settings(max_examples=40)
@given(a=alerts(), seed=st.integers(0, 2**32 - 1))
def test_alert_area_contains_what_some_info_area_contains(a: Alert, seed: int) -> None:
    """alert.area covers exactly the points some CAP area of some info block covers."""
    parts = [p for i in a.infos for x in i.areas if x.geometry for p in x.geometry.parts]
    if not parts:
        assert a.area is None
        return
    assert a.area is not None
    rng = np.random.default_rng(seed)
    west, south, east, north = a.area.bounds
    lon = np.clip(rng.uniform(west - 0.1, east + 0.1, 200), -180, 180)
    lat = np.clip(rng.uniform(south - 0.1, north + 0.1, 200), -90, 90)
    expected = np.zeros(200, dtype=bool)
    for p in parts:
        expected |= p.contains(lon, lat)
    np.testing.assert_array_equal(a.area.contains(lon, lat), expected)


# --- languages ------------------------------------------------------------------------------


def test_info_for_prefers_exact_then_primary_then_english() -> None:
    """sv-SE → sv → en: exact tag, then same primary language, then English, then the first."""
    a = explosion()
    assert a.info_for("sv-SE") is a.infos[0]
    assert a.info_for("SV_se") is a.infos[0]
    assert a.info_for("sv") is a.infos[0]
    assert a.info_for("sv-FI") is a.infos[0]
    assert a.info_for("en-GB") is a.infos[1]
    assert a.info_for("ar-SE") is a.infos[1]
    only_de = alert(infos=[info(language="de-DE"), info(language="fi")])
    assert only_de.info_for("sv-SE") is only_de.infos[0]
    assert alert().info_for("sv-SE") is None


@given(a=alerts(), want=st.sampled_from(["sv-SE", "sv", "sv-FI", "en", "en-US", "zh-MO", "ar"]))
def test_info_for_matches_a_ranking_oracle(a: Alert, want: str) -> None:
    """info_for returns the first block of the best rank (exact, primary, English, any)."""

    def rank(tag: str) -> int:
        t = tag.lower()
        if t == want.lower():
            return 0
        if t.split("-")[0] == want.lower().split("-")[0]:
            return 1
        return 2 if t.split("-")[0] == "en" else 3

    got = a.info_for(want)
    if not a.infos:
        assert got is None
        return
    best = min(range(len(a.infos)), key=lambda k: (rank(a.infos[k].language), k))
    assert got is a.infos[best]


# --- time windows ---------------------------------------------------------------------------


def test_active_window_is_onset_inclusive_and_expires_exclusive() -> None:
    """is_active(t) iff onset <= t < expires."""
    a = explosion()
    assert not a.is_active(T0 - timedelta(seconds=1))
    assert a.is_active(T0)
    assert a.is_active(T0 + timedelta(hours=2) - timedelta(microseconds=1))
    assert not a.is_active(T0 + timedelta(hours=2))
    assert a.is_active((T0 + timedelta(hours=1)).astimezone(timezone.utc))
    with pytest.raises(InvalidAlert, match="at must be timezone-aware"):
        a.is_active(datetime(2026, 5, 4, 20, 0))


def test_window_combines_info_blocks() -> None:
    """Onset is the earliest onset/effective/sent; expires the latest, None if one is open."""
    sent = T0 - timedelta(hours=1)
    i1 = info(onset=T0, expires=T0 + timedelta(hours=1))
    i2 = info(effective=T0 - timedelta(minutes=30), expires=T0 + timedelta(hours=3))
    i3 = info()
    assert alert(sent=sent, infos=[i1, i2]).onset == T0 - timedelta(minutes=30)
    assert alert(sent=sent, infos=[i1, i2]).expires == T0 + timedelta(hours=3)
    assert alert(sent=sent, infos=[i1, i3]).onset == sent
    assert alert(sent=sent, infos=[i1, i3]).expires is None
    assert alert(sent=sent, infos=[i1, i3]).is_active(T0 + timedelta(days=300))
    assert alert(sent=sent).onset == sent


@given(i=infos(), back=st.integers(0, 10**6))
def test_a_block_whose_expires_is_not_after_its_onset_is_never_active(i: Info, back: int) -> None:
    """CAP sets no order on onset and expires; when expires <= its start the window is empty.

    The start is the block's effective time, else its onset (either way here).
    """
    expires = T0 - timedelta(seconds=back)
    for times in ({"onset": T0, "effective": None}, {"effective": T0}):
        a = alert(infos=[attrs.evolve(i, **times, expires=expires)])
        for t in (T0, expires, T0 - timedelta(seconds=1), T0 + timedelta(seconds=1)):
            assert not a.is_active(t)


def test_alerts_pickle_and_hash() -> None:
    """An alert survives pickling (for worker processes) and hashes like its copy."""
    import pickle

    a = explosion()
    b = pickle.loads(pickle.dumps(a))
    assert b == a and hash(b) == hash(a)
    assert b.area == a.area and b.kind == "explosion"


def test_a_pandas_timestamp_with_nanoseconds_is_refused_as_fractional_seconds() -> None:
    """A pandas Timestamp with nanoseconds is refused; a whole-second one round-trips.

    pandas keeps nanoseconds beyond ``microsecond``: such a time passed the whole-seconds rule,
    and ``cap.dumps`` then wrote a document ``cap.loads`` refuses.
    """
    pd = pytest.importorskip("pandas")

    from geotarget import cap

    def build(t: Any) -> Alert:
        return explosion(sent=t, onset=t, expires=t + timedelta(hours=1))

    with pytest.raises(InvalidAlert, match=r"whole seconds.*nanosecond=0"):
        build(pd.Timestamp("2025-05-01 12:00:00.000000001", tz="UTC"))
    alert = build(pd.Timestamp("2025-05-01 12:00:00", tz="UTC"))
    assert cap.loads(cap.dumps(alert)) == alert
