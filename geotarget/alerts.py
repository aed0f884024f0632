"""What is said, by whom, when (placeholder: the full CAP-aligned model lands with issue 3).

Only :class:`AlertKind` is defined here yet, so that rollout policies can name kinds.
"""

from __future__ import annotations

import enum

__all__ = ["AlertKind"]


def __dir__() -> list[str]:
    return __all__


class AlertKind(str, enum.Enum):
    """The pilot's alert kinds.

    ``EXPLOSION`` is a 112-event (a feared explosion; police alerted to the place);
    ``CRIME_MODUS`` is crime-prevention information about a current modus in an area;
    ``TIP_REQUEST`` asks the public for tips (phone 114 14 or the police's web form).
    """

    EXPLOSION = "explosion"
    CRIME_MODUS = "crime_modus"
    TIP_REQUEST = "tip_request"
