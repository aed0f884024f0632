"""What an alert says, by whom, to whom and when: a model that mirrors CAP 1.2.

An :class:`Alert` holds one or more per-language :class:`Info` blocks; each holds
:class:`AlertArea` blocks whose geometry is an :class:`~geotarget.areas.Area`. The structure
follows OASIS CAP 1.2 element by element, so :mod:`geotarget.cap` reads and writes it without
loss. Every value is frozen and validated when it is built: an invalid alert cannot exist.

The model knows no particular kind of alert: what kind an alert is (an Explosion, a tip
request...) is recognised from what it says by the rules of a policy (:mod:`geotarget.kinds`).
The Swedish Police pilot's kinds, their constructors and their recognition rules live in
:mod:`geotarget.pilot`; ``alerts.explosion``, ``alerts.crime_modus``, ``alerts.tip_request``,
``alerts.Message`` and the ``POLICE_TIP_*`` channels remain importable from here as deprecated
aliases of those.
``AlertKind`` (the pilot's three kinds as an enum) is deprecated: a kind is a name (``str``);
accessing it warns (:class:`DeprecationWarning`).

Examples
--------
An alert as an upstream system writes it, 500 m around Sergels torg, Stockholm:

>>> from datetime import datetime, timedelta, timezone
>>> from geotarget import Circle
>>> from geotarget.alerts import Alert, AlertArea, Info
>>> t0 = datetime(2026, 5, 4, 21, 30, tzinfo=timezone(timedelta(hours=2)))
>>> info = Info(language="sv-SE", categories=["Security"], event="Explosion",
...             urgency="Immediate", severity="Severe", certainty="Likely",
...             onset=t0, expires=t0 + timedelta(hours=2),
...             headline="Polisen larmad om explosion vid Sergels torg",
...             areas=[AlertArea.from_area("Sergels torg", Circle(18.06528, 59.3325, 500.0))])
>>> alert = Alert(identifier="SE-POL-2026-0001", sender="polisen@polisen.se", sent=t0,
...               status="Actual", msg_type="Alert", scope="Public", infos=[info])
>>> alert.kind is None  # no geotarget:kind event code: a policy's rules recognise it
True
>>> alert.info_for("sv-FI").headline
'Polisen larmad om explosion vid Sergels torg'
>>> alert.area.contains([18.06528, 18.08], [59.3325, 59.3325]).tolist()
[True, False]
>>> alert.is_active(t0 + timedelta(hours=1)), alert.is_active(t0 + timedelta(hours=2))
(True, False)

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from geotarget._validate import lon_lat, lon_lat_arrays, shown
from geotarget.alerts._area import AlertArea
from geotarget.alerts._budget import budget_spent, check_alert
from geotarget.alerts._values import (
    KIND_CODE,
    MAX_RESOURCE_SIZE,
    TIP_PARAMETER_PREFIX,
    Category,
    Certainty,
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
    check_text,
    enum_value,
    fixed_offset,
    instant,
    is_kind_code,
    is_language,
    kind_name,
    options,
    refuse_emergency_number,
    tip_parameter_kind,
    tuple_of,
    v_cap_id,
    v_items,
    v_opt_text,
    v_opt_time,
    v_text,
    v_time,
    v_tokens,
    v_uri,
)
from geotarget.areas import Area, Circle
from geotarget.errors import InvalidAlert, InvalidType

__all__ = [
    "KIND_CODE",
    "MAX_RESOURCE_SIZE",
    "TIP_PARAMETER_PREFIX",
    "Alert",
    "AlertArea",
    "Category",
    "Certainty",
    "Info",
    "MessageType",
    "NamedValue",
    "Reference",
    "Resource",
    "ResponseType",
    "Scope",
    "Severity",
    "Status",
    "TipChannel",
    "TipChannelKind",
    "Urgency",
]


def __dir__() -> list[str]:
    return __all__


_MOVED_TO_PILOT = frozenset(
    {"Message", "POLICE_TIP_CHANNELS", "POLICE_TIP_PHONE", "POLICE_TIP_WEB", "crime_modus",
     "explosion", "tip_request"}
)  # fmt: skip


def __getattr__(name: str) -> Any:
    # Deprecated aliases: the pilot's constructors and channels live in geotarget.pilot.
    if name == "AlertKind":
        from geotarget import pilot

        return pilot.__getattr__(name)
    if name in _MOVED_TO_PILOT:
        from geotarget import pilot

        return getattr(pilot, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------
# Info
# ---------------------------------------------------------------------------------------------


def _categories(value: Iterable[Category | str]) -> tuple[Category, ...]:
    return tuple(
        enum_value(Category, f"categories[{i}]", v)
        for i, v in enumerate(tuple_of(value, "categories", "Category"))
    )


def _response_types(value: Iterable[ResponseType | str]) -> tuple[ResponseType, ...]:
    return tuple(
        enum_value(ResponseType, f"response_types[{i}]", v)
        for i, v in enumerate(tuple_of(value, "response_types", "ResponseType"))
    )


def _urgency(value: Urgency | str) -> Urgency:
    return enum_value(Urgency, "urgency", value)


def _severity(value: Severity | str) -> Severity:
    return enum_value(Severity, "severity", value)


def _certainty(value: Certainty | str) -> Certainty:
    return enum_value(Certainty, "certainty", value)


def _status(value: Status | str) -> Status:
    return enum_value(Status, "status", value)


def _msg_type(value: MessageType | str) -> MessageType:
    return enum_value(MessageType, "msg_type", value)


def _scope(value: Scope | str) -> Scope:
    return enum_value(Scope, "scope", value)


def _v_language(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    check_text("language", value)
    assert isinstance(value, str)
    if not is_language(value):
        raise InvalidAlert(
            f"language must be a BCP 47 tag such as 'sv-SE' or 'en' (got {shown(value)})"
        )


def _v_text_items(_inst: object, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    for i, item in enumerate(value):
        check_text(f"{attribute.name}[{i}]", item)


def _event_codes(value: Iterable[NamedValue]) -> tuple[NamedValue, ...]:
    return tuple_of(value, "event_codes", "NamedValue")


def _parameters(value: Iterable[NamedValue]) -> tuple[NamedValue, ...]:
    return tuple_of(value, "parameters", "NamedValue")


def _resources(value: Iterable[Resource]) -> tuple[Resource, ...]:
    return tuple_of(value, "resources", "Resource")


def _areas(value: Iterable[AlertArea]) -> tuple[AlertArea, ...]:
    return tuple_of(value, "areas", "AlertArea")


@attrs.frozen(kw_only=True)
class Info:
    """One CAP ``<info>`` block: what the alert says in one language, and where.

    Parameters mirror the CAP elements of the same names (snake_case): ``language`` (BCP 47,
    default ``"en-US"`` as in CAP), ``categories`` (at least one), ``event``,
    ``response_types``, ``urgency``, ``severity``, ``certainty``, ``audience``,
    ``event_codes``, ``effective``, ``onset``, ``expires``, ``sender_name``, ``headline``,
    ``description``, ``instruction``, ``web``, ``contact``, ``parameters``, ``resources`` and
    ``areas``. Optional text is ``None`` when the element is absent (``""`` when it is present
    but empty). Enumerations accept members or their exact CAP values. Datetimes are kept with
    their UTC offset as a fixed ``datetime.timezone`` (a ``ZoneInfo`` time becomes the same
    instant at its offset), so they compare as instants, also in the hour a zone's clocks
    repeat.

    Raises
    ------
    InvalidAlert
        For a naive or fractional-second datetime, no category, an unknown or contradictory
        :data:`KIND_CODE` event code, or a tip-channel parameter that is not a valid
        :class:`TipChannel` or dials an emergency number (112, 911...). An ``expires`` that
        is not after ``onset`` or ``effective`` is allowed, as in CAP (the block is then never
        active); :mod:`geotarget.cap` warns.

    Examples
    --------
    >>> from geotarget.alerts import Info
    >>> info = Info(language="sv-SE", categories=["Safety"], event="Explosion",
    ...             urgency="Immediate", severity="Severe", certainty="Likely")
    >>> info.categories, info.kind
    ((<Category.SAFETY: 'Safety'>,), None)

    .. versionadded:: 0.1.0
    """

    language: str = attrs.field(default="en-US", validator=_v_language)
    categories: tuple[Category, ...] = attrs.field(converter=_categories)
    event: str = attrs.field(validator=v_text)
    response_types: tuple[ResponseType, ...] = attrs.field(default=(), converter=_response_types)
    urgency: Urgency = attrs.field(converter=_urgency)
    severity: Severity = attrs.field(converter=_severity)
    certainty: Certainty = attrs.field(converter=_certainty)
    audience: str | None = attrs.field(default=None, validator=v_opt_text)
    event_codes: tuple[NamedValue, ...] = attrs.field(
        default=(),
        converter=_event_codes,
        validator=v_items(NamedValue),
    )
    effective: datetime | None = attrs.field(default=None, validator=v_opt_time)
    onset: datetime | None = attrs.field(default=None, validator=v_opt_time)
    expires: datetime | None = attrs.field(default=None, validator=v_opt_time)
    sender_name: str | None = attrs.field(default=None, validator=v_opt_text)
    headline: str | None = attrs.field(default=None, validator=v_opt_text)
    description: str | None = attrs.field(default=None, validator=v_opt_text)
    instruction: str | None = attrs.field(default=None, validator=v_opt_text)
    web: str | None = attrs.field(default=None, validator=v_uri)
    contact: str | None = attrs.field(default=None, validator=v_opt_text)
    parameters: tuple[NamedValue, ...] = attrs.field(
        default=(), converter=_parameters, validator=v_items(NamedValue)
    )
    resources: tuple[Resource, ...] = attrs.field(
        default=(), converter=_resources, validator=v_items(Resource)
    )
    areas: tuple[AlertArea, ...] = attrs.field(
        default=(), converter=_areas, validator=v_items(AlertArea)
    )
    _kind: str | None = attrs.field(init=False, eq=False, repr=False, hash=False)
    _tips: tuple[TipChannel, ...] = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        for name in ("effective", "onset", "expires"):
            t = getattr(self, name)
            if t is not None:
                object.__setattr__(self, name, fixed_offset(t))
        if not self.categories:
            raise InvalidAlert(
                f"categories must hold at least one of {options(Category)} (got none)"
            )
        kinds = [
            kind_name(f"event_codes[{i}] ({KIND_CODE})", code.value, InvalidAlert)
            for i, code in enumerate(self.event_codes)
            if is_kind_code(code.value_name)
        ]
        if len(set(kinds)) > 1:
            raise InvalidAlert(f"event_codes name contradictory kinds: {', '.join(kinds)}")
        tips = []
        for i, p in enumerate(self.parameters):
            kind = tip_parameter_kind(p.value_name)
            if kind is not None:
                try:
                    tips.append(TipChannel(kind, p.value))
                    refuse_emergency_number(tips[-1])
                except InvalidAlert as err:
                    raise InvalidAlert(f"parameters[{i}] ({p.value_name}): {err}") from err
        object.__setattr__(self, "_kind", kinds[0] if kinds else None)
        object.__setattr__(self, "_tips", tuple(dict.fromkeys(tips)))

    @property
    def kind(self) -> str | None:
        """The kind name carried by this block's :data:`KIND_CODE` event code, if any.

        Any well-formed kind name (1 to 64 lower-case ASCII letters, digits or ``_``, starting
        with a letter) is accepted here; whether a policy registers it is the
        :class:`~geotarget.targeting.Targeter`'s question.

        .. versionchanged:: 0.1.0
           A kind name (``str``), no longer an ``AlertKind``.
        """
        return self._kind

    @property
    def tip_channels(self) -> tuple[TipChannel, ...]:
        """The tip channels carried in this block's parameters, in order."""
        return self._tips


# ---------------------------------------------------------------------------------------------
# Alert
# ---------------------------------------------------------------------------------------------


def _addresses(value: Iterable[str]) -> tuple[str, ...]:
    return tuple_of(value, "addresses", "str")


def _codes(value: Iterable[str]) -> tuple[str, ...]:
    return tuple_of(value, "codes", "str")


def _references(value: Iterable[Reference]) -> tuple[Reference, ...]:
    return tuple_of(value, "references", "Reference")


def _incidents(value: Iterable[str]) -> tuple[str, ...]:
    return tuple_of(value, "incidents", "str")


def _infos(value: Iterable[Info]) -> tuple[Info, ...]:
    return tuple_of(value, "infos", "Info")


def _check_at(at: object) -> None:
    """Refuse an ``at`` that is not a timezone-aware datetime of a real clock reading."""
    instant("at", at)


@attrs.frozen(kw_only=True)
class Alert:
    """A CAP 1.2 alert message: who sent it, when, how to handle it, and its info blocks.

    Parameters mirror the CAP ``<alert>`` elements (snake_case): ``identifier``, ``sender``,
    ``sent``, ``status``, ``msg_type``, ``scope`` (all required), ``source``, ``restriction``,
    ``addresses`` (a sequence; CAP's space-separated list), ``codes``, ``note``, ``references``
    (:class:`Reference` triples), ``incidents`` (a sequence) and ``infos``.

    Raises
    ------
    InvalidAlert
        For an identifier or sender with whitespace, ``,``, ``<`` or ``&``; a naive or
        fractional-second ``sent``; an Update, Cancel, Ack or Error without references; a
        Restricted alert without ``restriction`` or a Private one without ``addresses``; info
        blocks naming different kinds; polygons that together pass the budget of one CAP
        document (the edge pairs GEOS's validity check meets, the points where self-crossing
        rings meet themselves; each distinct ring counted once, however many info blocks
        repeat it), with the message :func:`geotarget.cap.read` gives, naming the polygon; an
        alert whose CAP document would be more than :data:`geotarget.cap.MAX_DOCUMENT_BYTES`
        bytes of UTF-8 or hold more than :data:`geotarget.cap.MAX_ELEMENTS` elements, with
        the message :func:`geotarget.cap.dumps` gave.

    Notes
    -----
    The active window combines the info blocks: :attr:`onset` is the earliest start of any
    block (its ``effective``, else its ``onset``, else the alert's ``sent``) and
    :attr:`expires` is the latest ``expires`` — or None when a block has none (open-ended).
    The alert is active at ``t`` iff ``onset <= t < expires`` (:meth:`is_active`). ``sent``,
    like every datetime of the model, is kept with its UTC offset as a fixed
    ``datetime.timezone``, so times compare as instants (see :class:`Info`).

    Examples
    --------
    A Cancel of an earlier alert (the pilot constructors build the alerts themselves):

    >>> from datetime import datetime, timezone
    >>> from geotarget.alerts import Alert, Reference
    >>> sent = datetime(2026, 5, 4, 20, 0, tzinfo=timezone.utc)
    >>> earlier = Reference(sender="polisen@polisen.se", identifier="SE-POL-1",
    ...                     sent=sent.replace(hour=19))
    >>> cancel = Alert(identifier="SE-POL-2", sender="polisen@polisen.se", sent=sent,
    ...                status="Actual", msg_type="Cancel", scope="Public", references=[earlier])
    >>> cancel.msg_type, cancel.kind, cancel.area, cancel.onset == sent
    (<MessageType.CANCEL: 'Cancel'>, None, None, True)

    .. versionadded:: 0.1.0
    """

    identifier: str = attrs.field(validator=v_cap_id)
    sender: str = attrs.field(validator=v_cap_id)
    sent: datetime = attrs.field(validator=v_time)
    status: Status = attrs.field(converter=_status)
    msg_type: MessageType = attrs.field(converter=_msg_type)
    source: str | None = attrs.field(default=None, validator=v_opt_text)
    scope: Scope = attrs.field(converter=_scope)
    restriction: str | None = attrs.field(default=None, validator=v_opt_text)
    addresses: tuple[str, ...] = attrs.field(default=(), converter=_addresses, validator=v_tokens)
    codes: tuple[str, ...] = attrs.field(default=(), converter=_codes, validator=_v_text_items)
    note: str | None = attrs.field(default=None, validator=v_opt_text)
    references: tuple[Reference, ...] = attrs.field(
        default=(), converter=_references, validator=v_items(Reference)
    )
    incidents: tuple[str, ...] = attrs.field(default=(), converter=_incidents, validator=v_tokens)
    infos: tuple[Info, ...] = attrs.field(default=(), converter=_infos, validator=v_items(Info))
    _kind: str | None = attrs.field(init=False, eq=False, repr=False, hash=False)
    _area: Area | None = attrs.field(init=False, eq=False, repr=False, hash=False)
    #: The alert's CAP 1.2 document, written once as it is built (:func:`geotarget.cap.dumps`).
    _document: str = attrs.field(init=False, eq=False, repr=False, hash=False)
    #: Each block's area geometry (None: it has none), built when first asked for.
    _places: tuple[Area | None, ...] | None = attrs.field(
        init=False, default=None, eq=False, repr=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "sent", fixed_offset(self.sent))
        # CAP 1.2 §3.2.1 says an Update, Cancel, Ack or Error acts on "the earlier message(s)
        # identified in <references>"; the model requires them (an incident is found through
        # them), a rule of geotarget's rather than a MUST of CAP's. <restriction> is CONDITIONAL,
        # "used when <scope> value is Restricted"; <addresses> is "Required when <scope> is
        # Private".
        if self.msg_type is not MessageType.ALERT and not self.references:
            raise InvalidAlert(
                f"references must name at least one earlier message for msg_type "
                f"{self.msg_type.value} (got none)"
            )
        if self.scope is Scope.RESTRICTED and self.restriction is None:
            raise InvalidAlert("restriction is required when scope is Restricted (got None)")
        if self.scope is Scope.PRIVATE and not self.addresses:
            raise InvalidAlert("addresses must name at least one recipient when scope is Private")
        kinds = {i.kind for i in self.infos} - {None}
        if len(kinds) > 1:
            raise InvalidAlert(
                "infos must agree on the alert kind (got "
                f"{', '.join(sorted(k for k in kinds if k is not None))})"
            )
        if not budget_spent():  # (the CAP reader spent it as it read the polygons)
            check_alert([i.areas for i in self.infos])
        parts = dict.fromkeys(
            p
            for i in self.infos
            for a in i.areas
            if a.geometry is not None
            for p in a.geometry.parts
        )
        object.__setattr__(self, "_kind", kinds.pop() if kinds else None)
        object.__setattr__(self, "_area", Area(list(parts)) if parts else None)
        # Every alert is one CAP document (the ledger keeps each version as one): refused here,
        # where it is built, when the reader could not read that document back, rather than
        # by cap.dumps in Targeter.target; kept, so that cap.dumps (each target() stores the
        # document) does not write it again. (Imported here: geotarget.cap builds on this.)
        from geotarget.cap._write import write

        object.__setattr__(self, "_document", write(self))

    @property
    def kind(self) -> str | None:
        """The kind name its info blocks carry in the :data:`KIND_CODE` event code; else None.

        An alert written by an upstream system usually carries none: a policy's recognition
        rules (:mod:`geotarget.kinds`) then say what kind it is. :func:`geotarget.cap.dumps`
        writes the event code, so a kind survives a round trip.

        .. versionchanged:: 0.1.0
           A kind name (``str``), no longer an ``AlertKind``.
        """
        return self._kind

    @property
    def area(self) -> Area | None:
        """The union of every info block's area geometry; None when there is no geometry."""
        return self._area

    @property
    def languages(self) -> tuple[str, ...]:
        """The language of each info block, in order."""
        return tuple(i.language for i in self.infos)

    @property
    def tip_channels(self) -> tuple[TipChannel, ...]:
        """The tip channels of all info blocks, without repeats, in order."""
        return tuple(dict.fromkeys(c for i in self.infos for c in i.tip_channels))

    @property
    def onset(self) -> datetime:
        """When the alert starts: the earliest effective/onset/sent over its info blocks."""
        if not self.infos:
            return self.sent
        return min(i.effective or i.onset or self.sent for i in self.infos)

    @property
    def expires(self) -> datetime | None:
        """When the alert ends: the latest ``expires``; None if any block has no expiry."""
        ends = [i.expires for i in self.infos]
        if not ends or any(e is None for e in ends):
            return None
        return max(e for e in ends if e is not None)

    @property
    def windows(self) -> tuple[tuple[datetime, datetime | None], ...]:
        """Each info block's window, in order: ``(start, expires)``.

        A block's start is its ``effective``, else its ``onset``, else the alert's ``sent``;
        its ``expires`` is None when it has none (open-ended). CAP lets each block carry its
        own times and areas (a warning for one district may end before another's):
        :meth:`area_at` unites the areas of the blocks in effect at a time.

        .. versionadded:: 0.1.0
        """
        return tuple((i.effective or i.onset or self.sent, i.expires) for i in self.infos)

    def area_at(self, at: datetime) -> Area | None:
        """The union of the area geometry of the info blocks in effect at ``at``; else None.

        A block is in effect while ``start <= at < expires`` (:attr:`windows`). When every
        block has the same window, this is :attr:`area` within it (the same object). A
        block whose window has ended, or has not begun, adds nothing: a device in its area
        only is not in the alert's area at ``at``.

        .. versionadded:: 0.1.0

        Raises
        ------
        InvalidType, InvalidAlert
            If ``at`` is not a timezone-aware datetime, or is a wall time its zone skips.
        """
        _check_at(at)
        windows = self.windows
        live = [start <= at and (end is None or at < end) for start, end in windows]
        if all(live) or len(set(windows)) == 1:
            return self._area if live and live[0] else None
        parts = dict.fromkeys(
            p
            for i, on in zip(self.infos, live, strict=True)
            if on
            for a in i.areas
            if a.geometry is not None
            for p in a.geometry.parts
        )
        return Area(list(parts)) if parts else None

    def is_active(self, at: datetime) -> bool:
        """Return whether ``onset <= at < expires`` (no upper bound when ``expires`` is None).

        This is the time window only; the caller decides what ``status`` and ``msg_type``
        mean (a Cancel, a Test...).
        """
        _check_at(at)
        end = self.expires
        return self.onset <= at and (end is None or at < end)

    def info_for(
        self,
        language: str,
        *,
        at: datetime | None = None,
        lon: float | None = None,
        lat: float | None = None,
    ) -> Info | None:
        """The info block whose text a device should show; None only when there are no blocks.

        CAP lets one alert carry several blocks in the same language for different areas or
        times (one per district; a block that ends and one that starts later). Give the
        device's time and place and the block chosen is one that applies to it:

        1. **Time** — with ``at``, the blocks in effect at ``at`` (``start <= at < expires``,
           :attr:`windows`); if none is, all blocks.
        2. **Place** — with ``lon`` and ``lat`` (both or neither), among those: the blocks
           whose area geometry covers the point; if none covers it, the blocks whose geometry
           is nearest to it in geodesic metres (a device told through a margin or an uncertain
           fix gets the text of the area it is near). Then, after them, the blocks without
           area geometry (geocodes only, or no area, as a translation may be sent): they name
           no place that could exclude the device.
        3. **Language** — among those, in that order: the first block whose language equals
           ``language`` (case-insensitive, ``sv_SE`` accepted), else the first of the same
           language sharing its script or region (``sr-Latn-RS`` → ``sr-Latn``,
           ``zh-Hant-TW`` → ``zh-TW``; a Chinese region implies its script, so ``zh-HK`` →
           ``zh-TW`` before ``zh-CN``), else the first with the same primary language
           (``sv-FI`` → ``sv-SE``), else the first English block, else the first block. A
           block of the device's place wins a tie of language with one that names no place.
           The deprecated codes Java and Android still report are their
           languages (``iw`` is Hebrew ``he``, ``in`` Indonesian ``id``; also ``ji``, ``jw``,
           ``mo``), Tagalog ``tl`` is Filipino ``fil``, and Norwegian Bokmål ``nb`` and
           Nynorsk ``nn`` have the primary language of Norwegian ``no`` (which MET Norway
           writes).

        Without ``at`` the first rule is skipped, without ``lon`` and ``lat`` the second: with
        neither, the language alone decides. :meth:`info_indices` applies the rule to arrays
        of devices.

        Raises
        ------
        InvalidType, InvalidAlert
            If ``at`` is not a timezone-aware datetime, or is a wall time its zone's clocks
            skip.
        InvalidType, InvalidCoordinates
            If only one of ``lon`` and ``lat`` is given, or either is not a number in range.

        Examples
        --------
        Two districts, each with its own Swedish text:

        >>> from datetime import datetime, timezone
        >>> from geotarget import Circle
        >>> from geotarget.alerts import Alert, AlertArea, Info
        >>> def block(name, lon):
        ...     return Info(language="sv-SE", categories=["Met"], event="Storm",
        ...                 urgency="Expected", severity="Severe", certainty="Likely",
        ...                 headline=f"Storm i {name}",
        ...                 areas=[AlertArea.from_area(name, Circle(lon, 59.0, 5000.0))])
        >>> sent = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
        >>> alert = Alert(identifier="SE-1", sender="smhi@smhi.se", sent=sent,
        ...               status="Actual", msg_type="Alert", scope="Public",
        ...               infos=[block("Väst", 17.0), block("Öst", 18.0)])
        >>> alert.info_for("sv-SE", lon=18.01, lat=59.0).headline
        'Storm i Öst'
        >>> alert.info_for("sv-SE").headline  # the language alone: the first block
        'Storm i Väst'

        .. versionchanged:: 0.1.0
           ``at``, ``lon`` and ``lat`` choose among blocks for different times and areas.
        """
        check_text("language", language)
        want = language.strip().replace("_", "-").lower()
        if (lon is None) != (lat is None):
            missing = "lat" if lat is None else "lon"
            raise InvalidType(
                f"lon and lat must be given together (got {missing} None): a place is both"
            )
        if lon is None:
            k = self._choose([want], None, None, None, at)
        else:
            x, y = lon_lat("lon", lon, "lat", lat)
            k = self._choose([want], None, np.array([x]), np.array([y]), at)
        return None if k is None else self.infos[int(k[0])]

    def info_indices(
        self,
        language: str | Sequence[str] | npt.NDArray[Any],
        lon: npt.ArrayLike,
        lat: npt.ArrayLike,
        *,
        at: datetime | None = None,
    ) -> npt.NDArray[np.intp]:
        """:meth:`info_for` for many devices at once: the index of each one's block in ``infos``.

        ``lon`` and ``lat`` are arrays (or scalars) of one shape; ``language`` is one tag for
        every device or one per device (a sequence, array or data frame column of ``str`` of
        the same length).
        The rule is :meth:`info_for`'s, device by device, with no Python loop over devices:
        a service groups its recipients by the index and sends each block's text once.

        Returns
        -------
        numpy.ndarray of intp
            One index per device (flattened); ``-1`` for every device when the alert has no
            info blocks.

        Raises
        ------
        InvalidType, InvalidCoordinates
            For coordinates as :meth:`~geotarget.areas.Area.contains` refuses them, or a
            ``language`` that is not a ``str`` or a sequence of ``str`` of the devices' length.
        InvalidType, InvalidAlert
            If ``at`` is not a timezone-aware datetime, or is a wall time its zone skips.

        Examples
        --------
        >>> from datetime import datetime, timezone
        >>> from geotarget import Circle
        >>> from geotarget.alerts import Alert, AlertArea, Info
        >>> def block(language, lon):
        ...     return Info(language=language, categories=["Met"], event="Storm",
        ...                 urgency="Expected", severity="Severe", certainty="Likely",
        ...                 areas=[AlertArea.from_area("x", Circle(lon, 59.0, 5000.0))])
        >>> sent = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
        >>> alert = Alert(identifier="SE-1", sender="smhi@smhi.se", sent=sent,
        ...               status="Actual", msg_type="Alert", scope="Public",
        ...               infos=[block("sv", 17.0), block("en", 17.0), block("sv", 18.0)])
        >>> alert.info_indices(["sv-SE", "en-GB", "sv-FI"], [17.0, 17.0, 18.01],
        ...                    [59.0, 59.0, 59.0]).tolist()
        [0, 1, 2]

        .. versionadded:: 0.1.0
        """
        x, y = lon_lat_arrays(lon, lat)
        x, y = x.reshape(-1), y.reshape(-1)
        if isinstance(language, str):
            check_text("language", language)
            wants, inverse = [language], None
        else:
            wants, inverse = _languages(language, x.size)
        wanted = [w.strip().replace("_", "-").lower() for w in wants]
        k = self._choose(wanted, inverse, x, y, at)
        return np.full(x.size, -1, dtype=np.intp) if k is None else k

    def _choose(
        self,
        wants: list[str],
        inverse: npt.NDArray[np.intp] | None,
        x: npt.NDArray[np.float64] | None,
        y: npt.NDArray[np.float64] | None,
        at: datetime | None,
    ) -> npt.NDArray[np.intp] | None:
        """The block index per device (one device when ``x`` is None); None without blocks.

        ``wants``: the distinct normalised language tags; ``inverse``: each device's index into
        them (None: the first for every device).
        """
        if at is not None:
            _check_at(at)
        infos = self.infos
        if not infos:
            return None
        nb = len(infos)
        n = 1 if x is None else x.size
        live = list(range(nb))
        if at is not None:
            on = [
                b for b, (t0, t1) in enumerate(self.windows) if t0 <= at and (t1 is None or at < t1)
            ]
            live = on or live
        # group[b, p]: 0 for a block of the device's place (covering, else nearest), 1 for a
        # block naming no place, _NOT for a block out of the running
        group = np.full((nb, n), _NOT, dtype=np.int64)
        if self._places is None:
            object.__setattr__(self, "_places", tuple(_block_area(i) for i in infos))
        assert self._places is not None
        located = [(b, self._places[b]) for b in live]
        if x is None or y is None or all(area is None for _, area in located):
            group[live, :] = 0
        else:
            places = [(b, area) for b, area in located if area is not None]
            # Each distinct area once (one per language repeats it), looked up by hash: a
            # document of thousands of blocks must not compare every area with every other.
            rows: dict[Area, int] = {}
            row_of = [rows.setdefault(area, len(rows)) for _, area in places]
            distinct = list(rows)
            inside = np.vstack([area.contains(x, y) for area in distinct])
            far = ~inside.any(axis=0)
            if far.any():
                metres = np.vstack([_distances_m(area, x[far], y[far]) for area in distinct])
                inside[:, far] = metres == metres.min(axis=0)
            near = inside[row_of]
            for (b, _), row in zip(places, near, strict=True):
                group[b, row] = 0
            for b, area in located:
                if area is None:
                    group[b, :] = 1
        tags = [_same_tag(i.language.lower()) for i in infos]
        # tiers[b, w]: how well block b's language serves language w (0 best), per distinct
        # language, then gathered per device: no pass over the devices per language (phones
        # report a hundred distinct tags)
        tiers = np.empty((nb, len(wants)), dtype=np.int8)
        for w, wanted in enumerate(wants):
            want = _same_tag(wanted)
            primary = _read_as(want)
            head, marks = want.split("-")[0], _script_and_region(want)
            tiers[:, w] = [
                0 if t == want else
                1 if t.split("-")[0] == head and marks & _script_and_region(t) else
                2 if _read_as(t) == primary else
                3 if t.split("-")[0] == "en" else 4
                for t in tags
            ]  # fmt: skip
        tier = tiers[:, :1] if inverse is None else tiers[:, inverse]
        # the sequential rule (each tier over the blocks in order of place, then document) as
        # one lexicographic key: (tier, group, index)
        index = np.arange(nb, dtype=np.int64)[:, None]
        key = np.where(group < _NOT, (tier * 2 + group) * nb + index, np.iinfo(np.int64).max)
        pick: npt.NDArray[np.intp] = np.argmin(key, axis=0).astype(np.intp, copy=False)
        return pick


#: ``_choose``'s group of a block out of the running.
_NOT = 2

#: Primary language subtags that name the same language as another: those IANA's language
#: subtag registry deprecates for another (its Preferred-Value), which Java and Android still
#: report (``iw_IL`` for Hebrew, ``in_ID`` for Indonesian), and Tagalog's ``tl``, which CLDR
#: reads as Filipino ``fil`` (older Android phones in the Philippines report ``tl-PH``).
_SAME_LANGUAGE = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "tl": "fil"}
#: Primary languages read as their macrolanguage: Norwegian Bokmål and Nynorsk readers read
#: Norwegian (``no``, which MET Norway writes; phones report ``nb-NO`` or ``nn-NO``).
_MACROLANGUAGE = {"nb": "no", "nn": "no"}


def _same_tag(tag: str) -> str:
    """A lower-case tag, a deprecated primary language subtag replaced (``iw-il``: ``he-il``)."""
    head, dash, rest = tag.partition("-")
    return _SAME_LANGUAGE.get(head, head) + dash + rest


#: The script a Chinese tag's region implies (CLDR's likely subtags): phones report
#: ``zh-Hant-HK`` where an issuer writes ``zh-TW`` for its Traditional Chinese block.
_CHINESE_SCRIPT = {"tw": "hant", "hk": "hant", "mo": "hant", "cn": "hans", "sg": "hans"}


def _script_and_region(tag: str) -> frozenset[str]:
    """The script (4 letters) and region (2 letters or 3 digits) subtags of a lower-case tag.

    A Chinese tag without a script gains the one its region implies (``zh-tw``: ``hant``).
    """
    head, *rest = tag.split("-")
    marks = {t for t in rest if (len(t) in (2, 4) and t.isalpha()) or (len(t) == 3 and t.isdigit())}
    if head == "zh" and not any(len(t) == 4 for t in marks):
        marks |= {_CHINESE_SCRIPT[t] for t in marks if t in _CHINESE_SCRIPT}
    return frozenset(marks)


def _read_as(tag: str) -> str:
    """The primary language a reader of ``tag`` reads (``nb-no``: ``no``)."""
    head = tag.split("-")[0]
    return _MACROLANGUAGE.get(head, head)


def _languages(value: object, n: int) -> tuple[list[str], npt.NDArray[np.intp]]:
    """Per-device language tags: the distinct ones, and each device's index into them."""
    array_like = isinstance(value, (Sequence, np.ndarray)) or hasattr(value, "__array__")
    if isinstance(value, (bytes, bytearray)) or not array_like:  # (pandas, Arrow: __array__)
        raise InvalidType(
            f"language must be a str or a sequence of str, one per device "
            f"(got {type(value).__name__})"
        )
    arr = np.asarray(value, dtype=object).reshape(-1)
    if arr.size != n:
        raise InvalidType(
            f"language must hold one tag per device: {n} coordinates (got {arr.size} tags)"
        )
    items = arr.tolist()
    # The distinct tags by hashing, each device's index by one lookup (both in C): sorting
    # the devices' tags (np.unique) would compare Python strings n log n times.
    try:
        code = {tag: k for k, tag in enumerate(dict.fromkeys(items))}
    except TypeError:  # an unhashable item (a list): not a str
        code = None
    if code is None or not all(isinstance(u, str) for u in code):
        k, v = next((k, v) for k, v in enumerate(items) if not isinstance(v, str))
        raise InvalidType(f"language[{k}] must be a str (got {type(v).__name__} {shown(v)})")
    wants = [str(u) for u in code]
    for w in wants:
        check_text("language", w)
    inverse = np.fromiter(map(code.__getitem__, items), dtype=np.intp, count=len(items))
    return wants, inverse


def _block_area(info: Info) -> Area | None:
    """The union of a block's area geometry; None when it has none."""
    parts = dict.fromkeys(p for a in info.areas if a.geometry for p in a.geometry.parts)
    return Area(list(parts)) if parts else None


def _distances_m(
    area: Area, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Geodesic metres from points outside ``area`` to its nearest part (0 inside one)."""
    from geotarget import _geodesy  # (pyproj: imported when first needed)

    n = lon.size
    best = np.full(n, np.inf)
    for part in area.parts:
        if isinstance(part, Circle):
            to_centre = _geodesy.inv_distance(lon, lat, np.full(n, part.lon), np.full(n, part.lat))
            d = np.asarray(to_centre, dtype=np.float64) - part.radius_m - part.margin_m
        else:
            # (across the 180° meridian too: distance_to_geometries measures both ways)
            d = _geodesy.distance_to_geometries(lon, lat, np.array([part.shape] * n, dtype=object))
            d = d - part.margin_m
        best = np.minimum(best, np.maximum(d, 0.0))
    return best
