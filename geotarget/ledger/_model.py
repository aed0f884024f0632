"""Values shared by every store: device ids, delivery keys, and what the operations return."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from geotarget._validate import (
    LONE_SURROGATE,
    is_integer,
    iterable,
    nul_rows,
    surrogate_rows,
    typed,
    unmasked,
)
from geotarget._validate import shown as shown_value
from geotarget.alerts._values import MAX_CAP_ID
from geotarget.errors import DocumentError, InvalidInput, InvalidType, StoreCorrupt
from geotarget.positions import _MAX_ID_CHARS
from geotarget.rollout._time import wall_time_problem

if TYPE_CHECKING:
    from geotarget.alerts import Alert

DeviceId = str | int
IdArray = npt.NDArray[Any]
DeviceIds = Iterable[DeviceId] | IdArray

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
#: The longest text device id: that of a :class:`~geotarget.positions.Positions` id, so a
#: device the stores hold is one a snapshot can hold, and every store takes it (PostgreSQL's
#: index refuses a key past about 2,700 bytes, which it reported as a server out of reach).
MAX_DEVICE_CHARS = _MAX_ID_CHARS
#: The most UTF-8 bytes of an incident key or version id: that of a CAP sender and identifier
#: of :data:`~geotarget.alerts._values.MAX_CAP_ID` characters each, joined by ``/`` (a
#: character takes at most four bytes, and so does a sender's ``/`` or ``%`` written ``%2F``
#: or ``%25``), which every store can hold.
MAX_TOKEN_BYTES = 4 * MAX_CAP_ID + 1 + 4 * MAX_CAP_ID
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class DeliveryKind(enum.Enum):
    """What a delivery carries: the alert itself, or the retraction of a cancelled alert."""

    ALERT = "alert"
    RETRACTION = "retraction"


class ClaimStatus(enum.Enum):
    """Whether a claim was made, and if not, why (decided in the same transaction)."""

    CLAIMED = "claimed"
    """The incident is active and ``version`` is its current version: new devices claimed."""
    CANCELLED = "cancelled"
    """The incident was cancelled: nothing claimed."""
    EXPIRED = "expired"
    """The incident expired: nothing claimed."""
    SUPERSEDED = "superseded"
    """``version`` is not the incident's current version any more: nothing claimed."""


class IncidentState(enum.Enum):
    """The lifecycle state of an incident in a store."""

    ACTIVE = 0
    CANCELLED = 1
    EXPIRED = 2
    #: One chain with another incident, which its versions and deliveries joined: a message
    #: naming versions of both (a chain whose Updates name only their predecessor, seen out of
    #: order, starts a second incident until one links them). Its versions now resolve to that
    #: incident (:meth:`~geotarget.ledger.DeliveryLedger.lookup_version`), its delivery keys
    #: are confirmed there, and it claims nothing more.
    MERGED = 3


class Transition(enum.Enum):
    """What :meth:`~geotarget.ledger.DeliveryLedger.admit` did with a message."""

    STARTED = "started"
    """A new incident, with this version as its current alert."""
    UPDATED = "updated"
    """This version became the incident's current alert (it names the current one, or is
    the newest by ``sent`` where neither names the other)."""
    SAME = "same"
    """The very same version was admitted before (equal content): nothing changed."""
    SUPERSEDED = "superseded"
    """A version older than the current one (named by it, or sent earlier where neither
    names the other): recorded, not current."""
    CANCELLED = "cancelled"
    """The incident was cancelled before (or the version was cancelled early): refused."""
    RETRACTED = "retracted"
    """This Cancel ended the incident; :attr:`Admission.retraction` lists whom to tell."""
    REMEMBERED = "remembered"
    """A Cancel naming no known version: its references are remembered as cancelled."""
    CONFLICT = "conflict"
    """The version id was seen before with different content: refused, nothing changed."""
    NOT_AUTHORISED = "not_authorised"
    """An Update or Cancel from another sender, or with another status: refused."""
    EXPIRED = "expired"
    """The incident expired: refused."""


def shown(value: object, limit: int = 80) -> str:
    """A caller's value as an error message shows it, cut to ``limit`` characters.

    A key or id of megabytes must not become a message of megabytes; a huge int is shown
    by its size (:func:`geotarget._validate.shown`: Python refuses to turn an int of more
    than 4,300 digits into text), also inside a container, whose ``repr`` would fail on it.
    """
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value):,} characters)"
    text = shown_value(value)  # (it names a container holding a huge int by its type)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def check_token(name: str, value: object) -> str:
    """A non-empty str without whitespace (incident keys, version ids: CAP identifiers)."""
    if not isinstance(value, str):
        raise InvalidType(f"{name} must be a str (got {type(value).__name__}: {shown(value)})")
    if (
        not value
        or any(c.isspace() for c in value)
        or "\x00" in value
        or LONE_SURROGATE.search(value)
    ):
        raise InvalidInput(
            f"{name} must be a non-empty str without whitespace, NUL or lone surrogate, like a "
            f"CAP identifier (got {shown(value)})"
        )
    if len(value) > MAX_TOKEN_BYTES // 4 and len(value.encode()) > MAX_TOKEN_BYTES:
        raise InvalidInput(
            f"{name} must be at most {MAX_TOKEN_BYTES:,} bytes in UTF-8, as the id of a CAP "
            f"sender and identifier of at most {MAX_CAP_ID} characters each (got "
            f"{shown(value)})"
        )
    return value


#: The longest lease: a delivery not confirmed within it is offered again.
MAX_LEASE = timedelta(days=30)
#: Times the store keeps lie before this instant, so that a time plus the longest lease is
#: still a datetime (``datetime.max`` is 9999-12-31).
LAST = datetime(9999, 12, 1, tzinfo=timezone.utc)


def at_micros(at: object) -> int:
    """:func:`micros` of a caller's ``at`` ("now"), which must be a real clock reading.

    A ``ZoneInfo`` wall time the clocks skip (02:30 on the night they jump to 03:00) names no
    instant: it is refused, as the Targeter refuses it, never read as Python's guess.
    """
    us = micros("at", at)
    assert isinstance(at, datetime)
    problem = wall_time_problem(at)
    if problem is not None:
        raise InvalidInput(f"at must be a real clock reading: {problem}")
    return us


def micros(name: str, at: object) -> int:
    """A timezone-aware datetime as integer microseconds since 1970-01-01T00:00Z."""
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(f"{name} must be a timezone-aware datetime (got {typed(at)})")
    try:
        utc = at.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00+14:00 or 9999-12-31T23:00-14:00
        raise InvalidInput(
            f"{name} must lie within the years 1 to 9999 in UTC (got {at.isoformat()})"
        ) from None
    if utc >= LAST:
        raise InvalidInput(
            f"{name} must lie before {LAST.isoformat()}, leaving room for a lease "
            f"(got {at.isoformat()})"
        )
    return (at - _EPOCH) // timedelta(microseconds=1)


def lease_micros(lease: object) -> int:
    """A lease as a positive number of microseconds, at most :data:`MAX_LEASE`.

    A lease under a microsecond (a ``pandas.Timedelta`` of nanoseconds) is refused: the stores
    count whole microseconds, so it would be no lease at all (due at once, in the same call).
    """
    if not isinstance(lease, timedelta) or lease < timedelta(microseconds=1) or lease > MAX_LEASE:
        raise InvalidInput(
            f"lease must be a timedelta > 0 (at least one microsecond) and at most "
            f"{MAX_LEASE.days} days (got {shown(lease)})"
        )
    return lease // timedelta(microseconds=1)


def from_micros(us: int) -> datetime:
    """The inverse of :func:`micros` (UTC)."""
    return _EPOCH + timedelta(microseconds=int(us))


def device_batch(device_ids: DeviceIds) -> IdArray:
    """Validated device ids as an ``int64`` or ``str_`` array, in input order, duplicates kept.

    Integer and string numpy arrays pass without a Python loop; other iterables are checked
    element by element (a numpy integer is the int it holds). A mix of ``int`` and ``str``
    becomes the canonical text of each.
    """
    unmasked("device_ids", device_ids)
    if isinstance(device_ids, np.ndarray) and device_ids.dtype.kind in "iu":
        if device_ids.dtype == np.uint64 and device_ids.size and device_ids.max() > _I64_MAX:
            raise InvalidInput("device_ids must fit in a signed 64-bit integer")
        arr = device_ids.astype(np.int64, copy=False).reshape(-1)
    elif isinstance(device_ids, np.ndarray) and device_ids.dtype.kind == "U":
        arr = device_ids.reshape(-1)
        empty = np.char.str_len(arr.astype(np.str_, copy=False)) == 0
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise InvalidInput(f"device_ids[{row}] must be a non-empty str (got '')")
        _refuse_bad_text(arr.astype(np.str_, copy=False))
    else:
        if isinstance(device_ids, (str, bytes)) or not iterable(device_ids):
            raise InvalidType(
                f"device_ids must be a sequence of ids, not one {type(device_ids).__name__}"
            )
        seq = device_ids.tolist() if isinstance(device_ids, np.ndarray) else list(device_ids)
        arr = _from_list(seq)
        if arr.dtype.kind == "U":
            _refuse_bad_text(arr.astype(np.str_, copy=False))
    return arr


def _too_long(i: int, text: str) -> InvalidInput:
    return InvalidInput(
        f"device_ids[{i}] must be at most {MAX_DEVICE_CHARS} characters, as a Positions id "
        f"(got {shown(text)})"
    )


def _refuse_bad_text(arr: npt.NDArray[np.str_]) -> None:
    """Refuse text ids too long, or holding a NUL or a lone surrogate, naming the first one."""
    if arr.size and arr.dtype.itemsize // 4 > MAX_DEVICE_CHARS:
        long = np.char.str_len(arr) > MAX_DEVICE_CHARS
        if long.any():
            row = int(np.flatnonzero(long)[0])
            raise _too_long(row, str(arr[row]))
    for rows, rule in (
        (nul_rows(arr), "must not contain NUL"),
        (surrogate_rows(arr), "must be valid Unicode (it holds a lone surrogate)"),
    ):
        if rows.any():
            row = int(np.flatnonzero(rows)[0])
            raise InvalidInput(f"device_ids[{row}] {rule} (got {shown(str(arr[row]))})")


def _from_list(seq: list[Any]) -> IdArray:
    strs = False
    ints = False
    for i, d in enumerate(seq):
        if isinstance(d, np.integer) and is_integer(d):
            # a numpy integer is an int (``list(ids)`` of an int array, as a numpy array is);
            # its timedelta64 subclass is no id
            d = seq[i] = int(d)
        if isinstance(d, bool) or not isinstance(d, (str, int)):
            raise InvalidType(f"device_ids[{i}] must be a str or an int (got {shown(d)})")
        if isinstance(d, str):
            if not d:
                raise InvalidInput(f"device_ids[{i}] must be a non-empty str (got '')")
            if "\x00" in d:
                raise InvalidInput(f"device_ids[{i}] must not contain NUL (got {shown(d)})")
            if len(d) > MAX_DEVICE_CHARS:  # (before an array as wide as it is made of all)
                raise _too_long(i, d)
            strs = True
        else:
            if not _I64_MIN <= d <= _I64_MAX:
                raise InvalidInput(
                    f"device_ids[{i}] must fit in a signed 64-bit integer (got {shown(d)})"
                )
            ints = True
    if not seq:
        return np.array([], dtype=np.str_)
    if ints and not strs:
        return np.array(seq, dtype=np.int64)
    return np.array([str(d) for d in seq], dtype=np.str_)


def canonical_text(arr: IdArray) -> npt.NDArray[np.str_]:
    """The canonical text of each id: ``str(i)`` for integers, strings as they are."""
    if arr.dtype.kind == "U":
        return arr
    if arr.size == 0:
        return np.array([], dtype=np.str_)
    return arr.astype(np.str_)


def delivery_keys(incident: str, version: str, devices: npt.NDArray[np.str_]) -> IdArray:
    """``"{incident} {version} {device}"`` for each device (see :func:`parse_key`)."""
    if devices.size == 0:
        return np.array([], dtype=np.str_)
    return np.char.add(f"{incident} {version} ", devices)


def parse_key(i: int, key: object) -> tuple[str, str, str]:
    """Split a delivery key into (incident, version, device); a precise error otherwise."""
    if not isinstance(key, str):
        raise InvalidType(f"keys[{i}] must be a str (got {shown(key)})")
    parts = key.split(" ", 2)
    if len(parts) != 3 or not all(parts):
        raise InvalidInput(
            f"keys[{i}] must be a delivery key 'incident version device' (got {shown(key)})"
        )
    return parts[0], parts[1], parts[2]


class Claims:
    """Deliveries of one incident and version that the caller must push now.

    Each is *pending* until confirmed (:meth:`~geotarget.ledger.DeliveryLedger.confirm`); a
    pending delivery whose lease ran out is offered again by
    :meth:`~geotarget.ledger.DeliveryLedger.redeliver` with the same key.

    .. versionadded:: 0.1.0

    Attributes
    ----------
    incident, version : str
        The incident key and the version id (of the alert, or of the Cancel for a retraction).
    kind : DeliveryKind
        The alert, or its retraction.
    status : ClaimStatus
        ``CLAIMED``, or why nothing was claimed.
    positions : numpy.ndarray of int64
        For :meth:`~geotarget.ledger.DeliveryLedger.claim`: where each claimed device is in the
        caller's batch (its first occurrence), ascending. Otherwise ``0 .. len - 1``.
    lease_until : datetime or None
        When the pending deliveries come back from ``redeliver`` unless confirmed.

    Notes
    -----
    Immutable: its attributes cannot be set and its arrays are read-only.
    """

    __slots__ = (
        "_devices",
        "_source",
        "incident",
        "kind",
        "lease_until",
        "positions",
        "status",
        "version",
    )
    incident: str
    version: str
    kind: DeliveryKind
    status: ClaimStatus
    _source: IdArray
    positions: npt.NDArray[np.int64]
    lease_until: datetime | None
    _devices: npt.NDArray[np.str_] | None

    def __init__(
        self,
        *,
        incident: str,
        version: str,
        kind: DeliveryKind,
        status: ClaimStatus,
        source: IdArray,
        positions: npt.NDArray[np.int64],
        lease_until: datetime | None,
    ) -> None:
        # Immutable, as the ledger's other results: set once here, read-only arrays.
        positions = positions.view()
        positions.flags.writeable = False
        setattr_ = object.__setattr__
        setattr_(self, "incident", incident)
        setattr_(self, "version", version)
        setattr_(self, "kind", kind)
        setattr_(self, "status", status)
        setattr_(self, "_source", source)
        setattr_(self, "positions", positions)
        setattr_(self, "lease_until", lease_until)
        setattr_(self, "_devices", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise attrs.exceptions.FrozenInstanceError

    def __delattr__(self, name: str) -> None:
        raise attrs.exceptions.FrozenInstanceError

    def __getstate__(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in ("positions", "_devices"):  # (unpickled arrays are writeable)
            if state[name] is not None:
                state[name].flags.writeable = False
        for name in self.__slots__:
            object.__setattr__(self, name, state[name])

    def __len__(self) -> int:
        return int(self.positions.size)

    def __repr__(self) -> str:
        return (
            f"Claims(incident={self.incident!r}, version={self.version!r}, kind={self.kind.name},"
            f" status={self.status.name}, n={len(self)})"
        )

    def ids(self) -> IdArray:
        """The claimed devices as the caller gave them (``int64`` or ``str_``)."""
        return self._source[self.positions]

    @property
    def devices(self) -> npt.NDArray[np.str_]:
        """The claimed devices' canonical text ids, in :attr:`positions` order."""
        devices = self._devices
        if devices is None:
            devices = canonical_text(self.ids())
            devices.flags.writeable = False
            object.__setattr__(self, "_devices", devices)
        return devices

    def keys(self) -> IdArray:
        """The delivery key of each device: ``"{incident} {version} {device}"``.

        Stable across re-offers and restarts: pass it to the push service as the idempotency or
        collapse key so the app shows the alert once, and back to ``confirm``.
        """
        return delivery_keys(self.incident, self.version, self.devices)


def stored_claims(
    incident: str,
    version: str,
    kind: DeliveryKind,
    status: ClaimStatus,
    devices: npt.NDArray[np.str_],
    lease_until: datetime | None,
) -> Claims:
    """Deliveries a store read back: canonical text ``devices`` in order (positions 0 .. n-1)."""
    return Claims(
        incident=incident,
        version=version,
        kind=kind,
        status=status,
        source=devices,
        positions=np.arange(devices.size, dtype=np.int64),
        lease_until=lease_until,
    )


def empty_claims(incident: str, version: str, kind: DeliveryKind, status: ClaimStatus) -> Claims:
    """No deliveries (a refused or empty claim)."""
    return stored_claims(incident, version, kind, status, np.array([], dtype=np.str_), None)


def _read_only(array: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """A read-only view of ``array`` (a frozen result's arrays cannot be written either)."""
    view: npt.NDArray[np.int64] = np.asarray(array).view()
    view.flags.writeable = False
    return view


@attrs.frozen(eq=False)
class Confirmation:
    """What :meth:`~geotarget.ledger.DeliveryLedger.confirm` did with each key or device.

    Each array holds positions into the caller's input (duplicates count once, at their first
    position).

    .. versionadded:: 0.1.0

    Attributes
    ----------
    confirmed : numpy.ndarray of int64
        Pending deliveries confirmed now.
    already : numpy.ndarray of int64
        Deliveries confirmed before: nothing changed (a delivery is never confirmed twice).
    unknown : numpy.ndarray of int64
        Keys or devices with no delivery (never claimed, or another version's key).

    Notes
    -----
    Immutable: its attributes cannot be set and its arrays are read-only.
    """

    confirmed: npt.NDArray[np.int64] = attrs.field(converter=_read_only)
    already: npt.NDArray[np.int64] = attrs.field(converter=_read_only)
    unknown: npt.NDArray[np.int64] = attrs.field(converter=_read_only)


@attrs.frozen
class Incident:
    """An incident as the store holds it.

    .. versionadded:: 0.1.0

    Attributes
    ----------
    key : str
        The incident key (``"{sender}/{identifier}"`` of its first version, by convention).
    state : IncidentState
        ``ACTIVE``, ``CANCELLED`` or ``EXPIRED``.
    version : str or None
        The current version id; None when the incident was only ever claimed or cancelled.
    document : str or None
        The current version as a CAP 1.2 document (:func:`geotarget.cap.dumps`).
    changed_at : datetime
        When the state or the current version last changed.
    released : str or None
        The version whose delivery began (the last version claimed for): a
        :class:`~geotarget.targeting.Targeter` streams the incident to fresh positions only
        while it is the current version.
    owner : str or None
        The sender the incident belongs to (that of its first version, also when an Update
        started it before that version arrived): an Update or Cancel is admitted only from
        a sender that may act for it. None for an incident no message started (only
        claimed, through :meth:`~geotarget.ledger.DeliveryLedger.claim`).
    status : str or None
        The incident's CAP status (``"Actual"``, ``"Exercise"``, ``"Test"``): an Update or
        Cancel is admitted only with the same status. It is that of the message that
        started the incident, also when no version of it was ever current (a Cancel that
        came first ended it). None for an incident no message started.
    cancelled_by : str or None
        The version id of the Cancel that ended the incident (the version its retractions
        are keyed by), also once it was merged into another; None for one no Cancel ended.

    .. versionchanged:: 0.1.0
       ``owner``, ``status`` and ``cancelled_by``.
    """

    key: str
    state: IncidentState
    version: str | None
    document: str | None
    changed_at: datetime
    released: str | None = None
    owner: str | None = None
    status: str | None = None
    cancelled_by: str | None = None

    @property
    def alert(self) -> Alert | None:
        """The current version, read from :attr:`document` (None without a document).

        Raises :class:`~geotarget.errors.StoreCorrupt` for a document this build cannot read.
        """
        if self.document is None:
            return None
        return stored_alert(self.document, f"the current version of incident {self.key!r}")


def stored_alert(document: str, what: str) -> Alert:
    """A CAP document the store holds, read back; :class:`StoreCorrupt` if it cannot be.

    A document the store wrote always reads back. One that does not was changed by another
    program, or written by a later geotarget: the fault is the store's, not the caller's
    (never :class:`~geotarget.errors.InvalidCAP`, which blames the document a caller sent).
    """
    from geotarget import cap

    try:
        return cap.loads(document)
    except (DocumentError, InvalidInput) as err:
        said = " ".join(line.strip() for line in str(err).splitlines()[:2])
        raise StoreCorrupt(
            f"the delivery store holds {what} as a document this geotarget cannot read "
            f"({shown(said, 200)}): it was changed by another program or written by a later "
            "geotarget; restore the store from a backup, or open it with the geotarget that "
            "wrote it"
        ) from err


@attrs.frozen
class Admission:
    """The outcome of admitting one Alert, Update or Cancel into a store.

    .. versionadded:: 0.1.0

    Attributes
    ----------
    transition : Transition
        What happened (see :class:`Transition`).
    version : str
        The message's version id, ``"{sender}/{identifier}"``.
    incident : Incident or None
        The incident the message belongs to, as it is after the call (None for
        ``REMEMBERED``).
    retraction : Claims or None
        For ``RETRACTED``: a pending retraction for every device ever claimed for the incident.
    stored_document : str or None
        For ``CONFLICT``: the CAP document first stored under this version id.
    why : str
        For ``NOT_AUTHORISED``, ``SUPERSEDED`` and a Cancel that came first: why, in words;
        for ``CANCELLED`` after a merge into a cancelled incident, the retractions it made
        due.
    also_cancelled : tuple of str
        For a Cancel naming versions of several incidents: the keys of the other incidents it
        ended (``incident`` is the first it may act for). Their retractions are pending and due
        at once, for the next :meth:`~geotarget.ledger.DeliveryLedger.redeliver`.
    merged : tuple of str
        For an Alert or Update naming versions of other incidents it may act for: their keys.
        They were one chain with ``incident`` (split by the order its messages arrived in), so
        their versions and deliveries joined it (:attr:`IncidentState.MERGED`): each device is
        told the chain once, and a Cancel naming any of its versions retracts from all.
    """

    transition: Transition
    version: str
    incident: Incident | None
    retraction: Claims | None = None
    stored_document: str | None = None
    why: str = ""
    also_cancelled: tuple[str, ...] = ()
    merged: tuple[str, ...] = ()
