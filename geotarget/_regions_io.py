"""Private: read region features from GeoJSON and GeoParquet, and bring them to lon/lat.

Both readers return :class:`RawFeature` rows (source position, code, name, shapely geometry in
the source CRS) plus the declared CRS, so the checks that follow -- CRS, reprojection, validity,
merging features that share a code -- are written once, in :func:`to_regions`.

pyproj is imported only when a CRS must be resolved; pyarrow only by the GeoParquet reader.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import shapely
import shapely.geometry as sg

from geotarget import _geos
from geotarget._validate import KeyTwice, is_integer, iterable, json_unique, only_numbers, shown
from geotarget.alerts._values import brief, cut_words
from geotarget.areas import _where
from geotarget.errors import InvalidRegions, InvalidType, MissingExtra

if TYPE_CHECKING:  # pragma: no cover
    import pyproj

    from geotarget.regions import Region

#: What a region source may be: a path, GeoJSON text or bytes, or a parsed GeoJSON mapping.
Source = str | bytes | os.PathLike[str] | Mapping[str, Any]

_LONLAT_NAMES = frozenset(
    {
        "epsg:4326",
        "urn:ogc:def:crs:epsg::4326",
        "urn:ogc:def:crs:ogc:1.3:crs84",
        "urn:ogc:def:crs:ogc::crs84",
        "ogc:crs84",
        "crs84",
    }
)


@attrs.frozen
class RawFeature:
    """One feature as read: where it was, its code and name, its geometry in the source CRS."""

    where: str
    code: str
    name: str | None
    geometry: Any


# ---------------------------------------------------------------------------------------------
# GeoJSON
# ---------------------------------------------------------------------------------------------


def read_geojson(
    source: Source, code_property: str, name_property: str | None, crs_given: bool = False
) -> tuple[list[RawFeature], str | None]:
    """Features of a GeoJSON FeatureCollection and the CRS named in its legacy ``crs`` member.

    A linked CRS (not fetched) is refused unless ``crs_given``: then it declares none.
    """
    doc = _load_json(source)
    if not isinstance(doc, Mapping) or doc.get("type") != "FeatureCollection":
        kind = doc.get("type") if isinstance(doc, Mapping) else type(doc).__name__
        raise InvalidRegions(
            f"region GeoJSON must be a FeatureCollection (got {kind!r}){_other_json(doc)}"
        )
    crs = _geojson_crs(doc.get("crs"), linked_ok=crs_given)
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidRegions(f"features must be a non-empty list (got {brief(features, 60)})")
    _refuse_one_page(doc, len(features))
    out: list[RawFeature] = []
    for i, feature in enumerate(features):
        where = f"features[{i}]"
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            raise InvalidRegions(f"{where} must be a GeoJSON Feature (got {brief(feature, 60)})")
        props = feature.get("properties")
        if props is None:  # RFC 7946 allows null: a feature without properties
            props = {}
        if not isinstance(props, Mapping):
            raise InvalidRegions(f"{where}.properties must be an object (got {brief(props, 60)})")
        if "id" in feature and "id" not in props:
            # RFC 7946 (3.2): a Feature's identifier is its own "id" member, beside its
            # properties (geopandas' to_json writes the frame's index there, OSM exports the
            # element's id): code_property="id" reads it where the properties have none.
            props = {**props, "id": feature["id"]}
        code = _text_property(props, code_property, where, "code_property")
        name = _text_property(props, name_property, where, "name_property")
        geom = feature.get("geometry")
        if geom is None:
            raise InvalidRegions(f"{where} (code {brief(code)}) has no geometry (got null)")
        _same_crs(feature, where, code, crs)
        if isinstance(geom, Mapping):
            _same_crs(geom, f"{where}.geometry", code, crs)
        coords = geom.get("coordinates") if isinstance(geom, Mapping) else None
        if isinstance(coords, (list, tuple)) and not _numeric(coords, 4):
            raise InvalidRegions(
                f"{where}.geometry (code {brief(code)}) coordinates must be numbers, each "
                'position a list of them (a string such as "18.0", true or false is not read as '
                "one)"
            )
        try:
            with np.errstate(invalid="ignore"):  # a NaN vertex: refused by to_regions, named
                shape = sg.shape(geom)
        except Exception as err:  # shapely raises several types for malformed GeoJSON
            reason = cut_words(str(err).splitlines()[0]) if str(err).strip() else type(err).__name__
            if "inhomogeneous" in reason:  # numpy's words for positions of 2 and 3 numbers
                reason = "its positions mix 2 and 3 numbers (each ring's positions must agree)"
            # shapely's and Python's words ("'coordinates'", "'int' object is not iterable")
            # name no member and no rule: say which part of the geometry breaks which rule.
            problem = _structure_problem(geom)
            if problem is None and (bad := _non_finite_position(geom)) is not None:
                raise _non_finite_problem(where, code, *bad) from err  # (a NaN closing vertex)
            reason = problem or reason
            raise InvalidRegions(
                f"{where}.geometry (code {brief(code)}) is not valid GeoJSON geometry: {reason}"
            ) from err
        out.append(RawFeature(where, code, name, shape))
    return out, crs


_ONE_PAGE = (
    "the regions of the other pages would be missing, and a device there would lie in no "
    "region, as if abroad; fetch every page and merge their features into one "
    "FeatureCollection"
)


def _refuse_one_page(doc: Mapping[str, Any], held: int) -> None:
    """Refuse a FeatureCollection that is one page of a server's paged answer.

    OGC API Features and WFS 2.0 answer a query page by page: ``numberMatched`` features in
    all (GeoServer also writes ``totalFeatures``), those of this page, and a link with
    ``rel`` ``next`` to the rest; ArcGIS's ``f=geojson`` says ``exceededTransferLimit`` when it
    stopped at its record limit. Saved alone, such a page is a valid FeatureCollection of some
    of the regions: the others would silently cover nothing.
    """
    counted = False
    for key in ("numberMatched", "totalFeatures"):
        total = doc.get(key)
        if not is_integer(total):  # (numberMatched may be "unknown")
            continue
        if total > held:
            raise InvalidRegions(
                f"the FeatureCollection holds {held} of the {total} features its server "
                f"matched ({key}): it is one page of a paged answer (OGC API Features or WFS; "
                f"follow its 'next' links, or raise the page size); {_ONE_PAGE}"
            )
        counted = True
    if counted:  # every feature matched is here (pages merged under the first's members)
        return
    links = doc.get("links")
    if isinstance(links, list) and any(
        isinstance(link, Mapping) and link.get("rel") == "next" for link in links
    ):
        raise InvalidRegions(
            f"the FeatureCollection of {held} features has a link with rel 'next': it is one "
            "page of a paged answer (OGC API Features or WFS; follow its 'next' links, or "
            f"raise the page size); {_ONE_PAGE}"
        )
    props = doc.get("properties")
    if doc.get("exceededTransferLimit") is True or (
        isinstance(props, Mapping) and props.get("exceededTransferLimit") is True
    ):
        raise InvalidRegions(
            f"the FeatureCollection of {held} features says exceededTransferLimit: ArcGIS "
            "stopped at its record limit (maxRecordCount), so it is one page of the answer "
            f"(ask again with resultOffset until the limit is not exceeded); {_ONE_PAGE}"
        )


def _other_json(doc: object) -> str:
    """`` (it is ...: do ...)`` for the JSON of another map format, else ``""``."""
    if not isinstance(doc, Mapping):
        return ""
    if doc.get("type") == "Topology":
        return (
            " (it is TopoJSON, whose arcs are shared between features: convert it to GeoJSON, "
            "e.g. mapshaper FILE -o format=geojson, or topojson-client's topo2geo)"
        )
    if "geometryType" in doc or ("features" in doc and "spatialReference" in doc):
        return (
            " (it is Esri JSON, an ArcGIS REST answer with f=json: ask for f=geojson, or "
            "convert it, e.g. ogr2ogr -f GeoJSON)"
        )
    return ""


def check_arguments(
    code_property: object, name_property: object, level: object, crs: object, repair: object
) -> None:
    """Refuse loader arguments of the wrong type before reading, naming the argument.

    Not blamed on the first feature (``features[0] (code 'A'): level must be ...``), and not
    an ``AttributeError`` for ``crs=3006`` or a ``pyproj.CRS``.
    """
    from geotarget.regions import _check_level

    if not isinstance(code_property, str):
        raise InvalidType(
            f"code_property must be a property name (got {type(code_property).__name__} "
            f"{brief(code_property, 40)})"
        )
    if name_property is not None and not isinstance(name_property, str):
        raise InvalidType(
            f"name_property must be a property name or None (got "
            f"{type(name_property).__name__} {brief(name_property, 40)})"
        )
    _check_level(None, None, level)  # type: ignore[arg-type]
    if crs is not None and not isinstance(crs, str):
        if hasattr(crs, "to_string") and hasattr(crs, "to_wkt"):  # a pyproj.CRS
            text = str(crs.to_string())
            got = f"a pyproj CRS; pass its text, crs={brief(text, 60)}"
        else:
            got = f"{type(crs).__name__} {brief(crs, 40)}"
        raise InvalidType(f"crs must be a CRS name such as 'EPSG:3006' or None (got {got})")
    if not isinstance(repair, bool):
        raise InvalidType(
            f"repair must be True or False (got {type(repair).__name__} {brief(repair, 40)})"
        )


def file_label(source: object, kind: str = "region file") -> str | None:
    """How errors name the file ``source`` is (``None`` for text, bytes or a mapping)."""
    if isinstance(source, Mapping | bytes):
        return None
    if isinstance(source, str) and source.lstrip("\ufeff \t\r\n")[:1] in ("{", "["):
        return None
    if not isinstance(source, str | os.PathLike):
        return None
    return f"{kind} {_shown(str(source))}"


def naming_file(err: InvalidRegions, label: str | None) -> InvalidRegions:
    """``err`` with the file named first, unless it names the file already (or is no file)."""
    if label is None or label.split(" ", 2)[-1] in str(err):
        return err
    return InvalidRegions(f"{label}: {err}")


def _structure_problem(geom: Any) -> str | None:
    """What a (Multi)Polygon GeoJSON geometry that shapely could not read breaks, if known.

    Names the member (``coordinates[0][2]``), what it must be and what it is. ``None`` for a
    geometry of another type, or one whose structure is right (shapely's reason stands).
    """
    if not isinstance(geom, Mapping):
        return f"a geometry must be an object (got {type(geom).__name__} {brief(geom, 60)})"
    kind = geom.get("type")
    if not isinstance(kind, str):
        return f"'type' must be a geometry type such as 'Polygon' (got {brief(kind, 60)})"
    if kind.lower() not in ("polygon", "multipolygon"):
        return None
    if "coordinates" not in geom:
        return f"a {kind} needs a 'coordinates' member (it has: {', '.join(map(str, geom))})"
    coords = geom["coordinates"]
    if kind.lower() == "polygon":
        polygons: list[tuple[str, Any]] = [("coordinates", coords)]
    elif not isinstance(coords, list):
        return f"coordinates must be a list of polygons (got {brief(coords, 60)})"
    else:
        polygons = [(f"coordinates[{i}]", p) for i, p in enumerate(coords)]
    for at, rings in polygons:
        if not isinstance(rings, list) or not rings:
            return f"{at} must be a non-empty list of linear rings (got {brief(rings, 60)})"
        for j, ring in enumerate(rings):
            if not isinstance(ring, list) or not all(isinstance(q, list) for q in ring):
                shallow = (
                    " (a position: one nesting level too few, is the type right?)"
                    if isinstance(ring, list) and ring and only_numbers(ring)
                    else ""
                )
                return (
                    f"{at}[{j}] must be a linear ring, a list of positions "
                    f"(got {brief(ring, 60)}){shallow}"
                )
            for k, q in enumerate(ring):
                if len(q) not in (2, 3) or any(isinstance(v, list) for v in q):
                    deeper = (
                        f" (a {'MultiPolygon' if kind.lower() == 'polygon' else 'deeper'} "
                        "nesting: is the type right?)"
                        if any(isinstance(v, list) for v in q)
                        else ""
                    )
                    return (
                        f"{at}[{j}][{k}] must be a position of 2 or 3 numbers "
                        f"(got {brief(q, 60)}){deeper}"
                    )
            if len(ring) < 3:
                return (
                    f"{at}[{j}] must be a linear ring of at least 4 positions, the last equal "
                    f"to the first (got {len(ring)})"
                )
    return None


def _same_crs(member: Mapping[str, Any], where: str, code: str, crs: str | None) -> None:
    """Refuse a legacy ``crs`` on a feature or geometry that differs from the collection's.

    GeoJSON 2008 let an object override its parent's CRS; the coordinates are read in the
    collection's, so such an object would be misplaced without a word.
    """
    if "crs" not in member or member["crs"] is None:
        return
    own = _geojson_crs(member["crs"], linked_ok=True)  # (not fetched: nothing to compare)
    if own is None or own == crs:
        return
    own_lonlat = _is_lonlat(own)
    if crs is None or _is_lonlat(crs):
        if own_lonlat:
            return  # lon/lat restated (no collection CRS: the default, OGC:CRS84)
    elif not own_lonlat and _crs(own).equals(_crs(crs), ignore_axis_order=True):
        return
    raise InvalidRegions(
        f"{where} (code {brief(code)}) declares crs {_crs_shown(own)}, unlike the collection "
        f"({'none: lon/lat' if crs is None else _crs_shown(crs)}); a file holds one CRS, "
        "named on the FeatureCollection"
    )


def _numeric(value: Any, depth: int) -> bool:
    """Whether nested GeoJSON ``coordinates`` (at most ``depth`` levels) hold numbers only."""
    if depth == 0 or not isinstance(value, (list, tuple)):
        return False
    if not value:
        return True
    first = value[0]
    if not isinstance(first, (list, tuple)):
        return only_numbers(value)  # one position
    if first and not isinstance(first[0], (list, tuple)):  # a list of positions: one pass
        try:
            return all(isinstance(p, (list, tuple)) for p in value) and only_numbers(
                itertools.chain.from_iterable(value)
            )
        except TypeError:
            return False
    return all(_numeric(v, depth - 1) for v in value)


def _load_json(source: Source) -> Any:
    if isinstance(source, Mapping):
        return source
    if isinstance(source, str) and source.lstrip("\ufeff \t\r\n")[:1] in ("{", "["):
        text: str | bytes = source.lstrip("\ufeff")  # a BOM, as open().read() keeps it
    elif isinstance(source, bytes):
        text = source
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            text = path.read_bytes()
        except (OSError, ValueError) as err:  # ValueError: a NUL in the name
            reason = f"{err.strerror}" if isinstance(err, OSError) and err.strerror else f"{err}"
            raise InvalidRegions(
                f"cannot read region file {_shown(str(path))}: {cut_words(reason)}"
            ) from err
    else:
        raise InvalidRegions(
            "source must be a path, GeoJSON text or bytes, or a parsed GeoJSON mapping "
            f"(got {type(source).__name__})"
        )
    try:
        return json_unique(text)
    except KeyTwice as twice:
        raise InvalidRegions(
            f"region GeoJSON gives the key {twice.key!r} twice in one object{twice.where}: "
            "JSON readers "
            "differ in which one they keep (RFC 8259: names should be unique), so which "
            "code, name or geometry is meant is unknown; keep one"
        ) from None
    except ValueError as err:
        kind = _kind_of(text)
        if isinstance(err, UnicodeDecodeError) and isinstance(text, bytes) and not kind:
            _refuse_not_utf8(text, err)
        raise InvalidRegions(f"region GeoJSON is not valid JSON: {err}{kind}") from err


def _refuse_not_utf8(data: bytes, err: UnicodeDecodeError) -> None:
    """Name the first byte of ``data`` that is not UTF-8, with its line, and the rule.

    Raised for GeoJSON bytes that json could not decode in the encoding it chose (UTF-8 unless
    a byte order mark or zero bytes say UTF-16 or UTF-32), such as a file written in Latin-1 or
    Windows-1252, as shapefiles' attribute tables are ("Malmö" as the byte 0xf6).
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as bad:
        line = data.count(b"\n", 0, bad.start) + 1
        raise InvalidRegions(
            f"region GeoJSON is not UTF-8: byte {data[bad.start]:#04x} at line {line} (offset "
            f"{bad.start}); GeoJSON is UTF-8 text (RFC 8259): save it as UTF-8 (a Latin-1 or "
            "Windows-1252 file, as shapefiles' attribute tables are written, writes 'ö' as the "
            "one byte 0xf6)"
        ) from err


#: First bytes of files given where GeoJSON (or GeoParquet) was expected, and what to do.
_MAGIC = (
    (b"PAR1", "a Parquet file: read GeoParquet with RegionSet.from_geoparquet"),
    (b"PK\x03\x04", "a ZIP archive (a zipped shapefile?): convert it, e.g. ogr2ogr -f GeoJSON"),
    (b"GPKG", "a GeoPackage: convert it, e.g. ogr2ogr -f GeoJSON"),
    (b"SQLite format 3", "an SQLite file (a GeoPackage?): convert it, e.g. ogr2ogr -f GeoJSON"),
    (b"\x00\x00\x27\x0a", "a shapefile: convert it, e.g. ogr2ogr -f GeoJSON"),
    (b"fgb\x03", "a FlatGeobuf file: convert it, e.g. ogr2ogr -f GeoJSON"),
    (b"\x1f\x8b", "gzip-compressed: decompress it first, e.g. gunzip"),
)
#: XML map formats by a name their root element carries, as GDAL and QGIS write them.
_XML_KINDS = ((b"<kml", "KML"), (b"gml", "GML"), (b"<gpx", "GPX"))


def _kind_of(data: str | bytes) -> str:
    """`` (it is ...: do ...)`` when ``data`` starts like a known non-GeoJSON file, else ``""``."""
    head = data[:64].encode("utf-8", "replace") if isinstance(data, str) else data[:64]
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f" (it is {what})"
    start = data[:1024].encode("utf-8", "replace") if isinstance(data, str) else data[:1024]
    if start.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        kind = next((k for tag, k in _XML_KINDS if tag in start), "XML")
        return f" (it is {kind}, not GeoJSON: convert it, e.g. ogr2ogr -f GeoJSON)"
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return ""
    lines = [line for line in data.lstrip("\ufeff\x1e \t\r\n").splitlines()[:3] if line.strip()]
    # RFC 8142's record separator before a single feature says so as well as several lines.
    sequence = data.lstrip("\ufeff \t\r\n")[:1] == "\x1e"
    if (
        lines
        and (len(lines) > 1 or sequence)
        and all(line.lstrip("\x1e ").startswith("{") for line in lines)
    ):
        return (
            " (it is one JSON object per line, GeoJSON Text Sequences as GDAL's GeoJSONSeq "
            "writes them: wrap the features in a FeatureCollection, e.g. ogr2ogr -f GeoJSON)"
        )
    return ""


def _shown(text: str, limit: int = 120) -> str:
    """``text`` quoted, cut visibly near ``limit`` characters (a name may be a document)."""
    return brief(text, limit)


def _geojson_crs(member: object, *, linked_ok: bool) -> str | None:
    if member is None:
        return None
    name = None
    if isinstance(member, Mapping) and member.get("type") == "name":
        props = member.get("properties")
        if isinstance(props, Mapping):
            name = props.get("name")
    elif isinstance(member, Mapping) and member.get("type") == "EPSG":
        # The form of the GeoJSON drafts before 1.0, still written by some tools (OpenLayers
        # 2): {"type": "EPSG", "properties": {"code": 3006}}.
        props = member.get("properties")
        code = props.get("code") if isinstance(props, Mapping) else None
        if is_integer(code) or (isinstance(code, str) and code.isascii() and code.isdigit()):
            name = f"EPSG:{int(code)}"
    if isinstance(member, Mapping) and member.get("type") == "link":
        # A linked CRS (a URL of a proj4 or WKT file) is not fetched: named by crs=..., the
        # file declares none that could disagree with it.
        if linked_ok:
            return None
        raise InvalidRegions(
            "crs is a linked CRS (type 'link'), which geotarget does not fetch: pass crs=... "
            "naming it (for example EPSG:3006 for SWEREF 99 TM), or write a named CRS such as "
            '{"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3006"}} '
            f"(got {brief(member, 80)})"
        )
    if not isinstance(name, str) or not name:
        raise InvalidRegions(
            "crs must be a named CRS such as "
            '{"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3006"}} '
            f"(got {brief(member, 80)})"
        )
    return name


def _text_property(props: Mapping[str, Any], key: str | None, where: str, what: str) -> Any:
    if key is None:
        return None
    if key not in props:
        have = ", ".join(sorted(map(str, props))) or "none"
        raise InvalidRegions(
            f"{where} has no property {key!r} ({what}); its properties are: {have}"
        )
    value = props[key]
    if not isinstance(value, str) or not value.strip():
        hint = (
            " (codes are text, so leading zeros such as '0114' survive)"
            if value and what == "code_property"
            else ""
        )
        raise InvalidRegions(
            f"{where} property {key!r} must be a non-empty string "
            f"(got {type(value).__name__} {brief(value)}){hint}"
        )
    return value


# ---------------------------------------------------------------------------------------------
# GeoParquet
# ---------------------------------------------------------------------------------------------


def read_geoparquet(
    source: str | os.PathLike[str] | Any,
    code_property: str,
    name_property: str | None,
    feature: str,
) -> tuple[list[RawFeature], str | None]:
    """Rows of a GeoParquet file (WKB or GeoArrow polygons) and its CRS as PROJJSON text, if any."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:
        raise MissingExtra("geoparquet", feature) from err
    file = f"GeoParquet {_shown(str(source))}"
    # Every pyarrow failure (ArrowInvalid is a ValueError, a damaged page an OSError, ...).
    failures = (OSError, ValueError, TypeError, KeyError, NotImplementedError, pa.ArrowException)

    def unreadable(err: Exception) -> InvalidRegions:
        text = str(err).strip()
        reason = cut_words(text.splitlines()[0]) if text else type(err).__name__
        if "magic bytes" in reason and isinstance(source, (str, os.PathLike)):
            try:
                with open(source, "rb") as fh:
                    head = fh.read(4096)
            except OSError:
                head = b""
            if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
                reason += " (it is JSON: read GeoJSON with RegionSet.from_geojson)"
            else:
                reason += _kind_of(head)
        return InvalidRegions(f"cannot read {file}: {reason}")

    from geotarget._position_files import check_parquet_footer, opened_parquet

    with contextlib.ExitStack() as stack:
        # A file is opened once: its footer checked and its pages read are one file's, even
        # when a new one is renamed over it meanwhile.
        data, size = source, None
        if isinstance(source, (str, os.PathLike)):
            try:
                data, size = stack.enter_context(opened_parquet(source))
            except OSError as err:
                raise unreadable(err) from err
        try:
            schema = pq.read_schema(data)
            footer = pq.read_metadata(data)
        except failures as err:
            raise unreadable(err) from err
        # Before pyarrow allocates arrays by the footer's row counts (a 1.5 kB file claiming
        # 2**31 rows took 1.2 GB).
        check_parquet_footer(footer, size, file, InvalidRegions)
        raw_geo = (schema.metadata or {}).get(b"geo")
        if raw_geo is None:
            raise InvalidRegions(f"{file} is not GeoParquet: it has no 'geo' metadata")
        try:
            geo = json.loads(raw_geo)
            column = geo["primary_column"]
            meta = geo["columns"][column]
        except (ValueError, KeyError, TypeError) as err:
            raise InvalidRegions(
                f"{file}: 'geo' metadata is malformed: {cut_words(repr(err))}"
            ) from err
        if not isinstance(column, str) or not isinstance(meta, Mapping):
            raise InvalidRegions(
                f"{file}: 'geo' metadata is malformed: primary_column must be a column name "
                f"and columns[{brief(column, 40)}] an object (got {type(meta).__name__} "
                f"{brief(meta, 60)})"
            )
        if column not in schema.names:
            raise InvalidRegions(
                f"{file}: 'geo' metadata names the geometry column {column!r}, which the file "
                "lacks (a column renamed after writing?); columns: "
                f"{cut_words(', '.join(schema.names))}"
            )
        encoding = str(meta.get("encoding", ""))
        if encoding.upper() != "WKB" and encoding not in _GEOARROW:
            raise InvalidRegions(
                f"GeoParquet column {column!r} must be encoded as one of {', '.join(_ENCODINGS)} "
                f"(got encoding {encoding!r})"
            )
        if meta.get("edges", "planar") != "planar":
            spherical = (
                ": its edges follow great circles (as BigQuery's GEOGRAPHY draws them), while "
                "geotarget's run straight in lon/lat, as GeoJSON and CAP draw them, and the two "
                "part by tens of metres along a long border; write the geometries with planar "
                "edges, densified first (ST_Segmentize) so that both courses agree"
                if meta.get("edges") == "spherical"
                else ""
            )
            raise InvalidRegions(
                f"GeoParquet column {column!r} must have planar edges (got "
                f"{brief(meta.get('edges'), 40)}){spherical}"
            )
        names = set(schema.names)
        for key, what in ((code_property, "code_property"), (name_property, "name_property")):
            if key is not None and key not in names:
                have = ", ".join(sorted(names))
                raise InvalidRegions(
                    f"{file} has no column {key!r} ({what}); columns: {cut_words(have)}"
                )
        wanted = [c for c in (code_property, name_property, column) if c is not None]
        held = {code_property: "codes", name_property: "names", column: "geometries"}
        for key in wanted:  # (pyarrow's words: "Multiple matches for FieldRef.Name(...)")
            if schema.names.count(key) > 1:
                first, second = [j + 1 for j, n in enumerate(schema.names) if n == key][:2]
                raise InvalidRegions(
                    f"{file}: column {key!r} appears twice (columns {first} and {second}), so "
                    f"which one holds the {held[key]} is unknown; keep one"
                )
        try:
            table = pq.read_table(data, columns=list(dict.fromkeys(wanted)))
            codes = table.column(code_property).to_pylist()
            names_col = (
                table.column(name_property).to_pylist() if name_property else [None] * len(codes)
            )
            if encoding.upper() == "WKB":
                wkb = table.column(column).to_pylist()
            else:
                wkb = _from_geoarrow(table.column(column), encoding, pa)
        except failures as err:
            raise unreadable(err) from err
        out: list[RawFeature] = []
        for i, (code, name, blob) in enumerate(zip(codes, names_col, wkb, strict=True)):
            where = f"row {i}"
            code = _text_property({code_property: code}, code_property, where, "code_property")
            if name_property is not None:
                name = _text_property({name_property: name}, name_property, where, "name_property")
            if blob is None:
                raise InvalidRegions(f"{where} (code {brief(code)}) has no geometry (got null)")
            try:
                with np.errstate(invalid="ignore"):  # a NaN vertex: refused by to_regions, named
                    shape = blob if isinstance(blob, shapely.Geometry) else shapely.from_wkb(blob)
            except (shapely.errors.GEOSException, TypeError, ValueError) as err:
                raise InvalidRegions(
                    f"{file}: {where} (code {brief(code)}) has unreadable WKB: "
                    f"{cut_words(str(err))}"
                ) from err
            out.append(RawFeature(where, code, name, shape))
        if not out:
            raise InvalidRegions(f"{file} has no rows")
        crs = meta.get("crs", "OGC:CRS84")  # the GeoParquet default when the key is absent
        return out, None if crs is None else (crs if isinstance(crs, str) else json.dumps(crs))


#: GeoParquet 1.1's native (GeoArrow) encodings of polygonal geometry, by nesting depth.
_GEOARROW = {"polygon": 2, "multipolygon": 3}
_ENCODINGS = ("WKB", *(f"{e!r}" for e in _GEOARROW))


def _from_geoarrow(column: Any, encoding: str, pa: Any) -> list[Any]:
    """Shapely geometries (``None`` for a null) of a GeoArrow ``polygon``/``multipolygon`` column.

    Nested lists (rings of a polygon, polygons of a multipolygon) of coordinates, each a
    struct of ``x``, ``y`` (and perhaps ``z``) or an interleaved fixed-size list, as GeoPandas
    (``to_parquet(geometry_encoding="geoarrow")``) and GDAL write them.
    """
    arr = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
    offsets: list[Any] = []
    level = arr
    for _ in range(_GEOARROW[encoding]):
        if not pa.types.is_list(level.type) and not pa.types.is_large_list(level.type):
            raise TypeError(f"a {encoding} column must nest lists (got {level.type})")
        bounds = np.asarray(level.offsets, dtype=np.int64)
        offsets.append(bounds - bounds[0])
        level = level.flatten() if level.offset == 0 else level.values[bounds[0] : bounds[-1]]
    if pa.types.is_struct(level.type):
        xy = np.column_stack(
            [np.asarray(level.field(k).to_numpy(zero_copy_only=False)) for k in ("x", "y")]
        )
    elif pa.types.is_fixed_size_list(level.type):
        size = level.type.list_size
        flat = np.asarray(level.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
        xy = flat.reshape(-1, size)[:, :2]
    else:
        raise TypeError(
            f"GeoArrow coordinates must be a struct or a fixed-size list ({level.type})"
        )
    kind = (
        shapely.GeometryType.POLYGON if encoding == "polygon" else shapely.GeometryType.MULTIPOLYGON
    )
    shapes = shapely.from_ragged_array(
        kind, np.ascontiguousarray(xy, dtype=np.float64), tuple(reversed(offsets))
    )
    return [g if ok else None for g, ok in zip(shapes.tolist(), valid.tolist(), strict=True)]


# ---------------------------------------------------------------------------------------------
# CRS, validity, merging
# ---------------------------------------------------------------------------------------------


def to_regions(
    raw: Sequence[RawFeature],
    *,
    declared_crs: str | None,
    crs: str | None,
    level: str,
    repair: bool,
) -> list[Region]:
    """Reproject to lon/lat, check every geometry, merge features that share a code."""
    from geotarget.regions import Region

    raw = [_polygonal_collection(f) for f in raw]
    for f in raw:
        if not isinstance(f.geometry, (sg.Polygon, sg.MultiPolygon)) or f.geometry.is_empty:
            raise InvalidRegions(
                f"{f.where} (code {brief(f.code)}) must be a non-empty Polygon or MultiPolygon "
                f"(got {'empty ' if f.geometry.is_empty else ''}{f.geometry.geom_type}"
                f"{_members(f.geometry)})"
            )
    geoms = _without_empty_parts(
        shapely.force_2d(np.array([f.geometry for f in raw], dtype=object))
    )
    _refuse_non_finite(raw, geoms)  # before any CRS check or repair: corrupt, not invalid
    source_crs = _choose_crs(declared_crs, crs)
    if source_crs is None or _is_lonlat(source_crs):
        _refuse_projected(raw, geoms, source_crs)
        _refuse_antimeridian(raw, geoms, None)
    else:
        _refuse_not_horizontal(source_crs)
        _refuse_degrees(raw, geoms, source_crs)
        _refuse_swapped(raw, geoms, source_crs)
        geoms = _reproject(raw, geoms, source_crs)
    _check_lonlat(raw, geoms)
    geoms = _check_valid(raw, geoms, repair)

    groups: dict[str, list[int]] = {}
    for i, f in enumerate(raw):
        groups.setdefault(f.code, []).append(i)
    regions: list[Region] = []
    for code, rows in groups.items():
        # One name spelt composed ("ö") or decomposed ("o" and a combining diaeresis, as macOS
        # and some exports write it) is one name: compared and kept composed (NFC).
        named = {_composed(raw[i].name) for i in rows}
        if len(named) > 1:
            first = raw[rows[0]]
            other = next(raw[i] for i in rows if _composed(raw[i].name) != _composed(first.name))
            raise InvalidRegions(
                f"code {brief(code)} has two names: {brief(first.name)} ({first.where}) and "
                f"{brief(other.name)} ({other.where})"
            )
        geom = geoms[rows[0]] if len(rows) == 1 else shapely.union_all(geoms[rows])
        if not isinstance(geom, (sg.Polygon, sg.MultiPolygon)):  # pragma: no cover
            geom = sg.MultiPolygon(
                [p for p in shapely.get_parts(geom) if isinstance(p, sg.Polygon)]
            )
        name = _composed(raw[rows[0]].name) or code
        try:
            regions.append(Region(code=code, name=name, level=level, geometry=geom))
        except InvalidRegions as err:  # the Region's rule, named with the feature it broke
            raise InvalidRegions(f"{raw[rows[0]].where} (code {brief(code)}): {err}") from err
    return regions


def _composed(name: str | None) -> str | None:
    """A region name in Unicode's composed form (NFC); None stays None."""
    return None if name is None else unicodedata.normalize("NFC", name)


def _polygonal_collection(f: RawFeature) -> RawFeature:
    """``f`` with a GeometryCollection of (Multi)Polygons as the one (Multi)Polygon it covers.

    GIS tools write a region assembled from parts (``ST_Collect``, an overlay) so; its members
    are read as features sharing a code are: their union. A collection holding anything else
    (a line, a point) is left for :func:`to_regions` to refuse, naming what it holds.
    """
    geom = f.geometry
    if not isinstance(geom, sg.GeometryCollection):
        return f
    members = shapely.get_parts(geom)
    while any(isinstance(m, sg.GeometryCollection) for m in members):  # nested collections
        members = shapely.get_parts(members)
    if members.size == 0 or not all(isinstance(m, (sg.Polygon, sg.MultiPolygon)) for m in members):
        return f
    polygons = [p for p in shapely.get_parts(members) if not p.is_empty]
    if not polygons:
        return f
    merged: Any = sg.MultiPolygon(polygons)
    if not merged.is_valid and all(p.is_valid for p in polygons):  # members that overlap
        merged = shapely.union_all(polygons)
    return attrs.evolve(f, geometry=merged)


def _members(geom: Any) -> str:
    """`` of LineString, Polygon``: what a GeometryCollection holds, for an error message."""
    if not isinstance(geom, sg.GeometryCollection):
        return ""
    kinds = sorted({m.geom_type for m in shapely.get_parts(geom)})
    return f" of {', '.join(kinds)}; only polygons are read from one" if kinds else ""


def _without_empty_parts(geoms: Any) -> Any:
    """``geoms`` without empty polygons in a MultiPolygon and empty rings in a Polygon.

    GeoPandas writes ``MULTIPOLYGON (EMPTY, ...)`` (GeoJSON ``[[[]], ...]``) and WKB may hold a
    ring of no positions: valid to GEOS, and no territory, but every step that works on the
    flattened parts, rings and vertices (:func:`_followed`) must be able to rebuild each part
    from its rings and each ring from its vertices. Dropped here, once, for all of them.
    """
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    bad = np.union1d(part_of[shapely.is_empty(parts)], part_of[ring_of[shapely.is_empty(rings)]])
    if bad.size == 0:
        return geoms
    out = geoms.copy()
    for i in bad.tolist():
        polys = [
            sg.Polygon(p.exterior, [h for h in p.interiors if not h.is_empty])
            for p in shapely.get_parts(geoms[i])
            if not p.exterior.is_empty
        ]
        if isinstance(geoms[i], sg.Polygon) and len(polys) == 1:
            out[i] = polys[0]
        else:
            out[i] = sg.MultiPolygon(polys)
    return out


def _refuse_non_finite(raw: Sequence[RawFeature], geoms: Any) -> None:
    """Refuse NaN and infinite coordinates, naming the feature, ring and vertex.

    ``json.dumps`` writes a missing float as ``NaN``: such a vertex is corrupt data, which
    ``make_valid`` would repair by dropping its whole ring (a hole, an island) without a word.
    """
    xy, owner = shapely.get_coordinates(geoms, return_index=True)
    bad = ~np.isfinite(xy).all(axis=1)
    if not bad.any():
        return
    i = int(owner[np.flatnonzero(bad)[0]])
    parts = shapely.get_parts(geoms[i])
    for p, part in enumerate(parts):
        rings = [part.exterior, *part.interiors]
        for r, ring in enumerate(rings):
            ring_xy = shapely.get_coordinates(ring)
            hits = np.flatnonzero(~np.isfinite(ring_xy).all(axis=1))
            if hits.size:
                v = int(hits[0])
                x, y = (float(c) for c in ring_xy[v])
                raise _non_finite_problem(raw[i].where, raw[i].code, p, len(parts), r, v, x, y)
    raise AssertionError(
        "unreachable: a non-finite coordinate outside every ring"
    )  # pragma: no cover


def _finite(value: Any) -> bool:
    """Whether a GeoJSON number is finite as a double (an integer beyond a double's is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:  # json reads 1000...0 (400 digits) as an int no float holds
        return False


def _non_finite_position(geom: Any) -> tuple[int, int, int, int, Any, Any] | None:
    """Where a GeoJSON (Multi)Polygon's ``coordinates`` hold NaN or infinity, if they do.

    ``(polygon, polygons, ring, vertex, x, y)`` for :func:`_non_finite_problem`. For a geometry
    of the right structure (:func:`_structure_problem`) that shapely could not build: a ring
    whose first and last positions hold NaN never closes (NaN equals nothing), and GEOS's
    words for it would hide the NaN. An integer too large for a double (which shapely cannot
    convert) counts as infinite.
    """
    kind = geom.get("type") if isinstance(geom, Mapping) else None
    if not isinstance(kind, str) or kind.lower() not in ("polygon", "multipolygon"):
        return None
    coords = geom.get("coordinates")
    polygons = [coords] if kind.lower() == "polygon" else coords
    if not isinstance(polygons, list) or not _numeric(polygons, 4):
        return None
    for p, rings in enumerate(polygons):
        for r, ring in enumerate(rings):
            for v, position in enumerate(ring):
                if len(position) >= 2 and not all(map(_finite, position[:2])):
                    return p, len(polygons), r, v, position[0], position[1]
    return None


def _non_finite_problem(
    where: str, code: str, p: int, parts: int, r: int, v: int, x: Any, y: Any
) -> InvalidRegions:
    """The error for vertex ``v`` of ring ``r`` (0: the exterior) of polygon ``p``: not finite.

    ``x`` and ``y`` as read: floats, or an integer of hundreds of digits, shown by its size.
    """
    polygon = f"polygon {p}, " if parts > 1 else ""
    what = "exterior ring" if r == 0 else f"ring {r} (hole {r})"
    huge = not all(map(_finite, (x, y))) and not all(isinstance(c, float) for c in (x, y))
    beyond = " or an integer beyond a double's range (a damaged file)" if huge else ""
    return InvalidRegions(
        f"{where} (code {brief(code)}) {polygon}{what}, vertex {v}: coordinates must be finite "
        f"numbers (got x={brief(x)}, y={brief(y)}); NaN (how Python's json writes a missing "
        f"float) or infinity{beyond} is no position, and is not repaired"
    )


def _refuse_degrees(raw: Sequence[RawFeature], geoms: Any, source: str) -> None:
    """Refuse lon/lat degrees labelled with a projected CRS (a layer mislabelled 3006/3857).

    Read as metres, every coordinate within [-180, 180] x [-90, 90] puts the whole set in a
    box of 360 m by 180 m around the CRS's false origin: a speck, no region of any area of
    use. Real projected regions never all lie there.
    """
    crs = _crs(source)
    if not crs.is_projected:
        return
    bounds = shapely.bounds(geoms)
    degrees = (np.abs(bounds[:, [0, 2]]) <= 180.0).all(axis=1) & (
        np.abs(bounds[:, [1, 3]]) <= 90.0
    ).all(axis=1)
    unit = crs.axis_info[0].unit_name if crs.axis_info else "unit"
    area = crs.area_of_use
    where = f", area of use {area.name.rstrip('.')}" if area is not None else ""
    if not degrees.all():
        _refuse_some_degrees(raw, geoms, degrees, crs, source, unit)
        return
    x, y = shapely.get_coordinates(geoms[0])[0]
    raise InvalidRegions(
        f"{raw[0].where} (code {brief(raw[0].code)}) has coordinates such as x={x:g}, y={y:g}, and "
        "every coordinate lies within lon [-180, 180] and lat [-90, 90], but crs "
        f"{_crs_shown(source)} "
        f"is projected (in {unit}s{where}): read so, the regions would be a speck under 400 "
        f"{unit}s wide at its false origin; are the coordinates degrees? then leave crs out "
        "(or pass crs='EPSG:4326')"
    )


def _refuse_some_degrees(
    raw: Sequence[RawFeature],
    geoms: Any,
    degrees: Any,
    crs: pyproj.CRS,
    source: str,
    unit: str,
) -> None:
    """Refuse a feature in degrees among projected ones (a layer merged from two sources).

    Such a feature, read in the CRS's units, becomes a speck under 400 units wide at the
    false origin, and its region covers none of its territory. Refused when that speck lies
    outside the CRS's area of use (a real feature there would lie inside it).
    """
    area = crs.area_of_use
    if area is None or not degrees.any():
        return
    import pyproj

    transformer = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    for i in np.flatnonzero(degrees).tolist():
        x, y = (float(v) for v in shapely.get_coordinates(geoms[i])[0])
        lon, lat = transformer.transform(x, y)
        inside = area.west <= lon <= area.east and area.south <= lat <= area.north
        if area.west > area.east:  # an area of use across the antimeridian
            inside = (lon >= area.west or lon <= area.east) and area.south <= lat <= area.north
        if inside:
            continue
        raise InvalidRegions(
            f"{raw[i].where} (code {brief(raw[i].code)}) has coordinates such as x={x:g}, y={y:g}, "
            f"all within lon [-180, 180] and lat [-90, 90], unlike other features; read in "
            f"crs {_crs_shown(source)} ({unit}s) it is a speck under 400 {unit}s wide at lon "
            f"{lon:.5f}, lat {lat:.5f}, outside the CRS's area of use "
            f"({area.name.rstrip('.')}); are its coordinates degrees? then convert them to "
            "the CRS of the other features"
        )


#: Degrees by which a feature may lie beyond its CRS's area of use and still count as in it.
AREA_MARGIN_DEG = 1.0


def _refuse_swapped(raw: Sequence[RawFeature], geoms: Any, source: str) -> None:
    """Refuse coordinates in (north, east) order: outside the CRS's area of use, inside swapped.

    Coordinates are read east first (x, lon) whatever a CRS's axis order says. A file written in
    the axis order of ``urn:ogc:def:crs:EPSG::4258`` (ETRS89 lat, lon, as WFS servers do) or
    with a projected CRS's northing first reprojects without complaint, to a place far from
    the CRS's area of use (Sweden's ETRS89 regions to the Arabian Sea), and every region then
    covers none of its territory. Refused when no feature's first vertex lies within
    :data:`AREA_MARGIN_DEG` of the area of use and every one, swapped, does. (A CRS whose area
    of use is the world, such as EPSG:4326, cannot tell: both orders lie in it.)
    """
    import pyproj

    crs = _crs(source)
    area = crs.area_of_use
    if area is None or area.west > area.east:  # none, or across the antimeridian
        return
    first = np.array([shapely.get_coordinates(g)[0] for g in geoms], dtype=np.float64)
    try:
        transformer = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        with np.errstate(invalid="ignore"):
            lon, lat = (np.asarray(v) for v in transformer.transform(first[:, 0], first[:, 1]))
            slon, slat = (np.asarray(v) for v in transformer.transform(first[:, 1], first[:, 0]))
    except pyproj.exceptions.ProjError:  # _reproject names it
        return
    m = AREA_MARGIN_DEG

    def near(x: Any, y: Any) -> Any:
        return (
            (x >= area.west - m)
            & (x <= area.east + m)
            & (y >= area.south - m)
            & (y <= area.north + m)
        )

    if near(lon, lat).any() or not near(slon, slat).all():
        _refuse_elsewhere(raw, first, lon, lat, crs, source)
        return
    x, y = (float(v) for v in first[0])
    order = "(lat, lon)" if crs.is_geographic else "(northing, easting)"
    raise InvalidRegions(
        f"{raw[0].where} (code {brief(raw[0].code)}) has coordinates such as "
        f"x={x:.10g}, y={y:.10g}, which crs {_crs_shown(source)} puts at lon "
        f"{float(lon[0]):.5f}, lat {float(lat[0]):.5f}: "
        "no feature lies in or near the CRS's area of use "
        f"({cut_words(area.name.rstrip('.'), 80)}, lon "
        f"{area.west:g}..{area.east:g}, lat {area.south:g}..{area.north:g}), and every one "
        f"would with its two coordinates swapped; are they in {order} order? region "
        "coordinates are read east first (x is the longitude or easting), whatever the CRS's "
        "axis order: swap them"
    )


#: Degrees beyond its CRS's area of use by which most features must lie to be refused as
#: written in another CRS. National grids are used past the area of use EPSG gives them (RT90
#: 2.5 gon V and UTM 33N for all of Sweden put Haparanda and Pajala 6 degrees east of it).
OUTSIDE_AREA_DEG = 7.0
#: Kilometres east or west of a Transverse Mercator grid's central meridian beyond which most
#: features must lie to be refused as written in another CRS: no grid is used that far (its
#: scale is off by 0.5 %; Sweden in UTM 33N or 34N, Norway's Finnmark and west coast in UTM 33N,
#: Finland in TM35FIN lie within 620 km), where one Swedish grid read as another lands (RT90
#: read as SWEREF 99 TM 700 to 1,300 km east of 15°E, in the Baltic states and Russia;
#: SWEREF 99 TM read as RT90 as far west of it, in the North Sea). A grid's area of use says
#: less: EPSG gives UTM 33N 12°E to 18°E, and Norway maps all of itself, 4°E to 31°E, in it.
TM_OFFSET_KM = 650.0
#: The sphere's radius for the offsets, in km.
_EARTH_KM = 6371.0


def _central_meridian(crs: pyproj.CRS) -> float | None:
    """A Transverse Mercator CRS's central meridian in degrees; None for other projections."""
    op = crs.coordinate_operation
    if op is None or op.method_name != "Transverse Mercator":
        return None
    for param in op.params:
        if param.name == "Longitude of natural origin":
            return float(np.degrees(float(param.value) * param.unit_conversion_factor))
    return None  # pragma: no cover - EPSG's Transverse Mercator always names it


def _refuse_elsewhere(
    raw: Sequence[RawFeature], first: Any, lon: Any, lat: Any, crs: pyproj.CRS, source: str
) -> None:
    """Refuse a file whose features mostly lie far from where its CRS is used.

    ``first`` holds each feature's first vertex as written, ``lon`` and ``lat`` where ``source``
    puts it. Coordinates in another CRS than the one named (SWEREF 99 TM given as RT90, RT90
    as SWEREF 99 TM) reproject without complaint to a place far from where the named CRS is
    used, and every region then covers none of its territory. Refused when over half of the
    features lie, in a Transverse Mercator grid, more than :data:`TM_OFFSET_KM` east or west of
    its central meridian (on the sphere) or :data:`OUTSIDE_AREA_DEG` north or south of its
    area of use; in another CRS, more than :data:`OUTSIDE_AREA_DEG` beyond its area of use.
    """
    area = crs.area_of_use
    if area is None:  # pragma: no cover - _refuse_swapped calls it with an area
        return
    meridian = _central_meridian(crs)
    with np.errstate(invalid="ignore"):
        beyond_lat = np.maximum(0.0, np.maximum(area.south - lat, lat - area.north))
        if meridian is None:
            beyond_lon = np.maximum(0.0, np.maximum(area.west - lon, lon - area.east))
            beyond = np.hypot(beyond_lon, beyond_lat)
        else:
            beyond = beyond_lat
            sideways = np.cos(np.radians(lat)) * np.sin(np.radians(lon - meridian))
            offset = _EARTH_KM * np.arctanh(np.clip(np.abs(sideways), 0.0, 1.0 - 1e-15))
            beyond = np.where(offset > TM_OFFSET_KM, np.inf, beyond)
            beyond = np.where(np.isfinite(lon) & np.isfinite(lat), beyond, np.nan)
        far = ~np.isnan(beyond) & (beyond > OUTSIDE_AREA_DEG)  # NaN: named by _reproject
    if far.sum() * 2 <= far.size:
        return
    i = int(np.flatnonzero(far)[0])
    x, y = (float(v) for v in first[i])
    where = (
        f"{raw[i].where} (code {brief(raw[i].code)})"
        if far.all()
        else f"{int(far.sum()):,} of the {far.size:,} features, such as {raw[i].where} (code "
        f"{brief(raw[i].code)}),"
    )
    used = f"{cut_words(area.name.rstrip('.'), 80)}, lon {area.west:g}..{area.east:g}, lat "
    used += f"{area.south:g}..{area.north:g}"
    rule = (
        f"more than {OUTSIDE_AREA_DEG:g} degrees beyond its area of use ({used})"
        if meridian is None
        else f"more than {TM_OFFSET_KM:,.0f} km east or west of its central meridian "
        f"({meridian:.6g}°E), where no Transverse Mercator grid is used, or more than "
        f"{OUTSIDE_AREA_DEG:g} degrees north or south of its area of use ({used})"
    )
    raise InvalidRegions(
        f"{where} has coordinates such as x={x:.10g}, y={y:.10g}, which crs "
        f"{_crs_shown(source)} puts at lon {float(lon[i]):.5f}, lat {float(lat[i]):.5f}: "
        f"most features lie far from where the CRS is used ({rule}); are they written in "
        "another CRS (SWEREF 99 TM is EPSG:3006, RT90 2.5 gon V EPSG:3021, the local SWEREF "
        "99 zones EPSG:3007 to 3018)? name the CRS the file was written in"
    )


def _choose_crs(declared: str | None, given: str | None) -> str | None:
    if given is None or declared is None:
        return given if given is not None else declared
    # Coordinates are read east (x, lon) first whatever a CRS's axis order says (GeoJSON's
    # rule; reprojection is always_xy), so EPSG:4326 and OGC:CRS84 name the same thing here.
    if not _crs(given).equals(_crs(declared), ignore_axis_order=True):
        raise InvalidRegions(
            f"crs {_crs_shown(given)} disagrees with the CRS the data declares "
            f"({_crs_shown(declared, quoted=False)})"
        )
    return given


#: The srsName of GML 2 and WFS 1.0 (``http://www.opengis.net/gml/srs/epsg.xml#3006``), which
#: servers also put in GeoJSON; pyproj does not read it. Its EPSG code, east first as ever.
_GML_SRS = re.compile(r"\s*https?://www\.opengis\.net/gml/srs/epsg\.xml#(\d{1,6})\s*", re.ASCII)


def _crs(text: str) -> pyproj.CRS:
    import pyproj

    gml = _GML_SRS.fullmatch(text)
    try:
        return pyproj.CRS.from_user_input(f"EPSG:{gml.group(1)}" if gml else text)
    except pyproj.exceptions.CRSError as err:
        raise InvalidRegions(
            f"crs {brief(text, 80)} is not a CRS that pyproj knows: {cut_words(str(err))}"
        ) from err


def _crs_shown(text: str, *, quoted: bool = True) -> str:
    """A CRS for a message: as written when short, else its name and authority code.

    GeoParquet declares its CRS as PROJJSON, thousands of characters that name the CRS only
    deep inside: ``'RT90 2.5 gon V' (EPSG:3021)`` says which it is.
    """
    if len(text) <= 80:
        return brief(text) if quoted else text
    try:
        crs = _crs(text)
    except InvalidRegions:
        return brief(text, 80) if quoted else cut_words(text, 80)
    code = crs.to_authority(min_confidence=90)
    return f"{brief(crs.name, 80)}{f' ({code[0]}:{code[1]})' if code else ''}"


def _is_lonlat(text: str) -> bool:
    if text.strip().lower() in _LONLAT_NAMES:
        return True
    import pyproj

    crs = _crs(text)
    return bool(crs.equals(pyproj.CRS("OGC:CRS84"), ignore_axis_order=True))


def _refuse_not_horizontal(source: str) -> None:
    """Refuse a CRS that has no horizontal (east, north) position: geocentric, vertical, ...

    Reprojecting from one does not fail: pyproj reads a vertical CRS's (x, y) as (lat, lon),
    swapping the axes, and a geocentric one's as metres from the Earth's centre.
    """
    crs = _crs(source)
    if crs.is_projected or crs.is_geographic:  # (a compound CRS: its horizontal part)
        return
    raise InvalidRegions(
        f"crs {_crs_shown(source)} is {'an' if crs.type_name[:1] in 'AEIOU' else 'a'} "
        f"{crs.type_name}, not a geographic or projected CRS: region "
        "coordinates are horizontal positions (east, north), e.g. EPSG:4326 or EPSG:3006"
    )


#: A reprojected vertex must come back within this many metres (of the source CRS's units),
#: else it lies outside the CRS's domain (Web Mercator wraps an x beyond the antimeridian,
#: clamps a y beyond the pole; Transverse Mercator folds a far y back over the pole).
ROUND_TRIP_M = 1.0


def _reproject(raw: Sequence[RawFeature], geoms: Any, source: str) -> Any:
    import pyproj

    crs = _crs(source)
    try:
        transformer = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        back = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    except pyproj.exceptions.ProjError as err:  # e.g. a CRS of Mars: no way to the Earth's
        text = str(err).strip()
        reason = text.split("proj_create_operations:")[-1].strip() if text else "no operation"
        if "(Internal Proj Error:" in text and reason.endswith(")"):
            reason = reason[:-1]  # the wrapper's closing parenthesis
        raise InvalidRegions(
            f"crs {_crs_shown(source)} cannot be reprojected to WGS84 lon/lat: {cut_words(reason)}"
        ) from err

    def move(xy: Any) -> Any:
        lon, lat = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    moved = shapely.transform(geoms, move)
    xy, owner = shapely.get_coordinates(geoms, return_index=True)
    lonlat = shapely.get_coordinates(moved)
    finite = np.isfinite(lonlat).all(axis=1)
    if not finite.all():  # beyond the projection's domain: _check_lonlat names the bounds
        return moved
    with np.errstate(invalid="ignore"):
        bx, by = back.transform(lonlat[:, 0], lonlat[:, 1])
        error = np.hypot(np.asarray(bx) - xy[:, 0], np.asarray(by) - xy[:, 1])
    axis = crs.axis_info[0] if crs.axis_info else None
    # metres per unit of the source CRS (radians per unit for an angular one, then on Earth)
    factor = axis.unit_conversion_factor if axis is not None else 1.0
    if crs.is_geographic:
        factor *= 6_371_000.0
    # A finite vertex that does not come back lies beyond the domain too.
    off = np.flatnonzero(~(error * factor <= ROUND_TRIP_M))
    if off.size:
        k = int(off[0])
        i = int(owner[k])
        x, y = (float(v) for v in xy[k])
        lon, lat = (float(v) for v in lonlat[k])
        unit = axis.unit_name if axis is not None else "unit"
        raise InvalidRegions(
            f"{raw[i].where} (code {brief(raw[i].code)}) has a vertex x={x:.10g}, y={y:.10g} "
            f"outside the domain of crs {_crs_shown(source)} ({unit}s): it reprojects to lon "
            f"{lon:.7f}, lat {lat:.7f}, which maps back to x={float(bx[k]):.10g}, "
            f"y={float(by[k]):.10g}, more than {ROUND_TRIP_M:g} m away ({off.size} such "
            "vertices in all); is the declared CRS right?"
        )
    # Before edges are followed: one across the antimeridian strays by half the globe, in
    # every piece it is cut into, and would be cut until the vertex bound.
    _refuse_antimeridian(raw, moved, source)
    return _followed(raw, geoms, moved, transformer.transform, source, JUNCTION_M / factor)


#: How far, in metres, a reprojected region's edge may stray from the course it had in the
#: file's CRS: a straight edge there is a curve in lon/lat, which :func:`_followed` follows with
#: added vertices until every piece's middle lies this close to its straight lon/lat chord.
BOW_M = 0.1
#: Metres per degree, at least, along a parallel or a meridian: an upper bound for the metres a
#: lon/lat difference spans (a meridian degree is at most 111,694 m; a parallel's, 111,320 m at
#: the equator, less elsewhere).
_M_PER_DEG = 111_700.0
#: At most this many vertices per vertex of the file, and :data:`_MAX_EXTRA` more, are added:
#: beyond, the CRS bends the file's edges too much to follow in lon/lat, and the file is refused.
_MAX_GROWTH = 16
_MAX_EXTRA = 1_000_000
#: At most this many rounds of cutting: each halves every straying edge, so an edge that still
#: strays after them (one through a pole, whose pieces all stray alike) never will; without
#: the bound, one such edge cut once a round would take a million rounds to reach the others.
_MAX_ROUNDS = 64


#: A vertex of one ring this close (in metres) to an edge of another, or of its own, is added
#: to that edge before edges are followed (:func:`_with_junctions`).
JUNCTION_M = 0.001


def _followed(
    raw: Sequence[RawFeature],
    geoms: Any,
    moved: Any,
    transform: Any,
    source: str,
    junction: float = 0.0,
) -> Any:
    """``moved`` (``geoms`` reprojected vertex by vertex), with vertices added where needed.

    A straight edge in a projected CRS is not straight in lon/lat: moving its ends alone bows it
    by its sagitta, which grows with the square of its length (60 m at the middle of a 38 km
    edge of Lantmäteriet's SWEREF 99 TM municipalities). Every edge whose middle, reprojected,
    lies more than :data:`BOW_M` from the middle of its lon/lat chord (measured with
    :data:`_M_PER_DEG` metres per degree along both axes, an overestimate) is cut in two at its
    middle in the file's CRS, and the halves are checked in turn, until none strays. Two regions
    sharing an edge share its added vertices: both cut it at the same points (a midpoint and
    the test do not depend on the edge's direction) -- also where one has a vertex along the
    edge that the other lacks (a T-junction, or features drawn apart): every vertex within
    ``junction`` (in the CRS's units) of another edge is first added to it
    (:func:`_with_junctions`). Geometries are returned as they were moved when no edge strays.
    """
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    given = xy.shape[0]  # the file's vertices: none added means the moved geometries stand
    if junction > 0.0:
        xy, ring = _with_junctions(xy, ring, junction)
    lonlat = np.column_stack(transform(xy[:, 0], xy[:, 1]))  # as ``moved`` has them
    cap = _MAX_GROWTH * xy.shape[0] + _MAX_EXTRA
    todo = np.ones(xy.shape[0], dtype=np.bool_)  # edges (by first vertex) still to check
    todo[-1:] = False
    for rounds in itertools.count(1):
        edge = np.flatnonzero(todo[:-1] & (ring[:-1] == ring[1:]))
        mid = (xy[edge] + xy[edge + 1]) / 2.0
        mx, my = (np.asarray(v, dtype=np.float64) for v in transform(mid[:, 0], mid[:, 1]))
        chord = (lonlat[edge] + lonlat[edge + 1]) / 2.0
        with np.errstate(invalid="ignore"):
            bow = np.hypot(mx - chord[:, 0], my - chord[:, 1]) * _M_PER_DEG
        cut = np.flatnonzero(~(bow <= BOW_M))
        if cut.size == 0:
            break
        if xy.shape[0] + cut.size > cap or rounds > _MAX_ROUNDS or not np.isfinite(bow[cut]).all():
            worst = cut[np.argmax(np.nan_to_num(bow[cut], nan=np.inf))]
            f = raw[int(part_of[ring_of[ring[edge[worst]]]])]
            raise InvalidRegions(
                f"{f.where} (code {brief(f.code)}) has an edge that crs {_crs_shown(source)} bends "
                f"too much to follow in lon/lat: its middle strays {float(bow[worst]):.3g} m from "
                f"its course (at most {BOW_M:g} m) with {xy.shape[0]:,} vertices already, "
                f"after {rounds - 1} rounds of halving (the bounds: {_MAX_GROWTH} a vertex of "
                f"the file and {_MAX_EXTRA:,} more, {_MAX_ROUNDS} rounds; an edge through a "
                "pole strays however often it is halved); is the declared CRS right?"
            )
        at = edge[cut] + 1
        todo = np.zeros(xy.shape[0], dtype=np.bool_)
        todo[edge[cut]] = True  # the first half of each cut edge, and (inserted) the second
        todo = np.insert(todo, at, True)
        xy = np.insert(xy, at, mid[cut], axis=0)
        lonlat = np.insert(lonlat, at, np.column_stack([mx[cut], my[cut]]), axis=0)
        ring = np.insert(ring, at, ring[at - 1])
    if xy.shape[0] == given:
        return moved
    rings_ll: Any = shapely.linearrings(lonlat, indices=ring)
    polys: Any = shapely.polygons(rings_ll, indices=ring_of)
    first = np.searchsorted(part_of, np.arange(len(geoms) + 1))
    out = np.empty(len(geoms), dtype=object)
    for i, geom in enumerate(geoms):
        mine = polys[first[i] : first[i + 1]]
        out[i] = mine[0] if isinstance(geom, sg.Polygon) else sg.MultiPolygon(list(mine))
    return out


def _with_junctions(xy: Any, ring: Any, tolerance: float) -> tuple[Any, Any]:
    """``xy`` (vertices, ``ring`` their ring) with every vertex added to the edges it lies on.

    Two regions whose shared border has vertices on one side that the other lacks (a third
    region's corner, or features digitised apart) would have that border cut at different
    points by :func:`_followed`, and the two lon/lat courses would part by up to :data:`BOW_M`:
    a sliver in no region between neighbours, a hole inside a region merged from features.
    With every vertex within ``tolerance`` of an edge of another ring (not one of its ends)
    inserted there, in order along the edge, both sides of a border hold the same vertices and
    are cut alike.
    """
    edge = np.flatnonzero(ring[:-1] == ring[1:])
    if edge.size == 0:
        return xy, ring
    start, end = xy[edge], xy[edge + 1]
    lines: Any = shapely.linestrings(np.stack([start, end], axis=1))
    tree = shapely.STRtree(lines)
    vertex, hit = tree.query(shapely.points(xy), predicate="dwithin", distance=tolerance)
    if vertex.size == 0:
        return xy, ring
    e = edge[hit]
    p, a, b = xy[vertex], xy[e], xy[e + 1]
    d = b - a
    with np.errstate(invalid="ignore", divide="ignore"):
        t = ((p - a) * d).sum(axis=1) / (d * d).sum(axis=1)
    # Not a vertex of the edge's own ring: one within the tolerance of its own ring's edge is
    # a narrow neck, which the insertion would close (an invalid ring).
    inner = (t > 0.0) & (t < 1.0) & ~(p == a).all(axis=1) & ~(p == b).all(axis=1)
    inner &= ring[vertex] != ring[e]
    if not inner.any():
        return xy, ring
    e, t, p = e[inner], t[inner], p[inner]
    order = np.lexsort((p[:, 1], p[:, 0], t, e))
    e, t, p = e[order], t[order], p[order]
    fresh = np.ones(e.size, dtype=np.bool_)  # one vertex seen in several rings: added once
    fresh[1:] = (e[1:] != e[:-1]) | (p[1:] != p[:-1]).any(axis=1)
    e, p = e[fresh], p[fresh]
    return np.insert(xy, e + 1, p, axis=0), np.insert(ring, e + 1, ring[e])


def _refuse_projected(raw: Sequence[RawFeature], geoms: Any, lonlat: str | None) -> None:
    """Refuse coordinates beyond lon/lat range when no CRS, or a lon/lat one, is named."""
    bounds = shapely.bounds(geoms)
    far = (np.abs(bounds[:, [0, 2]]) > 180.0).any(axis=1) | (np.abs(bounds[:, [1, 3]]) > 90.0).any(
        axis=1
    )
    if far.any():
        i = int(np.flatnonzero(far)[0])
        xy = shapely.get_coordinates(geoms[i])
        out = (np.abs(xy[:, 0]) > 180.0) | (np.abs(xy[:, 1]) > 90.0)
        x, y = xy[int(np.flatnonzero(out)[0])]  # a coordinate that is out of range, not the first
        declared = (
            "declares no CRS; pass crs=... naming it"
            if lonlat is None
            else f"is labelled lon/lat (crs {_crs_shown(lonlat)}); is that CRS right? name the "
            "real one"
        )
        if (
            (xy[:, 0] >= 0.0).all()
            and (xy[:, 0] <= 360.0).all()
            and (np.abs(xy[:, 1]) <= 90.0).all()
        ):
            # Degrees east from 0 to 360, as Pacific data is often written: no projection.
            raise InvalidRegions(
                f"{raw[i].where} (code {brief(raw[i].code)}) has coordinates such as x={x:g}, "
                f"y={y:g}, outside the lon/lat range, but all of them lie within lon 0..360 and "
                "lat -90..90: are they degrees east from 0 to 360? region longitudes run from "
                "-180 to 180: subtract 360 from those beyond 180, and split a region that "
                "crosses the antimeridian there into parts east and west of it (RFC 7946, "
                "3.1.9; e.g. ogr2ogr -wrapdateline); if the data is projected instead, name "
                "its CRS (crs=...)"
            )
        raise InvalidRegions(
            f"{raw[i].where} (code {brief(raw[i].code)}) has coordinates such as x={x:g}, y={y:g}, "
            f"outside the lon/lat range: the data looks projected but {declared} "
            "(for example EPSG:3006 for SWEREF 99 TM)"
        )


def antimeridian_edge(geoms: Any) -> tuple[int, tuple[float, float, float, float]] | None:
    """The first edge spanning more than 180 degrees of longitude, and its geometry's index.

    Edges are straight in lon/lat, so such an edge runs the long way round: a ring crossing
    the antimeridian that was not split there (RFC 7946, 3.1.9) encloses the rest of the
    globe instead of its region. An edge whose two ends lie on the antimeridian (lon -180 and
    180: the side of a polar cap, such as ``box(-180, 80, 180, 90)``) is no crossing.
    Returns ``(i, (lon_a, lat_a, lon_b, lat_b))`` or None; vectorized over all vertices.
    """
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, vertex_of = shapely.get_coordinates(rings, return_index=True)
    if xy.shape[0] < 2:
        return None
    same = vertex_of[:-1] == vertex_of[1:]
    a, b = xy[:-1], xy[1:]
    with np.errstate(invalid="ignore"):
        long_way = same & (np.abs(b[:, 0] - a[:, 0]) > 180.0)
        long_way &= ~((np.abs(a[:, 0]) == 180.0) & (np.abs(b[:, 0]) == 180.0))
    if not long_way.any():
        return None
    k = int(np.flatnonzero(long_way)[0])
    i = int(part_of[ring_of[vertex_of[k]]])
    return i, (float(a[k, 0]), float(a[k, 1]), float(b[k, 0]), float(b[k, 1]))


#: What to do about a region across the antimeridian, for error messages.
ANTIMERIDIAN_RULE = (
    "edges are straight in lon/lat, so it runs the long way round the globe and the region "
    "would cover the other side of the Earth instead of its own; a region crossing the "
    "antimeridian must be split there into parts east and west of it (RFC 7946, 3.1.9; e.g. "
    "ogr2ogr -wrapdateline, or the antimeridian package)"
)


def _refuse_antimeridian(raw: Sequence[RawFeature], geoms: Any, source: str | None) -> None:
    """Refuse a feature with an edge the long way round (see :func:`antimeridian_edge`).

    ``source`` is the CRS the feature was reprojected from (None: read as lon/lat).
    """
    found = antimeridian_edge(geoms)
    if found is None:
        return
    i, (lon_a, lat_a, lon_b, lat_b) = found
    moved = "" if source is None else f" (reprojected from crs {_crs_shown(source)})"
    raise InvalidRegions(
        f"{raw[i].where} (code {brief(raw[i].code)}) has an edge from lon {lon_a:.7g}, lat "
        f"{lat_a:.7g} to lon {lon_b:.7g}, lat {lat_b:.7g}{moved}, spanning more than 180 "
        f"degrees of longitude: it crosses the antimeridian (or circles a pole); "
        f"{ANTIMERIDIAN_RULE}"
    )


def _check_lonlat(raw: Sequence[RawFeature], geoms: Any) -> None:
    bounds = shapely.bounds(geoms)
    bad = ~(
        (bounds[:, 0] >= -180.0)
        & (bounds[:, 2] <= 180.0)
        & (bounds[:, 1] >= -90.0)
        & (bounds[:, 3] <= 90.0)
    )
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        shown = tuple(round(float(b), 6) for b in bounds[i])  # not np.float64(...) reprs
        raise InvalidRegions(
            f"{raw[i].where} (code {brief(raw[i].code)}) reaches outside lon [-180, 180] and "
            f"lat [-90, 90] after reprojection (bounds {shown}); "
            "is the declared CRS right?"
        )


def _check_valid(raw: Sequence[RawFeature], geoms: Any, repair: bool) -> Any:
    valid = shapely.is_valid(geoms)
    if valid.all():
        return geoms
    bad = np.flatnonzero(~valid)
    if not repair:
        i = int(bad[0])
        reason = _where(shapely.is_valid_reason(geoms[i]))
        others = f" (and {bad.size - 1} more)" if bad.size > 1 else ""
        raise InvalidRegions(
            f"{raw[i].where} (code {brief(raw[i].code)}) has an invalid geometry: "
            f"{reason}{others}; pass repair=True to repair it with GEOS make_valid"
        )
    fixed = geoms.copy()
    for i in bad.tolist():
        if _geos.crossings(geoms[i]) > _geos.MAX_CROSSINGS:
            raise InvalidRegions(
                f"{raw[i].where} (code {brief(raw[i].code)}) cannot be repaired: its rings must "
                f"{_geos.REPAIRABLE}"
            )
        polys = [
            p
            for p in shapely.get_parts(shapely.make_valid(geoms[i], method="structure"))
            if isinstance(p, sg.Polygon) and p.area > 0
        ]
        if not polys:
            raise InvalidRegions(
                f"{raw[i].where} (code {brief(raw[i].code)}) encloses no area after repair"
            )
        fixed[i] = polys[0] if len(polys) == 1 else sg.MultiPolygon(polys)
    return fixed


def codes_of(values: Iterable[object], what: str) -> list[str]:
    """Validate an iterable of region codes (a lone string counts as one code)."""
    if isinstance(values, str):
        return [values]
    if isinstance(values, bytes) or not iterable(values):
        raise InvalidType(
            f"{what} must be region codes (got {type(values).__name__} {brief(values, 40)})"
        )
    out: list[str] = []
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise InvalidType(f"{what}[{i}] must be a region code string (got {shown(v)})")
        out.append(v)
    return out


# ---------------------------------------------------------------------------------------------
# Packed coverages: the compact form of the built-in boundaries
# ---------------------------------------------------------------------------------------------

#: Packed coordinates are integers in units of this many degrees (0.11 m of latitude or less).
PACK_UNIT_DEG = 1e-6
PACK_VERSION = 1


def pack_polygons(codes: Sequence[str], geoms: Sequence[Any]) -> dict[str, Any]:
    """Encode lon/lat (multi)polygons as a few integer arrays (``numpy.savez_compressed``-ready).

    Coordinates are rounded to :data:`PACK_UNIT_DEG`, the closing vertex of each ring is
    dropped, and the vertices of all rings, in order, become one stream of zigzag-encoded
    deltas stored as four byte planes per axis (the high planes are almost all zero, so they
    compress to nearly nothing). Identical input coordinates round to identical integers, so
    regions that shared an edge still share it exactly. Offsets say which vertices form a ring,
    which rings a part (shell first) and which parts a region.
    """
    parts, part_of = shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, vertex_of = shapely.get_coordinates(rings, return_index=True)
    closing = np.append(vertex_of[1:] != vertex_of[:-1], True)
    q = np.round(coords[~closing] / PACK_UNIT_DEG).astype(np.int64)
    delta = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    zigzag = ((delta << 1) ^ (delta >> 63)).astype("<u4")
    planes = np.ascontiguousarray(zigzag.T).view(np.uint8).reshape(2, -1, 4).transpose(0, 2, 1)
    return {
        "version": np.array([PACK_VERSION], dtype=np.int32),
        "code": np.array(list(codes), dtype=str),
        "part_start": _offsets(part_of, len(codes)),
        "ring_start": _offsets(ring_of, parts.size),
        "vertex_start": _offsets(vertex_of[~closing], rings.size),
        "planes": np.ascontiguousarray(planes),
    }


def unpack_polygons(arrays: Mapping[str, Any], where: str) -> tuple[list[str], Any]:
    """Decode :func:`pack_polygons` output: the codes and an object array of lon/lat geometries.

    Single-part regions come back as Polygons, the others as MultiPolygons; vertex order is
    kept, so every ring is exactly as packed (closed again).
    """
    try:
        version = int(arrays["version"][0])
        codes = [str(c) for c in arrays["code"]]
        part_start = np.asarray(arrays["part_start"], dtype=np.int64)
        ring_start = np.asarray(arrays["ring_start"], dtype=np.int64)
        vertex_start = np.asarray(arrays["vertex_start"], dtype=np.int64)
        planes = np.asarray(arrays["planes"], dtype=np.uint8)
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise InvalidRegions(f"packed regions {where} are malformed: {err!r}") from err
    if version != PACK_VERSION or planes.ndim != 3 or planes.shape[:2] != (2, 4):
        raise InvalidRegions(
            f"packed regions {where} have version {version} and planes {planes.shape}; "
            f"expected version {PACK_VERSION} and planes (2, 4, n)"
        )
    n = planes.shape[2]
    if not (
        part_start.size == len(codes) + 1
        and part_start[-1] + 1 == ring_start.size
        and ring_start[-1] + 1 == vertex_start.size
        and vertex_start[-1] == n
    ):
        raise InvalidRegions(f"packed regions {where} have inconsistent offsets")
    zigzag = np.ascontiguousarray(planes.transpose(0, 2, 1)).view("<u4").reshape(2, n)
    zigzag = zigzag.astype(np.int64)
    q = np.cumsum((zigzag >> 1) ^ -(zigzag & 1), axis=1)
    coords = q.T * PACK_UNIT_DEG
    rings = shapely.linearrings(
        coords, indices=np.repeat(np.arange(vertex_start.size - 1), np.diff(vertex_start))
    )
    polys = shapely.polygons(
        rings, indices=np.repeat(np.arange(ring_start.size - 1), np.diff(ring_start))
    )
    counts = np.diff(part_start)
    geoms = np.empty(len(codes), dtype=object)
    single = counts == 1
    geoms[single] = polys[part_start[:-1][single]]
    multi = np.flatnonzero(~single)
    if multi.size:
        rows = np.repeat(np.arange(multi.size), counts[multi])
        picks = _ranges(part_start[:-1][multi], counts[multi])
        geoms[multi] = shapely.multipolygons(polys[picks], indices=rows)
    return codes, geoms


def _offsets(owner: Any, n: int) -> Any:
    """CSR offsets: ``out[i]:out[i+1]`` are the items whose (sorted) owner is ``i``."""
    return np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=n))]).astype(np.int32)


def _ranges(starts: Any, counts: Any) -> Any:
    """Concatenated ``arange(s, s + c)`` for each start and count."""
    return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
