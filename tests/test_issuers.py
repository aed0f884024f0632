"""Issuer authority: who may issue which kinds where, and who may change whose incidents."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import shapely
import shapely.geometry as sg
from hypothesis import given, settings
from hypothesis import strategies as st
from targeting_helpers import (
    SENDER,
    T0,
    make_alert,
    make_regions,
    positions,
    ref,
    without_area,
)

from geotarget import Area, Circle, InvalidInput, InvalidPolicy, Polygon, PositionIndex, pilot
from geotarget.alerts import Alert, MessageType, Status
from geotarget.issuers import Issuer, Issuers
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, Verdict

C01 = "c01@example.se"
C02 = "c02@example.se"
POLICE = ("crime_modus", "tip_request")
ALL = ("explosion", "crime_modus", "tip_request")


def table() -> Issuers:
    """National police anywhere; county 01 and 02 police their own county; 02 acts for 01."""
    return Issuers([
        Issuer(name="national", senders=[SENDER], kinds=ALL, regions=["XX"]),
        Issuer(name="county01", senders=[C01], kinds=POLICE, regions=["01"]),
        Issuer(name="county02", senders=[C02], kinds=POLICE, regions=["02"], acts_for=["county01"]),
    ])  # fmt: skip


def targeter(issuers: Issuers | None = None) -> Targeter:
    """A Targeter over the synthetic hierarchy, every kind nationwide, with ``table()``."""
    return Targeter(make_regions(), nationwide("XX"), issuers=issuers or table())


def by(alert: Alert, sender: str) -> Alert:
    """The same alert from another sender."""
    return attrs.evolve(alert, sender=sender)


# Devices in 0101 (county 01) and 0201 (county 02).
DEVICES = positions([17.25, 18.25], [59.5, 59.5])
IN_01 = Polygon([(17.2, 59.4), (17.4, 59.4), (17.4, 59.6), (17.2, 59.6)])
ACROSS = Polygon([(17.2, 59.4), (18.3, 59.4), (18.3, 59.6), (17.2, 59.6)])


def test_unknown_sender_reaches_nobody_and_changes_nothing() -> None:
    """A sender of no issuer: UNKNOWN_ISSUER naming it; the same id from an issuer still works."""
    t = targeter()
    alert = by(make_alert("tip_request", IN_01), "someone@example.se")
    result = t.target(alert, PositionIndex(DEVICES), T0)
    assert result.verdict is Verdict.UNKNOWN_ISSUER
    assert "'someone@example.se' belongs to no issuer" in result.reason
    assert result.recipients.size == 0 and result.incident is None
    assert t.active_incidents == ()
    ok = t.target(by(make_alert("tip_request", IN_01), C01), PositionIndex(DEVICES), T0)
    assert ok.verdict is Verdict.DELIVER and ok.issuer == "county01"
    assert ok.recipients.tolist() == ["d0"]


def test_a_sender_differing_only_in_case_is_unknown_and_the_reason_names_the_listed_one() -> None:
    """Senders compare exactly; the reason points at the listed sender the operator meant."""
    t = targeter()
    result = t.target(by(make_alert("tip_request", IN_01), C01.upper()), PositionIndex(DEVICES), T0)
    assert result.verdict is Verdict.UNKNOWN_ISSUER and result.recipients.size == 0
    assert "the policy lists 'c01@example.se' of issuer 'county01'" in result.reason
    other = t.target(by(make_alert("tip_request", IN_01), "x@y.se"), PositionIndex(DEVICES), T0)
    assert "the policy lists" not in other.reason
    # Other lookalikes get the hint too: a trailing dot, a zero-width space, fullwidth letters.
    for lookalike in (C01 + ".", "c01\u200b@example.se", "ｃ01@example.se"):
        got = t.target(by(make_alert("tip_request", IN_01), lookalike), PositionIndex(DEVICES), T0)
        assert got.verdict is Verdict.UNKNOWN_ISSUER and got.recipients.size == 0
        assert "the policy lists 'c01@example.se' of issuer 'county01'" in got.reason


def test_kind_outside_the_issuers_authority_is_not_authorised() -> None:
    """County police may not issue an Explosion: NOT_AUTHORISED, with issuer, sender and kind."""
    result = targeter().target(by(make_alert("explosion", IN_01), C01), PositionIndex(DEVICES), T0)
    assert result.verdict is Verdict.NOT_AUTHORISED
    assert "issuer 'county01' (sender 'c01@example.se') may not issue explosion" in result.reason
    assert result.recipients.size == 0
    assert "may not issue explosion" in result.explain("d0")


def test_area_reaching_beyond_the_issuers_regions_is_not_authorised() -> None:
    """A county-01 tip request reaching into county 02 names the region outside, tells nobody."""
    t = targeter()
    result = t.target(by(make_alert("tip_request", ACROSS), C01), PositionIndex(DEVICES), T0)
    assert result.verdict is Verdict.NOT_AUTHORISED
    assert (
        "reaches 1 municipality region(s) outside the regions of issuer 'county01' (01): 0201"
        in (result.reason)
    )
    assert result.recipients.size == 0 and t.active_incidents == ()
    national = t.target(make_alert("tip_request", ACROSS, ident="n"), PositionIndex(DEVICES), T0)
    assert national.verdict is Verdict.DELIVER and sorted(national.recipients.tolist()) == [
        "d0",
        "d1",
    ]


def test_a_shared_border_alone_does_not_reach_the_neighbour() -> None:
    """An area whose edge lies on the county border (lon 18) stays within county 01."""
    edge = Polygon([(17.9, 59.4), (18.0, 59.4), (18.0, 59.6), (17.9, 59.6)])
    result = targeter().target(by(make_alert("tip_request", edge), C01), PositionIndex(DEVICES), T0)
    assert result.verdict is Verdict.DELIVER


def test_cancel_from_another_issuer_is_not_authorised_and_retracts_nothing() -> None:
    """The national sender may not cancel county 01's incident (it does not act for it)."""
    t = targeter()
    first = by(make_alert("tip_request", IN_01), C01)
    assert t.target(first, PositionIndex(DEVICES), T0).verdict is Verdict.DELIVER
    cancel = make_alert("tip_request", IN_01, ident="x", msg_type=MessageType.CANCEL,
                        refs=(ref(first),), sent=T0 + dt.timedelta(minutes=5))  # fmt: skip
    result = t.target(cancel, PositionIndex(DEVICES), T0 + dt.timedelta(minutes=5))
    assert result.verdict is Verdict.NOT_AUTHORISED
    assert f"sender {SENDER!r} may not act for sender {C01!r}" in result.reason
    assert result.retract.size == 0
    assert t.active_incidents == (f"{C01}/a1",)


def test_cancel_from_an_issuer_acting_for_the_owner_ends_the_incident() -> None:
    """County 02 acts for county 01: its Cancel ends the incident and retracts the devices told."""
    t = targeter()
    first = by(make_alert("tip_request", IN_01), C01)
    t.target(first, PositionIndex(DEVICES), T0)
    cancel = by(make_alert("tip_request", IN_01, ident="x", msg_type=MessageType.CANCEL,
                           refs=(ref(first),), sent=T0 + dt.timedelta(minutes=5)), C02)  # fmt: skip
    result = t.target(cancel, PositionIndex(DEVICES), T0 + dt.timedelta(minutes=5))
    assert result.verdict is Verdict.CANCELLED
    assert result.retract.tolist() == ["d0"]
    assert t.active_incidents == ()


def test_test_cancel_of_an_actual_alert_is_not_authorised() -> None:
    """A status=Test Cancel from the issuer itself does not end an Actual incident."""
    t = targeter()
    first = by(make_alert("tip_request", IN_01), C01)
    t.target(first, PositionIndex(DEVICES), T0)
    cancel = by(make_alert("tip_request", IN_01, ident="x", msg_type=MessageType.CANCEL,
                           refs=(ref(first),), status=Status.TEST,
                           sent=T0 + dt.timedelta(minutes=5)), C01)  # fmt: skip
    result = t.target(cancel, PositionIndex(DEVICES), T0 + dt.timedelta(minutes=5))
    assert result.verdict is Verdict.NOT_AUTHORISED
    assert "its status Test is not the incident's" in result.reason
    assert result.retract.size == 0 and t.active_incidents == (f"{C01}/a1",)


def test_update_from_an_issuer_acting_for_the_owner_is_authorised_like_an_alert() -> None:
    """County 02's Update of county 01's incident must still lie within county 02's regions."""
    t = targeter()
    first = by(make_alert("tip_request", IN_01), C01)
    t.target(first, PositionIndex(DEVICES), T0)
    later = T0 + dt.timedelta(minutes=5)
    update = by(make_alert("tip_request", IN_01, ident="u", msg_type=MessageType.UPDATE,
                           refs=(ref(first),), sent=later), C02)  # fmt: skip
    result = t.target(update, PositionIndex(DEVICES), later)
    assert result.verdict is Verdict.NOT_AUTHORISED
    assert "outside the regions of issuer 'county02' (02): 0101;" in result.reason


def test_a_text_only_update_is_authorised_over_the_area_it_keeps() -> None:
    """A text-only Update is authorised over the area it keeps.

    An Update without area geometry keeps its incident's area: the acting issuer's regions
    must cover that area, as they must when the Update writes the same area out. Refused, it
    changes nothing; from the owner it is delivered over the kept area.
    """
    t = targeter()
    first = by(make_alert("tip_request", IN_01), C01)
    assert t.target(first, PositionIndex(DEVICES), T0).verdict is Verdict.DELIVER
    later = T0 + dt.timedelta(minutes=5)

    def update(sender: str, ident: str) -> Alert:
        alert = make_alert(
            "tip_request", IN_01, ident=ident, msg_type=MessageType.UPDATE, refs=(ref(first),),
            sent=later,
        )  # fmt: skip
        return without_area(by(alert, sender))

    for call in (t.target, t.preview):
        result = call(update(C02, "u"), PositionIndex(DEVICES), later)
        assert result.verdict is Verdict.NOT_AUTHORISED, call
        assert (
            f"the area it keeps (that of version {C01}/a1) reaches 1 municipality region(s) "
            "outside the regions of issuer 'county02' (02): 0101;" in result.reason
        )
        assert result.recipients.size == 0
    # Nothing changed: the incident's current version is still the first.
    stored = t.ledger.incident(f"{C01}/a1")
    assert stored is not None and stored.version == f"{C01}/a1"
    owner = t.target(update(C01, "u2"), PositionIndex(DEVICES), later)
    assert owner.verdict is Verdict.DELIVER
    assert f"the incident's area stays that of version {C01}/a1" in owner.reason


def test_issuers_any_must_be_declared_in_a_policy_file() -> None:
    """A policy file without issuers is an error; issuers = "any" is the explicit opt-out."""
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_toml("country = 'SE'\n")
    assert err.value.problems[0].path == "issuers"
    assert 'issuers = "any"' in err.value.problems[0].message
    assert Issuers.from_toml('issuers = "any"\n').any_sender
    assert Issuers.from_json('{"issuers": "any"}') == Issuers.any()


def test_issuers_file_lists_every_problem_with_its_path(tmp_path: Path) -> None:
    """Unknown keys, bad signature values, missing certificates, shared senders: all listed."""
    doc = """
    [[issuers]]
    name = "a"
    senders = ["a@x.se"]
    kinds = ["explosion"]
    regions = ["SE"]
    colour = "blue"

    [[issuers]]
    name = "b"
    senders = ["b@x.se"]
    kinds = ["explosion"]
    regions = ["SE"]
    signature = "sometimes"

    [[issuers]]
    name = "c"
    senders = ["c@x.se"]
    kinds = ["explosion"]
    regions = ["SE"]
    signature = "required"
    certificates = ["missing.pem"]

    [[issuers]]
    name = "d"
    senders = ["d@x.se"]
    kinds = ["explosion"]
    regions = []
    """
    (tmp_path / "p.toml").write_text(doc, encoding="utf-8")
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_toml(tmp_path / "p.toml")
    paths = [p.path for p in err.value.problems]
    assert paths == ["issuers[0].colour", "issuers[1].signature", "issuers[2].certificates[0]",
                     "issuers[3].regions"]  # fmt: skip
    assert "missing.pem" in err.value.problems[2].message
    assert "must name at least one" in err.value.problems[3].message


def test_every_bad_field_of_one_issuer_is_listed_at_once() -> None:
    """An issuer with six bad fields gets six problems, each at its field's path.

    Only once every field is fine are the checks that span fields made (here: none, the issuer
    is refused already), so a reviewer fixes the table in one pass.
    """
    doc = (
        '{"issuers": [{"name": "bad name!", "senders": ["s @x.se"], "kinds": ["Not A Kind"],'
        ' "regions": "SE", "signature": "sometimes", "certificates": [1]},'
        ' {"name": "ok", "senders": ["ok@x.se"], "kinds": ["explosion"], "regions": []}]}'
    )
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_json(doc)
    assert [p.path for p in err.value.problems] == [
        "issuers[0].signature", "issuers[0].certificates[0]", "issuers[0].name",
        "issuers[0].senders", "issuers[0].kinds", "issuers[0].regions", "issuers[1].regions",
    ]  # fmt: skip
    messages = [p.message for p in err.value.problems]
    assert "'bad name!'" in messages[2] and "'s @x.se'" in messages[3]
    assert "'Not A Kind'" in messages[4] and "'SE'" in messages[5]
    assert "must name at least one" in messages[6]


def test_certificates_are_read_relative_to_the_policy_file(tmp_path: Path) -> None:
    """A certificate path such as "certs/x.pem" reads the PEM beside the policy file."""
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "x.pem").write_text(pem, encoding="ascii")
    (tmp_path / "p.json").write_text(
        '{"issuers": [{"name": "a", "senders": ["a@x.se"], "kinds": ["explosion"], '
        '"regions": ["SE"], "signature": "required", "certificates": ["certs/x.pem"]}]}',
        encoding="utf-8",
    )
    issuer = Issuers.from_json(tmp_path / "p.json").issuers[0]
    assert issuer.signature_required and issuer.certificates == (pem,)


def test_the_table_itself_refuses_contradictions() -> None:
    """A sender in two issuers, a duplicate name, acts_for an unknown issuer: all listed."""
    a = Issuer(name="a", senders=["s@x.se"], kinds=["explosion"], regions=["XX"], acts_for=["z"])
    b = Issuer(name="a", senders=["s@x.se"], kinds=["explosion"], regions=["XX"])
    with pytest.raises(InvalidPolicy) as err:
        Issuers([a, b])
    assert [p.path for p in err.value.problems] == [
        "issuers[1].name", "issuers[1].senders", "issuers[0].acts_for",
    ]  # fmt: skip
    with pytest.raises(InvalidInput, match="needs at least one pinned certificate"):
        Issuer(name="a", senders=["s@x.se"], kinds=["explosion"], regions=["XX"],
               signature_required=True)  # fmt: skip
    with pytest.raises(InvalidInput, match="senders must be CAP senders"):
        Issuer(name="a", senders=["s @x.se"], kinds=["explosion"], regions=["XX"])


def test_targeter_checks_the_table_against_regions_and_kinds() -> None:
    """Unknown region codes and kinds of the table are reported when the Targeter is built."""
    bad = Issuers([Issuer(name="a", senders=["s@x.se"], kinds=["explosion", "flood"],
                          regions=["XX", "99"])])  # fmt: skip
    with pytest.raises(InvalidPolicy) as err:
        Targeter(make_regions(), nationwide("XX"), issuers=bad)
    assert [(p.path, p.message[:4]) for p in err.value.problems] == [
        ("issuers[0].regions", "'99'"),
        ("issuers[0].kinds", "'flo"),
    ]


# --- the property: the pipeline agrees with a brute-force authority check --------------------

# A 4 x 2 grid of cells 0.25° wide over lon 13–14, lat 55–55.5; counties are grid columns
# pairs; the country is "SE".
CELLS = {
    f"m{i}{j}": (13.0 + 0.25 * i, 55.0 + 0.25 * j, 13.25 + 0.25 * i, 55.25 + 0.25 * j)
    for i in range(4)
    for j in range(2)
}
COUNTY_OF = {c: f"c{int(c[1]) // 2}" for c in CELLS}
CODES = [*sorted(CELLS), "c0", "c1", "SE"]


def grid() -> RegionHierarchy:
    """Municipalities m00…m31 → counties c0 (lon 13–13.5), c1 (13.5–14) → SE."""

    def rs(level: str, boxes: dict[str, tuple[float, float, float, float]]) -> RegionSet:
        return RegionSet([Region(code=c, name=c, level=level, geometry=sg.box(*b))
                          for c, b in boxes.items()])  # fmt: skip

    return RegionHierarchy(
        [
            rs("municipality", CELLS),
            rs("county", {"c0": (13.0, 55.0, 13.5, 55.5), "c1": (13.5, 55.0, 14.0, 55.5)}),
            rs("country", {"SE": (13.0, 55.0, 14.0, 55.5)}),
        ],
        {**COUNTY_OF, "c0": "SE", "c1": "SE"},
    )


GRID = grid()


def brute_force(
    issuers: list[Issuer], sender: str, kind: str, area_geom: sg.base.BaseGeometry
) -> str:
    """The expected outcome class: 'unknown', 'not_authorised' or 'ok', written independently."""
    mine = [i for i in issuers if sender in i.senders]
    if not mine:
        return "unknown"
    issuer = mine[0]
    if kind not in issuer.kinds:
        return "not_authorised"
    allowed = {
        cell
        for cell in CELLS
        if cell in issuer.regions or COUNTY_OF[cell] in issuer.regions or "SE" in issuer.regions
    }
    for cell, box in CELLS.items():
        if shapely.intersection(area_geom, sg.box(*box)).area > 0 and cell not in allowed:
            return "not_authorised"
    return "ok"


coord = st.integers(0, 10).map(lambda k: 12.875 + 0.125 * k)  # lon 12.875 … 14.125
lat_c = st.integers(0, 6).map(lambda k: 54.875 + 0.125 * k)  # lat 54.875 … 55.625


@st.composite
def areas(draw: st.DrawFn) -> Circle | Polygon:
    """Grid-aligned boxes (edges on cell borders) or circles anywhere near the grid."""
    if draw(st.booleans()):
        w, e = sorted(draw(st.lists(coord, min_size=2, max_size=2, unique=True)))
        s, n = sorted(draw(st.lists(lat_c, min_size=2, max_size=2, unique=True)))
        return Polygon([(w, s), (e, s), (e, n), (w, n)])
    lon = draw(st.floats(12.9, 14.1))
    lat = draw(st.floats(54.95, 55.55))
    return Circle(lon, lat, draw(st.floats(50.0, 20_000.0)))


issuer_lists = st.lists(
    st.tuples(
        st.sets(st.sampled_from(ALL), min_size=1),
        st.sets(st.sampled_from(CODES), min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=3,
).map(
    lambda items: [
        Issuer(name=f"i{n}", senders=[f"s{n}@x.se"], kinds=k, regions=r)
        for n, (k, r) in enumerate(items)
    ]
)


@settings(max_examples=60, deadline=None)
@given(issuer_lists, st.integers(0, 3), st.sampled_from(ALL), areas())
def test_authority_agrees_with_brute_force(
    issuers: list[Issuer], who: int, kind: str, area: Circle | Polygon
) -> None:
    """UNKNOWN_ISSUER / NOT_AUTHORISED / anything else exactly when the brute force says so."""
    t = Targeter(GRID, nationwide("SE"), issuers=Issuers(issuers))
    sender = f"s{who}@x.se"
    alert = by(make_alert(kind, area), sender)
    devices = positions([13.1, 13.9], [55.1, 55.4])
    result = t.target(alert, PositionIndex(devices), T0, confirm=True)
    expected = brute_force(issuers, sender, kind, alert.area.to_shapely())  # type: ignore[union-attr]
    got = {Verdict.UNKNOWN_ISSUER: "unknown", Verdict.NOT_AUTHORISED: "not_authorised"}.get(
        result.verdict, "ok"
    )
    assert got == expected, result.reason
    if got != "ok":
        assert result.recipients.size == 0 and t.active_incidents == ()


def test_issuers_any_keeps_the_owner_only_rule_for_cancels() -> None:
    """Without an issuer table only the incident's own sender may cancel it."""
    t = Targeter(make_regions(), nationwide("XX"), issuers=Issuers.any())
    first = make_alert("tip_request", IN_01)
    t.target(first, PositionIndex(DEVICES), T0)
    cancel = by(make_alert("tip_request", IN_01, ident="x", msg_type=MessageType.CANCEL,
                           refs=(ref(first),)), "other@example.se")  # fmt: skip
    assert t.target(cancel, PositionIndex(DEVICES), T0).verdict is Verdict.NOT_AUTHORISED


def test_swapped_axes_are_refused_by_the_targeter_without_asking() -> None:
    """An alert written lat first (a circle at lon 59.5, lat 17.5) raises InvalidCAP.

    In the Python API's terms (the message names Circle(lon, lat, radius_m) with the swap), the
    problem listed once with both info blocks' paths.
    """
    from geotarget import InvalidCAP

    swapped = make_alert("explosion", Circle(59.5, 17.5, 500.0))
    with pytest.raises(InvalidCAP, match="it looks written lat first") as err:
        targeter().target(swapped, PositionIndex(DEVICES), T0)
    assert "Python takes Circle(lon, lat, radius_m): Circle(17.5, 59.5, 500.0) here" in str(
        err.value
    )
    assert "alert has 1 problem" in str(err.value)


def test_recognition_rules_must_name_registered_kinds() -> None:
    """A rule for a kind the Targeter has no rules for is refused when it is built."""
    from geotarget.kinds import RecognitionRule, Recognizer

    rec = Recognizer([RecognitionRule(name="f", kind="flood", events=["Flood"])])
    with pytest.raises(InvalidPolicy) as err:
        Targeter(make_regions(), nationwide("XX"), recognition=rec + pilot.RECOGNITION)
    assert [p.path for p in err.value.problems] == ["recognition[0].kind"]


EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "pilot_policy.toml"


def test_example_policy_file_has_recognition_and_issuers_valid_for_sweden() -> None:
    """The example's [[recognition]] and [[issuers]] load and fit the Swedish hierarchy."""
    from geotarget import sweden
    from geotarget.kinds import Recognizer
    from geotarget.rollout import RolloutPolicy

    recognition = Recognizer.from_toml(EXAMPLE) + pilot.RECOGNITION
    issuers = Issuers.from_toml(EXAMPLE)
    assert [r.name for r in recognition.rules][:2] == ["sos:explosion-code", "fi:explosion"]
    assert issuers.issuer_of("syd@polisen.se").regions == {"PR-SYD"}  # type: ignore[union-attr]
    assert issuers.may_act_for("polisen@polisen.se", "syd@polisen.se")
    assert not issuers.may_act_for("syd@polisen.se", "polisen@polisen.se")
    Targeter(sweden.hierarchy(), RolloutPolicy.from_toml(EXAMPLE), recognition=recognition,
             issuers=issuers)  # fmt: skip


def test_loading_with_a_catalog_checks_region_codes_at_once() -> None:
    """Issuers.from_toml(..., catalog=regions) lists unknown region codes with their paths."""
    doc = """
    [[issuers]]
    name = "a"
    senders = ["a@x.se"]
    kinds = ["explosion"]
    regions = ["01", "77"]
    """
    assert Issuers.from_toml(doc).issuers[0].regions == {"01", "77"}
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_toml(doc, catalog=make_regions())
    assert [(p.path, p.message.partition(";")[0]) for p in err.value.problems] == [
        ("issuers[0].regions", "'77' is not a region code of the hierarchy")
    ]
    assert "; valid codes include '01'" in err.value.problems[0].message  # the rollout's hint


@pytest.mark.parametrize(
    "content",
    [
        "root:x:0:0:root:/root:/bin/bash\nsecret-user:x:1000:1000::/home/s:/bin/sh\n",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
    ],
)
def test_a_certificate_file_that_holds_no_certificate_is_named_never_quoted(
    tmp_path: Path, content: str
) -> None:
    """A file named where a certificate goes that holds none: refused at its own path.

    (It was refused at ``issuers[0]``, quoting the file's first 40 characters: a password file
    or a private key named by mistake reached the error, and any log it is written to.)
    """
    (tmp_path / "wrong.pem").write_text(content, encoding="ascii")
    (tmp_path / "p.json").write_text(
        '{"issuers": [{"name": "a", "senders": ["a@x.se"], "kinds": ["explosion"], '
        '"regions": ["SE"], "signature": "required", "certificates": ["wrong.pem"]}]}',
        encoding="utf-8",
    )
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_json(tmp_path / "p.json")
    (problem,) = err.value.problems
    assert problem.path == "issuers[0].certificates[0]"
    assert "holds no PEM certificate" in problem.message and "wrong.pem" in problem.message
    for secret in ("secret-user", "root:x", "MIIEvQ"):
        assert secret not in str(err.value)
    # The Python API shows a PEM block's label at most, never its content.
    with pytest.raises(InvalidInput) as api:
        Issuer(name="a", senders=["a@x.se"], kinds=["explosion"], regions=["SE"],
               signature_required=True, certificates=[content])  # fmt: skip
    for secret in ("secret-user", "root:x", "MIIEvQ"):
        assert secret not in str(api.value)


def test_targeter_refuses_pinned_certificates_that_are_not_certificates() -> None:
    """A required signature with a broken PEM is reported when the Targeter is built."""
    pytest.importorskip("cryptography", reason="the signing extra is not installed")
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    bad = Issuers([Issuer(name="a", senders=["s@x.se"], kinds=["explosion"], regions=["XX"],
                          signature_required=True, certificates=[pem])])  # fmt: skip
    with pytest.raises(InvalidPolicy) as err:
        Targeter(make_regions(), nationwide("XX"), issuers=bad)
    assert [p.path for p in err.value.problems] == ["issuers[0].certificates[0]"]
    assert "is not a PEM X.509 certificate" in err.value.problems[0].message


@st.composite
def _swedish_areas(draw: st.DrawFn) -> Circle | Polygon:
    """A circle (10 m – 30 km) or a small triangle anywhere over southern and central Sweden."""
    lon = draw(st.floats(11.5, 19.5))
    lat = draw(st.floats(55.5, 63.5))
    if draw(st.booleans()):
        return Circle(lon, lat, draw(st.floats(10.0, 30_000.0)))
    d = draw(st.floats(0.001, 0.2))
    return Polygon([(lon, lat), (lon + d, lat), (lon, lat + d / 2)])


@settings(max_examples=60, deadline=None)
@given(_swedish_areas())
def test_reached_regions_agree_with_the_polygons_interiors(part: Circle | Polygon) -> None:
    """Territory.reached, window look-up first, equals the brute force over the municipalities.

    The brute force: every one of the 290 whose interior the area's polygon interior meets.
    """
    from geotarget import Area, sweden
    from geotarget._authority import Territory

    hierarchy = sweden.hierarchy()
    finest = hierarchy.region_set(hierarchy.levels[0])
    area = Area([part])
    geom = area.to_shapely()
    want = {
        code
        for code in finest.codes
        if shapely.relate_pattern(geom, finest[code].geometry, "T********")
    }
    assert Territory(finest).reached(area) == frozenset(want)


def test_reached_by_hundreds_of_circles_across_borders_asks_no_rim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hundreds of small circles around Stockholm's, Solna's and Sundbyberg's borders.

    The same regions as the brute force over each circle's 4,096-point rim, each circle
    decided by distance, without a rim (the old way drew 4,096 points per circle of the whole
    area as soon as one circle straddled a border: seconds for 1,000 circles).
    """
    from geotarget import Area, _geodesy, sweden
    from geotarget._authority import Territory

    hierarchy = sweden.hierarchy()
    finest = hierarchy.region_set(hierarchy.levels[0])
    rng = np.random.default_rng(7)
    circles = [
        Circle(lon, lat, r)
        for lon, lat, r in zip(
            rng.normal(17.99, 0.03, 300), rng.normal(59.36, 0.015, 300),
            rng.uniform(20.0, 3000.0, 300), strict=True,
        )
    ]  # fmt: skip
    want: set[str] = set()
    for c in circles:
        geom = Area([c]).to_shapely()
        want |= {
            code
            for code in finest.codes
            if shapely.relate_pattern(geom, finest[code].geometry, "T********")
        }
    territory = Territory(finest)
    asked = [0]
    real = _geodesy.geod()

    class Counting:
        def fwd(self, *args: Any) -> Any:
            asked[0] += int(np.size(args[0]))
            return real.fwd(*args)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(_geodesy, "geod", lambda: Counting())
    assert territory.reached(Area(circles)) == frozenset(want)
    assert len(want) >= 2  # the circles do straddle borders
    assert asked[0] == 0


# --- parts of an area abroad, apart from the territory ---------------------------------------

X01 = "x01@example.se"


def explosion_table() -> Issuers:
    """The national police, and a county-01 issuer that may also send Explosions."""
    return Issuers([
        Issuer(name="national", senders=[SENDER], kinds=ALL, regions=["XX"]),
        Issuer(name="county01x", senders=[X01], kinds=ALL, regions=["01"]),
    ])  # fmt: skip


# The territory is lon 17-19, lat 59-60; 1 km is about 0.0177° of longitude at 59.5°.
HOME = Circle(17.02, 59.5, 2_000.0)  # in 0101, across the western border
AWAY = Circle(16.30, 59.5, 2_000.0)  # 40 km west, wholly abroad
NEXT = Circle(16.96, 59.5, 2_000.0)  # abroad, meets HOME (3.4 km apart)
NEXT2 = Circle(16.90, 59.5, 2_000.0)  # abroad, meets NEXT but not HOME (6.8 km apart)


def _target(sender: str, kind: str, parts: list[Circle | Polygon], lons: list[float]) -> Any:
    alert = by(make_alert(kind, Area(parts)), sender)
    devices = positions(lons, [59.5] * len(lons))
    return Targeter(make_regions(), nationwide("XX"), issuers=explosion_table()).target(
        alert, PositionIndex(devices), T0
    )


@pytest.mark.parametrize("sender", [X01, SENDER])
def test_an_explosion_part_wholly_abroad_and_apart_is_not_authorised(sender: str) -> None:
    """A separate circle 40 km abroad is no danger across the border: refused, whole, by anyone.

    (Explosions are told beyond the border; an issuer could otherwise alert any foreign place
    by adding it to an area on its own territory.)
    """
    result = _target(sender, "explosion", [HOME, AWAY], [17.02, 16.30])
    assert result.verdict is Verdict.NOT_AUTHORISED
    assert "1 part(s) of the alert area (part 1: a circle of 2,000 m about lon 16.30000" in (
        result.reason
    )
    assert "meet no part that reaches one" in result.reason
    assert result.recipients.size == 0
    alone = _target(sender, "explosion", [HOME], [17.02, 16.30])
    assert alone.verdict is Verdict.DELIVER and alone.recipients.tolist() == ["d0"]


def test_explosion_parts_abroad_joined_to_the_territory_are_the_border_s_danger() -> None:
    """Circles abroad meeting the one on the territory (directly or through each other) count."""
    result = _target(X01, "explosion", [HOME, NEXT, NEXT2], [17.02, 16.96, 16.90, 16.30])
    assert result.verdict is Verdict.DELIVER, result.reason
    assert sorted(result.recipients.tolist()) == ["d0", "d1", "d2"]
    # Without the link in the middle, the farthest circle is apart.
    apart = _target(X01, "explosion", [HOME, NEXT2], [17.02, 16.90])
    assert apart.verdict is Verdict.NOT_AUTHORISED and "part 1: a circle" in apart.reason


def test_polygons_abroad_join_by_touching_and_circles_by_distance() -> None:
    """Polygons abroad join by touching, circles by distance.

    Polygons meet as their lon/lat shapes intersect (a shared edge is enough); a circle meets a
    polygon nearer to its centre than its reach.
    """
    home = Polygon([(16.98, 59.48), (17.05, 59.48), (17.05, 59.52), (16.98, 59.52)])
    touching = Polygon([(16.92, 59.48), (16.98, 59.48), (16.98, 59.52), (16.92, 59.52)])
    near = Circle(16.90, 59.5, 1_500.0)  # 1.1 km from touching's western edge
    far = Polygon([(16.0, 59.48), (16.05, 59.48), (16.05, 59.52), (16.0, 59.52)])
    ok = _target(X01, "explosion", [home, touching, near], [17.0, 16.95, 16.90])
    assert ok.verdict is Verdict.DELIVER, ok.reason
    assert sorted(ok.recipients.tolist()) == ["d0", "d1", "d2"]
    refused = _target(X01, "explosion", [home, touching, near, far], [17.0])
    assert refused.verdict is Verdict.NOT_AUTHORISED
    assert ": a polygon within lon 16.00000 to 16.05000, lat 59.48000 to 59.52000" in refused.reason


def test_a_kind_not_told_beyond_the_border_ignores_parts_abroad() -> None:
    """A tip request's parts abroad reach nobody: they are not looked at, the rest is told."""
    result = _target(X01, "tip_request", [HOME, AWAY], [17.02, 16.30])
    assert result.verdict is Verdict.DELIVER, result.reason
    assert result.recipients.tolist() == ["d0"]


def _rim(lon: float, lat: float, r: float) -> Any:
    """A circle as a 720-point polygon from pyproj's forward geodesic (not geotarget's)."""
    import pyproj

    az = np.linspace(0.0, 360.0, 720, endpoint=False)
    x, y, _ = pyproj.Geod(ellps="WGS84").fwd(
        np.full(720, lon), np.full(720, lat), az, np.full(720, r)
    )
    return sg.Polygon(np.c_[x, y])


@given(
    st.lists(
        st.tuples(st.floats(16.6, 17.2), st.floats(59.3, 59.7), st.floats(200.0, 8_000.0)),
        min_size=2,
        max_size=7,
    )
)
@settings(max_examples=40, deadline=None)
def test_detached_circles_equal_the_components_of_their_rims(
    circles: list[tuple[float, float, float]],
) -> None:
    """Territory.detached against connected components of the circles' rims (shapely).

    A circle reaches the territory iff its rim's interior meets a region's; two meet iff their
    rims intersect. Configurations within a metre of tangency are skipped (the rims are
    inscribed 720-gons, a few centimetres inside).
    """
    from hypothesis import assume

    from geotarget._authority import Territory

    finest = make_regions().region_set("municipality")
    territory = shapely.union_all([finest[c].geometry for c in finest.codes])
    edge = shapely.boundary(territory)
    rims = [_rim(*c) for c in circles]
    for rim in rims:
        assume(shapely.distance(rim.exterior, edge) > 2e-5)
    for i, a in enumerate(rims):
        for b in rims[i + 1 :]:
            assume(a.exterior.distance(b.exterior) > 2e-5 or a.intersects(b))
    home = [shapely.relate_pattern(rim, territory, "T********") for rim in rims]
    joined = {i for i, h in enumerate(home) if h}
    grew = True
    while grew:
        grew = False
        for i, rim in enumerate(rims):
            if i not in joined and any(rim.intersects(rims[j]) for j in joined):
                joined.add(i)
                grew = True
    want = [] if all(home) or not any(home) else sorted(set(range(len(rims))) - joined)
    area = Area([Circle(*c) for c in circles])
    assert Territory(finest).detached(area) == want


def test_an_update_arriving_before_its_original_starts_the_incident_of_the_original_s_sender() -> (
    None
):
    """An Update reaching the service before its Alert does not take the incident over.

    The national sender acts for county 01: its Update of county 01's Alert, arriving first,
    starts the incident as county 01's, so the Alert arriving later is superseded (not
    refused as another's) and county 01's own Cancel ends it. County 02's Update, which may
    not act for county 01 here, starts nothing (NOT_AUTHORISED, as it would be joining), and
    the Alert then starts the incident as usual. Regression: the incident took the sender of
    the Update that started it, and refused its real owner's Alert and Cancel.
    """
    acting = Issuers([
        Issuer(name="national", senders=[SENDER], kinds=ALL, regions=["XX"],
               acts_for=["county01"]),
        Issuer(name="county01", senders=[C01], kinds=POLICE, regions=["01"]),
        Issuer(name="county02", senders=[C02], kinds=POLICE, regions=["XX"]),
    ])  # fmt: skip
    later = T0 + dt.timedelta(minutes=5)
    first = by(make_alert("tip_request", IN_01), C01)
    update = make_alert("tip_request", IN_01, ident="u", msg_type=MessageType.UPDATE,
                        refs=(ref(first),), sent=T0 + dt.timedelta(minutes=1))  # fmt: skip
    cancel = by(make_alert("tip_request", IN_01, ident="x", msg_type=MessageType.CANCEL,
                           refs=(ref(first),), sent=T0 + dt.timedelta(minutes=2)), C01)  # fmt: skip
    t = targeter(acting)
    got = t.target(update, PositionIndex(DEVICES), later)
    assert got.verdict is Verdict.DELIVER and got.incident == f"{C01}/a1", got.reason
    started = t.ledger.incident(f"{C01}/a1")
    assert started is not None and started.version == f"{SENDER}/u"
    original = t.target(first, PositionIndex(DEVICES), later)
    assert original.verdict is Verdict.SUPERSEDED, original.reason
    stop = t.target(cancel, PositionIndex(DEVICES), later)
    assert stop.verdict is Verdict.CANCELLED and stop.retract.tolist() == ["d0"], stop.reason
    assert t.active_incidents == ()

    t = targeter(acting)
    foreign = by(update, C02)
    got = t.target(foreign, PositionIndex(DEVICES), later)
    assert got.verdict is Verdict.NOT_AUTHORISED and got.incident is None
    assert f"sender {C02!r} may not act for sender {C01!r}" in got.reason
    assert t.ledger.lookup_version(f"{C01}/a1") is None  # nothing was recorded
    original = t.target(first, PositionIndex(DEVICES), later)
    assert original.verdict is Verdict.DELIVER and original.recipients.tolist() == ["d0"]
