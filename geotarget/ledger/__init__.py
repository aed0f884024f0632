"""Delivery stores: pending claims, confirmations, redelivery and durable incidents.

The delivery guarantee
----------------------
For each incident, over every process sharing one store:

* **At least once until confirmed.** Every device the caller claims for an active incident is
  offered (returned by :meth:`~DeliveryLedger.claim`, then by :meth:`~DeliveryLedger.redeliver`
  whenever its lease runs out, also after a crash or restart) until the caller confirms it.
* **Claimed once.** A device is claimed at most once per incident, whatever the number of
  versions, calls or processes: concurrent claimers get disjoint sets.
* **Never confirmed twice.** Confirming a confirmed delivery is a no-op, reported as such.
* **One key per delivery.** Each delivery carries a stable key,
  ``"{incident} {version} {device}"``, the same on every offer: pushed as the notification's
  idempotency or collapse key, it lets the app show the alert once even when it is offered
  twice (a crash between push and confirm).
* **Cancel wins.** :meth:`~DeliveryLedger.retract` (or admitting a Cancel) ends the incident in
  the same transactions that claims run in: no claim made after it returns, in any process,
  succeeds, and its result lists every device ever claimed, with a pending retraction each
  (called again, those whose retraction is not confirmed yet).
* **Only the current version is offered.** A delivery still pending on a version an Update
  replaced is *held*: never due, never redelivered. A claim of the current version takes the
  held devices in its batch again, under its own version and key; a held device the current
  area does not cover is never offered the replaced one. A key of a replaced version
  confirmed late confirms the device's delivery (its push told the device).

Device ids are ``str`` or ``int`` and are identified by their canonical text: ``1`` and ``"1"``
are one device, ``"007"`` and ``7`` are two. Positions never enter a store.

Three stores implement :class:`DeliveryLedger`: :class:`MemoryLedger` (in process),
:class:`SQLiteLedger` (one file, the processes of one machine) and :class:`PostgresLedger`
(every instance of a service; the ``postgres`` extra).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

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
    """The delivery store protocol: the contract every store implements.

    Every method is one atomic transaction: a concurrent caller, in this process or another,
    sees it wholly applied or not at all. When the store fails, a method raises a subclass of
    :class:`~geotarget.errors.StoreError` naming the cause, and nothing of it was applied —
    except when a server's connection is lost while committing: then the message says it may
    have been applied (repeating the call applies nothing twice). See :doc:`/delivery` for the
    guarantee and the loop a service runs.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.1.0
       Pending claims, confirmations, redelivery, retraction and incidents; ``claim`` takes
       ``version=`` only (the 0.1 ``alert_id=`` form, which returned an array, is removed).
    """

    def claim(
        self,
        incident: str,
        device_ids: DeviceIds,
        *,
        version: str,
        at: datetime,
        lease: timedelta = ...,
    ) -> Claims:
        """Claim the devices not yet claimed for ``incident``, as pending deliveries.

        In one transaction: the claim is refused (an empty result whose status says why) when
        the incident is cancelled or expired, or when ``version`` is not its current version
        (after :meth:`admit`); otherwise each device of ``device_ids`` never claimed for the
        incident, by any process, is claimed: pending until confirmed, offered again by
        :meth:`redeliver` once ``lease`` has run out. So is each device whose delivery is still
        pending on a version an Update replaced (held): its delivery moves to ``version``, with
        this version's key. The first claim of the current version marks it released
        (:attr:`Incident.released`): the version a Targeter streams to fresh positions.

        Parameters
        ----------
        incident : str
            The incident key (no whitespace, at most 2,049 bytes in UTF-8: the id of a CAP
            sender and identifier), e.g. ``"polisen@polisen.se/SE-POL-1"``.
        device_ids : sequence of str or int, or numpy array
            The devices in the area; ``1`` and ``"1"`` are the same device. Text ids are
            non-empty, valid Unicode (no lone surrogate), hold no NUL character and are at
            most 256 characters, as a :class:`~geotarget.positions.Positions` id.
        version : str
            The version id of the alert being delivered (no whitespace, at most 2,049
            bytes).
        at : datetime
            Now, timezone-aware.
        lease : timedelta, default 60 s
            How long the caller has to push and confirm before the deliveries come back.

        Returns
        -------
        Claims
            The newly claimed devices, their positions in ``device_ids`` and their keys.

        Raises
        ------
        StoreError
            The store failed (a subclass names the cause); nothing was claimed.
        """
        ...

    def confirm(self, keys: DeviceIds, *, at: datetime) -> Confirmation:
        """Mark the deliveries named by their keys as confirmed (pushed); never twice.

        A key naming a version an Update replaced (pushed before the Update, confirmed after
        it) confirms that device's alert delivery, held or moved to the current version.

        Parameters
        ----------
        keys : sequence of str
            Delivery keys, as :meth:`Claims.keys` gave them.
        at : datetime
            Now, timezone-aware.

        Returns
        -------
        Confirmation
            Which keys were confirmed now, which before (a no-op), which name no delivery.
        """
        ...

    def confirm_devices(
        self, incident: str, device_ids: DeviceIds, *, at: datetime, kind: DeliveryKind = ...
    ) -> Confirmation:
        """Like :meth:`confirm`, naming the devices of one incident instead of keys.

        An incident merged into another since (:attr:`IncidentState.MERGED`) names, as its
        keys do, the deliveries that moved there with it.

        Parameters
        ----------
        incident : str
            The incident key.
        device_ids : sequence of str or int, or numpy array
            The devices pushed to.
        at : datetime
            Now, timezone-aware.
        kind : DeliveryKind, default ALERT
            Confirm the alert's deliveries, or its retraction's (anything else:
            :class:`~geotarget.errors.InvalidType`).

        Returns
        -------
        Confirmation
            Positions into ``device_ids``.
        """
        ...

    def due(self, at: datetime, *, limit: int | None = None) -> list[Claims]:
        """Pending deliveries whose lease has run out by ``at`` (read only; see redeliver).

        Alert deliveries of an incident that is no longer active are not due, nor those held
        on a version an Update replaced (only the current version is offered); retractions
        are due until confirmed.

        Parameters
        ----------
        at : datetime
            Now, timezone-aware.
        limit : int, optional
            At most this many deliveries: an int from 1 to ``2**63 - 1`` (a SQL store's 64-bit
            integer), else :class:`~geotarget.errors.InvalidInput`. The first ones of the
            incidents in the order the store first knew them, an incident's alerts before its
            retractions, in claim order within, in every store.

        Returns
        -------
        list of Claims
            One per (incident, version, kind), in claim order within each.
        """
        ...

    def redeliver(
        self, at: datetime, *, lease: timedelta = ..., limit: int | None = None
    ) -> list[Claims]:
        """Take the due pending deliveries and renew their lease, atomically.

        Each due delivery is returned to exactly one caller (two handles or processes calling at
        once get disjoint sets), with the same key as when it was claimed.

        Parameters
        ----------
        at : datetime
            Now, timezone-aware.
        lease : timedelta, default 60 s
            The new lease.
        limit : int, optional
            At most this many deliveries: an int from 1 to ``2**63 - 1`` (a SQL store's 64-bit
            integer), else :class:`~geotarget.errors.InvalidInput`. The first ones of the
            incidents in the order the store first knew them, an incident's alerts before its
            retractions, in claim order within, in every store.

        Returns
        -------
        list of Claims
            One per (incident, version, kind), with ``lease_until = at + lease``.
        """
        ...

    def retract(
        self, incident: str, *, version: str, at: datetime, lease: timedelta = ...
    ) -> Claims:
        """Cancel the incident and offer a retraction to every device ever claimed for it.

        In one transaction: the incident becomes CANCELLED (no claim succeeds afterwards, in any
        process; claims in flight finish first) and every device claimed for it, pending or
        confirmed, gets a pending retraction keyed by the first Cancel's version. Calling it
        again (a Cancel re-sent, or another Cancel of the incident) makes none anew and
        returns the retractions not confirmed yet, with the same keys: a confirmed retraction
        is never offered again.

        Parameters
        ----------
        incident : str
            The incident key.
        version : str
            The Cancel's version id.
        at : datetime
            Now, timezone-aware.
        lease : timedelta, default 60 s
            How long to push and confirm the retractions before they are offered again.

        Returns
        -------
        Claims
            The retractions (kind RETRACTION, status CANCELLED).
        """
        ...

    def recipients(self, incident: str) -> npt.NDArray[np.str_]:
        """Every device claimed for ``incident`` (pending or confirmed), in claim order.

        Claim order is the order of the claims, and within one claim canonical integer ids
        ascending, then the other ids by code point.

        Returns
        -------
        numpy.ndarray of str
            Canonical text ids.
        """
        ...

    def pending(self, incident: str, *, kind: DeliveryKind = ...) -> list[Claims]:
        """Every delivery of ``incident`` not confirmed yet, whatever its lease (read only).

        Unlike :meth:`due` and :meth:`redeliver`, which offer only the current version's
        alert deliveries, this lists also those *held* on a version an Update replaced: the
        next claim of the current version takes back each of them its batch covers (see
        "Only the current version is offered" above). Whatever the incident's state:
        the alert deliveries still pending when it was cancelled, expired or merged into
        another (whose deliveries moved there, so it lists none) are listed too. With the
        incident's :meth:`recipients` (every device claimed) this is what a claim and a
        retraction of the incident would find, so a caller can tell, changing nothing, what
        they would do (:meth:`geotarget.targeting.Targeter.preview` does).

        .. versionadded:: 0.1.0

        Parameters
        ----------
        incident : str
            The incident key.
        kind : DeliveryKind, default DeliveryKind.ALERT
            The alert deliveries, or the retractions (``DeliveryKind.RETRACTION``).

        Returns
        -------
        list of Claims
            One per version the deliveries are pending on (a retraction's is the Cancel's),
            sorted by version, status ``CLAIMED``, ``lease_until`` None, the devices of each
            in claim order; empty when none is pending or the incident is unknown.

        Raises
        ------
        InvalidType
            If ``incident`` is not a str or ``kind`` not a :class:`DeliveryKind`.
        InvalidInput
            If ``incident`` is empty or holds whitespace.
        """
        ...

    def delivered(self, incident: str, device_ids: DeviceIds) -> npt.NDArray[np.bool_]:
        """Whether each device was claimed for ``incident`` (one answer per input).

        Returns
        -------
        numpy.ndarray of bool
            True where the device was claimed, aligned with ``device_ids``.
        """
        ...

    def admit(
        self,
        alert: Any,
        *,
        at: datetime,
        lease: timedelta = ...,
        may_act_for: Callable[[str, str], bool] | None = None,
    ) -> Admission:
        """Apply one Alert, Update or Cancel to the stored incidents, atomically.

        The rules are issue 10's: a version is (sender, identifier); an Alert starts an
        incident keyed ``"{sender}/{identifier}"``; an Update or Cancel joins the incident of a
        version it references; the newest ``sent`` is current; a Cancel ends the incident and
        retracts; a Cancel naming no known version is remembered, so the late Alert is refused
        (when that Cancel's sender may act for the Alert's and its status is the Alert's); an
        Update naming no known version starts the incident under its first reference, and the
        versions an Update names that were never seen become versions of its incident (so its
        original, arriving later, joins it, as does a Cancel naming only that original); a
        version id re-used with other content is a conflict; an Update or Cancel from a sender
        that may not act for the incident's sender, or with another status, is refused —
        except that an incident a Test or Exercise Update started before its original arrived
        gives way to that original arriving Actual (the drill moves to an incident keyed by its
        own first message; an Actual Cancel refused meanwhile was remembered for the original).
        Each outcome is a :class:`Transition`.

        Parameters
        ----------
        alert : Alert
            A message of type Alert, Update or Cancel (the caller filters the others).
        at : datetime
            Now, timezone-aware.
        lease : timedelta, default 60 s
            The lease of the retractions a Cancel makes.
        may_act_for : callable, optional
            ``may_act_for(sender, owner)``: whether ``sender`` may Update or Cancel an incident
            ``owner`` started — the policy's :meth:`geotarget.issuers.Issuers.may_act_for`.
            Default: only the owner itself.

        Returns
        -------
        Admission
            What happened (a :class:`Transition`), the incident after the call and any
            retractions.

        Raises
        ------
        InvalidInput
            ``alert.msg_type`` is Ack or Error.
        """
        ...

    def lookup_version(self, version: str) -> tuple[str, str | None] | None:
        """The incident of a known version id, and its CAP document (read only).

        .. versionadded:: 0.1.0

        Parameters
        ----------
        version : str
            A version id, ``"{sender}/{identifier}"``.

        Returns
        -------
        tuple of (str, str or None), or None
            The incident key and the version's document (None for a version only referenced
            so far); None for a version id never seen. The key is the incident the version
            belongs to now: that of a version of a merged incident
            (:attr:`IncidentState.MERGED`) names the incident it joined.
        """
        ...

    def versions(self, incident: str) -> list[tuple[str, str | None]]:
        """Every version id of ``incident`` and its CAP document (read only).

        The versions :meth:`lookup_version` resolves to the incident: those admitted (an
        Alert or Update, current or not, and a Cancel), and those only named so far by an
        Update or Cancel of it (document None). A merged incident's moved to the one it
        joined (:attr:`IncidentState.MERGED`).

        .. versionadded:: 0.1.0

        Parameters
        ----------
        incident : str
            The incident key.

        Returns
        -------
        list of (str, str or None)
            (version id, document) in the order the store first recorded them (those one
            message recorded, in an order of the store's); empty for an unknown incident.

        Raises
        ------
        InvalidType
            If ``incident`` is not a str.
        InvalidInput
            If ``incident`` is empty or holds whitespace.
        """
        ...

    def remembered_cancel(self, version: str) -> str | None:
        """The CAP document of a remembered Cancel with this version id (read only).

        A Cancel that names no known version is remembered (:attr:`Transition.REMEMBERED`)
        with its document, so that its version id re-used with other content is a conflict.

        .. versionadded:: 0.1.0

        Parameters
        ----------
        version : str
            A version id, ``"{sender}/{identifier}"``.

        Returns
        -------
        str or None
            The first such Cancel's document; None when no Cancel was remembered under it.
        """
        ...

    def cancels_naming(self, version: str) -> list[str]:
        """The CAP documents of the remembered Cancels that name this version id (read only).

        A Cancel that arrives before the versions it names is remembered under each of them;
        when such a version arrives, one of these Cancels that may end its incident ends it
        (:attr:`Transition.CANCELLED`).

        .. versionadded:: 0.1.0

        Parameters
        ----------
        version : str
            A version id, ``"{sender}/{identifier}"``.

        Returns
        -------
        list of str
            The Cancels' documents, in no particular order; empty when none names it.
        """
        ...

    def expire(self, incident: str, *, at: datetime, version: str | None = None) -> bool:
        """Mark an active incident EXPIRED; its pending alert deliveries are no longer due.

        An expired incident leaves :meth:`load_active`, and :meth:`redeliver` no longer
        scans its claims; a later Update or Cancel of it is refused
        (``Transition.EXPIRED``).

        Parameters
        ----------
        incident : str
            The incident key.
        at : datetime.datetime
            When (timezone-aware).
        version : str, optional
            Only while this version is current: an Update another process admitted
            meanwhile keeps the incident active (in the same transaction).

        Returns
        -------
        bool
            Whether the incident was active (with ``version`` current, when given) and is
            now expired.

        .. versionchanged:: 0.1.0
           ``version``.
        """
        ...

    def hold(self, version: str, *, at: datetime) -> None:
        """Record that ``version`` waits for a person to confirm it (the blast-radius guard).

        A :class:`~geotarget.targeting.Targeter` records it when the guard holds a version;
        :meth:`~geotarget.targeting.Targeter.retarget`, in any process over the store, then
        passes over that version while it is current: only ``target(..., confirm=True)``
        delivers it. Recording it again changes nothing.

        .. versionadded:: 0.1.0

        Parameters
        ----------
        version : str
            A version id, ``"{sender}/{identifier}"``.
        at : datetime.datetime
            When (timezone-aware).
        """
        ...

    def held(self, version: str) -> bool:
        """Whether :meth:`hold` recorded ``version``.

        .. versionadded:: 0.1.0

        Parameters
        ----------
        version : str
            A version id, ``"{sender}/{identifier}"``.

        Returns
        -------
        bool
            True once any process over the store recorded it.
        """
        ...

    def incident(self, incident: str) -> Incident | None:
        """The stored incident, or None: its state, current version, owner and status.

        Returns
        -------
        Incident or None
            None when no incident has the key ``incident``.
        """
        ...

    def load_active(self) -> list[Incident]:
        """Every active incident with a current alert, by key: what a new Targeter resumes.

        Returns
        -------
        list of Incident
            Sorted by key; empty when none is active.
        """
        ...

    def warm(self, incident: str) -> int:
        """Load the devices claimed for ``incident`` into this handle (optional, for speed).

        Each handle remembers the devices it has seen claimed per incident and leaves them out
        of later claims' statements (claims are never deleted, so that is always safe); the
        database still decides every other device. A handle opened after a restart knows none:
        call this for each active incident (in the background, after
        :meth:`load_active`) so the first Update over a large incident sends only its new
        devices. Memory: about 8 bytes per integer id, more for string ids, until the incident
        is cancelled or expired (by any process: :meth:`load_active` forgets the devices of
        every incident it does not list) or the handle closed.

        Parameters
        ----------
        incident : str
            The incident key.

        Returns
        -------
        int
            How many devices are claimed for it.
        """
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...
