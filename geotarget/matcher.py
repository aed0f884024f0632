"""The fast point-in-area matcher: devices inside an area, and areas holding each point.

:class:`PositionIndex` answers "which devices are inside this alert area?" over a
:class:`~geotarget.Positions` snapshot; :class:`AreaIndex` answers the reverse, streaming
question "which active alert areas hold each of these fresh positions?"; :class:`LiveAreaIndex`
swaps :class:`AreaIndex` snapshots atomically for readers in other threads.

Both give exactly the answers of :meth:`geotarget.Area.contains` (boundaries inside, geodesic
circles equal to ``pyproj.Geod.inv`` decisions, polygon margins), fast:

* Devices are packed in Morton order into leaves of 32, with leaf and block bounding boxes (a
  packed R-tree), each leaf's bounding sphere in ECEF metres and each device's float32 ECEF
  offset from it. A query takes the leaves whose box meets the area's window, accepts or
  rejects whole leaves by exact bounds computed for those leaves only (the sphere against a
  circle's chord limits; the box against the cells a polygon's boundary passes through), and
  tests exactly only the devices of straddling leaves (see ``geotarget._index.plan``).
  Nothing is built or cached per area: the first query of a new area object costs what every
  later one does, and the cost grows with the area's size and the devices near it.
* Area parts are bucketed on a coarse lon/lat grid; a point looks up its bucket, then each
  candidate part's cell of a small raster, and only points in boundary cells are tested
  exactly (vectorised per kind of part, never a Python loop over points).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from geotarget import _sorted
from geotarget._index import plan
from geotarget._index.leaves import Leaves
from geotarget._validate import aware_us, lon_lat, lon_lat_arrays, shown
from geotarget.areas import Area, Circle, Polygon, foreign_type
from geotarget.errors import InvalidCoordinates, InvalidInput, InvalidType, UnknownCode
from geotarget.positions import LocationRule, Positions

__all__ = ["AreaIndex", "LiveAreaIndex", "PositionIndex"]


def __dir__() -> list[str]:
    return __all__


I32Array = npt.NDArray[np.int32]
I8Array = npt.NDArray[np.int8]
IntArray = npt.NDArray[np.intp]

#: Up to this many candidate leaves, every candidate device gets the exact test directly.
_FEW_LEAVES = 32
#: The same for a polygon (its candidates in its box through GEOS at ~80-150 ns each): its
#: boundary grid costs a quarter of a millisecond or more to build, which a new small
#: polygon's first query (a 1 km 16-gon: 86 leaves) paid twice over.
_FEW_POLYGON_LEAVES = 128


def _few(part: Circle | Polygon) -> int:
    """Candidate leaves up to which a part's devices are tested directly."""
    return _FEW_LEAVES if isinstance(part, Circle) else _FEW_POLYGON_LEAVES


#: Answers larger than 1/_BITMAP_SHARE of the snapshot are sorted through a bitmap.
_BITMAP_SHARE = 24


def _area(value: object) -> Area:
    if isinstance(value, Area):
        return value
    if isinstance(value, (Circle, Polygon)):
        return Area([value])
    raise InvalidType(f"area must be an Area, Circle or Polygon (got {foreign_type(value)})")


def _parts(value: object) -> tuple[Circle | Polygon, ...]:
    """The distinct parts of an area, or a lone circle or polygon (no :class:`Area` built)."""
    if isinstance(value, (Circle, Polygon)):
        return (value,)
    return _distinct(_area(value).parts)


def _distinct(parts: tuple[Circle | Polygon, ...]) -> tuple[Circle | Polygon, ...]:
    """``parts`` with each equal part once, in order (the union is the same).

    Every part is matched on its own, so a part written many times over (a CAP document
    repeating one polygon 10,000 times) cost its devices that many times: 3.5 s and 547 MB
    to find one polygon's 6,776 devices among 1.2 M, 25 s to classify them. Parts are first
    told apart by a key that reads no vertex list (a polygon's hash reads every vertex: some
    15 µs for a municipality of seven islands, on a first query); only when two keys meet are
    the parts compared whole.
    """
    if len(parts) < 2:
        return parts
    keys = {_part_key(p) for p in parts}
    if len(keys) == len(parts):  # (equal parts have equal keys: no two parts are equal)
        return parts
    return tuple(dict.fromkeys(parts))


def _part_key(part: Circle | Polygon) -> object:
    """A key equal parts share: a circle itself; a polygon's ring sizes and first vertex.

    (Rings are normalised, each from a fixed vertex, so equal polygons start alike.)
    """
    if isinstance(part, Circle):
        return part
    return (len(part.exterior), part.exterior[0], len(part.holes), part.margin_m)


def _sorted_unique(chunks: list[I32Array], n: int, repeats: bool) -> I32Array:
    """The rows of ``chunks`` ascending, without repeats when ``repeats`` says there may be some.

    A large answer (over 1/24 of the snapshot) is sorted through a bitmap of the snapshot's
    rows, which costs less than a comparison sort there; a small one by sorting
    (``_sorted.unique``).
    """
    if not chunks:
        return np.empty(0, dtype=np.int32)
    rows = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
    if rows.size * _BITMAP_SHARE > n:
        seen = np.zeros(n, dtype=np.bool_)
        seen[rows] = True
        return np.flatnonzero(seen).astype(np.int32)
    if repeats:
        return _sorted.unique(rows)
    # A chunk the query made owns its data (no base): sorted in place; a view of the index's
    # own arrays is copied first (np.sort's copy, without its Python wrapper).
    out: I32Array = rows if rows.base is None and rows.flags.writeable else rows.copy()
    out.sort()
    return out


# ---------------------------------------------------------------------------------------------
# PositionIndex
# ---------------------------------------------------------------------------------------------


class PositionIndex:
    """An immutable, bulk-built spatial index over a :class:`~geotarget.Positions` snapshot.

    Parameters
    ----------
    positions : Positions
        The snapshot to index. Rows without a fix are never returned by :meth:`query`.

    Raises
    ------
    InvalidType
        If ``positions`` is not a :class:`~geotarget.Positions` snapshot (a pandas or Polars
        frame, an Arrow table: the message names the reader that makes one).

    Notes
    -----
    Memory is about 35 bytes per device with a fix (float64 lon/lat in leaf order, an int32
    permutation, float32 ECEF offsets, leaf and block boxes and spheres) and nothing per area:
    a query allocates only temporaries proportional to the leaves near the area (a few hundred
    bytes per candidate leaf; for a polygon also a boundary grid of at most 2**18 cells of 6
    bytes and its edges cut into at most their number plus 2**17 pieces of about 100 bytes) and
    its answer, and keeps nothing. The index is safe to share between threads: it is never
    modified after construction.

    Examples
    --------
    >>> import datetime as dt
    >>> from geotarget import Circle, PositionIndex, Positions
    >>> now = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    >>> p = Positions(["a", "b", "c"], [18.0686, 18.0700, 18.2000], [59.3293, 59.3300, 59.3300],
    ...               observed_at=now)
    >>> index = PositionIndex(p)
    >>> index.query(Circle(18.0686, 59.3293, 500.0)).tolist()
    [0, 1]
    >>> index.count(Circle(18.0686, 59.3293, 500.0))
    2

    .. versionadded:: 0.1.0
    """

    # (``__weakref__``: a service keys per-snapshot caches on the index, or learns through
    # ``weakref.finalize`` that a dropped snapshot was freed; without it, TypeError.)
    __slots__ = ("__weakref__", "_leaves", "_no_fix", "_positions", "_seam")

    def __init__(self, positions: Positions) -> None:
        given: object = positions  # checked at run time: a frame was AttributeError
        if not isinstance(given, Positions):
            table = hasattr(type(given), "__arrow_c_stream__") or hasattr(given, "column_names")
            how = (
                "read a table or frame with geotarget.dask.positions_from_arrow(...)"
                if table
                else "build one with geotarget.Positions(ids, lon, lat, observed_at=...)"
            )
            raise InvalidType(
                f"positions must be a Positions snapshot (got {type(given).__name__}); {how}"
            )
        fix = positions.has_fix
        self._positions = positions
        self._leaves = Leaves(
            positions.lon, positions.lat, positions.accuracy_m, fix, positions.observed_at
        )
        no_fix = np.flatnonzero(~fix).astype(np.int32)
        no_fix.flags.writeable = False
        self._no_fix: I32Array = no_fix
        self._seam = _on_seam(positions)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "_positions": self._positions,
            "_leaves": self._leaves,
            "_no_fix": self._no_fix,
            "_seam": self._seam,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled (or deep-copied) index, its arrays read-only as when built."""
        self._positions = state["_positions"]
        self._leaves = state["_leaves"]
        no_fix = state["_no_fix"]
        no_fix.flags.writeable = False
        self._no_fix = no_fix
        self._seam = state["_seam"] if "_seam" in state else _on_seam(self._positions)
        self._seam.flags.writeable = False

    @property
    def positions(self) -> Positions:
        """The indexed snapshot."""
        return self._positions

    def __len__(self) -> int:
        return len(self._positions)

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's own arrays (not the snapshot's columns)."""
        return self._leaves.nbytes + int(self._no_fix.nbytes)

    # --- area → rows -------------------------------------------------------------------

    def query(
        self, area: Area | Circle | Polygon, *, observed_before: dt.datetime | None = None
    ) -> I32Array:
        """Rows of the devices inside ``area``, sorted ascending.

        Same semantics as :meth:`geotarget.Area.contains` on the snapshot's coordinates:
        boundaries are inside, circles are exact geodesic circles, margins are included. Rows
        without a fix are never returned.

        Parameters
        ----------
        area : Area, Circle or Polygon
            The area, margins included.
        observed_before : datetime.datetime, optional
            Only the devices whose fix was observed before this instant (timezone-aware), or
            whose ``observed_at`` is unknown: a fix of unknown age is never taken as fresh.
            The stale fixes in an area (as a kind's :class:`~geotarget.StaleRule` asks for
            them) cost in proportion to the leaves of 32 devices holding one, each leaf
            keeping its oldest fix's time, not to every device in the area. Compute it in UTC,
            ``at.astimezone(timezone.utc) - max_age``: Python subtracts a ``timedelta`` from a
            ``ZoneInfo`` datetime on its wall clock, an hour off across a DST change (03:15
            on Stockholm's October night less an hour is 02:15 summer time, two hours
            earlier).

        Returns
        -------
        numpy.ndarray of int32
            Sorted row indices into the snapshot.

        Raises
        ------
        InvalidType
            For an ``area`` that is not an Area, Circle or Polygon, or an ``observed_before``
            that is not a datetime.
        InvalidPositions
            For a naive ``observed_before``, a wall time its zone's clocks skip, or one outside
            the years 1 to 9999 in UTC.

        Examples
        --------
        >>> import datetime as dt
        >>> from geotarget import Polygon, PositionIndex, Positions
        >>> now = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
        >>> p = Positions([1, 2, 3], [18.0, 18.05, 18.1], [59.0, 59.05, 59.1], observed_at=now)
        >>> square = Polygon([(18.0, 59.0), (18.05, 59.0), (18.05, 59.05), (18.0, 59.05)])
        >>> PositionIndex(p).query(square).tolist()
        [0, 1]
        >>> PositionIndex(p).query(square, observed_before=now).tolist()
        []

        .. versionchanged:: 0.1.0
           ``observed_before``.
        """
        parts = _parts(area)
        if observed_before is None:
            return self._with_seam(self._rows(parts, None), parts)
        limit = aware_us(observed_before, "observed_before")
        rows = self._with_seam(self._rows(parts, limit), parts)
        observed = self._positions.observed_at.take(rows)
        return rows[~(observed >= limit)]  # NaT compares False: never fresh

    def _rows(self, parts: tuple[Circle | Polygon, ...], before: np.datetime64 | None) -> I32Array:
        """Sorted rows inside any of the parts (``before``: see :func:`plan.part_rows`)."""
        lv = self._leaves
        observed = None if before is None else self._positions.observed_at
        if len(parts) == 1:
            chunks = plan.part_rows(lv, parts[0], _few(parts[0]), before, observed)[0]
        else:
            circles = [p for p in parts if isinstance(p, Circle)]
            chunks = [plan.circles_rows(lv, circles, before)]
            for part in parts:
                if isinstance(part, Polygon):
                    chunks.extend(plan.part_rows(lv, part, _few(part), before, observed)[0])
        return _sorted_unique(chunks, len(self._positions), len(parts) > 1)

    def _with_seam(self, rows: I32Array, parts: tuple[Circle | Polygon, ...]) -> I32Array:
        """``rows`` and the fixes on the antimeridian that a polygon holds by their other spelling.

        The leaves hold a fix at the longitude written: one at -180 is not near a polygon whose
        edge runs along 180, yet it lies on that edge. (Circles measure geodesic distances,
        which know no seam.) Such fixes are few and kept apart (:func:`_on_seam`).
        """
        seam = self._seam
        polys = [p for p in parts if isinstance(p, Polygon)]
        if seam.size == 0 or not polys:
            return rows
        x, y = self._positions.lon[seam], self._positions.lat[seam]
        held = np.zeros(seam.size, dtype=np.bool_)
        for part in polys:
            held |= part.contains(x, y)  # either spelling (Polygon.contains)
        extra = seam[held]
        if extra.size == 0:
            return rows
        return np.union1d(rows, extra).astype(np.int32)

    def count(self, area: Area | Circle | Polygon) -> int:
        """How many devices are inside ``area`` (``len(query(area))``, without sorting).

        Examples
        --------
        >>> import datetime as dt
        >>> from geotarget import Circle, PositionIndex, Positions
        >>> now = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
        >>> p = Positions([1], [18.0], [59.0], observed_at=now)
        >>> PositionIndex(p).count(Circle(18.0, 59.0, 1.0))
        1
        """
        parts = _parts(area)
        if len(parts) > 1 or self._seam.size:
            return int(self.query(area).size)
        return plan.part_rows(self._leaves, parts[0], _few(parts[0]))[1]

    # --- classification ------------------------------------------------------------------

    @overload
    def classify(
        self,
        area: Area | Circle | Polygon,
        rule: LocationRule,
        at: dt.datetime,
        *,
        return_box: Literal[False] = False,
    ) -> tuple[I32Array, I8Array]: ...

    @overload
    def classify(
        self,
        area: Area | Circle | Polygon,
        rule: LocationRule,
        at: dt.datetime,
        *,
        return_box: Literal[True],
    ) -> tuple[I32Array, I8Array, tuple[float, float, float, float] | None]: ...

    def classify(
        self,
        area: Area | Circle | Polygon,
        rule: LocationRule,
        at: dt.datetime,
        *,
        return_box: bool = False,
    ) -> (
        tuple[I32Array, I8Array]
        | tuple[I32Array, I8Array, tuple[float, float, float, float] | None]
    ):
        """Classify the fixes near ``area`` under a location rule at time ``at``.

        Only rows **with a fix whose disk meets the area** are returned, the disk having radius
        ``rule.accuracy * accuracy_m`` around the fix. Each gets one
        :class:`~geotarget.Location` state:

        * ``UNKNOWN``: (with ``rule.max_age``) the fix is older than ``max_age`` at ``at``, or
          has no ``observed_at``.
        * ``INSIDE``: the fix is current and the area holds its whole disk: one part alone, or
          several together (for a radius of 0: the point is in the area, exactly as
          :meth:`query`).
        * ``AMBIGUOUS``: the fix is current and its disk meets the area, but the area does not
          hold it whole.

        Every other row is not returned: a fix whose disk is disjoint from the area is
        ``OUTSIDE``, however old it is, and a row **without a fix is never returned** (it has
        no position, so it cannot be near the area; callers that report devices without a fix
        find them with ``~positions.has_fix``). So the cost grows with the devices near the
        area (inside it grown by the largest disk radius), not with the snapshot.

        Disk containment is decided with geodesic distances for circles and in the polygon's
        metric frame for polygons (see :attr:`geotarget.Polygon.margin_error_bound_m`). The
        area is the union of its parts: a disk across the shared border of two adjacent
        polygons, or in the overlap of two circles, is ``INSIDE`` when the parts together
        hold it. Such a disk, met by several parts and held by none alone, is decided on the
        parts' union as one polygon (GEOS's; each circle drawn by its rim, with up to 256
        vertices, and a polygon's margin drawn near the disks less 4 % of it),
        conservatively: one whose boundary distance lies within a few millimetres plus the
        union frame's scale error of its radius (a thousandth for an area tens of kilometres
        across, about 3 % for one the size of Sweden), or whose disk reaches within 5 cm or
        1e-4 of a circle's radius of that circle's rim (``(k / 14,000)**2`` of it for an
        area of ``k`` circles, over 128), may stay ``AMBIGUOUS`` (never ``INSIDE`` wrongly).
        A circle that covers a pole, or whose reach times 1 + tan of its farthest latitude
        exceeds half the Earth's radius (over about 920 km at Stockholm, 700 km at Kiruna,
        400 km on Svalbard), cannot be drawn so and is left out of that union: the disks it
        holds only together with other parts stay ``AMBIGUOUS`` wherever they lie.
        A disk that a polygon's margin holds only by reaching over a strait, an inlet or a
        hole narrower than twice the margin (a boat in a fjord) is decided on the polygon
        near it grown by the margin (GEOS's) and may stay ``AMBIGUOUS`` within 2 % of the
        margin of that grown boundary.

        Parameters
        ----------
        area : Area, Circle or Polygon
            The area, margins included.
        rule : LocationRule
            How far a fix's accuracy disk reaches (``accuracy``) and how old it may be
            (``max_age``).
        at : datetime.datetime
            The classification time, timezone-aware.
        return_box : bool, default False
            Also return a box holding the returned rows' fixes.

        Returns
        -------
        rows : numpy.ndarray of int32
            Sorted rows of the fixes whose disk meets the area.
        states : numpy.ndarray of int8
            The :class:`~geotarget.Location` value (``INSIDE``, ``AMBIGUOUS`` or ``UNKNOWN``)
            of each of ``rows``.
        box : tuple of float or None
            Only with ``return_box``: ``(west, south, east, north)`` in degrees, holding the
            fix of every row returned (None when none is), known from the classification's
            own leaves and devices without gathering the rows' coordinates again. The targeting
            pipeline decides the regions of a large answer from it.

        Raises
        ------
        InvalidType
            For an ``area`` that is not an Area, Circle or Polygon, a ``rule`` that is not a
            LocationRule, an ``at`` that is not a datetime, or a ``return_box`` that is not a
            bool.
        InvalidPositions
            For a naive ``at``, a wall time its zone's clocks skip, or one outside the years 1
            to 9999 in UTC.

        .. versionchanged:: 0.1.0
           Only fixes whose disk meets the area are returned: stale fixes elsewhere and rows
           without a fix are no longer listed as ``UNKNOWN``.

        Examples
        --------
        >>> import datetime as dt
        >>> import numpy as np
        >>> from geotarget import Circle, Location, LocationRule, PositionIndex, Positions
        >>> now = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
        >>> p = Positions(["a", "b", "c", "d"], [18.0, 18.0, 18.0, np.nan],
        ...               [59.0, 59.0045, 59.1, np.nan], accuracy_m=[10, 100, 10, np.nan],
        ...               observed_at=[now, now, now, None])
        >>> rows, states = PositionIndex(p).classify(Circle(18.0, 59.0, 500.0),
        ...                                         LocationRule(), now)
        >>> [(int(r), Location(s).name) for r, s in zip(rows, states)]
        [(0, 'INSIDE'), (1, 'AMBIGUOUS')]

        .. versionchanged:: 0.1.0
           ``return_box``.
        """
        from geotarget._index import classify

        if not isinstance(rule, LocationRule):
            raise InvalidType(f"rule must be a LocationRule (got {type(rule).__name__})")
        if not isinstance(return_box, bool):
            raise InvalidType(f"return_box must be a bool (got {type(return_box).__name__})")
        whole = _area(area)
        parts = _distinct(whole.parts)
        if len(parts) < len(whole.parts):
            whole = Area(parts)
        rows, states, box = classify.classify(self._leaves, self._positions, whole, rule, at)
        if self._seam.size and any(isinstance(p, Polygon) for p in whole.parts):
            rows, states, box = self._seam_classify(whole, rule, at, rows, states, box)
        return (rows, states, box) if return_box else (rows, states)

    def _seam_classify(
        self,
        area: Area,
        rule: LocationRule,
        at: dt.datetime,
        rows: I32Array,
        states: I8Array,
        box: tuple[float, float, float, float] | None,
    ) -> tuple[I32Array, I8Array, tuple[float, float, float, float] | None]:
        """:meth:`classify`'s answer with the fixes on the antimeridian it missed as written.

        Each fix on the seam that the answer lacks is classified again at its other spelling
        (-180 for 180 and back); one whose disk meets the area so is added with that state.
        (A disk of some size is measured across the seam either way: this adds the exact
        fixes, radius 0, on a polygon's edge along 180.)
        """
        from geotarget._index import classify

        missing = self._seam[~np.isin(self._seam, rows)]
        if missing.size == 0:
            return rows, states, box
        pos = self._positions
        twin = Positions(
            np.arange(missing.size),
            -pos.lon[missing],
            pos.lat[missing],
            accuracy_m=pos.accuracy_m[missing],
            observed_at=pos.observed_at[missing],
        )
        t_rows, t_states, _ = classify.classify(
            Leaves(twin.lon, twin.lat, twin.accuracy_m, twin.has_fix, twin.observed_at),
            twin,
            area,
            rule,
            at,
        )
        if t_rows.size == 0:
            return rows, states, box
        added = missing[t_rows]
        all_rows = np.concatenate([rows, added])
        order = np.argsort(all_rows, kind="stable")
        lon, lat = pos.lon[added], pos.lat[added]
        w, s, e, n = box if box is not None else (np.inf, np.inf, -np.inf, -np.inf)
        grown = (min(w, lon.min()), min(s, lat.min()), max(e, lon.max()), max(n, lat.max()))
        return (
            all_rows[order].astype(np.int32),
            np.concatenate([states, t_states])[order].astype(np.int8),
            tuple(float(v) for v in grown),  # type: ignore[return-value]
        )


# ---------------------------------------------------------------------------------------------
# AreaIndex
# ---------------------------------------------------------------------------------------------


def _on_seam(positions: Positions) -> I32Array:
    """Rows whose fix lies on the antimeridian, written -180 or 180 (the same meridian)."""
    seam = np.flatnonzero(positions.has_fix & (np.abs(positions.lon) == 180.0)).astype(np.int32)
    seam.flags.writeable = False
    return seam


def _clean(areas: object) -> dict[str, Area]:
    """A mapping of alert id to area, each key and area checked (areas as :class:`Area`)."""
    if not isinstance(areas, Mapping):
        raise InvalidType(
            f"areas must be a mapping of alert id to Area (got {type(areas).__name__})"
        )
    return {_key(k): _area(v) for k, v in areas.items()}


def _key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidType(f"area keys must be non-empty str alert ids (got {shown(key)})")
    if "\x00" in key:
        # match returns keys in a numpy str array, which drops trailing NULs: "a\x00" came back
        # as "a" (another alert's id, or none), and "a" and "a\x00" were one key there.
        raise InvalidInput(
            f"area keys must be alert ids without NUL characters (got {shown(key)}): numpy "
            "str arrays drop trailing NULs, so match would return another id"
        )
    return key


class AreaIndex:
    """An immutable index of active alert areas keyed by alert id (which areas hold a point).

    Changes make a new snapshot (:meth:`with_area`, :meth:`without`); the old one is untouched,
    so readers holding it keep a consistent view. Share a changing index between threads with
    :class:`LiveAreaIndex`.

    Parameters
    ----------
    areas : mapping of str to Area, Circle or Polygon, optional
        Alert id → area. Ids are non-empty and hold no NUL character (:meth:`match` returns
        them in a numpy str array, which would drop a trailing one): else
        :class:`~geotarget.InvalidType` or :class:`~geotarget.InvalidInput`.

    Examples
    --------
    >>> from geotarget import AreaIndex, Circle
    >>> idx = AreaIndex({"fire": Circle(18.07, 59.33, 1000.0)})
    >>> idx = idx.with_area("flood", Circle(18.08, 59.33, 1000.0))
    >>> idx.match_one(18.075, 59.33)
    ('fire', 'flood')
    >>> rows, keys = idx.match([18.07, 12.0], [59.33, 57.7])
    >>> rows.tolist(), keys.tolist()
    ([0, 0], ['fire', 'flood'])
    >>> idx.without("fire").match_one(18.075, 59.33)
    ('flood',)

    .. versionadded:: 0.1.0
    """

    __slots__ = ("__weakref__", "_areas", "_buckets")

    def __init__(self, areas: Mapping[str, Area | Circle | Polygon] | None = None) -> None:
        self._build(areas, None)

    def _build(
        self, areas: Mapping[str, Area | Circle | Polygon] | None, previous: AreaIndex | None
    ) -> None:
        from geotarget._index.buckets import Buckets

        clean = dict(sorted(_clean({} if areas is None else areas).items()))
        self._areas: Mapping[str, Area] = MappingProxyType(clean)
        self._buckets: Buckets = Buckets(clean, None if previous is None else previous._buckets)

    def _next(self, areas: Mapping[str, Area | Circle | Polygon]) -> AreaIndex:
        """A new snapshot of ``areas`` reusing this one's tables for the parts they share."""
        index = AreaIndex.__new__(AreaIndex)
        index._build(areas, self)
        return index

    def __reduce__(self) -> tuple[type[AreaIndex], tuple[dict[str, Area]]]:
        """Pickle (and copy) as the areas alone; the tables are rebuilt from them.

        (The read-only view of the areas is a ``mappingproxy``, which cannot be pickled: an
        index sent to a worker process, or given to :func:`copy.deepcopy`, raised TypeError.)
        """
        return (AreaIndex, (dict(self._areas),))

    @property
    def areas(self) -> Mapping[str, Area]:
        """Alert id → area (read-only), in key order."""
        return self._areas

    def __len__(self) -> int:
        return len(self._areas)

    def __contains__(self, key: object) -> bool:
        return key in self._areas

    def __iter__(self) -> Iterator[str]:
        return iter(self._areas)

    def with_area(self, key: str, area: Area | Circle | Polygon) -> AreaIndex:
        """Return a new snapshot with ``key`` added, or replaced if present."""
        return self._next({**self._areas, _key(key): _area(area)})

    def with_areas(self, areas: Mapping[str, Area | Circle | Polygon]) -> AreaIndex:
        """Return a new snapshot with all of ``areas`` added or replaced at once."""
        return self._next({**self._areas, **_clean(areas)})

    def without(self, *keys: str) -> AreaIndex:
        """Return a new snapshot without ``keys``.

        Raises
        ------
        UnknownCode
            If a key is not in the index (nothing is removed then).
        """
        keys = tuple(_key(k) for k in keys)  # each a str alert id, or InvalidType/InvalidInput
        missing = sorted(k for k in keys if k not in self._areas)
        if missing:
            raise UnknownCode(
                f"keys must be active area ids (got unknown {missing!r}; {len(self._areas)} active)"
            )
        drop = set(keys)
        return self._next({k: v for k, v in self._areas.items() if k not in drop})

    def match(self, lon: Any, lat: Any) -> tuple[IntArray, npt.NDArray[np.str_]]:
        """Every (point, area) pair where the point is inside the area.

        Parameters
        ----------
        lon, lat : array_like of float
            Points in WGS84 degrees, one-dimensional, of the same length.

        Returns
        -------
        point_rows : numpy.ndarray of intp
            Index of the point of each pair, ascending.
        area_keys : numpy.ndarray of str
            Key of the area of each pair; within a point, keys ascend.

        Raises
        ------
        InvalidCoordinates
            For NaN, inf or out-of-range values, arrays of different shapes, or arrays that
            are not one-dimensional (a scalar point included: see :meth:`match_one`).
        """
        x, y = lon_lat_arrays(lon, lat)
        if x.ndim != 1:
            hint = "; for one point call match_one" if x.ndim == 0 else ""
            raise InvalidCoordinates(
                f"lon and lat must be one-dimensional (got shape {x.shape}){hint}"
            )
        rows, keys = self._buckets.match(x, y)
        seam = np.flatnonzero(np.abs(x) == 180.0)
        if seam.size:
            # Lon -180 and 180 are one meridian: a point on it is also matched as the other
            # spelling (a polygon's edge along 180 holds a point written at -180).
            more, more_keys = self._buckets.match(-x[seam], y[seam])
            if more.size:
                rows = np.concatenate([rows, seam[more]])
                keys = np.concatenate([keys, more_keys])
                order = np.lexsort((keys, rows))
                rows, keys = rows[order], keys[order]
                new = np.ones(rows.size, dtype=np.bool_)
                new[1:] = (rows[1:] != rows[:-1]) | (keys[1:] != keys[:-1])
                rows, keys = rows[new], keys[new]
        return rows, keys

    def match_one(self, lon: float, lat: float) -> tuple[str, ...]:
        """Return the keys of the areas holding one point, in key order.

        A fast path for one position at a time: plain Python floats and precomputed tables.
        """
        x, y = lon_lat("lon", lon, "lat", lat)
        found = self._buckets.match_one(x, y)
        if abs(x) == 180.0:  # one meridian, two spellings (see match)
            return tuple(sorted(set(found) | set(self._buckets.match_one(-x, y))))
        return found


class LiveAreaIndex:
    """A holder of the current :class:`AreaIndex` snapshot, swapped atomically.

    Readers call :attr:`snapshot` (or :meth:`match`, :meth:`match_one`) without any lock: each
    call reads the current snapshot reference once and works on that immutable snapshot, so it
    never sees a half-built index. Writers (:meth:`add`, :meth:`remove`, :meth:`publish`) build
    the next snapshot outside the readers' way and swap the reference in one assignment; they
    serialise among themselves so no update is lost.

    Examples
    --------
    >>> from geotarget import Circle, LiveAreaIndex
    >>> live = LiveAreaIndex()
    >>> live.add("fire", Circle(18.07, 59.33, 1000.0))
    >>> live.match_one(18.07, 59.33)
    ('fire',)
    >>> live.remove("fire")
    >>> live.match_one(18.07, 59.33)
    ()

    .. versionadded:: 0.1.0
    """

    def __init__(self, initial: AreaIndex | None = None) -> None:
        # Checked at run time: a mapping of areas was kept as the snapshot, and every later
        # match raised AttributeError (in the readers' threads).
        given: object = initial
        if given is not None and not isinstance(given, AreaIndex):
            hint = (
                "; wrap a mapping of areas in AreaIndex(...)" if isinstance(given, Mapping) else ""
            )
            raise InvalidType(
                f"initial must be an AreaIndex or None (got {type(given).__name__}){hint}"
            )
        self._snapshot = AreaIndex() if initial is None else initial
        self._write = threading.Lock()

    def __reduce__(self) -> tuple[type[LiveAreaIndex], tuple[AreaIndex]]:
        """Pickle (and copy) as the current snapshot; the copy gets a lock of its own.

        (A lock cannot be pickled: ``copy.deepcopy`` of a holder, or sending one to a worker
        process, raised TypeError.)
        """
        return (LiveAreaIndex, (self._snapshot,))

    @property
    def snapshot(self) -> AreaIndex:
        """The current snapshot."""
        return self._snapshot

    def publish(self, index: AreaIndex) -> None:
        """Make ``index`` the current snapshot."""
        if not isinstance(index, AreaIndex):
            raise InvalidType(f"index must be an AreaIndex (got {type(index).__name__})")
        with self._write:
            self._snapshot = index

    def add(self, key: str, area: Area | Circle | Polygon) -> None:
        """Add or replace one area."""
        with self._write:
            self._snapshot = self._snapshot.with_area(key, area)

    def remove(self, *keys: str) -> None:
        """Remove areas (:class:`~geotarget.UnknownCode` if one is not active)."""
        with self._write:
            self._snapshot = self._snapshot.without(*keys)

    def match(self, lon: Any, lat: Any) -> tuple[IntArray, npt.NDArray[np.str_]]:
        """:meth:`AreaIndex.match` on the current snapshot."""
        return self._snapshot.match(lon, lat)

    def match_one(self, lon: float, lat: float) -> tuple[str, ...]:
        """:meth:`AreaIndex.match_one` on the current snapshot."""
        return self._snapshot.match_one(lon, lat)
