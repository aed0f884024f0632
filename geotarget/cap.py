"""Read and write OASIS CAP 1.2 XML: strict, lenient with a list of repairs, and safe.

* :func:`loads` reads a CAP 1.2 document into an :class:`~geotarget.alerts.Alert`. It is
  strict: it checks the CAP-v1.2.xsd content model (element order, cardinality, enumerations,
  date-times) and the spec's rules the schema cannot express (polygons of at least 4 closed
  ``lat,lon`` points, ``lat,lon radius`` circles in km, identifiers without spaces or commas,
  ``references`` triples), and raises one :class:`~geotarget.errors.InvalidCAP` listing
  **every** problem with its element path, such as ``info[1]/area[0]/circle[0]``.
* :func:`loads_lenient` repairs what is safe — whitespace around values, an unclosed polygon
  ring, ``Z`` for UTC, elements out of schema order, stray attributes, a CAP 1.1 namespace —
  and returns the alert with a list of each :class:`Repair`. Anything else still raises.
* :func:`dumps` writes an alert as CAP 1.2 (namespace :data:`NAMESPACE`, elements in schema
  order); ``loads(dumps(alert)) == alert`` for every alert.

CAP's own conventions live only here: polygons are ``"lat,lon"`` pairs (geotarget is
``lon, lat`` everywhere else), circle radii are in **kilometres** (``Circle.radius_m`` is in
metres), and date-times carry an explicit UTC offset with no fractional seconds.

Parsing is safe: only the standard library's expat, any DOCTYPE refused (so no DTD, no entity
expansion, no external entity), nothing fetched or opened, and the size, depth and element
count bounded by :data:`MAX_DOCUMENT_BYTES`, :data:`MAX_DEPTH` and :data:`MAX_ELEMENTS`.

Examples
--------
>>> from geotarget import cap
>>> from geotarget.errors import InvalidCAP
>>> doc = '''<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
...   <identifier>SE-POL-1</identifier><sender>polisen@polisen.se</sender>
...   <sent>2026-05-04T21:30:00+02:00</sent><status>Actual</status>
...   <msgType>Alert</msgType><scope>Public</scope>
...   <info><category>Safety</category><event>Explosion</event><urgency>Immediate</urgency>
...     <severity>Severe</severity><certainty>Likely</certainty>
...     <area><areaDesc>Sergels torg</areaDesc><circle>59.3325,18.06528 0.5</circle></area>
...   </info>
... </alert>'''
>>> alert = cap.loads(doc)
>>> alert.area.parts[0]
Circle(lon=18.06528, lat=59.3325, radius_m=500.0, margin_m=0.0)
>>> cap.loads(cap.dumps(alert)) == alert
True
>>> late = doc.replace("+02:00", "Z")
>>> try:
...     cap.loads(late)
... except InvalidCAP as err:
...     print(err.problems[0])  # doctest: +ELLIPSIS
sent: uses 'Z' for UTC: CAP 1.2 requires an explicit offset such as +00:00 ...
>>> result = cap.loads_lenient(late)
>>> result.alert.sent.isoformat(), [r.path for r in result.repairs]
('2026-05-04T21:30:00+00:00', ['sent'])

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import xml.parsers.expat as expat
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import attrs

from geotarget import _cap_xml
from geotarget._cap_read import CAP12, Envelope, Reader, Repair
from geotarget._cap_xml import MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_ELEMENTS
from geotarget._validate import lon_lat
from geotarget.alerts import Alert, AlertArea, Info, NamedValue
from geotarget.errors import InvalidCAP, InvalidCoordinates, InvalidType, Problem

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_ELEMENTS",
    "NAMESPACE",
    "LenientResult",
    "Repair",
    "dumps",
    "loads",
    "loads_lenient",
]


def __dir__() -> list[str]:
    return __all__


Repair.__module__ = __name__

#: The CAP 1.2 XML namespace.
NAMESPACE = CAP12


@attrs.frozen
class LenientResult:
    """What :func:`loads_lenient` returns: the alert and every repair made to read it.

    Parameters
    ----------
    alert : Alert
        The alert, as :func:`loads` would read the repaired document.
    repairs : tuple of Repair
        Each repair, in document order; empty when the document was already valid.

    Examples
    --------
    See :func:`loads_lenient`.

    .. versionadded:: 0.1.0
    """

    alert: Alert
    repairs: tuple[Repair, ...]


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _envelope(value: Sequence[float] | None) -> Envelope | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 4:
        raise InvalidType(f"envelope must be (west, south, east, north) (got {value!r})")
    west, south = lon_lat("envelope west", value[0], "envelope south", value[1])
    east, north = lon_lat("envelope east", value[2], "envelope north", value[3])
    if not (west < east and south < north):
        raise InvalidCoordinates(
            "envelope must have west < east and south < north "
            f"(got west {west:g}, south {south:g}, east {east:g}, north {north:g})"
        )
    return (west, south, east, north)


def _read(
    data: str | bytes, *, lenient: bool, envelope: Sequence[float] | None
) -> tuple[Alert, tuple[Repair, ...]]:
    env = _envelope(envelope)
    if not isinstance(data, (str, bytes, bytearray, memoryview)):
        raise InvalidType(f"data must be str or bytes (got {type(data).__name__})")
    try:
        root = _cap_xml.parse(data)
    except _cap_xml.Refused as err:
        raise InvalidCAP([Problem("", str(err))]) from err
    except expat.ExpatError as err:
        where = f"line {err.lineno}, column {err.offset + 1}"
        reason = expat.ErrorString(err.code)
        raise InvalidCAP([Problem("", f"not well-formed XML: {reason} at {where}")]) from err
    reader = Reader(lenient=lenient, envelope=env)
    alert = reader.read(root)
    if reader.problems or alert is None:
        raise InvalidCAP(reader.problems)
    return alert, tuple(reader.repairs)


def loads(data: str | bytes, *, envelope: Sequence[float] | None = None) -> Alert:
    """Read a CAP 1.2 document strictly.

    Parameters
    ----------
    data : str or bytes
        The XML. ``bytes`` are decoded as the XML declaration says (UTF-8 by default); a
        ``str`` is taken as already decoded.
    envelope : (west, south, east, north), optional
        The service area in degrees. A polygon or circle that lies wholly outside it, but
        inside it with latitude and longitude swapped, is reported as written ``lon,lat``.

    Returns
    -------
    Alert

    Raises
    ------
    InvalidCAP
        Listing every problem with its path (``info[1]/area[0]/circle[0]``) and the rule
        broken: not well-formed or refused XML (any DOCTYPE, too large, too deep), a root other
        than CAP 1.2 ``<alert>`` (CAP 1.1 included), elements missing, repeated, unknown or out
        of order, bad enumerations, date-times with ``Z``, no offset or fractional seconds,
        bad polygons or circles, swapped coordinates, and any rule of the alert model.

    Examples
    --------
    >>> from geotarget import cap
    >>> from geotarget.errors import InvalidCAP
    >>> doc = ('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>A-1</identifier>'
    ...        '<sender>a@b.se</sender><sent>2026-05-04T19:30:00+00:00</sent>'
    ...        '<status>Test</status><msgType>Alert</msgType><scope>Public</scope></alert>')
    >>> cap.loads(doc).status
    <Status.TEST: 'Test'>
    >>> try:
    ...     cap.loads(doc.replace("Test", "Drill").replace("<scope>Public</scope>", ""))
    ... except InvalidCAP as err:
    ...     print(err.paths)
    ['scope', 'status']

    .. versionadded:: 0.1.0
    """
    return _read(data, lenient=False, envelope=envelope)[0]


def loads_lenient(data: str | bytes, *, envelope: Sequence[float] | None = None) -> LenientResult:
    """Read a CAP document, repairing what is safe, and say what was repaired.

    The repairs: whitespace around enumerations, identifiers and senders is stripped; an
    unclosed polygon ring (at least 3 points) is closed; a ``Z`` UTC suffix is read as
    ``+00:00``; children out of schema order are read in order; attributes are ignored; a CAP
    1.1 document is read as CAP 1.2 (1.1's certainty ``Very Likely`` as ``Likely``). Nothing
    else is guessed: every other problem still raises, exactly as in :func:`loads`.

    Parameters
    ----------
    data : str or bytes
        The XML, as for :func:`loads`.
    envelope : (west, south, east, north), optional
        As for :func:`loads`; swapped coordinates are reported, never swapped back.

    Returns
    -------
    LenientResult
        ``.alert`` and ``.repairs`` (each a :class:`Repair` with a path and a message).

    Raises
    ------
    InvalidCAP
        For every problem that is not safely repairable.

    Examples
    --------
    >>> from geotarget import cap
    >>> doc = ('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>A-1</identifier>'
    ...        '<sender>a@b.se</sender><sent>2026-05-04T19:30:00Z</sent>'
    ...        '<status> Test </status><msgType>Alert</msgType><scope>Public</scope></alert>')
    >>> result = cap.loads_lenient(doc)
    >>> result.alert.sent.isoformat(), result.alert.status.value
    ('2026-05-04T19:30:00+00:00', 'Test')
    >>> [r.path for r in result.repairs]
    ['sent', 'status']

    .. versionadded:: 0.1.0
    """
    alert, repairs = _read(data, lenient=True, envelope=envelope)
    return LenientResult(alert, repairs)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _esc(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _dec(x: float) -> str:
    """A float as an xs:decimal that reads back to the same float (never an exponent)."""
    text = repr(x)  # the shortest text that reads back exactly
    return text if "e" not in text else format(Decimal(text), "f")


def _km(radius_m: float) -> str:
    """Metres as kilometres, digit-exact: the reader's decimal shift gives ``radius_m`` back."""
    return format(Decimal(repr(radius_m)).scaleb(-3).normalize(), "f")


def _time(t: datetime) -> str:
    offset = t.utcoffset()
    assert offset is not None  # the model only holds aware datetimes
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f"{sign}{hh:02d}:{mm:02d}"
    )


def _quoted(items: Sequence[str]) -> str:
    return " ".join(f'"{s}"' if any(c.isspace() for c in s) else s for s in items)


class _Writer:
    def __init__(self) -> None:
        self.lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<alert xmlns="{NAMESPACE}">']

    def leaf(self, depth: int, name: str, text: str | None) -> None:
        if text is not None:
            self.lines.append(f"{'  ' * depth}<{name}>{_esc(text)}</{name}>")

    def open(self, depth: int, name: str) -> None:
        self.lines.append(f"{'  ' * depth}<{name}>")

    def close(self, depth: int, name: str) -> None:
        self.lines.append(f"{'  ' * depth}</{name}>")

    def pairs(self, depth: int, name: str, items: Sequence[NamedValue]) -> None:
        for item in items:
            self.open(depth, name)
            self.leaf(depth + 1, "valueName", item.value_name)
            self.leaf(depth + 1, "value", item.value)
            self.close(depth, name)

    def area(self, a: AlertArea) -> None:
        self.open(2, "area")
        self.leaf(3, "areaDesc", a.description)
        for ring in a.polygons:
            self.leaf(3, "polygon", " ".join(f"{_dec(lat)},{_dec(lon)}" for lon, lat in ring))
        for lon, lat, r in a.circles:
            self.leaf(3, "circle", f"{_dec(lat)},{_dec(lon)} {_km(r)}")
        self.pairs(3, "geocode", a.geocodes)
        self.leaf(3, "altitude", None if a.altitude is None else _dec(a.altitude))
        self.leaf(3, "ceiling", None if a.ceiling is None else _dec(a.ceiling))
        self.close(2, "area")

    def info(self, i: Info) -> None:
        self.open(1, "info")
        self.leaf(2, "language", i.language)
        for c in i.categories:
            self.leaf(2, "category", c.value)
        self.leaf(2, "event", i.event)
        for r in i.response_types:
            self.leaf(2, "responseType", r.value)
        self.leaf(2, "urgency", i.urgency.value)
        self.leaf(2, "severity", i.severity.value)
        self.leaf(2, "certainty", i.certainty.value)
        self.leaf(2, "audience", i.audience)
        self.pairs(2, "eventCode", i.event_codes)
        for name in ("effective", "onset", "expires"):
            t = getattr(i, name)
            self.leaf(2, name, None if t is None else _time(t))
        self.leaf(2, "senderName", i.sender_name)
        self.leaf(2, "headline", i.headline)
        self.leaf(2, "description", i.description)
        self.leaf(2, "instruction", i.instruction)
        self.leaf(2, "web", i.web)
        self.leaf(2, "contact", i.contact)
        self.pairs(2, "parameter", i.parameters)
        for res in i.resources:
            self.open(2, "resource")
            self.leaf(3, "resourceDesc", res.description)
            self.leaf(3, "mimeType", res.mime_type)
            self.leaf(3, "size", None if res.size is None else str(res.size))
            self.leaf(3, "uri", res.uri)
            self.leaf(3, "derefUri", res.deref_uri)
            self.leaf(3, "digest", res.digest)
            self.close(2, "resource")
        for a in i.areas:
            self.area(a)
        self.close(1, "info")


def dumps(alert: Alert) -> str:
    """Write an alert as a CAP 1.2 XML document.

    The namespace is :data:`NAMESPACE`, elements come in schema order, polygons are written
    ``lat,lon``, circle radii in kilometres, date-times with their UTC offset (``+00:00`` for
    UTC) and whole seconds, numbers without exponents. ``<language>`` is always written.

    Parameters
    ----------
    alert : Alert

    Returns
    -------
    str
        The document, starting with an XML declaration for UTF-8: encode it as UTF-8.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from geotarget import Circle, cap
    >>> from geotarget.alerts import Alert, AlertArea, Info
    >>> alert = Alert(identifier="X-1", sender="test@example.org",
    ...     sent=datetime(2026, 5, 4, 19, 30, tzinfo=timezone.utc), status="Test",
    ...     msg_type="Alert", scope="Public",
    ...     infos=[Info(categories=["Safety"], event="Test", urgency="Unknown",
    ...                 severity="Unknown", certainty="Unknown",
    ...                 areas=[AlertArea.from_area("Here", Circle(18.06528, 59.3325, 500.0))])])
    >>> print(cap.dumps(alert), end="")  # doctest: +ELLIPSIS
    <?xml version="1.0" encoding="UTF-8"?>
    <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
      <identifier>X-1</identifier>
      <sender>test@example.org</sender>
      <sent>2026-05-04T19:30:00+00:00</sent>
    ...
          <circle>59.3325,18.06528 0.5</circle>
    ...
    </alert>

    .. versionadded:: 0.1.0
    """
    if not isinstance(alert, Alert):
        raise InvalidType(f"alert must be an Alert (got {type(alert).__name__})")
    w = _Writer()
    w.leaf(1, "identifier", alert.identifier)
    w.leaf(1, "sender", alert.sender)
    w.leaf(1, "sent", _time(alert.sent))
    w.leaf(1, "status", alert.status.value)
    w.leaf(1, "msgType", alert.msg_type.value)
    w.leaf(1, "source", alert.source)
    w.leaf(1, "scope", alert.scope.value)
    w.leaf(1, "restriction", alert.restriction)
    w.leaf(1, "addresses", _quoted(alert.addresses) if alert.addresses else None)
    for code in alert.codes:
        w.leaf(1, "code", code)
    w.leaf(1, "note", alert.note)
    refs = " ".join(f"{r.sender},{r.identifier},{_time(r.sent)}" for r in alert.references)
    w.leaf(1, "references", refs or None)
    w.leaf(1, "incidents", _quoted(alert.incidents) if alert.incidents else None)
    for info in alert.infos:
        w.info(info)
    w.lines.append("</alert>\n")
    return "\n".join(w.lines)
