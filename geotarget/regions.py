"""Named administrative regions: a set of one level, fast point → region lookup, a hierarchy.

Semantics (the contract, each tested against an oracle):

* A :class:`Region` has a ``code`` (unique), a ``name``, a ``level`` (such as ``"county"``) and a
  lon/lat geometry whose edges are straight in lon/lat. Its boundary belongs to it.
* A :class:`RegionSet` holds regions of one level, ordered by code. :meth:`RegionSet.locate`
  gives **exactly one** answer per point: among the regions whose geometry covers the point
  (boundary included), the one with the **lowest code** (Python string order) wins, so a point
  on a border shared by ``"0114"`` and ``"0115"`` is in ``"0114"``; a point that no region
  covers gets ``""``.
* A set made by :meth:`RegionSet.from_unions` (each region the union of regions of a finer
  set) **resolves ties through the finer set**: a point's region is the parent of the finer
  region that wins there, so the coarse answer is always the ancestor of the fine one, on
  borders too. The lowest code of the coarse set plays no part: on a border of the police
  regions Mitt and Stockholm the winner is whichever contains the municipality with the lowest
  code there. Chained sets (municipality → county → police region → country) resolve through
  the finest one. The Swedish sets of :mod:`geotarget.sweden` are built this way.
* A :class:`RegionHierarchy` maps codes upward (municipality → county → police region →
  country) and expands codes downward. Codes are unique across all its levels.
  :meth:`RegionHierarchy.locate` locates among the finest regions and maps up, so at every
  level it equals the level's own :meth:`RegionSet.locate` when the coarser sets were made
  with :meth:`RegionSet.from_unions` from the next finer one (the hierarchy checks that their
  parents agree).
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import os
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import shapely
import shapely.geometry as sg

from geotarget import _geodesy, _geos, _locate, _regions_io
from geotarget._validate import BoolArray, iterable, lon_lat, lon_lat_arrays, number, shown
from geotarget.alerts._values import brief, cut_words
from geotarget.areas import Area, Polygon, _estimated_bytes, _where
from geotarget.errors import InvalidRegions, InvalidType, UnknownCode

#: Held while a region set builds its grid index or STRtree (once, by one thread). Shared
#: object arrays of geometries are never handed to shapely as they are: shapely (2.1) marks an
#: input array read-only during a call, and a second thread's call on the same array then fails
#: with "buffer source array is read-only"; a copy of the pointers costs nothing.
_BUILDING = threading.Lock()
#: Held while a region set's cache of unions is read or changed (never while a union is made):
#: threads calling :meth:`RegionSet.union` share one cache per set.
_UNIONS = threading.Lock()

__all__ = ["Region", "RegionHierarchy", "RegionSet"]


def __dir__() -> list[str]:
    return __all__


#: A region code array as returned by :meth:`RegionSet.locate` (``""`` = no region).
StrArray = npt.NDArray[np.str_]
#: Region positions as returned by :meth:`RegionSet.locate_index` (``-1`` = no region).
IndexArray = npt.NDArray[np.int32]


def _check_code(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidType(f"{attribute.name} must be a string (got {type(value).__name__})")
    if not value or value != value.strip() or not value.isprintable():
        raise InvalidRegions(
            f"{attribute.name} must be non-empty printable text without surrounding spaces "
            f"(got {brief(value)})"
        )


def _check_level(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidType(f"level must be a string (got {type(value).__name__})")
    if not (value.isidentifier() and value.islower() and value.isascii()):
        raise InvalidRegions(
            f"level must be a lowercase identifier such as 'county' (got {brief(value)})"
        )


def _check_geometry(region: Region, _: attrs.Attribute[Any], geom: object) -> None:
    if not isinstance(geom, (sg.Polygon, sg.MultiPolygon)):
        raise InvalidType(
            f"region {brief(region.code)} geometry must be a shapely Polygon or MultiPolygon "
            f"(got {type(geom).__name__})"
        )
    if geom.is_empty:
        raise InvalidRegions(f"region {brief(region.code)} geometry must not be empty")
    if shapely.has_z(geom):
        raise InvalidRegions(f"region {brief(region.code)} geometry must be 2-D lon/lat (got 3-D)")
    west, south, east, north = geom.bounds
    if not (west >= -180.0 and east <= 180.0 and south >= -90.0 and north <= 90.0):
        raise InvalidRegions(
            f"region {brief(region.code)} geometry must lie within lon [-180, 180] and lat "
            f"[-90, 90] (got bounds {geom.bounds}); is it projected?"
        )
    reason = shapely.is_valid_reason(geom)
    if reason != "Valid Geometry":
        raise InvalidRegions(f"region {brief(region.code)} geometry is invalid: {_where(reason)}")
    # An edge spanning more than 180 degrees needs bounds that wide (most regions: skip).
    crossing = east - west > 180.0 and _regions_io.antimeridian_edge(np.array([geom], dtype=object))
    if crossing:
        lon_a, lat_a, lon_b, lat_b = crossing[1]
        raise InvalidRegions(
            f"region {brief(region.code)} geometry has an edge from lon {lon_a:.7g}, lat "
            f"{lat_a:.7g} to lon {lon_b:.7g}, lat {lat_b:.7g}, spanning more than 180 degrees "
            f"of longitude: it crosses the antimeridian; {_regions_io.ANTIMERIDIAN_RULE}"
        )


@attrs.frozen(kw_only=True)
class Region:
    """A named administrative area of one level.

    Parameters
    ----------
    code : str
        Unique identifier, e.g. the SCB code ``"0180"`` (text, so leading zeros survive).
    name : str
        Human-readable name, e.g. ``"Stockholm"``.
    level : str
        A lowercase identifier such as ``"municipality"`` or ``"county"``.
    geometry : shapely.Polygon or shapely.MultiPolygon
        Valid, 2-D, in WGS84 lon/lat degrees; edges are straight in lon/lat. It is prepared
        for fast repeated tests.

    Raises
    ------
    InvalidRegions
        For an empty code, a bad level, or an empty, invalid (the message says where) or
        out-of-range geometry, or one with an edge spanning more than 180 degrees of
        longitude (a ring across the antimeridian that was not split there; the sides of a
        polar cap, from lon -180 to 180, are allowed).
    InvalidType
        For a geometry that is not a Polygon or MultiPolygon.

    Examples
    --------
    >>> import shapely.geometry as sg
    >>> from geotarget.regions import Region
    >>> r = Region(code="A", name="Alpha", level="district", geometry=sg.box(0, 0, 1, 1))
    >>> r.contains([0.5, 1.0, 2.0], [0.5, 1.0, 2.0]).tolist()
    [True, True, False]

    .. versionadded:: 0.1.0
    """

    code: str = attrs.field(validator=_check_code)
    name: str = attrs.field(validator=_check_code)
    level: str = attrs.field(validator=_check_level)
    geometry: sg.Polygon | sg.MultiPolygon = attrs.field(validator=_check_geometry, repr=False)

    def __attrs_post_init__(self) -> None:
        shapely.prepare(self.geometry)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in degrees."""
        west, south, east, north = self.geometry.bounds
        return (west, south, east, north)

    def contains(self, lon: Any, lat: Any) -> BoolArray:
        """Return whether each point lies in the region, boundary included.

        Parameters
        ----------
        lon, lat : float or array_like
            Points in WGS84 degrees, of the same shape.

        Returns
        -------
        numpy.ndarray of bool
            Same shape as the inputs.
        """
        x, y = lon_lat_arrays(lon, lat)
        inside = np.asarray(_geos.intersects_xy(self.geometry, x, y), dtype=np.bool_)
        seam = np.abs(x) == 180.0  # lon 180 and -180 are one meridian: either spelling
        if seam.any():
            inside[seam] |= _geos.intersects_xy(self.geometry, -x[seam], y[seam])
        return inside

    def to_area(self) -> Area:
        """The region as an :class:`~geotarget.areas.Area` (one polygon per part).

        A region around a neighbour's enclave has holes; an alert's CAP area has none, and
        writes such an area as :meth:`Area.without_holes <geotarget.areas.Area.without_holes>`
        (the same points).
        """
        return _area_of(self.geometry)


def _polygonal(geom: Any) -> sg.Polygon | sg.MultiPolygon:
    """The polygons of a union (dropping any lower-dimensional debris of the overlay)."""
    if isinstance(geom, (sg.Polygon, sg.MultiPolygon)):
        return geom
    polys = [p for p in shapely.get_parts(geom) if isinstance(p, sg.Polygon) and not p.is_empty]
    return polys[0] if len(polys) == 1 else sg.MultiPolygon(polys)


def _area_of(geom: Any) -> Area:
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, sg.Polygon) and not p.is_empty]
    return Area([Polygon.from_shapely(p) for p in parts])


@attrs.frozen
class _Aliases:
    """A hierarchy's other designations, found in any case and, unless ambiguous, accents.

    ``exact`` maps a designation casefolded (NFC) to its codes; ``loose`` the same without
    accents, or to None where two designations differing only in accents name different
    regions ("Habo kommun", "Håbo kommun"): those are found only as spelt.
    """

    exact: Mapping[str, tuple[str, ...]]
    loose: Mapping[str, tuple[str, ...] | None]

    @staticmethod
    def key(text: str) -> str:
        return unicodedata.normalize("NFC", text.strip()).casefold()

    def find(self, text: str) -> tuple[str, ...] | None:
        key = self.key(text)
        found = self.exact.get(key)
        return found if found is not None else self.loose.get(_ascii(key).casefold())


#: Letters typed for the digits they look like ("O1" for Stockholm County's "01").
_DIGIT_LOOKALIKES = str.maketrans("OoIlSB", "001158")


def _ascii(text: str) -> str:
    """``text`` without its accents (``"PR-VÄST"``: ``"PR-VAST"``); other non-ASCII kept."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _name_key(text: str, accents: bool = False) -> str:
    """A region name as it is compared: casefolded, a hyphen as a space, accents dropped."""
    folded = unicodedata.normalize("NFC", text).casefold()
    if not accents:
        folded = _ascii(folded).casefold()
    return " ".join(folded.replace("-", " ").split())


#: Characters after which a longer code names something within the code before them, in a
#: scheme of its own (ISO 3166-2 ``"SE-AB"``, HASC ``"SE.AB"``): never that code itself.
_WITHIN = frozenset("-._:/ ")


def _extends(text: str, code: str) -> bool:
    """Whether ``text`` is ``code`` followed by a separator, or letters by two digits or more.

    Such a text names something within ``code`` in another scheme (``"SE-AB"``, NUTS
    ``"SE110"`` for Stockholm County), not ``code`` itself. One character more is a typo, and
    digits after digits say nothing (a postal code ``"100045"`` is not within county ``"10"``).
    """
    rest = text[len(code) :] if text.startswith(code) else ""
    return bool(rest) and (
        rest[0] in _WITHIN or (len(rest) >= 2 and code.isalpha() and rest[0].isdigit())
    )


def _unknown(
    code: object,
    known: Iterable[str],
    where: str,
    described: Callable[[], Mapping[str, tuple[str, str]]] | None = None,
    aliases: _Aliases | None = None,
    parent: Mapping[str, str] | None = None,
) -> UnknownCode:
    """UnknownCode for ``code``, with a hint: the code in other case, the region it names.

    Or the code with letters that look like digits read as them (``"O1"``: ``"01"``), with
    the leading zeros a number lost (``"180"``: ``"0180"``), or without its accents
    (``"PR-VÄST"``: ``"PR-VAST"``); the region whose other designation it is (``aliases``,
    casefolded designation -> its codes: ``"se-ab"`` -> ``("01",)``; a designation of several
    regions together, such as a metropolitan area, names them all). Else close matches, or a few
    valid codes. A close match that the code merely extends after a separator is never
    offered: ``"SE-AB"`` (Stockholm County in ISO 3166-2) is not ``"SE"``, the whole country.
    ``described`` gives ``code -> (name, level)``; it is called only here, on the error path.
    """
    known = list(known)
    text = code if isinstance(code, str) else shown(code)
    folded = text.strip().casefold()
    hints = []
    cased = sorted(c for c in known if c.casefold() == folded and c != text)
    if cased and cased[0] == text.strip():
        hints.append(f"codes have no surrounding spaces: did you mean {brief(cased[0])}?")
    elif cased:
        hints.append(f"codes are case-sensitive: did you mean {brief(cased[0])}?")
    # Names and designations are matched in any case, with or without accents ("Skane").
    alias = None if aliases is None else aliases.find(text)
    # A designation is no mistyped code: Gotland's letter "I" is not "1" for "01".
    guess = not cased and alias is None
    plain = text.strip().translate(_DIGIT_LOOKALIKES)
    if guess and plain != text.strip() and plain in known:
        hints.append(f"letters that look like digits: did you mean {brief(plain)}?")
    if guess and plain.isascii() and plain.isdigit():  # ("180" through a spreadsheet)
        padded = [c for c in ("0" + plain, "00" + plain, "000" + plain) if c in known]
        if padded:
            hints.append(f"a leading zero lost? did you mean {' or '.join(map(repr, padded))}?")
    if not cased:
        # Fullwidth digits ("０１８０" from an East Asian input method), an invisible character
        # pasted with the code (a zero-width space), then accents: each named as what it is.
        stripped = text.strip()
        compat = unicodedata.normalize("NFKC", stripped)
        visible = "".join(c for c in compat if unicodedata.category(c) != "Cf")
        for form, rule in (
            (compat, "in plain characters, not fullwidth or other compatibility forms"),
            (visible, "without invisible characters"),
            (_ascii(visible), "without accents"),
        ):
            bare = sorted(c for c in known if c.casefold() == form.casefold())
            if form != stripped and bare:
                hints.append(f"codes are written {rule}: did you mean {brief(bare[0])}?")
                break
    about: Mapping[str, tuple[str, str]] = {} if described is None else described()

    def shown_region(c: str) -> str:
        if c not in about:
            return brief(c)
        name, level = about[c]
        return f"{brief(c)} ({cut_words(name, 60)}, {level})"

    if about:
        # Names in any case, with or without accents, hyphens or doubled spaces: Lantmäteriet
        # writes "Upplands-Väsby" where SCB writes "Upplands Väsby", and "Upplands Bro" is
        # typed for "Upplands-Bro".
        # A name spelt with its accents names that region alone ("Habo" is 0643, not also
        # Håbo, 0305).
        named = []
        for exact in (True, False):
            key = _name_key(text, exact)
            named = sorted(
                shown_region(c) for c, (name, _) in about.items() if _name_key(name, exact) == key
            )
            if named:
                break
        if named:
            hints.append(f"{brief(text)} is a region's name, not its code: {' or '.join(named)}")
    if alias is not None and not hints:  # (a region's own name comes first: "Stockholm")
        if len(alias) == 1:
            hints.append(
                f"{brief(text)} is another designation of {shown_region(alias[0])}: write its code"
            )
        else:
            levels = sorted({about[c][1] for c in alias if c in about})
            of = f"{levels[0]} " if len(levels) == 1 else ""
            listed = ", ".join(
                f"{brief(c)} ({cut_words(about[c][0], 60)})" if c in about else brief(c)
                for c in alias
            )
            hints.append(
                f"{brief(text)} is another designation of {len(alias)} {of}regions together, "
                f"{listed}: write their codes"
            )
    if not hints and parent is not None:
        # A code written after that of a region it lies in, as some schemes prefix the
        # country ("SE-0180", "SE01"): that code is the region meant, never the prefix.
        stripped = text.strip()

        def lies_in(inner: str, outer: str) -> bool:
            up = parent.get(inner)
            while up is not None and up != outer:
                up = parent.get(up)
            return up == outer

        after = sorted(
            rest
            for k in known
            if len(stripped) > len(k) and stripped.startswith(k)
            for rest in (stripped[len(k) :].lstrip("".join(_WITHIN)),)
            if rest in parent or rest in known
            if lies_in(rest, k)
        )
        if after:
            hints.append(
                f"did you mean {' or '.join(map(shown_region, after))}? (written after "
                "the code of a region it lies in)"
            )
    if hints:
        return UnknownCode(f"no region with code {shown(code)} {where}; {'; '.join(hints)}")
    # A code the text extends after a separator ("SE" of "SE-AB") is the region the text names
    # something within, in another scheme: offering it would widen a county to the country.
    # (Then spelling is no guide either: NUTS "SE110", Stockholm County, is close to "10".)
    within = sorted((c for c in known if _extends(text, c)), key=len)
    close = [] if within else difflib.get_close_matches(text, known, n=3, cutoff=0.5)
    if close:  # the closest first ("PR-STOCKHOLM" for "PR-STHLM", not "PR-OST"), then by code
        ratio = {c: difflib.SequenceMatcher(None, text, c).ratio() for c in close}
        hint = "close matches: " + ", ".join(
            repr(c) for c in sorted(close, key=lambda c: (-ratio[c], c))
        )
    else:
        sample = ", ".join(repr(c) for c in sorted(known)[:5])
        hint = f"valid codes include {sample}{', …' if len(known) > 5 else ''}"
    if within:
        hint += (
            f"; it is not {shown_region(within[-1])}, whose code it begins with: that code "
            "means the whole of that region"
        )
    return UnknownCode(f"no region with code {shown(code)} {where}; {hint}")


#: Default for ``overlap_tolerance``: regions may share 1 % of the smaller one's area.
OVERLAP_TOLERANCE = 0.01
#: Default for ``gap_tolerance``: 1 % of a region's area may lie in none of its children.
GAP_TOLERANCE = 0.01
#: A piece of a region that none of its children covers may not hold a disk of this radius
#: (metres), whatever share of the region it is: that is a missing child, not a sliver.
GAP_DISK_M = 500.0
#: Metres per degree of latitude (and of longitude at the equator), for gap sizes.
_M_PER_DEGREE = 111_320.0
#: Bytes the unions cached by one :class:`RegionSet` (:meth:`RegionSet.union`) may hold, as
#: estimated from their vertices (a county's union: ~1 MB; a municipality's: ~50–300 kB).
UNION_CACHE_BYTES = 16 * 2**20


@attrs.frozen(eq=False, repr=False, init=False)
class RegionSet:
    """An immutable set of regions of one level, with a fast exact point → region lookup.

    Parameters
    ----------
    regions : iterable of Region
        At least one region, all of the same level, with distinct codes.
    overlap_tolerance : float, default 0.01
        Two regions may overlap by at most this fraction of the smaller one's area (measured in
        lon/lat), which absorbs digitising slivers along shared borders. Larger overlaps are
        refused. Where regions do overlap, the lowest code wins in :meth:`locate`.

    Raises
    ------
    InvalidRegions
        For no regions, mixed levels, a repeated code, or an overlap beyond the tolerance (the
        message names both codes and where they overlap).

    Notes
    -----
    :meth:`locate` builds a multi-level grid index on first use (7.4 MB for Sweden's 290
    municipalities) and then answers millions of points per second; the regions page of the
    documentation quotes its build and lookup times from a recorded benchmark run. The set is
    immutable, so it can be shared by threads.

    Examples
    --------
    >>> from geotarget.regions import RegionSet
    >>> def square(code, west):
    ...     ring = [[west, 0], [west + 1, 0], [west + 1, 1], [west, 1], [west, 0]]
    ...     return {"type": "Feature", "properties": {"id": code},
    ...             "geometry": {"type": "Polygon", "coordinates": [ring]}}
    >>> fc = {"type": "FeatureCollection", "features": [square("B", 1), square("A", 0)]}
    >>> districts = RegionSet.from_geojson(fc, code_property="id", level="district")
    >>> districts.codes
    ('A', 'B')
    >>> districts.locate([0.5, 1.0, 1.5, 3.0], [0.5, 0.5, 0.5, 0.5]).tolist()
    ['A', 'A', 'B', '']

    The point ``(1.0, 0.5)`` lies on the border of ``A`` and ``B``; the lower code wins.

    .. versionadded:: 0.1.0
    """

    regions: tuple[Region, ...]
    level: str
    _position: dict[str, int]
    _geoms: npt.NDArray[np.object_]
    _answers: StrArray
    _lazy: dict[Any, Any]
    #: For :meth:`from_unions` sets: the finer set and, per finer row, this set's row (then -1).
    _via: RegionSet | None = None
    _up: IndexArray | None = None

    def __init__(
        self, regions: Iterable[Region], *, overlap_tolerance: float = OVERLAP_TOLERANCE
    ) -> None:
        if isinstance(regions, (str, bytes, Mapping)) or not iterable(regions):
            raise InvalidType(f"regions must be an iterable of Region (got {brief(regions, 60)})")
        items = list(regions)
        for i, r in enumerate(items):
            if not isinstance(r, Region):
                raise InvalidType(f"regions[{i}] must be a Region (got {type(r).__name__})")
        if not items:
            raise InvalidRegions("regions must hold at least one Region (got none)")
        levels = sorted({r.level for r in items})
        if len(levels) > 1:
            raise InvalidRegions(f"regions must all have one level (got {', '.join(levels)})")
        items.sort(key=lambda r: r.code)
        for a, b in itertools.pairwise(items):
            if a.code == b.code:
                raise InvalidRegions(f"code {brief(a.code)} is used by two regions")
        tol = number("overlap_tolerance", overlap_tolerance, ge=0.0, le=1.0, error=InvalidRegions)
        geoms = np.array([r.geometry for r in items], dtype=object)
        _check_overlaps(geoms, [r.code for r in items], tol)
        answers = np.array([r.code for r in items] + [""])
        self.__attrs_init__(
            tuple(items), levels[0], {r.code: i for i, r in enumerate(items)}, geoms, answers, {}
        )

    @classmethod
    def from_unions(
        cls,
        finer: RegionSet,
        parents: Mapping[str, str],
        *,
        level: str,
        names: Mapping[str, str] | None = None,
    ) -> RegionSet:
        """Regions that are unions of the regions of a finer set, located through that set.

        Each new region's geometry is the union of its members' (so the levels nest exactly:
        a point covered by a coarse region is covered by one of its members, and the reverse).
        :meth:`locate` answers as if it asked the finer set and mapped its answer up, so a
        point on a shared border gets the parent of the finer region that wins there -- the
        coarse answer is always the ancestor of the fine one, and ``snap_m`` snaps to the
        nearest finer region. (Its own grid index answers the points that exactly one coarse
        region, or none, covers -- the answer is the same there -- and only points near a
        coarse boundary or in an overlap are passed to the finer set.)

        Parameters
        ----------
        finer : RegionSet
            The finer regions, e.g. municipalities (itself possibly made by this method).
        parents : mapping of str to str
            The coarse code of every code of ``finer`` (each code of ``finer`` exactly once).
        level : str
            The level of the new regions; it must differ from ``finer.level``.
        names : mapping of str to str, optional
            The name of each coarse code; without it (or for a code it lacks) the name is the
            code. A name for a code that no finer region maps to is refused.

        Returns
        -------
        RegionSet
            One region per distinct parent code, ordered by code.

        Raises
        ------
        InvalidRegions
            For a finer code without a parent, or a ``level`` that is invalid or equal to
            ``finer.level``.
        UnknownCode
            For a key of ``parents`` that is not a code of ``finer``, or a key of ``names``
            that is not one of the parent codes (the message lists close matches).
        InvalidType
            For arguments of the wrong type.

        Notes
        -----
        The unions are computed once, with ``shapely.union_all``; the overlap check of the
        constructor is not repeated (overlaps can only come from overlapping members, which
        ``finer`` has bounded, and :meth:`locate` never consults them).

        Examples
        --------
        >>> import shapely.geometry as sg
        >>> from geotarget.regions import Region, RegionSet
        >>> towns = RegionSet(
        ...     Region(code=c, name=c, level="town", geometry=sg.box(x, 0, x + 1, 1))
        ...     for c, x in (("t1", 0), ("t2", 1), ("t3", 2))
        ... )
        >>> shires = RegionSet.from_unions(
        ...     towns, {"t1": "Z", "t2": "A", "t3": "A"}, level="shire", names={"A": "Ashire"}
        ... )
        >>> shires.codes, shires["A"].name, shires["A"].geometry.area
        (('A', 'Z'), 'Ashire', 2.0)

        On the border of ``t1`` and ``t2``, ``t1`` wins, so its shire ``Z`` wins too (a set
        built with the plain constructor would answer ``A``, the lowest shire code):

        >>> shires.locate([1.0, 1.5], [0.5, 0.5]).tolist()
        ['Z', 'A']

        .. versionadded:: 0.1.0
        """
        if not isinstance(finer, RegionSet):
            raise InvalidType(f"finer must be a RegionSet (got {type(finer).__name__})")
        if not isinstance(parents, Mapping):
            raise InvalidType(f"parents must be a mapping (got {type(parents).__name__})")
        if names is not None and not isinstance(names, Mapping):
            raise InvalidType(f"names must be a mapping or None (got {type(names).__name__})")
        if level == finer.level:
            raise InvalidRegions(
                f"level must differ from the finer set's level (got {level!r} for both)"
            )
        for key in parents:
            if key not in finer:
                raise _unknown(key, finer.codes, f"in the finer {finer.level} set (parents)")
        missing = [c for c in finer.codes if c not in parents]
        if missing:
            raise InvalidRegions(
                f"parents has no entry for {len(missing)} {finer.level} code"
                f"{'s' if len(missing) > 1 else ''}, e.g. {brief(missing[0])}; every finer region "
                "needs one"
            )
        groups: dict[str, list[int]] = {}
        for i, code in enumerate(finer.codes):
            parent = parents[code]
            if not isinstance(parent, str):
                raise InvalidType(
                    f"parents[{brief(code)}] must be a code string (got {brief(parent)})"
                )
            groups.setdefault(parent, []).append(i)
        named = dict(names or {})
        for key in named:
            if key not in groups:
                raise _unknown(key, groups, "among the parents (names)")
        regions = []
        for code in sorted(groups):
            rows = groups[code]
            geom = (
                finer._geoms[rows[0]]
                if len(rows) == 1
                else _polygonal(shapely.union_all(finer._geoms[rows]))
            )
            regions.append(
                Region(code=code, name=named.get(code, code), level=level, geometry=geom)
            )
        position = {r.code: i for i, r in enumerate(regions)}
        up = np.array([position[parents[c]] for c in finer.codes] + [-1], dtype=np.int32)
        out = cls.__new__(cls)
        out.__attrs_init__(
            tuple(regions),
            level,
            position,
            np.array([r.geometry for r in regions], dtype=object),
            np.array([r.code for r in regions] + [""]),
            {},
            finer,
            up,
        )
        return out

    # --- loaders -------------------------------------------------------------------------

    @classmethod
    def from_geojson(
        cls,
        source: str | bytes | os.PathLike[str] | Mapping[str, Any],
        *,
        code_property: str,
        name_property: str | None = None,
        level: str,
        crs: str | None = None,
        repair: bool = False,
        overlap_tolerance: float = OVERLAP_TOLERANCE,
    ) -> RegionSet:
        """Read regions from a GeoJSON FeatureCollection.

        Several features with one code are merged into one region (an archipelago, exclaves),
        and so are the members of a GeometryCollection of polygons.

        Parameters
        ----------
        source : path, str, bytes or mapping
            A file path, GeoJSON text (a ``str`` starting with ``{``) or bytes, or a parsed
            mapping.
        code_property : str
            The feature property holding each region's code. Codes must be strings.
            ``"id"`` also reads a Feature's own ``id`` member (RFC 7946's identifier of a
            feature, beside its properties) where its properties have no ``id``.
        name_property : str, optional
            The property holding the name; without it the name is the code. Names are kept
            in Unicode's composed form (NFC): one name spelt with ``"ö"`` in one feature and
            with ``"o"`` and a combining diaeresis in another is one name.
        level : str
            The level of every region, e.g. ``"municipality"``.
        crs : str, optional
            The coordinates' CRS, e.g. ``"EPSG:3006"``, when the file does not declare it in
            the legacy ``crs`` member (if it does, the two must agree, axis order aside:
            coordinates are read east first, so ``EPSG:4326`` and ``OGC:CRS84`` agree).
            Coordinates in any CRS but lon/lat are reprojected to WGS84 lon/lat with pyproj,
            adding vertices along edges that would otherwise stray more than 0.1 m from
            their course in that CRS (a straight line there is a curve in lon/lat; the bound
            is 16 added vertices per vertex of the file and a million more, beyond which the
            file is refused); a projected CRS given for coordinates that all lie within the
            lon/lat range (degrees mislabelled), a CRS without horizontal positions (vertical,
            geocentric) and a vertex outside the CRS's domain (one that does not map back
            within 1 m) are refused.
        repair : bool, default False
            Repair invalid geometries with GEOS ``make_valid`` instead of refusing them. A NaN
            or infinite coordinate is refused first (naming the feature, ring and vertex),
            never repaired.
        overlap_tolerance : float, default 0.01
            See :class:`RegionSet`.

        Raises
        ------
        InvalidRegions
            For a feature without the code property (the message lists the properties it
            has), a non-string code, one code with two names, a geometry that is not a
            (Multi)Polygon or is invalid (which feature, and where), a non-finite coordinate,
            an unknown CRS or one without horizontal positions, projected coordinates without
            a declared CRS, degrees with a projected one, a vertex outside the CRS's domain,
            coordinates in (lat, lon) or (northing, easting) order (far outside the CRS's
            area of use and inside it swapped; coordinates are read east first), a ring
            across the antimeridian that is not split there (as read, or as reprojected),
            longitudes from 0 to 360, overlapping regions, or a FeatureCollection that is
            one page of a server's paged answer (``numberMatched`` above the features it
            holds, a ``next`` link, ``exceededTransferLimit``), or a key given twice in one
            object (JSON readers differ in which value they keep). Read from a path, every message
            starts with the file (``region file 'kommuner.geojson': features[3] (code '0114')
            ...``).
        InvalidType
            For ``code_property``, ``name_property`` or ``crs`` that is not text (a
            ``pyproj.CRS`` too: pass ``crs.to_string()``), or ``repair`` that is not a bool;
            checked before anything is read.
        """
        _regions_io.check_arguments(code_property, name_property, level, crs, repair)
        return cls._from_file(
            _regions_io.file_label(source),
            lambda: _regions_io.read_geojson(
                source, code_property, name_property, crs_given=crs is not None
            ),
            crs=crs,
            level=level,
            repair=repair,
            overlap_tolerance=overlap_tolerance,
        )

    @classmethod
    def from_geoparquet(
        cls,
        source: str | os.PathLike[str],
        *,
        code_property: str,
        name_property: str | None = None,
        level: str,
        crs: str | None = None,
        repair: bool = False,
        overlap_tolerance: float = OVERLAP_TOLERANCE,
    ) -> RegionSet:
        """Read regions from a GeoParquet file; needs the ``geoparquet`` extra.

        Geometry may be WKB or GeoParquet 1.1's native (GeoArrow) ``polygon`` and
        ``multipolygon`` encodings.

        Takes the same keyword arguments as :meth:`from_geojson`; the CRS comes from the file's
        ``geo`` metadata (OGC:CRS84 when absent, as the GeoParquet specification says).

        Raises
        ------
        MissingExtra
            When pyarrow is not installed.
        InvalidRegions
            As :meth:`from_geojson`, and for an unreadable or damaged file, a file without
            GeoParquet metadata, malformed metadata (naming a column the file lacks), or
            another geometry encoding (the message lists those read); every message names
            the file.
        InvalidType
            As :meth:`from_geojson`.
        """
        _regions_io.check_arguments(code_property, name_property, level, crs, repair)
        return cls._from_file(
            _regions_io.file_label(source, "GeoParquet"),
            lambda: _regions_io.read_geoparquet(
                source, code_property, name_property, "RegionSet.from_geoparquet()"
            ),
            crs=crs,
            level=level,
            repair=repair,
            overlap_tolerance=overlap_tolerance,
        )

    @classmethod
    def _from_file(
        cls,
        label: str | None,
        read: Callable[[], tuple[list[_regions_io.RawFeature], str | None]],
        *,
        crs: str | None,
        level: str,
        repair: bool,
        overlap_tolerance: float,
    ) -> RegionSet:
        """Regions from what ``read()`` returns (raw features, declared CRS).

        Every :class:`InvalidRegions` names the file ``label`` (:func:`_regions_io.naming_file`).
        """
        try:
            try:
                raw, declared = read()
                regions = _regions_io.to_regions(
                    raw, declared_crs=declared, crs=crs, level=level, repair=repair
                )
            except RecursionError:  # JSON nested thousands deep: Python's parser gives up
                raise InvalidRegions(
                    "region data is nested too deeply: GeoJSON nests a few levels of objects "
                    "and coordinate arrays"
                ) from None
            return cls(regions, overlap_tolerance=overlap_tolerance)
        except InvalidRegions as err:
            named = _regions_io.naming_file(err, label)
            if named is err:
                raise
            raise named from err

    # --- the set -------------------------------------------------------------------------

    @property
    def finer(self) -> RegionSet | None:
        """The finer set this one locates through (:meth:`from_unions`), or ``None``.

        .. versionadded:: 0.1.0
        """
        return self._via

    @property
    def codes(self) -> tuple[str, ...]:
        """The region codes in ascending order (the order of :meth:`locate_index`)."""
        return tuple(self._position)  # insertion order: ascending codes

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in degrees over all regions."""
        west, south, east, north = (float(v) for v in shapely.total_bounds(self._geoms.copy()))
        return (west, south, east, north)

    def __len__(self) -> int:
        return len(self.regions)

    def __iter__(self) -> Iterator[Region]:
        return iter(self.regions)

    def __contains__(self, code: object) -> bool:
        # Codes are text: anything else (an unhashable list included) is not one.
        return isinstance(code, str) and code in self._position

    def __getitem__(self, code: str) -> Region:
        """The region with this code; :class:`~geotarget.errors.UnknownCode` if there is none."""
        return self.regions[self._index_of(code)]

    def __repr__(self) -> str:
        codes = self.codes
        shown = ", ".join(codes[:3]) + (f", …, {codes[-1]}" if len(codes) > 3 else "")
        return f"<RegionSet level={self.level!r}, {len(codes)} regions: {shown}>"

    def _index_of(self, code: object) -> int:
        try:
            return self._position[code]  # type: ignore[index]
        except (KeyError, TypeError):
            raise _unknown(
                code,
                self._position,
                f"in this {self.level} set",
                lambda: {r.code: (r.name, self.level) for r in self.regions},
            ) from None

    # --- lookups -------------------------------------------------------------------------

    def contains(self, code: str, lon: Any, lat: Any) -> BoolArray:
        """Whether each point lies in region ``code``, boundary included.

        Unlike :meth:`locate`, a point on a shared border is in both regions.

        Raises
        ------
        UnknownCode
            For a code not in the set (the message lists close matches).
        """
        return self[code].contains(lon, lat)

    def locate_index(self, lon: Any, lat: Any, *, snap_m: float = 0.0) -> IndexArray:
        """Position in :attr:`codes` of the region of each point, ``-1`` where there is none.

        The same rule as :meth:`locate`; convenient for ``numpy.bincount`` and joins.

        Parameters
        ----------
        lon, lat : float or array_like
            Points in WGS84 degrees, of the same shape.
        snap_m : float, default 0.0
            See :meth:`locate`.

        Returns
        -------
        numpy.ndarray of int32
            Same shape as the inputs.
        """
        x, y = lon_lat_arrays(lon, lat)
        snap = number("snap_m", snap_m, ge=0.0, le=100_000.0, error=InvalidRegions)
        shape = x.shape
        fx, fy = x.reshape(-1), y.reshape(-1)
        seam = self._on_seam(fx)
        if self._via is not None and self._up is not None:
            # Where one region (or none) covers the point, the own index's answer is the
            # ancestor of any finer answer; elsewhere (near a boundary, in an overlap, on the
            # antimeridian) ask.
            out, todo = self._index().locate_unique(fx, fy)
            if snap > 0.0:
                todo = np.union1d(todo, np.flatnonzero(out == -1))
            if seam is not None:
                todo = np.union1d(todo, seam)
            if todo.size:
                out[todo] = self._up[self._via.locate_index(fx[todo], fy[todo], snap_m=snap)]
            return out.reshape(shape)
        out = self._index().locate(fx, fy)
        if seam is not None:
            # The same point spelt with the other sign: the lower row (code) of both wins.
            other = self._index().locate(-fx[seam], fy[seam])
            here = out[seam]
            out[seam] = np.where((other >= 0) & ((here < 0) | (other < here)), other, here)
        if snap > 0.0:
            self._snap(fx, fy, out, snap)
        return out.reshape(shape)

    def _on_seam(self, x: Any) -> npt.NDArray[np.intp] | None:
        """Rows of points at lon 180 or -180 when a region reaches the antimeridian, else None.

        Lon 180 and lon -180 are one meridian, so such a point is covered by the regions on
        both sides of it (a region crossing it is split there, RFC 7946 3.1.9). A set that
        reaches neither (Sweden's) pays one bounds check per set, not per point.
        """
        reaches: bool | None = self._lazy.get("seam")
        if reaches is None:
            west, _, east, _ = self.bounds
            reaches = self._lazy["seam"] = west <= -180.0 or east >= 180.0
        if not reaches:
            return None
        rows = np.flatnonzero(np.abs(x) == 180.0)
        return rows if rows.size else None

    def _snap(self, x: Any, y: Any, out: IndexArray, snap_m: float) -> None:
        """Give points in no region the nearest region within ``snap_m`` metres (in place).

        Candidates come from a rigorous lon/lat window (every region within ``snap_m`` is one);
        the distance to each is geodesic (:func:`geotarget._geodesy.distance_to_geometries`):
        the exact ``Geod.inv`` distance to a point of the region found in local frames, never
        below the true distance and above it by less than 1 mm for ``snap_m`` up to 30 km. So
        a snapped point is always within ``snap_m`` (up to floating-point rounding); one within
        ``snap_m - 1 mm`` is always snapped. On a tie the lowest code wins. Vectorized over points.
        """
        miss = np.flatnonzero(out < 0)
        if miss.size == 0:
            return
        mx, my = x[miss], y[miss]
        tree: shapely.STRtree | None = self._lazy.get("tree")
        if tree is None:
            with _BUILDING:
                tree = self._lazy.get("tree")
                if tree is None:
                    tree = shapely.STRtree(self._geoms.copy())
                    self._lazy["tree"] = tree
        # Per point, a degree radius holding every point within snap_m of it (Euclidean in
        # lon/lat degrees): |dlat| <= snap/R_MIN, and |dlon| <= snap/(A cos(lat_far)) along any
        # path of that length, lat_far the farthest latitude it reaches; a path that may reach
        # a pole may reach any longitude. Each point's own radius: one for all (at the farthest
        # latitude of any) made one fix near a pole compare every other with every region.
        dlat = math.degrees(snap_m / _geodesy.R_MIN) * (1.0 + 1e-9) + 1e-12
        far = np.radians(np.abs(my) + dlat)
        dlon = np.degrees(snap_m / (_geodesy.A * np.cos(far))) * (1.0 + 1e-9)
        dlon = np.where(far < math.radians(89.9), dlon, 360.0)
        reach = np.hypot(dlat, dlon + 1e-12)
        pi, ri = tree.query(shapely.points(mx, my), predicate="dwithin", distance=reach)
        # Within reach of the 180th meridian, a region just across it lies 360 degrees away
        # in lon/lat: look for it there too (the distances below measure across the meridian).
        across = np.flatnonzero(180.0 - np.abs(mx) <= reach)
        if across.size:
            over = mx[across] - np.copysign(360.0, mx[across])
            pj, rj = tree.query(
                shapely.points(over, my[across]), predicate="dwithin", distance=reach[across]
            )
            pairs = np.unique(
                np.concatenate([pi * len(self._geoms) + ri, across[pj] * len(self._geoms) + rj])
            )
            pi, ri = np.divmod(pairs, len(self._geoms))
        if pi.size == 0:
            return
        metres = _geodesy.distance_to_geometries(mx[pi], my[pi], self._geoms[ri])
        ok = metres <= snap_m
        pi, ri, metres = pi[ok], ri[ok], metres[ok]
        order = np.lexsort((ri, metres, pi))  # per point: nearest first, then lowest code
        pi, ri = pi[order], ri[order]
        first = np.ones(pi.size, dtype=bool)
        first[1:] = pi[1:] != pi[:-1]
        out[miss[pi[first]]] = ri[first]

    def locate(self, lon: Any, lat: Any, *, snap_m: float = 0.0) -> StrArray:
        """The code of the region of each point, ``""`` where no region covers it.

        Exactly one region per covered point: among the regions whose geometry covers the
        point (boundary included), the one with the lowest code wins -- or, for a set made by
        :meth:`from_unions`, the parent of the finer set's answer. Vectorized: a grid index
        answers most points by lookup and tests only points near a boundary exactly.

        Parameters
        ----------
        lon, lat : float or array_like
            Points in WGS84 degrees, of the same shape.
        snap_m : float, default 0.0
            Give a point that no region covers the nearest region within this many metres
            (lowest code on a tie), measured geodesically: a snapped point is within
            ``snap_m`` of its region, and one within ``snap_m - 1 mm`` is snapped (for
            ``snap_m`` up to 30 km). Meant for generalised boundaries that follow a simplified
            shoreline and leave quays, bridges and water outside every region; the built-in
            Swedish regions cover the territorial sea and need no snap.

        Returns
        -------
        numpy.ndarray of str
            Same shape as the inputs.

        Raises
        ------
        InvalidCoordinates
            For NaN, inf, out-of-range values or arrays of different shapes.
        """
        return np.take(self._answers, self.locate_index(lon, lat, snap_m=snap_m))

    def locate_box(self, west: float, south: float, east: float, north: float) -> int | None:
        """The :meth:`locate_index` that every point of a lon/lat box gets, when one is known.

        Decides many points at once from a box holding them (their bounds, say), without
        locating each: far from every boundary, all of them lie in one region, or in none.
        Exact: the box's points map to the grid cells between those of its corners by the same
        floating-point steps as :meth:`locate_index`'s, and every such cell is looked at.

        Parameters
        ----------
        west, south, east, north : float
            The box in WGS84 degrees, ``west <= east`` and ``south <= north`` (a point is a box
            of its own).

        Returns
        -------
        int or None
            The position in :attr:`codes` of the region holding every point of the box, ``-1``
            when no point of it lies in any region (as :meth:`locate_index` says without
            ``snap_m``), or None when the index cannot say one answer for all of them: a
            boundary or an overlap is near, or the box spans more than 256 cells of the grid.

        Raises
        ------
        InvalidCoordinates
            For a bound that is not a finite number in range.
        InvalidType
            For a bound that is not a number (a bool, a str, a 0-d array).
        InvalidRegions
            For ``west > east`` or ``south > north``.

        Examples
        --------
        >>> from geotarget import sweden
        >>> counties = sweden.counties()
        >>> i = counties.locate_box(18.00, 59.30, 18.10, 59.35)  # central Stockholm
        >>> counties.codes[i]
        '01'
        >>> counties.locate_box(5.0, 40.0, 5.1, 40.1)  # the Mediterranean
        -1

        .. versionadded:: 0.1.0
        """
        x0, y0 = lon_lat("west", west, "south", south)
        x1, y1 = lon_lat("east", east, "north", north)
        if x0 > x1 or y0 > y1:
            raise InvalidRegions(
                "a box must have west <= east and south <= north "
                f"(got west={x0!r}, south={y0!r}, east={x1!r}, north={y1!r})"
            )
        if self._on_seam(np.array([x0, x1])) is not None:
            return None  # also covered from the antimeridian's other side: ask locate_index
        found = self._index().box_region(x0, y0, x1, y1)
        return None if found == -2 else found

    def warm(self) -> None:
        """Build the point lookup index now, else the first lookup builds it.

        About a second for Sweden's 290 municipalities, once per set and process (every
        :class:`~geotarget.targeting.Targeter` over the set shares it). Call it as a service
        starts (:meth:`Targeter.warm <geotarget.targeting.Targeter.warm>` does), so the first
        alert after a restart is not the one that waits. Safe from any thread: one builds,
        the others wait for it.

        .. versionadded:: 0.1.0
        """
        self._index()

    def _index(self) -> _locate.GridIndex:
        index: _locate.GridIndex | None = self._lazy.get("index")
        if index is None:
            with _BUILDING:  # once, by one thread
                index = self._lazy.get("index")
                if index is None:
                    index = _locate.build(self._geoms.copy())
                    self._lazy["index"] = index
        return index

    # --- unions --------------------------------------------------------------------------

    def union(self, codes: Iterable[str]) -> Area:
        """The union of the named regions as an :class:`~geotarget.areas.Area`.

        Parameters
        ----------
        codes : iterable of str
            At least one code of this set (a single string counts as one code).

        Raises
        ------
        UnknownCode
            For a code not in the set.
        InvalidRegions
            For no codes.
        """
        wanted = frozenset(_regions_io.codes_of(codes, "codes"))
        if not wanted:
            raise InvalidRegions("codes must name at least one region (got none)")
        # Unions live in their own least-recently-used cache, bounded by estimated bytes:
        # evicting one never drops the grid index or the STRtree kept beside it in _lazy.
        # Threads share it: each look-up and each change runs under _UNIONS (a second thread
        # evicting the same oldest entry meanwhile made the pop below raise KeyError).
        unions: dict[frozenset[str], tuple[Area, int]] = self._lazy.setdefault("unions", {})
        with _UNIONS:
            hit = unions.pop(wanted, None)
            if hit is not None:
                unions[wanted] = hit  # the most recently used goes last
                return hit[0]
        rows = sorted(self._index_of(c) for c in wanted)
        area = _area_of(shapely.union_all(self._geoms[rows]))
        size = _estimated_bytes(area)
        if size <= UNION_CACHE_BYTES:
            with _UNIONS:
                unions[wanted] = (area, size)
                total = sum(v[1] for v in unions.values())
                while total > UNION_CACHE_BYTES:
                    total -= unions.pop(next(iter(unions)))[1]
        return area


def _check_overlaps(geoms: npt.NDArray[np.object_], codes: Sequence[str], tol: float) -> None:
    """Refuse two regions that share more than ``tol`` of the smaller one's area."""
    if len(geoms) < 2 or tol >= 1.0:
        return
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    if left.size == 0:
        return
    shared = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    ratio = shared / smaller
    bad = np.flatnonzero(ratio > tol)
    if bad.size:
        k = int(bad[np.argmax(ratio[bad])])
        i, j = int(left[k]), int(right[k])
        where = shapely.point_on_surface(shapely.intersection(geoms[i], geoms[j]))
        raise InvalidRegions(
            f"regions {brief(codes[i])} and {brief(codes[j])} overlap by {ratio[k]:.1%} of the "
            f"smaller one's area, more than overlap_tolerance={tol:g} allows (near lon "
            f"{where.x:.5f}, lat {where.y:.5f}); {bad.size} pair{'s' if bad.size > 1 else ''} "
            "in all"
        )


# ---------------------------------------------------------------------------------------------
# Hierarchy
# ---------------------------------------------------------------------------------------------


@attrs.frozen(eq=False, repr=False, init=False)
class RegionHierarchy:
    """Region sets of several levels, each region mapped to one parent at the next level.

    Parameters
    ----------
    sets : sequence of RegionSet
        From the finest level to the coarsest, e.g. municipalities, counties, police regions,
        country (a list, a tuple or another ordered iterable; a list even for one level).
        Levels must differ and codes must be unique across all sets.
    parents : mapping of str to str
        The parent code of every region except those of the coarsest set; each parent is a
        code of the next set.
    gap_tolerance : float, default 0.01
        The share of a region's area that may lie in none of its children (slivers where two
        files' boundaries differ). Points are located among the finest regions and mapped up,
        so a point there is in no region at any level. Whatever the share, no such piece may
        hold a disk 500 m in radius (a missing small municipality is no sliver), unless
        ``gap_tolerance`` is 1, which checks nothing. Not checked for sets made with
        :meth:`RegionSet.from_unions`, which are covered exactly.
    aliases : mapping of str to str or sequence of str, optional
        Other designations of regions (an ISO 3166-2 code such as ``"SE-AB"``, a county
        letter) to their codes -- or, for a designation of several regions together (a
        metropolitan area), to a sequence of their codes. They are never accepted as codes --
        a policy names each region one way -- but an unknown code that is one is told the
        code (or the codes) to write (in any case, and with or without accents unless two
        designations differ only in them: "Habo kommun" and "Håbo kommun" are found only as
        spelt). Two designations differing only in case may not name different regions.

    Raises
    ------
    InvalidRegions
        For no sets, a repeated level or code, a region without a parent, a parent at the
        wrong level, an entry for an unknown code, a region whose interior point lies
        outside its parent, a region without a child, or one whose children leave more than
        ``gap_tolerance`` of it, or a piece of it holding a 500 m disk, uncovered (points are
        located among the finest regions and mapped up, so no point there would be in it).
    InvalidType
        For ``sets`` that is not an ordered iterable of RegionSet (one RegionSet, an unordered
        set), ``parents`` that is not a mapping, or a parent that is not a code string.

    Examples
    --------
    >>> import shapely.geometry as sg
    >>> from geotarget.regions import Region, RegionHierarchy, RegionSet
    >>> def sets(level, boxes):
    ...     return RegionSet([Region(code=c, name=c, level=level, geometry=sg.box(*b))
    ...                       for c, b in boxes.items()])
    >>> towns = sets("town", {"t1": (0, 0, 1, 1), "t2": (1, 0, 2, 1), "t3": (2, 0, 3, 1)})
    >>> shires = sets("shire", {"S": (0, 0, 2, 1), "T": (2, 0, 3, 1)})
    >>> h = RegionHierarchy([towns, shires], {"t1": "S", "t2": "S", "t3": "T"})
    >>> h.parent("t2"), h.level_of("T")
    ('S', 'shire')
    >>> sorted(h.expand(["S", "t3"], "town"))
    ['t1', 't2', 't3']

    .. versionadded:: 0.1.0
    """

    levels: tuple[str, ...]
    _sets: dict[str, RegionSet]
    _level_of: dict[str, str]
    _parent: dict[str, str]
    _below: dict[tuple[str, str], frozenset[str]]
    _up: tuple[npt.NDArray[np.int32], ...]
    _aliases: _Aliases

    def __init__(
        self,
        sets: Sequence[RegionSet],
        parents: Mapping[str, str],
        *,
        gap_tolerance: float = GAP_TOLERANCE,
        aliases: Mapping[str, str | Sequence[str]] | None = None,
    ) -> None:
        sets = _sets_of(sets)
        tol = number("gap_tolerance", gap_tolerance, ge=0.0, le=1.0, error=InvalidRegions)
        if aliases is not None and not isinstance(aliases, Mapping):
            raise InvalidType(f"aliases must be a mapping (got {type(aliases).__name__})")
        for i, s in enumerate(sets):
            if not isinstance(s, RegionSet):
                raise InvalidType(f"sets[{i}] must be a RegionSet (got {type(s).__name__})")
        if not isinstance(parents, Mapping):
            raise InvalidType(f"parents must be a mapping (got {type(parents).__name__})")
        levels = tuple(s.level for s in sets)
        if len(set(levels)) != len(levels):
            raise InvalidRegions(f"sets must have distinct levels (got {', '.join(levels)})")
        level_of: dict[str, str] = {}
        for s in sets:
            for code in s.codes:
                if code in level_of:
                    raise InvalidRegions(
                        f"code {brief(code)} is used at two levels ({level_of[code]} and "
                        f"{s.level}); codes must be unique across a hierarchy"
                    )
                level_of[code] = s.level
        for code in parents:
            if code not in level_of:
                raise _unknown(code, level_of, "at any level (a key of parents)")
        up: list[npt.NDArray[np.int32]] = []
        for child_set, parent_set in itertools.pairwise(sets):
            rows = np.empty(len(child_set), dtype=np.int32)
            for i, region in enumerate(child_set):
                parent = parents.get(region.code)
                if parent is not None and not isinstance(parent, str):
                    raise InvalidType(
                        f"parents[{brief(region.code)}] must be a code string (got {shown(parent)})"
                    )
                if parent is None:
                    reversed_hint = (
                        f"; sets go finest first, and parents names {parent_set.level} "
                        f"{brief(next(c for c in parent_set.codes if c in parents))}: is "
                        f"the {parent_set.level} set listed after the {child_set.level} one?"
                        if any(c in parents for c in parent_set.codes)
                        else ""
                    )
                    raise InvalidRegions(
                        f"{child_set.level} {brief(region.code)} has no parent (expected a "
                        f"{parent_set.level} code in parents){reversed_hint}"
                    )
                if parent not in parent_set:
                    found = level_of.get(parent)
                    among = f"among the {parent_set.level} codes"
                    where = (
                        f"it is at {found}" if found else _unknown(parent, parent_set.codes, among)
                    )

                    raise InvalidRegions(
                        f"{child_set.level} {brief(region.code)} has parent {brief(parent)}, which "
                        f"is not a {parent_set.level} ({where})"
                    )
                rows[i] = parent_set._index_of(parent)
            _check_same_unions(child_set, parent_set, rows)
            _check_inside(child_set, parent_set, rows)
            _check_childless(child_set, parent_set, rows, sets[0].level)
            _check_covered(child_set, parent_set, rows, sets[0].level, tol)
            up.append(rows)
        top = sets[-1]
        stray = sorted(c for c in parents if level_of[c] == top.level)
        if stray:
            raise InvalidRegions(
                f"the coarsest level ({top.level}) has no parents, but parents names "
                f"{brief(stray[0])}"
            )
        parent_of = {c: parents[c] for c in level_of if c in parents}
        below: dict[tuple[str, str], frozenset[str]] = {}
        for k, s in enumerate(sets):
            for region in s:
                below[(region.code, s.level)] = frozenset({region.code})
            if k:
                for lower in sets[:k]:
                    groups: dict[str, set[str]] = {}
                    for code in lower.codes:
                        anc = code
                        while level_of[anc] != s.level:
                            anc = parent_of[anc]
                        groups.setdefault(anc, set()).add(code)
                    for code in s.codes:
                        below[(code, lower.level)] = frozenset(groups.get(code, ()))
        exact: dict[str, tuple[str, ...]] = {}
        loose: dict[str, tuple[str, ...] | None] = {}
        spelt: dict[str, str] = {}
        for alias, named in (aliases or {}).items():
            codes: tuple[object, ...] = (
                (named,)
                if isinstance(named, str)
                else ()
                if isinstance(named, (bytes, Mapping)) or not iterable(named)
                else tuple(named)
            )
            if (
                not isinstance(alias, str)
                or not codes
                or not all(isinstance(c, str) for c in codes)
            ):
                raise InvalidType(
                    "aliases must map text to a code or a sequence of codes (got "
                    f"{shown(alias)}: {shown(named)})"
                )
            for one in codes:
                if one not in level_of:
                    raise _unknown(one, level_of, f"at any level (aliases[{brief(alias)}])")
            if alias in level_of:
                raise InvalidRegions(
                    f"aliases[{brief(alias)}]: {brief(alias)} is a code of the hierarchy; an "
                    "alias is another designation, never a code"
                )
            key = _Aliases.key(alias)
            named_codes = tuple(sorted({str(c) for c in codes}))
            if exact.get(key, named_codes) != named_codes:
                raise InvalidRegions(
                    f"aliases[{brief(spelt[key])}] and aliases[{brief(alias)}] are one "
                    "designation (they are compared in any case) naming different regions "
                    f"({', '.join(map(brief, exact[key]))} and "
                    f"{', '.join(map(brief, named_codes))}); give each designation one meaning"
                )
            exact[key] = named_codes
            spelt.setdefault(key, alias)
            plain = _ascii(key).casefold()  # found without accents too, unless ambiguous
            loose[plain] = named_codes if loose.get(plain, named_codes) == named_codes else None
        self.__attrs_init__(
            levels,
            {s.level: s for s in sets},
            level_of,
            parent_of,
            below,
            tuple(up),
            _Aliases(exact, loose),
        )

    def __repr__(self) -> str:
        counts = ", ".join(f"{len(self._sets[lv])} {lv}" for lv in self.levels)
        return f"<RegionHierarchy {counts}>"

    def __contains__(self, code: object) -> bool:
        # Codes are text: anything else (an unhashable list included) is not one.
        return isinstance(code, str) and code in self._level_of

    def _check(self, code: object) -> str:
        if not isinstance(code, str) or code not in self._level_of:
            raise _unknown(
                code,
                self._level_of,
                f"at any level ({', '.join(sorted(self.levels))})",
                lambda: {
                    r.code: (r.name, r.level) for lv in self.levels for r in self._sets[lv].regions
                },
                self._aliases,
                self._parent,
            )
        return code

    def _check_level(self, level: object) -> str:
        if not isinstance(level, str) or level not in self._sets:
            raise UnknownCode(
                f"no level {shown(level)} in this hierarchy; valid levels: "
                f"{', '.join(sorted(self.levels))}"
            )
        return level

    def level_of(self, code: str) -> str:
        """The level of ``code``; :class:`~geotarget.errors.UnknownCode` for an unknown code."""
        return self._level_of[self._check(code)]

    def region(self, code: str) -> Region:
        """The :class:`Region` with ``code``, at whatever level it is."""
        return self._sets[self.level_of(code)][code]

    def name_of(self, code: str) -> str:
        """The name of the region with ``code``, e.g. ``"Stockholms län"`` for ``"01"``."""
        return self.region(code).name

    def region_set(self, level: str) -> RegionSet:
        """The :class:`RegionSet` of ``level``; UnknownCode lists the valid levels."""
        return self._sets[self._check_level(level)]

    def parent(self, code: str) -> str | None:
        """The code one level up, or ``None`` at the coarsest level."""
        return self._parent.get(self._check(code))

    def ancestors(self, code: str) -> tuple[str, ...]:
        """Every code above ``code``, nearest first (empty at the coarsest level)."""
        out: list[str] = []
        parent = self.parent(code)
        while parent is not None:
            out.append(parent)
            parent = self._parent.get(parent)
        return tuple(out)

    def children(self, code: str) -> frozenset[str]:
        """The codes one level below ``code`` whose parent it is (empty at the finest level)."""
        k = self.levels.index(self.level_of(code))
        return frozenset() if k == 0 else self._below[(code, self.levels[k - 1])]

    def expand(self, codes: Iterable[str], level: str) -> frozenset[str]:
        """Every code at ``level`` lying within any of ``codes`` (given at any level).

        A code coarser than ``level`` contributes its descendants at ``level``; a code at
        ``level`` contributes itself; a finer code contributes nothing (no county lies within
        a municipality).

        Raises
        ------
        UnknownCode
            For an unknown code or level.
        """
        lv = self._check_level(level)
        rank = self.levels.index(lv)
        out: set[str] = set()
        for code in _regions_io.codes_of(codes, "codes"):
            own = self.level_of(code)
            if self.levels.index(own) >= rank:
                out |= self._below[(code, lv)]
        return frozenset(out)

    def locate(
        self, lon: Any, lat: Any, level: str | None = None, *, snap_m: float = 0.0
    ) -> StrArray:
        """The code at ``level`` (default: the finest) of each point, ``""`` where none.

        Points are located among the finest regions (lowest code wins on a border) and mapped
        up, so the answers at all levels agree with each other. ``snap_m`` is as in
        :meth:`RegionSet.locate`.
        """
        lv = self.levels[0] if level is None else self._check_level(level)
        rank = self.levels.index(lv)
        if rank and all(self._sets[v]._via is not None for v in self.levels[1 : rank + 1]):
            # from_unions levels, checked at construction to be made from the level below with
            # the same parents: the level's own locate gives the same answer, faster.
            return self._sets[lv].locate(lon, lat, snap_m=snap_m)
        rows = self._sets[self.levels[0]].locate_index(lon, lat, snap_m=snap_m)
        for up in self._up[:rank]:
            rows = np.where(rows >= 0, up[np.maximum(rows, 0)], -1).astype(np.int32)
        return np.take(self._sets[lv]._answers, rows)


def _sets_of(sets: object) -> tuple[RegionSet, ...]:
    """A hierarchy's ``sets`` as a tuple, finest first; a clear error for anything else.

    Any ordered iterable will do (a list, a tuple, a generator); a lone RegionSet, an unordered
    set or a mapping is refused, naming what was given.
    """
    if isinstance(sets, RegionSet):
        raise InvalidType(
            f"sets must be a sequence of RegionSet, finest first (got one RegionSet, level "
            f"{sets.level!r}: pass a list, even for one level)"
        )
    if isinstance(sets, (str, bytes, Mapping, set, frozenset)) or not iterable(sets):
        what = "an unordered set" if isinstance(sets, (set, frozenset)) else brief(sets, 60)
        raise InvalidType(
            f"sets must be a sequence of RegionSet, finest first (got {what}): the order "
            "of the levels matters, so pass a list or tuple"
        )
    out = tuple(sets)
    if not out:
        raise InvalidRegions(
            "sets must be a non-empty sequence of RegionSet, finest first (got none)"
        )
    return out


def _check_same_unions(
    children: RegionSet, parents: RegionSet, rows: npt.NDArray[np.int32]
) -> None:
    """A :meth:`RegionSet.from_unions` level must locate through the level below, alike."""
    if parents._via is None or parents._up is None:
        return
    if parents._via is not children:
        raise InvalidRegions(
            f"the {parents.level} set was made with RegionSet.from_unions from a "
            f"{parents._via.level} set that is not this hierarchy's {children.level} set; "
            "pass the same RegionSet object to both, so that every level locates alike"
        )
    differ = np.flatnonzero(parents._up[:-1] != rows)
    if differ.size:
        i = int(differ[0])
        raise InvalidRegions(
            f"{children.level} {brief(children.codes[i])} has parent "
            f"{brief(parents.codes[int(rows[i])])} in parents but "
            f"{brief(parents.codes[int(parents._up[i])])} in the {parents.level} set made with "
            "RegionSet.from_unions; they must agree"
        )


def _check_childless(
    children: RegionSet, parents: RegionSet, rows: npt.NDArray[np.int32], finest: str
) -> None:
    """Each region must have a child: points are located among the finest regions, mapped up.

    A county whose municipalities are all missing from the finer file would be located for no
    point: a policy enabling it, or the country, would tell nobody there, silently.
    """
    childless = np.setdiff1d(np.arange(len(parents), dtype=np.int32), rows)
    if childless.size:
        region = parents.regions[int(childless[0])]
        more = (
            f" ({childless.size - 1} more {parents.level} regions too)"
            if childless.size > 1
            else ""
        )
        raise InvalidRegions(
            f"{parents.level} {brief(region.code)} ({cut_words(region.name, 60)}) has no "
            f"{children.level}: no "
            f"{children.level} names it in parents{more}, so no point would be located in it "
            f"(points are located among the {finest} regions and mapped up); add its "
            f"{children.level} regions, or leave it out"
        )


def _check_covered(
    children: RegionSet, parents: RegionSet, rows: npt.NDArray[np.int32], finest: str, tol: float
) -> None:
    """Each region must be covered by its children, up to ``tol`` of its area and slivers.

    Points are located among the finest regions and mapped up, so a part of a county that no
    municipality covers (a municipality missing from the file, or municipalities of land only
    beside counties of land and water) holds no point: a policy enabling the county, or the
    country, would tell nobody there. So no more than ``tol`` of a region may lie in none of
    its children, and no uncovered piece may hold a disk of :data:`GAP_DISK_M` radius, however
    small a share of a large region it is (a missing small municipality is such a piece; the
    slivers where two files' boundaries differ are thinner). A set made with
    :meth:`RegionSet.from_unions` is covered exactly. (Children that stick out of their parent
    by as much as they leave uncovered in it are not found: the test compares areas first.)
    """
    if parents._via is not None or tol >= 1.0:
        return
    # A parent larger than its children's areas together is not covered by them: that bound
    # (a gap is at least the difference) is a sum of areas, so only a suspect parent costs a
    # geometric difference, which also names the share and a point of the gap. A gap holding
    # the disk is at least its area in lon/lat (a degree of longitude is never longer).
    sizes = shapely.area(parents._geoms)
    children_sizes = np.bincount(rows, weights=shapely.area(children._geoms), minlength=len(sizes))
    disk = math.pi * (GAP_DISK_M / _M_PER_DEGREE) ** 2
    for i in np.flatnonzero(sizes - children_sizes > np.minimum(tol * sizes, disk)).tolist():
        parent = parents.regions[i]
        gap = shapely.difference(parent.geometry, shapely.union_all(children._geoms[rows == i]))
        share = float(shapely.area(gap) / sizes[i])
        pieces = shapely.get_parts(gap)
        if share > tol:
            where = shapely.point_on_surface(pieces[int(np.argmax(shapely.area(pieces)))])
            what = (
                f"{share:.1%} of its area lies in none of them (near lon {where.x:.5f}, lat "
                f"{where.y:.5f}), more than gap_tolerance={tol:g} allows"
            )
        else:
            thick = _thick_point(pieces[shapely.area(pieces) > disk])
            if thick is None:
                continue
            what = (
                f"a piece of it wider than {2 * GAP_DISK_M:g} m (near lon {thick.x:.5f}, lat "
                f"{thick.y:.5f}) lies in none of them, so it is no sliver between two files "
                f"({share:.2%} of its area, within gap_tolerance={tol:g})"
            )
        raise InvalidRegions(
            f"{parents.level} {brief(parent.code)} ({cut_words(parent.name, 60)}) is not "
            f"covered by its {children.level} regions: {what}; points are located among the "
            f"{finest} regions and mapped up, so no point there would be in "
            f"{brief(parent.code)}. Is a {children.level} missing, or are they land only? Build "
            f"the {parents.level} set with RegionSet.from_unions to make each {parents.level} "
            f"the union of its {children.level} regions"
        )


def _thick_point(pieces: npt.NDArray[np.object_]) -> sg.Point | None:
    """A point at least :data:`GAP_DISK_M` inside one of ``pieces`` (lon/lat), or None.

    Each piece is measured in metres in a plate carrée frame at its own latitude (east scaled
    by the cosine there; within 0.5 % over the 100 km a Swedish county gap spans).
    """
    for piece in pieces:
        lat0 = math.radians(shapely.centroid(piece).y)
        scale = np.array([_M_PER_DEGREE * math.cos(lat0), _M_PER_DEGREE])
        metres = shapely.transform(piece, functools.partial(np.multiply, scale))
        core = shapely.buffer(metres, -GAP_DISK_M)
        if not shapely.is_empty(core):
            p = shapely.point_on_surface(core)
            return sg.Point(p.x / scale[0], p.y / scale[1])
    return None


def _check_inside(children: RegionSet, parents: RegionSet, rows: npt.NDArray[np.int32]) -> None:
    """Each child's interior point must lie in its parent (catches swapped mappings)."""
    points = shapely.point_on_surface(children._geoms)
    inside = _geos.intersects(parents._geoms[rows], points)
    if not inside.all():
        i = int(np.flatnonzero(~inside)[0])
        child = children.regions[i]
        p = points[i]
        raise InvalidRegions(
            f"{children.level} {brief(child.code)} is not inside its parent "
            f"{brief(parents.regions[int(rows[i])].code)}: its interior point lon {p.x:.5f}, "
            f"lat {p.y:.5f} is outside it"
        )
