"""Hypothesis strategies for alerts: every CAP 1.2 field, awkward text, exact floats."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st
from strategies import kind_names

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
    Resource,
    ResponseType,
    Scope,
    Severity,
    Status,
    TipChannel,
    TipChannelKind,
    Urgency,
)
from geotarget.errors import InvalidInput

#: Characters XML 1.0 can carry, with the ones writers get wrong made likely.
_awkward = st.sampled_from(["\t", "\n", "\r", " ", "&", "<", ">", "]]>", '"', "'", "\x85", "\xa0"])
_chars = st.characters(exclude_categories=("Cs", "Cc", "Cn"))
text = st.lists(st.one_of(_chars, _awkward), max_size=12).map("".join)
#: Identifiers and senders: no whitespace, ',', '<' or '&'.
cap_id = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Cn", "Zs", "Zl", "Zp")).filter(
        lambda c: c not in ",<&" and not c.isspace()
    ),
    min_size=1,
    max_size=16,
)
#: Items of addresses and incidents: not blank, no double quote.
token_item = text.filter(lambda s: s.strip() != "" and '"' not in s)
languages = st.sampled_from(["sv-SE", "sv", "en", "en-US", "en-GB", "zh-mo", "de-DE", "fr"])
uris = st.from_regex(r"https?://[a-z]{1,10}\.se/[A-Za-z0-9_%&<>=?-]{0,12}", fullmatch=True)

#: Timezone-aware datetimes CAP can carry: whole seconds, whole-minute offsets.
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
cap_times = st.builds(
    lambda d, tz: d.replace(microsecond=0, tzinfo=tz),
    st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9995, 12, 30)),
    offsets,
)


@st.composite
def rings(draw: st.DrawFn) -> tuple[tuple[float, float], ...]:
    """A closed, simple (star-shaped) ring of 4 to 12 vertices with full-precision floats."""
    lon0 = draw(st.one_of(st.floats(-179.0, 179.0), st.just(0.0)))
    lat0 = draw(st.one_of(st.floats(-89.0, 89.0), st.just(0.0)))
    n = draw(st.integers(4, 12))
    jitter = draw(st.lists(st.floats(0.0, 0.8), min_size=n, max_size=n))
    radii = draw(st.lists(st.floats(1e-4, 0.5), min_size=n, max_size=n))
    pts = [
        (
            lon0 + r * math.cos((k + j) * 2 * math.pi / n),
            lat0 + r * math.sin((k + j) * 2 * math.pi / n),
        )
        for k, (j, r) in enumerate(zip(jitter, radii, strict=True))
    ]
    return (*pts, pts[0])


circles = st.tuples(
    st.floats(-180.0, 180.0),
    st.floats(-90.0, 90.0),
    st.one_of(st.just(0.0), st.floats(1e-3, 1e6)),
)
named_values = st.builds(NamedValue, text, text)
numbers = st.floats(-1e7, 1e7, allow_nan=False)


@st.composite
def alert_areas(draw: st.DrawFn) -> AlertArea:
    """A CAP area with 0-2 polygons and circles, geocodes and maybe altitude/ceiling."""
    altitude = draw(st.none() | numbers)
    return AlertArea(
        description=draw(text),
        polygons=draw(st.lists(rings(), max_size=2)),
        circles=draw(st.lists(circles, max_size=2)),
        geocodes=draw(st.lists(named_values, max_size=2)),
        altitude=altitude,
        ceiling=None if altitude is None else draw(st.none() | numbers),
    )


resources = st.builds(
    Resource,
    description=text,
    mime_type=text,
    size=st.none() | st.integers(0, 10**12),
    uri=st.none() | uris,
    deref_uri=st.none() | text,
    digest=st.none() | text,
)
tip_channels = st.sampled_from(
    [
        TipChannel(TipChannelKind.PHONE, "114 14"),
        TipChannel(TipChannelKind.PHONE, "+46 77-114 14 00"),
        TipChannel(TipChannelKind.WEB, "https://polisen.se/lagg-fram-tips"),
    ]
)


def _opt(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | s


@st.composite
def infos(draw: st.DrawFn, kind: str | None = None) -> Info:
    """An info block; it names ``kind`` in an event code when given."""
    effective = draw(_opt(cap_times))
    onset = draw(_opt(cap_times))
    starts = [t for t in (effective, onset) if t is not None]
    expires = None
    if draw(st.booleans()):
        # Usually after the starts; sometimes equal to or before them, which CAP allows.
        base = max(starts) if starts else draw(cap_times)
        expires = base + timedelta(seconds=draw(st.integers(-(10**6), 10**8)))
    codes = draw(st.lists(named_values, max_size=2))
    if kind is not None:
        codes.insert(draw(st.integers(0, len(codes))), NamedValue(KIND_CODE, kind))
    params = draw(st.lists(named_values, max_size=2))
    params += [c.parameter for c in draw(st.lists(tip_channels, max_size=2))]
    return Info(
        language=draw(languages),
        categories=draw(st.lists(st.sampled_from(Category), min_size=1, max_size=3)),
        event=draw(text),
        response_types=draw(st.lists(st.sampled_from(ResponseType), max_size=2)),
        urgency=draw(st.sampled_from(Urgency)),
        severity=draw(st.sampled_from(Severity)),
        certainty=draw(st.sampled_from(Certainty)),
        audience=draw(_opt(text)),
        event_codes=codes,
        effective=effective,
        onset=onset,
        expires=expires,
        sender_name=draw(_opt(text)),
        headline=draw(_opt(text)),
        description=draw(_opt(text)),
        instruction=draw(_opt(text)),
        web=draw(_opt(uris)),
        contact=draw(_opt(text)),
        parameters=params,
        resources=draw(st.lists(resources, max_size=1)),
        areas=draw(st.lists(alert_areas(), max_size=2)),
    )


references = st.builds(Reference, sender=cap_id, identifier=cap_id, sent=cap_times)


@st.composite
def alerts(draw: st.DrawFn) -> Alert:
    """An alert using every CAP 1.2 element, consistent with the model's rules."""
    kind = draw(st.none() | kind_names)
    msg_type = draw(st.sampled_from(MessageType))
    scope = draw(st.sampled_from(Scope))
    restriction = draw(text if scope is Scope.RESTRICTED else _opt(text))
    addresses = draw(st.lists(token_item, min_size=1 if scope is Scope.PRIVATE else 0, max_size=3))
    return Alert(
        identifier=draw(cap_id),
        sender=draw(cap_id),
        sent=draw(cap_times),
        status=draw(st.sampled_from(Status)),
        msg_type=msg_type,
        source=draw(_opt(text)),
        scope=scope,
        restriction=restriction,
        addresses=addresses,
        codes=draw(st.lists(text, max_size=2)),
        note=draw(_opt(text)),
        references=draw(
            st.lists(references, min_size=0 if msg_type is MessageType.ALERT else 1, max_size=3)
        ),
        incidents=draw(st.lists(token_item, max_size=3)),
        infos=draw(st.lists(infos(kind), max_size=3)),
    )


# --- extreme but valid values: the edges of every type the model accepts ------------------------

#: Degrees at the edges: the range ends, signed zeros, the smallest subnormal, 17-digit values.
_edge_lon = st.one_of(
    st.sampled_from([180.0, -180.0, 0.0, -0.0, 5e-324, -5e-324, 179.99999999999997, 1e-300]),
    st.floats(-180.0, 180.0),
)
_edge_lat = st.one_of(
    st.sampled_from([90.0, -90.0, 0.0, -0.0, 5e-324, -5e-324, 89.99999999999999, 1e-300]),
    st.floats(-90.0, 90.0),
)
#: Radii in metres: zero, subnormal, a millimetre fraction, the 1,000 km limit and just below.
_edge_radius = st.one_of(
    st.sampled_from([0.0, 5e-324, 1e-3, 0.1 + 0.2, 999_999.9999999999, 1_000_000.0]),
    st.floats(0.0, 1_000_000.0),
)
#: Altitudes in feet: huge, tiny, signed zero.
_edge_number = st.one_of(
    st.sampled_from([1e300, -1e300, 5e-324, -0.0, 0.0, 1.7976931348623157e308]),
    st.floats(allow_nan=False, allow_infinity=False),
)
#: The extreme instants the model keeps, with the extreme offsets.
_edge_times = st.builds(
    lambda d, m: d.replace(microsecond=0, tzinfo=timezone(timedelta(minutes=m))),
    st.sampled_from([datetime(1, 1, 3), datetime(9999, 12, 29, 23, 59, 59), datetime(2026, 1, 1)]),
    st.sampled_from([-14 * 60, 14 * 60, 0, -1, 1, 5 * 60 + 45]),
)
#: Text at the edges of XML 1.0: astral characters, NEL, LINE SEPARATOR, lone CR, markup.
_edge_text = st.lists(
    st.sampled_from(["\U0001f600", "\x85", "\u2028", "\r", "\r\n", " ", "&amp;", "]]>", "\ufffd"]),
    max_size=6,
).map("".join)


@st.composite
def extreme_rings(draw: st.DrawFn) -> tuple[tuple[float, float], ...]:
    """A ring at the edges: corners of the world, tiny or huge, sometimes over 32 points."""
    kind = draw(st.sampled_from(["world", "tiny", "many"]))
    if kind == "world":  # the whole lon/lat rectangle, corners exactly at the range ends
        pts = [(-180.0, -90.0), (180.0, -90.0), (180.0, 90.0), (-180.0, 90.0)]
    elif kind == "tiny":  # a micro-degree square at an awkward place
        lon, lat = draw(st.floats(-179.0, 179.0)), draw(st.floats(-89.0, 89.0))
        d = 1e-6
        pts = [(lon, lat), (lon + d, lat), (lon + d, lat + d), (lon, lat + d)]
    else:  # more than 32 points: the reader's vectorised path
        n = draw(st.integers(33, 60))
        lon0, lat0 = draw(st.floats(-170.0, 170.0)), draw(st.floats(-80.0, 80.0))
        pts = [
            (lon0 + 5 * math.cos(2 * math.pi * k / n), lat0 + 5 * math.sin(2 * math.pi * k / n))
            for k in range(n)
        ]
    return (*pts, pts[0])


@st.composite
def extreme_alerts(draw: st.DrawFn) -> Alert:
    """An alert built from extreme-but-valid values; candidates the model refuses are rejected.

    So a property over this strategy states exactly "for every alert the model accepts".
    """
    try:
        area = AlertArea(
            description=draw(_edge_text),
            polygons=draw(st.lists(extreme_rings(), max_size=2)),
            circles=draw(st.lists(st.tuples(_edge_lon, _edge_lat, _edge_radius), max_size=3)),
            altitude=draw(_edge_number),
            ceiling=draw(st.none() | _edge_number),
        )
        onset, expires = draw(_edge_times), draw(_edge_times)
        info = Info(
            language=draw(st.sampled_from(["abcdefgh-12345678-x", "en-US", "i"])),
            categories=list(Category),
            event=draw(_edge_text),
            urgency=Urgency.UNKNOWN,
            severity=Severity.UNKNOWN,
            certainty=Certainty.UNKNOWN,
            onset=onset,
            expires=expires,  # any order: CAP sets none
            web=draw(st.sampled_from(["", "https://x.se/", "a b"])),
            resources=[
                Resource(
                    description=draw(_edge_text),
                    mime_type="application/octet-stream",
                    size=draw(st.sampled_from([0, 10**30, None])),
                    uri=draw(st.sampled_from(["", "x", None])),
                    deref_uri=draw(st.none() | _edge_text),
                )
            ],
            areas=[area],
        )
        return Alert(
            identifier=draw(cap_id),
            sender=draw(st.sampled_from(["a", ">]]>", "\U0001f600@x"])),
            sent=draw(_edge_times),
            status=Status.ACTUAL,
            msg_type=MessageType.ALERT,
            scope=Scope.PUBLIC,
            note=draw(_edge_text),
            infos=[info],
        )
    except InvalidInput:
        reject()
