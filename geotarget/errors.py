"""The one exception family of geotarget.

Every error geotarget raises on purpose is a :class:`GeotargetError`. Each subclass also
inherits the builtin exception it refines, so ``except ValueError`` keeps working for callers
that do not know geotarget::

    GeotargetError
    ├── InvalidInput (ValueError)           a value breaks a documented rule
    │   ├── InvalidCoordinates              NaN/inf, lat outside [-90, 90], lon outside [-180, 180]
    │   ├── InvalidArea                     bad circle, ring, polygon or area
    │   │   └── InvalidGeoJSON              GeoJSON of the wrong shape or type
    │   ├── InvalidAlert                    an alert that breaks the alert model
    │   ├── InvalidPositions                bad device rows (the rows are named)
    │   ├── InvalidRegions                  bad region data
    │   └── DuplicateIdentifier             an alert id re-used with different content
    ├── InvalidType (TypeError)             a value of the wrong type (bool for a number)
    ├── InvalidSignature (ValueError)       an XML-DSig signature that does not verify
    │   └── MissingSignature                no signature where one is required
    ├── DocumentError (ValueError)          a whole document with every problem listed
    │   ├── InvalidCAP                      a CAP 1.2 document
    │   └── InvalidPolicy                   a rollout policy file
    ├── UnknownCode (KeyError)              a region code or key that does not exist
    ├── MissingExtra (ImportError)          an optional extra is not installed
    ├── ClusterError (RuntimeError)         the Dask cluster lost work or did not answer in time
    └── StoreError (OSError)                the delivery store failed; nothing was applied
        ├── StoreUnavailable                cannot open or reach it (missing directory, server down)
        ├── StoreReadOnly                   it cannot be written (read-only file or directory)
        ├── StoreCorrupt                    the file is not a geotarget store
        ├── StoreBusy                       another writer held its lock past the busy timeout
        └── StoreFull                       the disk or the database is full

Messages name the field, state the rule and show the value, for example
``radius_m must be a finite number > 0 and <= 1000000 (got -3.0)``. Every error pickles and
copies as it is (type, message and attributes such as ``problems``), so one raised on a Dask
worker or in a process pool reaches the caller unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "ClusterError",
    "DocumentError",
    "DuplicateIdentifier",
    "GeotargetError",
    "InvalidAlert",
    "InvalidArea",
    "InvalidCAP",
    "InvalidCoordinates",
    "InvalidGeoJSON",
    "InvalidInput",
    "InvalidPolicy",
    "InvalidPositions",
    "InvalidRegions",
    "InvalidSignature",
    "InvalidType",
    "MissingExtra",
    "MissingSignature",
    "Problem",
    "StoreBusy",
    "StoreCorrupt",
    "StoreError",
    "StoreFull",
    "StoreReadOnly",
    "StoreUnavailable",
    "UnknownCode",
]


def __dir__() -> list[str]:
    return __all__


def _restored(
    cls: type[BaseException], args: tuple[object, ...], state: dict[str, object]
) -> object:
    """An exception as ``_Rebuilt.__reduce__`` pickled it: its message and attributes."""
    err = cls.__new__(cls, *args)
    err.args = args
    err.__dict__.update(state)
    return err


class _Rebuilt:
    """Pickled, copied and deep-copied as it is, not by calling ``__init__`` with ``args``.

    An exception is pickled as ``cls(*args)``; one whose ``__init__`` takes other arguments
    than its message (:class:`DocumentError`'s problems, :class:`DuplicateIdentifier`'s
    version id) could not be rebuilt so: a Dask worker's or a process pool's error would reach
    the caller as a TypeError or AttributeError from unpickling instead.
    """

    __slots__ = ()

    def __reduce__(self) -> tuple[object, ...]:
        assert isinstance(self, BaseException)
        return (_restored, (type(self), self.args, dict(self.__dict__)))


class GeotargetError(Exception):
    """Base class of every exception geotarget raises on purpose."""


class InvalidInput(GeotargetError, ValueError):
    """A value breaks a documented rule."""


class InvalidCoordinates(InvalidInput):
    """A longitude or latitude is not finite or out of range, or arrays do not match."""


class InvalidArea(InvalidInput):
    """A circle, ring, polygon or area breaks a rule (size, ring validity, holes)."""


class InvalidGeoJSON(InvalidArea):
    """GeoJSON input that is malformed or of an unsupported type."""


class InvalidAlert(InvalidInput):
    """An alert, info block or message that breaks the alert model."""


class InvalidPositions(InvalidInput):
    """Device position rows that break a rule; the message names the rows."""


class InvalidRegions(InvalidInput):
    """Region data that cannot form a valid region set."""


class DuplicateIdentifier(_Rebuilt, InvalidInput):
    """An alert version id ``(sender, identifier)`` re-used with different content.

    CAP requires identifiers to be unique per sender; re-using one for a different message
    would make every earlier decision about it ambiguous, so nothing is changed.

    .. versionadded:: 0.1.0

    Parameters
    ----------
    sender, identifier : str
        The version id.
    field : str
        The first differing field, as a path (e.g. ``infos[0].areas[0].geometry``).
    stored, received : str or None
        That field's value in the message first seen and in this one, as text for the message
        (None: not said).
    """

    def __init__(
        self,
        sender: str,
        identifier: str,
        field: str,
        stored: str | None = None,
        received: str | None = None,
    ) -> None:
        self.sender = sender
        self.identifier = identifier
        self.field = field
        self.stored = stored
        self.received = received
        said = (
            "" if stored is None or received is None else f": stored {stored}, received {received}"
        )
        super().__init__(
            f"identifier {identifier!r} of sender {sender!r} must be unique: it was already "
            f"used for a message with different content (first difference: {field}{said})"
        )


class InvalidType(GeotargetError, TypeError):
    """A value of the wrong type, such as ``bool`` where a number is expected."""


class InvalidSignature(GeotargetError, ValueError):
    """A signed document whose XML-DSig signature does not verify against the pinned certificate.

    The message says what failed: the digest of the signed content (the document was changed
    after signing), the signature value (another key signed it), the certificate (expired, not
    yet valid) or the signature's form (not enveloped, not over the whole ``<alert>``, an
    algorithm that is not accepted).

    .. versionadded:: 0.1.0
    """


class MissingSignature(InvalidSignature):
    """A document without the XML-DSig signature that was required.

    .. versionadded:: 0.1.0
    """


@attrs.frozen
class Problem:
    """One problem found in a document.

    Parameters
    ----------
    path : str
        Where the problem is, e.g. ``info[1]/area[0]/circle`` or ``kinds.tip_request.phases[2]``.
    message : str
        The rule broken and the offending value.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class DocumentError(_Rebuilt, GeotargetError, ValueError):
    """A document with one or more problems, all listed at once.

    Parameters
    ----------
    what : str
        What kind of document failed, e.g. ``"CAP document"``.
    problems : sequence of Problem
        Every problem found, in document order.
    """

    def __init__(self, what: str, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        # The same problem at several paths (the same area in each language's info block) is
        # listed once, with every path; ``problems`` keeps each.
        paths: dict[str, list[str]] = {}
        for p in self.problems:
            paths.setdefault(p.message, []).append(p.path)
        n = len(paths)
        lines = "\n".join(
            f"  - {Problem(', '.join(x for x in where if x), message)!s}"
            for message, where in paths.items()
        )
        super().__init__(f"{what} has {n} problem{'s' if n != 1 else ''}:\n{lines}")

    @property
    def paths(self) -> Sequence[str]:
        """The path of each problem, in order."""
        return [p.path for p in self.problems]


class InvalidCAP(DocumentError):
    """A CAP 1.2 document that cannot be read; ``.problems`` lists every problem.

    ``what`` names it in the message (default ``"CAP document"``; a
    :class:`~geotarget.targeting.Targeter` refusing an alert built in Python says ``"alert"``).
    """

    def __init__(self, problems: Iterable[Problem], what: str = "CAP document") -> None:
        super().__init__(what, problems)


class InvalidPolicy(DocumentError):
    """A rollout policy that cannot be used; ``.problems`` lists every problem.

    ``what`` names the document in the message (default ``"rollout policy"``;
    :func:`~geotarget.load_policy` names the policy file).
    """

    def __init__(self, problems: Iterable[Problem], what: str = "rollout policy") -> None:
        super().__init__(what, problems)


class UnknownCode(GeotargetError, KeyError):
    """A region code, kind or key that does not exist."""

    def __str__(self) -> str:
        # KeyError quotes its argument; show the message as written.
        return str(self.args[0]) if self.args else ""


class MissingExtra(_Rebuilt, GeotargetError, ImportError):
    """An optional extra is needed but not installed.

    Parameters
    ----------
    extra : str
        The name of the extra, e.g. ``"sweden"``.
    feature : str
        What needed it.
    """

    def __init__(self, extra: str, feature: str) -> None:
        self.extra = extra
        super().__init__(
            f"{feature} needs the optional extra {extra!r}: "
            f"pip install -e '.[{extra}]' from a geotarget checkout"
        )


class ClusterError(GeotargetError, RuntimeError):
    """The Dask cluster lost work geotarget asked of it, or did not answer in time.

    A worker died or its data was lost (raised by :mod:`geotarget.dask` after one retry), or a
    step of the workers finished no task for the ``timeout`` of
    :class:`~geotarget.dask.DaskTargeter` (a cluster without workers). The message says what
    was being done and whether the alert was admitted (it is never claimed for: target it
    again), and the cluster's own exception is chained as ``__cause__``.

    .. versionadded:: 0.1.0
    """


class StoreError(GeotargetError, OSError):
    """The delivery store failed; the operation was rolled back, nothing of it was applied.

    The message names the store (file or server) and the cause; the database driver's own
    exception is chained as ``__cause__``. It says so when that is not certain (a server's
    connection lost while committing), or when a call of several transactions
    (:meth:`~geotarget.targeting.Targeter.on_positions`, one per incident) had made some.
    """


class StoreUnavailable(StoreError):
    """The store cannot be opened or reached: a missing directory, a server that is down.

    Also a read or write the file system failed (SQLite's disk I/O error).
    """


class StoreReadOnly(StoreError):
    """The store cannot be written: a read-only file, directory or database."""


class StoreCorrupt(StoreError):
    """The file is not a database, or not one geotarget can use."""


class StoreBusy(StoreError):
    """Another writer held the store's lock for longer than the configured busy timeout."""


class StoreFull(StoreError):
    """The disk, file system or database is full, or a file reached the file size limit.

    (The process's ``ulimit -f``, ``RLIMIT_FSIZE``: the message names it.)
    """
