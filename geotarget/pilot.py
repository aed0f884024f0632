"""The Swedish Police pilot, in one place: its kinds, how they are recognised, their rules.

The core library knows no particular kind (:mod:`geotarget.kinds`); this module is where the
pilot on SOS Alarm's 112 app defines its own:

* the three kinds, :data:`EXPLOSION`, :data:`CRIME_MODUS` and :data:`TIP_REQUEST`
  (:data:`KINDS`);
* their constructors, :func:`explosion`, :func:`crime_modus` and :func:`tip_request`, which
  write Swedish and English side by side and record the kind as the ``geotarget:kind`` event
  code so that a round trip through CAP keeps it;
* the tip channels, the tip line 114 14 and the police web form (:data:`POLICE_TIP_CHANNELS`);
* :data:`RECOGNITION`, the default rules that recognise the kinds in what upstream systems
  send (below), and :data:`KIND_RULES`, each kind's location rules and blast-radius guard;
* the rollout: :data:`PILOT_START`; :func:`pilot_policy`, the phased pilot shipped as
  ``geotarget/data/sweden/pilot_policy.toml`` (:func:`geotarget.sweden.pilot_policy`):
  Stockholm County first, then Skåne and Västra Götaland, then the whole country, the later
  dates marked illustrative; and :func:`announced_policy`, the pilot as announced (its first
  phase) plus later phases you try in code. The same file states :data:`KIND_RULES` in its
  ``[location_rules.<kind>]`` tables (a test checks that they agree).

**Recognition (documented choices).** Event texts are compared case-insensitively with
whitespace collapsed (:func:`geotarget.kinds.normalise_event`). Every rule also accepts the
event text the pilot's own constructors write, so a document whose ``geotarget:kind`` code was
dropped by a relay is still recognised.

* ``pilot:explosion`` — event Explosion, Explosionsrisk, Risk för explosion, Explosion risk,
  Risk of explosion; any category (a feared explosion is life safety whatever the feed files
  it under).
* ``pilot:crime_modus`` — event Brottsmodus, Information om brottsmodus, Crime modus, Crime
  modus information; category Security.
* ``pilot:tip_request`` — event Tips, Tipsförfrågan, Polisen efterfrågar tips, Tip request,
  Request for tips, Police request for tips; category Security.

"Explosionsrisk" is included because the pilot's Explosion *is* a feared explosion (the
police are alerted to it before anything is known). "Sprängning" (controlled blasting) is not:
it is planned work, not a 112 event. Police information needs category Security so that, say,
a health authority's "Tips" campaign is not taken for a police tip request. Operators add rules
(other languages, event codes of their feeds, senders) in the policy file's
``[[recognition]]`` tables; they rank before these defaults.

Examples
--------
An Explosion alert 500 m around Sergels torg, Stockholm:

>>> from datetime import datetime, timedelta, timezone
>>> from geotarget import Circle, pilot
>>> t0 = datetime(2026, 5, 4, 21, 30, tzinfo=timezone(timedelta(hours=2)))
>>> alert = pilot.explosion(
...     identifier="SE-POL-2026-0001",
...     sender="polisen@polisen.se",
...     sent=t0,
...     area=Circle(18.06528, 59.3325, 500.0),
...     sv=pilot.Message(
...         headline="Polisen larmad om explosion vid Sergels torg",
...         description="Polisen är på plats. Håll dig borta från området.",
...         instruction="Undvik området och följ polisens anvisningar.",
...         area_description="Sergels torg, Stockholm",
...     ),
...     en=pilot.Message(
...         headline="Police alerted to an explosion at Sergels torg",
...         description="The police are on site. Stay away from the area.",
...         instruction="Avoid the area and follow police instructions.",
...         area_description="Sergels torg, Stockholm",
...     ),
...     onset=t0,
...     expires=t0 + timedelta(hours=2),
... )
>>> pilot.RECOGNITION.recognise(alert)
Recognition(kind='explosion', rule='geotarget:kind')
>>> [i.event for i in alert.infos]
['Explosion', 'Explosion']

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import datetime as dt
import enum
import urllib.parse
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from geotarget._validate import ReadOnly, blank_shown, shows_nothing
from geotarget.alerts import Alert, AlertArea, Info
from geotarget.alerts._budget import one_document
from geotarget.alerts._values import (
    KIND_CODE,
    Category,
    Certainty,
    MessageType,
    NamedValue,
    Reference,
    ResponseType,
    Scope,
    Severity,
    Status,
    TipChannel,
    TipChannelKind,
    Urgency,
    brief,
    check_text,
    emergency_number,
    kind_name,
    tuple_of,
)
from geotarget.areas import Area, Part
from geotarget.errors import InvalidAlert, InvalidInput, InvalidPolicy, InvalidType, Problem
from geotarget.kinds import Kind, RecognitionRule, Recognizer
from geotarget.positions import LocationRule, StaleRule
from geotarget.rollout import DEFAULT_SALT, KindRollout, Phase, RolloutPolicy
from geotarget.sweden import pilot_policy
from geotarget.targeting import KindRules

__all__ = [
    "CRIME_MODUS",
    "EXPLOSION",
    "KINDS",
    "KIND_RULES",
    "PILOT_START",
    "POLICE_TIP_CHANNELS",
    "POLICE_TIP_PHONE",
    "POLICE_TIP_WEB",
    "RECOGNITION",
    "TIP_REQUEST",
    "Message",
    "announced_policy",
    "crime_modus",
    "explosion",
    "pilot_policy",
    "tip_request",
]


def __dir__() -> list[str]:
    return __all__


class _AlertKind(str, enum.Enum):
    """Deprecated: the pilot's kind names as an enum; use the names (``"explosion"``).

    A kind is a name registered by a policy (:mod:`geotarget.kinds`), so the library has no
    closed list of kinds. This enum remains for code written before kinds were names: its
    members are ``str``, equal to the names, and accepted wherever a kind name is.

    .. deprecated:: 0.1.0
       Use kind names, or :data:`EXPLOSION`, :data:`CRIME_MODUS`, :data:`TIP_REQUEST` (``.name``).
    """

    EXPLOSION = "explosion"
    CRIME_MODUS = "crime_modus"
    TIP_REQUEST = "tip_request"


def __getattr__(name: str) -> Any:
    # The deprecated AlertKind, also served by geotarget.alerts and geotarget.
    if name == "AlertKind":
        warnings.warn(
            "AlertKind is deprecated: a kind is a name registered by a policy; use the name "
            '("explosion") or geotarget.pilot.EXPLOSION.name',
            DeprecationWarning,
            stacklevel=3,
        )
        return _AlertKind
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The pilot's start: 2024-04-15 00:00 Europe/Stockholm (Monday of ISO week 16), as a UTC instant.
PILOT_START = dt.datetime(2024, 4, 14, 22, 0, tzinfo=dt.timezone.utc)

#: A 112 event: a feared explosion; the police are alerted to the place.
EXPLOSION = Kind("explosion", "Explosion")
#: Crime-prevention information about a current modus operandi in an area.
CRIME_MODUS = Kind("crime_modus", "Crime-modus information")
#: The police ask the public for tips.
TIP_REQUEST = Kind("tip_request", "Tip request")
#: The pilot's kinds, in order.
KINDS = (EXPLOSION, CRIME_MODUS, TIP_REQUEST)

#: The police tip line, 114 14.
POLICE_TIP_PHONE = TipChannel(TipChannelKind.PHONE, "114 14")
#: The police web form for tips.
POLICE_TIP_WEB = TipChannel(TipChannelKind.WEB, "https://polisen.se/lagg-fram-tips")
#: The default channels of a tip request: the tip line, then the web form.
POLICE_TIP_CHANNELS = (POLICE_TIP_PHONE, POLICE_TIP_WEB)

#: The default recognition rules of the pilot's kinds (see the table above).
RECOGNITION = Recognizer(
    [
        RecognitionRule(
            name="pilot:explosion",
            kind=EXPLOSION.name,
            events=[
                "Explosion", "Explosionsrisk", "Risk för explosion", "Explosion risk",
                "Risk of explosion",
            ],
        ),
        RecognitionRule(
            name="pilot:crime_modus",
            kind=CRIME_MODUS.name,
            events=[
                "Brottsmodus", "Information om brottsmodus", "Crime modus",
                "Crime modus information",
            ],
            categories=[Category.SECURITY],
        ),
        RecognitionRule(
            name="pilot:tip_request",
            kind=TIP_REQUEST.name,
            events=[
                "Tips", "Tipsförfrågan", "Polisen efterfrågar tips", "Tip request",
                "Request for tips", "Police request for tips",
            ],
            categories=[Category.SECURITY],
        ),
    ]
)  # fmt: skip

#: The pilot's per-kind rules. An Explosion is a life-safety 112-event: it fails open on
#: ambiguous fixes, still tells a phone whose fix is up to 24 hours old if that fix lies within
#: 1 km of the area (a phone left lying, or one that stopped reporting, still has an owner
#: nearby), and does not stop at the national border (Haparanda/Tornio); it is meant for a
#: limited area (at most 100 km², a circle of about 5.6 km). Police information fails closed
#: (it must not reach people outside the area or the country it is about), ignores stale fixes
#: and is guarded at 2,000 km² and 600,000 recipients. Fresh fixes are at most an hour old. No
#: kind tells devices without a fix: they could be anywhere. Read-only (every Targeter built
#: without ``location_rules`` uses it): build your own mapping from it, ``dict(KIND_RULES)``.
KIND_RULES: Mapping[str, KindRules] = ReadOnly(
    {
        EXPLOSION.name: KindRules(
            location=LocationRule(max_age=dt.timedelta(hours=1)),
            include_ambiguous=True,
            stale=StaleRule(max_age=dt.timedelta(hours=24), margin_m=1000.0),
            beyond_border=True,
            max_area_km2=100.0,
        ),
        CRIME_MODUS.name: KindRules(
            location=LocationRule(max_age=dt.timedelta(hours=1)),
            include_ambiguous=False,
            max_area_km2=2_000.0,
            max_recipients=600_000,
        ),
        TIP_REQUEST.name: KindRules(
            location=LocationRule(max_age=dt.timedelta(hours=1)),
            include_ambiguous=False,
            max_area_km2=2_000.0,
            max_recipients=600_000,
        ),
    }
)


# ---------------------------------------------------------------------------------------------
# The pilot kinds
# ---------------------------------------------------------------------------------------------


def _blank(text: str) -> bool:
    """Whether a text shows nothing (:func:`geotarget._validate.shows_nothing`)."""
    return shows_nothing(text)


def _check_words(name: str, value: object, *, optional: bool = False) -> None:
    text = check_text(name, value)
    if _blank(text):
        leave = f"; leave it None for no {name}" if optional else ""
        raise InvalidAlert(
            f"{name} must not be blank: it must show some text{leave} (got {blank_shown(text)})"
        )


def _v_words(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _check_words(attribute.name, value)


def _v_opt_words(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _check_words(attribute.name, value, optional=True)


@attrs.frozen(kw_only=True)
class Message:
    """What a pilot alert says in one language.

    Parameters
    ----------
    headline : str
        A short headline, e.g. ``"Polisen larmad om explosion vid Sergels torg"``.
    description : str
        What is happening.
    area_description : str
        The area in words (CAP ``areaDesc``), e.g. ``"Sergels torg, Stockholm"``.
    instruction : str, optional
        What people should do; None for no instruction.

    Raises
    ------
    InvalidAlert
        Naming the field, for a text that shows nothing: spaces, line breaks, only invisible
        characters such as a zero-width space, a Hangul filler (U+3164) or a variation
        selector (what Unicode calls default-ignorable), or a blank braille cell (U+2800).

    Examples
    --------
    >>> from geotarget.pilot import Message
    >>> sv = Message(headline="Vittnen sökes", description="Såg du något vid Rinkeby torg?",
    ...              area_description="Rinkeby, Stockholm")
    >>> sv.instruction is None
    True

    .. versionadded:: 0.1.0
    """

    headline: str = attrs.field(validator=_v_words)
    description: str = attrs.field(validator=_v_words)
    area_description: str = attrs.field(validator=_v_words)
    instruction: str | None = attrs.field(default=None, validator=_v_opt_words)


def _when(value: object) -> str:
    """A time as a message shows it: ISO 8601 for a datetime, else its repr (None)."""
    return value.isoformat() if isinstance(value, datetime) else repr(value)


def _utc(t: datetime) -> datetime:
    return t.astimezone(dt.timezone.utc)


def _check_channels(channels: tuple[TipChannel, ...]) -> None:
    """Refuse the emergency number as a tip line, and a channel listed twice."""
    seen: dict[str, int] = {}
    for i, c in enumerate(channels):
        number = emergency_number(c)
        if number == "112":
            raise InvalidAlert(
                f"tip_channels[{i}] must not be the emergency number 112: tips go to the tip "
                "line 114 14 or the police web form, 112 is for emergencies "
                f"(got {brief(c.address, 80)})"
            )
        if number is not None:
            raise InvalidAlert(
                f"tip_channels[{i}] must not be an emergency number: a phone calls 112 when "
                f"{number} is dialled (3GPP TS 22.101 makes 112 and 911 emergency numbers on "
                "every handset, and 000, 08, 110, 118, 119 and 999 on one without a SIM); tips "
                f"go to the tip line 114 14 or the police web form (got {brief(c.address, 80)})"
            )
        key = _channel_key(c)
        if key in seen:
            first = channels[seen[key]]
            got = (
                f"{brief(c.address, 80)} twice"
                if first.uri == c.uri
                else f"{brief(c.address, 80)}, which is {brief(first.address, 80)} written "
                "another way"
            )
            raise InvalidAlert(
                f"tip_channels[{i}] must not repeat tip_channels[{seen[key]}]: list each "
                f"channel once (got {got})"
            )
        seen[key] = i


def _channel_key(channel: TipChannel) -> str:
    """What makes two channels one: the number, 00 written as +; the URL, its host any case.

    ``+46 77 114 14 00`` and ``0046 77 114 14 00`` are one number (00 is how Sweden dials
    the + of an international number); ``https://Polisen.se/x`` and ``https://polisen.se/x``
    one page (a host name has no case).
    """
    if channel.kind is TipChannelKind.PHONE:
        number = channel.uri.removeprefix("tel:")
        return "tel:+" + number[2:] if number.startswith("00") else channel.uri
    parts = urllib.parse.urlsplit(channel.uri)
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.lower()))


@attrs.frozen
class _Profile:
    event_sv: str
    event_en: str
    categories: tuple[Category, ...]
    response_types: tuple[ResponseType, ...]
    urgency: Urgency
    severity: Severity
    certainty: Certainty


_PROFILES = {
    EXPLOSION.name: _Profile(
        "Explosion", "Explosion", (Category.SAFETY,), (ResponseType.AVOID,),
        Urgency.IMMEDIATE, Severity.SEVERE, Certainty.LIKELY,
    ),
    CRIME_MODUS.name: _Profile(
        "Information om brottsmodus", "Crime modus information", (Category.SECURITY,),
        (ResponseType.MONITOR,), Urgency.EXPECTED, Severity.MINOR, Certainty.LIKELY,
    ),
    TIP_REQUEST.name: _Profile(
        "Polisen efterfrågar tips", "Police request for tips", (Category.SECURITY,),
        (ResponseType.NONE,), Urgency.UNKNOWN, Severity.MINOR, Certainty.OBSERVED,
    ),
}  # fmt: skip

_LANGUAGES = (("sv-SE", "eller", "Tipsa polisen"), ("en", "or", "Send tips to the police"))


def _pilot(
    kind: str,
    *,
    identifier: str,
    sender: str,
    sent: datetime,
    area: Area | Part,
    sv: Message,
    en: Message,
    onset: datetime,
    expires: datetime,
    tip_channels: Sequence[TipChannel],
    status: Status | str,
    msg_type: MessageType | str,
    references: Iterable[Reference],
    sender_name: str,
) -> Alert:
    for name, msg in (("sv", sv), ("en", en)):
        if not isinstance(msg, Message):
            raise InvalidType(
                f"{name} must be a Message: a pilot alert says everything in Swedish (sv) and "
                f"English (en) side by side (got {type(msg).__name__})"
            )
    if sender_name is not None:
        _check_words("sender_name", sender_name, optional=True)
    channels = tuple_of(tip_channels, "tip_channels", "TipChannel")
    for i, c in enumerate(channels):
        if not isinstance(c, TipChannel):
            raise InvalidType(f"tip_channels[{i}] must be a TipChannel (got {type(c).__name__})")
    _check_channels(channels)
    if onset is None or expires is None:
        raise InvalidAlert(
            "a pilot alert needs both onset and expires "
            f"(got onset {_when(onset)}, expires {_when(expires)})"
        )
    profile = _PROFILES[kind]
    web = next((c.address for c in channels if c.kind is TipChannelKind.WEB), None)
    # One document: the area written per language is checked and repaired once.
    with one_document(budgeted=False):
        infos = []
        for (language, word_or, lead), msg, event in (
            (_LANGUAGES[0], sv, profile.event_sv),
            (_LANGUAGES[1], en, profile.event_en),
        ):
            contact = (
                f"{lead}: {f' {word_or} '.join(c.address for c in channels)}" if channels else None
            )
            infos.append(
                Info(
                    language=language,
                    categories=profile.categories,
                    event=event,
                    response_types=profile.response_types,
                    urgency=profile.urgency,
                    severity=profile.severity,
                    certainty=profile.certainty,
                    event_codes=(NamedValue(KIND_CODE, kind),),
                    onset=onset,
                    expires=expires,
                    sender_name=sender_name,
                    headline=msg.headline,
                    description=msg.description,
                    instruction=msg.instruction,
                    web=web,
                    contact=contact,
                    parameters=tuple(c.parameter for c in channels),
                    areas=(AlertArea.from_area(msg.area_description, area),),
                )
            )
        alert = Alert(
            identifier=identifier,
            sender=sender,
            sent=sent,
            status=status,
            msg_type=msg_type,
            scope=Scope.PUBLIC,
            references=tuple_of(references, "references", "Reference"),
            infos=infos,
        )
    # Checked once Alert has refused a naive time or a wall time that does not exist, naming
    # it; and as instants: Python compares two times of one tzinfo by their wall clocks, so
    # 02:45 (+02:00) looked after 02:30 (+01:00) on the night the clocks go back, though it
    # comes 45 minutes before it, and the alert was never active.
    if not _utc(expires) > _utc(onset):
        raise InvalidAlert(
            f"expires must be after onset: a pilot alert needs a time window "
            f"(got onset {onset.isoformat()} and expires {expires.isoformat()})"
        )
    return alert


def explosion(
    *,
    identifier: str,
    sender: str,
    sent: datetime,
    area: Area | Part,
    sv: Message,
    en: Message,
    onset: datetime,
    expires: datetime,
    status: Status | str = Status.ACTUAL,
    msg_type: MessageType | str = MessageType.ALERT,
    references: Iterable[Reference] = (),
    sender_name: str = "Polisen",
) -> Alert:
    """An **Explosion** alert: a 112 event, a feared explosion; the police are alerted to it.

    Parameters
    ----------
    identifier, sender : str
        The message id and the sender's id (no whitespace, ``,``, ``<`` or ``&``).
    sent : datetime
        When the message is issued (timezone-aware, whole seconds).
    area : Area, Circle or Polygon
        Where it applies, without a margin (CAP carries none). A polygon with holes is
        written as the polygons without holes that cover the same ground
        (:meth:`Polygon.without_holes <geotarget.areas.Polygon.without_holes>`): CAP has no
        holes.
    sv, en : Message
        The Swedish and English texts; the info blocks are ``sv-SE`` then ``en``.
    onset, expires : datetime
        The active window, ``onset <= t < expires``.
    status : Status, default Status.ACTUAL
        ``Exercise`` or ``Test`` for drills.
    msg_type : MessageType, default MessageType.ALERT
        An Update or a Cancel needs ``references``.
    references : sequence of Reference, default ()
        The earlier messages an Update or Cancel refers to.
    sender_name : str, default "Polisen"
        The human-readable sender.

    Returns
    -------
    Alert
        A Public alert whose info blocks carry the :data:`KIND_CODE` event code ``explosion``,
        category Safety, response Avoid, urgency Immediate, severity Severe, certainty Likely.

    Examples
    --------
    See the module docstring of :mod:`geotarget.pilot` for a complete, runnable example.

    .. versionadded:: 0.1.0
    """
    return _pilot(
        EXPLOSION.name, identifier=identifier, sender=sender, sent=sent, area=area, sv=sv,
        en=en, onset=onset, expires=expires, tip_channels=(), status=status, msg_type=msg_type,
        references=references, sender_name=sender_name,
    )  # fmt: skip


def crime_modus(
    *,
    identifier: str,
    sender: str,
    sent: datetime,
    area: Area | Part,
    sv: Message,
    en: Message,
    onset: datetime,
    expires: datetime,
    status: Status | str = Status.ACTUAL,
    msg_type: MessageType | str = MessageType.ALERT,
    references: Iterable[Reference] = (),
    sender_name: str = "Polisen",
) -> Alert:
    """A **crime-modus** alert: crime-prevention information about a current modus in an area.

    Parameters are those of :func:`explosion`.

    Returns
    -------
    Alert
        A Public alert whose info blocks carry the :data:`KIND_CODE` event code
        ``crime_modus``, category Security, response Monitor, urgency Expected, severity Minor,
        certainty Likely.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> from geotarget import Polygon, pilot
    >>> t0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)
    >>> text = pilot.Message(headline="Falska poliser ringer", description="Lägg på.",
    ...                       area_description="Solna")
    >>> a = pilot.crime_modus(identifier="SE-POL-8", sender="polisen@polisen.se", sent=t0,
    ...     area=Polygon([(17.98, 59.35), (18.03, 59.35), (18.03, 59.38), (17.98, 59.38)]),
    ...     sv=text, en=text, onset=t0, expires=t0 + timedelta(days=7))
    >>> a.kind, a.infos[0].categories[0].value
    ('crime_modus', 'Security')

    .. versionadded:: 0.1.0
    """
    return _pilot(
        CRIME_MODUS.name, identifier=identifier, sender=sender, sent=sent, area=area, sv=sv,
        en=en, onset=onset, expires=expires, tip_channels=(), status=status, msg_type=msg_type,
        references=references, sender_name=sender_name,
    )  # fmt: skip


def tip_request(
    *,
    identifier: str,
    sender: str,
    sent: datetime,
    area: Area | Part,
    sv: Message,
    en: Message,
    onset: datetime,
    expires: datetime,
    tip_channels: Sequence[TipChannel] = POLICE_TIP_CHANNELS,
    status: Status | str = Status.ACTUAL,
    msg_type: MessageType | str = MessageType.ALERT,
    references: Iterable[Reference] = (),
    sender_name: str = "Polisen",
) -> Alert:
    """A **tip request**: the police ask the public for tips, by phone or on the web.

    Parameters are those of :func:`explosion`, plus:

    Parameters
    ----------
    tip_channels : sequence of TipChannel, default POLICE_TIP_CHANNELS
        Where tips go, at least one: the tip line 114 14 and the web form
        https://polisen.se/lagg-fram-tips by default. Each becomes a ``geotarget:tip-*``
        ``<parameter>``; the first web channel is also ``<web>``, and ``<contact>`` lists
        them all in words.

    Returns
    -------
    Alert
        A Public alert whose info blocks carry the :data:`KIND_CODE` event code
        ``tip_request``, category Security, response None, urgency Unknown, severity Minor,
        certainty Observed.

    Raises
    ------
    InvalidAlert
        Naming the channel (``tip_channels[1]``): no channel, an emergency number as a tip
        line (112, or a number a phone calls 112 for: 911, and 000, 08, 110, 118, 119 or 999
        without a SIM), or a channel listed twice (``"114 14"`` and ``"11414"`` are one, so
        are ``"+46 77 114 14 00"`` and ``"0046 77 114 14 00"``, and two URLs whose host
        differs only by case).
    InvalidType
        A channel that is not a :class:`~geotarget.alerts.TipChannel`, or one channel not in
        a list.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> from geotarget import Circle, pilot
    >>> t0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)
    >>> text = pilot.Message(headline="Vittnen sökes", description="Såg du något?",
    ...                       area_description="Rinkeby")
    >>> tips = pilot.tip_request(identifier="SE-POL-7", sender="polisen@polisen.se", sent=t0,
    ...     area=Circle(17.9283, 59.3880, 800.0), sv=text, en=text, onset=t0,
    ...     expires=t0 + timedelta(days=3))
    >>> [c.uri for c in tips.tip_channels]
    ['tel:11414', 'https://polisen.se/lagg-fram-tips']
    >>> tips.infos[1].contact
    'Send tips to the police: 114 14 or https://polisen.se/lagg-fram-tips'

    .. versionadded:: 0.1.0
    """
    if isinstance(tip_channels, TipChannel):
        raise InvalidType(
            "tip_channels must be a sequence of TipChannel: give one channel in a list, "
            f"[channel] (got one TipChannel, {tip_channels.kind.value} "
            f"{brief(tip_channels.address, 80)})"
        )
    # Read once: a generator checked here and read again in _pilot was empty there, and the
    # tip request went out without a channel.
    channels = tuple_of(tip_channels, "tip_channels", "TipChannel")
    if not channels:
        raise InvalidAlert("tip_channels must name at least one channel (got none)")
    return _pilot(
        TIP_REQUEST.name, identifier=identifier, sender=sender, sent=sent, area=area, sv=sv,
        en=en, onset=onset, expires=expires, tip_channels=channels, status=status,
        msg_type=msg_type, references=references, sender_name=sender_name,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The rollout as announced
# ---------------------------------------------------------------------------------------------


def announced_policy(
    *,
    later_phases: Mapping[str, Iterable[Phase]] | None = None,
    salt: str = DEFAULT_SALT,
) -> RolloutPolicy:
    """The pilot as announced (its first phase), plus the later phases you give.

    From :data:`PILOT_START` (2024-04-15 00:00 Europe/Stockholm, week 16 of 2024), ``explosion``
    is enabled in the whole of Sweden (``"SE"``), and ``crime_modus`` and ``tip_request`` in
    Stockholm County (``"01"``). The pilot as shipped, with its later (illustrative) phases,
    is :func:`pilot_policy`, read from the package's TOML file; this builder is for trying other
    later phases in code.

    Parameters
    ----------
    later_phases : mapping of kind name to iterable of Phase, optional
        Phases appended after the pilot's first phase, per kind (a new kind may join). Each
        lists every region enabled while it is active (so repeat ``"01"``).
        :meth:`~geotarget.rollout.RolloutPolicy.with_phase` adds one at a time to a policy.
    salt : str, default DEFAULT_SALT
        The salt of canary hashing (see :func:`geotarget.rollout.canary_buckets`).

    Returns
    -------
    RolloutPolicy
        The first phase of each pilot kind, then the later phases.

    Raises
    ------
    InvalidPolicy
        Listing every problem with its path: a key that is not a kind name
        (``later_phases['Chemical']``), a phase breaking the rollout's rules
        (``kinds.tip_request.phases[1]``).

    Examples
    --------
    >>> from datetime import datetime
    >>> from zoneinfo import ZoneInfo
    >>> from geotarget.rollout import Phase
    >>> autumn = datetime(2024, 9, 2, tzinfo=ZoneInfo("Europe/Stockholm"))
    >>> policy = announced_policy(later_phases={
    ...     "crime_modus": [Phase(starts_at=autumn, regions={"01", "12", "14"})],
    ...     "tip_request": [Phase(starts_at=autumn, regions={"01", "12", "14"})],
    ... })
    >>> print(policy.timeline("tip_request"))  # doctest: +NORMALIZE_WHITESPACE
    tip_request (times in Europe/Stockholm)
      phase 1  2024-04-15 00:00  enables 01
      phase 2  2024-09-02 00:00  adds 12, 14  -> 01, 12, 14

    .. versionadded:: 0.1.0
       Moved here from ``geotarget.rollout.pilot_policy`` (deprecated there).
    """
    first = {
        EXPLOSION.name: Phase(starts_at=PILOT_START, regions={"SE"}),
        CRIME_MODUS.name: Phase(starts_at=PILOT_START, regions={"01"}),
        TIP_REQUEST.name: Phase(starts_at=PILOT_START, regions={"01"}),
    }
    given = {} if later_phases is None else later_phases
    if not isinstance(given, Mapping):
        raise InvalidType(
            f"later_phases must be a mapping of kind name to phases (got {type(given).__name__})"
        )
    problems: list[Problem] = []
    later: dict[str, tuple[Phase, ...]] = {}
    for key, phases in given.items():
        path = f"later_phases[{brief(key)}]"
        if isinstance(phases, Phase):  # its repr, cut short, left the refusal mid-datetime
            problems.append(
                Problem(
                    path,
                    "must be a sequence of Phase: give one phase in a list, [phase] (got one "
                    f"Phase, from {phases.starts_at.isoformat()})",
                )
            )
            continue
        try:
            name, listed = kind_name(path, key), tuple_of(phases, path, "Phase")
        except (InvalidInput, InvalidType) as err:
            problems.append(Problem(path, str(err).removeprefix(f"{path} ")))
            continue
        later[name] = listed
        # Named here, by the caller's key and index: KindRollout's own refusal named
        # "phases[1]" (counting the pilot's first phase) and no kind.
        problems += [
            Problem(f"{path}[{i}]", f"must be a Phase (got {type(phase).__name__})")
            for i, phase in enumerate(listed)
            if not isinstance(phase, Phase)
        ]
    if problems:
        raise InvalidPolicy(problems)
    rollouts = []
    for kind in sorted(set(first) | set(later)):
        phases = ((first[kind],) if kind in first else ()) + later.get(kind, ())
        try:
            rollouts.append(KindRollout(kind=kind, phases=phases))
        except InvalidPolicy as err:
            problems += [
                Problem(f"kinds.{kind}.{p.path}" if p.path else f"kinds.{kind}", p.message)
                for p in err.problems
            ]
    if problems:
        raise InvalidPolicy(problems)
    return RolloutPolicy(rollouts=rollouts, salt=salt)
