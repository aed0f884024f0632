"""What every delivery store shares: argument checking, claim outcomes, confirmation batches.

:class:`StoreBase` implements the public methods of :class:`~geotarget.ledger.DeliveryLedger`
once: it validates the arguments, turns times into microseconds, calls the store's primitive
(``_claim``, ``_confirm``, ...) inside the store's write section (:meth:`StoreBase._writing`: a
lock in memory, a transaction in SQL) and builds the result. The in-memory and SQL stores supply
only the primitives, so the protocol's rules cannot drift apart between them.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from geotarget.errors import InvalidType
from geotarget.ledger._batch import check_limit, confirmation, parse_keys
from geotarget.ledger._model import (
    Admission,
    Claims,
    ClaimStatus,
    Confirmation,
    DeliveryKind,
    DeviceIds,
    IdArray,
    at_micros,
    canonical_text,
    check_token,
    device_batch,
    empty_claims,
    from_micros,
    lease_micros,
    shown,
)

DEFAULT_LEASE = timedelta(seconds=60)
_Store = TypeVar("_Store", bound="StoreBase")

# A merged incident's chain goes on as another incident's: a claim of it is superseded.
_STATE = {
    0: ClaimStatus.CLAIMED,
    1: ClaimStatus.CANCELLED,
    2: ClaimStatus.EXPIRED,
    3: ClaimStatus.SUPERSEDED,
}


def claim_status(state: int, current: str | None, version: str) -> ClaimStatus:
    """Whether a claim of ``version`` may proceed on an incident in ``state`` at ``current``.

    CLAIMED when active at that version (or with no current version yet, before any admission);
    SUPERSEDED when another version is current; CANCELLED or EXPIRED when the incident ended.
    """
    status = _STATE[state]
    if status is ClaimStatus.CLAIMED and current not in (None, version):
        return ClaimStatus.SUPERSEDED
    return status


def _on_disk() -> None:
    """An admission already on disk (or in a store without one): nothing to wait for."""


def admit_behind(
    ledger: Any,
    alert: Any,
    *,
    at: datetime,
    lease: timedelta,
    may_act_for: Callable[[str, str], bool] | None,
) -> tuple[Admission, Callable[[], None]]:
    """``ledger.admit(...)``, its commit to disk running behind the caller where it can.

    Returns the admission as its transaction decided it and ``on_disk``, which returns once
    the admission is on disk and raises the :class:`~geotarget.errors.StoreError` of a commit
    that failed (the admission then never happened). The caller may compute meanwhile — the
    :class:`~geotarget.targeting.Targeter` matches the alert's area while the SQLite store
    waits for its ``fsync`` — but calls ``on_disk`` before it acts on the admission or
    returns; calling it again is harmless. Until then every other call on the store waits.
    A store that is not one of geotarget's (any :class:`~geotarget.ledger.DeliveryLedger`)
    admits as usual and returns ``on_disk`` done.
    """
    if isinstance(ledger, StoreBase):
        return ledger._admit_behind(alert, at_micros(at), lease_micros(lease), may_act_for)
    return ledger.admit(alert, at=at, lease=lease, may_act_for=may_act_for), _on_disk


class StoreBase(abc.ABC):
    """The public operations of a store over its primitives (see the module docstring)."""

    # -- primitives a store supplies ------------------------------------------------------------

    @abc.abstractmethod
    def _writing(self, durable: bool = False) -> AbstractContextManager[Any]:
        """The store's write section (all or nothing), yielding what the primitives take."""

    @abc.abstractmethod
    def _claim(
        self, key: str, version: str, batch: IdArray, at_us: int, lease_us: int
    ) -> tuple[ClaimStatus, npt.NDArray[np.int64]]:
        """Claim in one write section: the status, and the positions in ``batch`` claimed now."""

    @abc.abstractmethod
    def _confirm(
        self,
        tx: Any,
        incident: str,
        version: str | None,
        kind: int | None,
        devices: IdArray,
        at_us: int,
    ) -> npt.NDArray[np.int8]:
        """Confirm distinct canonical devices inside ``tx``: 0 now, 1 already, 2 unknown each.

        ``version`` selects the deliveries of that version (any kind), else ``kind`` does.
        """

    @abc.abstractmethod
    def _replaced(self, tx: Any, incident: str, version: str, current: bool = False) -> bool:
        """Inside ``tx``: whether ``version`` is an alert version of ``incident`` not current.

        ``current``: or the current one. See :func:`geotarget.ledger._lifecycle.replaced`.
        """

    @abc.abstractmethod
    def _version_incident(self, tx: Any, version: str) -> str | None:
        """Inside ``tx``: the incident a version id belongs to now (None: unknown)."""

    @abc.abstractmethod
    def _moved(self, tx: Any, incident: str, into: str) -> bool:
        """Inside ``tx``: whether ``incident``'s deliveries moved to ``into`` (see moved())."""

    @abc.abstractmethod
    def _due(self, at_us: int, limit: int | None) -> list[Claims]:
        """The due deliveries, read only."""

    @abc.abstractmethod
    def _versions_of(self, key: str) -> list[tuple[str, str | None]]:
        """The (version id, document) of incident ``key``, in the order recorded; read only."""

    @abc.abstractmethod
    def _pending(self, key: str, kind: int) -> list[Claims]:
        """Every unconfirmed delivery of ``kind`` of incident ``key``, read only."""

    @abc.abstractmethod
    def _redeliver(self, at_us: int, until_us: int, limit: int | None) -> list[Claims]:
        """Take the due deliveries and renew their lease to ``until_us``, atomically."""

    @abc.abstractmethod
    def _retract(self, key: str, version: str, at_us: int, lease_us: int) -> Claims:
        """Cancel the incident and make its retractions, atomically."""

    @abc.abstractmethod
    def _admit(
        self,
        alert: Any,
        at_us: int,
        lease_us: int,
        may_act_for: Callable[[str, str], bool] | None,
    ) -> Admission:
        """Apply one message to the incidents, atomically (on disk when it returns)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store's resources."""

    # -- the protocol ---------------------------------------------------------------------------

    def __enter__(self: _Store) -> _Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def claim(
        self,
        incident: str,
        device_ids: DeviceIds,
        *,
        version: str,
        at: datetime,
        lease: timedelta = DEFAULT_LEASE,
    ) -> Claims:
        """See :meth:`geotarget.ledger.DeliveryLedger.claim`."""
        key = check_token("incident", incident)
        vid = check_token("version", version)
        at_us = at_micros(at)
        lease_us = lease_micros(lease)
        batch = device_batch(device_ids)
        status, positions = self._claim(key, vid, batch, at_us, lease_us)
        if status is not ClaimStatus.CLAIMED or positions.size == 0:
            return empty_claims(key, vid, DeliveryKind.ALERT, status)
        return Claims(
            incident=key,
            version=vid,
            kind=DeliveryKind.ALERT,
            status=ClaimStatus.CLAIMED,
            source=batch,
            positions=positions,
            lease_until=from_micros(at_us + lease_us),
        )

    def confirm(self, keys: DeviceIds, *, at: datetime) -> Confirmation:
        """See :meth:`geotarget.ledger.DeliveryLedger.confirm`."""
        at_us = at_micros(at)
        arr, first, groups, devices = parse_keys(keys)
        state = np.full(arr.size, -1, dtype=np.int8)
        # Each group's rows in input order, from one sort: a comparison of every key with
        # every group was quadratic (20,000 keys of as many versions took seconds).
        names, inverse = np.unique(groups, return_inverse=True)
        order = np.argsort(inverse.reshape(-1), kind="stable")
        ends = np.cumsum(np.bincount(inverse.reshape(-1), minlength=names.size)).tolist()
        with self._writing() as tx:
            for g, start, end in zip(names.tolist(), [0, *ends][:-1], ends, strict=True):
                inc, ver = g.split(" ")
                sel = order[start:end]
                codes = self._confirm(tx, inc, ver, None, devices[sel], at_us)
                lost = np.flatnonzero(codes == 2)
                now = self._version_incident(tx, ver) if lost.size else None
                moved = False
                if now is not None and now != inc and self._moved(tx, inc, now):
                    # A key of an incident merged into another since (IncidentState.MERGED):
                    # its deliveries moved there with their versions.
                    inc, moved = now, True
                    codes[lost] = self._confirm(tx, inc, ver, None, devices[sel][lost], at_us)
                    lost = np.flatnonzero(codes == 2)
                if lost.size and self._replaced(tx, inc, ver, current=moved):
                    # A key of a version an Update replaced, confirmed late: its push told the
                    # device, whose delivery moved to the current version since (held or
                    # claimed again): that delivery is confirmed, never offered again. So is
                    # a key of a merged incident's version, current here or not: a device
                    # delivered in both incidents kept this one's delivery, of another version.
                    codes[lost] = self._confirm(tx, inc, None, 0, devices[sel][lost], at_us)
                state[first[sel]] = codes
        return confirmation(state)

    def confirm_devices(
        self,
        incident: str,
        device_ids: DeviceIds,
        *,
        at: datetime,
        kind: DeliveryKind = DeliveryKind.ALERT,
    ) -> Confirmation:
        """See :meth:`geotarget.ledger.DeliveryLedger.confirm_devices`."""
        key = check_token("incident", incident)
        at_us = at_micros(at)
        if not isinstance(kind, DeliveryKind):
            raise InvalidType(
                f"kind must be a DeliveryKind (DeliveryKind.ALERT or DeliveryKind.RETRACTION), "
                f"not {type(kind).__name__} (got {shown(kind)})"
            )
        batch = canonical_text(device_batch(device_ids))
        state = np.full(batch.size, -1, dtype=np.int8)
        with self._writing() as tx:  # (also when empty: a closed store says so)
            if batch.size:
                _, first = np.unique(batch, return_index=True)
                first = np.sort(first)
                code = 0 if kind is DeliveryKind.ALERT else 1
                codes = self._confirm(tx, key, None, code, batch[first], at_us)
                lost = np.flatnonzero(codes == 2)
                now = self._version_incident(tx, key) if lost.size else None
                if now is not None and now != key and self._moved(tx, key, now):
                    # An incident merged into another since (IncidentState.MERGED): its
                    # deliveries moved there, and its key, its first version's id, with them
                    # (as confirm() finds a key of it).
                    codes[lost] = self._confirm(tx, now, None, code, batch[first][lost], at_us)
                state[first] = codes
        return confirmation(state)

    def due(self, at: datetime, *, limit: int | None = None) -> list[Claims]:
        """See :meth:`geotarget.ledger.DeliveryLedger.due`."""
        return self._due(at_micros(at), check_limit(limit))

    def pending(self, incident: str, *, kind: DeliveryKind = DeliveryKind.ALERT) -> list[Claims]:
        """See :meth:`geotarget.ledger.DeliveryLedger.pending`."""
        key = check_token("incident", incident)
        if not isinstance(kind, DeliveryKind):
            raise InvalidType(
                f"kind must be a DeliveryKind (DeliveryKind.ALERT or DeliveryKind.RETRACTION), "
                f"not {type(kind).__name__} (got {shown(kind)})"
            )
        return self._pending(key, 0 if kind is DeliveryKind.ALERT else 1)

    def versions(self, incident: str) -> list[tuple[str, str | None]]:
        """See :meth:`geotarget.ledger.DeliveryLedger.versions`."""
        return self._versions_of(check_token("incident", incident))

    def redeliver(
        self, at: datetime, *, lease: timedelta = DEFAULT_LEASE, limit: int | None = None
    ) -> list[Claims]:
        """See :meth:`geotarget.ledger.DeliveryLedger.redeliver`."""
        at_us = at_micros(at)
        until = at_us + lease_micros(lease)
        return self._redeliver(at_us, until, check_limit(limit))

    def retract(
        self, incident: str, *, version: str, at: datetime, lease: timedelta = DEFAULT_LEASE
    ) -> Claims:
        """See :meth:`geotarget.ledger.DeliveryLedger.retract`."""
        key = check_token("incident", incident)
        vid = check_token("version", version)
        return self._retract(key, vid, at_micros(at), lease_micros(lease))

    def admit(
        self,
        alert: Any,
        *,
        at: datetime,
        lease: timedelta = DEFAULT_LEASE,
        may_act_for: Callable[[str, str], bool] | None = None,
    ) -> Admission:
        """See :meth:`geotarget.ledger.DeliveryLedger.admit`."""
        return self._admit(alert, at_micros(at), lease_micros(lease), may_act_for)

    def _admit_behind(
        self,
        alert: Any,
        at_us: int,
        lease_us: int,
        may_act_for: Callable[[str, str], bool] | None,
    ) -> tuple[Admission, Callable[[], None]]:
        """:meth:`_admit`, and a wait for its commit (see :func:`admit_behind`): done here."""
        return self._admit(alert, at_us, lease_us, may_act_for), _on_disk
