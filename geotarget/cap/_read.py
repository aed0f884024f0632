r"""Private: turn a parsed CAP element tree into an :class:`~geotarget.alerts.Alert`.

The reader refuses exactly what CAP 1.2 refuses: the CAP-v1.2.xsd content model (element
order and cardinality, enumerations, the lexical spaces of xs:dateTime, xs:decimal,
xs:integer, xs:language and xs:anyURI) and the normative rules (MUST, SHALL, REQUIRED) of the
CAP 1.2 specification (OASIS Standard, 1 July 2010) the schema cannot express; each such rule
is cited by section where it is checked. Everything else worth knowing is a *warning*, with
its path. Every problem is collected; in lenient mode what is safe is repaired and each repair
recorded.

Numbers and date-times are read from ASCII digits only, as the schema's types require (Python's
``int``/``float`` and regular-expression ``\d`` would accept Arabic-Indic or full-width digits),
and whitespace is XML whitespace only (space, tab, CR, LF), as XML Schema collapses it.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import hashlib
import math
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Context, Decimal, InvalidOperation, localcontext
from typing import Any, TypeVar

import attrs
import numpy as np

from geotarget.alerts import (
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
    Urgency,
)
from geotarget.alerts._budget import PolygonBudget, one_document
from geotarget.alerts._values import (
    KIND_CODE,
    MAX_RESOURCE_SIZE,
    check_cap_id,
    check_time,
    is_kind_code,
    is_language,
    kind_name,
    options,
    refuse_emergency_number,
    tip_parameter_kind,
)
from geotarget.areas import long_way_edges
from geotarget.cap._xml import Node, cut
from geotarget.errors import GeotargetError, Problem

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
CAP11 = "urn:oasis:names:tc:emergency:cap:1.1"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
#: What the namespaces of the CAP versions share, and the versions geotarget does not read.
_CAP_URN = "urn:oasis:names:tc:emergency:cap:"
_OTHER_VERSIONS = {"http://www.incident.com/cap/1.0": "1.0"}
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_NS = "http://www.w3.org/XML/1998/namespace"  # the xml: prefix (xml:lang, xml:space)
XHTML = "http://www.w3.org/1999/xhtml"
#: An ``xsi:nil`` attribute as the parser names it (namespace, space, local name).
_NIL = f"{XSI} nil"

Envelope = tuple[float, float, float, float]
Schema = tuple[tuple[str, int, int | None], ...]  # (element, min, max or None = unbounded)

ALERT: Schema = (
    ("identifier", 1, 1), ("sender", 1, 1), ("sent", 1, 1), ("status", 1, 1),
    ("msgType", 1, 1), ("source", 0, 1), ("scope", 1, 1), ("restriction", 0, 1),
    ("addresses", 0, 1), ("code", 0, None), ("note", 0, 1), ("references", 0, 1),
    ("incidents", 0, 1), ("info", 0, None),
)  # fmt: skip
INFO: Schema = (
    ("language", 0, 1), ("category", 1, None), ("event", 1, 1), ("responseType", 0, None),
    ("urgency", 1, 1), ("severity", 1, 1), ("certainty", 1, 1), ("audience", 0, 1),
    ("eventCode", 0, None), ("effective", 0, 1), ("onset", 0, 1), ("expires", 0, 1),
    ("senderName", 0, 1), ("headline", 0, 1), ("description", 0, 1), ("instruction", 0, 1),
    ("web", 0, 1), ("contact", 0, 1), ("parameter", 0, None), ("resource", 0, None),
    ("area", 0, None),
)  # fmt: skip
RESOURCE: Schema = (
    ("resourceDesc", 1, 1), ("mimeType", 1, 1), ("size", 0, 1), ("uri", 0, 1),
    ("derefUri", 0, 1), ("digest", 0, 1),
)  # fmt: skip
#: CAP 1.1's <resource>, whose <mimeType> is optional (CAP 1.2 made it required).
RESOURCE_11: Schema = tuple((n, 0 if n == "mimeType" else low, high) for n, low, high in RESOURCE)
#: What a CAP 1.1 resource without <mimeType> is read as: RFC 2046 §4.5.1's type of data of
#: no known type, which says no more than the document did.
UNKNOWN_MIME_TYPE = "application/octet-stream"
AREA: Schema = (
    ("areaDesc", 1, 1), ("polygon", 0, None), ("circle", 0, None), ("geocode", 0, None),
    ("altitude", 0, 1), ("ceiling", 0, 1),
)  # fmt: skip
PAIR: Schema = (("valueName", 1, 1), ("value", 1, 1))

# ASCII digits only: [0-9], never \d (which matches every Unicode decimal digit).
_NUM = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"  # xs:decimal's lexical space
_DECIMAL = re.compile(_NUM + r"\Z")
_INTEGER = re.compile(r"[+-]?[0-9]+\Z")  # xs:integer's lexical space
_PAIR = re.compile(rf"({_NUM}),({_NUM})\Z")
_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})([+-])([0-9]{2}):([0-9]{2})\Z"
)
_TIME_LOOSE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?\Z"
)
_QUOTED = re.compile(r'"([^"]*)"|([^ \t\r\n]+)')
#: XML whitespace (XML 1.0 production S): what XML Schema's whiteSpace facets collapse.
XML_SPACE = " \t\r\n"
_XML_SPACES = re.compile("[ \t\r\n]+")
#: The C1 control characters (XML 1.0 §2.2 discourages them): windows-1252's letters and
#: signs at bytes 0x80-0x9F, read as ISO-8859-1.
_C1 = re.compile("[\x80-\x9f]")

E = TypeVar("E")
#: How many unexpected attributes of one element a problem names (the rest are counted).
_NAMED_ATTRIBUTES = 5
M = TypeVar("M", bound=enum.Enum)


_SPACED_PAIR = re.compile(r"\d,[ \t\r\n]+[-+.\d]")
#: A space before the comma of a point (``59.33 ,18.06``, ``59.33 , 18.06``).
_SPACED_COMMA = re.compile(r"[\d.][ \t\r\n]+,")
#: A point written with decimal commas (``59,33,18,06``): four numbers joined by commas.
_DECIMAL_COMMAS = re.compile(r"[+-]?\d+,\d+,[+-]?\d+,\d+")
#: A number with an exponent (``5.9e1``, ``1E-3``), which xs:decimal does not allow.
_EXPONENT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)[eE][+-]?\d+")
#: The tokens, and their length, that the hints about numbers look at (a hint, not a check).
_HINTED_TOKENS, _HINTED_LENGTH = 1_000, 64
_COMMA_HINT = (
    "; CAP writes decimal numbers with a point ('59.33,18.06'): a comma only separates lat from lon"
)


#: A point as WKT writes one: ``lon lat``, the numbers separated by whitespace.
_WKT_POINT = re.compile(rf"[ \t\r\n]*{_NUM}[ \t\r\n]+{_NUM}[ \t\r\n]*")
#: WKT's polygon wrapper, ``POLYGON((...))`` (or the bare parentheses), around its points.
_WKT_WRAPPER = re.compile(r"(?:[A-Za-z]+[ \t\r\n]*)?\(+([^()]*)\)+")
#: Six numbers or more joined by commas only (``lat,lon,lat,lon,lat,lon...``).
_COMMA_JOINED = re.compile(rf"{_NUM}(?:,{_NUM}){{5,}}")


#: A GeoJSON position (or Leaflet's ``[lat, lng]``): two numbers, maybe an altitude, in brackets.
_BRACKETED = re.compile(
    rf"\[[ \t\r\n]*({_NUM})[ \t\r\n]*,[ \t\r\n]*({_NUM})[ \t\r\n]*"
    rf"(?:,[ \t\r\n]*{_NUM}[ \t\r\n]*)?\]"
)


def _axis_order(pairs: list[tuple[str, str]], envelope: Envelope | None) -> str:
    """Which number of each pair is the longitude: ``"lon lat"``, ``"lat lon"``, or not told.

    Told by the numbers alone when one order puts a latitude past ±90 and the other does not
    (a longitude past ±90 comes first or second), else by the service ``envelope`` when one
    order puts every point inside it and the other does not. ``"either"`` when each order
    reads as places and nothing tells them apart; ``""`` when neither does.
    """
    try:
        xy = [(float(a), float(b)) for a, b in pairs[:_HINTED_TOKENS]]
    except ValueError:  # (the tokens match xs:decimal: not reached)
        return ""
    if not xy:
        return ""

    def fits(lons: list[float], lats: list[float]) -> bool:
        return all(abs(o) <= 180.0 for o in lons) and all(abs(a) <= 90.0 for a in lats)

    xs, ys = [x for x, _ in xy], [y for _, y in xy]
    lon_first, lat_first = fits(xs, ys), fits(ys, xs)
    if lon_first != lat_first:
        return "lon lat" if lon_first else "lat lon"
    if not lon_first:
        return ""
    if envelope is None:
        return "either"
    west, south, east, north = envelope

    def inside(lons: list[float], lats: list[float]) -> bool:
        return all(
            west <= o <= east and south <= a <= north for o, a in zip(lons, lats, strict=True)
        )

    lon_first, lat_first = inside(xs, ys), inside(ys, xs)
    if lon_first != lat_first:
        return "lon lat" if lon_first else "lat lon"
    return "either"


#: What a hint says of pairs whose order neither their numbers nor the envelope tell.
_UNTOLD = (
    "each pair reads as a place either way round, so which number is the latitude cannot be "
    "told from them: check it"
)


def _format_hint(text: str, envelope: Envelope | None = None) -> str:
    """A hint for points written in another format's form (WKT, GeoJSON, commas), or ``""``.

    GIS tools export a ring as WKT (``POLYGON((18.06 59.33, 18.07 59.33, ...))``: ``lon lat``
    pairs separated by commas) or GeoJSON (``[[18.06,59.33], ...]``), web maps as Leaflet's
    ``[lat, lng]`` arrays, and some writers join every number with commas
    (``59.33,18.06,59.33,18.07...``). CAP writes ``lat,lon`` pairs separated by whitespace
    (CAP 1.2 §3.2.4, §3.3.1); each form is named rather than read as separators misplaced,
    and so is its axis order, but only as far as the numbers (or the service ``envelope``)
    tell it (:func:`_axis_order`): a hint that called ``lat lon`` pairs ``lon lat`` would have
    the sender swap them into a place elsewhere.
    """
    body = text.strip(XML_SPACE)
    head = body[: 64 * _HINTED_TOKENS]
    if body.startswith("["):
        order = _axis_order(_BRACKETED.findall(head), envelope)
        if order == "lat lon":
            return (
                "; the points are written as [lat, lon] arrays (as Leaflet writes them, not "
                "GeoJSON's [lon, lat]: the longitudes come second here): CAP writes each point "
                "'lat,lon', without brackets, and separates points by whitespace (CAP 1.2 "
                "§3.3.1)"
            )
        untold = f" (or Leaflet's [lat, lng]? {_UNTOLD})" if order == "either" else ""
        return (
            f"; that is GeoJSON's form, [lon, lat] arrays{untold}: CAP writes each point "
            "'lat,lon', latitude first, and separates points by whitespace (CAP 1.2 §3.3.1)"
        )
    wrapped = _WKT_WRAPPER.fullmatch(body) if len(body) <= 64 * _HINTED_TOKENS else None
    inner = body if wrapped is None else wrapped.group(1)
    items = inner.split(",", maxsplit=_HINTED_TOKENS)[:_HINTED_TOKENS]
    if len(items) >= 2 and all(
        len(item) <= 2 * _HINTED_LENGTH and _WKT_POINT.fullmatch(item) for item in items
    ):
        order = _axis_order([(a, b) for a, b in (item.split() for item in items)], envelope)
        if order == "lat lon":
            return (
                "; the points are written 'lat lon', separated by commas (the longitudes come "
                "second here): CAP writes each point 'lat,lon', with a comma inside and no "
                "space, and separates points by whitespace (CAP 1.2 §3.2.4, §3.3.1)"
            )
        untold = f", unless they are 'lat lon' ({_UNTOLD})" if order == "either" else ""
        return (
            "; the points look written as WKT writes them, 'lon lat' separated by commas"
            f"{untold}: CAP writes each point 'lat,lon', latitude first with a comma inside, "
            "and separates points by whitespace (CAP 1.2 §3.2.4, §3.3.1)"
        )
    tokens = body.split(maxsplit=1)
    if (
        len(tokens) == 1
        and len(body) <= 64 * _HINTED_TOKENS
        and _COMMA_JOINED.fullmatch(body)
        and body.count(",") % 2
    ):
        return (
            "; the points are joined by commas: CAP separates points by whitespace, a comma "
            "only between a point's lat and lon ('59.33,18.06 59.33,18.07 ...')"
        )
    return ""


def _separator_hint(text: str, envelope: Envelope | None = None) -> str:
    """A hint for the separators and numbers hand-written coordinates get wrong, or ``""``.

    ``59.33, 18.06`` or ``59.33 ,18.06`` (a space beside the comma splits one point in two),
    ``;`` or ``|`` between points (CAP separates points by whitespace only), decimal commas
    (``59,33,18,06``) and exponents (``5.9e1``; CAP 1.2 §3.3.1 writes decimal degrees as
    xs:decimal numbers, which have none).
    """
    other = _format_hint(text, envelope)
    if other:
        return other
    spaced = (
        "after" if _SPACED_PAIR.search(text) else "before" if _SPACED_COMMA.search(text) else ""
    )
    if spaced:
        return (
            f"; a space {spaced} a comma splits a point in two: CAP writes each point 'lat,lon' "
            "with no space inside, and separates points by whitespace"
        )
    if ";" in text or "|" in text:
        return "; CAP separates points by whitespace (spaces, tabs or newlines), not ';' or '|'"
    split = text.split(maxsplit=_HINTED_TOKENS)[:_HINTED_TOKENS]
    tokens = [t for t in split if len(t) <= _HINTED_LENGTH]
    if any(_DECIMAL_COMMAS.fullmatch(t) for t in tokens):
        return _COMMA_HINT
    number = next((n for t in tokens for n in t.split(",") if _EXPONENT.fullmatch(n)), None)
    if number is not None:
        plain = _without_exponent(number)
        return "; CAP writes decimal numbers without an exponent (xs:decimal): " + (
            f"write {plain}, not {number}" if plain else f"{_quote(number)} has one"
        )
    return ""


def _without_exponent(number: str) -> str | None:
    """``number`` (an :data:`_EXPONENT` match) as a plain decimal (``5.9e1``: ``59``).

    None when its exponent is past 20 either way (a number of more than 20 zeros is no
    coordinate, radius or altitude meant) or past what :class:`~decimal.Decimal` reads.
    """
    try:
        value = Decimal(number)
    except InvalidOperation:  # an exponent past decimal's own limit (about 10**18)
        return None
    return format(value, "f") if abs(value.adjusted()) <= 20 else None


#: A radius written with its unit glued on (``500m``, ``0.5km``, ``2mi``).
_GLUED_UNIT = re.compile(rf"({_NUM})([A-Za-z]+)")
#: Units a circle's radius is written in, by their lower-case names, as kilometres.
_KILOMETRES = {
    **dict.fromkeys(("km", "kms", "kilometre", "kilometres", "kilometer", "kilometers"), "1"),
    **dict.fromkeys(("m", "metre", "metres", "meter", "meters"), "0.001"),
    **dict.fromkeys(("mi", "mile", "miles"), "1.609344"),  # the international mile
    **dict.fromkeys(("nm", "nmi"), "1.852"),  # the nautical mile
    **dict.fromkeys(("ft", "feet", "foot"), "0.0003048"),
}


def _unit_hint(number: str, unit: str) -> str:
    """The hint for a radius written with a unit: its value in kilometres, CAP's only unit.

    Only naming the unit as one too many would have ``500 m`` written ``500``: a radius a
    thousand times the one meant. A unit known here is converted, exactly (decimal
    arithmetic), so the value to write is in the message.
    """
    factor = _KILOMETRES.get(unit.lower()) if len(unit) <= _HINTED_LENGTH else None
    if factor is None or len(number) > _HINTED_LENGTH:
        return (
            f"; the radius is a bare number of kilometres, without a unit (got the unit "
            f"{_quote(unit)}: convert it to kilometres)"
        )
    with localcontext(Context(prec=2 * _HINTED_LENGTH)):  # exact: at most 64 characters
        km = format((Decimal(number) * Decimal(factor)).normalize(), "f")
    bare = f"; the radius is a bare number of kilometres, without a unit ({unit!r})"
    if factor == "1":
        return f"{bare}: write {km}"
    return f"{bare}: {number} {unit} is {km} km, so write {km}"


#: What an Update, Cancel, Ack or Error does with the messages its <references> name.
_NAMES = {
    "Update": "it updates",
    "Cancel": "it cancels",
    "Ack": "it acknowledges",
    "Error": "it rejects",
}
#: An empty ``<polygon>``: CAP 1.2 §3.2.4 "A minimum of 4 coordinate pairs MUST be present and
#: the first and last pairs of coordinates MUST be the same." (Zone-based NWS alerts wrote one.)
_EMPTY_POLYGON = (
    "must hold at least 4 'lat,lon' points, the first equal to the last, as CAP 1.2 §3.2.4 "
    "requires (got an empty polygon)"
)

#: An empty ``<circle>``: CAP 1.2 §3.2.4 represents a circle "by a central point given as a
#: coordinate pair followed by a space character and a radius value in kilometers".
_EMPTY_CIRCLE = (
    "must be 'lat,lon radius' with the radius in kilometres, a central point and a radius as "
    "CAP 1.2 §3.2.4 represents a circle (got an empty circle)"
)


#: A ``;`` or ``|`` right after a triple's sent offset: triples joined by it, not whitespace.
_JOINED_TRIPLE = re.compile(r"[+-][0-9]{2}:[0-9]{2}[;|]")


def _triple_hint(item: str) -> str:
    """Why a ``<references>`` item is not a triple, when it can be told, or ``""``."""
    if item.endswith(",") or item.startswith(","):
        return (
            "; a triple ends with its sent date-time and holds no space (CAP 1.2 §3.2.1 "
            "separates triples by whitespace)"
        )
    if _JOINED_TRIPLE.search(item):
        return "; CAP 1.2 §3.2.1 separates triples by whitespace, not ';' or '|'"
    odd = next((c for c in item if c.isspace() or unicodedata.category(c) == "Zs"), None)
    if odd is not None:
        return (
            f"; it holds {unicodedata.name(odd, 'a space')} (U+{ord(odd):04X}), which is not "
            "XML whitespace: CAP separates triples by spaces, tabs or newlines only"
        )
    return ""


#: A number written with a decimal comma (``59,33``), or an integer pair read as one.
_COMMA_NUMBER = re.compile(r"[+-]?[0-9]+,[0-9]+")


def _comma_reading(tokens: list[str], envelope: Envelope | None = None) -> tuple[str, str]:
    """The first point of ``tokens`` read as decimal commas, spaced pairs; or ``("", "")``.

    ``59,33 18,06 59,34 18,06 ...`` (a writer formatting numbers in a locale with decimal
    commas, and separating lat from lon by a space) reads as CAP ``lat,lon`` pairs of other
    places (59°N 33°E, 18°N 6°E...). It is told by its tokens: an even number of them, each
    two integers joined by a comma, and in range read as decimal degrees. Returns the first
    point as CAP writes it, ``lat,lon``, and the order the pairs are in (:func:`_axis_order`:
    ``"lon lat"`` when that is what the numbers or the ``envelope`` show, ``"either"`` when
    nothing tells, the point then read latitude first).
    """
    if len(tokens) < 2 or len(tokens) % 2:
        return "", ""
    if not all(len(t) <= _HINTED_LENGTH and _COMMA_NUMBER.fullmatch(t) for t in tokens):
        return "", ""
    dotted = [t.replace(",", ".") for t in tokens[: 2 * _HINTED_TOKENS]]
    order = _axis_order(list(zip(dotted[0::2], dotted[1::2], strict=True)), envelope)
    if not order:
        return "", ""
    if order == "lon lat":
        return f"{dotted[1]},{dotted[0]}", order
    return f"{dotted[0]},{dotted[1]}", order


def _comma_hint(tokens: list[str], envelope: Envelope | None = None) -> str:
    """The explanation of points written with decimal commas (:func:`_comma_reading`)."""
    meant, order = _comma_reading(tokens, envelope)
    if not meant:
        return ""
    spaced = "lon and lat" if order == "lon lat" else "lat and lon"
    check = f" if the latitude comes first ({_UNTOLD})" if order == "either" else ""
    return (
        f"; the numbers read as decimal numbers written with commas, {spaced} separated by "
        f"a space ('{tokens[0]} {tokens[1]}' is {meant}{check}): CAP writes decimal numbers "
        f"with a point and a point 'lat,lon', with a comma between lat and lon ('{meant}') "
        "(CAP 1.2 §3.3.1)"
    )


def _decimal_commas(text: str, envelope: Envelope | None = None) -> str:
    """Why an unclosed ring is points written with decimal commas, ``lat lon`` spaced; or ``""``.

    Read as CAP's ``lat,lon`` pairs such a ring is of other places and not closed, and
    closing it would target those places; read in pairs of tokens it closes (its first two
    tokens repeated at the end), which tells it.
    """
    tokens = text.split()
    if len(tokens) < 8 or tokens[:2] != tokens[-2:]:
        return ""
    hint = _comma_hint(tokens, envelope)
    if not hint:
        return ""
    first = tokens[0].partition(",")
    return (
        f"is not closed as CAP 'lat,lon' pairs, which name other places ({tokens[0]} is lat "
        f"{first[0]}, lon {first[2]}), but closes when read in pairs of tokens{hint}"
    )


def _degrees_minutes(text: str, most: int) -> tuple[int, Decimal] | None:
    """``text`` read as degrees and minutes ``DDMM.m`` (``3237.5``: 32°37.5′); None if not.

    At least one whole degree: below 100 the text reads as decimal degrees just as well. A
    value of ``most + 1`` degrees or more is none, and is told before dividing: decimal's
    integer division refuses a quotient of more digits than its precision (28), as a number
    of 31 digits or more gives.
    """
    if len(text) > _HINTED_LENGTH:
        return None
    value = abs(Decimal(text))
    if value >= 100 * (most + 1):
        return None
    degrees = int(value // 100)
    minutes = value - 100 * degrees
    if not degrees or degrees > most or minutes >= 60 or (degrees == most and minutes):
        return None
    return degrees, minutes


def _minutes_hint(lat: str, lon: str) -> str:
    """A hint for a point out of range written in degrees and minutes, or ``""``.

    Japan's JMA writes positions as ``DDMM.m`` (``3237.5,13040.7``: 32°37.5′ N, 130°40.7′ E),
    and such text has slipped into CAP, whose coordinates are decimal degrees (CAP 1.2
    §3.3.1): a value out of range whose digits read as degrees and minutes is named so.
    """
    read = _degrees_minutes(lat, 90), _degrees_minutes(lon, 180)
    if read[0] is None or read[1] is None:
        return ""
    (lat_d, lat_m), (lon_d, lon_m) = read[0], read[1]
    decimal = [
        ("-" if text.lstrip().startswith("-") else "")
        + f"{float(d + m / 60):.6f}".rstrip("0").rstrip(".")
        for text, d, m in ((lat, lat_d, lat_m), (lon, lon_d, lon_m))
    ]
    return (
        f"; {lat},{lon} reads as degrees and minutes (DDMM.m: {lat_d}°{lat_m}′, "
        f"{lon_d}°{lon_m}′), which CAP does not use: it writes decimal degrees, here "
        f"{decimal[0]},{decimal[1]} (CAP 1.2 §3.3.1)"
    )


#: A coordinate in degrees with signs: ``59°19′57″``, ``59° 19' 57"``, ``59°19.95'``; the
#: hemisphere letter before it (``N 59°19′``) or after it (``59°19′N``), :func:`_dms_hint` says.
_DEGREES = (
    r"([+-]?[0-9]+(?:\.[0-9]+)?)[ \t]*°[ \t]*"  # 59°
    r"(?:([0-9]+(?:\.[0-9]+)?)[ \t]*['′’][ \t]*)?"  # 19′
    r"(?:([0-9]+(?:\.[0-9]+)?)[ \t]*(?:\"|″|”|''|′′))?"  # 57″
)
_DMS_BEFORE = re.compile(rf"([NSEWnsew])[ \t]*{_DEGREES}")
_DMS_AFTER = re.compile(rf"{_DEGREES}[ \t]*([NSEWnsew]?)")


_MOST = {"lat": 90.0, "lon": 180.0}


def _ascii_digits_hint(text: str) -> str:
    """A hint showing numbers in other digits (``３５．６８``, ``٣٥.٦٨``) in ASCII, or ``""``.

    Japanese input methods write full-width digits and signs, Arabic text its own digits, and
    word processors a minus sign U+2212 for ``-``; CAP's numbers are ASCII (xs:decimal). The
    hint is the text with those characters replaced, when nothing else in it is non-ASCII.
    """
    text = unicodedata.normalize("NFKC", text[: _HINTED_LENGTH * 2]).replace("\u2212", "-")
    text = "".join(
        c if c.isascii() or unicodedata.decimal(c, None) is None else str(unicodedata.decimal(c))
        for c in text
    )
    return f"; in ASCII: {_quote(text)}" if text.isascii() else ""


def _dms_hint(text: str) -> str:
    """A hint for a point written in degrees (minutes, seconds) with their signs, or ``""``.

    Maps and GPS apps show ``59°19′57″N 18°3′55″E``; CAP coordinates are decimal degrees
    (CAP 1.2 §3.3.1). The first two coordinates are converted, the hemisphere letters telling
    which is the latitude (and the sign), so the hint shows the point to write.
    """
    text = text[: _HINTED_LENGTH * 2].lstrip(XML_SPACE)
    before = text[:1] in ("N", "S", "E", "W", "n", "s", "e", "w")
    found = list((_DMS_BEFORE if before else _DMS_AFTER).finditer(text))[:2]
    if len(found) < 2:
        return ""
    values: dict[str, str] = {}
    for k, m in enumerate(found):
        groups = m.groups()
        letter = groups[0] if before else groups[3]
        degrees, minutes, seconds = groups[1:] if before else groups[:3]
        value = abs(float(degrees)) + float(minutes or 0) / 60 + float(seconds or 0) / 3600
        axis = "lon" if letter.upper() in ("E", "W") else "lat" if letter else ("lat", "lon")[k]
        if float(minutes or 0) >= 60 or float(seconds or 0) >= 60 or value > _MOST[axis]:
            return ""
        negative = degrees.startswith("-") or letter.upper() in ("S", "W")
        values.setdefault(axis, ("-" if negative else "") + f"{value:.6f}".rstrip("0").rstrip("."))
    if set(values) != {"lat", "lon"}:
        return ""
    written = f"{found[0].group(0).strip()} {found[1].group(0).strip()}"
    return (
        f"; {written} is written in degrees with their signs, which CAP does not use: it "
        f"writes decimal degrees, latitude first, here {values['lat']},{values['lon']} "
        "(CAP 1.2 §3.3.1)"
    )


#: Three decimal numbers joined by commas: KML's ``lon,lat,altitude``.
_TRIPLE = re.compile(rf"{_NUM},{_NUM},{_NUM}")


def _triple_hint_points(tokens: list[str], envelope: Envelope | None = None) -> str:
    """A hint for points written as three numbers (KML's ``lon,lat,altitude``), or ``""``.

    The axis order is named as KML's only where the numbers (or the ``envelope``) do not show
    the latitude first (:func:`_axis_order`): ``59.33,18.06,0`` swapped as KML's would be
    another place.
    """
    triples = [
        t for t in tokens[:_HINTED_TOKENS] if len(t) <= _HINTED_LENGTH and _TRIPLE.fullmatch(t)
    ]
    if not triples:
        return ""
    triple = triples[0]
    order = _axis_order([(x, y) for x, y, _ in (t.split(",") for t in triples)], envelope)
    if order == "lat lon":
        return (
            f"; a point is two numbers, 'lat,lon', and {triple!r} has three: a CAP point has "
            "no altitude (its latitude comes first here already: drop the third number) "
            "(CAP 1.2 §3.3.1)"
        )
    check = f" (or 'lat,lon,altitude'? {_UNTOLD})" if order == "either" else ""
    return (
        f"; a point is two numbers, 'lat,lon', and {triple!r} has three: KML writes "
        f"'lon,lat,altitude'{check}, but a CAP point has no altitude and its latitude comes "
        "first (CAP 1.2 §3.3.1)"
    )


def _hint(cls: type[enum.Enum], value: str) -> str:
    """What an enumeration value written otherwise was meant to be, or ``""``.

    CAP-v1.2.xsd's enumerations are case-sensitive strings (``ALERT``, ``actual`` and
    ``Very_Likely`` are none of them); CAP 1.1's certainty ``Very Likely`` is CAP 1.2's
    ``Likely``.
    """
    if len(value) > 64:
        return ""
    key = _XML_SPACES.sub("", value).replace("_", "").replace("-", "").casefold()
    if cls is Certainty and key == "verylikely":
        return ": 'Very Likely' is CAP 1.1's, which CAP 1.2 replaced by 'Likely'"
    meant = [str(m.value) for m in cls if str(m.value).casefold() == key]
    if meant:
        return f": CAP writes it {meant[0]!r}, exactly (its values are case-sensitive)"
    return ""


#: Date-times as other standards and libraries write them, and what CAP writes instead:
#: ISO 8601's other forms (a space for the ``T``, basic format, an offset without a colon, as
#: Java's ``Z`` and PHP's ``O`` write it, no seconds) and RFC 822's (RSS, HTTP, e-mail).
_TIME_FORMS = (
    (
        re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ \t][0-9]{2}:[0-9]{2}"),
        "a 'T' separates the date from the time, not a space",
    ),
    (
        re.compile(
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?[+-][0-9]{4}\Z"
        ),
        "the UTC offset is written with a colon, as +01:00 (not +0100)",
    ),
    (
        re.compile(
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?[+-][0-9]{2}\Z"
        ),
        "the UTC offset is written in hours and minutes, as +01:00 (not +01)",
    ),
    (
        re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:?[0-9]{2})?\Z"),
        "the seconds are required (hh:mm:ss)",
    ),
    (
        re.compile(r"[0-9]{8}T[0-9]{4}"),
        "CAP writes ISO 8601's extended form, with '-' and ':' (YYYY-MM-DDThh:mm:ss±hh:mm)",
    ),
    (
        re.compile(r"(?:[A-Za-z]{3}, )?[0-9]{1,2} [A-Za-z]{3} [0-9]{4} [0-9]{2}:[0-9]{2}"),
        "that is RFC 822's form (RSS, HTTP, e-mail); CAP writes YYYY-MM-DDThh:mm:ss±hh:mm",
    ),
    (
        re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}t[0-9]"),
        "the 'T' between the date and the time is upper-case (xs:dateTime)",
    ),
    (
        re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?z\Z"),
        "'z' is no UTC offset: CAP 1.2 §3.3.2 writes UTC as -00:00",
    ),
    (
        re.compile(
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?[ \t]*"
            r"(?:UTC|GMT|UT)(?:[+-][0-9:]+)?\Z",
            re.IGNORECASE,
        ),
        "CAP writes the UTC offset as a number, UTC as -00:00, not a time zone's name "
        "(CAP 1.2 §3.3.2)",
    ),
    (
        re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+[ \t]+(?:Z|[+-][0-9]{1,2}:?[0-9]{2})\Z"),
        "no space comes before the UTC offset",
    ),
    (
        re.compile(
            r"(?![0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[^0-9])"
            r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}T[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:Z|[+-][0-9:]+)?\Z"
        ),
        "the month, day, hour, minute and second have two digits each, as in "
        "2026-05-04T09:05:00-00:00",
    ),
    (
        re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2},[0-9]"),
        "CAP's date-times have no fractional seconds (and xs:dateTime would write a fraction "
        "after a point, not a comma)",
    ),
    (
        re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]:[0-9]{2}\Z"),
        "the UTC offset's hours have two digits, as in -05:00",
    ),
)


def _time_hint(text: str) -> str:
    """What a date-time written in another standard's form needs to be CAP's, or ``""``."""
    if len(text) > _HINTED_LENGTH:
        return ""
    for form, hint in _TIME_FORMS:
        if form.match(text):
            return f": {hint}"
    return ""


@attrs.frozen
class Repair:
    """One repair made by :func:`geotarget.cap.loads_lenient`.

    Parameters
    ----------
    path : str
        Where, e.g. ``info[0]/area[1]/polygon[0]``.
    message : str
        What was wrong and what was done.

    Examples
    --------
    See :func:`geotarget.cap.loads_lenient`.

    .. versionadded:: 0.1.0
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@functools.cache
def _layout(schema: Schema) -> tuple[list[str], dict[str, int]]:
    """The element names of a schema, in order, and each name's position."""
    names = [name for name, _, _ in schema]
    return names, {name: k for k, name in enumerate(names)}


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _quote(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _short(text: str, limit: int = 60) -> str:
    """``text`` as written, cut to ``limit`` characters with its length when longer."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def non_ascii(text: str) -> str | None:
    """Describe the first non-ASCII character of ``text``; None when it is all ASCII."""
    if text.isascii():
        return None
    k, c = next((k, c) for k, c in enumerate(text) if not c.isascii())
    kind = "digit" if c.isdigit() else "character"
    return f"{kind} {c!r} (U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}) at index {k}"


def ascii_rule(text: str) -> str | None:
    """The problem of a number or date-time written with non-ASCII characters, if any.

    XML Schema's xs:decimal, xs:integer and xs:dateTime lexical spaces are made of the ASCII
    digits 0-9 and a few ASCII signs only (XML Schema Part 2, 3.2.3, 3.3.13 and 3.2.7), and the
    CAP 1.2 coordinate pair is two decimal numbers (CAP 1.2 §1.5, §3.3.1).
    """
    found = non_ascii(text)
    if found is None:
        return None
    return (
        "must be written with ASCII digits 0-9, as CAP's number and date-time types require "
        f"(got the {found} of {_quote(text)})"
    )


def swap_message(lonlat: np.ndarray[Any, Any], envelope: Envelope, what: str) -> str | None:
    """Why a part looks written ``lon,lat``; None unless it does.

    A part looks swapped when none of its points lies inside the envelope but all of them do
    with latitude and longitude exchanged.
    """
    west, south, east, north = envelope
    lon, lat = lonlat[:, 0], lonlat[:, 1]
    inside = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    swapped = (lat >= west) & (lat <= east) & (lon >= south) & (lon <= north)
    if inside.any() or not swapped.all():
        return None
    return (
        f"looks written 'lon,lat': the {what} lies outside the service envelope "
        f"(west {west:g}, south {south:g}, east {east:g}, north {north:g}) but inside "
        f"it with lat and lon swapped; CAP writes 'lat,lon' "
        f"(first point read as lat {float(lat[0])!r}, lon {float(lon[0])!r})"
    )


def mixed_swap_message(lonlat: np.ndarray[Any, Any], envelope: Envelope) -> str | None:
    """Why some points of a ring look written ``lon,lat`` among ``lat,lon`` ones; None if not.

    Some point lies inside the envelope as written, and every point outside it lies inside it
    with latitude and longitude exchanged (the ring's closing point counted once).
    """
    west, south, east, north = envelope
    lon, lat = lonlat[:-1, 0], lonlat[:-1, 1]
    inside = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    swapped = (lat >= west) & (lat <= east) & (lon >= south) & (lon <= north)
    outside = np.flatnonzero(~inside)
    if not inside.any() or outside.size == 0 or not swapped[outside].all():
        return None
    k = int(outside[0])
    more = f" ({outside.size} such points in all)" if outside.size > 1 else ""
    return (
        f"point {k} ({float(lat[k])!r},{float(lon[k])!r}) looks written 'lon,lat' among "
        "'lat,lon' points: it lies outside the service envelope "
        f"(west {west:g}, south {south:g}, east {east:g}, north {north:g}) but inside it with "
        f"lat and lon swapped, while point {int(np.flatnonzero(inside)[0])} lies inside it as "
        f"written{more}, so as read the polygon stretches from the service area to lat "
        f"{float(lat[k])!r}, lon {float(lon[k])!r}; CAP writes 'lat,lon'"
    )


#: Formats that carry CAP alerts inside them, or list alerts and link to them, by the
#: (namespace, local name) of their root element: what the document is, and, for a feed, the
#: element whose link names each alert's CAP document.
_WRAPPERS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("urn:oasis:names:tc:emergency:EDXL:DE:1.0", "EDXLDistribution"): (
        "an EDXL-DE 1.0 distribution", None
    ),
    ("urn:oasis:names:tc:emergency:EDXL:DE:2.0", "EDXLDistribution"): (
        "an EDXL-DE 2.0 distribution", None
    ),
    ("http://www.w3.org/2005/Atom", "feed"): ("an Atom feed", "<entry>"),
    ("http://www.w3.org/2005/Atom", "entry"): ("an Atom entry", "<entry>"),
    ("", "rss"): ("an RSS feed", "<item>"),
    ("http://schemas.xmlsoap.org/soap/envelope/", "Envelope"): ("a SOAP 1.1 envelope", None),
    ("http://www.w3.org/2003/05/soap-envelope", "Envelope"): ("a SOAP 1.2 envelope", None),
}  # fmt: skip
#: How many of the alerts found inside another root a message places by their path.
_PLACED = 3


def _cap_version(node: Node) -> str | None:
    """The CAP version of an ``<alert>`` element by its namespace (``"1.2"``); None if not CAP."""
    if node.name != "alert":
        return None
    version = _OTHER_VERSIONS.get(node.ns)
    if version is None and node.ns.startswith(_CAP_URN):
        tail = node.ns[len(_CAP_URN) :]
        version = tail if re.fullmatch(r"[0-9]{1,3}\.[0-9]{1,3}", tail) else None
    return version


def wrapped(root: Node) -> str:
    """What a document whose root is not a CAP ``<alert>`` holds, for its refusal; or ``""``.

    Feeds and message envelopes carry CAP alerts inside them: an EDXL-DE distribution (NSW
    Rural Fire Service, Japan's L-Alert) in ``<embeddedXMLContent>``, a collection
    ``<alerts>`` (SMHI, AEMET, IPAWS), an Atom entry or a SOAP body; an Atom or RSS feed
    (MeteoAlarm, the WMO's alert hub) usually only lists alerts, each linking to its CAP
    document. geotarget reads one alert per document, the ``<alert>`` being its root, so
    the refusal says where the alerts are (paths from the root, a 0-based index among
    same-named siblings where there are several), or that a feed holds none.
    """
    found: list[tuple[str, str]] = []  # (path, version)
    stack: list[tuple[Node, str]] = [(root, cut(root.name))]
    while stack:  # depth first, in document order; not into an alert found
        node, path = stack.pop()
        counts: dict[tuple[str, str], int] = {}
        for child in node.children:
            key = (child.ns, child.name)
            counts[key] = counts.get(key, 0) + 1
        seen: dict[tuple[str, str], int] = {}
        below = []
        for child in node.children:
            key = (child.ns, child.name)
            k = seen.get(key, 0)
            seen[key] = k + 1
            here = f"{path}/{cut(child.name)}" + (f"[{k}]" if counts[key] > 1 else "")
            version = _cap_version(child)
            if version is not None:
                found.append((here, version))
            else:
                below.append((child, here))
        stack.extend(reversed(below))
    what, item = _WRAPPERS.get((root.ns, root.name), ("", None))
    if not found:
        if item is not None:
            return (
                f": it is {what}, which holds no CAP <alert> (a feed lists alerts and links "
                f"to them): fetch the CAP document each {item}'s <link> names and read that"
            )
        if what.startswith("an EDXL-DE"):
            return (
                f": it is {what} holding no CAP <alert> as XML (one carried as base64 "
                "<contentData> or by <uri> must be decoded or fetched first)"
            )
        return ""
    what = what or f"a root <{cut(root.name)}> element"
    versions = sorted({v for _, v in found})
    kind = f"CAP {versions[0]}" if len(versions) == 1 else "CAP"
    placed = ", ".join(path for path, _ in found[:_PLACED])
    more = f" (and {len(found) - _PLACED:,} more)" if len(found) > _PLACED else ""
    holding = (
        f"a {kind} <alert>, at {placed}"
        if len(found) == 1
        else f"{len(found):,} {kind} <alert> elements, at {placed}{more}"
    )
    lenient = " (a CAP 1.1 one with loads_lenient)" if "1.1" in versions else ""
    if (root.ns, root.name) == (DSIG, "Signature"):
        # Taken out of its <Object>, the alert would lose the signature that covers it.
        return (
            f", but an enveloping XML signature holding {holding}: CAP 1.2 (3.3.4.1) signs an "
            "alert with an enveloped signature, a <Signature> as the last child of <alert> "
            "itself, which geotarget verifies; an alert taken out of this one's <Object> is "
            "no longer signed: ask the issuer for an enveloped signature"
        )
    return (
        f", but {what} holding {holding}: geotarget reads one alert per document, whose root "
        "element is the <alert> itself; take each <alert> out of its container, with the "
        f"namespace declarations it uses, and read it alone{lenient}"
    )


def _not_cap(root: Node) -> str:
    """Why a root that is no CAP 1.2 or 1.1 ``<alert>`` is none, and what it may be instead.

    An ``<alert>`` in a namespace written almost as CAP's (another case, a trailing ``/`` or
    ``#``, spaces around it) is in another namespace all the same: XML compares namespace
    names character by character (Namespaces in XML 1.0 §2.3).
    """
    if root.name != "alert":
        return "this is not a CAP 1.2 alert" + wrapped(root)
    if not root.ns:
        if any(c.ns in (CAP12, CAP11) for c in root.children):
            return (
                "its children are in the CAP namespace but <alert> itself is not: a prefix "
                "names the namespace of each element it is written on (write <cap:alert> as "
                "its children are written, or declare the namespace without a prefix)"
            )
        return f'this is not a CAP 1.2 alert (a CAP 1.2 <alert> declares xmlns="{CAP12}")'
    key = root.ns.strip(" \t\r\n").rstrip("/#").lower()
    meant = next((ns for ns in (CAP12, CAP11) if ns.lower() == key), None)
    if meant is not None:
        return (
            f"its namespace is written almost as CAP's ({meant}), but XML compares namespace "
            f"names character by character, so it is another namespace: declare "
            f'xmlns="{meant}" exactly'
        )
    return "this is not a CAP 1.2 alert" + wrapped(root)


class Reader:
    """Reads one document; ``problems`` and ``repairs`` fill up as it goes."""

    def __init__(self, *, lenient: bool, envelope: Envelope | None) -> None:
        self.lenient = lenient
        self.envelope = envelope
        self.ns = CAP12
        self.problems: list[Problem] = []
        self.repairs: list[Repair] = []
        self.warnings: list[Problem] = []
        #: The first geotarget:kind event code read: (its path, the kind it names).
        self.kind_code: tuple[str, str] | None = None
        #: The alert's <sent>, once read: a block without effective or onset starts then.
        self.sent: datetime | None = None
        #: The alert's <msgType>, once read: a Cancel's, Ack's or Error's areas are not
        #: targeted, so an axis order that looks swapped there is a warning, not a refusal.
        self.msg_type: MessageType | None = None
        #: What is left of the document's budgets for its polygons (each distinct ring once).
        self.budget = PolygonBudget()
        #: Text that looks decoded in the wrong encoding: (path, why), in document order.
        self.garbles: list[tuple[str, str]] = []
        #: Where among the warnings the first such text was found (its warning goes there).
        self.garbled_at = 0

    # --- bookkeeping ---------------------------------------------------------------------------

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def repair(self, path: str, message: str) -> None:
        self.repairs.append(Repair(path, message))

    def warn(self, path: str, message: str) -> None:
        """A finding CAP allows: kept with the alert, never a reason to refuse it."""
        self.warnings.append(Problem(path, message))

    def fixable(self, path: str, message: str, fix: str) -> None:
        """A problem lenient mode repairs: a repair there, a problem in strict mode."""
        if self.lenient:
            self.repair(path, f"{message}; {fix}")
        else:
            self.problem(path, f"{message} (loads_lenient repairs this)")

    def build(self, path: str, make: Callable[[], E], before: int) -> E | None:
        """Build a model object unless its subtree had problems; report model errors."""
        if len(self.problems) > before:
            return None
        try:
            return make()
        except GeotargetError as err:
            self.problem(path or "alert", str(err))
            return None

    # --- structure -----------------------------------------------------------------------------

    def attributes(self, node: Node, path: str) -> None:
        """One problem (or repair) for all the attributes of ``node``: CAP has none.

        The first few are named and the rest counted, so that an element carrying thousands
        of them is one line, not thousands.
        """
        found = []
        for key in node.attrs:
            ns, _, local = key.rpartition(" ")
            if ns == XSI:
                continue
            local, ns_shown = cut(local), cut(ns)
            found.append(
                f"xml:{local}" if ns == XML_NS else f"{{{ns_shown}}}{local}" if ns else local
            )
        if not found:
            return
        named = ", ".join(repr(a) for a in found[:_NAMED_ATTRIBUTES])
        if len(found) == 1:
            what = f"unexpected attribute {named}"
        else:
            more = f"... ({len(found):,} in all)" if len(found) > _NAMED_ATTRIBUTES else ""
            what = f"unexpected attributes {named}{more}"
        self.fixable(
            path or "alert",
            f"{what}: CAP has none",
            "ignored them" if len(found) > 1 else "ignored it",
        )

    def children(
        self, node: Node, path: str, schema: Schema, *, tail_ns: str | None = None
    ) -> dict[str, list[Node]]:
        """Check ``node``'s children against ``schema``; return them by name."""
        here = path or "alert"
        names, order = _layout(schema)
        out: dict[str, list[Node]] = {name: [] for name in names}
        if node.attrs:
            self.attributes(node, path)
        text = node.text.strip(XML_SPACE)  # element-only content allows XML whitespace only
        if text:
            self.problem(
                here, f"<{node.name}> must hold elements only, not text (got {_quote(text)})"
            )
        last, misplaced, tail_seen = -1, "", False
        elsewhere: set[str] = set()  # CAP element names found in another namespace
        seen: dict[str, int] = {}  # each CAP element's index among its same-named siblings
        nil: set[str] = set()  # the CAP elements read as absent for their xsi:nil
        for child in node.children:
            if child.ns != self.ns:
                if tail_ns is not None and child.ns == tail_ns:
                    tail_seen = True
                    continue
                if child.name in order:
                    elsewhere.add(child.name)
                self.problem(
                    _join(path, cut(child.name)), self.foreign(node, child, child.name in order)
                )
                continue
            k = order.get(child.name)
            if k is None:
                name = cut(child.name)
                same = [n for n in names if n.lower() == child.name.lower()]
                # (Krisinformation.se writes <Polygon>, a .NET serializer <AreaDesc>.)
                case = f"; XML names are case-sensitive: CAP's is <{same[0]}>" if same else ""
                self.problem(
                    _join(path, name),
                    f"unknown element <{name}>: <{node.name}> may hold {', '.join(names)}{case}",
                )
                continue
            k_name = seen.get(child.name, 0)
            seen[child.name] = k_name + 1
            if _NIL in child.attrs:
                single = schema[k][2] == 1
                where = _join(path, child.name if single else f"{child.name}[{k_name}]")
                if self.nilled(child, where):
                    nil.add(child.name)
                    continue
            if not misplaced and (k < last or tail_seen):
                after = "the XML signature" if tail_seen else f"<{names[last]}>"
                misplaced = f"<{child.name}> comes after {after}"
            last = max(last, k)
            out[child.name].append(child)
        if misplaced:
            self.fixable(
                here,
                f"children are out of CAP 1.2 schema order: {misplaced} "
                f"(the order is {', '.join(names)})",
                "read them in schema order",
            )
        for name, low, high in schema:
            n = len(out[name])
            if n < low and name not in elsewhere:  # else reported as in another namespace
                written = (
                    f" (the <{name}> written has xsi:nil='true': it has no value)"
                    if name in nil
                    else ""
                )
                self.problem(
                    _join(path, name), f"missing: <{node.name}> must hold a <{name}>{written}"
                )
            if high is not None and n > high:
                self.problem(
                    _join(path, f"{name}[{high}]"),
                    f"<{node.name}> may hold at most {high} <{name}> (got {n})",
                )
        return out

    def nilled(self, node: Node, path: str) -> bool:
        """Whether ``node``, which carries ``xsi:nil``, is read as absent; a problem says why.

        XML Schema 1.0 Part 1 §3.3.4 (Element Locally Valid (Element), 3.1) allows no
        ``xsi:nil`` at all, true or false, on an element whose declaration is not nillable,
        and CAP-v1.2.xsd declares none nillable. .NET's XmlSerializer writes
        ``<expires xsi:nil="true" />`` for a property that has no value: the sender meant the
        element absent, and lenient reading reads an empty one so (one holding content
        contradicts itself and is refused). ``xsi:nil="false"`` says nothing, and is ignored
        leniently.
        """
        value = node.attrs[_NIL]
        written = value.strip(XML_SPACE)
        rule = (
            f"<{node.name}> has xsi:nil={_quote(value)}, but CAP-v1.2.xsd declares no element "
            "nillable, and XML Schema allows no xsi:nil, true or false, on an element not "
            "declared nillable (XML Schema 1.0 Part 1 §3.3.4)"
        )
        empty = not node.children and not node.text.strip(XML_SPACE)
        if written in ("false", "0"):
            self.fixable(path, f"{rule}: remove the attribute", "ignored it")
            return False
        if written not in ("true", "1"):
            self.problem(path, f"{rule}; and it is no xs:boolean (true, false, 1 or 0)")
            return False
        if not empty:
            self.problem(
                path,
                f"{rule}; and xsi:nil='true' says the element has no value while it holds "
                "content: omit the attribute, or omit the element if it has no value",
            )
            return False
        self.fixable(
            path,
            f"{rule}: omit an element that has no value",
            "read it as absent, as xsi:nil='true' means",
        )
        return True

    def foreign(self, parent: Node, child: Node, named_as_cap: bool) -> str:
        """The problem of an element in another namespace than the document's CAP one.

        One named as a CAP element is most often a CAP element written without the alert's
        prefix (``<cap:alert xmlns:cap=...><identifier>``: an unprefixed name takes the default
        namespace, and a prefix does not carry over to children) or copied from a document of
        another CAP version: the message says so, once, instead of an unknown element and a
        missing one.
        """
        where = f"namespace {cut(child.ns)}" if child.ns else "no namespace"
        if not named_as_cap:
            if child.name == "Signature" and parent.name == "alert":
                # A signature in a near-miss namespace (the "#" dropped): not one at all.
                return (
                    f"unexpected element <Signature> in {where}: an XML digital signature "
                    f"must be in the XML-DSig namespace {DSIG}"
                )
            return (
                f"unexpected element <{cut(child.name)}> in {where}: <{parent.name}> holds only "
                f"CAP {'1.1' if self.ns == CAP11 else '1.2'} elements"
            )
        if not child.ns:
            why = (
                f"an element without a prefix takes the default namespace, and there is none "
                f"here (a prefix on <{parent.name}> does not carry over to its children): "
                f'write it with the alert\'s prefix, or declare xmlns="{self.ns}"'
            )
        else:
            why = f"write it in the alert's namespace {self.ns}"
        return f"<{child.name}> is in {where}, not in the CAP namespace of the alert: {why}"

    # --- leaves ----------------------------------------------------------------------------------

    def leaf(self, node: Node, path: str) -> str:
        if node.children:
            self.problem(path, f"<{node.name}> must hold text, not elements")
        if node.attrs:
            self.attributes(node, path)
        text = node.text
        if not text.isascii():
            self.garbled(text, path)
        return text

    def garbled(self, text: str, path: str) -> None:
        """Note text that reads as UTF-8 decoded in a single-byte encoding (mojibake).

        A document whose bytes are UTF-8 but whose XML declaration says ``ISO-8859-1`` or
        ``windows-1252`` is valid XML in the encoding it declares, and reads ``Malmö`` as
        ``MalmÃ¶``; text in windows-1252 declared ISO-8859-1 reads ``€`` as the C1 control
        U+0080. XML cannot tell either from what was meant, so each is a warning (the first
        text so read, with how many elements hold such text), never a refusal.
        """
        readings = {}
        for codec, shown in (("latin-1", "ISO-8859-1"), ("cp1252", "windows-1252")):
            try:
                readings[shown] = text.encode(codec).decode("utf-8")
            except UnicodeError:
                continue
        if readings:
            meant = next(iter(readings.values()))
            why = (
                f"reads {_quote(text)}, which is {_quote(meant)} written in UTF-8 and decoded "
                f"as {' or '.join(readings)}: the document's bytes are probably UTF-8, whatever "
                'its XML declaration says (declare encoding="UTF-8", or pass the bytes as '
                "received rather than text decoded with another encoding)"
            )
        else:
            c1 = _C1.search(text)
            if c1 is None:
                return
            char = c1.group()
            why = (
                f"holds the C1 control character U+{ord(char):04X} (in {_quote(text)}), which "
                "text rarely means (XML 1.0 §2.2 discourages it): it is what text written in "
                "windows-1252 and declared ISO-8859-1 reads as (U+"
                f"{ord(char):04X} is {bytes([ord(char)]).decode('cp1252', 'replace')!r} in "
                'windows-1252; declare encoding="windows-1252", or better write UTF-8)'
            )
        if not self.garbles:
            self.garbled_at = len(self.warnings)
        self.garbles.append((path, why))

    def token(self, node: Node, path: str) -> str:
        """Text that must have no surrounding whitespace (an enumeration, an identifier)."""
        raw = self.leaf(node, path)
        text = raw.strip(XML_SPACE)
        if text != raw:
            self.fixable(
                path,
                f"must not have leading or trailing whitespace (got {_quote(raw)})",
                "stripped it",
            )
        return text

    def get(self, kids: dict[str, list[Node]], name: str) -> Node | None:
        nodes = kids[name]
        return nodes[0] if nodes else None

    def text(self, kids: dict[str, list[Node]], name: str, path: str) -> str | None:
        node = self.get(kids, name)
        return None if node is None else self.leaf(node, _join(path, name))

    def collapsed(self, kids: dict[str, list[Node]], name: str, path: str) -> str | None:
        """A value whose schema type collapses whitespace (anyURI, language, numbers, times)."""
        node = self.get(kids, name)
        return None if node is None else self.leaf(node, _join(path, name)).strip(XML_SPACE)

    def enum(self, kids: dict[str, list[Node]], name: str, path: str, cls: type[M]) -> M | None:
        node = self.get(kids, name)
        return None if node is None else self.enum_of(node, _join(path, name), cls)

    def enum_of(self, node: Node, path: str, cls: type[M]) -> M | None:
        value = self.token(node, path)
        if cls is Certainty and value == "Very Likely" and self.ns == CAP11:
            self.fixable(
                path,
                "'Very Likely' is a CAP 1.1 certainty that CAP 1.2 dropped",
                "read it as 'Likely', as CAP 1.2 advises",
            )
            value = "Likely"
        try:
            return cls(value)
        except ValueError:
            self.problem(
                path, f"must be one of {options(cls)} (got {_quote(value)}){_hint(cls, value)}"
            )
            return None

    def time(self, text: str, path: str, what: str = "") -> datetime | None:
        r"""A CAP date-time: ``YYYY-MM-DDThh:mm:ss±hh:mm``, no ``Z``, no fractional seconds.

        CAP-v1.2.xsd restricts xs:dateTime by the pattern
        ``\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[-,+]\d\d:\d\d`` (so: an explicit
        offset, no fraction) and CAP 1.2 §3.3.2 says alphabetic time zone designators such as
        ``Z`` MUST NOT be used and UTC MUST be written ``-00:00``. ``+00:00`` for UTC is read,
        with a warning (it is the same instant and widely sent).
        """
        label = f"{what} " if what else ""
        text = text.strip(XML_SPACE)
        bad = ascii_rule(text)
        if bad is not None:
            self.problem(path, label + bad)
            return None
        m = _TIME.match(text)
        written = text
        loose = None if m is not None else _TIME_LOOSE.match(text)
        if m is None and loose and loose.group(1):
            if loose.group(1).strip(".0"):  # another instant than the whole second's
                self.problem(
                    path, f"{label}must not have fractional seconds: CAP-v1.2.xsd's "
                    f"date-time pattern has none (got {_quote(text)})"
                )  # fmt: skip
                return None
            self.fixable(
                path,
                f"{label}has fractional seconds of zeros ({loose.group(1)}): CAP-v1.2.xsd's "
                f"date-time pattern has none (got {_quote(text)})",
                "dropped them (the same instant)",
            )
            if not self.lenient:
                return None
            text = text[: loose.start(1)] + text[loose.end(1) :]
            m = _TIME.match(text)
            loose = _TIME_LOOSE.match(text)
        if m is None:
            if loose and loose.group(2) == "Z":
                self.fixable(
                    path,
                    f"{label}uses 'Z' for UTC: CAP 1.2 §3.3.2 says alphabetic time zone "
                    f"designators MUST NOT be used and UTC MUST be written -00:00 "
                    f"(got {_quote(written)})",
                    "read it as -00:00",
                )
                text = text[:-1] + "-00:00"
                m = _TIME.match(text)
            elif loose:
                self.problem(
                    path, f"{label}must carry an explicit UTC offset such as +01:00 or -00:00 "
                    f"(CAP 1.2 §3.3.2) (got {_quote(written)})"
                )  # fmt: skip
                return None
            else:
                self.problem(
                    path, f"{label}must be a date-time YYYY-MM-DDThh:mm:ss±hh:mm "
                    f"(got {_quote(text)}){_time_hint(text)}"
                )  # fmt: skip
                return None
        assert m is not None
        y, mo, d, hh, mi, ss, sign, oh, om = m.groups()
        if int(om) > 59:
            self.problem(
                path,
                f"{label}has a UTC offset whose minutes are {om}: the minutes of an offset "
                f"must be 00 to 59 (xs:dateTime) (got {_quote(text)})",
            )
            return None
        if int(oh) > 14 or (int(oh) == 14 and int(om) > 0):
            self.problem(
                path,
                f"{label}has a UTC offset outside xs:dateTime's range -14:00 to +14:00 "
                f"(got {_quote(text)})",
            )
            return None
        if ss == "60":
            self.problem(
                path,
                f"{label}has second 60, a leap second, which xs:dateTime (the type CAP-v1.2.xsd "
                "restricts) does not support: its seconds are 00 to 59; write the second "
                f"before it (:59) or after it (:00 of the next minute) (got {_quote(text)})",
            )
            return None
        try:
            offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
            end_of_day = hh == "24" and mi == ss == "00"  # xs:dateTime's end-of-day form
            if end_of_day:
                t = datetime(int(y), int(mo), int(d), tzinfo=timezone(offset)) + timedelta(days=1)
            else:
                t = datetime(
                    int(y), int(mo), int(d), int(hh), int(mi), int(ss), tzinfo=timezone(offset)
                )
        except (ValueError, OverflowError) as err:
            self.problem(path, f"{label}is not a valid date-time: {err} (got {_quote(text)})")
            return None
        try:  # the model's rules (its range of instants), here at the field's path
            check_time(what or path.rpartition("/")[2], t)
        except GeotargetError as err:
            if "instant between" not in str(err):  # (no other rule applies to such a value)
                self.problem(path, f"{label}{err}")
                return None
            self.problem(
                path,
                f"{label}must be an instant between 0001-01-02 and 9999-12-30 UTC, so that it "
                "can be compared and converted to any offset (geotarget's limit; xs:dateTime "
                f"sets none) (got {_quote(written)})",
            )
            return None
        if end_of_day:
            self.warn(path, f"{label}24:00:00 is read as 00:00:00 of the next day ({t})")
            return t
        if sign == "+" and not offset:
            self.warn(
                path,
                f"{label}writes UTC as +00:00: CAP 1.2 §3.3.2 says UTC MUST be written -00:00 "
                "(read as UTC; geotarget writes -00:00)",
            )
        return t

    def timed(self, kids: dict[str, list[Node]], name: str, path: str) -> datetime | None:
        text = self.collapsed(kids, name, path)
        return None if text is None else self.time(text, _join(path, name))

    def decimal(self, kids: dict[str, list[Node]], name: str, path: str) -> float | None:
        text = self.collapsed(kids, name, path)
        if text is None:
            return None
        bad = ascii_rule(text)
        if bad is None and not _DECIMAL.match(text):
            bad = f"must be a decimal number (got {_quote(text)})"
            if len(text) <= _HINTED_LENGTH and _EXPONENT.fullmatch(text):
                plain = _without_exponent(text)
                bad += ": xs:decimal has no exponent" + (f" (write {plain!r})" if plain else "")
        if bad is not None:
            self.problem(_join(path, name), bad)
            return None
        value = float(text)  # no digit limit (unlike int); linear in the length
        if not math.isfinite(value):
            self.problem(
                _join(path, name),
                f"must be a decimal number within a double's range (about ±1.8e308), "
                f"geotarget's limit; CAP's xs:decimal sets none (got {_quote(text)}, "
                f"{len(text):,} characters)",
            )
            return None
        return value

    def pair(self, node: Node, path: str) -> NamedValue | None:
        before = len(self.problems)
        kids = self.children(node, path, PAIR)
        name = self.text(kids, "valueName", path)
        value = self.text(kids, "value", path)
        if (
            name is not None
            and value is not None
            and (is_kind_code(name) or tip_parameter_kind(name) is not None)
        ):
            # geotarget's own code or tip channel: whitespace around its value, as around its
            # name, is the document's layout (a pretty-printed <value>), not part of the kind,
            # the phone number or the URL.
            value = value.strip(XML_SPACE)
        return self.build(path, lambda: NamedValue(name, value), before)  # type: ignore[arg-type]

    def pairs(self, kids: dict[str, list[Node]], name: str, path: str) -> list[NamedValue | None]:
        return [self.pair(n, _join(path, f"{name}[{i}]")) for i, n in enumerate(kids[name])]

    # --- the alert -------------------------------------------------------------------------------

    def read(self, root: Node) -> Alert | None:
        """The alert of the document ``root``; None when it has problems (``problems``).

        Its polygons are bounded together as they are read (:attr:`budget`); a ring the
        document repeats (an area per language) is checked and repaired once.
        """
        with one_document(budgeted=True):
            return self.alert(root)

    def alert(self, root: Node) -> Alert | None:
        version = _OTHER_VERSIONS.get(root.ns)
        if version is None and root.ns.startswith(_CAP_URN):
            tail = root.ns[len(_CAP_URN) :]
            version = tail if re.fullmatch(r"[0-9]{1,3}\.[0-9]{1,3}", tail) else None
        if root.name == "alert" and root.ns not in (CAP12, CAP11) and version is not None:
            self.problem(
                "",
                f"the root element is <alert> in namespace {cut(root.ns)}, CAP {cut(version)}: "
                f"geotarget reads CAP 1.2 (namespace {CAP12}), and CAP 1.1 with loads_lenient; "
                f"ask the sender for CAP 1.2",
            )
            return None
        if root.name != "alert" or root.ns not in (CAP12, CAP11):
            self.problem(
                "",
                f"the root element must be <alert> in namespace {CAP12} (got <{cut(root.name)}> "
                f"in {cut(root.ns) or 'no namespace'}"
                + (
                    ", the root of an HTML page: a web server's error or login page answered "
                    "in place of the CAP document?"
                    if root.name.lower() == "html" and root.ns in ("", XHTML)
                    else ""
                )
                + "): "
                + _not_cap(root),
            )
            return None
        if root.ns == CAP11:
            self.ns = CAP11
            self.fixable(
                "alert",
                f"is a CAP 1.1 document (namespace {CAP11}); geotarget reads CAP 1.2",
                "read it as CAP 1.2",
            )
        if _NIL in root.attrs:
            self.nilled(root, "alert")  # (it holds content: a problem, never read as absent)
        kids = self.children(root, "", ALERT, tail_ns=DSIG)
        values: dict[str, Any] = {}
        # CAP 1.2 §3.2.1: <identifier> and <sender> "MUST NOT include spaces, commas or
        # restricted characters (< and &)".
        for name in ("identifier", "sender"):
            node = self.get(kids, name)
            values[name] = None if node is None else self.token(node, name)
            if values[name] is not None:
                try:
                    check_cap_id(name, values[name])
                except GeotargetError as err:
                    self.problem(name, str(err))
        sent = self.collapsed(kids, "sent", "")
        values["sent"] = None if sent is None else self.time(sent, "sent")
        self.sent = values["sent"]
        values["status"] = self.enum(kids, "status", "", Status)
        values["msg_type"] = self.enum(kids, "msgType", "", MessageType)
        self.msg_type = values["msg_type"]
        values["scope"] = self.enum(kids, "scope", "", Scope)
        for key, name in (("source", "source"), ("restriction", "restriction"), ("note", "note")):
            values[key] = self.text(kids, name, "")
        values["codes"] = [self.leaf(n, f"code[{i}]") for i, n in enumerate(kids["code"])]
        for name in ("addresses", "incidents"):
            text = self.text(kids, name, "")
            values[name] = () if text is None else self.quoted(text, name)
        # Rules CAP sets between elements, checked here to name the element they concern
        # (the model would name the whole alert).
        if values["scope"] is Scope.RESTRICTED and values["restriction"] is None:
            self.problem(
                "restriction",
                "missing: scope Restricted needs a <restriction>, the rule for limiting its "
                "distribution (CAP 1.2 §3.2.1: used when scope is Restricted)",
            )
        if values["scope"] is Scope.PRIVATE and not values["addresses"]:
            self.problem(
                "addresses",
                f"{'missing' if not kids['addresses'] else 'names no recipient'}: scope "
                "Private needs <addresses> naming at least one recipient (CAP 1.2 §3.2.1: "
                "required when scope is Private)",
            )
        refs = self.text(kids, "references", "")
        values["references"] = () if refs is None else self.references(refs)
        if refs is None and values["msg_type"] not in (None, MessageType.ALERT):
            self.unreferenced(values["msg_type"])
        for k, ref in enumerate(values["references"]):
            if ref is not None and (ref.sender, ref.identifier) == (
                values["sender"],
                values["identifier"],
            ):
                self.warn(
                    "references",
                    f"item {k} names this message itself ({ref.sender},{ref.identifier}): "
                    "a message should reference earlier messages",
                )
            elif ref is not None and values["sent"] is not None and ref.sent > values["sent"]:
                # CAP 1.2 §3.2.1: <references> identifies "earlier message(s)". A later one is
                # most often a time written in local time with another offset (or -00:00).
                self.warn(
                    "references",
                    f"item {k} names a message sent at {ref.sent.isoformat()}, after this one "
                    f"({values['sent'].isoformat()}), but references name earlier messages "
                    "(CAP 1.2 §3.2.1): is its UTC offset, or this message's, the right one?",
                )
        values["infos"] = [self.info(n, f"info[{i}]") for i, n in enumerate(kids["info"])]
        if self.garbles:
            path, why = self.garbles[0]
            more = len(self.garbles) - 1
            also = f" ({more} more element{'s' if more > 1 else ''} read so)" if more else ""
            self.warnings.insert(self.garbled_at, Problem(path, why + also))  # document order
        return self.build("alert", lambda: Alert(**values), 0)

    def unreferenced(self, msg_type: MessageType) -> None:
        """Report an Update, Cancel, Ack or Error without <references> (the model needs them).

        CAP-v1.2.xsd makes <references> optional for every message type, and no normative rule
        requires it; CAP 1.2 §3.2.1 only defines these types by the messages "identified in
        <references>". geotarget's alert model requires them, so the rule is named as its own.
        """
        kind = msg_type.value
        why = {
            MessageType.UPDATE: "an Update changes the incident of the messages it names",
            MessageType.CANCEL: "a Cancel ends the incident of the messages it names",
            MessageType.ACK: "an Ack acknowledges the messages it names",
            MessageType.ERROR: "an Error rejects the messages it names",
        }[msg_type]
        self.problem(
            "references",
            f"must name at least one earlier message as sender,identifier,sent for msgType "
            f"{kind} (got no <references>): geotarget requires them for every msgType but "
            f"Alert, since {why} (a limit of geotarget: CAP's schema makes <references> "
            f"optional, though CAP 1.2 defines msgType {kind} by the messages 'identified in "
            "<references>')",
        )

    def quoted(self, text: str, path: str) -> tuple[str, ...]:
        """Split <addresses> or <incidents> into items; a problem at ``path`` for a bad one.

        CAP 1.2 §3.2.1: items with whitespace "MUST be enclosed in double-quotes" (incidents:
        "SHALL be surrounded by double-quotes"). So a double quote that is never closed breaks
        the list, and an item cannot hold one itself (the model refuses it, as its quoting
        could not be told from CAP's); an empty quoted item names nothing.
        """
        items: list[str] = []
        problem = None
        for m in _QUOTED.finditer(text):
            quoted = m.group(1) is not None
            item = m.group(1) if quoted else m.group(2)
            k = len(items)
            items.append(item)
            if problem is not None:
                continue
            if quoted and not item.strip(XML_SPACE):
                problem = (
                    f"item {k} is an empty quoted item, which names nothing (got {_quote(text)})"
                )
            elif not quoted and item.startswith('"') and '"' not in text[m.start() + 1 :]:
                problem = (
                    f"item {k} opens a double quote that is never closed (got {_quote(text)}): "
                    "CAP encloses an item holding whitespace in double quotes"
                )
            elif not quoted and '"' in item:
                problem = (
                    f"item {k} holds a double quote ({_quote(item)}), which cannot be told from "
                    "CAP's quoting of items holding whitespace (a limit of geotarget: CAP names "
                    "no way to write one)"
                )
        if problem is not None:
            self.problem(path, problem)
        return tuple(items)

    def references(self, text: str) -> tuple[Reference | None, ...]:
        # CAP 1.2 §3.2.1 <references>: the extended message identifiers "in the form
        # sender,identifier,sent"; several "SHALL be separated by whitespace" (XML whitespace).
        items = [item for item in _XML_SPACES.split(text) if item]
        if not items:
            message = (
                "must list at least one sender,identifier,sent triple (got an empty element; "
                "omit <references> when there are none)"
            )
            if self.msg_type is MessageType.ALERT:
                # Environment Canada's CAP writes <references /> on a plain Alert, which names
                # no earlier message whatever: nothing is lost when it is dropped.
                self.fixable("references", message, "dropped it (an Alert needs none)")
            elif self.msg_type is None:  # (a bad msgType, reported at its own path)
                self.problem("references", message)
            else:  # omitting it would not do: say what the message type needs instead
                kind = self.msg_type.value
                self.problem(
                    "references",
                    "must list at least one sender,identifier,sent triple (got an empty "
                    f"element): msgType {kind} names the earlier messages {_NAMES[kind]}, "
                    "with their sender, identifier and sent",
                )
            return () if self.msg_type is MessageType.ALERT else (None,)
        items = self.spaced_commas(items)
        out: list[Reference | None] = []
        for k, item in enumerate(items):
            parts = item.split(",")
            if len(parts) != 3:
                self.problem(
                    "references",
                    f"item {k} must be sender,identifier,sent: three parts separated by commas "
                    f"(got {len(parts)} in {_short(item, 120)}){_triple_hint(item)}",
                )
                out.append(None)
                continue
            if _JOINED_TRIPLE.search(item):
                self.problem(
                    "references",
                    f"item {k} must be sender,identifier,sent (got {_short(item, 120)})"
                    f"{_triple_hint(item)}",
                )
                out.append(None)
                continue
            sent = self.time(parts[2], "references", f"item {k} sent")
            if sent is None:
                out.append(None)
                continue
            try:
                out.append(Reference(sender=parts[0], identifier=parts[1], sent=sent))
            except GeotargetError as err:
                self.problem("references", f"item {k}: {err}")
                out.append(None)
        return tuple(out)

    def spaced_commas(self, items: list[str]) -> list[str]:
        """The ``<references>`` items with triples split by a space beside a comma rejoined.

        ``sender, identifier, sent`` is three whitespace-separated items to CAP, none a
        triple. Where rejoining the items around such commas makes whole triples (and nothing
        else changes), lenient reading does so; strict reading leaves the items as they are
        and refuses them, saying why (the rejoined triples are checked as well).
        """
        groups: list[list[str]] = []
        for item in items:
            if groups and (groups[-1][-1].endswith(",") or item.startswith(",")):
                groups[-1].append(item)
            else:
                groups.append([item])
        joined = ["".join(group) for group in groups]
        if len(joined) == len(items) or any(item.count(",") != 2 for item in joined):
            return items
        split = [" ".join(group) for group in groups if len(group) > 1]
        self.fixable(
            "references",
            "has a space beside a comma inside a sender,identifier,sent triple: CAP 1.2 §3.2.1 "
            "separates triples by whitespace, so a space splits one in parts "
            f"(got {_short(split[0], 120)}"
            + (f", and {len(split) - 1} more such triple(s))" if len(split) > 1 else ")"),
            "joined the parts into their triples",
        )
        return joined

    def info(self, node: Node, path: str) -> Info | None:
        before = len(self.problems)
        kids = self.children(node, path, INFO)
        v: dict[str, Any] = {}
        language = self.collapsed(kids, "language", path)
        if language == "":
            # XML Schema 1.0 (Part 1, 3.3.4): an element with a default ("en-US" in
            # CAP-v1.2.xsd) and empty content takes the default.
            self.warn(_join(path, "language"), "is empty: it takes CAP's default 'en-US'")
            language = None
        if language is not None and not is_language(language):
            dashed = language.replace("_", "-")
            hint = (
                f": a language tag separates its subtags with '-' ({dashed!r}), not with '_' as "
                "Java and POSIX locales write them"
                if len(language) <= _HINTED_LENGTH and is_language(dashed)
                else ""
            )
            self.problem(
                _join(path, "language"),
                f"must be a language tag such as 'sv-SE' (got {_quote(language)}){hint}",
            )
        v["language"] = "en-US" if language is None else language
        v["categories"] = [
            self.enum_of(n, _join(path, f"category[{i}]"), Category)
            for i, n in enumerate(kids["category"])
        ]
        v["response_types"] = [
            self.enum_of(n, _join(path, f"responseType[{i}]"), ResponseType)
            for i, n in enumerate(kids["responseType"])
        ]
        v["event"] = self.text(kids, "event", path)
        v["urgency"] = self.enum(kids, "urgency", path, Urgency)
        v["severity"] = self.enum(kids, "severity", path, Severity)
        v["certainty"] = self.enum(kids, "certainty", path, Certainty)
        for key, name in (
            ("audience", "audience"), ("sender_name", "senderName"), ("headline", "headline"),
            ("description", "description"), ("instruction", "instruction"),
            ("contact", "contact"),
        ):  # fmt: skip
            v[key] = self.text(kids, name, path)
        v["web"] = self.collapsed(kids, "web", path)
        if v["web"] == "":
            self.warn(_join(path, "web"), "is empty (xs:anyURI allows it): it links to nothing")
        for name in ("effective", "onset", "expires"):
            v[name] = self.timed(kids, name, path)
        expires = v["expires"]
        self.window(v["effective"], v["onset"], expires, path)
        # CAP 1.2 §3.2.2 <effective>: "If this item is not included, the effective time SHALL
        # be assumed to be the same as in <sent>".
        sent = self.sent
        start = v["effective"] if v["effective"] is not None else v["onset"]
        if expires is not None and sent is not None and start is None and not expires > sent:
            same = "equals" if expires == sent else "is before"
            self.warn(
                _join(path, "expires"),
                f"{same} sent ({sent.isoformat()}), which this block's window starts at (it "
                "has no <effective> nor <onset>, and CAP 1.2 §3.2.2 takes a missing effective "
                "as sent): sent <= t < expires is empty, so it is never active",
            )
        elif (
            expires is not None
            and sent is not None
            and start is not None
            and expires > start
            and not expires > sent
            and self.msg_type in (MessageType.ALERT, MessageType.UPDATE)
        ):
            # (A Cancel's blocks often keep the expires of the alert it ends: nothing is told.)
            same = "equals" if expires == sent else "is before"
            self.warn(
                _join(path, "expires"),
                f"{same} sent ({sent.isoformat()}): the block's window ended by the time the "
                "message was sent, so it is in effect for no one who receives it (is a UTC "
                "offset written wrong?)",
            )
        v["event_codes"] = self.pairs(kids, "eventCode", path)
        v["parameters"] = self.pairs(kids, "parameter", path)
        self.conventions(v["event_codes"], v["parameters"], path)
        v["resources"] = [
            self.resource(n, _join(path, f"resource[{i}]")) for i, n in enumerate(kids["resource"])
        ]
        v["areas"] = [self.area(n, _join(path, f"area[{i}]")) for i, n in enumerate(kids["area"])]
        return self.build(path, lambda: Info(**v), before)

    def window(
        self,
        effective: datetime | None,
        onset: datetime | None,
        expires: datetime | None,
        path: str,
    ) -> None:
        """Warn of an ``expires`` not after the block's start, or before the event's onset.

        CAP 1.2 §3.2.2 sets no order between these: an empty window is legal, but odd. A block
        starts at its ``effective`` time, else its ``onset`` (:attr:`Alert.windows`), so only
        an ``expires`` not after that start leaves it never active. An ``expires`` not after
        the ``onset`` of a block that takes effect earlier is not empty: the block is told from
        its ``effective`` time until it expires, all before the event is expected (NWS writes a
        watch's ``expires`` as when the message is replaced, often before the event's onset).
        """
        if expires is None:
            return
        name, start = ("effective", effective) if effective is not None else ("onset", onset)
        if start is not None and not expires > start:
            same = "equals" if expires == start else "is before"
            self.warn(
                _join(path, "expires"),
                f"{same} {name} ({start.isoformat()}): this block's window "
                f"{name} <= t < expires is empty, so it is never active",
            )
        elif start is not None and onset is not None and not expires > onset:
            same = "equals" if expires == onset else "is before"
            self.warn(
                _join(path, "expires"),
                f"{same} onset ({onset.isoformat()}): the block is told from its effective "
                f"time ({start.isoformat()}) until it expires, and expires before the event "
                "is expected to begin",
            )

    def conventions(
        self, codes: list[NamedValue | None], parameters: list[NamedValue | None], path: str
    ) -> None:
        """Check geotarget's own event code and parameters, each at its path.

        CAP lets a ``valueName`` be anything; these rules are geotarget's, for the
        ``geotarget:kind`` event code (a kind name, one per alert) and the ``geotarget:tip-*``
        parameters (a tip channel), and the messages say so.
        """
        ours = "a rule of geotarget's own event code, not of CAP"
        for k, code in enumerate(codes):
            if code is None or not is_kind_code(code.value_name):
                continue
            here = _join(path, f"eventCode[{k}]")
            try:
                kind = kind_name(f"the value of {KIND_CODE}", code.value)
            except GeotargetError as err:
                self.problem(here, f"{err} ({ours})")
                continue
            if self.kind_code is None:
                self.kind_code = (here, kind)
            elif self.kind_code[1] != kind:
                self.problem(
                    here,
                    f"names kind {kind!r}, but {self.kind_code[0]} names {self.kind_code[1]!r}: "
                    f"an alert is of one kind ({ours})",
                )
        for k, parameter in enumerate(parameters):
            tip = None if parameter is None else tip_parameter_kind(parameter.value_name)
            if parameter is None or tip is None:
                continue
            try:
                refuse_emergency_number(TipChannel(tip, parameter.value))
            except GeotargetError as err:
                self.problem(
                    _join(path, f"parameter[{k}]"),
                    f"{parameter.value_name}: {err} (a rule of geotarget's own tip-channel "
                    "parameters, not of CAP)",
                )

    def resource(self, node: Node, path: str) -> Resource | None:
        before = len(self.problems)
        kids = self.children(node, path, RESOURCE_11 if self.ns == CAP11 else RESOURCE)
        fields: dict[str, Any] = {
            "description": self.text(kids, "resourceDesc", path),
            "mime_type": self.text(kids, "mimeType", path),
            "size": self.size(kids, path),
            "uri": self.collapsed(kids, "uri", path),
            "deref_uri": self.text(kids, "derefUri", path),
            "digest": self.text(kids, "digest", path),
        }
        if fields["mime_type"] is None and self.ns == CAP11:
            # (The OASIS CAP 1.1 specification's own example A.1 is such a resource.)
            self.fixable(
                _join(path, "mimeType"),
                "missing: CAP 1.1 leaves <mimeType> optional, but CAP 1.2 requires it in every "
                "<resource>",
                f"read it as {UNKNOWN_MIME_TYPE} (RFC 2046: data of no known type)",
            )
            fields["mime_type"] = UNKNOWN_MIME_TYPE
        if fields["uri"] == "" and fields["deref_uri"] is None:
            # xs:anyURI allows the empty string; CAP 1.2 §3.2.3 lets <uri> be a relative URI
            # naming the content of <derefUri>. Empty and alone, it names nothing.
            self.warn(
                _join(path, "uri"), "is empty and there is no <derefUri>: it names no resource"
            )
        if fields["deref_uri"] is not None:
            self.embedded(fields["deref_uri"], fields["digest"], path)
        return self.build(path, lambda: Resource(**fields), before)

    def embedded(self, deref_uri: str, digest: str | None, path: str) -> None:
        """Warn of a ``<derefUri>`` that is not base64, or whose content its digest does not name.

        CAP 1.2 §3.2.3: ``<derefUri>`` is "the base-64 encoded data content of the resource
        file", and ``<digest>`` the resource file's SHA-1 digest. The schema types both as
        strings, so neither is refused: a resource is not what geotarget targets by. But
        content that does not decode, or whose digest differs, was damaged or changed on its
        way (a base64 body cut short, a file replaced after its digest was computed), and a
        service passing it on should know. A digest written in hexadecimal or base64, of
        SHA-1 or of SHA-256, is recognised, of the decoded content or of the base64 text
        itself: Canada's NAAD System (CAP-CP) computes ``<digest>`` over the ``<derefUri>``
        text as written, and that too names the content exactly.
        """
        packed = _XML_SPACES.sub("", deref_uri)  # (MIME-style base64 breaks its lines)
        try:
            if not packed.isascii():
                raise binascii.Error(f"it holds the {non_ascii(packed)}")
            content = base64.b64decode(packed, validate=True)
        except binascii.Error as err:
            self.warn(
                _join(path, "derefUri"),
                f"is not base64 ({err}), but CAP 1.2 §3.2.3 makes it the base-64 encoded "
                f"content of the resource (got {_quote(deref_uri)}, {len(deref_uri):,} "
                "characters): it was damaged on its way, or is not the content itself",
            )
            return
        if digest is None or not digest.strip(XML_SPACE):
            return
        written = digest.strip(XML_SPACE)
        hashes = [hashlib.sha1(content).digest(), hashlib.sha256(content).digest()]
        # The base64 text as written, and without its line breaks, as CAP-CP digests it:
        texts = {deref_uri.strip(XML_SPACE).encode("utf-8"), packed.encode("ascii")}
        named = hashes + [h(t).digest() for t in texts for h in (hashlib.sha1, hashlib.sha256)]
        hexes = {h.hex() for h in named}  # (compared whatever the case of its letters)
        encoded = {base64.b64encode(h).decode("ascii") for h in named}
        if written.lower() not in hexes and written not in encoded:
            self.warn(
                _join(path, "digest"),
                f"does not match the content of <derefUri>, whose SHA-1 is "
                f"{hashes[0].hex()} (got {_quote(written)}): CAP 1.2 §3.2.3 makes it the "
                "digest of the resource, so the content or the digest changed on its way",
            )

    def size(self, kids: dict[str, list[Node]], path: str) -> int | None:
        """A ``<size>``: an xs:integer of bytes, ``0 <= size <=`` :data:`MAX_RESOURCE_SIZE`.

        The digits are counted before ``int`` sees them: CPython refuses to convert more than
        4,300 digits (``sys.int_max_str_digits``), and no size that long is within the limit.
        """
        text = self.collapsed(kids, "size", path)
        if text is None:
            return None
        here = _join(path, "size")
        if not _INTEGER.match(text):
            self.problem(here, ascii_rule(text) or f"must be an integer (got {_quote(text)})")
            return None
        digits = text.lstrip("+-").lstrip("0")
        if text.startswith("-") and digits:
            self.problem(here, f"must be a number of bytes >= 0 (got {_quote(text)})")
            return None
        if len(digits) > len(str(MAX_RESOURCE_SIZE)) or int(digits or "0") > MAX_RESOURCE_SIZE:
            self.problem(
                here,
                f"must be at most {MAX_RESOURCE_SIZE:,} bytes (2**63 - 1), geotarget's limit "
                f"for a resource size; CAP's xs:integer sets none (got {_quote(text)}, "
                f"{len(digits):,} digits)",
            )
            return None
        return int(digits or "0")

    # --- geometry --------------------------------------------------------------------------------

    def area(self, node: Node, path: str) -> AlertArea | None:
        before = len(self.problems)
        kids = self.children(node, path, AREA)
        description = self.text(kids, "areaDesc", path)  # first, as in the document
        if description is not None and not description.strip():
            self.warn(_join(path, "areaDesc"), "is blank: the area has no human-readable name")
        polygons = []
        written: list[int] = []  # each polygon's index in the document (empty ones dropped)
        for i, n in enumerate(kids["polygon"]):
            here = _join(path, f"polygon[{i}]")
            if self.lenient and not n.children and not n.text.strip(XML_SPACE):
                if n.attrs:
                    self.attributes(n, here)
                self.repair(here, f"{_EMPTY_POLYGON}; dropped it (it names no point)")
                continue
            ring = self.polygon(n, here)
            if ring == ():  # a ring of no area lenient reading dropped (repaired there)
                continue
            polygons.append(ring)
            written.append(i)
        circles = []
        at: list[int] = []  # each circle's index in the document (empty ones dropped)
        for i, n in enumerate(kids["circle"]):
            here = _join(path, f"circle[{i}]")
            if self.lenient and not n.children and not n.text.strip(XML_SPACE):
                if n.attrs:
                    self.attributes(n, here)
                self.repair(here, f"{_EMPTY_CIRCLE}; dropped it (it names no point)")
                continue
            circles.append(self.circle(n, here))
            at.append(i)
        fields: dict[str, Any] = {
            "description": description,
            "polygons": polygons,
            "circles": circles,
            "geocodes": self.pairs(kids, "geocode", path),
            "altitude": self.decimal(kids, "altitude", path),
            "ceiling": self.decimal(kids, "ceiling", path),
        }
        if kids["ceiling"] and not kids["altitude"]:
            self.problem(
                _join(path, "ceiling"),
                "needs an <altitude>: CAP 1.2 §3.2.4 says <ceiling> MUST NOT be used except in "
                "combination with <altitude>",
            )
        area = self.build(path, lambda: AlertArea(**fields), before)
        if area is not None:
            self.no_geometry(area, path, written, at)
            self.excluded(area, path)
            self.vertical(area, path)
        for k in () if area is None else area.repaired_polygons:
            self.warn(
                _join(path, f"polygon[{written[k]}]"),
                "crosses or touches itself (CAP allows this): its area is taken as the "
                "repaired ring's parts (Polygon.repair)",
            )
        return area

    def excluded(self, area: AlertArea, path: str) -> None:
        """Warn of a geocode naming a part to subtract from the area (CAP has no such thing).

        DWD's CAP profile writes the part of a polygonal warning area that is *not* warned as
        a ``<geocode>`` ``EXCLUDE_POLYGON`` whose value is a ring of ``lat,lon`` points. CAP
        1.2 defines an area as the union of its polygons and circles and has no holes, so
        geotarget targets the area as written: devices inside the excluded part are told too.
        """
        if area.geometry is None:
            return  # (the area reaches nobody, and says so)
        for k, code in enumerate(area.geocodes):
            if code.value_name.strip(XML_SPACE).upper() == "EXCLUDE_POLYGON":
                self.warn(
                    _join(path, f"geocode[{k}]"),
                    "EXCLUDE_POLYGON names a part to subtract from the area (DWD's CAP "
                    "profile), which CAP 1.2 does not define: an area is the union of its "
                    "polygons and circles, without holes, so geotarget targets it as written "
                    "and devices inside the excluded part are told too",
                )

    def vertical(self, area: AlertArea, path: str) -> None:
        """Warn of an altitude range that may leave out the ground (CAP allows any).

        CAP 1.2 §3.2.4: ``altitude`` is the specific altitude of the area, or its minimum when
        a ``ceiling`` (the maximum) is given, in feet above mean sea level. geotarget targets
        devices by their horizontal position only, so every device inside the outline is told
        whatever its altitude: worth a warning when the range starts above sea level (as an
        airspace does), ends below it (a mine, a tunnel under a strait) or is empty. Ground to
        a ceiling (``altitude`` 0) is not, nor one altitude alone at or below sea level.
        """
        altitude, ceiling = area.altitude, area.ceiling
        if altitude is None or (altitude <= 0.0 and (ceiling is None or ceiling >= 0.0)):
            return
        if ceiling is not None and ceiling < altitude:
            what = f"ceiling {ceiling:g} ft is below altitude {altitude:g} ft: the range is empty"
        elif ceiling is not None and ceiling < 0.0:
            what = (
                f"the area lies at altitude {altitude:g} ft to {ceiling:g} ft, below mean sea "
                "level (underground, as a mine or a tunnel)"
            )
        else:
            upto = "" if ceiling is None else f" to {ceiling:g} ft"
            what = f"the area lies at altitude {altitude:g} ft{upto} above mean sea level"
        self.warn(
            _join(path, "altitude"),
            f"{what}, but geotarget targets devices by their horizontal position only: every "
            "device inside the area's outline is told, whatever its altitude",
        )

    def no_geometry(
        self, area: AlertArea, path: str, written: list[int], circles_at: list[int]
    ) -> None:
        """Warn of parts and areas that add nothing to the area targeted (CAP allows them).

        ``written`` and ``circles_at``: each of the area's polygons' and circles' index in the
        document.
        """
        for k in area.empty_polygons:
            self.warn(
                _join(path, f"polygon[{written[k]}]"),
                "encloses no area (its points are collinear or repeat one point; CAP allows "
                "this): like a circle of radius 0, it adds nothing to the area targeted",
            )
        for k, (_lon, _lat, radius_m) in enumerate(area.circles):
            if radius_m == 0.0:
                self.warn(
                    _join(path, f"circle[{circles_at[k]}]"),
                    "has radius 0 km: it marks a point, which covers no area, so it adds "
                    "nothing to the area targeted",
                )
        if area.geometry is None:
            kept = "its geocodes are" if area.geocodes else "its areaDesc is"
            self.warn(
                path,
                "has no polygon enclosing an area and no circle of radius > 0: geotarget "
                f"targets by geometry only, so this area reaches nobody ({kept} not resolved "
                "to a place)",
            )

    def points(
        self, text: str, path: str, form: str = "'lat,lon' pairs of"
    ) -> list[tuple[float, float]] | None:
        """Parse whitespace-separated ``lat,lon`` tokens into (lon, lat) pairs.

        A coordinate pair is ``latitude,longitude`` in decimal degrees, WGS 84 (CAP 1.2 §1.5,
        §3.3.1); pairs are separated by XML whitespace. For ASCII text, ``str.split`` splits
        on exactly the XML whitespace (its other separators cannot occur in XML 1.0 text).
        ``form`` names what the element holds in the message about non-ASCII text.
        """
        found = non_ascii(text)
        if found is not None:
            self.problem(
                path,
                f"must be {form} decimal numbers written with ASCII digits 0-9 and separated "
                f"by spaces, tabs or newlines (got the {found} of {_quote(text)})"
                + (_dms_hint(text) or _ascii_digits_hint(text)),
            )
            return None
        tokens = text.split()
        if len(tokens) <= 32:  # small: plain Python beats numpy's set-up cost
            pairs = [_PAIR.match(t) for t in tokens]
            if all(pairs):
                lat_lon = [(float(m[1]), float(m[2])) for m in pairs if m]
                if all(abs(a) <= 90.0 and abs(o) <= 180.0 for a, o in lat_lon):
                    return [(o, a) for a, o in lat_lon]
        elif all(map(_PAIR.match, tokens)):  # (one regex over the text kept a point a pair)
            flat = np.array(text.replace(",", " ").split(), dtype=np.float64).reshape(-1, 2)
            lat, lon = flat[:, 0], flat[:, 1]
            if bool(np.all(np.abs(lat) <= 90.0)) and bool(np.all(np.abs(lon) <= 180.0)):
                return list(zip(lon.tolist(), lat.tolist(), strict=True))
        bad = []
        minutes = ""  # the hint for the first point out of range, if it is degrees and minutes
        for k, token in enumerate(tokens):
            m = _PAIR.match(token)
            if m is None:
                bad.append(f"point {k} {_quote(token)} is not 'lat,lon' in decimal degrees")
            elif not (abs(float(m[1])) <= 90.0 and abs(float(m[2])) <= 180.0):
                if not bad:
                    minutes = _minutes_hint(m[1], m[2])
                bad.append(
                    f"point {k} {_quote(token)} is out of range (lat must be within "
                    "[-90, 90] and lon within [-180, 180]; CAP writes lat first)"
                )
        more = f" ({len(bad)} bad points in all)" if len(bad) > 1 else ""
        hint = (
            minutes
            or _comma_hint(tokens, self.envelope)
            or _separator_hint(text, self.envelope)
            or _triple_hint_points(tokens, self.envelope)
        )
        self.problem(path, bad[0] + more + hint)
        return None

    def polygon(self, node: Node, path: str) -> tuple[tuple[float, float], ...] | None:
        text = self.leaf(node, path)
        if not text.strip(XML_SPACE):
            # CAP 1.2 §3.2.4: "A minimum of 4 coordinate pairs MUST be present and the first
            # and last pairs of coordinates MUST be the same."
            self.fixable(path, _EMPTY_POLYGON, "")  # lenient reading drops it in area()
            return None
        pts = self.points(text, path)
        if pts is None:
            return None
        if pts[0] != pts[-1] and len(pts) >= 3:
            commas = _decimal_commas(text, self.envelope)
            if commas:
                self.problem(path, commas)  # never "repaired" into another place
                return None
            first = f"{pts[0][1]!r},{pts[0][0]!r}"
            self.fixable(
                path,
                f"must be closed: the first point ({first}) and the last "
                f"({pts[-1][1]!r},{pts[-1][0]!r}) differ",
                f"closed the ring by repeating its first point {first}",
            )
            pts.append(pts[0])
        if len(pts) < 4 or pts[0] != pts[-1]:
            # Here at most two distinct points (three or more would have been closed to four):
            # a ring of no area, as DWD writes a thunderstorm cell that shrank to a sliver
            # ("51.437717,13.32218 51.437828,13.332933 51.437717,13.32218"). Lenient reading
            # drops it as it drops an empty <polygon>: that takes nothing from the area.
            self.fixable(
                path,
                f"must hold at least 4 'lat,lon' points, the first equal to the last "
                f"(got {len(pts)}, {len(set(pts))} distinct)",
                "dropped it (with at most two distinct points it encloses no area)",
            )
            return () if self.lenient else None
        lonlat = np.array(pts)
        jumps = long_way_edges(lonlat[:, 0], lonlat[:, 1])
        if jumps.size:
            # CAP 1.2 sets no rule for the 180° meridian; geotarget's polygons are planar in
            # lon/lat, so such a ring would silently be read the long way round the Earth
            # (an edge from lon 180 to lon -180 included: one meridian, 360° apart in plain
            # lon/lat). Only an edge along a pole, where every longitude is one point, is
            # read as written (the whole-world rectangle).
            k = int(jumps[0])
            (lon0, lat0), (lon1, lat1) = pts[k], pts[k + 1]
            more = f" ({jumps.size} such edges in all)" if jumps.size > 1 else ""
            same = (
                " (lon 180 and -180 are the same meridian)" if abs(lon0) == abs(lon1) == 180 else ""
            )
            self.problem(
                path,
                f"crosses the 180° meridian: the edge from point {k} ({lat0!r},{lon0!r}) to "
                f"point {k + 1} ({lat1!r},{lon1!r}) spans {abs(lon1 - lon0):g}° of longitude"
                f"{same}{more}; geotarget reads polygons in plain lon/lat and would take it the "
                "long way round the Earth, so split it at 180° into one polygon on each side (a "
                "limit of geotarget: CAP sets no rule here)",
            )
            return None
        why = self.budget.refusal(lonlat, path)
        if why is not None:
            self.problem(path, why)
            return None
        self.check_envelope(path, lonlat, "polygon")
        return tuple(pts)

    def circle(self, node: Node, path: str) -> tuple[float, float, float] | None:
        text = self.leaf(node, path)
        if not text.strip(XML_SPACE):
            self.fixable(path, _EMPTY_CIRCLE, "")  # lenient reading drops it in area()
            return None
        if not text.isascii():  # reports the first non-ASCII character
            self.points(text, path, "'lat,lon radius', the radius in kilometres, in")
            return None
        tokens = text.split()
        # CAP 1.2 §3.2.4: a central point given as a coordinate pair followed by a space
        # character and a radius value in kilometers.
        rule = "must be 'lat,lon radius' with the radius in kilometres"
        if len(tokens) != 2 or not _DECIMAL.match(tokens[1]):
            hint = _separator_hint(text, self.envelope)
            if hint:
                pass
            elif len(tokens) == 2 and re.fullmatch(r"\d+,\d+", tokens[1]):
                hint = _COMMA_HINT
            elif len(tokens) == 1 and _PAIR.match(tokens[0].rpartition(",")[0]):
                hint = "; a space, not a comma, separates the point from the radius"
            elif len(tokens) == 3 and all(_DECIMAL.match(t) for t in tokens):
                order = _axis_order([(tokens[0], tokens[1])], self.envelope)
                hint = (
                    "; a comma, not a space, separates the point's lat from its lon"
                    if order == "lat lon"
                    else "; the point looks written 'lon lat': CAP writes 'lat,lon radius', "
                    "latitude first with a comma, not a space, before the longitude"
                    if order == "lon lat"
                    else "; a comma, not a space, separates the point's lat from its lon, "
                    f"and the latitude comes first ({_UNTOLD})"
                )
            elif len(tokens) == 3 and _COMMA_NUMBER.fullmatch(tokens[2]):
                hint = _comma_hint(tokens[:2], self.envelope)  # 59,33 18,06 0,5: decimal commas
            elif len(tokens) == 3 and _DECIMAL.match(tokens[1]) and tokens[2].isalpha():
                hint = _unit_hint(tokens[1], tokens[2])
            elif len(tokens) == 2 and (glued := _GLUED_UNIT.fullmatch(tokens[1])) is not None:
                hint = _unit_hint(glued.group(1), glued.group(2))  # 500m, 0.5km
            self.problem(path, f"{rule} (got {_quote(text)}){hint}")
            return None
        if _DECIMAL.match(tokens[0]):  # '59.33 18.06': two bare numbers, no point
            self.problem(
                path,
                f"{rule} (got {_quote(text)}); it holds two numbers and no 'lat,lon' point: "
                "a comma, not a space, joins the point's lat and lon, and a space then the "
                "radius follows",
            )
            return None
        pts = self.points(tokens[0], path)
        if pts is None:
            return None
        km = Decimal(tokens[1])
        if not 0 <= km <= 1000:
            self.problem(
                path,
                f"radius must be >= 0 and <= 1000 km (got {_short(tokens[1])} km): a radius is a "
                "distance, and 1000 km is geotarget's limit for a circle (CAP sets none)",
            )
            return None
        self.check_envelope(path, np.array(pts), "circle centre")
        return (pts[0][0], pts[0][1], float(km.scaleb(3)))

    def check_envelope(self, path: str, lonlat: np.ndarray[Any, Any], what: str) -> None:
        """Report a part that lies outside the envelope but inside it with lon/lat swapped.

        A polygon only some of whose points look swapped (the others inside the envelope as
        written) is read with a warning: as read, it stretches from the service area to the
        other side of the world.
        """
        if self.envelope is not None:
            message = swap_message(lonlat, self.envelope, what)
            if message is None:
                mixed = mixed_swap_message(lonlat, self.envelope)
                if mixed is not None:
                    self.warn(path, mixed)
                return
            if self.msg_type in (MessageType.CANCEL, MessageType.ACK, MessageType.ERROR):
                # Refusing it would keep a Cancel from ending its incident over an area
                # nobody is told about.
                kind = self.msg_type.value
                self.warn(path, f"{message}; a {kind}'s areas are not targeted, so it is read")
            else:
                self.problem(path, message)
