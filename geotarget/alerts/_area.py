"""Private: one CAP ``<area>`` (:class:`AlertArea`); documented in :mod:`geotarget.alerts`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs
import numpy as np
import shapely
import shapely.geometry as sg

from geotarget import _geos
from geotarget._validate import lon_lat, number, shown
from geotarget.alerts._budget import shared_rings
from geotarget.alerts._values import (
    NamedValue,
    opt_float,
    tuple_of,
    v_items,
    v_opt_number,
    v_text,
)
from geotarget.areas import (
    MAX_RADIUS_M,
    Area,
    Circle,
    Part,
    Polygon,
    checkable,
    foreign_type,
    long_way_edges,
    long_way_message,
)
from geotarget.errors import InvalidAlert, InvalidArea, InvalidType

#: A CAP polygon as a closed ring of (lon, lat) pairs.
Ring = tuple[tuple[float, float], ...]
#: A CAP circle as (lon, lat, radius_m); a radius of 0 marks a point.
CircleSpec = tuple[float, float, float]


# ---------------------------------------------------------------------------------------------
# AlertArea
# ---------------------------------------------------------------------------------------------


def _ring(i: int, ring: object) -> Ring:
    pts = tuple_of(ring, f"polygons[{i}]", "(lon, lat) points")  # type: ignore[arg-type]
    try:
        arr = np.asarray(pts)
    except (TypeError, ValueError):  # ragged
        arr = np.empty((0, 0))
    ok = (
        arr.dtype.kind in "iuf"
        and arr.ndim == 2
        and arr.shape[1] == 2
        and bool(np.all(np.abs(arr[:, 0]) <= 180.0))
        and bool(np.all(np.abs(arr[:, 1]) <= 90.0))
        and not any(type(v) is bool for p in pts for v in p)  # bools upcast silently
    )
    if ok:
        out: Ring = tuple(map(tuple, arr.astype(np.float64).tolist()))
    else:  # find the first offending point and say precisely what is wrong with it
        checked = []
        for j, p in enumerate(pts):
            pair = tuple_of(p, f"polygons[{i}][{j}]", "lon and lat")
            if len(pair) != 2:
                raise InvalidAlert(f"polygons[{i}][{j}] must be a (lon, lat) pair (got {shown(p)})")
            checked.append(
                lon_lat(f"polygons[{i}][{j}] lon", pair[0], f"polygons[{i}][{j}] lat", pair[1])
            )
        out = tuple(checked)
    if len(out) < 4 or out[0] != out[-1]:
        raise InvalidAlert(
            f"polygons[{i}] must be a closed ring of at least 4 (lon, lat) points, the first "
            f"equal to the last (got {len(out)} points"
            + (f", first {out[0]} and last {out[-1]})" if out else ")")
        )
    xy = np.asarray(out, dtype=np.float64)
    edges = long_way_edges(xy[:, 0], xy[:, 1])
    if edges.size:  # before any repair could read it as something else
        raise InvalidAlert(f"polygons[{i}] {long_way_message(out, edges)}")
    return out


def _encloses_nothing(raw: sg.Polygon) -> bool:
    """Whether a ring (its edges crossing a bounded number of times) covers no area at all.

    As GEOS repairs it: collinear or repeated points repair to lines or nothing.
    """
    with _geos.quiet():  # (subnormal coordinates: see _geos.quiet)
        return bool(shapely.area(shapely.make_valid(raw, method="structure")) == 0.0)


def _ring_parts(i: int, ring: Ring) -> tuple[tuple[Part, ...], str]:
    """The parts of the ring ``polygons[i]`` and how they were made: simple, repaired, empty."""
    try:
        return (Polygon(ring),), "simple"
    except InvalidArea as first:
        if not checkable([np.asarray(ring, dtype=np.float64)]):
            # (Said as the CAP reader says it: a ring of long overlapping teeth is simple, so
            # it is the check, not a repair, that it is past.)
            raise InvalidAlert(f"polygons[{i}] must {_geos.CHECKABLE}") from first
        try:
            return Polygon.repair(ring).parts, "repaired"
        except InvalidArea as err:
            raw = sg.Polygon(ring)
            if _geos.crossings(raw) > _geos.MAX_CROSSINGS or not _encloses_nothing(raw):
                # (A ring enclosing area that cannot be made a polygon is refused, never read
                # as covering nothing: that would tell nobody.)
                raise InvalidAlert(f"polygons[{i}]: {err}") from err
            # Collinear or repeated points: CAP allows the ring; like a radius-0 circle it
            # covers no area, so it adds nothing to the geometry.
            return (), "empty"


def _rings(value: Iterable[Iterable[Sequence[float]]]) -> tuple[Ring, ...]:
    """Validate CAP polygons: closed rings of at least 4 valid (lon, lat) points."""
    return tuple(_ring(i, r) for i, r in enumerate(tuple_of(value, "polygons", "rings")))


def _circles(value: Iterable[Sequence[float]]) -> tuple[CircleSpec, ...]:
    """Validate CAP circles: (lon, lat, radius_m) with 0 <= radius_m <= 1,000 km."""
    out = []
    for i, c in enumerate(tuple_of(value, "circles", "(lon, lat, radius_m)")):
        t = tuple_of(c, f"circles[{i}]", "lon, lat and radius_m")
        if len(t) != 3:
            raise InvalidAlert(f"circles[{i}] must be (lon, lat, radius_m) (got {shown(c)})")
        lon, lat = lon_lat(f"circles[{i}] lon", t[0], f"circles[{i}] lat", t[1])
        r = number(f"circles[{i}] radius_m", t[2], ge=0.0, le=MAX_RADIUS_M, error=InvalidAlert)
        out.append((lon, lat, r))
    return tuple(out)


def _geocodes(value: Iterable[NamedValue]) -> tuple[NamedValue, ...]:
    return tuple_of(value, "geocodes", "NamedValue")


@attrs.frozen(kw_only=True)
class AlertArea:
    """One CAP ``<area>``: a description, polygons and circles, geocodes and altitudes.

    The CAP geometry is kept as written, so a document round-trips exactly; :attr:`geometry`
    is the same geometry as an :class:`~geotarget.areas.Area` for targeting. Build one from an
    ``Area`` with :meth:`from_area`.

    Parameters
    ----------
    description : str
        ``areaDesc``: the area in words, e.g. ``"Sergels torg, Stockholm"``.
    polygons : sequence of rings, default ()
        Each a closed ring of at least 4 ``(lon, lat)`` points (first = last). A ring that
        crosses or touches itself is allowed (CAP does not forbid it); :attr:`geometry` repairs
        it with :meth:`Polygon.repair <geotarget.areas.Polygon.repair>`. A ring that encloses
        no area (collinear or repeated points) is allowed too and adds nothing to
        :attr:`geometry` (:attr:`empty_polygons`); one whose edges cross more than 10,000
        times is refused.
    circles : sequence of (lon, lat, radius_m), default ()
        Radius in **metres** (CAP writes kilometres; the codec converts), ``0 <= r <= 1,000 km``.
        A radius of 0 marks a point: it covers no area and adds nothing to :attr:`geometry`.
    geocodes : sequence of NamedValue, default ()
        Codes of the area in other systems (``SAME``, ``NUTS3``...).
    altitude, ceiling : float, optional
        In feet above mean sea level, as CAP says. ``ceiling`` needs ``altitude``.

    Notes
    -----
    Several polygons and circles are a union; CAP has no holes, so a polygon inside another is
    simply covered twice.

    Examples
    --------
    >>> from geotarget import Area, Circle
    >>> from geotarget.alerts import AlertArea
    >>> a = AlertArea.from_area("Sergels torg", Circle(18.06528, 59.3325, 500.0))
    >>> a.circles
    ((18.06528, 59.3325, 500.0),)
    >>> a.geometry == Area([Circle(18.06528, 59.3325, 500.0)])
    True

    .. versionadded:: 0.1.0
    """

    description: str = attrs.field(validator=v_text)
    polygons: tuple[Ring, ...] = attrs.field(default=(), converter=_rings)
    circles: tuple[CircleSpec, ...] = attrs.field(default=(), converter=_circles)
    geocodes: tuple[NamedValue, ...] = attrs.field(
        default=(), converter=_geocodes, validator=v_items(NamedValue)
    )
    altitude: float | None = attrs.field(default=None, converter=opt_float, validator=v_opt_number)
    ceiling: float | None = attrs.field(default=None, converter=opt_float, validator=v_opt_number)
    _geometry: Area | None = attrs.field(init=False, eq=False, repr=False, hash=False)
    _repaired: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False, hash=False)
    _empty: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        if self.ceiling is not None and self.altitude is None:
            # CAP 1.2 §3.2.4 <ceiling>: "MUST NOT be used except in combination with the
            # <altitude> element".
            raise InvalidAlert(
                f"ceiling needs an altitude: CAP allows <ceiling> only with <altitude> "
                f"(got ceiling {self.ceiling!r} and no altitude)"
            )
        parts: list[Part] = []
        repaired: list[int] = []
        empty: list[int] = []
        shared = shared_rings()  # a ring the document repeats (one per language): built once
        for i, ring in enumerate(self.polygons):
            built = None if shared is None else shared.get(ring)
            if built is None:
                built = _ring_parts(i, ring)
                if shared is not None:
                    shared[ring] = built
            pieces, how = built
            parts.extend(pieces)
            if how == "repaired":
                repaired.append(i)
            elif how == "empty":
                empty.append(i)
        parts.extend(Circle(lon, lat, r) for lon, lat, r in self.circles if r > 0.0)
        object.__setattr__(self, "_geometry", Area(parts) if parts else None)
        object.__setattr__(self, "_repaired", tuple(repaired))
        object.__setattr__(self, "_empty", tuple(empty))

    @property
    def geometry(self) -> Area | None:
        """The polygons and circles as one :class:`~geotarget.areas.Area`; None without any.

        Polygons come first, then circles, in document order; self-crossing rings are repaired
        into their parts; rings that enclose no area and zero-radius circles are left out.
        """
        return self._geometry

    @property
    def repaired_polygons(self) -> tuple[int, ...]:
        """The indices of the polygons that cross or touch themselves, repaired in :attr:`geometry`.

        The rings themselves are kept as written; only the geometry uses the repaired parts.
        """
        return self._repaired

    @property
    def empty_polygons(self) -> tuple[int, ...]:
        """The indices of the polygons that enclose no area, left out of :attr:`geometry`.

        A ring whose points are all collinear or all the same is valid CAP but covers
        nothing, like a circle of radius 0; it is kept as written.

        .. versionadded:: 0.1.0
        """
        return self._empty

    @classmethod
    def from_area(
        cls,
        description: str,
        area: Area | Part,
        *,
        geocodes: Iterable[NamedValue] = (),
        altitude: float | None = None,
        ceiling: float | None = None,
    ) -> AlertArea:
        """Build a CAP area from an :class:`~geotarget.areas.Area`, a Circle or a Polygon.

        Polygons are written before circles (CAP's order), so ``geometry`` equals ``area``
        when ``area`` lists its polygons first and none has holes. CAP polygons have no holes:
        a polygon with holes (a region around a neighbour's enclave) is written as the parts
        without holes of :meth:`Polygon.without_holes <geotarget.areas.Polygon.without_holes>`,
        which cover exactly its points.

        Raises
        ------
        InvalidAlert
            For a part with a margin: CAP cannot express it.
        """
        if not isinstance(area, (Area, Circle, Polygon)):
            raise InvalidType(f"area must be an Area, Circle or Polygon (got {foreign_type(area)})")
        polygons: list[Ring] = []
        circles: list[CircleSpec] = []
        for i, part in enumerate(Area(area).parts):
            if part.margin_m:
                raise InvalidAlert(
                    f"area.parts[{i}] has margin_m={part.margin_m!r}: CAP cannot carry a margin "
                    "(it is a targeting setting; give the area without it)"
                )
            if isinstance(part, Polygon):
                pieces = part.without_holes().parts  # CAP polygons have no holes
                polygons.extend(p.exterior for p in pieces if isinstance(p, Polygon))
            else:
                circles.append((part.lon, part.lat, part.radius_m))
        return cls(
            description=description,
            polygons=polygons,
            circles=circles,
            geocodes=tuple(geocodes),
            altitude=altitude,
            ceiling=ceiling,
        )
