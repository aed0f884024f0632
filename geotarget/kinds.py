"""Alert kinds are data: names registered by a policy, recognised by rules from what issuers send.

The core library knows no particular kind. A *kind* is a name (``"explosion"``); a
:class:`RecognitionRule` says which alerts are of that kind, by what their issuers actually
write — the ``<event>`` text (in any number of languages), the ``<category>``, ``<eventCode>``
name/value pairs and the ``<sender>``. A :class:`Recognizer` holds the rules in order; the first
rule that matches names the kind, and the result says which rule it was.

The rules (the contract):

* A rule matches an alert iff **one info block** matches every condition the rule sets:
  its ``event``, compared after Unicode case folding with runs of whitespace collapsed, the
  ends stripped, invisible characters dropped and compatibility forms (fullwidth letters)
  read as their plain letters (:func:`normalise_event`), is one of ``events``; it has a
  category among ``categories``; it has an event
  code whose ``valueName`` equals (exactly, once surrounding whitespace is stripped and
  accents written apart are composed, NFC) and whose
  ``value`` equals (as events compare) one of ``event_codes``; and the
  alert's ``sender`` is one of ``senders`` (exactly). An empty condition is not checked, but
  every rule sets ``events`` or ``event_codes`` (a category alone says too little).
* An alert no rule matches is told apart from one a rule *nearly* matches: a block meeting
  a rule's event or event code but not its other conditions. :meth:`Recognizer.looked_at`
  names such rules and the conditions the alert does not meet (a category, a sender written
  in another form), so an operator sees which rule, which field and which value.
* The built-in rule :data:`KIND_CODE_RULE` ranks first: an info block carrying the event code
  :data:`~geotarget.alerts.KIND_CODE` (``geotarget:kind``) names its kind directly, so what
  geotarget writes is read back as the same kind (round trips stay lossless). Its
  ``valueName`` is compared as the rules compare one: exactly, once surrounding whitespace is
  stripped (a pretty-printed ``<valueName>`` still names the kind).
* Then the rules in the order given; the first match wins.
* An alert no rule matches is *unrecognised*: :meth:`Recognizer.looked_at` says what was looked
  at, and :class:`~geotarget.targeting.Targeter` answers ``Verdict.UNRECOGNISED_KIND``.

A kind is *registered* when a :class:`~geotarget.targeting.Targeter` knows how to target it
(it has location rules): the rollout policy names kinds by name (``[kinds.<name>]``), and
every kind of the policy, of a rule and of an issuer must be registered; an alert whose
``geotarget:kind`` names any other kind reaches nobody (``UNRECOGNISED_KIND``, naming it).

The Swedish pilot's kinds and rules live in :mod:`geotarget.pilot`. Rules also come from the
policy file, in ``[[recognition]]`` tables beside the rollout (see the rollout page of the
documentation), read by :meth:`Recognizer.from_toml`; so do the location rules that register a
kind, in ``[location_rules.<kind>]`` tables read by :func:`location_rules_from_toml` and passed
to the Targeter as ``location_rules=``.

Examples
--------
>>> from datetime import datetime, timezone
>>> from geotarget.alerts import Alert, Info
>>> from geotarget.kinds import RecognitionRule, Recognizer
>>> rules = Recognizer([RecognitionRule(name="fire", kind="wildfire",
...                                     events=["Wildfire", "Skogsbrand"])])
>>> info = Info(language="sv-SE", categories=["Fire"], event="  SKOGSBRAND ",
...             urgency="Immediate", severity="Severe", certainty="Observed")
>>> alert = Alert(identifier="F-1", sender="rtj@example.se", status="Actual",
...               msg_type="Alert", scope="Public", infos=[info],
...               sent=datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc))
>>> rules.recognise(alert)
Recognition(kind='wildfire', rule='fire')

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from geotarget._kind_rules import KindRules, rules_to_table
from geotarget._validate import blank_shown, iterable, shows_nothing
from geotarget.alerts import Alert, Info
from geotarget.alerts._values import (
    KIND_CODE,
    KIND_NAME,
    KIND_NAME_RULE,
    XML_SPACE,
    Category,
    NamedValue,
    check_cap_id,
    check_text,
    cut_words,
    is_kind_code,
    kind_name,
)
from geotarget.errors import GeotargetError, InvalidInput, InvalidPolicy, InvalidType, Problem
from geotarget.rollout._io import brief

#: What recognition rules' and location rules' :class:`~geotarget.errors.InvalidPolicy` name.
_RECOGNITION_WHAT = "recognition section"
_LOCATION_RULES_WHAT = "location_rules section"

__all__ = [
    "KIND_CODE_RULE",
    "Kind",
    "Recognition",
    "RecognitionRule",
    "Recognizer",
    "location_rules_from_dict",
    "location_rules_from_json",
    "location_rules_from_toml",
    "location_rules_to_dict",
    "location_rules_to_toml",
    "normalise_event",
]


def __dir__() -> list[str]:
    return __all__


#: The name of the built-in rule that reads the ``geotarget:kind`` event code; it ranks first.
KIND_CODE_RULE = "geotarget:kind"

_RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}")
_RULE_NAME_RULE = (
    "1 to 64 ASCII letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
)
#: One character a rule or an issuer name may hold.
_NAME_CHAR = re.compile(r"[A-Za-z0-9_.:\-]")


def name_hint(value: object, char: re.Pattern[str] = _NAME_CHAR) -> str:
    """Why a text is no name of the rule ``char`` states per character, for a refusal.

    The first character not allowed, by index and code point (a Norwegian ``ø``, a Swedish
    ``ä``, a space), or the length past 64; empty when neither (a bad first character).
    """
    if not isinstance(value, str):
        return ""
    for i, c in enumerate(value):
        if not char.fullmatch(c):
            return f": {c!r} (U+{ord(c):04X}) at index {i} is not allowed"
    if len(value) > 64:
        return f": it has {len(value)} characters"
    return ""


_SPACE = re.compile(r"\s+")
#: Invisible characters that say nothing about an event: the soft hyphen, the zero-width space,
#: the word joiner and the zero-width no-break space (a byte order mark a feed left inside a
#: field); and the marks and controls of writing direction (U+061C, U+200E, U+200F, U+202A to
#: U+202E, U+2066 to U+2069), which editors put around and inside text that mixes Arabic,
#: Persian or Hebrew with Latin letters or digits: they change how a text is shown, never what
#: it says. Joiners that change how a script is written (U+200C, U+200D) are kept.
_INVISIBLE = re.compile("[\u00ad\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def normalise_event(text: str) -> str:
    r"""The form in which event texts are compared: case-folded, NFKC, whitespace collapsed.

    Case folding may decompose a letter (Greek ``"ΐ"`` folds to three code points), so the text
    is decomposed before folding and composed after: two texts that are the same but for case,
    composition and compatibility forms compare equal (Unicode's compatibility caseless
    match), whichever is upper case. Compatibility forms are the letters, digits and spaces
    East Asian input methods and some feeds write in place of the plain ones: fullwidth
    ``"ＦＬＯＯＤ"`` is ``"flood"``, halfwidth katakana is katakana, a ligature ``"ﬁ"`` is
    ``"fi"``, a no-break or ideographic space is a space. Invisible characters that carry
    nothing (a soft hyphen, a zero-width space, a word joiner, a byte order mark, a mark or
    control of writing direction such as U+200F RIGHT-TO-LEFT MARK) are dropped.

    Examples
    --------
    >>> normalise_event("  Risk för\tEXPLOSION ")
    'risk för explosion'
    >>> normalise_event("\ufeffExplo\u00adsion")
    'explosion'
    >>> normalise_event("ＦＬＯＯＤ\u3000warning")
    'flood warning'

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.1.0
       Invisible characters are dropped; so are marks of writing direction. Compatibility
       forms (fullwidth letters) compare as their plain letters.
    """
    if not isinstance(text, str):
        raise InvalidType(f"event must be a str (got {type(text).__name__} {brief(text)})")
    visible = _INVISIBLE.sub("", text)
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKD", visible).casefold())
    return _SPACE.sub(" ", folded).strip()


def check_kind_name(field: str, value: object) -> str:
    """A valid kind name, or :class:`~geotarget.errors.InvalidInput` naming ``field``.

    The value is quoted at most about sixty characters long, however long it is.
    """
    if isinstance(value, str) and not KIND_NAME.fullmatch(value):
        raise InvalidInput(f"{field} must be a kind name: {KIND_NAME_RULE} (got {brief(value)})")
    return kind_name(field, value)


def _kind(value: object) -> str:
    """``value`` as a plain ``str`` kind name (a converter), or InvalidInput naming ``kind``.

    The deprecated ``AlertKind`` member is accepted as its name, and kept as the name: kept as
    the member, its kind read ``_AlertKind.EXPLOSION`` wherever it is written into a message
    (a reason, an explanation), since a ``str`` enum formats as its member's name.
    """
    return check_kind_name("kind", value)


def _name(value: object) -> str:
    """:func:`_kind` for a field called ``name``."""
    return check_kind_name("name", value)


@attrs.frozen
class Kind:
    """An alert kind: a name the policy uses, and a label for people.

    Parameters
    ----------
    name : str
        1 to 64 lower-case ASCII letters, digits or ``_``, starting with a letter (``"explosion"``).
    label : str
        How people call it (``"Explosion"``); not blank: it must show some text (not only
        spaces or invisible characters such as a zero-width space or a Hangul filler).

    Examples
    --------
    >>> Kind("crime_modus", "Crime-modus information").name
    'crime_modus'

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field(converter=_name)
    label: str = attrs.field()

    @label.validator
    def _check_label(self, _: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str):
            raise InvalidInput(f"label must be a non-blank str (got {brief(value)})")
        if shows_nothing(value):  # spaces, a zero-width space, a Hangul filler...
            raise InvalidInput(
                f"label must be a non-blank str: it must show some text (got {blank_shown(value)})"
            )

    def __str__(self) -> str:
        return self.name


def _kind_of(value: object) -> str:
    """What ``value`` is, for a message: a mapping is a table (TOML) or an object (JSON)."""
    return "a table" if isinstance(value, Mapping) else type(value).__name__


def _strings(field: str, value: object) -> tuple[str, ...]:
    # A mapping (a TOML table, a JSON object) is refused, not walked by its keys: read so,
    # events = { "Explosion" = true, "Tips" = false } would recognise tips as explosions.
    if isinstance(value, (str, bytes, Mapping)) or not iterable(value):
        raise InvalidType(f"{field} must be a list of str (got {_kind_of(value)} {brief(value)})")
    items = tuple(value)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidType(
                f"{field}[{i}] must be a str (got {type(item).__name__} {brief(item)})"
            )
    return items


def _events(value: object) -> tuple[str, ...]:
    items = _strings("events", value)
    for i, item in enumerate(items):
        try:
            check_text(f"events[{i}]", item)
        except GeotargetError as err:
            raise InvalidInput(
                f"{err}: no document could carry it, so it would never match"
            ) from None
        lookalike = mixed_words(f"events[{i}]", item)
        if lookalike is not None:
            raise InvalidInput(lookalike)
    out = tuple(normalise_event(e) for e in items)
    for i, event in enumerate(out):
        # Spaces and invisible characters alone (a Hangul filler, a variation selector, a
        # blank braille cell too): no issuer's event is that, and none shows what happened.
        if shows_nothing(event):
            raise InvalidInput(
                f"events[{i}] must not be blank: it must show some text (got "
                f"{blank_shown(items[i])}), as the event issuers send does"
            )
    return tuple(dict.fromkeys(out))


def _categories(value: object) -> frozenset[Category]:
    if isinstance(value, (str, bytes, Mapping)) or not iterable(value):
        raise InvalidType(
            f"categories must be a list of categories (got {_kind_of(value)} {brief(value)})"
        )
    out = set()
    for i, item in enumerate(value):
        try:
            out.add(Category(item))
        except ValueError:
            valid = ", ".join(sorted(c.value for c in Category))
            raise InvalidInput(
                f"categories[{i}] must be a CAP category, one of {valid} (got {brief(item)})"
            ) from None
    return frozenset(out)


def _codes(value: object) -> tuple[NamedValue, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not iterable(value):
        raise InvalidType(
            f"event_codes must be a list of NamedValue (got {_kind_of(value)} {brief(value)})"
        )
    items = tuple(value)
    for i, item in enumerate(items):
        if not isinstance(item, NamedValue):
            raise InvalidType(
                f"event_codes[{i}] must be a NamedValue (got {type(item).__name__} {brief(item)})"
            )
    out = [_code(c) for c in items]
    for i, code in enumerate(out):
        for part in ("value_name", "value"):
            if shows_nothing(getattr(code, part)):  # a no-break space, a Hangul filler...
                raise InvalidInput(
                    f"event_codes[{i}] must have a non-blank value_name and value: its {part} "
                    f"must show some text (got {blank_shown(getattr(items[i], part))}): a "
                    "blank code says nothing"
                )
        for part in ("value_name", "value"):
            lookalike = mixed_words(f"event_codes[{i}].{part}", getattr(items[i], part))
            if lookalike is not None:
                raise InvalidInput(lookalike)
        if is_kind_code(code.value_name):
            raise InvalidInput(
                f"event_codes[{i}] must not name {KIND_CODE!r} (got {brief(items[i].value_name)}"
                f", {brief(items[i].value)}): the built-in rule {KIND_CODE_RULE!r} reads that "
                "code first, so a block carrying it is of the kind its value names whatever "
                "this rule says, and the condition could never decide a kind (a rule cannot "
                "rename a kind: register the kind the code names, or match another code)"
            )
    return tuple(dict.fromkeys(out))


#: XML whitespace, what surrounds a ``valueName`` in a pretty-printed document.
_XML_SPACE = XML_SPACE


def _code(code: NamedValue) -> NamedValue:
    """An event code as rules compare it.

    The valueName without surrounding XML whitespace and composed (NFC: an ``ä`` written as
    ``a`` and a combining diaeresis is the same text), the value by :func:`normalise_event`.
    """
    name = unicodedata.normalize("NFC", code.value_name.strip(_XML_SPACE))
    return NamedValue(name, normalise_event(code.value))


def _folded(value_name: str) -> str:
    """A valueName without case and compatibility forms: a near miss's key, never an identity."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKD", value_name).casefold())


_KIND_CODE_FOLDED = _folded(KIND_CODE)


#: The scripts whose letters pass for each other's (Latin ``a``, Cyrillic ``а``, Greek ``α``).
_LOOKALIKE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")
#: What splits a sender into the parts a script is judged in: its domain's labels, its local
#: part, a URL's path segments.
_SENDER_PARTS = re.compile(r"[@./:]")
#: What splits an event text or an event code into words: anything but a letter.
_NOT_LETTERS = re.compile(r"[\W\d_]+")


def _mixed(parts: Iterable[str]) -> tuple[str, dict[str, str]] | None:
    """The first part with letters of two of :data:`_LOOKALIKE_SCRIPTS`, and one of each."""
    for part in parts:
        found: dict[str, str] = {}
        for c in part:
            if c.isalpha():
                script = unicodedata.name(c, "").split(" ", 1)[0]
                if script in _LOOKALIKE_SCRIPTS:
                    found.setdefault(script, c)
        if len(found) > 1:
            return part, found
    return None


def _mixing(field: str, value: str, where: str, part: str, found: dict[str, str]) -> str:
    letters = ", ".join(
        f"{script.title()} {c!r} (U+{ord(c):04X} {unicodedata.name(c)})"
        for script, c in sorted(found.items())
    )
    scripts = " and ".join(k.title() for k in sorted(found))
    return (
        f"{field} {brief(value)} mixes the letters of {scripts} scripts in one {where} "
        f"{brief(part)} ({letters}): a lookalike, written with letters of another script"
    )


def lookalike_sender(sender: str, field: str = "the sender") -> str | None:
    """What makes ``sender`` a lookalike address, or None (see :func:`mixed_script`).

    Also for the reason of an alert refused as from no issuer: a hostile or broken upstream
    may write a listed sender with letters of another script, which no exact comparison
    matches.
    """
    hit = _mixed(_SENDER_PARTS.split(unicodedata.normalize("NFKC", sender)))
    return None if hit is None else _mixing(field, sender, "part", *hit)


def mixed_script(field: str, sender: str) -> str | None:
    """Why ``sender`` is a lookalike of an address, or None: letters of two scripts in one part.

    A part (a domain label, the local part, a path segment) with Latin letters and Cyrillic or
    Greek ones (``polisen@polisen.se`` with a Cyrillic U+0456 for its second ``i``) is an
    address written with homoglyphs: no domain registry issues such a label, and senders
    compare exactly, so the real sender would be refused while the lookalike is trusted. Other
    mixes (Latin with Han, Hiragana or Katakana, as Japanese addresses are written) are left
    alone.
    """
    lookalike = lookalike_sender(sender, field)
    if lookalike is None:
        return None
    return (
        f"{lookalike}, which no domain registry issues; senders "
        "compare exactly, so the real sender would be refused and the lookalike trusted: "
        "write the address in one script"
    )


def mixed_words(field: str, text: str) -> str | None:
    """Why an event text or event code is a lookalike, or None: two scripts in one word.

    A word (a run of letters) with Latin letters and Cyrillic or Greek ones (``Explosion`` with
    a Cyrillic U+043E for its last ``o``) is a lookalike of the word an issuer sends: the rule
    would never match it, and the alert it meant would go unrecognised.
    """
    hit = _mixed(_NOT_LETTERS.split(text))
    if hit is None:
        return None
    return (
        f"{_mixing(field, text, 'word', *hit)}; issuers do not write words so, and the rule "
        "would never match the alerts it means: write each word in one script"
    )


#: The URI schemes a sender may be written with or without (``mailto:x@y.se``, ``x@y.se``).
_SENDER_SCHEME = re.compile(r"(?:mailto:|https?://)", re.IGNORECASE)


#: A domain label in its ASCII form (IDNA's ``xn--``), as mail systems write ``nøds.no``.
_ACE_LABEL = re.compile(r"(?<![a-z0-9-])xn--[a-z0-9-]+")


def _label(match: re.Match[str]) -> str:
    """An ``xn--`` label in Unicode (``xn--nds-0na`` is ``nøds``); as it is when it is none."""
    try:
        return unicodedata.normalize("NFKC", match.group().encode("ascii").decode("idna"))
    except UnicodeError:
        return match.group()


def sender_key(sender: str) -> str:
    """A sender's address with its form taken away: a lookalike's key, never an identity.

    Case folded, NFKC (fullwidth letters, accents composed or apart made one), invisible
    format characters dropped, a leading ``mailto:``, ``http://`` or ``https://`` and trailing
    dots and slashes cut, a domain label written in its ASCII form read in Unicode:
    ``mailto:Polisen@Polisen.se`` and ``polisen@polisen.se`` share one, and so do
    ``varsel@xn--nds-0na.no`` and ``varsel@nøds.no``. Senders still compare exactly; the key
    finds the one an operator or a producer meant.
    """
    text = unicodedata.normalize("NFKC", sender)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf").casefold()
    match = _SENDER_SCHEME.match(text)
    if match is not None:
        text = text[match.end() :]
    local, at, domain = text.rpartition("@")  # (a local part is no domain label)
    return (local + at + _ACE_LABEL.sub(_label, domain)).rstrip("./")


def _senders(value: object) -> frozenset[str]:
    items = _strings("senders", value)
    for i, s in enumerate(items):
        try:
            check_cap_id(f"senders[{i}]", s)
        except GeotargetError as err:
            raise InvalidInput(
                f"senders[{i}] must be a CAP sender, as a document's <sender> can be written: "
                f"{str(err).removeprefix(f'senders[{i}] ')}; no document could carry it, so "
                "the rule would never match"
            ) from None
        lookalike = mixed_script(f"senders[{i}]", s)
        if lookalike is not None:
            raise InvalidInput(lookalike)
        if "*" in s:
            raise InvalidInput(
                f"senders[{i}] must not contain '*' (got {brief(s)}): senders compare exactly, "
                "with no wildcards; leave senders empty for a rule that applies to every sender"
            )
    return frozenset(items)


@attrs.frozen(kw_only=True)
class RecognitionRule:
    """One rule mapping what an issuer sends to a kind.

    Parameters
    ----------
    name : str
        Names the rule in results (``TargetingResult.recognised_by``) and errors: 1 to 64
        ASCII letters, digits, ``_ . : -``.
    kind : str
        The kind it recognises (a kind name; the deprecated ``AlertKind`` member is kept as
        its name, a plain ``str``).
    events : sequence of str, default ()
        ``<event>`` texts, in any language; compared by :func:`normalise_event`. A word mixing
        Latin, Cyrillic or Greek letters (a lookalike, ``Explosi\u043en`` with a Cyrillic
        ``\u043e``) is refused, here and in ``event_codes``: the rule would never match.
    categories : sequence of Category or str, default ()
        The block must have one of these ``<category>`` values.
    event_codes : sequence of NamedValue, default ()
        The block must carry one of these ``<eventCode>`` pairs (``valueName`` exact once
        surrounding whitespace is stripped and composed (NFC), ``value`` as
        :func:`normalise_event`); neither may be blank, and the ``valueName`` may not be
        ``geotarget:kind``, which the built-in rule reads first (such a condition would
        never decide a kind).
    senders : sequence of str, default ()
        The alert's ``<sender>`` must be one of these (exact); each must be a possible CAP
        sender (not empty, no whitespace, ``,``, ``<`` or ``&``). There are no wildcards: a
        sender holding ``*`` is refused (leave ``senders`` empty to accept every sender), and
        so is one mixing Latin, Cyrillic or Greek letters in one part of the address (a
        lookalike).

    Raises
    ------
    InvalidInput
        For a bad name or kind, an unknown category, a blank event, a blank event code or
        one named ``geotarget:kind``, a sender no CAP document can carry, holding a wildcard
        ``*`` or written with lookalike letters, or a rule that sets neither ``events`` nor
        ``event_codes``.

    Examples
    --------
    >>> from geotarget.alerts import NamedValue
    >>> rule = RecognitionRule(name="sos:expl", kind="explosion",
    ...                        event_codes=[NamedValue("SOS", "EXPL")])
    >>> rule.event_codes
    (NamedValue(value_name='SOS', value='expl'),)

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field()
    kind: str = attrs.field(converter=_kind)
    events: tuple[str, ...] = attrs.field(default=(), converter=_events)
    categories: frozenset[Category] = attrs.field(default=(), converter=_categories)
    event_codes: tuple[NamedValue, ...] = attrs.field(default=(), converter=_codes)
    senders: frozenset[str] = attrs.field(default=(), converter=_senders)

    @name.validator
    def _check_name(self, _: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str) or not _RULE_NAME.fullmatch(value):
            raise InvalidInput(
                f"name must be a rule name: {_RULE_NAME_RULE} (got {brief(value)}"
                f"{name_hint(value)})"
            )
        if value == KIND_CODE_RULE:
            raise InvalidInput(f"name {brief(value)} is the built-in rule's; choose another")

    def __attrs_post_init__(self) -> None:
        if not self.events and not self.event_codes:
            raise InvalidInput(
                f"rule {self.name!r} must set events or event_codes: a category or sender "
                "alone does not say what happened"
            )

    def matches(self, alert: Alert) -> bool:
        """Whether one info block of ``alert`` meets every condition of this rule."""
        if self.senders and alert.sender not in self.senders:
            return False
        return any(self._block(info) for info in alert.infos)

    def _block(self, info: Info) -> bool:
        if self.events and normalise_event(info.event) not in self.events:
            return False
        if self.categories and not self.categories.intersection(info.categories):
            return False
        if self.event_codes:
            codes = {_code(c) for c in info.event_codes}
            if codes.isdisjoint(self.event_codes):
                return False
        return True


@attrs.frozen
class Recognition:
    """Which kind an alert is, and which rule said so.

    .. versionadded:: 0.1.0
    """

    kind: str
    rule: str


#: The most events and event codes a reason lists: a document of thousands of info blocks
#: would otherwise put megabytes into one reason, and the reason into a log line.
_MOST_LISTED = 10


def _listing(items: list[str]) -> str:
    """``items`` joined for a reason, the first :data:`_MOST_LISTED` and a count of the rest."""
    more = len(items) - _MOST_LISTED
    return ", ".join(items[:_MOST_LISTED]) + (f" and {more:,} more" if more > 0 else "") or "none"


def _cut(text: str, limit: int = 60) -> str:
    """``text`` at most about ``limit`` characters, for a reason."""
    return (
        text if len(text) <= limit else f"{cut_words(text, limit - 3)} ({len(text):,} characters)"
    )


#: The most rules the hint of an unrecognised alert names as nearly met.
_MOST_NEAR = 3


def _unmet(
    rule: RecognitionRule,
    event: str,
    categories: Iterable[Category],
    codes: set[NamedValue],
    sender: str,
) -> list[str]:
    """The conditions of ``rule`` a block does not meet (event and codes as rules compare them).

    Field names, in the order :func:`_needs` says them: ``senders``, ``events``,
    ``categories``, ``event_codes``. Empty: the block (with the alert's sender) meets the rule.
    """
    unmet = []
    if rule.senders and sender not in rule.senders:
        unmet.append("senders")
    if rule.events and event not in rule.events:
        unmet.append("events")
    if rule.categories and rule.categories.isdisjoint(categories):
        unmet.append("categories")
    if rule.event_codes and codes.isdisjoint(rule.event_codes):
        unmet.append("event_codes")
    return unmet


def _either(values: list[str], most: int = 3) -> str:
    """``values`` as alternatives for a reason: the first ``most``, and a count of the rest."""
    more = len(values) - most
    return " or ".join(values[:most]) + (f" or {more:,} more" if more > 0 else "")


def _needs(rule: RecognitionRule, field: str, b: int, info: Info, sender: str) -> str:
    """What ``rule`` needs of ``field`` that block ``b`` (or the alert's sender) lacks."""
    if field == "senders":
        wanted = sorted(rule.senders)
        same = [s for s in wanted if sender_key(s) == sender_key(sender)]
        form = (
            f", which is {brief(same[0])} written in another form: senders compare exactly"
            if same
            else ""
        )
        return (
            f"sender {_either([brief(s) for s in wanted])} (the alert's is {brief(sender)}{form})"
        )
    if field == "events":
        # (the rule's events as compared: folded; the block's as sent)
        return (
            f"event {_either([brief(e) for e in rule.events])} (info[{b}]'s is {brief(info.event)})"
        )
    if field == "categories":
        has = ", ".join(sorted(c.value for c in info.categories)) or "none"
        return f"category {_either(sorted(c.value for c in rule.categories))} (info[{b}] has {has})"
    has = _listing([_cut(f"{c.value_name}={c.value}") for c in info.event_codes])
    wanted = [_cut(f"{c.value_name}={c.value}") for c in rule.event_codes]
    return f"eventCode {_either(wanted)} (info[{b}] has {has})"


def _check_alert(alert: object) -> None:
    if not isinstance(alert, Alert):
        raise InvalidType(f"alert must be an Alert (got {type(alert).__name__})")


class Recognizer:
    """Rules in order, the built-in :data:`KIND_CODE_RULE` first; the first match wins.

    A rule that an earlier one shadows (it matches every alert the later one does) is kept:
    composing rule sets (``Recognizer(mine) + pilot.RECOGNITION``) ranks defaults after rules
    written to take some of their alerts. A policy file's ``[[recognition]]`` section, one
    author's list, refuses a rule of its own that never applies where the earlier rule names
    another kind (:meth:`from_dict`).

    Parameters
    ----------
    rules : iterable of RecognitionRule
        In order of precedence. Rule names must be unique.

    Raises
    ------
    InvalidPolicy
        Listing every problem (``recognition[2]``: a duplicate rule name, not a rule).

    Examples
    --------
    See the module docstring.

    .. versionadded:: 0.1.0
    """

    def __init__(self, rules: Iterable[RecognitionRule] = ()) -> None:
        raw: object = rules
        if isinstance(raw, (str, bytes)) or not iterable(raw):
            raise InvalidType(f"rules must be an iterable of RecognitionRule (got {brief(raw)})")
        items: tuple[object, ...] = tuple(raw)
        problems = []
        seen: dict[str, int] = {}
        for i, rule in enumerate(items):
            if not isinstance(rule, RecognitionRule):
                problems.append(
                    Problem(f"recognition[{i}]", f"must be a RecognitionRule (got {brief(rule)})")
                )
                continue
            if rule.name in seen:
                problems.append(
                    Problem(
                        f"recognition[{i}].name",
                        f"{rule.name!r} is the name of recognition[{seen[rule.name]}] too; "
                        "rule names are unique",
                    )
                )
            seen.setdefault(rule.name, i)
        if problems:
            raise InvalidPolicy(problems, what=_RECOGNITION_WHAT)
        self._rules: tuple[RecognitionRule, ...] = items  # type: ignore[assignment]
        # The rules by each event and event code they name. Every rule sets events or event
        # codes, so every rule a block meets is listed under the block's event or one of its
        # codes: a block is matched against those few, not against every rule (a document of
        # thousands of blocks and a policy of hundreds of rules cost seconds that way).
        self._by_event: dict[str, list[int]] = {}
        self._by_code: dict[NamedValue, list[int]] = {}
        for i, rule in enumerate(self._rules):
            for event in rule.events:
                self._by_event.setdefault(event, []).append(i)
            for code in rule.event_codes:
                self._by_code.setdefault(code, []).append(i)
        # The rules' codes by their valueName case-folded: a block's code that differs from
        # one only by its valueName's case is named in :meth:`looked_at`, not left to guess.
        self._by_folded: dict[tuple[str, str], str] = {}
        for code in self._by_code:
            self._by_folded.setdefault((_folded(code.value_name), code.value), code.value_name)

    @property
    def rules(self) -> tuple[RecognitionRule, ...]:
        """The rules in order (without the built-in one)."""
        return self._rules

    @property
    def kinds(self) -> frozenset[str]:
        """The kind names the rules recognise."""
        return frozenset(r.kind for r in self._rules)

    def __add__(self, other: Recognizer) -> Recognizer:
        """Join: this recognizer's rules, then ``other``'s (e.g. a file's rules, then defaults).

        A rule of ``other`` with the name of one of this recognizer's is left out: the first
        replaces it (a file's rule named ``"pilot:explosion"`` replaces the pilot's), so adding
        the same defaults twice changes nothing.
        """
        if not isinstance(other, Recognizer):
            return NotImplemented
        names = {r.name for r in self._rules}
        return Recognizer([*self._rules, *(r for r in other._rules if r.name not in names)])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recognizer) and self._rules == other._rules

    def __hash__(self) -> int:
        return hash(self._rules)

    def __repr__(self) -> str:
        return f"Recognizer({[r.name for r in self._rules]!r})"

    def recognise(self, alert: Alert) -> Recognition | None:
        """The kind of ``alert`` and the rule that recognised it; None if no rule matches."""
        _check_alert(alert)
        for info in alert.infos:
            if info.kind is not None:  # its geotarget:kind eventCode (is_kind_code)
                return Recognition(info.kind, KIND_CODE_RULE)
        # The first rule, in order, that some block meets: the least of the blocks' first.
        firsts = [self._first(info, alert.sender) for info in alert.infos]
        best = min((i for i in firsts if i is not None), default=None)
        if best is None:
            return None
        return Recognition(self._rules[best].kind, self._rules[best].name)

    def _candidates(self, info: Info) -> tuple[str, set[NamedValue], list[int]]:
        """A block's event and codes as rules compare them, and the rules naming one, in order.

        Every rule sets events or event codes, so every rule a block meets is among these.
        """
        event = normalise_event(info.event)
        codes = {_code(c) for c in info.event_codes}
        candidates = set(self._by_event.get(event, ()))
        for code in codes:
            candidates.update(self._by_code.get(code, ()))
        return event, codes, sorted(candidates)

    def _first(self, info: Info, sender: str) -> int | None:
        """The index of the first rule this block (with the alert's sender) meets, or None."""
        event, codes, candidates = self._candidates(info)
        for i in candidates:  # (the conditions of _unmet, inline: the hot path)
            rule = self._rules[i]
            if (
                (not rule.senders or sender in rule.senders)
                and (not rule.events or event in rule.events)
                and (not rule.categories or not rule.categories.isdisjoint(info.categories))
                and (not rule.event_codes or not codes.isdisjoint(rule.event_codes))
            ):
                return i
        return None

    def block_kinds(self, alert: Alert) -> list[str | None]:
        """The kind each info block of ``alert`` names on its own (None: none), in order.

        A block's ``geotarget:kind`` eventCode, else the first rule whose conditions the block
        meets (and the alert's sender, where the rule names senders). :meth:`recognise` looks
        at the alert as a whole; the Targeter compares the blocks, since CAP applies each
        block to its own areas.
        """
        _check_alert(alert)
        out: list[str | None] = []
        for info in alert.infos:
            kind = info.kind  # its geotarget:kind eventCode, if any
            if kind is None:
                first = self._first(info, alert.sender)
                kind = None if first is None else self._rules[first].kind
            out.append(kind)
        return out

    def looked_at(self, alert: Alert) -> str:
        """What recognition looked at, for the reason of an unrecognised alert.

        Examples
        --------
        >>> from datetime import datetime, timezone
        >>> from geotarget.alerts import Alert, Info
        >>> info = Info(categories=["Met"], event="Storm", urgency="Expected",
        ...             severity="Moderate", certainty="Likely")
        >>> a = Alert(identifier="M-1", sender="smhi@example.se", status="Actual",
        ...           msg_type="Alert", scope="Public", infos=[info],
        ...           sent=datetime(2026, 1, 1, tzinfo=timezone.utc))
        >>> Recognizer().looked_at(a)
        "event 'Storm' (en-US), categories Met, eventCodes none, sender 'smhi@example.se'; 0 rules"
        """
        _check_alert(alert)
        events = _listing([f"{brief(i.event)} ({_cut(i.language)})" for i in alert.infos])
        cats = sorted({c.value for i in alert.infos for c in i.categories})
        codes = [_cut(f"{c.value_name}={c.value}") for i in alert.infos for c in i.event_codes]
        n = len(self._rules)
        return (
            f"event {events}, categories {', '.join(cats) or 'none'}, eventCodes "
            f"{_listing(list(dict.fromkeys(codes)))}, sender {alert.sender!r}; "
            f"{n} rule{'' if n == 1 else 's'}{self._case_hint(alert)}{self._near_hint(alert)}"
        )

    def _near_hint(self, alert: Alert) -> str:
        """A hint naming the rules a block meets by event or event code but not otherwise.

        For each such rule, the first :data:`_MOST_NEAR` found (blocks in order, each block's
        rules in order): the block and what of it the rule takes, and each condition it does
        not meet, with the values the rule asks for and those the alert has — a sender in
        another form of one the rule names is said to be so. The work is at most that of
        :meth:`recognise`, and stops once one more rule than it names is found.
        """
        near: dict[int, str] = {}
        for b, info in enumerate(alert.infos):
            event, codes, candidates = self._candidates(info)
            for i in candidates:
                if i in near:
                    continue
                rule = self._rules[i]
                unmet = _unmet(rule, event, info.categories, codes, alert.sender)
                if not unmet:  # (a block that meets it: a mixed alert)
                    continue
                if event in rule.events:
                    took = f"event {brief(info.event)}"
                else:
                    code = next(c for c in info.event_codes if _code(c) in rule.event_codes)
                    took = f"eventCode {_cut(f'{code.value_name}={code.value}')}"
                needs = " and ".join(_needs(rule, field, b, info, alert.sender) for field in unmet)
                near[i] = f"rule {rule.name!r} (kind {rule.kind}) takes info[{b}]'s {took}"
                near[i] += f" but needs {needs}"
                if len(near) > _MOST_NEAR:
                    break
            if len(near) > _MOST_NEAR:
                break
        if not near:
            return ""
        more = "; and more such rules" if len(near) > _MOST_NEAR else ""
        return f"; nearly: {'; '.join(list(near.values())[:_MOST_NEAR])}{more}"

    def _case_hint(self, alert: Alert) -> str:
        """A hint naming the rules' valueNames that the alert's differ from only by case or width.

        Width: fullwidth letters (``ＳＡＭＥ``) for plain ones, as :func:`_folded` reads them.
        The built-in rule's ``geotarget:kind`` counts as a rule's (``GEOTARGET:KIND``, whatever
        the value, names no kind).
        """
        near: dict[str, str] = {}
        for info in alert.infos:
            for raw in info.event_codes:
                code = _code(raw)
                if code in self._by_code or is_kind_code(raw.value_name):
                    continue
                folded = _folded(code.value_name)
                name = KIND_CODE if folded == _KIND_CODE_FOLDED else None
                name = name or self._by_folded.get((folded, code.value))
                if name is not None:
                    near.setdefault(code.value_name, name)
        if not near:
            return ""
        listed = _listing(
            [f"{brief(got)} where a rule names {brief(name)}" for got, name in near.items()]
        )
        return (
            f" (an eventCode valueName differs from a rule's only by case or width: {listed}; "
            "valueNames compare exactly, case and fullwidth letters included)"
        )

    # -- the policy file -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recognizer:
        """Read the ``recognition`` array of a policy document (already parsed).

        Each entry is a table with ``name``, ``kind`` and any of ``events``, ``categories``,
        ``event_codes`` (tables with ``value_name`` and ``value``) and ``senders``. A document
        without ``recognition`` gives an empty recognizer (only the built-in rule). Every
        problem is listed, each with its path (``recognition[1].categories``).
        """
        from geotarget import _policy_sections

        return _policy_sections.recognizer(data)

    @classmethod
    def from_toml(cls, source: str | bytes | os.PathLike[str]) -> Recognizer:
        """Read the ``[[recognition]]`` tables of a TOML policy (text or a path)."""
        from geotarget import _policy_sections

        return _policy_sections.recognizer(_policy_sections.load(source, "TOML", _RECOGNITION_WHAT))

    @classmethod
    def from_json(cls, source: str | bytes | os.PathLike[str]) -> Recognizer:
        """Read the ``recognition`` array of a JSON policy (text or a path)."""
        from geotarget import _policy_sections

        return _policy_sections.recognizer(_policy_sections.load(source, "JSON", _RECOGNITION_WHAT))


# -- location rules: the policy file's [location_rules.<kind>] tables --------------------------


def location_rules_from_dict(data: Mapping[str, Any]) -> dict[str, KindRules]:
    """Read the ``location_rules`` table of a policy document (already parsed).

    Each ``location_rules.<kind>`` table registers ``<kind>`` with its
    :class:`~geotarget.targeting.KindRules`:

    ======================  ======================================================================
    key                     meaning
    ======================  ======================================================================
    ``include_ambiguous``   required; ``true`` fails open (a device whose accuracy disk crosses the
                            boundary is told), ``false`` fails closed
    ``location``            ``{ max_age_s = 3600, accuracy = 1.0 }``: fresh fixes are at most
                            ``max_age_s`` seconds old (required in the table; ``"any"`` accepts
                            every age); ``accuracy`` scales the reported accuracy (0 to 10,
                            default 1). Default: one hour, accuracy 1
    ``stale``               ``{ max_age_s = 86400, margin_m = 1000 }``: older fixes up to
                            ``max_age_s`` still count within ``margin_m`` of the area. Default:
                            none
    ``include_no_fix``      tell devices without any fix (default ``false``)
    ``beyond_border``       tell devices in the area beyond the country's regions (default
                            ``false``)
    ``max_recipients``      block an alert reaching more devices, unless confirmed (a whole
                            number: ``600000.0``, as JSON may write it, is 600,000)
    ``max_area_km2``        block an alert with a larger area, unless confirmed
    ======================  ======================================================================

    Parameters
    ----------
    data : mapping
        The whole policy document; without ``location_rules`` the result is empty.

    Returns
    -------
    dict of str to KindRules
        The rules per kind name, in file order.

    Raises
    ------
    InvalidPolicy
        Listing every problem with its path (``location_rules.chemical_release.stale.margin_m``):
        a kind name that is not one, an unknown key, a missing ``include_ambiguous``, a value of
        the wrong type or out of range, a ``stale.max_age_s`` shorter than the fresh one.

    Examples
    --------
    >>> rules = location_rules_from_dict({"location_rules": {"chemical_release": {
    ...     "include_ambiguous": True, "location": {"max_age_s": 1800}, "max_area_km2": 50}}})
    >>> rules["chemical_release"].location.max_age
    datetime.timedelta(seconds=1800)

    .. versionadded:: 0.1.0
    """
    from geotarget import _policy_sections

    return _policy_sections.location_rules(data)


def location_rules_from_toml(source: str | bytes | os.PathLike[str]) -> dict[str, KindRules]:
    """Read the ``[location_rules.<kind>]`` tables of a TOML policy.

    Parameters
    ----------
    source : str, bytes or path-like
        TOML text, or the path of a TOML file (a :class:`pathlib.Path`).

    Returns
    -------
    dict of str to KindRules
        The rules per kind name; see :func:`location_rules_from_dict` for the keys.

    Raises
    ------
    InvalidPolicy
        For a file that cannot be read or parsed, or listing every problem of the tables.

    Examples
    --------
    >>> rules = location_rules_from_toml('''
    ... [location_rules.chemical_release]
    ... include_ambiguous = true
    ... stale = { max_age_s = 7200, margin_m = 500 }
    ... max_recipients = 200000
    ... ''')
    >>> rules["chemical_release"].stale.margin_m, rules["chemical_release"].max_recipients
    (500.0, 200000)

    .. versionadded:: 0.1.0
    """
    from geotarget import _policy_sections

    return _policy_sections.location_rules(
        _policy_sections.load(source, "TOML", _LOCATION_RULES_WHAT)
    )


def location_rules_from_json(source: str | bytes | os.PathLike[str]) -> dict[str, KindRules]:
    """Read the ``location_rules`` object of a JSON policy.

    .. versionadded:: 0.1.0

    Parameters
    ----------
    source : str, bytes or path-like
        JSON text, or the path of a JSON file (a :class:`pathlib.Path`).

    Returns
    -------
    dict of str to KindRules
        The rules per kind name; see :func:`location_rules_from_dict` for the keys.

    Raises
    ------
    InvalidPolicy
        For a file that cannot be read or parsed, or listing every problem of the tables.
    """
    from geotarget import _policy_sections

    return _policy_sections.location_rules(
        _policy_sections.load(source, "JSON", _LOCATION_RULES_WHAT)
    )


def _checked_rules(rules: Mapping[str, KindRules]) -> dict[str, KindRules]:
    if not isinstance(rules, Mapping):
        raise InvalidType(
            f"rules must be a mapping of kind name to KindRules (got {type(rules).__name__})"
        )
    out = {}
    for kind, value in rules.items():
        name = check_kind_name("kind", kind)
        if not isinstance(value, KindRules):
            raise InvalidType(
                f"rules[{kind!r}] must be KindRules (got {type(value).__name__} {brief(value)})"
            )
        out[name] = value
    return out


def location_rules_to_dict(rules: Mapping[str, KindRules]) -> dict[str, Any]:
    """The ``location_rules`` entry of a policy document (JSON form) for ``rules``.

    Every key is written; :func:`location_rules_from_dict` reads it back to equal rules.

    Parameters
    ----------
    rules : mapping of str to KindRules
        The rules per kind name (such as :data:`geotarget.pilot.KIND_RULES`).

    Returns
    -------
    dict
        ``{"location_rules": {kind: table}}``, to merge into a policy document.

    Raises
    ------
    InvalidInput
        For a key that is not a kind name.
    InvalidType
        For a value that is not :class:`~geotarget.targeting.KindRules`.

    Examples
    --------
    >>> from geotarget import pilot
    >>> location_rules_to_dict(pilot.KIND_RULES)["location_rules"]["explosion"]["stale"]
    {'max_age_s': 86400, 'margin_m': 1000.0}

    .. versionadded:: 0.1.0
    """
    return {"location_rules": {k: rules_to_table(v) for k, v in _checked_rules(rules).items()}}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):  # only "any"
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)  # int, or a finite float: repr is valid TOML ("1e-05", "100.0")


def location_rules_to_toml(rules: Mapping[str, KindRules]) -> str:
    """The ``[location_rules.<kind>]`` tables of ``rules``, to append to a TOML policy.

    Every key is written; :func:`location_rules_from_toml` reads it back to equal rules.

    Parameters
    ----------
    rules : mapping of str to KindRules
        The rules per kind name (such as :data:`geotarget.pilot.KIND_RULES`).

    Returns
    -------
    str
        TOML text with a final newline.

    Raises
    ------
    InvalidInput
        For a key that is not a kind name.
    InvalidType
        For a value that is not :class:`~geotarget.targeting.KindRules`.

    Examples
    --------
    >>> from geotarget import pilot
    >>> print(location_rules_to_toml({"tip_request": pilot.KIND_RULES["tip_request"]}), end="")
    [location_rules.tip_request]
    include_ambiguous = false
    include_no_fix = false
    beyond_border = false
    location = { max_age_s = 3600, accuracy = 1.0 }
    max_recipients = 600000
    max_area_km2 = 2000.0

    .. versionadded:: 0.1.0
    """
    lines: list[str] = []
    for kind, table in location_rules_to_dict(rules)["location_rules"].items():
        lines += ["", f"[location_rules.{kind}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines[1:]) + "\n" if lines else ""
