"""Private: :class:`KindRules`, how one alert kind treats uncertain locations and borders.

Defined here to keep the pipeline module small; import it from :mod:`geotarget.targeting`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from geotarget._validate import number
from geotarget.errors import InvalidInput, InvalidType
from geotarget.positions import LocationRule, StaleRule


def _opt_positive(name: str) -> Any:
    def check(_: object, __: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            number(name, value, gt=0.0)

    return check


def _bool(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidType(f"{attribute.name} must be a bool (got {type(value).__name__} {value!r})")


def _consistent(rules: KindRules, _: attrs.Attribute[Any], stale: StaleRule | None) -> None:
    if stale is None:
        return
    if not isinstance(stale, StaleRule):
        raise InvalidType(f"stale must be a StaleRule or None (got {type(stale).__name__})")
    fresh = rules.location.max_age
    if fresh is None:
        raise InvalidInput(
            "stale needs location.max_age: with location.max_age None every fix is current, so "
            f"no fix is ever stale (got stale={stale!r})"
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
        Block an alert that would reach more devices than this, unless confirmed.
    max_area_km2 : float, optional
        Block an alert whose area is larger than this, unless confirmed.

    Raises
    ------
    InvalidInput
        If ``stale`` is given while ``location.max_age`` is None, or ``stale.max_age`` is
        shorter than ``location.max_age``.

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
    .. versionchanged:: 0.2.0
       ``stale``, ``include_no_fix`` and ``beyond_border``; ``location`` defaults to a one-hour
       ``max_age``.
    """

    location: LocationRule = attrs.field(
        factory=_one_hour, validator=attrs.validators.instance_of(LocationRule)
    )
    include_ambiguous: bool = attrs.field(validator=_bool)
    stale: StaleRule | None = attrs.field(default=None, validator=_consistent)
    include_no_fix: bool = attrs.field(default=False, validator=_bool)
    beyond_border: bool = attrs.field(default=False, validator=_bool)
    max_recipients: int | None = attrs.field(
        default=None, validator=_opt_positive("max_recipients")
    )
    max_area_km2: float | None = attrs.field(default=None, validator=_opt_positive("max_area_km2"))
