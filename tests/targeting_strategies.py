r"""A small synthetic world and Hypothesis strategies for the end-to-end targeting oracle.

The world (no Swedish data): three municipalities and two counties under one country ``XX``::

    17.90      18.00      18.10  18.12      18.20   lon
      +----------+----------+ ~~ +-----\\  /--+  59.50
      |   0101   |   0102   | ~~ |      \\/   |        (0201 has a notch: vertex 18.16, 59.47)
      |          |          | ~~ |   0201    |
      +----------+----------+ ~~ +-----------+  59.40
      '----- county 01 -----' water '- county 02 -'

0101 and 0102 share the border lon = 18.00; a 1.1 km strip of "water" (in no region) lies between
0102 and 0201; everything outside is abroad. Points exactly on borders, on vertices, in the
water, within and beyond snap distances and on circle rims are drawn deliberately.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import attrs
import pyproj
import shapely
import shapely.geometry as sg
from hypothesis import strategies as st
from oracle_targeter import Device, Rules

from geotarget import Area, Circle, Polygon, alerts
from geotarget.alerts import Alert, MessageType, Reference, Scope, Status
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import KindRollout, Phase, RolloutPolicy

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
GEOD = pyproj.Geod(ellps="WGS84")
SENDER = "polisen@example.se"
OTHER_SENDER = "kbm@example.se"
INTRUDER = "intruder@example.se"

NOTCH = (18.16, 59.47)
MUNIS: dict[str, Any] = {
    "0101": sg.box(17.90, 59.40, 18.00, 59.50),
    "0102": sg.box(18.00, 59.40, 18.10, 59.50),
    "0201": sg.Polygon([(18.12, 59.40), (18.20, 59.40), (18.20, 59.50), NOTCH, (18.12, 59.50)]),
}
COUNTIES: dict[str, Any] = {"01": sg.box(17.90, 59.40, 18.10, 59.50), "02": MUNIS["0201"]}
PARENTS = {"0101": "01", "0102": "01", "0201": "02", "01": "XX", "02": "XX"}
#: For each finest code: itself and every code above it.
ABOVE = {c: frozenset({c, PARENTS[c], PARENTS[PARENTS[c]]}) for c in MUNIS}
POLICY_CODES = ["XX", "01", "02", "0101", "0102", "0201"]


def hierarchy() -> RegionHierarchy:
    """The world as a :class:`RegionHierarchy` (municipality → county → country)."""

    def rs(level: str, geoms: dict[str, Any]) -> RegionSet:
        return RegionSet(
            [Region(code=c, name=c, level=level, geometry=g) for c, g in geoms.items()]
        )

    country = shapely.union_all(list(COUNTIES.values()))
    return RegionHierarchy(
        [rs("municipality", MUNIS), rs("county", COUNTIES), rs("country", {"XX": country})],
        PARENTS,
    )


VERTICES = sorted({(float(x), float(y)) for g in MUNIS.values() for x, y in g.exterior.coords})
#: Points placed deliberately: vertices, shared borders, water, abroad, near borders.
SPECIAL_POINTS: list[tuple[float, float]] = [
    *VERTICES,
    (18.00, 59.45),  # the shared border 0101 | 0102
    (18.00, 59.4321),
    (18.14, 59.485),  # on the notch edge of 0201 (as floats make it)
    (17.95, 59.40),  # on the southern border of 0101
    (18.11, 59.45),  # mid-water: ~565 m from 0102 and 0201
    (18.1005, 59.45),  # water, ~28 m from 0102
    (18.119, 59.43),  # water, ~57 m from 0201
    (18.16, 59.48),  # in the notch (water above the notch vertex)
    (18.25, 59.45),  # abroad, east
    (17.85, 59.45),  # abroad, west
    (18.05, 59.502),  # abroad, 222 m north of 0102
    (18.05, 59.55),  # abroad, 5.5 km north
]


def rim(lon: float, lat: float, az: float, dist: float) -> tuple[float, float]:
    """The point ``dist`` metres from (lon, lat) at azimuth ``az`` (geodesic)."""
    x, y, _ = GEOD.fwd(lon, lat, az, dist)
    return float(x), float(y)


# --- areas -----------------------------------------------------------------------------------

_centres = st.one_of(
    st.sampled_from(SPECIAL_POINTS),
    st.tuples(st.floats(17.88, 18.22), st.floats(59.39, 59.51)),
)


@st.composite
def circles(draw: st.DrawFn) -> Circle:
    """Circles centred on special or random points, radius 50 m .. 4 km."""
    lon, lat = draw(_centres)
    radius = draw(st.sampled_from([100.0, 500.0, 1200.0, 3000.0]) | st.floats(50.0, 4000.0))
    return Circle(lon, lat, radius)


@st.composite
def polygons(draw: st.DrawFn) -> Polygon:
    """A region's own outline (shared vertices), a box or a triangle around a point."""
    choice = draw(st.sampled_from(["region", "box", "triangle"]))
    if choice == "region":
        return Polygon.from_shapely(MUNIS[draw(st.sampled_from(sorted(MUNIS)))])
    lon, lat = draw(_centres)
    dx = draw(st.floats(0.002, 0.05))
    dy = draw(st.floats(0.002, 0.03))
    if choice == "box":
        return Polygon([(lon - dx, lat - dy), (lon + dx, lat - dy), (lon + dx, lat + dy),
                        (lon - dx, lat + dy)])  # fmt: skip
    return Polygon([(lon - dx, lat - dy), (lon + dx, lat - dy), (lon, lat + dy)])


def areas() -> st.SearchStrategy[Area]:
    """One circle, one polygon, or a union of two parts."""
    part = circles() | polygons()
    return st.one_of(
        part.map(lambda p: Area([p])),
        st.tuples(part, part).map(lambda ps: Area(list(ps))),
    )


def area_points(area: Area, margins: Sequence[float]) -> list[tuple[float, float]]:
    """Points on circle rims (at each margin offset) and on polygon vertices and edges."""
    out: list[tuple[float, float]] = []
    for part in area.parts:
        if isinstance(part, Circle):
            out.append((part.lon, part.lat))
            for k, m in enumerate(margins):
                out.append(rim(part.lon, part.lat, 37.0 + 61.0 * k, part.radius_m + m))
            for k, f in enumerate((0.1, 0.3, 0.5, 0.6, 0.8, 0.9, 0.95)):
                out.append(rim(part.lon, part.lat, 11.0 + 97.0 * k, part.radius_m * f))
        else:
            ring = [(float(x), float(y)) for x, y in part.shape.exterior.coords][:-1]
            out.extend(ring)
            out.extend(((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in itertools.pairwise(ring))
            inner = part.shape.representative_point()
            out.extend([(inner.x, inner.y)] * 6)
    return out


# --- devices ---------------------------------------------------------------------------------

AGES = [
    dt.timedelta(0),
    dt.timedelta(0),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=1),  # exactly max_age: still fresh
    dt.timedelta(hours=1, seconds=1),
    dt.timedelta(hours=5),
    dt.timedelta(hours=24),  # exactly the stale bound
    dt.timedelta(hours=25),
    -dt.timedelta(minutes=2),  # clock skew: counts as current
]


# --- policies and rules -----------------------------------------------------------------------


@st.composite
def policies(draw: st.DrawFn, kinds: Sequence[str], *, canary: bool) -> RolloutPolicy:
    """One always-active phase per kind (some kinds not rolled out at all)."""
    rollouts = []
    for kind in kinds:
        if draw(st.integers(0, 9)) == 0:
            continue  # not rolled out: KIND_NOT_ENABLED
        regions = draw(
            st.sampled_from([{"XX"}, {"XX"}, {"01"}])
            | st.sets(st.sampled_from(POLICY_CODES), min_size=1, max_size=3)
        )
        pct = draw(st.sampled_from([100.0, 50.0, 10.0])) if canary else 100.0
        phase = Phase(
            starts_at=dt.datetime(2020, 1, 1, tzinfo=UTC), regions=regions, percentage=pct
        )
        rollouts.append(KindRollout(kind=kind, phases=[phase]))
    return RolloutPolicy(rollouts=rollouts, country="XX")


@st.composite
def kind_rules(draw: st.DrawFn, *, new_rules: bool) -> Rules:
    """Location rules; ``new_rules=False`` keeps to what ``main`` can express."""
    stale = None
    if new_rules and draw(st.booleans()):
        stale = (draw(st.sampled_from([dt.timedelta(hours=1), dt.timedelta(hours=24)])),
                 draw(st.sampled_from([0.0, 250.0, 1000.0])))  # fmt: skip
    return Rules(
        max_age=draw(st.sampled_from([dt.timedelta(hours=1), dt.timedelta(minutes=10)])),
        accuracy=draw(st.sampled_from([1.0, 1.0, 2.0, 0.0])),
        include_ambiguous=draw(st.booleans()),
        stale=stale,
        include_no_fix=new_rules and draw(st.booleans()),
        beyond_border=new_rules and draw(st.booleans()),
    )


# --- messages ---------------------------------------------------------------------------------

_TEXT = alerts.Message(headline="Varning", description="Undvik området.", area_description="Här")
_BUILD = {
    "explosion": alerts.explosion,
    "crime_modus": alerts.crime_modus,
}


@dataclass(frozen=True)
class Version:
    """A message recipe (readable when Hypothesis shrinks) and the Alert it builds."""

    identifier: str
    sender: str
    sent_min: int
    status: Status
    msg_type: MessageType
    kind: str
    area: Area
    onset_delay_min: int
    duration_min: int
    references: tuple[tuple[str, str, int], ...] = ()
    scope: Scope = Scope.PUBLIC

    def build(self) -> Alert:
        """The Alert (same recipe → equal Alert)."""
        sent = T0 + dt.timedelta(minutes=self.sent_min)
        onset = sent + dt.timedelta(minutes=self.onset_delay_min)
        alert: Alert = _BUILD[self.kind](
            identifier=self.identifier,
            sender=self.sender,
            sent=sent,
            area=self.area,
            sv=_TEXT,
            en=_TEXT,
            onset=onset,
            expires=onset + dt.timedelta(minutes=self.duration_min),
            status=self.status,
            msg_type=self.msg_type,
            references=[
                Reference(sender=s, identifier=i, sent=T0 + dt.timedelta(minutes=m))
                for s, i, m in self.references
            ],
        )
        if self.scope is Scope.RESTRICTED:
            alert = attrs.evolve(alert, scope=self.scope, restriction="operators only")
        elif self.scope is Scope.PRIVATE:
            alert = attrs.evolve(alert, scope=self.scope, addresses=("ops@example.se",))
        return alert

    @property
    def ref(self) -> tuple[str, str, int]:
        """The version as a reference triple."""
        return (self.sender, self.identifier, self.sent_min)


def grown(area: Area, factor: float) -> Area:
    """The same area with circles scaled by ``factor`` and polygons shifted: different content."""
    parts: list[Circle | Polygon] = []
    for p in area.parts:
        if isinstance(p, Circle):
            parts.append(Circle(p.lon, p.lat, min(p.radius_m * factor, 6000.0)))
        else:
            shifted = shapely.affinity.translate(p.shape, xoff=0.003 * (factor - 1.0) + 0.001)
            parts.append(Polygon.from_shapely(shifted))
    return Area(parts)


# --- scenarios --------------------------------------------------------------------------------

Row = tuple[int, bool, float, float, float, dt.datetime, bool]


@dataclass(frozen=True)
class Step:
    """One call: ``target`` a message, or ``on_positions`` a batch, at ``at``."""

    at: dt.datetime
    rows: tuple[Row, ...]
    as_text: bool
    message: Version | None = None  # None: an on_positions batch


@dataclass(frozen=True)
class Scenario:
    """Everything one example runs: the policy, per-kind rules, snap_m and the steps."""

    policy: RolloutPolicy
    rules: dict[str, Rules]
    snap_m: float
    steps: tuple[Step, ...]


def devices_of(step: Step) -> list[Device]:
    """The oracle devices of a step: int ids, or str ids (``"0<k>"`` rows only then)."""
    out = []
    for i, zero, lon, lat, acc, obs, tester in step.rows:
        if zero and not step.as_text:
            continue
        ident: int | str = (("0" if zero else "") + str(i)) if step.as_text else i
        out.append(Device(ident, lon, lat, acc, obs, tester))
    return out


@st.composite
def rows_at(
    draw: st.DrawFn, points: Sequence[tuple[float, float]], at: dt.datetime
) -> tuple[Row, ...]:
    """A batch over a pool of 8 devices (plus ``"0<k>"`` twins in text mode)."""
    ids = draw(st.lists(st.integers(1, 8), min_size=4, max_size=8, unique=True))
    keys = [(i, False) for i in ids] + [(i, True) for i in ids if draw(st.integers(0, 3)) == 0]
    out = []
    for i, zero in keys:
        where = draw(st.sampled_from(["special", "area", "area", "area", "random", "nofix"]))
        if where == "nofix":
            lon = lat = math.nan
        elif where == "area" and points:
            lon, lat = draw(st.sampled_from(list(points)))
        elif where == "special":
            lon, lat = draw(st.sampled_from(SPECIAL_POINTS))
        else:
            lon, lat = draw(st.floats(17.86, 18.24)), draw(st.floats(59.38, 59.52))
        acc = draw(st.sampled_from([0.0, 0.0, 0.0, 5.0, 50.0, 300.0, 1500.0]))
        age = draw(st.sampled_from(AGES[:4]) | st.sampled_from(AGES))
        out.append((i, zero, lon, lat, acc, at - age, draw(st.booleans())))
    return tuple(out)


_PUBLIC = st.sampled_from([Status.ACTUAL, Status.ACTUAL, Status.TEST, Status.EXERCISE])
_KINDS = ["explosion", "crime_modus"]


@st.composite
def _chain(draw: st.DrawFn, c: int, sents: list[int]) -> list[Version]:
    """One incident's versions in issue order.

    An Alert, Updates (each referencing every earlier version) and maybe a Cancel (referencing
    all, the latest or the first).
    """
    sender = draw(st.sampled_from([SENDER, OTHER_SENDER]))
    status = draw(_PUBLIC)
    kind = draw(st.sampled_from(_KINDS))
    n = draw(st.integers(1, 3))
    cancel = draw(st.booleans())
    out: list[Version] = []
    area = draw(areas())
    for k in range(n):
        if k:
            area = draw(st.just(grown(area, 1.5)) | areas())
        out.append(
            Version(
                identifier=f"I{c}V{k}",
                sender=sender,
                sent_min=sents[k],
                status=status,
                msg_type=MessageType.ALERT if k == 0 else MessageType.UPDATE,
                kind=kind,
                area=area,
                onset_delay_min=draw(st.sampled_from([0, 0, 0, 30])),
                duration_min=draw(st.sampled_from([25, 240, 240])),
                references=tuple(v.ref for v in out),
            )
        )
    if cancel:
        which = draw(st.sampled_from(["all", "last", "first"]))
        refs = {"all": out, "last": out[-1:], "first": out[:1]}[which]
        out.append(
            Version(
                identifier=f"I{c}C",
                sender=sender,
                sent_min=sents[n],
                status=status,
                msg_type=MessageType.CANCEL,
                kind=kind,
                area=area,
                onset_delay_min=0,
                duration_min=180,
                references=tuple(v.ref for v in refs),
            )
        )
    return out


@st.composite
def scenarios(draw: st.DrawFn, *, lifecycle: bool, new_rules: bool) -> Scenario:
    """A policy, rules, snap distance and a sequence of target / on_positions steps.

    ``lifecycle=False``: independent Alerts (Actual/Test/Exercise) with unique ids, and
    position batches. ``lifecycle=True``: one or two incidents whose versions arrive shuffled,
    some missing, with re-submissions (same content), re-used ids (different content),
    unauthorised Updates, Drafts, System messages, Acks and Errors mixed in.
    """
    canary = draw(st.booleans())
    policy = draw(policies(_KINDS, canary=canary))
    rules = {k: draw(kind_rules(new_rules=new_rules)) for k in _KINDS}
    snap = draw(st.sampled_from([0.0, 0.0, 100.0, 500.0, 2000.0]))
    sents = sorted(draw(st.lists(st.integers(-40, 80), min_size=12, max_size=12, unique=True)))
    order: list[Version] = []
    if not lifecycle:
        for i in range(draw(st.integers(1, 4))):
            order.append(
                Version(
                    identifier=f"A{i}",
                    sender=draw(st.sampled_from([SENDER, OTHER_SENDER])),
                    sent_min=sents[i],
                    status=draw(_PUBLIC),
                    msg_type=MessageType.ALERT,
                    kind=draw(st.sampled_from(_KINDS)),
                    area=draw(areas()),
                    onset_delay_min=draw(st.sampled_from([0, 0, 0, 30])),
                    duration_min=draw(st.sampled_from([25, 240, 240])),
                )
            )
    else:
        chains = [draw(_chain(c, sents[c * 5 : c * 5 + 5])) for c in range(draw(st.integers(1, 2)))]
        for chain in chains:
            kept = [v for v in draw(st.permutations(chain)) if draw(st.integers(0, 5))]
            order.extend(kept or chain[:1])
        order = draw(st.permutations(order)) if len(chains) > 1 else order
        for extra in range(1, draw(st.integers(0, 4)) + 1):
            chained = [k for k, v in enumerate(order) if v.identifier.startswith("I")]
            if not chained:
                break
            pos = draw(st.sampled_from(chained))
            base = order[pos]
            what = draw(
                st.sampled_from(
                    ["resubmit", "reuse", "intruder", "draft", "ack", "restricted", "joint"]
                )
            )
            # A Cancel naming a version of each chain, after both (as sender of this one).
            elsewhere = [k for k in chained if order[k].identifier[:2] != base.identifier[:2]]
            if what == "joint" and not elsewhere:
                what = "resubmit"
            if what == "joint":
                mate = order[draw(st.sampled_from(elsewhere))]
                refs = (base.ref, mate.ref) if draw(st.booleans()) else (mate.ref, base.ref)
                new = Version(**{**base.__dict__, "identifier": f"J{extra}",
                                 "msg_type": MessageType.CANCEL, "references": refs,
                                 "sent_min": max(base.sent_min, mate.sent_min) + 1})  # fmt: skip
                pos = max(pos, order.index(mate))
            elif what == "resubmit":
                new = base
            elif what == "reuse":
                new = Version(**{**base.__dict__, "area": grown(base.area, 1.7)})
            elif what == "intruder":
                other = draw(
                    st.sampled_from([s for s in (Status.ACTUAL, Status.TEST) if s != base.status])
                )
                stranger = draw(st.booleans())
                new = Version(**{**base.__dict__, "identifier": f"X{extra}",
                                 "sender": INTRUDER if stranger else base.sender,
                                 "status": base.status if stranger else other,
                                 "msg_type": draw(st.sampled_from([MessageType.UPDATE, MessageType.CANCEL])),
                                 "sent_min": base.sent_min + 1, "references": (base.ref,)})  # fmt: skip
            elif what == "draft":
                new = Version(**{**base.__dict__, "identifier": f"D{extra}", "references": (),
                                 "msg_type": MessageType.ALERT,
                                 "status": draw(st.sampled_from([Status.DRAFT, Status.SYSTEM]))})  # fmt: skip
            elif what == "restricted":  # CAP scope Restricted/Private: not for the public
                kind = draw(
                    st.sampled_from([MessageType.ALERT, MessageType.UPDATE, MessageType.CANCEL])
                )
                new = Version(**{**base.__dict__, "identifier": f"P{extra}", "msg_type": kind,
                                 "scope": draw(st.sampled_from([Scope.RESTRICTED, Scope.PRIVATE])),
                                 "sent_min": base.sent_min + 1,
                                 "references": () if kind is MessageType.ALERT else (base.ref,)})  # fmt: skip
            else:
                new = Version(**{**base.__dict__, "identifier": f"K{extra}", "status": Status.ACTUAL,
                                 "msg_type": draw(st.sampled_from([MessageType.ACK, MessageType.ERROR])),
                                 "references": (base.ref,)})  # fmt: skip
            order.insert(draw(st.integers(pos + 1, len(order))), new)
    points: list[tuple[float, float]] = []
    margins = [0.0, 0.5, -0.5, 5.0, -5.0, 50.0, -50.0, 250.0, 1000.0, 1000.5]
    for v in order:
        points.extend(area_points(v.area, margins))
    steps: list[Step] = []
    at = T0 + dt.timedelta(minutes=draw(st.integers(-10, 40)))
    as_text = draw(st.booleans())
    for v in order:
        for message in [v, None] if draw(st.integers(0, 3)) == 0 else [v]:
            if not canary:
                as_text = draw(st.booleans())
            steps.append(Step(at, draw(rows_at(points, at)), as_text, message))
            at += dt.timedelta(minutes=draw(st.sampled_from([0, 1, 5, 20])))
    return Scenario(policy, rules, snap, tuple(steps))
