"""Read and write OASIS CAP 1.2 XML: strict, lenient with a list of repairs, and safe.

* :func:`read` reads a CAP 1.2 document into a :class:`Parsed`: the
  :class:`~geotarget.alerts.Alert` and its **warnings**. Strict reading refuses exactly what
  CAP refuses — the CAP-v1.2.xsd content model and types, and the normative rules (MUST,
  SHALL, REQUIRED) of the CAP 1.2 specification the schema cannot express (polygons of at
  least 4 closed ``lat,lon`` points, ``lat,lon radius`` circles, identifiers without spaces
  or commas, ``references`` triples, no ``Z`` for UTC) — and raises one
  :class:`~geotarget.errors.InvalidCAP` listing **every** problem with its element path, such
  as ``info[1]/area[0]/circle[0]``. Whatever CAP allows but deserves a second look (an
  ``expires`` not after ``onset``, UTC written ``+00:00``, a blank ``areaDesc``, a polygon
  that crosses itself...) is a warning with its path, never a refusal.
* :func:`loads` is :func:`read` returning just the alert.
* :func:`loads_lenient` also repairs what is safe — whitespace around values, an unclosed
  polygon ring, an empty polygon or circle, ``Z`` for UTC, elements out of schema order, stray
  attributes and ``xsi:nil``, a CAP 1.1 namespace, a ``references`` triple split by a space
  beside a comma — and reports each :class:`Repair`. Anything else still raises.
* :func:`dumps` writes an alert as CAP 1.2 (namespace :data:`NAMESPACE`, elements in schema
  order, UTC as ``-00:00``); ``loads(dumps(alert)) == alert`` for every alert it writes, and
  it refuses an alert whose document would exceed the reader's limits.
* :func:`check_axis_order` finds polygons and circles written ``lon,lat`` against a service
  envelope; :func:`verify_signature` verifies an enveloped XML-DSig signature against a
  pinned certificate (optional extra ``signing``).

CAP's own conventions live only here: polygons are ``"lat,lon"`` pairs (geotarget is
``lon, lat`` everywhere else), circle radii are in **kilometres** (``Circle.radius_m`` is in
metres), and date-times carry an explicit UTC offset with no fractional seconds.

Parsing is safe: only the standard library's expat, any DOCTYPE refused (so no DTD, no entity
expansion, no external entity), only real character encodings, nothing fetched or opened, and
the size, depth and element count bounded by :data:`MAX_DOCUMENT_BYTES`, :data:`MAX_DEPTH` and
:data:`MAX_ELEMENTS`, and a namespace name to 256 characters (expat writes it out in every name
that uses it).

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
...     <onset>2026-05-04T21:30:00+02:00</onset><expires>2026-05-04T21:30:00+02:00</expires>
...     <area><areaDesc>Sergels torg</areaDesc><circle>59.3325,18.06528 0.5</circle></area>
...   </info>
... </alert>'''
>>> parsed = cap.read(doc)
>>> parsed.alert.area.parts[0]
Circle(lon=18.06528, lat=59.3325, radius_m=500.0, margin_m=0.0)
>>> for warning in parsed.warnings:
...     print(warning)  # doctest: +ELLIPSIS
info[0]/expires: equals onset (2026-05-04T21:30:00+02:00): this block's window ... is empty, ...
>>> cap.loads(cap.dumps(parsed.alert)) == parsed.alert
True
>>> late = doc.replace("+02:00", "Z")
>>> try:
...     cap.loads(late)
... except InvalidCAP as err:
...     print(err.problems[0])  # doctest: +ELLIPSIS
sent: uses 'Z' for UTC: CAP 1.2 §3.3.2 says alphabetic time zone designators MUST NOT be used ...
>>> result = cap.loads_lenient(late)
>>> result.alert.sent.isoformat(), [r.path for r in result.repairs]
('2026-05-04T21:30:00+00:00', ['sent', 'info[0]/onset', 'info[0]/expires'])

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import codecs
import os
import re
import xml.parsers.expat as expat
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Union

import attrs
import numpy as np

from geotarget._validate import lon_lat, shown
from geotarget.alerts import Alert, MessageType
from geotarget.cap import _xml
from geotarget.cap._read import CAP12, DSIG, Envelope, Reader, Repair, swap_message
from geotarget.cap._xml import MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_ELEMENTS
from geotarget.errors import (
    InvalidCAP,
    InvalidCoordinates,
    InvalidSignature,
    InvalidType,
    MissingSignature,
    Problem,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_ELEMENTS",
    "NAMESPACE",
    "LenientResult",
    "Parsed",
    "Repair",
    "check_axis_order",
    "dumps",
    "loads",
    "loads_lenient",
    "read",
    "verify_signature",
]


def __dir__() -> list[str]:
    return __all__


#: The CAP 1.2 XML namespace.
NAMESPACE = CAP12

#: A service envelope as callers hold one: (west, south, east, north) in a sequence, or in a
#: one-dimensional array (``total_bounds``).
Bounds = Union[Sequence[float], "np.ndarray[Any, Any]"]


@attrs.frozen
class Parsed:
    """A CAP document as read: the alert, what is odd about it, and what was repaired.

    Warnings and repairs describe the *document*, not the alert: they are kept here, beside
    the :class:`~geotarget.alerts.Alert`, so alerts compare equal whatever document they were
    read from (``loads(dumps(a)) == a``).

    Parameters
    ----------
    alert : Alert
        The alert.
    warnings : tuple of Problem, keyword-only
        Findings CAP allows but a reader should know about, in document order, each with its
        path: an ``expires`` that is not after ``onset`` or ``effective``, UTC written
        ``+00:00`` (CAP 1.2 §3.3.2 says ``-00:00``), a blank ``areaDesc``, an empty ``<uri>``
        without ``<derefUri>`` or an empty ``<web>``, a polygon that crosses or touches itself,
        a message that references itself, ``24:00:00``, a circle of radius 0 (a point), a
        polygon that encloses no area (collinear or repeated points), an area with no polygon
        enclosing an area and no circle of radius > 0 (geocodes only), which reaches nobody,
        an ``altitude`` range above sea level or empty (geotarget targets in 2-D), a
        ``geocode`` ``EXCLUDE_POLYGON`` (DWD's part to subtract: CAP has no holes), a
        ``derefUri`` that is not base64 or whose ``digest`` differs (damaged content), and text
        that reads as UTF-8 decoded as ISO-8859-1 or windows-1252 (``MalmÃ¶``) or holds a C1
        control character (windows-1252 declared ISO-8859-1): the XML declaration lies.
    repairs : tuple of Repair, keyword-only
        What :func:`loads_lenient` repaired, in document order; always empty from a strict
        read.

    Examples
    --------
    See :func:`read`.

    .. versionadded:: 0.1.0
    """

    alert: Alert
    warnings: tuple[Problem, ...] = attrs.field(default=(), kw_only=True)
    repairs: tuple[Repair, ...] = attrs.field(default=(), kw_only=True)


#: What :func:`loads_lenient` returns: the same :class:`Parsed` (kept for compatibility).
LenientResult = Parsed


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _envelope(value: Bounds | None) -> Envelope | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise InvalidType(
                f"envelope must be (west, south, east, north) (got an array of shape {value.shape})"
            )
        value = value.tolist()  # GeoPandas' total_bounds, shapely.total_bounds: an array
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 4:
        raise InvalidType(f"envelope must be (west, south, east, north) (got {shown(value)})")
    west, south = lon_lat("envelope west", value[0], "envelope south", value[1])
    east, north = lon_lat("envelope east", value[2], "envelope north", value[3])
    if not (west < east and south < north):
        raise InvalidCoordinates(
            "envelope must have west < east and south < north "
            f"(got west {west:g}, south {south:g}, east {east:g}, north {north:g})"
        )
    return (west, south, east, north)


def _refuse_oversize(data: object) -> None:
    """InvalidCAP for a document certainly too large, in constant time (see _xml)."""
    try:
        _xml.refuse_oversize(data)
    except _xml.Refused as err:
        raise InvalidCAP([Problem("", str(err))]) from err


def _parse(data: str | bytes) -> _xml.Node:
    """The element tree of ``data``, or InvalidCAP for refused or malformed XML."""
    given: object = data  # (typed str | bytes, but a caller may pass anything)
    if not isinstance(given, (str, bytes, bytearray, memoryview)):
        path = (
            ": a path is not read for you; pass the file's bytes, Path(name).read_bytes()"
            if isinstance(given, os.PathLike)
            else ""
        )
        raise InvalidType(f"data must be str or bytes (got {type(given).__name__}){path}")
    try:
        return _xml.parse(data)
    except _xml.Refused as err:
        raise InvalidCAP([Problem("", str(err))]) from err
    except expat.ExpatError as err:
        where = f"line {err.lineno}, column {err.offset + 1}"
        reason = expat.ErrorString(err.code)
        message = f"not well-formed XML: {reason} at {where}"
        spaces = _space_before_declaration(data)
        if spaces and err.code == expat.errors.codes[expat.errors.XML_ERROR_MISPLACED_XML_PI]:
            # A problem loads_lenient repairs says so, as the reader's others do.
            message += (
                f": {spaces} whitespace character(s) come before the XML declaration, which XML "
                "1.0 §2.8 requires to come first (loads_lenient repairs this)"
            )
        raise InvalidCAP([Problem("", message)]) from err


#: XML whitespace before an XML declaration (after any UTF-8 byte order mark), which XML 1.0
#: §2.8 forbids: the declaration must be the very first thing in the document.
_SPACE_BEFORE_DECLARATION = re.compile(rb"(\xef\xbb\xbf)?([ \t\r\n]+)(?=<\?xml[ \t\r\n])")
_SPACE_BEFORE_DECLARATION_STR = re.compile(r"(\ufeff)?([ \t\r\n]+)(?=<\?xml[ \t\r\n])")


#: The encodings of more than one byte per ASCII character a document may be in (XML 1.0
#: Appendix F), by their byte-order mark or, without one, by the units of a whitespace.
_WIDE = (
    (codecs.BOM_UTF32_LE, "utf-32-le", 4),
    (codecs.BOM_UTF32_BE, "utf-32-be", 4),
    (codecs.BOM_UTF16_LE, "utf-16-le", 2),
    (codecs.BOM_UTF16_BE, "utf-16-be", 2),
)


def _without_space_before_declaration(raw: bytes) -> tuple[int, bytes] | None:
    """``raw`` without the whitespace before its XML declaration, and how many characters.

    None when there is none, or no declaration after it. In UTF-8 (with or without its
    byte-order mark) and in UTF-16 and UTF-32 (with a mark or, without one, as their units
    show): the mark is kept, the declaration put first.
    """
    mb = _SPACE_BEFORE_DECLARATION.match(raw)
    if mb is not None:
        return mb.end(2) - mb.start(2), (mb.group(1) or b"") + raw[mb.end(2) :]
    for mark, codec, unit in _WIDE:
        start = len(mark) if raw.startswith(mark) else 0
        if not start and raw[:unit] not in [c.encode(codec) for c in " \t\r\n"]:
            continue
        head = raw[start : start + unit * 256]
        m = _SPACE_BEFORE_DECLARATION_STR.match(
            head[: len(head) // unit * unit].decode(codec, "replace")
        )
        if m is not None and not m.group(1):
            return m.end(2), raw[:start] + raw[start + unit * m.end(2) :]
    return None


def _space_before_declaration(data: str | bytes | bytearray | memoryview) -> int:
    """How many whitespace characters come before the XML declaration (0: none, or no such)."""
    if isinstance(data, str):
        m = _SPACE_BEFORE_DECLARATION_STR.match(data)
        return 0 if m is None else m.end(2) - m.start(2)
    found = _without_space_before_declaration(bytes(data))
    return 0 if found is None else found[0]


def _strip_before_declaration(data: str | bytes) -> tuple[str | bytes, tuple[Repair, ...]]:
    """Lenient: drop the whitespace before an XML declaration, with its repair."""
    if isinstance(data, str):
        m = _SPACE_BEFORE_DECLARATION_STR.match(data)
        if m is None:
            return data, ()
        data, removed = (m.group(1) or "") + data[m.end(2) :], m.end(2) - m.start(2)
    else:
        found = _without_space_before_declaration(bytes(data))
        if found is None:
            return data, ()
        removed, data = found
    return data, (
        Repair(
            "",
            f"{removed} whitespace character(s) came before the XML declaration, which XML 1.0 "
            "§2.8 requires to come first; removed them",
        ),
    )


def _read_as_the_mark_says(data: str | bytes) -> tuple[str | bytes, tuple[Repair, ...]]:
    """Lenient: a byte-order mark contradicting the declared encoding wins, with its repair.

    The mark is the stronger evidence (an editor saving "UTF-8 with BOM" keeps a stale
    declaration); the document is decoded as the mark says, or left to be refused when it is
    not valid in that encoding.
    """
    if isinstance(data, str):
        return data, ()
    raw = bytes(data)
    found = _xml.bom_conflict(raw)
    if found is None:
        return data, ()
    name, codec, declared = found
    try:
        text = raw.decode("utf-8-sig" if codec == "utf-8" else codec)
    except UnicodeDecodeError:
        return data, ()
    return text, (
        Repair(
            "",
            f"the document starts with a {name} byte-order mark but its XML declaration says "
            f"encoding={declared!r}, a fatal error in XML 1.0 §4.3.3; read it as {name}, as "
            "the mark says",
        ),
    )


def _read_as_its_bytes_say(data: str | bytes) -> tuple[str | bytes, tuple[Repair, ...]]:
    """Lenient: UTF-8 bytes declaring UTF-16 or UTF-32 are read as UTF-8, with its repair.

    A .NET ``StringWriter`` declares utf-16 whatever encoding the text is saved in; the
    declaration's own single bytes contradict it. Only bytes valid as UTF-8 are read so;
    others are left to be refused.
    """
    if isinstance(data, str):
        return data, ()
    raw = bytes(data)
    declared = _xml.wide_declared_in_single_bytes(raw)
    if declared is None:
        return data, ()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return data, ()
    return text, (
        Repair(
            "",
            f"the XML declaration says encoding={declared!r}, but the document is written in "
            "single bytes, a fatal error in XML 1.0 §4.3.3 (a .NET StringWriter declares "
            "utf-16 whatever encoding the text is saved in); read it as UTF-8, which its "
            "bytes are",
        ),
    )


def _read_tree(
    root: _xml.Node,
    *,
    lenient: bool,
    envelope: Envelope | None,
    repaired: tuple[Repair, ...] = (),
) -> Parsed:
    reader = Reader(lenient=lenient, envelope=envelope)
    alert = reader.read(root)
    if reader.problems or alert is None:
        raise InvalidCAP(reader.problems)
    repairs = repaired + tuple(reader.repairs)
    return Parsed(alert, warnings=tuple(reader.warnings), repairs=repairs)


def read(data: str | bytes, *, lenient: bool = False, envelope: Bounds | None = None) -> Parsed:
    """Read a CAP 1.2 document: the alert and its warnings.

    Strict reading (the default) refuses exactly what CAP 1.2 refuses: what CAP-v1.2.xsd
    rejects (element order and cardinality, enumerations, the lexical forms of date-times,
    decimals, integers and language tags — ASCII digits only) and what the specification's
    normative rules (MUST, SHALL, REQUIRED) reject, each cited in the code: identifiers and
    senders without whitespace, ``,``, ``<`` or ``&`` (§3.2.1), no ``Z`` for UTC (§3.3.2),
    ``references`` as ``sender,identifier,sent`` triples (§3.2.1), ``addresses`` when the
    scope is Private (§3.2.1), a ``ceiling`` only with an ``altitude`` (§3.2.4), polygons of
    at least 4 closed coordinate pairs and ``lat,lon radius`` circles in range (§3.2.4,
    §3.3.1). A few limits of geotarget's model are refused too, named as such in the message
    (a circle radius above 1,000 km, an instant outside years 1-9999 UTC, a polygon with an
    edge across the 180° meridian, which plain lon/lat
    would read the long way round the Earth, a polygon whose edges meet more than 10,000
    times, whose repair would take time quadratic in its points), and so are geotarget's own
    conventions, at the path of the element: a ``geotarget:kind`` event code holds a kind
    name, one kind per alert, and a ``geotarget:tip-*`` parameter a tip channel.
    Everything else that deserves attention becomes a warning in :attr:`Parsed.warnings`.

    Parameters
    ----------
    data : str or bytes
        The XML. ``bytes`` are decoded as the XML declaration says (UTF-8 by default); a
        ``str`` is taken as already decoded.
    lenient : bool, default False
        Also repair what is safe, as :func:`loads_lenient` describes, and report each repair
        in :attr:`Parsed.repairs`.
    envelope : (west, south, east, north), optional
        The service area in degrees, a sequence or a one-dimensional array (as
        ``total_bounds`` gives): a polygon or circle that lies wholly outside it, but
        inside it with latitude and longitude swapped, is a problem (see
        :func:`check_axis_order`).

    Returns
    -------
    Parsed
        ``.alert``, ``.warnings`` (each a :class:`~geotarget.errors.Problem` with a path) and
        ``.repairs``.

    Raises
    ------
    InvalidCAP
        Listing every problem with its path (``info[1]/area[0]/circle[0]``) and the rule.

    Examples
    --------
    >>> from geotarget import cap
    >>> doc = ('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>A-1</identifier>'
    ...        '<sender>a@b.se</sender><sent>2026-05-04T19:30:00+00:00</sent>'
    ...        '<status>Test</status><msgType>Alert</msgType><scope>Public</scope></alert>')
    >>> parsed = cap.read(doc)
    >>> parsed.alert.status.value
    'Test'
    >>> print(parsed.warnings[0])  # doctest: +ELLIPSIS
    sent: writes UTC as +00:00: CAP 1.2 §3.3.2 says UTC MUST be written -00:00 (read as UTC; ...)

    .. versionadded:: 0.1.0
    """
    if not isinstance(lenient, (bool, np.bool_)):
        raise InvalidType(
            f"lenient must be True or False (got {type(lenient).__name__} {shown(lenient, 40)})"
        )
    env = _envelope(envelope)
    _refuse_oversize(data)  # before any repair works on the whole of it
    repaired: tuple[Repair, ...] = ()
    if lenient and isinstance(data, (str, bytes, bytearray, memoryview)):
        data, repaired = _strip_before_declaration(data)
        data, marked = _read_as_the_mark_says(data)
        repaired += marked
        data, single = _read_as_its_bytes_say(data)
        repaired += single
    return _read_tree(_parse(data), lenient=bool(lenient), envelope=env, repaired=repaired)


def loads(data: str | bytes, *, envelope: Bounds | None = None) -> Alert:
    """Read a CAP 1.2 document strictly and return the alert (:func:`read` without warnings).

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
        The alert the document carries.

    Raises
    ------
    InvalidCAP
        Listing every problem with its path (``info[1]/area[0]/circle[0]``) and the rule
        broken: not well-formed or refused XML (any DOCTYPE, too large, too deep, an encoding
        that is not a character encoding), a root other than CAP 1.2 ``<alert>`` (CAP 1.1
        included), elements missing, repeated, unknown or out of order, bad enumerations,
        date-times with ``Z``, no offset or fractional seconds, numbers or date-times with
        non-ASCII digits, bad polygons or circles, swapped coordinates, and the alert model's
        limits. What CAP allows is read, whatever :func:`read` would warn about.

    Examples
    --------
    >>> from geotarget import cap
    >>> from geotarget.errors import InvalidCAP
    >>> doc = ('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>A-1</identifier>'
    ...        '<sender>a@b.se</sender><sent>2026-05-04T19:30:00-00:00</sent>'
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
    return read(data, envelope=envelope).alert


def loads_lenient(data: str | bytes, *, envelope: Bounds | None = None) -> Parsed:
    """Read a CAP document, repairing what is safe, and say what was repaired.

    The repairs: whitespace before the XML declaration is removed; whitespace around
    enumerations, identifiers and senders is stripped; an unclosed polygon ring (at least 3
    points) is closed (not one that closes when its tokens are read as decimal commas, ``59,33
    18,06 ... 59,33 18,06``: that is refused, naming them); an empty ``<polygon>`` or
    ``<circle>`` is dropped; a ``Z`` UTC suffix is read as ``-00:00``; a ``<references>`` triple
    split by a space beside a comma is joined again; fractional seconds of zeros (``.000``, the
    same instant) are dropped; children out of schema order are read in order; attributes are
    ignored, and an empty element marked ``xsi:nil="true"`` is read as absent (CAP-v1.2.xsd
    declares none nillable); a CAP 1.1 document is read as CAP 1.2 (1.1's certainty ``Very
    Likely`` as ``Likely``); a byte-order mark that contradicts the declared encoding wins, the
    document being read as the mark says; a document declaring UTF-16 or UTF-32 but written in
    UTF-8 (as a .NET ``StringWriter``'s text saved as UTF-8 is) is read as UTF-8. Nothing else
    is guessed: every other problem still raises, exactly as in :func:`loads`. This is
    ``read(data, lenient=True, envelope=envelope)``.

    Parameters
    ----------
    data : str or bytes
        The XML, as for :func:`loads`.
    envelope : (west, south, east, north), optional
        As for :func:`loads`; swapped coordinates are reported, never swapped back.

    Returns
    -------
    Parsed
        ``.alert``, ``.repairs`` (each a :class:`Repair` with a path and a message) and
        ``.warnings``.

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
    return read(data, lenient=True, envelope=envelope)


def check_axis_order(alert: Alert, envelope: Bounds) -> tuple[Problem, ...]:
    """Find the polygons and circles of an alert that look written ``lon,lat``.

    CAP writes ``lat,lon``. A document written the other way round usually still has
    plausible coordinates (a Swedish polygon lands in the Indian Ocean), so only knowing where
    the service is can catch it: a part that lies wholly outside the service ``envelope`` but
    wholly inside it with latitude and longitude exchanged is reported. A part outside the
    envelope either way (an alert for somewhere else) is not. This is the check
    ``read(..., envelope=...)`` makes while reading, for an alert already in hand (a
    ``Targeter`` or the CLI can run it with the bounds of their regions). The areas of a
    ``Cancel``, ``Ack`` or ``Error`` are not targeted, so they are not checked: refusing a
    Cancel over an area nobody is told about would keep its incident going (:func:`read`
    reports them as warnings).

    Parameters
    ----------
    alert : Alert
        The alert to check, read or built.
    envelope : (west, south, east, north)
        The service area in degrees, a sequence or a one-dimensional array.

    Returns
    -------
    tuple of Problem
        One per swapped part, with the CAP path of the part (``info[0]/area[1]/polygon[0]``)
        and the same message :func:`read` gives; empty when nothing looks swapped. Raise
        ``InvalidCAP(problems)`` to refuse the alert.

    Raises
    ------
    InvalidType, InvalidCoordinates
        For an envelope that is not ``(west, south, east, north)`` with ``west < east`` and
        ``south < north`` in range.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from geotarget import Circle, cap
    >>> from geotarget.alerts import Alert, AlertArea, Info
    >>> swapped = AlertArea(description="Sergels torg", circles=[(59.3325, 18.06528, 500.0)])
    >>> alert = Alert(identifier="X-1", sender="a@b.se", status="Test", msg_type="Alert",
    ...     sent=datetime(2026, 5, 4, 19, 30, tzinfo=timezone.utc), scope="Public",
    ...     infos=[Info(categories=["Safety"], event="Test", urgency="Unknown",
    ...                 severity="Unknown", certainty="Unknown", areas=[swapped])])
    >>> [p.path for p in cap.check_axis_order(alert, (10.5, 55.3, 24.2, 69.1))]
    ['info[0]/area[0]/circle[0]']

    .. versionadded:: 0.1.0
    """
    if not isinstance(alert, Alert):
        raise InvalidType(f"alert must be an Alert (got {type(alert).__name__})")
    env = _envelope(envelope)
    if env is None:
        raise InvalidType("envelope must be (west, south, east, north) (got None)")
    return _axis_problems(alert, env)


def _axis_problems(alert: Alert, env: Envelope) -> tuple[Problem, ...]:
    """:func:`check_axis_order` with an envelope checked already (a Targeter's, once)."""
    if alert.msg_type in (MessageType.CANCEL, MessageType.ACK, MessageType.ERROR):
        return ()  # areas nobody is told about: refusing would keep a Cancel from its incident
    found: list[Problem] = []
    west, south, east, north = env
    for i, info in enumerate(alert.infos):
        for j, area in enumerate(info.areas):
            here = f"info[{i}]/area[{j}]"
            for k, ring in enumerate(area.polygons):
                lon, lat = ring[0]
                if west <= lon <= east and south <= lat <= north:
                    continue  # a point inside the envelope as written: not swapped
                message = swap_message(np.array(ring), env, "polygon")
                if message is not None:
                    found.append(Problem(f"{here}/polygon[{k}]", message))
            for k, (lon, lat, _r) in enumerate(area.circles):
                if west <= lon <= east and south <= lat <= north:
                    continue  # inside the envelope as written: not swapped (no array needed)
                message = swap_message(np.array([(lon, lat)]), env, "circle centre")
                if message is not None:
                    found.append(Problem(f"{here}/circle[{k}]", message))
    return tuple(found)


def verify_signature(
    data: bytes,
    certificate: str | bytes | Iterable[str | bytes],
    *,
    at: datetime | None = None,
    envelope: Bounds | None = None,
) -> Parsed:
    """Read a signed CAP document strictly and verify its XML-DSig signature.

    CAP 1.2 §3.3.4.1 lets an ``<alert>`` carry an *enveloped* XML signature. This verifies it
    against the issuer's pinned certificate with signxml (the optional extra ``signing``;
    no cryptography is written here): a signature must be a child of ``<alert>``, have a
    single reference to the whole document (``URI=""``, the enveloped-signature transform,
    at most a canonicalisation; a reference to an ``Id`` or another transform is refused),
    use an algorithm signxml accepts by default (SHA-1 is not), verify with the public key of
    one of the pinned certificates, and that certificate must be valid at ``at``. A document
    may carry several signatures (a relay appends its own after the issuer's, as NAADS
    does): each is verified on its own, and the document is accepted when one of them
    verifies; at most 8 are tried. (Once a relay has signed, the issuer's signature no
    longer covers the document: pin the relay's certificate.) The
    document first goes through the safe strict reader, so only bytes that passed it (no
    DOCTYPE, no entity, bounded size, CAP-valid) are ever handed to lxml, whose parser is
    configured to resolve no entity and fetch nothing, and as the text the reader decoded, in
    UTF-8 (a signature covers the canonical form, which is UTF-8 whatever the document's
    encoding). The alert returned is read from the signed content itself.

    Parameters
    ----------
    data : bytes
        The document exactly as received (a signature covers the bytes' XML content; a
        decoded ``str`` is refused).
    certificate : str or bytes, or an iterable of them
        The issuer's certificate(s): PEM text (``str`` or ``bytes``) or DER (``bytes``).
        Every certificate given is pinned but those that issued another one given (a chain,
        whether in one PEM text or given as separate items), and those whose key usage
        forbids signing data. Any one of them may have signed. A file name is not a
        certificate: pass the file's bytes.
    at : datetime, optional
        When the certificate must be valid; now by default.
    envelope : (west, south, east, north), optional
        As for :func:`read`.

    Returns
    -------
    Parsed
        The verified alert and its warnings.

    Raises
    ------
    MissingSignature
        When the document carries no ``<Signature>`` in the XML-DSig namespace.
    InvalidSignature
        When no signature verifies, with the reason for each: the content was changed after
        signing (digest mismatch), another key signed it, the certificate is not valid at
        ``at``, or the signature's form or algorithm is not accepted.
    InvalidType
        When ``certificate`` is not PEM or DER certificates (a file name or ``Path`` says to
        pass the file's bytes).
    InvalidCAP
        When the document is not a valid CAP 1.2 alert (before any signature is looked at).
    MissingExtra
        When the ``signing`` extra (signxml) is not installed.

    Examples
    --------
    See the CAP page of the documentation; the tests sign documents with keys they generate.

    .. versionadded:: 0.1.0
    """
    from geotarget.cap import _signing

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidType(
            f"data must be the document's bytes as received (got {type(data).__name__}): "
            "a signature is verified over the document as sent"
        )
    _refuse_oversize(data)  # before copying it
    raw = bytes(data)
    env = _envelope(envelope)
    root = _parse(raw)
    parsed = _read_tree(root, lenient=False, envelope=env)
    signatures = [c for c in root.children if c.ns == DSIG and c.name == "Signature"]
    if not signatures:
        raise MissingSignature(
            "the document carries no XML-DSig <Signature> "
            f"(namespace {DSIG}) in <alert>, and a signature is required"
        )
    signed = _signing.verify(_xml.as_utf8(raw), certificate, at=at)
    verified = _read_tree(_parse(signed), lenient=False, envelope=env)
    if verified.alert != parsed.alert:
        raise InvalidSignature(
            "the signed content is not the document's alert: the signature covers other data "
            "than the <alert> that was read"
        )
    return verified


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def dumps(alert: Alert) -> str:
    """Write an alert as a CAP 1.2 XML document.

    The namespace is :data:`NAMESPACE`, elements come in schema order, polygons are written
    ``lat,lon``, circle radii in kilometres, date-times with their UTC offset (``-00:00`` for
    UTC, as CAP 1.2 §3.3.2 requires) and whole seconds, numbers without exponents.
    ``<language>`` is always written. ``loads(dumps(alert)) == alert``.

    Parameters
    ----------
    alert : Alert
        The alert to write.

    Returns
    -------
    str
        The document, starting with an XML declaration for UTF-8: encode it as UTF-8.

    Raises
    ------
    InvalidAlert
        When the document would be more than :data:`MAX_DOCUMENT_BYTES` bytes of UTF-8 or
        hold more than :data:`MAX_ELEMENTS` elements: the reader would refuse it, so it is not
        written. An :class:`~geotarget.alerts.Alert` whose document the reader would refuse,
        by its size or its polygons, cannot be built, so this is a last guard.

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
      <sent>2026-05-04T19:30:00-00:00</sent>
    ...
          <circle>59.3325,18.06528 0.5</circle>
    ...
    </alert>

    .. versionadded:: 0.1.0
    """
    if not isinstance(alert, Alert):
        raise InvalidType(f"alert must be an Alert (got {type(alert).__name__})")
    return alert._document  # (written by _write.write as the alert was built)
