"""Where an alert applies: geodesic circles, lon/lat polygons and their unions.

Semantics (the contract, each tested against an oracle):

* **Coordinates** are WGS84 degrees, always ``lon`` first, then ``lat``.
* A point is inside a :class:`Circle` iff its geodesic distance on the WGS84 ellipsoid to the
  centre is ``<= radius_m + margin_m``; the answer equals ``pyproj.Geod(ellps="WGS84").inv``.
* :class:`Polygon` edges are straight lines in lon/lat (the GeoJSON and CAP convention). Points
  on the boundary are inside. ``margin_m`` adds every point within that many metres of the
  polygon (see :attr:`Polygon.margin_error_bound_m` for the error bound).
* An :class:`Area` is the union of its parts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import shapely
import shapely.affinity
import shapely.geometry as sg

from geotarget import _geodesy, _geos
from geotarget._index import crossing, frames, polygons
from geotarget._validate import (
    BoolArray,
    FloatArray,
    KeyTwice,
    bools_among_numbers,
    iterable,
    json_unique,
    lon_lat,
    lon_lat_arrays,
    number,
    shown,
)
from geotarget.errors import InvalidArea, InvalidCoordinates, InvalidGeoJSON, InvalidType

__all__ = ["MAX_RADIUS_M", "Area", "Circle", "Part", "Polygon"]


def __dir__() -> list[str]:
    return __all__


#: The largest circle radius accepted, in metres (1,000 km).
MAX_RADIUS_M = 1_000_000.0
#: The largest margin accepted, in metres (100 km).
MAX_MARGIN_M = 100_000.0

#: Metres beyond which a point's side of the metric frame's boundary is its side of the lon/lat
#: one (the frame's densification, 0.5 mm, and rounding; as classify's padding, twice).
_SAME_SIDE_M = 0.004
#: Points from which :meth:`Polygon._within_margin` measures against the metric boundary
#: (drawn for the call) instead of the metric polygon.
_BOUNDARY_POINTS = 2048
#: Points from which :meth:`Polygon._within_margin` computes the centre's bounds if unknown.
_CENTRE_POINTS = 32


def _margin(value: object) -> float:
    return number("margin_m", value, ge=0.0, le=MAX_MARGIN_M, error=InvalidArea)


class _PartBase:
    """What every part offers: ``contains`` over validated points."""

    __slots__ = ()

    def _contains_valid(self, x: FloatArray, y: FloatArray) -> BoolArray:
        raise NotImplementedError

    def contains(self, lon: Any, lat: Any) -> BoolArray:
        """Return whether each point is inside: boundary and margin included.

        Parameters
        ----------
        lon, lat : float or array_like
            Points in WGS84 degrees, of the same shape.

        Returns
        -------
        numpy.ndarray of bool
            Same shape as the inputs.

        Raises
        ------
        InvalidCoordinates
            For NaN, inf, out-of-range values or arrays of different shapes.
        """
        x, y = lon_lat_arrays(lon, lat)
        return self._contains_valid(x, y)


# ---------------------------------------------------------------------------------------------
# Circle
# ---------------------------------------------------------------------------------------------


@attrs.frozen(init=False)
class Circle(_PartBase):
    """A geodesic circle: every point within ``radius_m + margin_m`` metres of a centre.

    Distances are geodesic on the WGS84 ellipsoid. The test is exact: it equals the decision
    ``pyproj.Geod(ellps="WGS84").inv(lon, lat, lon_i, lat_i)[2] <= radius_m + margin_m`` for every
    point, including points within a millimetre of the rim.

    Parameters
    ----------
    lon, lat : float
        Centre in WGS84 degrees.
    radius_m : float
        Radius in metres, ``> 0`` and ``<= 1,000,000``. (CAP circles are in kilometres; the CAP
        codec converts.)
    margin_m : float, default 0.0
        Extra metres added to the radius, ``>= 0``.

    Examples
    --------
    >>> from geotarget import Circle
    >>> c = Circle(18.0686, 59.3293, 500.0)
    >>> c.contains([18.0686, 18.0800], [59.3293, 59.3293]).tolist()
    [True, False]

    .. versionadded:: 0.1.0
    """

    lon: float = attrs.field(converter=float)
    lat: float = attrs.field(converter=float)
    radius_m: float = attrs.field(converter=float)
    margin_m: float = attrs.field(default=0.0, kw_only=True, converter=float)

    def __init__(self, lon: float, lat: float, radius_m: float, *, margin_m: float = 0.0):
        _degrees_of("lon", lon)
        _degrees_of("lat", lat)
        lon_f, lat_f = lon_lat("lon", lon, "lat", lat)
        r = number("radius_m", radius_m, gt=0.0, le=MAX_RADIUS_M, error=InvalidArea)
        self.__attrs_init__(lon_f, lat_f, r, margin_m=_margin(margin_m))

    def with_margin(self, margin_m: float) -> Circle:
        """The same circle with another margin.

        Parameters
        ----------
        margin_m : float
            The new margin in metres (``0 <= m <= 100 km``), replacing this circle's.

        Returns
        -------
        Circle
            Equal to ``Circle(lon, lat, radius_m, margin_m=margin_m)``.

        Raises
        ------
        InvalidArea
            For a margin outside its range, NaN or infinite.
        InvalidType
            For a margin that is not a number (a bool, a str, a 0-d array).

        Examples
        --------
        >>> from geotarget import Circle
        >>> Circle(18.0686, 59.3293, 500.0).with_margin(50.0).reach_m
        550.0

        .. versionadded:: 0.1.0
        """
        out = object.__new__(Circle)
        out.__attrs_init__(self.lon, self.lat, self.radius_m, margin_m=_margin(margin_m))
        return out

    @property
    def reach_m(self) -> float:
        """The radius including the margin, in metres."""
        return self.radius_m + self.margin_m

    def _contains_valid(self, x: FloatArray, y: FloatArray) -> BoolArray:
        return _geodesy.within_distance(self.lon, self.lat, self.reach_m, x, y)

    def _window(self) -> tuple[float, float, float, float]:
        return _geodesy.circle_window(self.lon, self.lat, self.reach_m)

    def _rim(self, n: int = 4096, reach_m: float | None = None) -> tuple[FloatArray, FloatArray]:
        """``n`` points at ``reach_m`` (default: the reach) from the centre, by azimuth."""
        az = np.linspace(0.0, 360.0, n, endpoint=False)
        reach = self.reach_m if reach_m is None else reach_m
        lon, lat, _ = _geodesy.geod().fwd(
            np.full(n, self.lon), np.full(n, self.lat), az, np.full(n, reach)
        )
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def _covers_pole(self) -> bool:
        d = _geodesy.geodesic_distance(
            self.lon, self.lat, np.array([0.0, 0.0]), np.array([90.0, -90.0])
        )
        return bool((d <= self.reach_m).any())

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in degrees: exact latitudes, rigorous longitudes.

        South and north are the rim's own (to 1e-9°), found along the meridian; west and east
        hold every point of the circle, conservatively: within 0.3 % of the circle's width
        for circles up to 10 km below 60°, more for large circles far from the equator (see
        the module's ``circle_bounds``). Constant time: no rim is computed. When the circle crosses
        the antimeridian, ``west > east`` (RFC 7946 §5.2); when it covers a pole, west/east
        are -180/180 and south/north reach the pole.
        """
        box = circle_bounds(np.array([self.lon]), np.array([self.lat]), np.array([self.reach_m]))
        west, south, east, north = (float(v[0]) for v in box)
        return (west, south, east, north)

    def _to_lonlat_polygon(
        self, n: int | None = None, *, equal_area: bool = False
    ) -> sg.Polygon | sg.MultiPolygon:
        """The rim as a valid lon/lat polygon: split at ±180°, closed over a covered pole.

        ``n`` points on the rim, by default :func:`_rim_points`: its chords cut inside the rim
        by at most as much as a 4,096-gon's (``3e-7`` of the radius) plus 5 mm, so a 50 m
        circle is drawn with 256 points, not 4,096. ``equal_area``: on a circle slightly wider
        than the rim, so that the polygon's area is the disk's (a plane's regular ``n``-gon;
        for areas only).
        """
        if n is None:
            n = _rim_points(self.reach_m)
        reach = self.reach_m * (_equal_area_widening(n) if equal_area else 1.0)
        lon, lat = self._rim(n, reach)
        if self._covers_pole():
            return _polar_cap(lon, lat, north=self.lat > 0)
        rel = (lon - self.lon + 540.0) % 360.0 - 180.0
        unwrapped = self.lon + rel  # continuous around the centre, possibly beyond ±180
        ring = sg.Polygon(np.column_stack([unwrapped, lat]))
        if unwrapped.min() >= -180.0 and unwrapped.max() <= 180.0:
            return ring
        return _split_at_antimeridian(ring)

    @property
    def area_m2(self) -> float:
        """Geodesic area in square metres (relative error below 1e-6)."""
        if self.reach_m <= _geodesy.DISK_AREA_MAX_RADIUS_M:
            # Curvature comparison: within 5e-8 for disks up to ~100 km, no rim needed.
            low, high = _geodesy.disk_area_bounds(self.lon, self.lat, self.reach_m)
            if high - low <= 1e-7 * low:
                return (low + high) / 2.0
        lon, lat = self._rim()
        area, _ = _geodesy.geod().polygon_area_perimeter(lon, lat)
        return abs(float(area))

    def _feature(self) -> dict[str, Any]:
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
            "properties": {"radius_m": self.radius_m, "margin_m": self.margin_m},
        }


#: Degrees added to the exact latitude extremes of a circle's bounds (0.1 mm): rounding.
_BOUNDS_PAD_DEG = 1e-9


#: The most points on a circle's drawn rim, and their step below it.
_RIM_MAX, _RIM_STEP = 4096, 64


def _rim_points(reach_m: float) -> int:
    """How many rim points keep a chord's sagitta within a 4,096-gon's plus 5 mm.

    A chord of ``1/n`` of a turn on a circle of radius ``r`` lies at most ``r (1 - cos(pi /
    n)) <= r pi**2 / (2 n**2)`` inside it; that is at most ``r (1 - cos(pi / 4096)) + 0.005``
    (m) for ``n`` at least ``pi sqrt(r / 0.01)``, a multiple of 64 from 64 to 4,096. The chords
    are then at most ``0.2 sqrt(r)`` long (under 30 m below 17 km, where 4,096 points are
    reached), so their lon/lat lines bow from the geodesic by far less than a millimetre.
    """
    need = math.pi * math.sqrt(reach_m / 0.01)
    return int(min(_RIM_MAX, max(_RIM_STEP, _RIM_STEP * math.ceil(need / _RIM_STEP))))


def circle_bounds(
    lon: FloatArray, lat: FloatArray, reach_m: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``(west, south, east, north)`` of many geodesic circles at once, rigorously.

    * **Latitudes, exact.** The meridian distance from the equator is 1-Lipschitz on the
      ellipsoid (it is a distance function), so no point within ``r`` of the centre is
      farther north than the point ``r`` due north along the meridian: one ``Geod.fwd`` at
      azimuth 0 and one at 180 per circle (padded by 1e-9° for rounding). A circle reaching
      a pole (its geodesic distance to it is at most ``r``) spans every longitude.
    * **Longitudes, conservative.** Moving ``ds`` on the ellipsoid changes longitude by at
      most ``ds / (N(φ) cos φ)``, the radius of the parallel, which falls with ``|φ|``; every
      point of the circle is reached by a geodesic of length ``<= r`` inside the latitude
      band just found, so ``|Δλ| <= r / (N(φ_far) cos φ_far)`` at the band's farthest
      latitude. At the centre's latitude this is the width to first order in ``r``; the
      band's far edge widens it by about ``tan φ · Δφ``: 0.3 % for 10 km at 60°N, 40 % for
      1,000 km there.

    A circle whose longitudes pass ±180 has ``west > east`` (RFC 7946 §5.2); one spanning
    every longitude has -180 and 180.
    """
    g = _geodesy.geod()
    n = lon.size
    zeros = np.zeros(n)
    _, north, _ = g.fwd(lon, lat, zeros, reach_m)
    _, south, _ = g.fwd(lon, lat, np.full(n, 180.0), reach_m)
    _, _, to_north_pole = g.inv(lon, lat, lon, np.full(n, 90.0))
    _, _, to_south_pole = g.inv(lon, lat, lon, np.full(n, -90.0))
    north_pole = np.asarray(to_north_pole) <= reach_m
    south_pole = np.asarray(to_south_pole) <= reach_m
    north = np.where(north_pole, 90.0, np.minimum(np.asarray(north) + _BOUNDS_PAD_DEG, 90.0))
    south = np.where(south_pole, -90.0, np.maximum(np.asarray(south) - _BOUNDS_PAD_DEG, -90.0))
    far = np.radians(np.maximum(np.abs(south), np.abs(north)))
    sin_far = np.sin(far)
    parallel = _geodesy.A * np.cos(far) / np.sqrt(1.0 - _geodesy.E2 * sin_far * sin_far)
    with np.errstate(divide="ignore"):
        dlon = np.degrees(reach_m / parallel) * (1.0 + 1e-12) + _BOUNDS_PAD_DEG
    everywhere = north_pole | south_pole | ~(dlon < 180.0)
    west = lon - dlon
    east = lon + dlon
    west = np.where(west < -180.0, west + 360.0, west)
    east = np.where(east > 180.0, east - 360.0, east)
    west = np.where(everywhere, -180.0, west)
    east = np.where(everywhere, 180.0, east)
    return west, south, east, north


def _split_at_antimeridian(ring: Any) -> sg.Polygon | sg.MultiPolygon:
    """A polygon given in continuous longitudes beyond ±180, cut at ±180 and wrapped back."""
    pieces = []
    for shift in (-360.0, 0.0, 360.0):
        world = shapely.box(-180.0 - shift, -90.0, 180.0 - shift, 90.0)
        piece = shapely.intersection(ring, world)
        if not piece.is_empty and piece.area > 0.0:
            pieces.append(shapely.affinity.translate(piece, xoff=shift))
    merged = shapely.union_all(pieces) if len(pieces) > 1 else pieces[0]
    polys = [g for g in _polygons_of(merged) if g.area > 0.0]
    return polys[0] if len(polys) == 1 else sg.MultiPolygon(polys)


def _polar_cap(lon: FloatArray, lat: FloatArray, *, north: bool) -> sg.Polygon:
    """The rim of a circle around a pole, closed along the pole's edge of the lon/lat plane.

    Such a rim meets every meridian once, so sorted by longitude it is a function of longitude;
    its value at ±180 is interpolated, and the polygon closes through (±180, ±90).
    """
    order = np.argsort(lon, kind="stable")
    x, y = lon[order], lat[order]
    # the rim at ±180: interpolate between the last and first points across the antimeridian
    gap = x[0] + 360.0 - x[-1]
    t = (180.0 - x[-1]) / gap if gap > 0 else 0.0
    edge = float(y[-1] + t * (y[0] - y[-1]))
    pole = 90.0 if north else -90.0
    xs = np.concatenate([[-180.0], x, [180.0, 180.0, -180.0]])
    ys = np.concatenate([[edge], y, [edge, pole, pole]])
    poly = sg.Polygon(np.column_stack([xs, ys]))
    return poly if poly.is_valid else shapely.make_valid(poly)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Polygon
# ---------------------------------------------------------------------------------------------

Ring = tuple[tuple[float, float], ...]


def _ring_fast(coords: object) -> list[tuple[float, float]] | None:
    """Validate a well-formed ring in bulk with numpy; ``None`` means "check it slowly"."""
    if isinstance(coords, np.ndarray):
        if isinstance(coords, np.ma.MaskedArray) or coords.dtype == np.float16:
            return None  # refused by _ring and _vertices, naming the ring or the vertex
        arr = coords
    elif isinstance(coords, (list, tuple)):
        plain = _plain_numbers(coords)
        if plain is False:
            return None  # a bool, a masked or float16 value among them: vertex by vertex
        try:
            arr = np.asarray(coords)  # no dtype: text or complex must not be converted
        except (TypeError, ValueError, RecursionError):
            return None
        if plain is None and bools_among_numbers(coords, arr):
            return None  # numpy read a bool as 1.0: named vertex by vertex
    else:
        return None
    if arr.dtype.kind not in "iuf" or arr.ndim != 2 or arr.shape[1] not in (2, 3):
        return None  # booleans, text, complex, objects, ragged: named vertex by vertex
    arr = np.asarray(arr, dtype=np.float64)
    lon, lat = arr[:, 0], arr[:, 1]
    if not ((np.abs(lon) <= 180.0).all() and (np.abs(lat) <= 90.0).all()):
        return None
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


def _plain_numbers(coords: Sequence[Any]) -> bool | None:
    """Whether numpy reads a list of pairs as it looks; ``None``: numbers not looked at.

    numpy reads a masked row by its hidden data, a float16 as the float it rounded to and
    ``True`` as 1.0, without a word (and warns on a masked value): such rings are walked
    vertex by vertex, where the vertex is named. One C-level pass over the rows' types and,
    when the rows are tuples or lists (as a drawn ring's are), one over the values' types,
    which then are known to be plain numbers (``True``) or not (``False``).
    """
    rows = set(map(type, coords))
    if any(issubclass(t, np.ma.MaskedArray) for t in rows):
        return False
    if np.ndarray in rows and any(
        isinstance(row, np.ndarray) and row.dtype == np.float16 for row in coords
    ):
        return False
    if rows <= {tuple, list}:
        values = set(map(type, itertools.chain.from_iterable(coords)))
        return all(_plain_number(t) for t in values)
    return None


def _plain_number(t: type) -> bool:
    """Whether numpy reads values of this type as the number they are (float16 it rounds)."""
    return issubclass(t, (int, float, np.integer, np.floating)) and not issubclass(
        t, (bool, np.bool_, np.timedelta64, np.float16)
    )


def _degrees_of(name: str, value: object) -> None:
    """Refuse degrees numpy would read wrongly: masked entries, or float16 (a kilometre's step).

    numpy reads a masked array by its hidden data, and a float16 holds latitude 59.3 as
    59.3125 (1.4 km north): either would move the area without a word, as ``contains``
    refuses both for points.
    """
    if isinstance(value, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(value)
        if mask.any():
            n = int(mask.sum())
            where = np.argwhere(mask)[0].tolist()
            at = f"{name}{''.join(f'[{k}]' for k in where)}" if where else name
            raise InvalidCoordinates(
                f"{name} must have no masked entries: geotarget does not read numpy masks, "
                f"fill them first (got {n} masked, the first at {at})"
            )
    half = isinstance(value, np.float16) or (
        isinstance(value, np.ndarray) and value.dtype == np.float16
    )
    if half:
        got = f"{value!r}" if isinstance(value, np.float16) else "an array of dtype float16"
        raise InvalidType(
            f"{name} must be degrees in float64 or float32, not float16 (got {got}: float16 "
            "steps by 0.0156 degrees near 18 and 0.03 near 59, kilometres)"
        )


def _vertices(name: str, coords: Iterable[Any]) -> list[tuple[float, float]]:
    """Walk a ring vertex by vertex so the error names the first offending vertex."""
    out = []
    for i, pair in enumerate(coords):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, (Sequence, np.ndarray)):
            raise InvalidArea(f"{name}[{i}] must be a (lon, lat) pair (got {shown(pair, 80)})")
        if isinstance(pair, np.ndarray) and pair.ndim != 1:
            raise InvalidArea(f"{name}[{i}] must be a (lon, lat) pair (got shape {pair.shape})")
        if len(pair) not in (2, 3):
            raise InvalidArea(f"{name}[{i}] must be a (lon, lat) pair (got {len(pair)} values)")
        _degrees_of(f"{name}[{i}]", pair)
        _degrees_of(f"{name}[{i}] lon", pair[0])
        _degrees_of(f"{name}[{i}] lat", pair[1])
        out.append(lon_lat(f"{name}[{i}] lon", pair[0], f"{name}[{i}] lat", pair[1]))
    return out


def long_way_edges(lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.intp]:
    """The edges of a closed ring that plain lon/lat takes the long way round the Earth.

    Edge ``k`` (from vertex ``k`` to ``k + 1``) is one when it spans more than 180° of
    longitude, unless it runs along a pole (both ends at latitude 90, or both at -90), where
    every longitude is the same point and plain lon/lat is the only reading (the whole-world
    rectangle's edges). On the Earth such an edge crosses the 180° meridian the short way, or
    (from lon 180 to lon -180, one meridian) does not move in longitude at all; read as a
    straight line in lon/lat it goes round the other side. Rings without one read the same
    either way, so geotarget refuses rings with one.
    """
    span = np.abs(np.diff(lon))
    along_pole = (lat[:-1] == lat[1:]) & (np.abs(lat[:-1]) == 90.0)
    return np.flatnonzero((span > 180.0) & ~along_pole)


def long_way_message(lonlat: Sequence[tuple[float, float]], edges: npt.NDArray[np.intp]) -> str:
    """Why a ring with :func:`long_way_edges` is refused, naming its first such edge."""
    k = int(edges[0])
    (lon0, lat0), (lon1, lat1) = lonlat[k], lonlat[k + 1]
    more = f" ({edges.size} such edges in all)" if edges.size > 1 else ""
    same = " (lon 180 and -180 are the same meridian)" if abs(lon0) == abs(lon1) == 180.0 else ""
    return (
        f"crosses the 180° meridian: the edge from point {k} (lon {lon0!r}, lat {lat0!r}) to "
        f"point {k + 1} (lon {lon1!r}, lat {lat1!r}) spans {abs(lon1 - lon0):g}° of longitude"
        f"{same}{more}; polygon edges are straight in plain lon/lat, which would take it the "
        "long way round the Earth, so split the polygon at 180° into one part on each side"
    )


def _ring(name: str, coords: object) -> Ring:
    """Validate one ring of (lon, lat) pairs; return it closed.

    Well-formed rings are checked in bulk; anything else is walked vertex by vertex so the error
    names the first offending vertex.
    """
    if isinstance(coords, (str, bytes)) or not iterable(coords):
        raise InvalidArea(f"{name} must be a sequence of (lon, lat) pairs (got {shown(coords)})")
    out = _ring_fast(coords)
    if out is None:
        _degrees_of(name, coords)
        out = _vertices(name, coords)
    distinct = len(set(out))

    if distinct < 3:
        raise InvalidArea(
            f"{name} must have at least 3 distinct vertices (got {distinct}: {out!r})"
        )
    if out[0] != out[-1]:
        out.append(out[0])
    xy = np.asarray(out, dtype=np.float64)
    edges = long_way_edges(xy[:, 0], xy[:, 1])
    if edges.size:
        raise InvalidArea(f"{name} {long_way_message(out, edges)}")
    # A vertex written twice in a row adds no edge: drop the repeat, so the shape has one form.
    return tuple(v for k, v in enumerate(out) if k == 0 or v != out[k - 1])


def _oriented(ring: Ring, ccw: bool) -> Ring:
    """Orient a closed ring and start it at its smallest (lon, lat) vertex: one canonical form."""
    if bool(shapely.is_ccw(shapely.linearrings(np.asarray(ring, dtype=np.float64)))) != ccw:
        ring = tuple(reversed(ring))
    body = ring[:-1]
    start = body.index(min(body))
    rotated = body[start:] + body[:start]
    return (*rotated, rotated[0])


def _where(reason: str) -> str:
    """Turn GEOS's ``Self-intersection[18.1 59.3]`` into ``at lon 18.1, lat 59.3``."""
    if "[" in reason and reason.endswith("]"):
        text, loc = reason[:-1].split("[", 1)
        parts = loc.split()
        if len(parts) >= 2:
            return f"{text.strip().lower()} at lon {parts[0]}, lat {parts[1]}"
    return reason.lower()


def _shared_edge(shell: Any, holes: list[Any], order: list[int]) -> str | None:
    """Which rings share a stretch of boundary (an edge, not a point), if any: for a message.

    ``holes`` in the polygon's order, ``order[k]`` the caller's index of ``holes[k]``. Only
    looked for once the polygon is known invalid, and only near the rings GEOS named there:
    the holes whose boxes meet the shell's boundary or another hole's.
    """
    rings = [shell.exterior, *(h.exterior for h in holes)]
    names = ["the exterior", *(f"holes[{order[k]}]" for k in range(len(holes)))]
    tree = shapely.STRtree(rings)
    a, b = tree.query(rings, predicate="intersects")
    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        if i < j and shapely.length(shapely.intersection(rings[i], rings[j])) > 0.0:
            return f"{names[j]} shares an edge with {names[i]}"
    return None


def _on_one_line(xy: FloatArray) -> bool:
    """Whether every vertex of a ring lies on one straight line (GEOS's robust convex hull)."""
    hull = shapely.convex_hull(sg.MultiPoint(xy))
    return bool(shapely.get_dimensions(hull) < 2)  # a line or a point


def checkable(rings: list[np.ndarray[Any, Any]]) -> bool:
    """Whether one polygon's closed ``(n, 2)`` lon/lat rings are within GEOS's check budget.

    At most :data:`geotarget._geos.VALIDITY_PAIRS_PER_EDGE` pairs of edges whose boxes
    overlap per edge, plus :data:`geotarget._geos.VALIDITY_SPARE_PAIRS`: the rule
    :data:`geotarget._geos.CHECKABLE` states (a CAP document's polygons share the spare).
    """
    edges = sum(r.shape[0] - 1 for r in rings)
    budget = _geos.VALIDITY_PAIRS_PER_EDGE * edges + _geos.VALIDITY_SPARE_PAIRS
    return _geos.validity_pairs(rings, budget) is not None


@attrs.frozen(init=False)
class Polygon(_PartBase):
    """A polygon whose edges are straight lines in lon/lat, with optional holes and margin.

    Points on the boundary are inside. Rings are normalised (closed; repeated vertices
    dropped; exterior counter-clockwise, holes clockwise; each from a fixed vertex, holes in a
    fixed order), so the same rings compare equal however they were given. Equality compares
    vertices, not point sets: an extra vertex along an edge makes another polygon, covering
    the same points.

    Parameters
    ----------
    exterior : sequence of (lon, lat)
        The shell, closed or not, with at least 3 distinct vertices, not self-intersecting.
    holes : sequence of rings, default ()
        Holes, each inside the shell.
    margin_m : float, default 0.0
        Also include every point within this many metres of the polygon (``0 <= m <= 100 km``).
        See :attr:`margin_error_bound_m`.

    Raises
    ------
    InvalidArea
        For a ring with fewer than 3 distinct vertices, a self-intersecting ring (the message
        says where), a hole outside its shell, an edge spanning more than 180° of longitude
        off a pole (plain lon/lat would take it the long way round the Earth; split the
        polygon at 180°), or bad coordinates. To repair a self-intersecting
        ring instead, call :meth:`Polygon.repair` explicitly.

    Examples
    --------
    >>> from geotarget import Polygon
    >>> square = Polygon([(18.0, 59.0), (18.1, 59.0), (18.1, 59.1), (18.0, 59.1)])
    >>> square.contains([18.05, 18.1, 18.2], [59.05, 59.05, 59.05]).tolist()
    [True, True, False]

    .. versionadded:: 0.1.0
    """

    exterior: Ring
    holes: tuple[Ring, ...] = ()
    margin_m: float = attrs.field(default=0.0, kw_only=True)
    _shape: sg.Polygon = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __init__(
        self,
        exterior: Iterable[Sequence[float]],
        holes: Iterable[Iterable[Sequence[float]]] = (),
        *,
        margin_m: float = 0.0,
    ) -> None:
        shell = _oriented(_ring("exterior", exterior), ccw=True)
        if isinstance(holes, (str, bytes)) or not iterable(holes):  # type: ignore[unreachable]
            raise InvalidArea(f"holes must be a sequence of rings (got {shown(holes, 80)})")
        hole_rings = tuple(
            _oriented(_ring(f"holes[{i}]", h), ccw=False) for i, h in enumerate(holes)
        )
        margin = _margin(margin_m)
        # shapely builds rings from arrays in C (from tuples it walks every vertex in Python).
        shell_xy = np.asarray(shell, dtype=np.float64)
        holes_xy = [np.asarray(h, dtype=np.float64) for h in hole_rings]
        if not checkable([shell_xy, *holes_xy]):
            raise InvalidArea(f"the polygon's rings must {_geos.CHECKABLE}")
        with _geos.quiet():  # (subnormal coordinates: see _geos.quiet)
            shell_poly = sg.Polygon(shell_xy)
            shell_reason = shapely.is_valid_reason(shell_poly)
            if shell_reason != "Valid Geometry":
                if _on_one_line(shell_xy):
                    raise InvalidArea(
                        "exterior must enclose an area: its vertices all lie on one line "
                        f"(got {shown(shell[:4], 120)}); give at least three vertices not on "
                        "one line, or a Circle"
                    )
                raise InvalidArea(
                    f"exterior must not self-intersect: {_where(shell_reason)} "
                    "(use Polygon.repair(...) to repair it explicitly)"
                )
            if hole_rings:
                # Each hole's "inside the shell" test then looks up the shell's indexed edges:
                # unprepared, it walked all of them for every hole (a 56,825-vertex coastline
                # with 2,000 holes took 6.9 s to build).
                shapely.prepare(shell_poly)
            for i, (h, h_xy) in enumerate(zip(hole_rings, holes_xy, strict=True)):
                hole_poly = sg.Polygon(h_xy)
                reason = shapely.is_valid_reason(hole_poly)
                if reason != "Valid Geometry" and _on_one_line(h_xy):
                    raise InvalidArea(
                        f"holes[{i}] must enclose an area: its vertices lie on one line "
                        f"(got {shown(h[:4], 120)}); leave out a hole that holds nothing"
                    )
                if reason != "Valid Geometry":
                    raise InvalidArea(f"holes[{i}] must not self-intersect: {_where(reason)}")
                if not shapely.covers(shell_poly, hole_poly):
                    raise InvalidArea(
                        f"holes[{i}] must lie inside the exterior ring "
                        f"(got a hole reaching outside it near {h[0]!r})"
                    )
            # Holes in one order (their canonical rings'), so equal shapes compare equal.
            order = sorted(range(len(hole_rings)), key=hole_rings.__getitem__)
            hole_rings = tuple(hole_rings[k] for k in order)
            holes_xy = [holes_xy[k] for k in order]
            shape = sg.Polygon(shell_xy, holes_xy)
            reason = shapely.is_valid_reason(shape)
            if reason != "Valid Geometry":
                shared = _shared_edge(shell_poly, [sg.Polygon(h) for h in holes_xy], order)
                raise InvalidArea(
                    f"polygon with its holes is invalid: {_where(reason)}"
                    + (f" ({shared}; rings may touch only at single points)" if shared else "")
                )
        shapely.prepare(shape)
        self.__attrs_init__(shell, hole_rings, margin_m=margin)
        object.__setattr__(self, "_shape", shape)

    def with_margin(self, margin_m: float) -> Polygon:
        """The same polygon with another margin, its rings not checked again.

        Shares this polygon's rings, prepared shape and everything the matcher derived from
        them (none of it depends on the margin), so growing a large polygon costs nothing
        more than the margin's own check.

        Parameters
        ----------
        margin_m : float
            The new margin in metres (``0 <= m <= 100 km``), replacing this polygon's.

        Returns
        -------
        Polygon
            Equal to ``Polygon(exterior, holes, margin_m=margin_m)``.

        Raises
        ------
        InvalidArea
            For a margin outside its range, NaN or infinite.
        InvalidType
            For a margin that is not a number (a bool, a str, a 0-d array).

        Examples
        --------
        >>> from geotarget import Polygon
        >>> square = Polygon([(18.0, 59.0), (18.1, 59.0), (18.1, 59.1), (18.0, 59.1)])
        >>> square.contains([18.1005], [59.05]).tolist()
        [False]
        >>> square.with_margin(100.0).contains([18.1005], [59.05]).tolist()
        [True]

        .. versionadded:: 0.1.0
        """
        out = object.__new__(Polygon)
        out.__attrs_init__(self.exterior, self.holes, margin_m=_margin(margin_m))
        object.__setattr__(out, "_shape", self._shape)
        return out

    def without_holes(self) -> Area:
        """The polygon as parts without holes that together cover exactly its points.

        CAP draws an area as a union of plain rings, with no holes, and some regions have
        them: a municipality or a county around a neighbour's enclave (16 of Sweden's 290
        municipalities, the counties 14, 21 and 25). Each hole is cut along the meridian
        through the middle of its longitude range (GEOS's rectangle clipping), piece by
        piece, until no piece has one. The pieces meet along the cuts, each cut edge shared
        by the pieces either side (a point on a cut is in both), and their union is the
        polygon: its edges and holes are kept, split only where a cut crosses them. GEOS
        rounds that crossing in its last bits, so it is moved along the cut to the nearest
        representable point the polygon covers: every vertex of the pieces is in the
        polygon, and so is every point of the cuts they cover. (Points within a few units in
        the last place of a crossed edge, beside the crossing, may still fall on the other
        side of the split edge: nanometres.) A hole touching the shell or another hole at a
        point splits the piece there.
        Each piece keeps the polygon's margin (the union of the pieces grown by it is the
        polygon grown by it, up to :attr:`margin_error_bound_m`: each piece measures its margin
        in its own frame). A polygon without holes is returned alone.

        Returns
        -------
        Area
            Polygons without holes, covering the same points as this one.

        Raises
        ------
        InvalidArea
            If GEOS's clipping did not keep the polygon's area exactly (pieces invalid, or
            their areas not summing to the polygon's): never a wrong area.

        Examples
        --------
        >>> from geotarget import Polygon
        >>> frame = Polygon([(18.0, 59.0), (18.3, 59.0), (18.3, 59.2), (18.0, 59.2)],
        ...                 [[(18.1, 59.05), (18.2, 59.05), (18.2, 59.15), (18.1, 59.15)]])
        >>> pieces = frame.without_holes()
        >>> [len(p.holes) for p in pieces.parts]
        [0, 0]
        >>> lon, lat = [18.05, 18.15, 18.15, 18.15], [59.1, 59.1, 59.02, 59.05]
        >>> pieces.contains(lon, lat).tolist() == frame.contains(lon, lat).tolist()
        True

        .. versionadded:: 0.1.0
        """
        if not self.holes:
            return Area([self])
        done: list[sg.Polygon] = []
        todo: list[sg.Polygon] = [self._shape]
        with _geos.quiet():
            while todo:
                piece = todo.pop()
                if not piece.interiors:
                    done.append(piece)
                    continue
                x = shapely.get_coordinates(piece.interiors[0])[:, 0]
                cut = float(x.min() + x.max()) / 2.0
                west, south, east, north = piece.bounds
                # GEOS's rectangle clipping: the halves share the cut's edge, computed alike.
                for half in (
                    shapely.clip_by_rect(piece, west - 1.0, south - 1.0, cut, north + 1.0),
                    shapely.clip_by_rect(piece, cut, south - 1.0, east + 1.0, north + 1.0),
                ):
                    todo.extend(
                        g
                        for g in shapely.get_parts(half)
                        if isinstance(g, sg.Polygon) and not g.is_empty and g.area > 0.0
                    )
            # A hole touching the shell or another hole at a point leaves a piece pinched
            # there (its ring touches itself: invalid); GEOS's structural repair splits it at
            # that point into the polygons either side, their vertices its own.
            done = [
                f
                for g in done
                for f in (
                    [g]
                    if g.is_valid
                    else shapely.get_parts(shapely.make_valid(g, method="structure"))
                )
                if isinstance(f, sg.Polygon) and not f.is_empty and f.area > 0.0
            ]
            done = _onto_the_polygon(self._shape, done)
            whole = float(self._shape.area)
            if (
                not all(g.is_valid for g in done)
                or abs(sum(g.area for g in done) - whole) > 1e-9 * whole
            ):
                raise InvalidArea(
                    "this polygon's holes could not be cut away exactly (GEOS's clipping "
                    "lost or added area): give its parts without holes yourself"
                )
        done.sort(key=lambda g: g.bounds)  # west to east: the same pieces in the same order
        return Area([Polygon.from_shapely(g).with_margin(self.margin_m) for g in done])

    @classmethod
    def repair(
        cls,
        exterior: Iterable[Sequence[float]],
        holes: Iterable[Iterable[Sequence[float]]] = (),
        *,
        margin_m: float = 0.0,
    ) -> Area:
        """Repair self-intersecting rings explicitly and return the result as an :class:`Area`.

        A bow-tie ring becomes two polygons, so the result is an ``Area``. Repair uses GEOS
        ``make_valid`` (structure method): the area covered by the shell, minus the holes.
        Rings whose edges cross more than 10,000 times are refused (``InvalidArea``): the
        repair's pieces, time and memory grow with the crossings, and a ring of 3,000 random
        vertices has a million of them.

        Examples
        --------
        >>> from geotarget import Polygon
        >>> bowtie = [(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0)]
        >>> len(Polygon.repair(bowtie).parts)
        2
        """
        shell = list(_ring("exterior", exterior))
        if isinstance(holes, (str, bytes)) or not iterable(holes):  # type: ignore[unreachable]
            raise InvalidArea(f"holes must be a sequence of rings (got {shown(holes, 80)})")
        hole_lists = [list(_ring(f"holes[{j}]", h)) for j, h in enumerate(holes)]
        raw = sg.Polygon(shell, hole_lists)
        if not checkable([np.asarray(r, dtype=np.float64) for r in (shell, *hole_lists)]):
            # (Before counting crossings, whose bounded count would say "more" of a simple
            # ring of long overlapping teeth: it is the check, not a repair, that it is past.)
            raise InvalidArea(f"Polygon.repair: the rings must {_geos.CHECKABLE}")
        if _geos.crossings(raw) > _geos.MAX_CROSSINGS:
            raise InvalidArea(f"Polygon.repair: rings must {_geos.REPAIRABLE}")
        with _geos.quiet():  # (subnormal coordinates: see _geos.quiet)
            polys = _repaired_pieces(raw)
        if not polys:
            raise InvalidArea("exterior encloses no area after repair (got a degenerate ring)")
        return Area(
            [
                cls(
                    list(p.exterior.coords),
                    [list(r.coords) for r in p.interiors],
                    margin_m=margin_m,
                )
                for p in polys
            ]
        )

    @classmethod
    def from_shapely(cls, geom: sg.Polygon, *, margin_m: float = 0.0) -> Polygon:
        """Build from a shapely ``Polygon`` in lon/lat degrees."""
        if not isinstance(geom, sg.Polygon):
            raise InvalidType(f"geom must be a shapely Polygon (got {type(geom).__name__})")
        if geom.is_empty:
            raise InvalidArea("geom must not be empty (got an empty Polygon)")
        return cls(
            list(geom.exterior.coords), [list(r.coords) for r in geom.interiors], margin_m=margin_m
        )

    @property
    def shape(self) -> sg.Polygon:
        """The polygon as a prepared shapely geometry in lon/lat degrees (without margin)."""
        return self._shape

    def _contains_valid(self, x: FloatArray, y: FloatArray) -> BoolArray:
        out = self._contains_as_written(x, y)
        # Lon -180 and 180 are one meridian: a point written on it is inside when either
        # spelling is (a ring's edge along 180 holds a fix reported at -180, boundary included).
        seam = np.flatnonzero((np.abs(x.reshape(-1)) == 180.0) & ~out.reshape(-1))
        if seam.size:
            flat_y = y.reshape(-1)[seam]
            out.reshape(-1)[seam] = self._contains_as_written(-x.reshape(-1)[seam], flat_y)
        return out

    def _contains_as_written(self, x: FloatArray, y: FloatArray) -> BoolArray:
        """:meth:`contains` of validated points, each longitude taken as written."""
        out = np.zeros(x.shape, dtype=np.bool_)
        flat_x = x.reshape(-1)
        flat_y = y.reshape(-1)
        west, south, east, north = self._window()
        cand = np.flatnonzero(
            (flat_x >= west) & (flat_x <= east) & (flat_y >= south) & (flat_y <= north)
        )
        if cand.size == 0:
            return out
        cx = flat_x[cand]
        cy = flat_y[cand]
        inside = polygons.intersects_xy(self, cx, cy)
        if self.margin_m > 0.0:
            rest = np.flatnonzero(~inside)
            if rest.size:
                inside[rest] = self._within_margin(cx[rest], cy[rest])
        out.reshape(-1)[cand] = inside
        return out

    # --- margin ----------------------------------------------------------------------------

    def _within_margin(self, x: FloatArray, y: FloatArray) -> BoolArray:
        """Whether each point (outside the lon/lat polygon) is within the margin of it.

        Measured in the metric frame (:func:`geotarget._index.polygons.frame`). A point's
        geodesic distance from the frame's centre decides it first wherever the boundary's
        distances from the centre do (:func:`geotarget._index.polygons.centre_bounds`, when
        known or for many points: a compact polygon's margin band is all that is left). Before
        the frame is built, the remaining few points are bounded in the tangent plane
        (:func:`geotarget._index.frames.distance_bounds`: numpy, no PROJ, exact pairs for few
        points), and the frame is built only for a point those bounds leave within millimetres
        of the margin: a new small polygon's stale area asks this of a handful of points, for
        which projecting its boundary cost more than the rest of the query.
        """
        out = np.zeros(x.shape, dtype=np.bool_)
        if x.size == 0:
            return out
        m = self.margin_m
        ask = np.arange(x.size)
        # Bounds from the centre cost about as much as the tangent plane's for a few dozen
        # points: computed for more, used when known (a classification of the polygon).
        known = polygons.centre_bounds_if_known(self)
        centre = known if x.size < _CENTRE_POINTS else polygons.centre_bounds(self)
        if centre is not None:
            # Within max(0, d - inner) of the metric polygon, at least d - outer from it.
            inner, outer = centre
            lon0, lat0 = polygons.origin(self)
            near, maybe = _geodesy.geodesic_le(
                lon0,
                lat0,
                x,
                y,
                [(0.0, inner + m - _SAME_SIDE_M), (0.0, outer + m + _SAME_SIDE_M)],
            )
            out[near] = True
            ask = np.flatnonzero(maybe & ~near)
        if polygons.frame_if_built(self) is None and ask.size:
            scale = 1.0 + frames.frame_scale(self._shape, m, polygons.rho(self))
            edges = polygons.edges(self)
            pairs = ask.size * frames.dense_vertices(edges, polygons.DENSIFY_DEG)
            if frames.applies(scale) and pairs <= frames.BRUTE_PAIRS:
                lon0, lat0 = polygons.origin(self)
                xa, ya = x[ask], y[ask]
                limit = np.full(ask.size, m)
                lo, hi = frames.distance_bounds(
                    lon0,
                    lat0,
                    scale,
                    edges,
                    polygons.DENSIFY_DEG,
                    xa,
                    ya,
                    limit,
                    polygons.tangent_segments(self),
                    rows=polygons.tangent_rows(self),
                )
                out[ask] = hi <= m
                # Farther than a few millimetres from the metric boundary, a point outside the
                # lon/lat polygon is outside the metric one too (they lie within the frame's
                # densification and rounding of each other): beyond the margin. (The bounds'
                # own slack, a millimetre, already keeps nearer points undecided.)
                beyond = lo > max(m, _SAME_SIDE_M)
                ask = ask[~(hi <= m) & ~beyond]
        if ask.size:
            lon0, lat0, metric = polygons.frame(self)
            mx, my = _geodesy.to_aeqd(lon0, lat0, x[ask], y[ask])
            pts = shapely.points(np.asarray(mx), np.asarray(my))
            near = metric
            if ask.size >= _BOUNDARY_POINTS and m > _SAME_SIDE_M:
                # These points lie outside the lon/lat polygon: inside the metric one only
                # within _SAME_SIDE_M of its boundary, so the polygon is within m of one iff
                # its boundary is. GEOS's polygon test first asks whether the point is in the
                # polygon, a ray cast along a parallel that meets every tooth of a comb.
                near = shapely.boundary(metric)
                shapely.prepare(near)
            out[ask] = np.asarray(shapely.dwithin(near, pts, m), dtype=np.bool_)
        return out

    @property
    def margin_error_bound_m(self) -> float:
        """Worst-case error, in metres, of the margin distance test.

        The margin is measured in an azimuthal-equidistant frame centred on the polygon, whose
        scale error grows with the square of the distance ``ρ`` from its centre: a point whose
        geodesic distance to the polygon is ``d`` is measured as ``d (1 ± δ)`` with
        ``δ = (ρ / 6,335 km)² / 2``, plus 1 mm for densification and rounding. A point closer than
        ``margin_m - bound`` is always included; one farther than ``margin_m + bound`` never is.
        Zero when there is no margin.
        """
        if self.margin_m == 0.0:
            return 0.0
        west, south, east, north = polygons.bounds(self)
        lon0 = (west + east) / 2.0
        lat0 = (south + north) / 2.0
        corners_lon = np.array([west, east, west, east])
        corners_lat = np.array([south, south, north, north])
        rho = float(_geodesy.geodesic_distance(lon0, lat0, corners_lon, corners_lat).max())
        rho += self.margin_m
        delta = (rho / _geodesy.R_MIN) ** 2 / 2.0
        return self.margin_m * delta + 1e-3

    # --- geometry --------------------------------------------------------------------------

    def _window(self) -> tuple[float, float, float, float]:
        west, south, east, north = polygons.bounds(self)
        if self.margin_m == 0.0:
            return (west, south, east, north)
        dlat = math.degrees(self.margin_m / _geodesy.R_MIN) * (1 + 1e-9)
        south, north = max(south - dlat, -90.0), min(north + dlat, 90.0)
        far = max(abs(south), abs(north))
        if far >= 90.0:
            return (-180.0, south, 180.0, north)
        dlon = math.degrees(self.margin_m / (_geodesy.A * math.cos(math.radians(far)))) * (1 + 1e-9)
        if west - dlon < -180.0 or east + dlon > 180.0:
            # The margin reaches across the antimeridian: points there have longitudes at the
            # other end of the range, so the window spans every longitude (as a circle's does).
            return (-180.0, south, 180.0, north)
        return (west - dlon, south, east + dlon, north)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in degrees, including the margin (conservatively)."""
        return self._window()

    def _to_lonlat_polygon(self) -> sg.Polygon | sg.MultiPolygon:
        if self.margin_m == 0.0:
            return self._shape
        lon0, lat0, metric = polygons.frame(self)
        # One GEOS buffer, not :func:`geotarget._geos.grown`'s stages: the territory check and
        # ``area_m2`` rely on it lying within GEOS's promised error of the margin, which stages
        # may exceed (a jagged polygon with a wide margin costs more here: classification
        # does not draw it).
        grown = shapely.buffer(metric, self.margin_m, quad_segs=64)
        t = _geodesy.aeqd_transformer(lon0, lat0)
        back = shapely.transform(
            grown, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1], direction="INVERSE"))
        )
        assert isinstance(back, (sg.Polygon, sg.MultiPolygon))
        west, _, east, _ = back.bounds
        if east - west > 180.0:
            # The margin reaches across the antimeridian: PROJ wrapped the points beyond it to
            # the other end of the range, which drew the polygon the long way round. Made
            # continuous about the frame's centre, then cut at ±180 and wrapped back.
            def unwrap(xy: FloatArray) -> FloatArray:
                lon, lat = t.transform(xy[:, 0], xy[:, 1], direction="INVERSE")
                rel = (np.asarray(lon) - lon0 + 540.0) % 360.0 - 180.0
                return np.column_stack([lon0 + rel, lat])

            back = _split_at_antimeridian(shapely.transform(grown, unwrap))
        return back

    @property
    def area_m2(self) -> float:
        """Area in square metres on the WGS84 ellipsoid, holes excluded and margin included.

        Exact for the polygon as drawn, its edges straight in lon/lat: the ellipsoid's area
        element integrated over it, in closed form along latitude and by a Gauss–Legendre rule
        along each edge (no densified geodesic ring).

        .. versionchanged:: 0.1.0
           Exact instead of pyproj's geodesic area of the ring densified to 0.01° (which
           differed by about 4e-8 for a municipality, more near the poles).
        """
        if self.margin_m == 0.0:
            # Its rings are oriented (exterior counter-clockwise, holes clockwise): their
            # signed areas sum to the polygon's, from the edges classify keeps anyway.
            return float(_geodesy.signed_ring_areas(*polygons.edges(self), 0, 1)[0])
        return _geodesic_area(self._to_lonlat_polygon())

    def _feature(self) -> dict[str, Any]:
        return {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [[list(p) for p in r] for r in (self.exterior, *self.holes)],
            },
            "properties": {"margin_m": self.margin_m},
        }


#: Rounds of GEOS's repair a piece may take (see :func:`_repaired_pieces`).
_REPAIR_ROUNDS = 4


def _repaired_pieces(raw: sg.Polygon) -> list[sg.Polygon]:
    """The pieces with area of ``make_valid(raw)``, each valid by GEOS's own test.

    GEOS's repair can leave a piece it does not itself hold valid: between two vertices
    1e-313° apart, one ring crossing itself at the point they nearly share, a sliver of
    1e-311 square degrees. Such a piece is repaired again (the sliver collapses to a line,
    which covers no area and goes); one still invalid after :data:`_REPAIR_ROUNDS` rounds is
    refused (``InvalidArea``), never dropped.
    """
    done: list[sg.Polygon] = []
    todo = [g for g in _polygons_of(shapely.make_valid(raw, method="structure")) if g.area > 0]
    for _ in range(_REPAIR_ROUNDS):
        valid = shapely.is_valid(todo) if todo else np.zeros(0, dtype=np.bool_)
        done.extend(g for g, ok in zip(todo, valid.tolist(), strict=True) if ok)
        todo = [
            piece
            for g, ok in zip(todo, valid.tolist(), strict=True)
            if not ok
            for piece in _polygons_of(shapely.make_valid(g, method="structure"))
            if piece.area > 0
        ]
        if not todo:
            return done
    raise InvalidArea(
        "Polygon.repair: the rings must be repairable into valid polygons (GEOS's repair "
        f"still leaves an invalid piece after {_REPAIR_ROUNDS} rounds, near "
        f"{todo[0].exterior.coords[0]!r})"
    )


def _polygons_of(geom: Any) -> Iterator[sg.Polygon]:
    if isinstance(geom, sg.Polygon):
        if not geom.is_empty:
            yield geom
    elif isinstance(geom, (sg.MultiPolygon, sg.GeometryCollection)):
        for g in geom.geoms:
            yield from _polygons_of(g)


#: Most rim points of the circles :attr:`Area.area_m2` unites where parts overlap.
_UNION_POINTS = 1 << 15


#: Pairs of meeting windows :func:`_overlap_groups` lists, per part, before it unites them.
_PAIRS_PER_PART = 32
#: Windows per tree query of :func:`_overlap_groups`: what one query may list is bounded.
_PAIR_CHUNK = 64


def _overlap_groups(parts: Sequence[Part]) -> list[npt.NDArray[np.intp]]:
    """The parts grouped by the connected components of their overlapping bounds.

    Conservative windows (a part crossing the antimeridian spans every longitude). The pairs
    of windows that meet come from a tree of them, a chunk of windows at a time, while they
    average at most :data:`_PAIRS_PER_PART` a part: scattered parts cost their pairs, never
    all pairs. Where the windows crowd (thousands of circles over one town: every pair meets,
    quadratic time and memory, 6.7 s and 533 MB for 8,000), the windows are united instead
    and each is looked up in the pieces of the union (0.03 s for 4,000 crowded windows; for
    scattered ones it would cost 0.15 s for 2,000, so it is not the first way). Each group
    is its parts in ascending order, the groups by their first part, whichever way was taken.
    """
    windows = np.array([p._window() for p in parts], dtype=np.float64)
    boxes = shapely.box(windows[:, 0], windows[:, 1], windows[:, 2], windows[:, 3])
    tree = shapely.STRtree(boxes)
    budget = _PAIRS_PER_PART * len(parts)
    ones: list[npt.NDArray[np.intp]] = []
    others: list[npt.NDArray[np.intp]] = []
    listed = 0
    for lo in range(0, len(parts), _PAIR_CHUNK):
        one, other = tree.query(boxes[lo : lo + _PAIR_CHUNK], predicate="intersects")
        listed += one.size
        if listed > budget:
            label = _united_labels(boxes)
            break
        ones.append(one + lo)
        others.append(other)
    else:
        label = _components(len(parts), np.concatenate(ones), np.concatenate(others))
    # The lowest part of each group names it: the same groups, in the same order, either way.
    first = np.full(int(label.max()) + 1, len(parts), dtype=np.intp)
    np.minimum.at(first, label, np.arange(len(parts)))
    label = first[label]
    order = np.argsort(label, kind="stable")
    cuts = np.flatnonzero(np.diff(label[order])) + 1
    return list(np.split(order, cuts))


def _components(n: int, one: npt.NDArray[np.intp], other: npt.NDArray[np.intp]) -> Any:
    """Per node of ``n``, a label shared exactly by the nodes the pairs connect.

    The lowest node number propagated over the pairs, each round also following labels to
    their labels, so a chain of ``n`` nodes takes about ``log n`` rounds.
    """
    label = np.arange(n, dtype=np.intp)
    while True:
        lower = label.copy()
        np.minimum.at(lower, one, label[other])
        np.minimum.at(lower, other, label[one])
        lower = lower[lower]
        if np.array_equal(lower, label):
            return label
        label = lower


def _united_labels(boxes: Any) -> Any:
    """Per box, a label shared exactly by the boxes of one connected piece of their union.

    The union's polygons are disjoint but may touch at points; a box meets each polygon it
    touches, so linking the polygons each box meets joins those that touch through a box.
    """
    pieces = shapely.get_parts(shapely.union_all(boxes))
    box, piece = shapely.STRtree(pieces).query(boxes, predicate="intersects")
    by_box = np.argsort(box, kind="stable")
    box, piece = box[by_box], piece[by_box]
    # The first piece each box meets stands for it; the pieces it meets are linked to that one.
    starts = np.flatnonzero(np.r_[True, box[1:] != box[:-1]])
    lead = piece[starts]
    linked = _components(len(pieces), np.repeat(lead, np.diff(np.r_[starts, box.size])), piece)
    own = np.arange(len(boxes), dtype=np.intp) + len(pieces)  # a box meeting no piece: alone
    own[box[starts]] = linked[lead]
    return own


def _equal_area_widening(n: int) -> float:
    """How much wider than a disk's radius a regular ``n``-gon of the disk's area reaches."""
    step = 2.0 * math.pi / n
    return math.sqrt(step / math.sin(step))


def _equal_area_polygons(circles: list[Circle], n: int) -> dict[int, Any]:
    """Each circle's equal-area ``n``-gon on its rim, by ``id``: one ``Geod.fwd`` for all.

    A circle whose window reaches a pole or the antimeridian is drawn on its own
    (:meth:`Circle._to_lonlat_polygon`, which splits and closes such rims).
    """
    out: dict[int, Any] = {}
    plain = []
    for c in circles:
        west, south, east, north = c._window()
        if west <= -180.0 or east >= 180.0 or south <= -89.0 or north >= 89.0:
            out[id(c)] = c._to_lonlat_polygon(n, equal_area=True)
        else:
            plain.append(c)
    if not plain:
        return out
    widen = _equal_area_widening(n)
    lon0 = np.repeat([c.lon for c in plain], n)
    lat0 = np.repeat([c.lat for c in plain], n)
    reach = np.repeat([c.reach_m * widen for c in plain], n)
    az = np.tile(np.linspace(0.0, 360.0, n, endpoint=False), len(plain))
    lon, lat, _ = _geodesy.geod().fwd(lon0, lat0, az, reach)
    rims = np.stack([lon, lat], axis=-1).reshape(len(plain), n, 2)
    polygons: Any = shapely.polygons(rims)  # an array of polygons for an array of rims
    for c, polygon in zip(plain, polygons, strict=True):
        out[id(c)] = polygon
    return out


#: Parts of a group that :attr:`Area.area_m2` first checks for disjoint interiors (summing their
#: areas) before it unites them: a union of many parts costs more than linear time.
_DISJOINT_FIRST = 512


def _geodesic_area(geom: Any) -> float:
    """The area of a lon/lat (multi)polygon on the WGS84 ellipsoid, holes excluded.

    Exact for edges straight in lon/lat (:func:`geotarget._geodesy.lonlat_polygon_area`).
    """
    return _geodesy.lonlat_polygon_area(geom)


#: A part of an area: a :class:`Circle` or a :class:`Polygon`.
Part = Circle | Polygon


# ---------------------------------------------------------------------------------------------
# Area
# ---------------------------------------------------------------------------------------------


def foreign_type(value: object) -> str:
    """``value``'s type as a refusal names it: another library's with its name, and a way in.

    ``Polygon`` is geotarget's own; shapely's is ``shapely Polygon``, with how to turn a shapely
    geometry into an area (a message saying "must be a Polygon (got Polygon)" helps nobody).
    """
    kind = type(value)
    top = kind.__module__.split(".")[0]
    if top == "geotarget" and kind.__name__ == "Region":
        return "Region: its area is region.to_area()"
    if top == "geotarget" and kind.__name__ == "RegionSet":
        return "RegionSet: the area of some of its regions is regions.union(codes)"
    if top in ("builtins", "geotarget"):
        return kind.__name__
    named = f"{top} {kind.__name__}"
    if top == "shapely":
        named += (
            ": convert it with geotarget.Polygon.from_shapely(geom), or any polygonal geometry "
            "with geotarget.Area.from_geojson(shapely.geometry.mapping(geom))"
        )
    return named


def _parts(value: Area | Part | Iterable[Area | Part]) -> tuple[Part, ...]:
    if isinstance(value, (Circle, Polygon)):
        return (value,)
    if isinstance(value, Area):
        return value.parts
    if isinstance(value, (str, bytes, Mapping)) or not iterable(value):
        raise InvalidType(
            f"parts must be a sequence of Circle and Polygon (got {foreign_type(value)})"
        )
    out: list[Part] = []
    for i, p in enumerate(value):
        if isinstance(p, Area):
            out.extend(p.parts)
        elif isinstance(p, (Circle, Polygon)):
            out.append(p)
        else:
            raise InvalidType(f"parts[{i}] must be a Circle or a Polygon (got {foreign_type(p)})")
    if not out:
        raise InvalidArea("parts must hold at least one Circle or Polygon (got none)")
    return tuple(out)


@attrs.frozen
class Area:
    """Where an alert applies: the union of one or more circles and polygons.

    Parameters
    ----------
    parts : Circle, Polygon or sequence of them
        At least one part. Nested areas are flattened.

    Examples
    --------
    >>> from geotarget import Area, Circle, Polygon
    >>> area = Area([Circle(18.07, 59.33, 1000.0),
    ...              Polygon([(11.9, 57.7), (12.0, 57.7), (12.0, 57.8)])])
    >>> area.contains([18.07, 11.99, 15.0], [59.33, 57.71, 60.0]).tolist()
    [True, True, False]
    >>> Area.from_geojson(area.to_geojson()) == area
    True

    .. versionadded:: 0.1.0
    """

    parts: tuple[Part, ...] = attrs.field(converter=_parts)

    def __or__(self, other: Area | Part) -> Area:
        """The union of two areas."""
        return Area([*self.parts, *_parts(other)])

    def without_holes(self) -> Area:
        """The area with every polygon split into parts without holes (same points).

        As :meth:`Polygon.without_holes` for each polygon; circles as they are. How an area
        with holes is written as CAP, which has none.

        Examples
        --------
        >>> from geotarget import Area, Circle, Polygon
        >>> frame = Polygon([(18.0, 59.0), (18.3, 59.0), (18.3, 59.2), (18.0, 59.2)],
        ...                 [[(18.1, 59.05), (18.2, 59.05), (18.2, 59.15), (18.1, 59.15)]])
        >>> area = Area([frame, Circle(18.5, 59.1, 100.0)])
        >>> [type(p).__name__ for p in area.without_holes().parts]
        ['Polygon', 'Polygon', 'Circle']

        .. versionadded:: 0.1.0
        """
        parts: list[Part] = []
        for part in self.parts:
            parts.extend(part.without_holes().parts if isinstance(part, Polygon) else [part])
        return Area(parts)

    def contains(self, lon: Any, lat: Any) -> BoolArray:
        """Return whether each point is inside any part (boundaries included).

        Parameters
        ----------
        lon, lat : float or array_like
            Points in WGS84 degrees, of the same shape.

        Returns
        -------
        numpy.ndarray of bool
            Same shape as the inputs.

        Raises
        ------
        InvalidCoordinates
            For NaN, inf, out-of-range values or arrays of different shapes.
        """
        x, y = lon_lat_arrays(lon, lat)
        out = self.parts[0]._contains_valid(x, y)
        for part in self.parts[1:]:
            out |= part._contains_valid(x, y)
        return out

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in degrees over all parts.

        If any part crosses the antimeridian, west/east are -180/180.
        """
        circles = [p for p in self.parts if isinstance(p, Circle)]
        rows = [p.bounds for p in self.parts if not isinstance(p, Circle)]
        if circles:  # all at once: a few microseconds a circle
            lon, lat, reach = np.array([(c.lon, c.lat, c.reach_m) for c in circles]).T
            rows.extend(np.column_stack(circle_bounds(lon, lat, reach)))
        boxes = np.array(rows, dtype=np.float64).reshape(-1, 4)
        south = float(boxes[:, 1].min())
        north = float(boxes[:, 3].max())
        if (boxes[:, 0] > boxes[:, 2]).any():
            return (-180.0, south, 180.0, north)
        return (float(boxes[:, 0].min()), south, float(boxes[:, 2].max()), north)

    @property
    def area_m2(self) -> float:
        """Geodesic area in square metres; overlaps between parts are counted once.

        A part whose bounds meet no other part's counts its own area (a circle's within 1e-6
        relative). Parts whose bounds meet are united as lon/lat polygons, each circle drawn
        as the polygon of its own area on a slightly wider rim (32 to 4,096 points, 32,768 in
        all but for thousands of circles): the cost grows with the number of parts, not 4,096
        rim points each. Where discs overlap the result agrees with a union of 4,096-point
        rims to 1e-4 (tests); about 5e-6 for the 1,000-circle benchmark area.

        .. versionchanged:: 0.1.0
           Overlapping parts no longer unite 4,096-point rims (seconds for 1,000 circles).
        """
        parts = self.parts
        if len(parts) == 1:
            return parts[0].area_m2
        groups = _overlap_groups(parts)
        grouped = [parts[i] for g in groups if g.size > 1 for i in g.tolist()]
        circles = sum(isinstance(p, Circle) for p in grouped)
        n = min(4096, max(32, _UNION_POINTS // max(circles, 1)))
        drawn = _equal_area_polygons([p for p in grouped if isinstance(p, Circle)], n)
        total = 0.0
        for group in groups:
            if group.size == 1:
                total += parts[int(group[0])].area_m2
                continue
            members = [parts[i] for i in group.tolist()]
            geoms = [
                drawn[id(p)] if isinstance(p, Circle) else p._to_lonlat_polygon() for p in members
            ]
            if len(members) >= _DISJOINT_FIRST and not any(isinstance(p, Circle) for p in members):
                # Polygons whose interiors are disjoint (they may touch at points: the pieces of
                # a repaired zigzag) make a valid MultiPolygon, whose area is their sum. A union
                # grows faster than the parts (5,101 such pieces: 4.4 s; checking: 0.04 s);
                # below this many, checking first costs more than it saves (it does not stop
                # early at the shared edges of neighbouring municipalities: 13 % for Sweden's).
                multi = shapely.multipolygons(geoms)
                if shapely.is_valid(multi):
                    total += _geodesic_area(multi)
                    continue
            total += _geodesic_area(shapely.union_all(geoms))
        return total

    def to_shapely(self) -> sg.Polygon | sg.MultiPolygon:
        """A lon/lat shapely geometry approximating the area, for drawing and reporting.

        Circles become 4,096-gons of points on the exact rim (within 0.3 m of it for a 1,000 km
        radius); margins are buffered in a local metric frame. Membership tests never use it.
        """
        geoms = [
            p._to_lonlat_polygon(_RIM_MAX) if isinstance(p, Circle) else p._to_lonlat_polygon()
            for p in self.parts
        ]
        merged = shapely.union_all(geoms) if len(geoms) > 1 else geoms[0]
        assert isinstance(merged, (sg.Polygon, sg.MultiPolygon))
        return merged

    # --- GeoJSON ---------------------------------------------------------------------------

    def to_geojson(self) -> dict[str, Any]:
        """The area as a GeoJSON FeatureCollection (a dict).

        Polygons are Polygon features with a ``margin_m`` property; circles are Point features
        with ``radius_m`` and ``margin_m`` properties. :meth:`from_geojson` reads it back.
        """
        return {"type": "FeatureCollection", "features": [p._feature() for p in self.parts]}

    @property
    def __geo_interface__(self) -> dict[str, Any]:
        """The GeoJSON FeatureCollection of :meth:`to_geojson`."""
        return self.to_geojson()

    @classmethod
    def from_geojson(cls, data: str | bytes | Mapping[str, Any]) -> Area:
        """Read an area from GeoJSON: a Geometry, Feature or FeatureCollection.

        Parameters
        ----------
        data : str, bytes or mapping
            GeoJSON text or a parsed dict. Supported geometry types: Polygon, MultiPolygon,
            GeometryCollection of those, and Point *features* with a ``radius_m`` property
            (metres; optional ``margin_m``). Polygon features may carry ``margin_m``.

        Raises
        ------
        InvalidGeoJSON
            For malformed JSON, a key given twice in one object (JSON readers differ in which
            value they keep), unsupported types, empty geometries, missing radii or a bad
            coordinate, radius or margin, or a legacy ``crs`` member naming another CRS than
            WGS 84 lon/lat; the message names the path, e.g. ``features[2].geometry.type``.
        """
        if isinstance(data, (str, bytes)):
            try:
                obj = json_unique(data)
            except KeyTwice as twice:
                raise InvalidGeoJSON(
                    f"GeoJSON text gives the key {twice.key!r} twice in one object"
                    f"{twice.where.replace(' (at ', ' (at $.')}: JSON readers differ in which "
                    "one they keep (RFC 8259: names should be unique), so which area is meant "
                    "is unknown; keep one"
                ) from None
            except RecursionError:
                raise InvalidGeoJSON(
                    f"GeoJSON text is nested too deeply (more than {_MAX_DEPTH} levels)"
                ) from None
            except ValueError as err:  # also bad UTF-8 and Python's 4,300-digit int limit
                raise InvalidGeoJSON(f"GeoJSON text is not valid JSON: {err}") from err
        else:
            obj = data
        try:
            _lonlat_crs(obj)
            parts = list(_read_geojson(obj, "$"))
        except RecursionError:  # a value nested thousands deep, e.g. in a message's repr
            raise InvalidGeoJSON("GeoJSON is nested too deeply to be an area") from None
        if not parts:
            raise InvalidGeoJSON("GeoJSON must contain at least one area (got an empty one)")
        return cls(parts)


def _lonlat_crs(obj: Any) -> None:
    """Refuse a legacy ``crs`` member naming anything but WGS 84 lon/lat (an area is lon/lat).

    RFC 7946 dropped the member; files exported in a projected CRS (SWEREF 99 TM) still carry
    it, and their metres would otherwise be refused vertex by vertex as longitudes.
    """
    member = obj.get("crs") if isinstance(obj, Mapping) else None
    if member is None:
        return
    props = member.get("properties") if isinstance(member, Mapping) else None
    name = props.get("name") if isinstance(props, Mapping) else None
    if isinstance(name, str):
        from geotarget._regions_io import _is_lonlat
        from geotarget.errors import InvalidRegions

        try:
            if _is_lonlat(name):
                return
        except InvalidRegions:  # not a CRS pyproj knows: refused below, named as written
            pass
    raise InvalidGeoJSON(
        f"$.crs names {shown(name if isinstance(name, str) else member, 80)}, not WGS 84 lon/lat: "
        "an area's GeoJSON is in lon/lat degrees (RFC 7946); reproject it first (e.g. "
        "ogr2ogr -t_srs EPSG:4326), as RegionSet.from_geojson(crs=...) does for regions"
    )


_SUPPORTED = ("Feature", "FeatureCollection", "GeometryCollection", "MultiPolygon", "Polygon")
#: How deeply collections may nest (RFC 7946 discourages nesting GeometryCollections at all).
_MAX_DEPTH = 16


#: A GeoJSON array as Python holds it: a list from ``json``, a tuple from shapely's
#: ``mapping`` (``__geo_interface__``).
_ARRAY = (list, tuple)


def _read_geojson(
    obj: Any, path: str, props: Mapping[str, Any] | None = None, depth: int = 0
) -> Iterator[Part]:
    if not isinstance(obj, Mapping):
        raise InvalidGeoJSON(f"{path} must be a GeoJSON object (got {type(obj).__name__})")
    if depth > _MAX_DEPTH:
        raise InvalidGeoJSON(
            f"{path} is nested too deeply: collections may nest at most {_MAX_DEPTH} levels"
        )
    kind = obj.get("type")
    margin = (props or {}).get("margin_m", 0.0)
    try:
        if kind == "FeatureCollection":
            feats = obj.get("features")
            if not isinstance(feats, _ARRAY):
                raise InvalidGeoJSON(f"{path}.features must be a list (got {feats!r})")
            for i, f in enumerate(feats):
                yield from _read_geojson(f, f"{path}.features[{i}]", None, depth + 1)
        elif kind == "Feature":
            fprops = obj.get("properties") or {}
            if not isinstance(fprops, Mapping):
                raise InvalidGeoJSON(f"{path}.properties must be an object (got {fprops!r})")
            geom = obj.get("geometry")
            if geom is None:
                raise InvalidGeoJSON(f"{path}.geometry must not be null (got an empty Feature)")
            if isinstance(geom, Mapping) and geom.get("type") == "Point":
                yield _read_point(geom, fprops, f"{path}.geometry")
            else:
                yield from _read_geojson(geom, f"{path}.geometry", fprops, depth + 1)
        elif kind == "Polygon":
            rings = _coords(obj, path)
            yield _read_polygon(rings, path, margin)
        elif kind == "MultiPolygon":
            for i, rings in enumerate(_coords(obj, path)):
                yield _read_polygon(rings, f"{path}.coordinates[{i}]", margin)
        elif kind == "GeometryCollection":
            geoms = obj.get("geometries")
            if not isinstance(geoms, _ARRAY) or not geoms:
                raise InvalidGeoJSON(f"{path}.geometries must be a non-empty list (got {geoms!r})")
            for i, g in enumerate(geoms):
                yield from _read_geojson(g, f"{path}.geometries[{i}]", props, depth + 1)
        elif kind == "Point":
            raise InvalidGeoJSON(
                f"{path}.type Point has no radius: give it as a Feature with a radius_m property"
            )
        else:
            raise InvalidGeoJSON(
                f"{path}.type must be one of {', '.join(_SUPPORTED)} (got {kind!r})"
            )
    except InvalidGeoJSON:
        raise
    except (InvalidArea, InvalidCoordinates, InvalidType) as err:  # bad numbers: say where
        raise InvalidGeoJSON(f"{path}: {err}") from err


def _coords(obj: Mapping[str, Any], path: str) -> Sequence[Any]:
    coords = obj.get("coordinates")
    if not isinstance(coords, _ARRAY) or not coords:
        raise InvalidGeoJSON(f"{path}.coordinates must be a non-empty list (got {coords!r})")
    return coords


def _read_polygon(rings: Any, path: str, margin: Any) -> Polygon:
    if not isinstance(rings, _ARRAY) or not rings:
        raise InvalidGeoJSON(f"{path} must be a non-empty list of rings (got {rings!r})")
    return Polygon(rings[0], rings[1:], margin_m=margin)


def _read_point(geom: Mapping[str, Any], props: Mapping[str, Any], path: str) -> Circle:
    coords = geom.get("coordinates")
    if not isinstance(coords, _ARRAY) or len(coords) < 2:
        raise InvalidGeoJSON(f"{path}.coordinates must be [lon, lat] (got {coords!r})")
    if "radius_m" not in props:
        raise InvalidGeoJSON(
            f"{path}: a Point feature needs a radius_m property in metres (got properties "
            f"{sorted(props)!r})"
        )
    try:
        return Circle(coords[0], coords[1], props["radius_m"], margin_m=props.get("margin_m", 0.0))
    except (InvalidArea, InvalidCoordinates, InvalidType) as err:
        raise InvalidGeoJSON(f"{path}: {err}") from err


def _estimated_bytes(area: Area) -> int:
    """An upper estimate of the memory an area holds (what a cache keeping it alive costs).

    A circle is a few Python floats. A polygon keeps its rings as tuples (~112 bytes a vertex),
    a prepared GEOS geometry (~64 a vertex), its edges as arrays (32 a vertex) and, once a
    margin or an exact classification needed them, per vertex densified to 0.001°: its metric
    frame (~48 bytes), its lon/lat and last-piece flag (17), and the same vertices on the
    tangent plane (32) with the distance kernel's rows (40). A polygon whose points GEOS tests
    transposed (a comb of north-south teeth) holds a second prepared shape (~64 a vertex); one
    whose edges crowd every parallel and meridian (a star of long, thin spikes) holds a
    :class:`~geotarget._index.crossing.CrossingGrid`
    (:func:`~geotarget._index.crossing.estimated_bytes`).
    """
    total = 0
    for part in area.parts:
        if isinstance(part, Circle):
            total += 256
            continue
        shape = part.shape
        vertices = int(shapely.get_num_coordinates(shape))
        dense = float(shapely.length(shape)) / polygons.DENSIFY_DEG + vertices
        total += 1024 + 208 * vertices + 137 * int(dense)
        if polygons.transposes(part):
            total += 64 * vertices
        if polygons.crowded(part):
            total += crossing.estimated_bytes(polygons.edges(part), polygons.bounds(part))
    return total


#: How many representable latitudes either side of a cut's vertex :func:`_onto_the_polygon`
#: looks at (GEOS's intersection is within a few of the exact one).
_CUT_ULPS = 8


def _onto_the_polygon(shape: sg.Polygon, pieces: list[sg.Polygon]) -> list[sg.Polygon]:
    """The pieces with each vertex a cut made moved along its cut onto the polygon's edge.

    A cut crosses an edge at a point GEOS rounds, so the vertex may lie a few units in the
    last place off the edge, in the hole or outside the polygon: the pieces would cover it and
    the polygon not. Each such vertex (any vertex that is not the polygon's own) is moved
    along its meridian, the same in every piece, to the representable latitude nearest the
    edge that the polygon covers (GEOS's exact predicate), among :data:`_CUT_ULPS` either
    side; one with none is left as it is.
    """
    own = shapely.get_coordinates(shape)
    coords = [shapely.get_coordinates(g) for g in pieces]
    every = np.concatenate(coords)
    new = np.unique(every, axis=0)
    keep = np.ones(len(new), dtype=np.bool_)
    both = np.concatenate([own, new])
    _, first, counts = np.unique(both, axis=0, return_index=True, return_counts=True)
    # vertices of the pieces that are the polygon's own appear twice in ``both``
    shared = first[(counts > 1)]
    keep[shared[shared >= len(own)] - len(own)] = False
    new = new[keep]
    if new.size == 0:
        return pieces
    k = _CUT_ULPS
    steps = [new[:, 1]]
    for toward in (np.inf, -np.inf):
        y = new[:, 1]
        for _ in range(k):
            y = np.nextafter(y, toward)
            steps.append(y)
    # columns: 0, +1..+k, -1..-k -> order -k..+k
    ys = np.column_stack([*steps[k + 1 :][::-1], steps[0], *steps[1 : k + 1]])
    xs = np.repeat(new[:, 0][:, None], ys.shape[1], axis=1)
    covered = shapely.intersects_xy(shape, xs.ravel(), ys.ravel()).reshape(ys.shape)
    edge = covered.copy()
    edge[:, 1:-1] &= ~(covered[:, :-2] & covered[:, 2:])  # covered, a neighbour not
    edge[:, 0] &= ~covered[:, 1]
    edge[:, -1] &= ~covered[:, -2]
    dist = np.where(edge, np.abs(np.arange(ys.shape[1]) - k)[None, :], ys.shape[1])
    best = dist.argmin(axis=1)
    move = (dist[np.arange(len(new)), best] < ys.shape[1]) & (best != k)
    if not move.any():
        return pieces
    old = _as_complex(new[move])
    order = np.argsort(old)
    old, to_y = old[order], ys[np.flatnonzero(move), best[move]][order]
    out: list[sg.Polygon] = []
    for g, xy in zip(pieces, coords, strict=True):
        # Rows of this piece equal to a moved vertex (pieces without holes: one ring).
        key = _as_complex(xy)
        at = np.minimum(np.searchsorted(old, key), old.size - 1)
        row = np.flatnonzero(old[at] == key)
        if row.size == 0:
            out.append(g)
            continue
        xy = xy.copy()
        xy[row, 1] = to_y[at[row]]
        out.append(sg.Polygon(xy))
    return out


def _as_complex(xy: FloatArray) -> npt.NDArray[np.complex128]:
    """Points as complex numbers (exactly: sorted by lon, then lat)."""
    out = np.empty(len(xy), dtype=np.complex128)
    out.real, out.imag = xy[:, 0], xy[:, 1]
    return out
