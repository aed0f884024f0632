"""Private: :class:`KindRules`, how one alert kind treats uncertain locations and borders.

Defined here to keep the pipeline module small; import it from :mod:`geotarget.targeting`.
Also the one reader and writer of a policy file's ``[location_rules.<kind>]`` tables
(:func:`rules_from_table`, :func:`rules_to_table`), public through :mod:`geotarget.kinds`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from geotarget._validate import number, shown
from geotarget.errors import GeotargetError, InvalidInput, InvalidType, Problem
from geotarget.positions import _MAX_AGE, LocationRule, StaleRule
from geotarget.rollout._io import brief, key_path, misspelt, quoted, unknown_key


def _opt_positive(name: str) -> Any:
    def check(_: object, __: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            number(name, value, gt=0.0)

    return check


#: The most recipients a guard may name: the largest integer a float holds exactly (2**53), as
#: a policy file (TOML or JSON) can state it and read it back.
MAX_RECIPIENTS = 2**53


def _recipients(value: object) -> int | None:
    """``max_recipients`` as an ``int`` (an integral float or numpy integer too), or None.

    Refused, naming the rule and the value: a bool, a non-number, a count that is not whole,
    and one outside ``1 … 2**53`` (such a guard was kept, but written to a policy file that
    its reader then refused).
    """
    if value is None:
        return None
    rule = f"an integer > 0 and <= {MAX_RECIPIENTS} (a count of devices)"
    x = number("max_recipients", value, gt=0.0)  # a bool, NaN or a non-number: refused
    n = int(value) if isinstance(value, (int, np.integer)) else int(x) if x.is_integer() else 0
    if not 0 < n <= MAX_RECIPIENTS:
        raise InvalidInput(f"max_recipients must be {rule} (got {shown(value)})")
    return n


def _bool(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidType(
            f"{attribute.name} must be a bool (got {type(value).__name__} {shown(value)})"
        )


def _location_rule(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, LocationRule):
        raise InvalidType(f"location must be a LocationRule (got {type(value).__name__})")


def _consistent(rules: KindRules, _: attrs.Attribute[Any], stale: StaleRule | None) -> None:
    if stale is None:
        if rules.location.max_age == dt.timedelta(0):
            # 0 is "no limit" in many configurations; here it makes every fix but one taken
            # at the alert's very instant stale, and without a stale rule nobody is told.
            raise InvalidInput(
                "location.max_age must be > 0 without a stale rule (got 0:00:00): only a fix "
                "taken at the alert's very instant would be current, so the kind would reach "
                'almost nobody; for fixes of any age give max_age None (max_age_s = "any" in '
                "a policy file)"
            )
        return
    if not isinstance(stale, StaleRule):
        raise InvalidType(f"stale must be a StaleRule or None (got {type(stale).__name__})")
    fresh = rules.location.max_age
    if fresh is None:
        raise InvalidInput(
            "stale needs location.max_age: with location.max_age None every fix is current, so "
            f"no fix is ever stale (got stale={shown(stale)})"
        )
    if stale.max_age < fresh:
        raise InvalidInput(
            f"stale.max_age must be >= location.max_age (got {stale.max_age} < {fresh})"
        )


def _one_hour() -> LocationRule:
    return LocationRule(max_age=dt.timedelta(hours=1))


@attrs.frozen(kw_only=True)
class KindRules:
    """How one alert kind treats uncertain locations and borders, and its blast-radius guard.

    Parameters
    ----------
    location : LocationRule, default ``LocationRule(max_age=1 h)``
        Fresh fixes: those at most ``location.max_age`` old are classified by their accuracy
        disk (INSIDE, AMBIGUOUS or OUTSIDE). ``max_age=None`` accepts fixes of any age.
    include_ambiguous : bool
        Fail open (``True``: a device whose accuracy disk crosses the boundary receives the
        alert) or closed. Life-safety kinds fail open.
    stale : StaleRule or None, default None
        Fixes older than ``location.max_age`` are *stale*. With a rule, a stale fix at most
        ``stale.max_age`` old whose point lies in the area grown by ``stale.margin_m`` is told
        (:attr:`Outcome.STALE_INCLUDED`); other stale fixes are not
        (:attr:`Outcome.STALE_LOCATION`). ``stale.max_age`` must be ``>= location.max_age``.
    include_no_fix : bool, default False
        Whether devices with no fix at all are told (:attr:`Outcome.NO_FIX_INCLUDED`). Such a
        device cannot be located, so ``True`` tells it every alert of the kind wherever the
        area and whatever the enabled regions: ``False`` for every built-in kind.
    beyond_border : bool, default False
        Whether a device in the alert area that lies in no region of the hierarchy (beyond the
        country's territory) is told. ``False``: :attr:`Outcome.BEYOND_BORDER`.
    max_recipients : int, optional
        Block an alert that would reach more devices than this, unless confirmed: a whole
        number from 1 to 2**53 (an integral float is taken as its ``int``), as a policy file
        states it.
    max_area_km2 : float, optional
        Block an alert whose area is larger than this, unless confirmed.

        Both weigh the area the alert reaches now *or later*: when its info blocks have
        windows of their own, the blocks in effect and those that begin later (a version
        delivered once streams its later blocks and is not held again); ``max_recipients``
        also counts the devices a phase beginning before the alert expires lets it reach.

    Raises
    ------
    InvalidInput
        If ``stale`` is given while ``location.max_age`` is None, or ``stale.max_age`` is
        shorter than ``location.max_age``; or ``location.max_age`` is 0 without ``stale``
        (only a fix taken at the alert's instant would be current: 0 is not "no limit").

    Examples
    --------
    >>> import datetime as dt
    >>> from geotarget import StaleRule
    >>> from geotarget.targeting import KindRules
    >>> rules = KindRules(include_ambiguous=True, beyond_border=True,
    ...                   stale=StaleRule(max_age=dt.timedelta(hours=6), margin_m=500.0))
    >>> rules.location.max_age
    datetime.timedelta(seconds=3600)
    >>> KindRules(include_ambiguous=True,
    ...           stale=StaleRule(max_age=dt.timedelta(minutes=5), margin_m=0.0))
    Traceback (most recent call last):
    ...
    geotarget.errors.InvalidInput: stale.max_age must be >= location.max_age (got 0:05:00 < 1:00:00)

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.1.0
       ``stale``, ``include_no_fix`` and ``beyond_border``; ``location`` defaults to a one-hour
       ``max_age``.
    """

    location: LocationRule = attrs.field(factory=_one_hour, validator=_location_rule)
    include_ambiguous: bool = attrs.field(validator=_bool)
    stale: StaleRule | None = attrs.field(default=None, validator=_consistent)
    include_no_fix: bool = attrs.field(default=False, validator=_bool)
    beyond_border: bool = attrs.field(default=False, validator=_bool)
    max_recipients: int | None = attrs.field(default=None, converter=_recipients)
    max_area_km2: float | None = attrs.field(default=None, validator=_opt_positive("max_area_km2"))


# ---------------------------------------------------------------------------------------------
# The policy file's ``[location_rules.<kind>]`` tables
# ---------------------------------------------------------------------------------------------

#: The keys of one ``[location_rules.<kind>]`` table, of its ``location`` and ``stale`` tables.
RULES_KEYS = (
    "include_ambiguous", "location", "stale", "include_no_fix", "beyond_border",
    "max_recipients", "max_area_km2",
)  # fmt: skip
LOCATION_KEYS = ("max_age_s", "accuracy")
STALE_KEYS = ("max_age_s", "margin_m")
#: The longest duration a file may state, in seconds: the longest ``max_age`` that
#: :class:`LocationRule` and :class:`StaleRule` take (10,000 years). A longer one was read, and
#: then refused by them as ``InvalidPositions``, without its path.
MAX_SECONDS = _MAX_AGE // dt.timedelta(seconds=1)
_ANY_AGE = "any"


def _float(value: object) -> float | None:
    """``value`` as a finite float; None for a bool, a non-number, NaN, inf or a huge int."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except OverflowError:  # an int such as 10**400
        return None
    return x if x == x and abs(x) != float("inf") else None


def _seconds(
    value: object, path: str, *, positive: bool, problems: list[Problem], any_age: bool = False
) -> dt.timedelta:
    """A duration written as a number of seconds; a problem (and a placeholder) otherwise.

    ``any_age``: the key also takes ``"any"`` (read by the caller), which the rule names.
    """
    rule = f"a number of seconds {'>' if positive else '>='} 0 and <= {MAX_SECONDS}"
    if any_age:
        rule += f', or "{_ANY_AGE}" for fixes of any age'
    seconds = _float(value)
    if (
        seconds is not None
        and (seconds > 0 if positive else seconds >= 0)
        and (seconds <= MAX_SECONDS)
    ):
        duration = dt.timedelta(seconds=value)  # type: ignore[arg-type]  # an int stays exact
        if duration or not seconds:  # (only a 0 written reads as 0)
            return duration
        # Under half a microsecond, the finest duration held: it would read as 0, which the
        # rule refuses, and the refusal would name neither this key nor the value written.
        problems.append(
            Problem(
                path,
                f"must be {rule} (got {_shown(value)}, which is under a microsecond, the finest "
                "duration geotarget holds, so it reads as 0)",
            )
        )
        return dt.timedelta(hours=1)
    problems.append(Problem(path, f"must be {rule} {_got(value, 'number')}"))
    return dt.timedelta(hours=1)


def _shown(value: object) -> str:
    return brief(value)


def _got(value: object, want: str) -> str:
    """``(got 'true'); that is text, in quotes: ...`` (:func:`~geotarget.rollout._io.quoted`)."""
    return f"(got {brief(value)}){quoted(value, want)}"


def _unknown(table: Any, allowed: tuple[str, ...], path: str, problems: list[Problem]) -> None:
    for key in table:
        if key not in allowed:
            # (a top-level key written below a [location_rules.<kind>] header is named so)
            problems.append(Problem(key_path(path, key), unknown_key(key, allowed, path)))


def rules_from_table(table: object, path: str) -> tuple[KindRules | None, list[Problem]]:
    """One ``[location_rules.<kind>]`` table as :class:`KindRules`, or its problems.

    ``include_ambiguous`` is required; the other keys default as :class:`KindRules` does. A
    ``location`` table needs ``max_age_s`` (seconds, or ``"any"`` for fixes of any age) and may
    set ``accuracy``; a ``stale`` table needs ``max_age_s`` and ``margin_m``. Every problem is
    returned with its path under ``path``; nothing is built when there is one.
    """
    problems: list[Problem] = []
    if not isinstance(table, Mapping):
        return None, [Problem(path, f"must be a table of rules (got {type(table).__name__})")]
    _unknown(table, RULES_KEYS, path, problems)
    fields: dict[str, Any] = {}
    if "include_ambiguous" not in table:
        problems.append(
            Problem(
                f"{path}.include_ambiguous",
                "is required: true (fail open: a device whose accuracy disk crosses the "
                "boundary is told) or false (fail closed)"
                + misspelt("include_ambiguous", table, RULES_KEYS),
            )
        )
    for key in ("include_ambiguous", "include_no_fix", "beyond_border"):
        if key in table:
            if isinstance(table[key], bool):
                fields[key] = table[key]
            else:
                problems.append(
                    Problem(f"{path}.{key}", f"must be true or false {_got(table[key], 'bool')}")
                )
    if "max_recipients" in table:
        value = table["max_recipients"]
        # A whole number written as a float (JSON's 600000.0, as Python's json writes a count
        # computed as a float; TOML's 6e5) is that count, as KindRules takes it: JSON has one
        # kind of number. Up to 2**53 a float holds every whole number exactly.
        whole = _float(value)
        count = (
            value
            if isinstance(value, int) and not isinstance(value, bool)
            else int(whole)
            if whole is not None and whole.is_integer()
            else None
        )
        if count is not None and 0 < count <= MAX_RECIPIENTS:
            fields["max_recipients"] = count
        else:
            problems.append(
                Problem(
                    f"{path}.max_recipients",
                    f"must be an integer > 0 and <= {MAX_RECIPIENTS} {_got(value, 'number')}",
                )
            )
    if "max_area_km2" in table:
        value = table["max_area_km2"]
        area = _float(value)
        if area is not None and area > 0:
            fields["max_area_km2"] = area
        else:
            problems.append(
                Problem(
                    f"{path}.max_area_km2",
                    f"must be a finite number of km² > 0 {_got(value, 'number')}",
                )
            )
    if "location" in table:
        fields["location"] = _location(table["location"], f"{path}.location", problems)
    if "stale" in table:
        fields["stale"] = _stale(table["stale"], f"{path}.stale", problems)
    stale, location = fields.get("stale"), fields.get("location", _one_hour())
    if (
        isinstance(stale, StaleRule)
        and isinstance(location, LocationRule)
        and location.max_age is not None
        and stale.max_age < location.max_age
    ):
        # KindRules' own refusal, in the file's terms: at the key, in seconds.
        default = "" if "location" in table else ", the default"
        problems.append(
            Problem(
                f"{path}.stale.max_age_s",
                f"must be >= location.max_age_s ({_duration(location.max_age)}{default}): a "
                f"fix turns stale when it is no longer fresh (got {_duration(stale.max_age)})",
            )
        )
    if problems:
        return None, problems
    try:
        return KindRules(**fields), []
    except GeotargetError as err:  # e.g. stale.max_age shorter than location.max_age
        return None, [Problem(path, str(err))]


def _subtable(
    table: object, keys: tuple[str, ...], path: str, problems: list[Problem]
) -> Mapping[str, Any] | None:
    """``table`` if it is a table (its unknown keys reported), else None and a problem."""
    if not isinstance(table, Mapping):
        wanted = " and ".join(keys)
        problems.append(Problem(path, f"must be a table with {wanted} (got {_shown(table)})"))
        return None
    _unknown(table, keys, path, problems)
    return table


def _location(value: object, path: str, problems: list[Problem]) -> LocationRule | None:
    table = _subtable(value, LOCATION_KEYS, path, problems)
    if table is None:
        return None
    before = len(problems)
    if "max_age_s" not in table:
        problems.append(
            Problem(
                f"{path}.max_age_s",
                'is required: the oldest fresh fix in seconds (3600 is one hour), or "any"'
                + misspelt("max_age_s", table, LOCATION_KEYS),
            )
        )
    raw = table.get("max_age_s", _ANY_AGE)
    max_age = (
        None
        if raw == _ANY_AGE
        else _seconds(raw, f"{path}.max_age_s", positive=False, problems=problems, any_age=True)
    )
    accuracy = _float(table.get("accuracy", 1.0))
    if accuracy is None or not 0.0 <= accuracy <= 10.0:
        problems.append(
            Problem(
                f"{path}.accuracy",
                f"must be a number >= 0 and <= 10 (a multiple of accuracy_m) "
                f"{_got(table.get('accuracy'), 'number')}",
            )
        )
    if len(problems) > before or accuracy is None:  # every key checked, each at its path
        return None
    try:
        return LocationRule(max_age=max_age, accuracy=accuracy)
    except GeotargetError as err:  # a rule the checks above missed: at its path, not raised
        problems.append(Problem(path, str(err)))
        return None


def _stale(value: object, path: str, problems: list[Problem]) -> StaleRule | None:
    table = _subtable(value, STALE_KEYS, path, problems)
    if table is None:
        return None
    before = len(problems)
    max_age = None
    if "max_age_s" not in table:
        problems.append(
            Problem(f"{path}.max_age_s", "is required" + misspelt("max_age_s", table, STALE_KEYS))
        )
    else:
        max_age = _seconds(
            table["max_age_s"], f"{path}.max_age_s", positive=True, problems=problems
        )
    margin = _float(table.get("margin_m", 0.0))
    if "margin_m" not in table:
        problems.append(
            Problem(f"{path}.margin_m", "is required" + misspelt("margin_m", table, STALE_KEYS))
        )
    elif margin is None or not 0.0 <= margin <= 50_000.0:
        problems.append(
            Problem(
                f"{path}.margin_m",
                f"must be a number of metres >= 0 and <= 50000 {_got(table['margin_m'], 'number')}",
            )
        )
    if len(problems) > before or max_age is None or margin is None:  # each key at its path
        return None
    try:
        return StaleRule(max_age=max_age, margin_m=margin)
    except GeotargetError as err:  # a rule the checks above missed: at its path, not raised
        problems.append(Problem(path, str(err)))
        return None


def _duration(value: dt.timedelta) -> int | float:
    """Seconds: an int when whole, else the float nearest the exact value."""
    if value.microseconds == 0:
        return value // dt.timedelta(seconds=1)
    return value / dt.timedelta(seconds=1)


def rules_to_table(rules: KindRules) -> dict[str, Any]:
    """The ``[location_rules.<kind>]`` table of ``rules``, every key written."""
    if not isinstance(rules, KindRules):
        raise InvalidType(f"rules must be KindRules (got {type(rules).__name__})")
    max_age = rules.location.max_age
    out: dict[str, Any] = {
        "include_ambiguous": rules.include_ambiguous,
        "include_no_fix": rules.include_no_fix,
        "beyond_border": rules.beyond_border,
        "location": {
            "max_age_s": _ANY_AGE if max_age is None else _duration(max_age),
            "accuracy": rules.location.accuracy,
        },
    }
    if rules.stale is not None:
        out["stale"] = {
            "max_age_s": _duration(rules.stale.max_age),
            "margin_m": rules.stale.margin_m,
        }
    if rules.max_recipients is not None:
        out["max_recipients"] = rules.max_recipients  # an int within the file's range
    if rules.max_area_km2 is not None:
        out["max_area_km2"] = float(rules.max_area_km2)
    return out


def misspelt_kind(kind: str, registered: Collection[str]) -> str:
    """``" (did you mean 'x'? ...)"`` when ``kind`` is near a registered kind's name, else ``""``.

    A policy's ``[kinds.tip_reqest]`` table, a recognition rule's ``kind = "explosoin"`` or an
    issuer's ``kinds = ["explosoin"]`` is the registered kind's name mistyped, more likely than
    a kind still lacking its rules. Shared by the Targeter and the issuers' reader
    (:func:`meant_kind` is the other way round: rules under a kind's name mistyped).
    """
    import difflib

    near = difflib.get_close_matches(kind, sorted(registered), n=1, cutoff=0.8)
    return (
        f" (did you mean {near[0]!r}? it is registered: this name may be misspelt)" if near else ""
    )


def meant_kind(kind: str, kinds: Sequence[str], given: Collection[str], lacks: str) -> str:
    """``"; did you mean ..."`` when ``kind`` is near a rollout kind given no rules, else ``""``.

    Rules under ``kind``, which no part of the configuration names, are then that kind's
    name mistyped (``tip_requests`` for ``tip_request``), and the kind meant keeps the pilot's
    rules, or has none. ``lacks`` says so of the kind meant (``"has no table"``). Shared by
    :func:`geotarget.load_policy` and the Targeter.
    """
    import difflib

    from geotarget import pilot

    near = difflib.get_close_matches(kind, sorted(kinds), n=1, cutoff=0.6)
    if not near or near[0] in given:
        return ""
    pilots = near[0] in pilot.KIND_RULES
    keeps = "keeps the pilot's location rules" if pilots else "has no location rules"
    return f"; did you mean {near[0]!r}? (it {lacks}, so it {keeps})"
