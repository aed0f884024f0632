"""Delivery stores: pending claims, confirmations, redelivery and durable incidents.

The delivery guarantee
----------------------
For each incident, over every process sharing one store:

* **At least once until confirmed.** Every device the caller claims for an active incident is
  offered (returned by :meth:`~SQLiteLedger.claim`, then by :meth:`~SQLiteLedger.redeliver`
  whenever its lease runs out, also after a crash or restart) until the caller confirms it.
* **Claimed once.** A device is claimed at most once per incident, whatever the number of
  versions, calls or processes: concurrent claimers get disjoint sets.
* **Never confirmed twice.** Confirming a confirmed delivery is a no-op, reported as such.
* **One key per delivery.** Each delivery carries a stable key,
  ``"{incident} {version} {device}"``, the same on every offer: pushed as the notification's
  idempotency or collapse key, it lets the app show the alert once even when it is offered
  twice (a crash between push and confirm).
* **Cancel wins.** :meth:`~SQLiteLedger.retract` (or admitting a Cancel) ends the incident in
  the same transactions that claims run in: no claim made after it returns, in any process,
  succeeds, and its result lists every device ever claimed, with a pending retraction each.

Device ids are ``str`` or ``int`` and are identified by their canonical text: ``1`` and ``"1"``
are one device, ``"007"`` and ``7`` are two. Positions never enter a store.

Three stores implement :class:`DeliveryLedger`: :class:`MemoryLedger` (in process),
:class:`SQLiteLedger` (one file, the processes of one machine) and :class:`PostgresLedger`
(every instance of a service; the ``postgres`` extra).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol, overload, runtime_checkable

import numpy as np
import numpy.typing as npt

from geotarget.ledger._memory import MemoryLedger
from geotarget.ledger._model import (
    Admission,
    Claims,
    ClaimStatus,
    Confirmation,
    DeliveryKind,
    DeviceIds,
    Incident,
    IncidentState,
    Transition,
)
from geotarget.ledger._postgres import PostgresLedger
from geotarget.ledger._sqlite import SQLiteLedger

__all__ = [
    "Admission",
    "ClaimStatus",
    "Claims",
    "Confirmation",
    "DeliveryKind",
    "DeliveryLedger",
    "Incident",
    "IncidentState",
    "MemoryLedger",
    "PostgresLedger",
    "SQLiteLedger",
    "Transition",
]


def __dir__() -> list[str]:
    return __all__


@runtime_checkable
class DeliveryLedger(Protocol):
    """What a delivery store offers; every method is one atomic transaction.

    See :class:`SQLiteLedger` for each method's documentation.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       Pending claims, confirmations, redelivery, retraction and incidents.
    """

    @overload
    def claim(
        self,
        incident: str,
        device_ids: DeviceIds,
        *,
        version: str,
        at: datetime,
        lease: timedelta = ...,
    ) -> Claims: ...

    @overload
    def claim(
        self, incident: str, device_ids: DeviceIds, *, alert_id: str, at: datetime
    ) -> npt.NDArray[Any]: ...

    def claim(
        self,
        incident: str,
        device_ids: DeviceIds,
        *,
        version: str | None = None,
        at: datetime,
        lease: timedelta = ...,
        alert_id: str | None = None,
    ) -> Claims | npt.NDArray[Any]:
        """Claim the devices not yet claimed for ``incident`` (pending until confirmed).

        The ``alert_id=`` form is the 0.1 protocol (an array of new ids, confirmed at once).
        """
        ...

    def confirm(self, keys: DeviceIds, *, at: datetime) -> Confirmation:
        """Confirm deliveries by key; a confirmed delivery is never confirmed again."""
        ...

    def confirm_devices(
        self, incident: str, device_ids: DeviceIds, *, at: datetime, kind: DeliveryKind = ...
    ) -> Confirmation:
        """Confirm deliveries of one incident by device."""
        ...

    def due(self, at: datetime, *, limit: int | None = None) -> list[Claims]:
        """Pending deliveries whose lease ran out (read only)."""
        ...

    def redeliver(
        self, at: datetime, *, lease: timedelta = ..., limit: int | None = None
    ) -> list[Claims]:
        """Take the due deliveries and renew their lease, atomically."""
        ...

    def retract(
        self, incident: str, *, version: str, at: datetime, lease: timedelta = ...
    ) -> Claims:
        """Cancel the incident; a pending retraction for every device claimed."""
        ...

    def recipients(self, incident: str) -> npt.NDArray[np.str_]:
        """Every device claimed for ``incident``, in claim order."""
        ...

    def delivered(self, incident: str, device_ids: DeviceIds) -> npt.NDArray[np.bool_]:
        """Whether each device was claimed for ``incident``."""
        ...

    def admit(self, alert: Any, *, at: datetime, lease: timedelta = ...) -> Admission:
        """Apply an Alert, Update or Cancel to the stored incidents."""
        ...

    def expire(self, incident: str, *, at: datetime) -> bool:
        """Mark an active incident expired."""
        ...

    def incident(self, incident: str) -> Incident | None:
        """The stored incident, or None."""
        ...

    def load_active(self) -> list[Incident]:
        """Every active incident with a current alert."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...
