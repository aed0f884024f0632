"""CAP lifecycles as upstream issuers send them, probe 19: one chain in many byte forms and orders.

An Alert, two Updates (the second naming only the first, as feeds often write them) and a
Cancel naming only the last Update, each written the way a different upstream system writes
it (UTF-8, UTF-16 with a BOM and CRLF, the ``cap:`` prefix, comments and CDATA inside the
coordinates, a clockwise polygon), received as bytes in every order. The oracle: the fields read
back with :mod:`xml.etree.ElementTree`, the areas decided with pyproj's geodesic distances and
shapely, and the lifecycle's own promises (the chain ends cancelled whatever the order, everyone
told is retracted, ``preview()`` answers what ``target()`` then does). Then references that name
a live version in another case or form, and the cost of an area of many overlapping circles.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
import tracemalloc
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Geod
from targeting_helpers import T0, make_regions, policy

from geotarget import PositionIndex, Positions, Targeter, cap, pilot
from geotarget.alerts import Alert

S = "polisen@example.se"
UTC = dt.timezone.utc
GEOD = Geod(ellps="WGS84")
# Devices along lat 59.5 eastwards from the incident's centre (lon 17.5), and one far away.
LON = [17.5, 17.515, 17.53, 17.545, 17.556, 18.2]
LAT = [59.5, 59.5, 59.5, 59.5, 59.5, 59.5]


def _document(ident: str, msg_type: str, minute: int, refs: str, area: str) -> str:
    references = f"\n  <references>{refs}</references>" if refs else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{ident}</identifier>
  <sender>{S}</sender>
  <sent>2024-05-20T{12 + (minute + 120) // 60:02d}:{minute % 60:02d}:00+02:00</sent>
  <status>Actual</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>{references}
  <info>
    <language>sv-SE</language>
    <category>Safety</category>
    <event>Explosionsrisk</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <expires>2024-05-20T18:00:00+02:00</expires>
    <headline>Explosionsrisk</headline>
    <area>
      <areaDesc>Här</areaDesc>
      {area}
    </area>
  </info>
</alert>
"""


def _ref(ident: str, minute: int) -> str:
    return f"{S},{ident},2024-05-20T12:{minute:02d}:00-00:00"


# A box of lon 17.49..17.535 (lat 59.49..59.51), written clockwise.
_BOX = "59.49,17.49 59.51,17.49 59.51,17.535 59.49,17.535 59.49,17.49"

#: The chain: each message as bytes in the form of another upstream system, with its area as
#: the oracle reads it ("circle": lon, lat, metres; "polygon": lon/lat ring), or None.
CHAIN: dict[str, tuple[bytes, tuple[str, Any] | None]] = {
    # UTF-8, default namespace, a circle of 1 km.
    "A1": (
        _document("A1", "Alert", 0, "", "<circle>59.5,17.5 1</circle>").encode(),
        ("circle", (17.5, 59.5, 1000.0)),
    ),
    # UTF-16 with its BOM, CRLF line ends, the cap: prefix, a clockwise polygon.
    "U1": (
        re.sub(
            r"<(/?)(?!\?)(\w+)",
            r"<\1cap:\2",
            _document("U1", "Update", 1, _ref("A1", 0), f"<polygon>{_BOX}</polygon>"),
        )
        .replace('xmlns="', 'xmlns:cap="')
        .replace('encoding="UTF-8"', 'encoding="UTF-16"')
        .replace("\n", "\r\n")
        .encode("utf-16"),
        ("polygon", [(17.49, 59.49), (17.49, 59.51), (17.535, 59.51), (17.535, 59.49)]),
    ),
    # UTF-8 with a BOM, a comment and CDATA inside the circle, spaces and a newline around it.
    "U2": (
        b"\xef\xbb\xbf"
        + _document(
            "U2",
            "Update",
            2,
            _ref("U1", 1),
            "<circle>\n   59.5,17.5<!-- centre -->\t<![CDATA[3.2]]>\n   </circle>",
        ).encode(),
        ("circle", (17.5, 59.5, 3200.0)),
    ),
    # ISO-8859-1, naming only the last Update, a comment before the root.
    "C1": (
        _document("C1", "Cancel", 3, _ref("U2", 2), "")
        .replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
        .replace("?>\n<alert", "?>\n<!-- relayed -->\n<alert")
        .replace("\n    <area>\n      <areaDesc>Här</areaDesc>\n      \n    </area>", "")
        .encode("latin-1"),
        None,
    ),
}
AT = T0 + dt.timedelta(minutes=10)


def _etree_fields(data: bytes) -> dict[str, object]:
    """The fields the lifecycle depends on, as xml.etree reads the document."""
    root = ET.fromstring(data)

    def text(element: ET.Element, name: str) -> str | None:
        found = [c for c in element if c.tag.rpartition("}")[2] == name]
        return found[0].text if found else None

    refs = text(root, "references")
    return {
        "identifier": text(root, "identifier"),
        "sender": text(root, "sender"),
        "sent": dt.datetime.fromisoformat(str(text(root, "sent"))),
        "msgType": text(root, "msgType"),
        "references": []
        if refs is None
        else [
            (s, i, dt.datetime.fromisoformat(t.replace("-00:00", "+00:00")))
            for s, i, t in (item.split(",") for item in refs.split())
        ],
    }


def _covered(area: tuple[str, Any] | None) -> set[str]:
    """The devices inside ``area`` by pyproj's geodesic distance or shapely's covers."""
    if area is None:
        return set()
    shape, value = area
    if shape == "circle":
        lon, lat, radius = value
        _, _, dist = GEOD.inv([lon] * len(LON), [lat] * len(LAT), LON, LAT)
        inside = np.asarray(dist) <= radius
    else:
        ring = shapely.Polygon(value)
        inside = shapely.covers(ring, shapely.points(LON, LAT))
    return {f"d{i}" for i in np.flatnonzero(inside)}


def _targeter() -> Targeter:
    kinds = ("explosion", "crime_modus", "tip_request")
    rollout = policy({k: [(T0 - dt.timedelta(days=1), ("XX",))] for k in kinds})
    return Targeter(make_regions(), rollout, recognition=pilot.RECOGNITION)


def _index() -> PositionIndex:
    ids = [f"d{i}" for i in range(len(LON))]
    return PositionIndex(Positions(ids, LON, LAT, accuracy_m=[1.0] * len(LON), observed_at=AT))


@pytest.mark.parametrize("name", list(CHAIN))
def test_each_form_reads_as_etree_reads_it(name: str) -> None:
    """Each upstream form reads the identity, references and area the document holds."""
    data, area = CHAIN[name]
    alert = cap.loads(data)
    want = _etree_fields(data)
    assert (alert.identifier, alert.sender, alert.msg_type.value) == (
        want["identifier"],
        want["sender"],
        want["msgType"],
    )
    assert alert.sent == want["sent"]
    assert [(r.sender, r.identifier, r.sent) for r in alert.references] == want["references"]
    if area is None:
        assert alert.area is None
        return
    assert alert.area is not None
    got = set(
        np.array([f"d{i}" for i in range(len(LON))])[
            alert.area.contains(np.array(LON), np.array(LAT))
        ]
    )
    assert got == _covered(area)


def _told_and_retracted(order: tuple[str, ...]) -> tuple[dict[str, int], set[str], Targeter]:
    """Receive the chain in ``order``; check preview() against target() at each message."""
    t, index = _targeter(), _index()
    told: dict[str, int] = {}
    retracted: set[str] = set()
    for name in order:
        alert = cap.loads(CHAIN[name][0])
        before = t.preview(alert, index, AT)
        got = t.receive(CHAIN[name][0], index, AT)
        assert (got.verdict, got.reason, got.incident) == (
            before.verdict,
            before.reason,
            before.incident,
        )
        assert sorted(got.recipients.tolist()) == sorted(before.recipients.tolist())
        assert sorted(got.retract.tolist()) == sorted(before.retract.tolist())
        pushed = [got.claims] if got.claims is not None else []
        due = True
        while due:  # push and confirm, then take what is due (retractions of linked parts)
            for c in pushed:
                if c.kind.value == "retraction":
                    retracted.update(c.devices.tolist())
                else:
                    for device in c.devices.tolist():
                        told[device] = told.get(device, 0) + 1
                t.confirm(c.keys(), AT)
            pushed = t.redeliver(AT + dt.timedelta(hours=1))
            due = bool(pushed)
    return told, retracted, t


@pytest.mark.parametrize("order", list(itertools.permutations(CHAIN)), ids="-".join)
def test_chain_in_any_order_ends_cancelled_and_retracts_everyone_told(
    order: tuple[str, ...],
) -> None:
    """In every order the chain ends cancelled and everyone told hears the retraction.

    Only devices some version covers are told; arriving oldest first, each is told once.
    """
    told, retracted, t = _told_and_retracted(order)
    assert t.active_incidents == ()
    assert set(told) <= set().union(*(_covered(CHAIN[n][1]) for n in CHAIN))
    assert set(told) <= retracted
    if order == tuple(CHAIN):  # every message names the one before it: one chain throughout
        assert told == dict.fromkeys(sorted(_covered(CHAIN["U2"][1])), 1)


def _cancel(refs: str) -> bytes:
    return _document("C9", "Cancel", 5, refs, "<circle>59.5,17.5 1</circle>").encode()


@pytest.mark.parametrize(
    "refs",
    [
        _ref("A1", 0).replace(S, "Polisen@Example.se"),
        "mailto:" + _ref("U1", 1),
        _ref("u1", 1),
    ],
    ids=["sender-case", "mailto", "identifier-case"],
)
def test_cancel_naming_live_version_in_another_form_says_so(refs: str) -> None:
    """A Cancel naming a live version in another case or form says which it resembles.

    It ends nothing (CAP compares senders and identifiers exactly): the incident goes on.
    """
    t, index = _targeter(), _index()
    for name in ("A1", "U1"):
        t.receive(CHAIN[name][0], index, AT)
    alert = cap.loads(_cancel(refs))
    sender, ident, _ = refs.split(",")
    named = f"{sender}/{ident}"
    live = f"{S}/A1"
    before = t.preview(alert, index, AT)
    got = t.target(alert, index, AT)
    assert got.verdict.value == "UNKNOWN_REFERENCE"
    assert before.reason == got.reason
    assert f"but {named} resembles version " in got.reason
    assert f"of live incident {live}" in got.reason
    assert t.active_incidents == (live,)  # exact comparison: the incident goes on


def test_cancel_naming_unknown_message_gives_no_resemblance() -> None:
    """A Cancel naming a message nothing resembles says only that it is remembered."""
    t, index = _targeter(), _index()
    t.receive(CHAIN["A1"][0], index, AT)
    got = t.target(cap.loads(_cancel(_ref("B7", 0))), index, AT)
    assert got.verdict.value == "UNKNOWN_REFERENCE"
    assert "resembles" not in got.reason


def test_update_naming_live_version_in_another_case_says_so() -> None:
    """An Update naming ``u1`` while ``U1`` is live says which live version it resembles.

    It starts its own incident (devices told of A1 are told again), as the rule says.
    """
    t, index = _targeter(), _index()
    for name in ("A1", "U1"):
        t.receive(CHAIN[name][0], index, AT)
    data = _document("U7", "Update", 4, _ref("u1", 1), "<circle>59.5,17.5 1</circle>").encode()
    got = t.receive(data, index, AT)
    assert got.verdict.value == "DELIVER"
    assert got.incident == f"{S}/u1"
    assert f"but {S}/u1 resembles version {S}/U1 of live incident {S}/A1" in got.reason


def _overlapping(n: int, spread: float) -> Alert:
    rng = random.Random(19)
    circles = "".join(
        f"<circle>{59.5 + rng.uniform(-0.02, 0.02) * spread:.5f},"
        f"{17.5 + rng.uniform(-0.03, 0.03) * spread:.5f} {rng.uniform(0.1, 1):.3f}</circle>"
        for _ in range(n)
    )
    return cap.loads(_document("M1", "Alert", 0, "", circles))


def _peak_bytes(alert: Alert) -> int:
    area = alert.area
    assert area is not None
    tracemalloc.start()
    try:
        assert area.area_m2 > 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_area_of_many_overlapping_circles_costs_memory_linear_in_parts() -> None:
    """The area of 2,000 overlapping circles needs about the memory of 2,000 scattered ones.

    Give or take a factor of three: both are one CAP document of the same size. (Every pair
    of overlapping bounds was listed: 8,000 such circles, a 330 kB document, took 6.7 s and
    530 MB in ``Area.area_m2``, which ``target()`` reads for the blast-radius guard.)
    """
    dense = _peak_bytes(_overlapping(2000, 1.0))
    scattered = _peak_bytes(_overlapping(2000, 40.0))
    assert dense < 3 * scattered


@pytest.mark.parametrize("days", [0, 2])
def test_update_after_expiry_revives_or_says_why_not(days: int) -> None:
    """An Update sent after its incident expired revives it while kept, else says why not.

    Its own window is active either way: kept (keep_expired), the newly covered devices are
    told; once the incident is closed, it is refused and the reason says what to do.
    """
    t, index = _targeter(), _index()
    first = t.receive(CHAIN["A1"][0], index, AT)
    assert first.claims is not None
    t.confirm(first.claims.keys(), AT)
    later = dt.datetime(2024, 5, 20, 17, 0, tzinfo=UTC) + dt.timedelta(days=days)
    t.on_positions(Positions(["x"], [17.5], [59.5], observed_at=[later]), later)
    sent = later.isoformat().replace("+00:00", "-00:00")
    expires = (later + dt.timedelta(hours=2)).isoformat().replace("+00:00", "-00:00")
    data = (
        _document("U5", "Update", 0, _ref("A1", 0), "<circle>59.5,17.5 3.2</circle>")
        .replace("<sent>2024-05-20T14:00:00+02:00</sent>", f"<sent>{sent}</sent>")
        .replace("<expires>2024-05-20T18:00:00+02:00</expires>", f"<expires>{expires}</expires>")
        .encode()
    )
    got = t.receive(data, index, later)
    if days == 0:  # expired at 16:00 UTC, kept for a day: revived
        assert got.verdict.value == "DELIVER"
        newly = _covered(("circle", (17.5, 59.5, 3200.0))) - _covered(CHAIN["A1"][1])
        assert set(got.recipients.tolist()) == newly
    else:
        assert got.verdict.value == "EXPIRED"
        assert got.recipients.size == 0
        assert "was closed at " in got.reason
        assert "keep_expired" in got.reason
        assert "this Update of a closed incident is refused" in got.reason
        assert "send a new Alert" in got.reason
