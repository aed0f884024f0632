"""Built-in Swedish regions -- the legal territory -- and a synthetic population.

The regions cover Sweden's **territory**, not its land: land, inland water (Vänern, Vättern,
Mälaren, Saltsjön …) and the territorial sea, as the municipalities and counties legally do.
Boundaries: Lantmäteriet's municipalities (*GSD-Sverigekartan 1:1 miljon*, layer ``ak_riks``;
© Lantmäteriet, CC0), shipped inside the package (``geotarget/data/sweden/``, 0.33 MB, with
their licence text), so nothing extra is installed and nothing is downloaded. They were
simplified as one coverage (shared edges stay shared, so the municipalities tile without gaps
or overlaps) such that every boundary lies within :data:`BOUNDARY_TOLERANCE_M` = **60 m** of
Lantmäteriet's and vice versa: a point farther than 60 m from every boundary of the detailed
data is in the same municipality here as there (tested against the detailed data). The
detailed data is itself generalised for 1:1 million maps, so 60 m is well within its own
accuracy. Nothing is read at import; each data set is loaded once per process and cached.
The ``sweden`` extra is kept for compatibility and installs nothing.

Levels and codes (unique across levels, SCB codes as text):

=================  =========================================  ====================================
level              codes                                      names
=================  =========================================  ====================================
``municipality``   290 kommuner, ``"0114"`` … ``"2584"``      SCB short names ("Upplands Väsby")
``county``         21 län, ``"01"`` … ``"25"``                ``"Stockholms län"`` …
``police_region``  ``"PR-NORD"`` … ``"PR-SYD"`` (7)           ``"Region Nord"`` …
``country``        ``"SE"``                                   ``"Sverige"``
=================  =========================================  ====================================

Counties are the exact unions of their municipalities, police regions of their counties and
the country of all (:meth:`~geotarget.regions.RegionSet.from_unions`), so the levels nest
exactly, and every level locates through the municipalities: a point on a shared border is in
the municipality with the lowest code there, and at every coarser level in that
municipality's county, police region and country. So ``counties().locate``,
``police_regions().locate`` and ``hierarchy().locate(..., level)`` always agree.
"""

from __future__ import annotations

import csv
import functools
import io
import threading
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, TypeVar

import numpy as np
import shapely

from geotarget import _regions_io
from geotarget._validate import FloatArray, ReadOnly, is_integer, number, shown
from geotarget.errors import InvalidInput, InvalidRegions, InvalidType
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import RolloutPolicy, nationwide

__all__ = [
    "BOUNDARY_TOLERANCE_M",
    "LEVELS",
    "PILOT_POLICY_FILE",
    "POLICE_REGIONS",
    "SWEDEN_ENVELOPE",
    "counties",
    "country",
    "hierarchy",
    "municipalities",
    "nationwide",
    "pilot_policy",
    "police_regions",
    "stockholm_area",
    "synthetic_population",
]


def __dir__() -> list[str]:
    return __all__


#: The levels of :func:`hierarchy`, finest first.
LEVELS = ("municipality", "county", "police_region", "country")

#: How far (metres) the built-in boundaries may lie from Lantmäteriet's detailed ones: every
#: point of a built-in municipal boundary is within this distance of the detailed boundary of
#: the same municipality, and vice versa. A device farther than this from every detailed
#: boundary is located exactly as the detailed data would locate it.
BOUNDARY_TOLERANCE_M = 60.0

#: ``(west, south, east, north)`` in degrees: a box around Sweden and its territorial sea.
#: Use it as a service envelope: a position outside it is not in Sweden, and swapped axes
#: (lat given as lon) always fall outside it.
SWEDEN_ENVELOPE = (10.0, 55.0, 24.5, 69.5)


#: The seven police regions since 2015: code → (name, county codes). Source: Brå, "Nu delas
#: anmälda brott in i regioner" (2015-02-12); Region Stockholm includes Gotland. Read-only: the
#: built-in police regions are made from it when first asked for.
POLICE_REGIONS: Mapping[str, tuple[str, tuple[str, ...]]] = ReadOnly(
    {
        "PR-BERGSLAGEN": ("Region Bergslagen", ("17", "18", "20")),
        "PR-MITT": ("Region Mitt", ("03", "19", "21")),
        "PR-NORD": ("Region Nord", ("22", "23", "24", "25")),
        "PR-OST": ("Region Öst", ("04", "05", "06")),
        "PR-STOCKHOLM": ("Region Stockholm", ("01", "09")),
        "PR-SYD": ("Region Syd", ("07", "08", "10", "12")),
        "PR-VAST": ("Region Väst", ("13", "14")),
    }
)

#: The counties' letters (länsbokstäver, which ISO 3166-2 writes after ``"SE-"``) and short
#: names: code → (letter, short name). Source: SCB's county table (``lan.csv`` in the reference
#: data). A policy naming ``"AB"``, ``"SE-AB"`` or ``"Skåne"`` is told to write ``"01"`` or
#: ``"12"``; none is ever read as a code.
_COUNTY_DESIGNATIONS: Mapping[str, tuple[str, str]] = ReadOnly(
    {
        "01": ("AB", "Stockholm"), "03": ("C", "Uppsala"), "04": ("D", "Södermanland"),
        "05": ("E", "Östergötland"), "06": ("F", "Jönköping"), "07": ("G", "Kronoberg"),
        "08": ("H", "Kalmar"), "09": ("I", "Gotland"), "10": ("K", "Blekinge"),
        "12": ("M", "Skåne"), "13": ("N", "Halland"), "14": ("O", "Västra Götaland"),
        "17": ("S", "Värmland"), "18": ("T", "Örebro"), "19": ("U", "Västmanland"),
        "20": ("W", "Dalarna"), "21": ("X", "Gävleborg"), "22": ("Y", "Västernorrland"),
        "23": ("Z", "Jämtland"), "24": ("AC", "Västerbotten"), "25": ("BD", "Norrbotten"),
    }
)  # fmt: skip

_COUNTRY_CODE = "SE"
_COUNTRY_NAME = "Sverige"
_STOCKHOLM_COUNTY = "01"
_DATA = ("data", "sweden")
#: The pilot policy's file inside the package: ``geotarget/data/sweden/pilot_policy.toml``.
PILOT_POLICY_FILE = "data/sweden/pilot_policy.toml"


# ---------------------------------------------------------------------------------------------
# Regions
# ---------------------------------------------------------------------------------------------


_T = TypeVar("_T")

#: Held while a Swedish data set is built (reentrant: the hierarchy builds the counties ...).
_BUILDING = threading.RLock()


def _once(build: Callable[[], _T]) -> Callable[[], _T]:
    """Cache a builder of no arguments: built once per process, by one thread.

    ``functools.cache`` lets threads asking at once each build their own object, so the
    counties one thread gets would not be those its hierarchy was made from (and a hierarchy
    whose police regions were made from another thread's counties is refused). Here the first
    thread builds while the others wait for its object.
    """
    built: list[_T] = []

    @functools.wraps(build)
    def get() -> _T:
        if built:
            return built[0]
        with _BUILDING:
            if not built:
                built.append(build())
            return built[0]

    return get


def _read(name: str) -> bytes:
    """A file of the package's Swedish data, or InvalidRegions naming it."""
    path = resources.files("geotarget").joinpath(_DATA[0]).joinpath(_DATA[1]).joinpath(name)
    try:
        return path.read_bytes()
    except OSError as err:
        raise InvalidRegions(
            f"the built-in Swedish data file {'/'.join(_DATA)}/{name} cannot be read ({err}); "
            "the geotarget installation is incomplete: reinstall it"
        ) from err


@_once
def _table() -> list[dict[str, str]]:
    """kommun_kod, kommun_namn, lan_kod, lan_namn for the 290 municipalities (SCB)."""
    return list(csv.DictReader(io.StringIO(_read("kommuner.csv").decode("utf-8"))))


@_once
def _municipalities() -> RegionSet:
    with np.load(io.BytesIO(_read("kommuner.npz")), allow_pickle=False) as npz:
        codes, geoms = _regions_io.unpack_polygons(npz, "geotarget/data/sweden/kommuner.npz")
    names = {r["kommun_kod"]: r["kommun_namn"] for r in _table()}
    if len(codes) != 290 or sorted(codes) != sorted(names):
        raise InvalidRegions(
            f"the built-in boundaries have {len(codes)} municipalities and kommuner.csv "
            f"{len(names)}; expected the same 290 codes in both"
        )
    # The shipped coverage is checked for overlaps when it is built and by the test suite.
    return RegionSet(
        (
            Region(code=c, name=names[c], level="municipality", geometry=g)
            for c, g in zip(codes, geoms, strict=True)
        ),
        overlap_tolerance=1.0,
    )


@_once
def _counties() -> RegionSet:
    table = _table()
    return RegionSet.from_unions(
        _municipalities(),
        {r["kommun_kod"]: r["lan_kod"] for r in table},
        level="county",
        names={r["lan_kod"]: r["lan_namn"] for r in table},
    )


@_once
def _police_regions() -> RegionSet:
    return RegionSet.from_unions(
        _counties(),
        {c: code for code, (_, members) in POLICE_REGIONS.items() for c in members},
        level="police_region",
        names={code: name for code, (name, _) in POLICE_REGIONS.items()},
    )


@_once
def _countries() -> RegionSet:
    return RegionSet.from_unions(
        _police_regions(),
        dict.fromkeys(POLICE_REGIONS, _COUNTRY_CODE),
        level="country",
        names={_COUNTRY_CODE: _COUNTRY_NAME},
    )


@_once
def _hierarchy() -> RegionHierarchy:
    parents = {m: m[:2] for m in _municipalities().codes}
    for code, (_, members) in POLICE_REGIONS.items():
        parents.update(dict.fromkeys(members, code))
        parents[code] = _COUNTRY_CODE
    return RegionHierarchy(
        [_municipalities(), _counties(), _police_regions(), _countries()],
        parents,
        aliases=_designations(),
    )


def _designations() -> dict[str, str | tuple[str, ...]]:
    """Other designations an operator may write for a region, told the code(s) to write.

    The county letters, their ISO 3166-2 codes and short names ("Skåne"; "Stockholm" is told
    the municipality of that name); a county's name with or without the genitive s
    ("Västernorrland län", as Lantmäteriet's layers spell it; SCB writes "Västernorrlands
    län"); the county's regional council ("Region Skåne", "Västra Götalandsregionen"; "Region
    Stockholm" is the police region's name); the country in English and ISO 3166-1 alpha-3
    ("Sweden", "SWE"); the police regions as the police write them ("Polisregion Syd",
    "Syd"); and SCB's metropolitan areas: Storstockholm (county 01 since 2005), Storgöteborg
    and Stormalmö (their municipalities, Kungsbacka in Halland too).
    """
    aliases: dict[str, str | tuple[str, ...]] = {}
    names = {r["lan_kod"]: r["lan_namn"] for r in _table()}
    for county, (letter, short) in _COUNTY_DESIGNATIONS.items():
        aliases.update({letter: county, f"SE-{letter}": county, short: county})
        aliases.update(dict.fromkeys((f"{short} län", f"{short}s län"), county))
        aliases.update(dict.fromkeys((f"Region {short}", f"Region {names[county]}"), county))
    del aliases[f"Region {_COUNTY_DESIGNATIONS[_STOCKHOLM_COUNTY][1]}"]  # the police region's
    aliases.update(_REGIONAL_COUNCILS)
    for code, (name, _) in POLICE_REGIONS.items():
        short = name.removeprefix("Region ")
        aliases[f"Polisregion {short}"] = code
        if short not in aliases:  # (Stockholm is the municipality's name, and the county's)
            aliases[short] = code
    aliases.update(dict.fromkeys(("Sweden", "SWE", "Konungariket Sverige"), _COUNTRY_CODE))
    for area, codes in _METROPOLITAN_AREAS.items():
        short = area.removeprefix("Stor")
        aliases.update(dict.fromkeys((area, f"Stor-{short}", f"Stor {short}"), codes))
    # A municipality as its own organisation writes it: "Stockholms stad", "Nacka kommun".
    for row in _table():
        name, code = row["kommun_namn"], row["kommun_kod"]
        for form in (f"{name} kommun", f"{name}s kommun", f"{name} stad", f"{name}s stad"):
            aliases[form] = code
    return aliases


#: Regional councils whose names are not "Region" and the county's short name or name:
#: council name → county code. Source: the councils' own names (SKR's list of regions).
_REGIONAL_COUNCILS: Mapping[str, str] = ReadOnly(
    {
        "Region Sörmland": "04",
        "Region Jämtland Härjedalen": "23",
        "Västra Götalandsregionen": "14",
    }
)

#: SCB's metropolitan areas (storstadsområden, since 2005): name → municipality codes.
#: Storstockholm is all of county 01. Source: SCB, "Sveriges storstadsområden"
#: (``storstadsomraden.csv`` in the reference data).
_METROPOLITAN_AREAS: Mapping[str, str | tuple[str, ...]] = ReadOnly(
    {
        "Storstockholm": _STOCKHOLM_COUNTY,
        "Storgöteborg": (
            "1384", "1401", "1402", "1407", "1415", "1419", "1440", "1441", "1462", "1480",
            "1481", "1482", "1489",
        ),
        "Stormalmö": (
            "1230", "1231", "1233", "1261", "1262", "1263", "1264", "1267", "1280", "1281",
            "1285", "1287",
        ),
    }
)  # fmt: skip


def municipalities() -> RegionSet:
    """The 290 municipalities (kommuner), codes ``"0114"`` … ``"2584"``, with their waters.

    Returns
    -------
    RegionSet
        Level ``"municipality"``, names as SCB writes them (``"Upplands Väsby"``). Each covers
        the municipality's land, inland water and territorial sea.

    Examples
    --------
    >>> from geotarget import sweden
    >>> kommuner = sweden.municipalities()
    >>> len(kommuner), kommuner["0180"].name
    (290, 'Stockholm')
    >>> kommuner.locate([18.0686, 11.9746], [59.3293, 57.7089]).tolist()
    ['0180', '1480']
    >>> kommuner.locate([14.55], [58.25]).tolist()  # on Vättern, off Hästholmen
    ['0509']

    .. versionadded:: 0.1.0
    """
    return _municipalities()


def counties() -> RegionSet:
    """The 21 counties (län), codes ``"01"`` … ``"25"``, each the union of its municipalities.

    Located through the municipalities (see :meth:`RegionSet.from_unions
    <geotarget.regions.RegionSet.from_unions>`): a point's county is its municipality's.

    Returns
    -------
    RegionSet
        Level ``"county"``, names such as ``"Stockholms län"``.

    Examples
    --------
    >>> from geotarget import sweden
    >>> sweden.counties()["01"].name
    'Stockholms län'

    .. versionadded:: 0.1.0
    """
    return _counties()


def police_regions() -> RegionSet:
    """The seven police regions, each the union of its counties (see :data:`POLICE_REGIONS`).

    Located through the municipalities, like :func:`counties`.

    Returns
    -------
    RegionSet
        Level ``"police_region"``, codes ``"PR-BERGSLAGEN"``, ``"PR-MITT"``, ``"PR-NORD"``,
        ``"PR-OST"``, ``"PR-STOCKHOLM"``, ``"PR-SYD"``, ``"PR-VAST"``; names ``"Region Nord"``
        and so on.

    Examples
    --------
    >>> from geotarget import sweden
    >>> sweden.police_regions().locate([18.2948], [57.6348]).tolist()  # Visby, Gotland
    ['PR-STOCKHOLM']

    .. versionadded:: 0.1.0
    """
    return _police_regions()


def country() -> Region:
    """Sweden as one :class:`~geotarget.regions.Region`: code ``"SE"``, name ``"Sverige"``.

    Its territory: the union of all municipalities, territorial sea included.

    Examples
    --------
    >>> from geotarget import sweden
    >>> sweden.country().contains([18.0686, 10.75], [59.3293, 59.91]).tolist()  # Oslo: no
    [True, False]

    .. versionadded:: 0.1.0
    """
    return _countries()[_COUNTRY_CODE]


def stockholm_area() -> RegionSet:
    """Storstockholm: the 26 municipalities of Stockholm County (SCB's definition since 2005).

    Returned as a municipality :class:`~geotarget.regions.RegionSet`, so a policy can list its
    codes or take its union; the union is exactly county ``"01"``. Gotland belongs to police
    Region Stockholm but not to Storstockholm.

    Examples
    --------
    >>> from geotarget import sweden
    >>> area = sweden.stockholm_area()
    >>> len(area), "0180" in area, "0980" in area
    (26, True, False)

    .. versionadded:: 0.1.0
    """
    return _stockholm_area()


@_once
def _stockholm_area() -> RegionSet:
    return RegionSet(
        (r for r in _municipalities() if r.code[:2] == _STOCKHOLM_COUNTY), overlap_tolerance=1.0
    )


def hierarchy() -> RegionHierarchy:
    """The Swedish hierarchy: municipality → county → police region → country (``"SE"``).

    Its level sets are :func:`municipalities`, :func:`counties`, :func:`police_regions` and
    the one-region set of :func:`country`, so ``hierarchy().locate(lon, lat, level)`` equals
    ``hierarchy().region_set(level).locate(lon, lat)`` everywhere, borders included.

    A code it does not know that is a county's letter (``"AB"``), ISO 3166-2 code
    (``"SE-AB"``), short name (``"Skåne"``), name with or without the genitive s
    (``"Västernorrland län"``, as Lantmäteriet's layers write it), regional council (``"Region
    Skåne"``), ``"Sweden"``, or a police region as the police
    write it (``"Polisregion Syd"``, ``"Syd"``), or a municipality as its organisation writes
    it (``"Stockholms stad"``, ``"Nacka kommun"``), is told the code to write
    (:class:`~geotarget.regions.RegionHierarchy` ``aliases``); SCB's metropolitan areas are
    told theirs: ``"Storstockholm"`` county ``"01"``, ``"Storgöteborg"`` and ``"Stormalmö"``
    their 13 and 12 municipalities. None is read as a code.

    Examples
    --------
    >>> from geotarget import sweden
    >>> h = sweden.hierarchy()
    >>> h.ancestors("0180")
    ('01', 'PR-STOCKHOLM', 'SE')
    >>> sorted(h.expand(["PR-STOCKHOLM"], "county"))
    ['01', '09']

    .. versionadded:: 0.1.0
    """
    return _hierarchy()


def pilot_policy() -> RolloutPolicy:
    """The Swedish Police pilot's phased rollout, as shipped in :data:`PILOT_POLICY_FILE`.

    ``explosion`` is enabled in the whole country from 2024-04-15 00:00 Europe/Stockholm
    (:data:`geotarget.pilot.PILOT_START`); ``crime_modus`` and ``tip_request`` in Stockholm
    County (``"01"``) from then (phase 1), in Skåne and Västra Götaland (``"12"``, ``"14"``)
    from 2024-09-02 (phase 2) and in the whole country from 2025-01-13 (phase 3). The dates of
    phases 2 and 3 are **illustrative**, not decided: those phases say
    :attr:`~geotarget.rollout.Phase.illustrative`, and timelines and explanations print
    "(illustrative date)" beside them. Phases are numbered from 1 in text; ``phase_index``
    counts from 0.

    Read from the package on the first call and cached (a policy is immutable). Copy the file
    (``RolloutPolicy.from_toml(path)`` reads a copy) to run your own phases; the region codes
    are checked against :func:`hierarchy` by the Targeter.

    Examples
    --------
    >>> from geotarget import sweden
    >>> print(sweden.pilot_policy().timeline("tip_request"))  # doctest: +NORMALIZE_WHITESPACE
    tip_request (times in Europe/Stockholm)
      phase 1  2024-04-15 00:00  enables 01
      phase 2  2024-09-02 00:00  adds 12, 14  -> 01, 12, 14  (illustrative date)
      phase 3  2025-01-13 00:00  adds SE  -> 01, 12, 14, SE  (illustrative date)

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.1.0
       The phased pilot read from the package's TOML file (before: Stockholm County only).
    """
    return _pilot_policy()


@_once
def _pilot_policy() -> RolloutPolicy:
    return RolloutPolicy.from_toml(_read("pilot_policy.toml"))


# ---------------------------------------------------------------------------------------------
# Synthetic population
# ---------------------------------------------------------------------------------------------

# The 58 urban areas (tätorter) with at least 20,000 inhabitants on 31 December 2010:
# (name, lon, lat, inhabitants). Inhabitants: Statistics Sweden (SCB), "Tätorter 2010", as
# listed in Wikipedia's "List of urban areas in Sweden by population". Coordinates: the town
# centres from the towns' Wikipedia infoboxes, rounded to 0.01°.
_TOWNS_2010: tuple[tuple[str, float, float, int], ...] = (
    ("Stockholm", 18.07, 59.33, 1_372_565),
    ("Göteborg", 11.97, 57.71, 560_839),
    ("Malmö", 13.00, 55.61, 280_415),
    ("Uppsala", 17.64, 59.86, 140_454),
    ("Västerås", 16.54, 59.61, 110_877),
    ("Örebro", 15.21, 59.27, 107_038),
    ("Linköping", 15.62, 58.41, 104_232),
    ("Helsingborg", 12.69, 56.05, 97_122),
    ("Jönköping", 14.16, 57.78, 89_396),
    ("Norrköping", 16.19, 58.59, 87_247),
    ("Lund", 13.19, 55.70, 82_800),
    ("Umeå", 20.26, 63.83, 79_594),
    ("Gävle", 17.14, 60.67, 71_033),
    ("Borås", 12.94, 57.72, 66_273),
    ("Eskilstuna", 16.51, 59.37, 64_679),
    ("Södertälje", 17.63, 59.20, 64_619),
    ("Karlstad", 13.50, 59.38, 61_685),
    ("Täby", 18.07, 59.44, 61_272),
    ("Växjö", 14.81, 56.88, 60_887),
    ("Halmstad", 12.86, 56.67, 58_577),
    ("Sundsvall", 17.31, 62.39, 50_712),
    ("Luleå", 22.15, 65.58, 46_607),
    ("Trollhättan", 12.29, 58.28, 46_457),
    ("Östersund", 14.64, 63.18, 44_327),
    ("Borlänge", 15.44, 60.49, 41_734),
    ("Tumba", 17.83, 59.20, 37_852),
    ("Upplands Väsby", 17.91, 59.52, 37_594),
    ("Falun", 15.64, 60.61, 37_291),
    ("Kalmar", 16.36, 56.66, 36_392),
    ("Kristianstad", 14.16, 56.03, 35_711),
    ("Karlskrona", 15.59, 56.16, 35_212),
    ("Skövde", 13.85, 58.39, 34_466),
    ("Skellefteå", 20.95, 64.75, 32_775),
    ("Lidingö", 18.13, 59.37, 31_561),
    ("Uddevalla", 11.94, 58.35, 31_212),
    ("Landskrona", 12.83, 55.87, 30_499),
    ("Nyköping", 17.01, 58.75, 29_891),
    ("Motala", 15.04, 58.54, 29_823),
    ("Vallentuna", 18.08, 59.53, 29_519),
    ("Örnsköldsvik", 18.72, 63.29, 28_991),
    ("Trelleborg", 13.16, 55.38, 28_290),
    ("Åkersberga", 18.30, 59.48, 28_033),
    ("Varberg", 12.25, 57.11, 27_602),
    ("Karlskoga", 14.52, 59.33, 27_084),
    ("Lidköping", 13.16, 58.51, 25_644),
    ("Alingsås", 12.53, 57.93, 24_482),
    ("Märsta", 17.85, 59.62, 24_068),
    ("Boo", 18.28, 59.33, 24_052),
    ("Ängelholm", 12.86, 56.24, 23_240),
    ("Sandviken", 16.78, 60.62, 22_965),
    ("Piteå", 21.48, 65.32, 22_913),
    ("Kungälv", 11.98, 57.87, 22_768),
    ("Visby", 18.29, 57.63, 22_593),
    ("Katrineholm", 16.21, 59.00, 21_993),
    ("Vänersborg", 12.32, 58.38, 21_699),
    ("Västervik", 16.64, 57.76, 21_140),
    ("Enköping", 17.08, 59.64, 21_121),
    ("Falkenberg", 12.49, 56.91, 20_035),
)
# SCB, 31 December 2010: Sweden's population; the population of all 1,956 urban areas
# ("Tätorter 2010", statistical news 2011-06-16); their mean density (1,491 inhabitants per
# km²). Outside urban areas the density was 3.5 per km², close to uniform.
_SWEDEN_2010 = 9_415_570
_URBAN_2010 = 8_016_000
_URBAN_DENSITY_PER_KM2 = 1_491.0
# The smaller urban areas (under 20,000) around each municipality's interior point: spread.
_SMALL_TOWN_SIGMA_KM = 5.0
_KM_PER_DEG_LAT = 111.2
_MAX_N = 100_000_000


@_once
def _anchors() -> FloatArray:
    """Each municipality's interior point (lon, lat), the seat of its smaller towns."""
    points = shapely.point_on_surface(_municipalities()._geoms)
    return np.asarray(shapely.get_coordinates(points), dtype=np.float64)


def synthetic_population(n: int, seed: int = 0) -> tuple[FloatArray, FloatArray]:
    """``n`` device positions distributed like Sweden's people, deterministic for ``seed``.

    A small documented model built only from facts typed into this module and the built-in
    boundaries (no population data ships with geotarget):

    * **Large towns** (51 % of people in 2010): the 58 urban areas of at least 20,000
      inhabitants (SCB, Tätorter 2010) as round Gaussian clusters at their centres, each
      holding its share of people, with ``σ = sqrt(people / (2π · 1,491 per km²))`` -- 1,491
      per km² being SCB's mean urban density -- so Stockholm spreads about 12 km.
    * **Smaller towns** (34 %): the rest of SCB's 8,016,000 urban inhabitants, split equally
      over the 290 municipalities, as 5 km Gaussians around each municipality's interior
      point.
    * **Countryside** (15 %): the 1.4 million people outside urban areas, split equally over
      the 290 municipalities and uniform by area within each (its waters included).

    Points that fall in no municipality (beyond the territorial sea, abroad) are drawn again
    from the same part of the model, so every point lies on Swedish territory -- some on lakes
    and at sea near the coast, as the regions cover those too. Rows are shuffled. The
    model is coarse but cheap and deterministic: Stockholm County gets about 22.6 % of the
    points (23.4 % of the people in 2024), the sparse north a little too many; the total
    variation distance from SCB's 2024 county shares is about 0.055.

    Parameters
    ----------
    n : int
        Number of positions, ``0 <= n <= 100,000,000``.
    seed : int, default 0
        Seed of the numpy random generator; equal seeds give equal arrays.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray of float64
        Two arrays of shape ``(n,)``.

    Raises
    ------
    InvalidType, InvalidInput
        For an ``n`` or ``seed`` that is not an int in range.

    Examples
    --------
    >>> from geotarget import sweden
    >>> lon, lat = sweden.synthetic_population(10_000, seed=1)
    >>> bool((sweden.municipalities().locate(lon, lat) != "").all())
    True
    >>> share = float((sweden.counties().locate(lon, lat) == "01").mean())  # Stockholm County
    >>> 0.18 < share < 0.28
    True

    .. versionadded:: 0.1.0
    """
    checked: tuple[tuple[str, object], ...] = (("n", n), ("seed", seed))
    for name, value in checked:
        if not is_integer(value):  # (not a bool, nor numpy's timedelta64)
            raise InvalidType(f"{name} must be an int (got {type(value).__name__} {shown(value)})")
    number("n", n, ge=0, le=_MAX_N, error=InvalidInput)
    if seed < 0:
        raise InvalidInput(f"seed must be an int >= 0 (got {seed})")
    rng = np.random.default_rng(int(seed))
    towns = np.array([(t[1], t[2], t[3]) for t in _TOWNS_2010], dtype=np.float64)
    in_towns = towns[:, 2].sum()
    weights = np.append(towns[:, 2], [_URBAN_2010 - in_towns, _SWEDEN_2010 - _URBAN_2010])
    counts = rng.multinomial(int(n), weights / weights.sum())

    sigma_km = np.sqrt(towns[:, 2] / (2.0 * np.pi * _URBAN_DENSITY_PER_KM2))
    town_of = np.repeat(np.arange(len(towns)), counts[: len(towns)])
    anchors = _anchors()
    small_of = rng.integers(0, len(anchors), int(counts[-2]))
    centres = np.concatenate([towns[town_of, :2], anchors[small_of]])
    sigmas = (
        np.concatenate([sigma_km[town_of], np.full(small_of.size, _SMALL_TOWN_SIGMA_KM)])
        / _KM_PER_DEG_LAT
    )
    clustered = _draw(rng, centres, sigmas)
    spread = _draw_uniform(rng, rng.integers(0, len(anchors), int(counts[-1])))
    lon = np.concatenate([clustered[0], spread[0]])
    lat = np.concatenate([clustered[1], spread[1]])
    order = rng.permutation(lon.size)
    return np.ascontiguousarray(lon[order]), np.ascontiguousarray(lat[order])


def _inside(lon: FloatArray, lat: FloatArray) -> Any:
    return _municipalities().locate_index(lon, lat) >= 0


def _draw(
    rng: np.random.Generator, centres: FloatArray, sigma_deg: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """One Gaussian point per centre; points outside Sweden are drawn again."""
    lon = np.empty(len(centres))
    lat = np.empty(len(centres))
    todo = np.arange(len(centres))
    for _ in range(1000):
        if todo.size == 0:
            return lon, lat
        c = centres[todo]
        s = sigma_deg[todo]
        lat[todo] = rng.normal(c[:, 1], s)
        lon[todo] = rng.normal(c[:, 0], s / np.cos(np.radians(c[:, 1])))
        np.clip(lat, -90.0, 90.0, out=lat)
        np.clip(lon, -180.0, 180.0, out=lon)
        todo = todo[~_inside(lon[todo], lat[todo])]
    raise RuntimeError("synthetic_population: a cluster keeps falling outside Sweden")


def _draw_uniform(rng: np.random.Generator, home: Any) -> tuple[FloatArray, FloatArray]:
    """One point uniform by area in each ``home`` municipality (rejection from its box)."""
    boxes = shapely.bounds(_municipalities()._geoms)[home]
    lo, hi = np.sin(np.radians(boxes[:, 1])), np.sin(np.radians(boxes[:, 3]))
    lon = np.empty(home.size)
    lat = np.empty(home.size)
    todo = np.arange(home.size)
    for _ in range(1000):
        if todo.size == 0:
            return lon, lat
        lon[todo] = rng.uniform(boxes[todo, 0], boxes[todo, 2])
        lat[todo] = np.degrees(np.arcsin(rng.uniform(lo[todo], hi[todo])))
        todo = todo[_municipalities().locate_index(lon[todo], lat[todo]) != home[todo]]
    raise RuntimeError("synthetic_population: uniform draws keep missing their municipality")
