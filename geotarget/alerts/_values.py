"""Private building blocks of :mod:`geotarget.alerts`: CAP enumerations, small values, validators.

Everything here is re-exported (and documented) by :mod:`geotarget.alerts`; import it from there.
"""

from __future__ import annotations

import enum
import re
import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import attrs
import numpy as np

from geotarget._validate import cut_point as _cut_point
from geotarget._validate import iterable, number, shown
from geotarget.errors import InvalidAlert, InvalidInput, InvalidType

# ---------------------------------------------------------------------------------------------
# Enumerations (exact CAP 1.2 wire values)
# ---------------------------------------------------------------------------------------------


class Status(str, enum.Enum):
    """CAP ``<status>``: how the alert is to be handled."""

    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"
    DRAFT = "Draft"


class MessageType(str, enum.Enum):
    """CAP ``<msgType>``: what the message does to earlier messages."""

    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"


class Scope(str, enum.Enum):
    """CAP ``<scope>``: who may see the alert."""

    PUBLIC = "Public"
    RESTRICTED = "Restricted"
    PRIVATE = "Private"


class Category(str, enum.Enum):
    """CAP ``<category>``: the subject of the event."""

    GEO = "Geo"
    MET = "Met"
    SAFETY = "Safety"
    SECURITY = "Security"
    RESCUE = "Rescue"
    FIRE = "Fire"
    HEALTH = "Health"
    ENV = "Env"
    TRANSPORT = "Transport"
    INFRA = "Infra"
    CBRNE = "CBRNE"
    OTHER = "Other"


class ResponseType(str, enum.Enum):
    """CAP ``<responseType>``: the action recommended to the audience."""

    SHELTER = "Shelter"
    EVACUATE = "Evacuate"
    PREPARE = "Prepare"
    EXECUTE = "Execute"
    AVOID = "Avoid"
    MONITOR = "Monitor"
    ASSESS = "Assess"
    ALL_CLEAR = "AllClear"
    NONE = "None"


class Urgency(str, enum.Enum):
    """CAP ``<urgency>``: how soon responsive action should be taken."""

    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class Severity(str, enum.Enum):
    """CAP ``<severity>``: how bad the threat is to life or property."""

    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


class Certainty(str, enum.Enum):
    """CAP ``<certainty>``: how sure the sender is of the event."""

    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"


class TipChannelKind(str, enum.Enum):
    """How a tip reaches the police."""

    PHONE = "phone"
    WEB = "web"


#: The ``<eventCode>`` ``valueName`` that carries an alert's kind name (``"explosion"``).
KIND_CODE = "geotarget:kind"
#: The ``<parameter>`` ``valueName`` prefix that carries a :class:`TipChannel` (``tip-phone``...).
TIP_PARAMETER_PREFIX = "geotarget:tip-"
#: XML whitespace (XML 1.0 production S): what a pretty-printer puts around a ``valueName``.
XML_SPACE = " \t\r\n"


def is_kind_code(value_name: str) -> bool:
    """Whether an ``<eventCode>`` ``valueName`` is :data:`KIND_CODE`.

    Compared as recognition rules compare a ``valueName``: exactly, once surrounding XML
    whitespace is stripped, so that a pretty-printed ``<valueName>`` still names the kind
    (else the code would be silently ignored and another rule could name another kind).
    """
    return value_name.strip(XML_SPACE) == KIND_CODE


def tip_parameter_kind(value_name: str) -> str | None:
    """The channel kind a ``geotarget:tip-*`` ``<parameter>`` names (``"phone"``), else None.

    The ``valueName`` is compared as :func:`is_kind_code` compares it.
    """
    name = value_name.strip(XML_SPACE)
    if not name.startswith(TIP_PARAMETER_PREFIX):
        return None
    return name[len(TIP_PARAMETER_PREFIX) :]


#: The largest :attr:`Resource.size` accepted, in bytes: ``2**63 - 1``, the largest file size
#: a signed 64-bit integer holds (xs:long, POSIX ``off_t``, HTTP ``Content-Length`` in practice).
#: A limit of geotarget's, not of CAP (whose ``<size>`` is an unbounded xs:integer): it keeps
#: every size readable and writable as text in constant time.
MAX_RESOURCE_SIZE = 2**63 - 1

E = TypeVar("E", bound=enum.Enum)

#: A kind name: what a policy registers and ``geotarget:kind`` carries.
KIND_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
KIND_NAME_RULE = "1 to 64 lower-case ASCII letters, digits or '_', starting with a letter"


def kind_name(field: str, value: object, error: type[InvalidInput] = InvalidInput) -> str:
    """``value`` as a plain ``str`` kind name, or ``error`` naming ``field``, the rule and value.

    A ``str`` enum member (the deprecated ``AlertKind``) counts as its value.
    """
    if isinstance(value, enum.Enum) and isinstance(value.value, str):
        value = value.value
    if not isinstance(value, str):
        raise InvalidType(
            f"{field} must be a kind name, a str (got {type(value).__name__} {brief(value, 80)})"
        )
    if not KIND_NAME.fullmatch(value):
        raise error(f"{field} must be a kind name: {KIND_NAME_RULE} (got {brief(value, 80)})")
    return str(value)


def options(cls: type[enum.Enum]) -> str:
    """The wire values of an enum, sorted, for error messages."""
    return ", ".join(sorted(str(m.value) for m in cls))


def enum_value(cls: type[E], name: str, value: object) -> E:
    """Return ``value`` as a member of ``cls`` (members and exact wire values accepted)."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        try:
            return cls(value)
        except ValueError:
            pass
    raise InvalidAlert(f"{name} must be one of {options(cls)} (got {shown(value)})")


# ---------------------------------------------------------------------------------------------
# Validators (attrs validators receive the field, so messages name it)
# ---------------------------------------------------------------------------------------------

_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CAP_ID_BAD = re.compile(r"[\s,<&]")
#: xs:language (BCP 47 shape), ``[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*``, as two searches that
#: repeat nothing (see :func:`is_language`).
_LANGUAGE_FIRST = re.compile(r"[A-Za-z]{1,8}(?:-|\Z)")
_LANGUAGE_BAD = re.compile(r"[^A-Za-z0-9-]|--|-\Z|[A-Za-z0-9]{9}")


def is_language(text: str) -> bool:
    """Whether ``text`` is an xs:language: subtags of 1 to 8 ASCII letters or digits.

    The subtags are joined by ``-``, the first of letters only. In memory of a few bytes
    whatever its length: the pattern matched whole kept a backtracking point a subtag in the
    ``re`` module, some 75 bytes a character of a long tag.
    """
    return _LANGUAGE_FIRST.match(text) is not None and _LANGUAGE_BAD.search(text) is None


def check_text(name: str, value: object) -> str:
    """A str holding only characters XML 1.0 can carry."""
    if not isinstance(value, str):
        raise InvalidType(f"{name} must be a str (got {type(value).__name__} {shown(value)})")
    bad = _XML_ILLEGAL.search(value)
    if bad:
        raise InvalidAlert(
            f"{name} must hold only characters XML 1.0 allows "
            f"(got {bad.group()!r} at index {bad.start()} of {shown(value)})"
        )
    return value


def v_text(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validate a required free-text field."""
    check_text(attribute.name, value)


def v_opt_text(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validate an optional free-text field (``None`` = element absent)."""
    if value is not None:
        check_text(attribute.name, value)


#: Most characters in an identifier or sender. CAP sets no limit; a sender is usually an
#: e-mail address (at most 254 characters, RFC 5321) and identifiers in real feeds are far
#: shorter. Both are repeated in every incident key, version id and delivery key, so without a
#: bound one 4 MB document could make every delivery key megabytes long.
MAX_CAP_ID = 256


def check_cap_id(name: str, value: object) -> str:
    """An identifier or sender: non-empty, no whitespace, comma, ``<`` or ``&`` (CAP 1.2 §3.2.1).

    At most :data:`MAX_CAP_ID` characters.
    """
    text = check_text(name, value)
    if len(text) > MAX_CAP_ID:
        raise InvalidAlert(
            f"{name} must be at most {MAX_CAP_ID} characters (it names the incident in every "
            f"delivery key) (got {len(text):,} characters: {text[:40]!r}...)"
        )
    bad = _CAP_ID_BAD.search(text)
    if not text or bad is not None:
        why = f"must not contain {bad.group()!r}" if bad is not None else "must not be empty"
        raise InvalidAlert(
            f"{name} {why} (CAP forbids whitespace, ',', '<' and '&' in it) (got {shown(text)})"
        )
    return text


def v_cap_id(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validate an identifier or sender."""
    check_cap_id(attribute.name, value)


def v_uri(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validate an optional xs:anyURI: text without leading or trailing XML whitespace.

    The empty string is a valid xs:anyURI (CAP 1.2 uses it, e.g. a ``<uri/>`` beside a
    ``<derefUri>``). XML Schema collapses whitespace around an anyURI, so a value with
    surrounding space, tab, CR or LF could not be read back as written.
    """
    if value is None:
        return
    check_text(attribute.name, value)
    assert isinstance(value, str)
    if value != value.strip(" \t\r\n"):
        raise InvalidAlert(
            f"{attribute.name} must be a URI without leading or trailing whitespace "
            f"(got {shown(value)})"
        )


_DAY = timedelta(days=1)
_MAX_AWARE = datetime.max.replace(tzinfo=timezone.utc) - _DAY


def instant(name: str, value: object, naive_hint: str = "") -> timedelta:
    """The UTC offset of ``value``, a timezone-aware datetime of a real clock reading.

    Refuses (naming ``name``) a value that is no datetime, one of no instant (pandas'
    ``NaT``), a naive one (``naive_hint`` ends that message) and a zone's wall time its clocks
    skip, which Python would read an hour later than it says.
    """
    if not isinstance(value, datetime):
        raise InvalidType(f"{name} must be a datetime (got {type(value).__name__} {shown(value)})")
    try:
        offset = value.utcoffset()
    except (TypeError, ValueError):  # pandas' NaT, a datetime subclass of no instant
        raise InvalidType(
            f"{name} must be a datetime of an instant (got {type(value).__name__} {shown(value)})"
        ) from None
    if offset is None:
        raise InvalidAlert(
            f"{name} must be timezone-aware (got naive {value.isoformat()}{naive_hint})"
        )
    if type(value.tzinfo) is not timezone:  # a zone's wall time may be one its clocks skip
        from geotarget.rollout._time import wall_time_problem

        problem = wall_time_problem(value)
        if problem is not None:
            raise InvalidAlert(f"{name} must be a real clock reading: {problem}")
    return offset


def check_time(name: str, value: object) -> datetime:
    """A timezone-aware datetime CAP can carry: whole seconds, whole-minute offset."""
    offset = instant(name, value, "; add tzinfo, e.g. datetime.timezone.utc")
    assert isinstance(value, datetime)  # (instant refused anything else)
    # (pandas' Timestamp keeps nanoseconds beyond the datetime's microseconds.)
    nanos = getattr(value, "nanosecond", 0)
    if value.microsecond or (isinstance(nanos, int) and nanos):
        fix = ".replace(microsecond=0, nanosecond=0)" if nanos else ".replace(microsecond=0)"
        raise InvalidAlert(
            f"{name} must have whole seconds: CAP has no fractional seconds "
            f"(got {value.isoformat()}; use {fix})"
        )
    if offset % timedelta(minutes=1):
        raise InvalidAlert(f"{name} must have a whole-minute UTC offset (got {offset})")
    if abs(offset) > timedelta(hours=14):
        raise InvalidAlert(
            f"{name} must have a UTC offset within -14:00 and +14:00, as xs:dateTime requires "
            f"(got {value.isoformat()})"
        )
    if not datetime.min.replace(tzinfo=timezone.utc) + _DAY <= value <= _MAX_AWARE:
        raise InvalidAlert(
            f"{name} must be an instant between 0001-01-02 and 9999-12-30 UTC, so that it can "
            f"be compared and converted to any offset (got {value.isoformat()})"
        )
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)


def fixed_offset(value: datetime) -> datetime:
    """``value`` (checked by :func:`check_time`) as a plain ``datetime`` at a fixed ``timezone``.

    The same instant, wall time and offset. A zone's datetimes (``ZoneInfo``) compare by wall
    time when they share the zone, ignoring ``fold``: in the hour a zone's clocks repeat,
    02:30 before the change and 02:30 after it compared equal, and an hour's window across
    the change looked empty; and Python never finds such a time equal to one of another
    zone (PEP 495), so an alert would not compare equal to itself read back from CAP.

    The instant is taken as the value's own arithmetic gives it (``value - epoch``), not from
    its fields: a pandas ``Timestamp`` built from a wall time its zone skips (02:30 on the
    night the clocks jump to 03:00, which pandas keeps at +01:00) shows 02:30 but replaces
    its zone from 03:30, an hour after the instant it stands for.
    """
    if type(value) is datetime and type(value.tzinfo) is timezone:
        return value
    offset = value.utcoffset()
    assert offset is not None  # checked
    utc = _EPOCH + timedelta(microseconds=(value - _EPOCH) // _ONE_US)  # a plain datetime
    return utc.astimezone(timezone(offset))


def v_time(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validate a required datetime."""
    check_time(attribute.name, value)


def v_opt_time(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validate an optional datetime."""
    if value is not None:
        check_time(attribute.name, value)


def v_items(cls: type) -> Callable[[object, attrs.Attribute[Any], tuple[object, ...]], None]:
    """Validate that every item of a tuple field is a ``cls``."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
        for i, item in enumerate(value):
            if not isinstance(item, cls):
                raise InvalidType(
                    f"{attribute.name}[{i}] must be a {cls.__name__} "
                    f"(got {type(item).__name__} {shown(item)})"
                )

    return check


def v_tokens(_inst: object, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
    """Validate a list of addresses or incidents: non-empty texts without double quotes."""
    for i, item in enumerate(value):
        check_text(f"{attribute.name}[{i}]", item)
        assert isinstance(item, str)
        if not item.strip() or '"' in item:
            raise InvalidAlert(
                f"{attribute.name}[{i}] must be non-blank and hold no double quote "
                f"(CAP quotes items that contain spaces) (got {shown(item)})"
            )


def opt_float(value: float | None) -> float | None:
    """Convert an optional real number to float; leave anything else for the validator."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an int beyond a float's range: the validator says so
            return value
    return value


def v_opt_number(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validate an optional finite number."""
    if value is not None:
        number(attribute.name, value, error=InvalidAlert)


def cut_words(text: str, limit: int = 200) -> str:
    """``text`` unquoted for a message (a dependency's reason, a name), cut visibly.

    Cut like :func:`brief`: at its last whole word within ``limit``, then ``...``.
    """
    if len(text) <= limit:
        return text
    return f"{text[: _cut_point(text[: limit + 8], limit)]}..."


def brief(value: object, limit: int = 60) -> str:
    """``value`` for a message, at most about ``limit`` characters of it, cut visibly.

    A text (str or bytes) longer than ``limit`` is shown quoted up to its last whole word
    within ``limit``, then ``...`` outside the quotes and its length, so what is shown is what
    the value starts with and the reader sees that it goes on. Any other value is shown by
    :func:`geotarget._validate.shown` (a huge number by its size), cut the same way.

    >>> brief("Utrymning pågår i hela området kring Sergels torg och Drottninggatan")
    "'Utrymning pågår i hela området kring Sergels torg och'... (68 characters)"
    >>> brief("short")
    "'short'"
    """
    if isinstance(value, (str, bytes)):
        size = len(value)
        if size <= limit:
            return repr(value)
        head = value[: limit + 8]  # (only the head is ever shown: no repr of megabytes)
        if isinstance(head, bytes):
            return f"{head[: _cut_point(head.decode('latin-1'), limit)]!r}... ({size:,} bytes)"
        return f"{head[: _cut_point(head, limit)]!r}... ({size:,} characters)"
    text = shown(value, sys.maxsize)
    if len(text) <= limit:
        return text
    return f"{text[: _cut_point(text, limit)]}... ({len(text):,} characters)"


def tuple_of(value: Iterable[Any], name: str | None = None, of: str = "") -> tuple[Any, ...]:
    """Turn an iterable (not a string) into a tuple; InvalidType naming ``name`` otherwise."""
    if isinstance(value, (str, bytes)) or not iterable(value):
        what = (
            f"{name} must be a sequence{f' of {of}' if of else ''}"
            if name
            else "expected a sequence"
        )
        raise InvalidType(f"{what} (got {type(value).__name__} {brief(value)})")
    return tuple(value)


# ---------------------------------------------------------------------------------------------
# Small values
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class NamedValue:
    """A CAP ``valueName``/``value`` pair: an event code, a parameter or a geocode.

    Parameters
    ----------
    value_name : str
        The domain of the code, e.g. ``"SAME"`` or :data:`KIND_CODE`.
    value : str
        The code or value itself (may be empty; kept exactly, whitespace included).

    Examples
    --------
    >>> from geotarget.alerts import NamedValue
    >>> NamedValue("TargetAreaCode", "053FWFSTEEP4")
    NamedValue(value_name='TargetAreaCode', value='053FWFSTEEP4')

    .. versionadded:: 0.1.0
    """

    value_name: str = attrs.field(validator=v_text)
    value: str = attrs.field(validator=v_text)


@attrs.frozen(kw_only=True)
class Reference:
    """One earlier message referred to by ``<references>``: a (sender, identifier, sent) triple.

    Parameters
    ----------
    sender, identifier : str
        As in the earlier message (no whitespace, ``,``, ``<`` or ``&``).
    sent : datetime
        The earlier message's ``sent``, timezone-aware, whole seconds.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from geotarget.alerts import Reference
    >>> ref = Reference(sender="polisen@polisen.se", identifier="SE-POL-1",
    ...                 sent=datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc))
    >>> ref.identifier
    'SE-POL-1'

    .. versionadded:: 0.1.0
    """

    sender: str = attrs.field(validator=v_cap_id)
    identifier: str = attrs.field(validator=v_cap_id)
    sent: datetime = attrs.field(validator=v_time)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "sent", fixed_offset(self.sent))


def _opt_int(value: int | np.integer[Any] | None) -> int | None:
    """A numpy integer (``np.int64``, as pandas counts) as ``int``; anything else as it is."""
    if isinstance(value, np.integer):
        return int(value)
    return value


@attrs.frozen(kw_only=True)
class Resource:
    """A CAP ``<resource>``: a file with more information (image, audio, map...).

    Parameters
    ----------
    description : str
        ``resourceDesc``: what the file is.
    mime_type : str
        ``mimeType``, e.g. ``"image/png"``.
    size : int, optional
        Size in bytes, ``>= 0`` and ``<=`` :data:`MAX_RESOURCE_SIZE` (``2**63 - 1``).
    uri : str, optional
        Where to fetch it. geotarget never fetches it.
    deref_uri : str, optional
        ``derefUri``: the file itself, base64-encoded, kept as written.
    digest : str, optional
        The SHA-1 digest of the file, as written.

    Examples
    --------
    >>> from geotarget.alerts import Resource
    >>> Resource(description="Karta", mime_type="image/png",
    ...          uri="https://polisen.se/karta.png").size is None
    True

    .. versionadded:: 0.1.0
    """

    description: str = attrs.field(validator=v_text)
    mime_type: str = attrs.field(validator=v_text)
    size: int | None = attrs.field(default=None, converter=_opt_int)
    uri: str | None = attrs.field(default=None, validator=v_uri)
    deref_uri: str | None = attrs.field(default=None, validator=v_opt_text)
    digest: str | None = attrs.field(default=None, validator=v_opt_text)

    @size.validator
    def _check_size(self, _attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidType(f"size must be an int (got {type(value).__name__} {shown(value)})")
        if not 0 <= value <= MAX_RESOURCE_SIZE:
            raise InvalidAlert(
                f"size must be an int >= 0 and <= {MAX_RESOURCE_SIZE:,} bytes (2**63 - 1, "
                f"geotarget's limit: CAP sets none) (got {shown(value)})"
            )


def _tip_kind(value: TipChannelKind | str) -> TipChannelKind:
    return enum_value(TipChannelKind, "kind", value)


_PHONE = re.compile(r"\+?[0-9][0-9 -]*[0-9]\Z")


@attrs.frozen
class TipChannel:
    """Where the public sends tips: a phone number or a web form.

    Parameters
    ----------
    kind : TipChannelKind
        ``PHONE`` or ``WEB``.
    address : str
        The phone number as people dial it (digits, spaces, ``-``, a leading ``+``), or an
        ``https://`` URL.

    Examples
    --------
    >>> from geotarget.alerts import TipChannel
    >>> phone = TipChannel("phone", "114 14")
    >>> phone.address, phone.uri
    ('114 14', 'tel:11414')
    >>> TipChannel("web", "https://polisen.se/lagg-fram-tips").uri
    'https://polisen.se/lagg-fram-tips'

    .. versionadded:: 0.1.0
    """

    kind: TipChannelKind = attrs.field(converter=_tip_kind)
    address: str = attrs.field()

    @address.validator
    def _check_address(self, _attribute: attrs.Attribute[Any], value: object) -> None:
        check_text("address", value)
        assert isinstance(value, str)
        if self.kind is TipChannelKind.PHONE and not _PHONE.match(value):
            raise InvalidAlert(
                "address of a phone channel must be digits, spaces and '-', optionally after "
                f"a leading '+' (got {shown(value)})"
            )
        if self.kind is TipChannelKind.WEB and (
            not value.startswith("https://") or len(value) <= 8 or re.search(r"\s", value)
        ):
            raise InvalidAlert(
                "address of a web channel must be an https:// URL without spaces "
                f"(got {shown(value)})"
            )

    @property
    def uri(self) -> str:
        """A URI a handset can open: ``tel:`` with the digits for phones, the URL for the web."""
        if self.kind is TipChannelKind.PHONE:
            return "tel:" + re.sub(r"[ -]", "", self.address)
        return self.address

    @property
    def parameter(self) -> NamedValue:
        """The CAP ``<parameter>`` that carries this channel."""
        return NamedValue(TIP_PARAMETER_PREFIX + self.kind.value, self.address)


#: The numbers a handset calls the emergency service for (3GPP TS 22.101, section 10.1.1): 112
#: and 911 on every handset, and 000, 08, 110, 118, 119 and 999 too on one without a SIM.
EMERGENCY_NUMBERS = frozenset({"112", "911", "000", "08", "110", "118", "119", "999"})


def emergency_number(channel: TipChannel) -> str | None:
    """The emergency number a phone tip channel dials (:data:`EMERGENCY_NUMBERS`), else None.

    Its digits, or, written internationally (a leading ``+`` or ``00``), its digits after a
    country calling code of one to three digits: ``+46 112`` is Sweden's 112.
    """
    if channel.kind is not TipChannelKind.PHONE:
        return None
    digits = channel.uri.removeprefix("tel:")
    if digits in EMERGENCY_NUMBERS:
        return digits
    national = digits[1:] if digits[:1] == "+" else digits[2:] if digits[:2] == "00" else None
    if national is None:
        return None
    return next((national[k:] for k in (1, 2, 3) if national[k:] in EMERGENCY_NUMBERS), None)


def refuse_emergency_number(channel: TipChannel) -> None:
    """Raise :class:`~geotarget.errors.InvalidAlert` when a tip channel dials an emergency number.

    A tip line sends the public's calls somewhere that is not an emergency service: a tip
    request written with 112 or 911 (an American template's "call 911 with tips") would fill
    the emergency lines with tips.
    """
    number = emergency_number(channel)
    if number is not None:
        raise InvalidAlert(
            f"address of a phone channel must not dial an emergency number: a handset calls "
            f"the emergency service for {number} (3GPP TS 22.101); tips go to a tip line or "
            f"a web form (got {shown(channel.address)})"
        )
