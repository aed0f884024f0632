"""Real alerts from real issuers (round 4): senders as producers write them, kinds, authority.

Inputs no earlier test used: a sender written as a ``mailto:`` URI or a URL with a trailing
slash, a wildcard where an operator expected "any sender", a circle straddling a county border
sent by the county's police. Oracles: plain Python string handling and shapely's relate test on
a geodesic rim computed with pyproj.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

import attrs
import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg

from geotarget import Circle, PositionIndex, Positions, pilot, sweden
from geotarget.alerts import Alert, Info, NamedValue
from geotarget.errors import InvalidPolicy
from geotarget.issuers import Issuer, Issuers
from geotarget.kinds import Recognition, RecognitionRule, Recognizer
from geotarget.targeting import Targeter, Verdict

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
GEOD = pyproj.Geod(ellps="WGS84")
MSG = pilot.Message(headline="Rubrik", description="Beskrivning", area_description="Område")
NATIONAL = "polisen@polisen.se"
STOCKHOLM = "stockholm@polisen.se"
SMHI = "https://www.smhi.se"


def _issuers() -> Issuers:
    return Issuers(
        [
            Issuer(
                name="polisen",
                senders=[NATIONAL],
                kinds=["explosion", "crime_modus", "tip_request"],
                regions=["SE"],
            ),
            Issuer(
                name="polisen-stockholm",
                senders=[STOCKHOLM],
                kinds=["crime_modus", "tip_request"],
                regions=["01"],
            ),
            Issuer(name="smhi", senders=[SMHI], kinds=["explosion"], regions=["SE"]),
        ]
    )


@pytest.fixture(scope="module")
def targeter() -> Targeter:
    return Targeter(
        sweden.hierarchy(), pilot.pilot_policy(), recognition=pilot.RECOGNITION, issuers=_issuers()
    )


def _index() -> PositionIndex:
    lon, lat = np.array([18.06, 17.64]), np.array([59.33, 59.86])
    return PositionIndex(Positions(["a", "b"], lon, lat, accuracy_m=np.ones(2), observed_at=T0))


def _alert(kind: str, sender: str, area: Circle, ident: str = "SE-POL-1") -> Alert:
    make = {"explosion": pilot.explosion, "crime_modus": pilot.crime_modus}[kind]
    return make(
        identifier=ident, sender=sender, sent=T0, area=area, sv=MSG, en=MSG, onset=T0,
        expires=T0 + dt.timedelta(hours=2),
    )  # fmt: skip


def _same_address(a: str, b: str) -> bool:
    """The oracle: the same address once case, a URI scheme and trailing '/' or '.' are cut."""

    def bare(s: str) -> str:
        s = s.lower()
        for scheme in ("mailto:", "https://", "http://"):
            if s.startswith(scheme):
                s = s[len(scheme) :]
        return s.rstrip("/.")

    return bare(a) == bare(b)


@pytest.mark.parametrize(
    ("sender", "listed"),
    [
        ("mailto:polisen@polisen.se", NATIONAL),
        ("MAILTO:Polisen@Polisen.se", NATIONAL),
        ("https://www.smhi.se/", SMHI),
        ("http://www.smhi.se", SMHI),
        ("www.smhi.se", SMHI),
    ],
)
def test_a_sender_written_as_another_form_of_a_listed_address_is_hinted(
    targeter: Targeter, sender: str, listed: str
) -> None:
    """Refused (senders compare exactly), and the reason names the listed sender meant."""
    assert _same_address(sender, listed) and sender != listed
    result = targeter.target(_alert("explosion", sender, Circle(18.06, 59.33, 500.0)), _index(), T0)
    assert result.verdict is Verdict.UNKNOWN_ISSUER and result.recipients.size == 0
    assert f"sender {sender!r} belongs to no issuer" in result.reason
    assert f"the policy lists {listed!r} of issuer" in result.reason
    # and a sender that is no form of a listed one gets no such hint
    other = targeter.target(
        _alert("explosion", "mailto:larm@sosalarm.se", Circle(18.06, 59.33, 500.0)), _index(), T0
    )
    assert other.verdict is Verdict.UNKNOWN_ISSUER and "the policy lists" not in other.reason


def test_a_rule_sender_in_another_form_of_an_issuer_sender_is_hinted_at_build() -> None:
    """A rule's sender no issuer has, but one issuer has in another form: the problem says so."""
    rules = Recognizer(
        [RecognitionRule(name="sos", kind="explosion", events=["Explosion"],
                         senders=["mailto:polisen@polisen.se"])]
    ) + pilot.RECOGNITION  # fmt: skip
    with pytest.raises(InvalidPolicy) as err:
        Targeter(sweden.hierarchy(), pilot.pilot_policy(), recognition=rules, issuers=_issuers())
    text = str(err.value)
    assert "recognition[0].senders" in text
    assert "'mailto:polisen@polisen.se' belongs to no issuer" in text
    assert f"the policy lists {NATIONAL!r} of issuer 'polisen'" in text


@pytest.mark.parametrize("wild", ["*", "*@polisen.se", "polisen@*", "https://*.smhi.se"])
def test_a_wildcard_sender_is_refused_in_a_policy_file_not_kept_as_a_never_matching_one(
    wild: str,
) -> None:
    """An operator writing '*' meant a pattern; senders compare exactly, so it is refused."""
    issuers = f"""
[[issuers]]
name = "polisen"
senders = ["{NATIONAL}", "{wild}"]
kinds = ["explosion"]
regions = ["SE"]
"""
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_toml(issuers)
    text = str(err.value)
    assert "issuers[0].senders" in text and f"senders[1] {wild!r}" in text
    assert "no wildcards" in text and 'issuers = "any"' in text
    rule = f"""
[[recognition]]
name = "sos"
kind = "explosion"
events = ["Explosion"]
senders = ["{wild}"]
"""
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_toml(rule)
    text = str(err.value)
    assert "recognition[0].senders" in text and repr(wild) in text
    assert "no wildcards" in text and "leave senders empty" in text
    # the same sender without the star stays a sender
    Issuer(name="p", senders=[wild.replace("*", "x")], kinds=["explosion"], regions=["SE"])


def _rim(lon: float, lat: float, radius_m: float, n: int = 720) -> sg.Polygon:
    az = np.linspace(0.0, 360.0, n, endpoint=False)
    x, y, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, radius_m))
    return sg.Polygon(zip(x, y, strict=True))


def test_a_county_polices_circle_straddling_its_county_names_each_municipality_outside() -> None:
    """Stockholm county police, a 15 km circle at Märsta reaching into Uppsala county.

    Oracle: shapely's relate (interiors meet) of a 720-point geodesic rim with the
    municipalities, those of county 01 taken away.
    """
    t = Targeter(
        sweden.hierarchy(), pilot.pilot_policy(), recognition=pilot.RECOGNITION, issuers=_issuers()
    )
    circle = Circle(17.85, 59.62, 15_000.0)
    result = t.target(_alert("crime_modus", STOCKHOLM, circle), _index(), T0)
    finest = sweden.hierarchy().region_set("municipality")
    rim = _rim(17.85, 59.62, 15_000.0)
    reached = {
        c for c in finest.codes if shapely.relate_pattern(rim, finest[c].geometry, "T********")
    }
    outside = sorted(c for c in reached if not c.startswith("01"))
    assert outside  # the scenario straddles the county border
    assert result.verdict is Verdict.NOT_AUTHORISED and result.recipients.size == 0
    assert (
        f"reaches {len(outside)} municipality region(s) outside the regions of issuer "
        f"'polisen-stockholm' (01): {', '.join(outside)};" in result.reason
    )
    # the national police may send the same alert
    national = t.target(_alert("crime_modus", NATIONAL, circle, ident="n"), _index(), T0)
    assert national.verdict is not Verdict.NOT_AUTHORISED


def test_a_rule_whose_sender_may_not_issue_its_kind_is_refused_at_build() -> None:
    """SMHI's sender in a rule naming explosion, SMHI's issuer not allowed it: a problem.

    Only SMHI's alerts meet such a rule, and each it recognises would be NOT_AUTHORISED; the
    table says so when the Targeter is built, naming the rule, the sender, the issuer and kind.
    """
    table = Issuers(
        [
            Issuer(name="polisen", senders=[NATIONAL], kinds=["explosion"], regions=["SE"]),
            Issuer(name="smhi", senders=[SMHI], kinds=["crime_modus"], regions=["SE"]),
        ]
    )
    rule = RecognitionRule(
        name="smhi:expl", kind="explosion", events=["Explosion"], senders=[SMHI, NATIONAL]
    )
    with pytest.raises(InvalidPolicy) as err:
        Targeter(
            sweden.hierarchy(),
            pilot.pilot_policy(),
            recognition=Recognizer([rule]) + pilot.RECOGNITION,
            issuers=table,
        )
    problems = [p for p in err.value.problems if p.path == "recognition[0].senders"]
    assert len(problems) == 1  # the national police's sender may issue it
    assert (
        f"{SMHI!r} is a sender of issuer 'smhi', which may not issue explosion (it may issue "
        "crime_modus): every alert rule 'smhi:expl' recognises from it is refused"
        in str(problems[0])
    )
    # allowed the kind, the same table builds
    ok = Issuers(
        [
            Issuer(name="polisen", senders=[NATIONAL], kinds=["explosion"], regions=["SE"]),
            Issuer(name="smhi", senders=[SMHI], kinds=["explosion"], regions=["SE"]),
        ]
    )
    Targeter(
        sweden.hierarchy(),
        pilot.pilot_policy(),
        recognition=Recognizer([rule]) + pilot.RECOGNITION,
        issuers=ok,
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("polisen@polisen.se", "Polisen@Polisen.SE"),
        ("polisen@polisen.se", "mailto:polisen@polisen.se"),
        ("https://www.smhi.se", "https://www.smhi.se/"),
        ("https://www.smhi.se", "http://WWW.SMHI.SE"),
    ],
)
def test_one_address_under_two_issuers_in_two_forms_is_refused(first: str, second: str) -> None:
    """Overlapping issuers: the national police and a county both 'own' one mailbox."""
    assert first != second and _same_address(first, second)
    toml = f"""
[[issuers]]
name = "polisen"
senders = ["{first}"]
kinds = ["explosion"]
regions = ["SE"]

[[issuers]]
name = "county"
senders = ["x@polisen.se", "{second}"]
kinds = ["tip_request"]
regions = ["01"]
"""
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_toml(toml)
    (problem,) = err.value.problems
    assert problem.path == "issuers[1].senders"
    assert f"sender {second!r} is {first!r} of issuer 'polisen' written in another form" in str(
        problem
    )
    # one issuer may list both forms: the address has one issuer all the same
    Issuers([Issuer(name="p", senders=[first, second], kinds=["explosion"], regions=["SE"])])
    # and distinct addresses under two issuers stay fine
    Issuers(
        [
            Issuer(name="p", senders=[first], kinds=["explosion"], regions=["SE"]),
            Issuer(name="q", senders=["other@polisen.se"], kinds=["explosion"], regions=["SE"]),
        ]
    )


@pytest.mark.parametrize("composed_rule", [True, False])
def test_an_event_code_value_name_composed_or_apart_is_the_same_name(composed_rule: bool) -> None:
    """SOS Alarm's 'händelsetyp': the file in one Unicode form, the document in the other."""
    name = "SOSAlarm:händelsetyp"
    nfc, nfd = unicodedata.normalize("NFC", name), unicodedata.normalize("NFD", name)
    rule_name, doc_name = (nfc, nfd) if composed_rule else (nfd, nfc)
    assert rule_name != doc_name and unicodedata.normalize("NFC", doc_name) == name
    rules = Recognizer.from_toml(
        f"""
[[recognition]]
name = "sos:expl"
kind = "explosion"
event_codes = [{{ value_name = "{rule_name}", value = "EXPL" }}]
"""
    )
    block = Info(
        language="sv-SE", categories=["Safety"], event="Larm", urgency="Immediate",
        severity="Severe", certainty="Observed", event_codes=[NamedValue(doc_name, "expl ")],
    )  # fmt: skip
    alert = Alert(
        identifier="SOS-1", sender="larm@sosalarm.se", status="Actual", msg_type="Alert",
        scope="Public", infos=[block], sent=T0,
    )  # fmt: skip
    assert rules.recognise(alert) == Recognition("explosion", "sos:expl")
    assert rules.block_kinds(alert) == ["explosion"]
    # a different name is still a different name
    other = attrs.evolve(block, event_codes=[NamedValue("SOSAlarm:handelsetyp", "EXPL")])
    assert rules.recognise(attrs.evolve(alert, infos=[other])) is None


def test_acts_for_naming_a_sender_instead_of_an_issuer_says_whose_sender_it_is() -> None:
    """The national police act for Stockholm: an operator writes the county's address."""
    toml = f"""
[[issuers]]
name = "polisen"
senders = ["{NATIONAL}"]
kinds = ["explosion", "tip_request"]
regions = ["SE"]
acts_for = ["{STOCKHOLM}"]

[[issuers]]
name = "polisen-stockholm"
senders = ["{STOCKHOLM}"]
kinds = ["tip_request"]
regions = ["01"]
"""
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_toml(toml)
    (problem,) = err.value.problems
    assert problem.path == "issuers[0].acts_for"
    assert problem.message == (
        f"{STOCKHOLM!r} names no issuer (it is a sender of issuer 'polisen-stockholm': acts_for "
        "lists issuers by name; issuers: polisen, polisen-stockholm)"
    )
    fixed = toml.replace(f'acts_for = ["{STOCKHOLM}"]', 'acts_for = ["polisen-stockholm"]')
    assert Issuers.from_toml(fixed).may_act_for(NATIONAL, STOCKHOLM)
