"""Private: write an :class:`~geotarget.alerts.Alert` as CAP 1.2 text, for :func:`cap.dumps`.

Elements in CAP-v1.2.xsd order, text escaped for XML 1.0, numbers as plain decimals that read
back to the same float, radii shifted to kilometres digit for digit, date-times with their own
offset and UTC as ``-00:00`` (CAP 1.2 §3.3.2). The document is refused, not written, when the
reader's limits would refuse it, so every written document reads back (the polygons' budget
is the alert model's own: :class:`~geotarget.alerts.Alert` refuses what it would refuse).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from geotarget.alerts import Alert, AlertArea, Info, NamedValue
from geotarget.alerts._area import Ring
from geotarget.cap._read import CAP12
from geotarget.cap._xml import MAX_DOCUMENT_BYTES, MAX_ELEMENTS
from geotarget.errors import InvalidAlert

NAMESPACE = CAP12


def _esc(text: str) -> str:
    if "&" not in text and "<" not in text and ">" not in text and "\r" not in text:
        return text  # most values: nothing to escape
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
    """CAP 1.2 §3.3.2: ``YYYY-MM-DDThh:mm:ss±hh:mm``, and UTC MUST be written ``-00:00``."""
    offset = t.utcoffset()
    assert offset is not None  # the model only holds aware datetimes
    if not offset:  # UTC, as most are: its text once, the offset written -00:00
        return t.replace(tzinfo=None, microsecond=0).isoformat() + "-00:00"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes <= 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f"{sign}{hh:02d}:{mm:02d}"
    )


def _quoted(items: Sequence[str]) -> str:
    return " ".join(f'"{s}"' if any(c.isspace() for c in s) else s for s in items)


_INDENT = tuple("  " * depth for depth in range(6))  # elements nest at most 5 deep


class _Writer:
    def __init__(self) -> None:
        self.lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<alert xmlns="{NAMESPACE}">']
        self.elements = 1
        # Each language's <info> usually repeats the same area: its rings are formatted once
        # (and written in each <info>, as CAP places areas inside their info block).
        self._rings: dict[Ring, str] = {}

    def _ring(self, ring: Ring) -> str:
        """A ring's ``lat,lon`` pairs (CAP order), each distinct ring written once."""
        text = self._rings.get(ring)
        if text is None:
            text = " ".join([f"{lat!r},{lon!r}" for lon, lat in ring])
            if "e" in text:  # repr wrote an exponent somewhere: xs:decimal has none
                text = " ".join(f"{_dec(lat)},{_dec(lon)}" for lon, lat in ring)
            self._rings[ring] = text
        return text

    def leaf(self, depth: int, name: str, text: str | None) -> None:
        if text is not None:
            self.elements += 1
            self.lines.append(f"{_INDENT[depth]}<{name}>{_esc(text)}</{name}>")

    def open(self, depth: int, name: str) -> None:
        self.elements += 1
        self.lines.append(f"{_INDENT[depth]}<{name}>")

    def close(self, depth: int, name: str) -> None:
        self.lines.append(f"{_INDENT[depth]}</{name}>")

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
            self.leaf(3, "polygon", self._ring(ring))
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


def write(alert: Alert) -> str:
    """The CAP 1.2 document of ``alert``; InvalidAlert when the reader could not read it back."""
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
    if w.elements > MAX_ELEMENTS:
        raise InvalidAlert(
            f"alert is too large for CAP as geotarget reads it: {w.elements:,} elements, more "
            f"than MAX_ELEMENTS ({MAX_ELEMENTS:,}); split it into several alerts"
        )
    text = "\n".join(w.lines)
    # UTF-8 takes at most 4 bytes per code point: count exactly only when that bound does not
    # already settle it.
    if len(text) * 4 > MAX_DOCUMENT_BYTES and len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise InvalidAlert(
            f"alert is too large for CAP as geotarget reads it: {len(text.encode('utf-8')):,} "
            f"bytes of UTF-8, more than MAX_DOCUMENT_BYTES ({MAX_DOCUMENT_BYTES:,}); split it "
            "into several alerts"
        )
    return text
