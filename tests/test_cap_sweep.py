"""Findings of a sweep of real CAP documents the project had not seen, as minimal documents.

Each test reproduces one class of problem found by reading documents from national feeds and
other CAP projects through ``cap.loads``, ``cap.loads_lenient`` and ``Targeter.receive``: what
must be read is read with the right values, and what is refused is refused with its path and
rule.
"""

from __future__ import annotations

import codecs
import math

import numpy as np
import pytest
import shapely
from cap_helpers import BASE, problems
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from geotarget import cap
from geotarget._geos import MAX_CROSSINGS, crossings
from geotarget.errors import InvalidCAP

#: BASE with an area name outside ASCII, Latin-1 and the Nordic code pages.
NAMED = BASE.replace("<areaDesc>Sergels torg<", "<areaDesc>Sergels torg – 東京駅 Åre<")


def named(name: str) -> str:
    """BASE with the area called ``name``."""
    return BASE.replace("<areaDesc>Sergels torg<", f"<areaDesc>{name}<")


# --- declared encodings expat cannot decode by itself -----------------------------------------


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf8", "Åre – 東京駅"), ("UTF8", "Åre – 東京駅"), ("Shift_JIS", "東京駅"),
     ("EUC-JP", "東京駅"), ("ISO-2022-JP", "東京駅"), ("Big5", "臺北市"), ("GB18030", "北京市"),
     ("EUC-KR", "서울특별시"), ("windows-1251", "Мурманск")],
)  # fmt: skip
def test_documents_in_any_character_encoding_are_read(encoding: str, name: str) -> None:
    """An alias of UTF-8 or a multi-byte encoding (as JMA, NCDR, KMA may send) reads as its text."""
    text = named(name)
    data = text.replace('encoding="UTF-8"', f'encoding="{encoding}"').encode(encoding)
    assert cap.loads(data) == cap.loads(text)
    assert cap.loads(data).infos[0].areas[0].description == name
    assert cap.loads_lenient(data).alert == cap.loads(text)


def test_utf32_with_a_byte_order_mark_is_read() -> None:
    """UTF-32 announced by its byte order mark is read (XML 1.0 Appendix F)."""
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be")):
        data = bom + NAMED.replace('encoding="UTF-8"', 'encoding="UTF-32"').encode(codec)
        assert cap.loads(data) == cap.loads(NAMED)


def test_bytes_that_are_not_the_declared_encoding_are_refused_with_the_offset() -> None:
    """Bytes the declared codec cannot decode: one problem naming the encoding and the byte."""
    data = NAMED.replace('encoding="UTF-8"', 'encoding="Shift_JIS"').encode("utf-8")
    [(path, message)] = problems(data).items()
    assert path == ""
    assert message.startswith(
        "the document is not valid shift_jis, the encoding it declares: byte "
    )
    line = NAMED[: NAMED.index("Sergels torg –")].count("\n") + 1
    assert f" at line {line}, column " in message and " of the document, in b'" in message
    assert "save it in shift_jis, or declare the encoding it is written in" in message


# --- polygons across the 180° meridian ---------------------------------------------------------

#: A 1° by 2° box across the 180° meridian (Chukotka, Fiji, the Aleutians), written as CAP does.
ACROSS = "60.0,179.5 60.0,-179.5 62.0,-179.5 62.0,179.5 60.0,179.5"


def test_a_polygon_across_the_180th_meridian_is_refused_not_read_the_long_way() -> None:
    """Read in plain lon/lat it would be a band round the Earth (over Sweden): a problem."""
    doc = BASE.replace("59.33,18.06 59.33,18.07 59.335,18.07 59.335,18.06 59.33,18.06", ACROSS)
    found = problems(doc)
    message = found["info[0]/area[0]/polygon[0]"]
    assert "180° meridian" in message and "point 0 (60.0,179.5)" in message
    assert "359° of longitude" in message and "2 such edges" in message
    with pytest.raises(InvalidCAP):
        cap.loads_lenient(doc)


#: The same kind of box written with corners ON the meridian, at lon 180 on one side and -180
#: on the other: plain lon/lat would read it as the whole 65-70°N band except the box.
ON_THE_MERIDIAN = "65,170 65,180 65,-180 65,-170 70,-170 70,-180 70,180 70,170 65,170"


def test_a_box_with_corners_at_180_and_minus_180_is_refused_not_inverted() -> None:
    """Edges from lon 180 to lon -180 (one meridian) are the long way round too: refused."""
    doc = BASE.replace(
        "59.33,18.06 59.33,18.07 59.335,18.07 59.335,18.06 59.33,18.06", ON_THE_MERIDIAN
    )
    for read in (cap.loads, cap.loads_lenient):
        with pytest.raises(InvalidCAP) as err:
            read(doc)
        found = {p.path: p.message for p in err.value.problems}
        message = found["info[0]/area[0]/polygon[0]"]
        assert "180° meridian" in message and "point 1 (65.0,180.0)" in message
        assert "360° of longitude" in message and "the same meridian" in message


def test_polygons_that_touch_the_180th_meridian_from_one_side_are_read() -> None:
    """An edge along lon 180 or -180, on one side, is an ordinary polygon."""
    for ring in ("60,170 60,180 62,180 62,170 60,170", "60,-170 60,-180 62,-180 62,-170 60,-170"):
        doc = BASE.replace("59.33,18.06 59.33,18.07 59.335,18.07 59.335,18.06 59.33,18.06", ring)
        area = cap.loads(doc).infos[0].areas[0]
        assert {lon for lon, _ in area.polygons[0]} == {170.0, 180.0} or {
            lon for lon, _ in area.polygons[0]
        } == {-170.0, -180.0}


def test_the_whole_world_rectangle_is_still_read() -> None:
    """Edges from -180 to 180 at a pole join one meridian to itself: read as written."""
    world = "-90,-180 -90,180 90,180 90,-180 -90,-180"
    doc = BASE.replace("59.33,18.06 59.33,18.07 59.335,18.07 59.335,18.06 59.33,18.06", world)
    ring = cap.loads(doc).infos[0].areas[0].polygons[0]
    assert ring == ((-180.0, -90.0), (180.0, -90.0), (180.0, 90.0), (-180.0, 90.0), (-180.0, -90.0))


# --- areas that add nothing to the area targeted -------------------------------------------------

#: BASE's area, and a second area beside it that names places by geocode only (as DWD, MoWaS,
#: Environment Canada and MeteoAlarm send them).
GEOCODED = BASE.replace(
    "    </area>\n",
    "    </area>\n    <area><areaDesc>Stockholms län</areaDesc>"
    "<geocode><valueName>LAN</valueName><value>01</value></geocode></area>\n",
)


def test_an_area_without_geometry_is_read_with_a_warning_not_silently_left_out() -> None:
    """A geocode-only area is read, and a warning at its path says it reaches nobody."""
    parsed = cap.read(GEOCODED)
    area = parsed.alert.infos[0].areas[1]
    assert (area.description, area.polygons, area.circles) == ("Stockholms län", (), ())
    assert [(g.value_name, g.value) for g in area.geocodes] == [("LAN", "01")]
    warned = {w.path: w.message for w in parsed.warnings}
    assert set(warned) == {"info[0]/area[1]"}
    assert "reaches nobody" in warned["info[0]/area[1]"]
    assert "geocodes are not resolved" in warned["info[0]/area[1]"]
    assert cap.loads(GEOCODED) == parsed.alert  # a warning, never a refusal


def test_a_circle_of_radius_zero_is_read_with_a_warning() -> None:
    """``lat,lon 0`` is a valid CAP point: read as radius 0, with warnings for it and its area."""
    doc = BASE.replace(
        "<polygon>59.33,18.06 59.33,18.07 59.335,18.07 59.335,18.06 59.33,18.06</polygon>", ""
    ).replace("59.3325,18.06528 0.5", "59.3325,18.06528 0")
    parsed = cap.read(doc)
    assert parsed.alert.infos[0].areas[0].circles == ((18.06528, 59.3325, 0.0),)
    warned = {w.path: w.message for w in parsed.warnings}
    assert set(warned) == {"info[0]/area[0]/circle[0]", "info[0]/area[0]"}
    assert "radius 0 km" in warned["info[0]/area[0]/circle[0]"]
    assert "areaDesc is not resolved" in warned["info[0]/area[0]"]


def test_an_area_with_geometry_has_no_such_warning() -> None:
    """BASE's polygon-and-circle area warns of nothing."""
    assert cap.read(BASE).warnings == ()


# --- polygons that cross themselves very often --------------------------------------------------


def star(n: int, k: int, east: float = 0.0) -> str:
    """The star polygon {n/k} round Stockholm, ``east`` degrees east, as CAP text.

    Its edges meet n*(k-1) times.
    """
    pts = [
        (59.33 + 0.01 * math.sin(2 * math.pi * i * k / n),
         18.06 + east + 0.02 * math.cos(2 * math.pi * i * k / n))
        for i in range(n)
    ]  # fmt: skip
    return " ".join(f"{lat!r},{lon!r}" for lat, lon in [*pts, pts[0]])


def with_polygon(ring: str) -> str:
    """BASE with its polygon replaced by ``ring``."""
    return BASE.replace("59.33,18.06 59.33,18.07 59.335,18.07 59.335,18.06 59.33,18.06", ring)


def test_a_polygon_crossing_itself_beyond_the_limit_is_refused_before_repair() -> None:
    """Repair cost grows with crossings (n²/4 for n points): past the limit it is a problem."""
    doc = with_polygon(star(401, 200))  # 401 * 199 = 79,799 crossings
    message = problems(doc)["info[0]/area[0]/polygon[0]"]
    assert f"more than {MAX_CROSSINGS:,} points" in message
    assert "(402 points in all)" in message and "CAP allows" in message


def test_a_polygon_crossing_itself_within_the_limit_is_repaired_with_a_warning() -> None:
    """A pentagram (5 crossings) is read, repaired, and warned about, as before."""
    parsed = cap.read(with_polygon(star(5, 2)))
    assert [w.path for w in parsed.warnings] == ["info[0]/area[0]/polygon[0]"]
    assert len(parsed.alert.infos[0].areas[0].polygons[0]) == 6


def test_the_crossings_of_all_a_documents_polygons_share_one_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twenty distinct stars just under the limit each: refused at the second, the rest uncounted.

    Each polygon had the whole limit to itself, so a 90 KB document of twenty stars of 9,849
    crossings took 4 s to read (twenty repairs) against 0.2 s for one. The document's polygons
    now share one limit; the polygon that reaches it is named, with the count before it, and
    the later ones are refused without counting or repairing anything.
    """
    from geotarget import _geos

    calls: list[int] = []
    count_crossings = _geos.count_crossings

    def counted(ring: object, limit: int, spare: int) -> tuple[int, int]:
        calls.append(limit)
        return count_crossings(ring, limit, spare)

    def no_repair(*args: object, **kw: object) -> object:
        raise AssertionError("make_valid called")

    monkeypatch.setattr(_geos, "count_crossings", counted)
    monkeypatch.setattr(shapely, "make_valid", no_repair)
    stars = [star(201, 50, east=k * 1e-3) for k in range(20)]  # 201 * 49 = 9,849 each
    doc = with_polygon("</polygon><polygon>".join(stars))
    found = problems(doc)
    assert calls == [MAX_CROSSINGS, MAX_CROSSINGS - 9_849]
    assert found.keys() == {f"info[0]/area[0]/polygon[{k}]" for k in range(1, 20)}
    reached = found["info[0]/area[0]/polygon[1]"]
    assert f"more than {MAX_CROSSINGS:,} points" in reached
    assert "(9,849 in those before it, from info[0]/area[0]/polygon[0])" in reached
    assert "in one document" in reached and "(a limit of geotarget: CAP sets none)" in reached
    later = found["info[0]/area[0]/polygon[19]"]
    assert "already meet themselves" in later and "(reached at info[0]/area[0]/polygon[1])" in later
    assert "(a limit of geotarget: CAP sets none)" in later


def test_polygons_crossing_themselves_within_the_documents_limit_are_all_repaired() -> None:
    """Two stars of 4,949 crossings each (9,898 in all): both read, repaired and warned about."""
    doc = with_polygon(f"{star(101, 50)}</polygon><polygon>{star(101, 50)}")
    parsed = cap.read(doc)
    assert [w.path for w in parsed.warnings] == [
        "info[0]/area[0]/polygon[0]",
        "info[0]/area[0]/polygon[1]",
    ]


def sawtooth(teeth: int, at: float) -> str:
    """A ring of long thin teeth with its base drawn crossed, as CAP text, ``at`` degrees east.

    One crossing, but a quadratic number of edge pairs whose boxes overlap: each tooth's box
    meets every other's.
    """
    top = [(18.0 + at + k * 1e-5 + (0.005 if k % 2 else 0.0), 59.3 + (0.01 if k % 2 else 0.0))
           for k in range(teeth)]  # fmt: skip
    ring = [*top, (top[-1][0], 59.29), (18.0 + at, 59.29)]
    ring[-2], ring[-1] = ring[-1], ring[-2]  # the base drawn crossed: one crossing
    return " ".join(f"{lat!r},{lon!r}" for lon, lat in [*ring, ring[0]])


def test_the_edge_pairs_counted_for_a_documents_polygons_share_one_budget() -> None:
    """Sawtooth rings, each within one polygon's budget of edge pairs, not all of them.

    Counting crossings examines the edge pairs whose boxes overlap up to a budget per edge
    plus one per crossing allowed; the document's polygons now share the latter too, so such
    rings cannot make reading a document cost a full budget each.
    """
    ring = shapely.Polygon([(float(b), float(a)) for a, b in
                            (p.split(",") for p in sawtooth(601, 0.0).split())])  # fmt: skip
    assert not shapely.is_valid(ring) and crossings(ring) <= MAX_CROSSINGS
    doc = with_polygon("</polygon><polygon>".join(sawtooth(601, 0.02 * k) for k in range(8)))
    found = problems(doc)
    assert found.keys() == {f"info[0]/area[0]/polygon[{k}]" for k in range(1, 8)}
    reached = found["info[0]/area[0]/polygon[1]"]
    assert "counted among a bounded number of edge pairs" in reached
    assert "(1 in those before it, from info[0]/area[0]/polygon[0])" in reached
    assert "in one document" in reached


def _orientation(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> int:
    v = (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    return (v > 0) - (v < 0)


def _on(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> bool:
    """Whether r lies in the bounding box of p and q (used when the three are collinear)."""
    return min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(p[1], q[1])


def _meet(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float],
          d: tuple[float, float]) -> bool:  # fmt: skip
    """Segments ab and cd share a point (the textbook orientation test)."""
    o1, o2, o3, o4 = (
        _orientation(a, b, c),
        _orientation(a, b, d),
        _orientation(c, d, a),
        (_orientation(c, d, b)),
    )
    if o1 != o2 and o3 != o4:
        return True
    return (
        (o1 == 0 and _on(a, b, c)) or (o2 == 0 and _on(a, b, d))
        or (o3 == 0 and _on(c, d, a)) or (o4 == 0 and _on(c, d, b))
    )  # fmt: skip


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=3, max_size=14))
@settings(max_examples=200, deadline=None)
def test_crossing_count_agrees_with_brute_force(points: list[tuple[int, int]]) -> None:
    """The batched STRtree count equals the pairwise orientation test over non-adjacent edges."""
    ring = [(float(x), float(y)) for x, y in points]
    # a repeated point is no edge: the oracle walks the ring without repeats
    ring = [p for k, p in enumerate(ring) if p != ring[k - 1]] or ring[:1]
    ring.append(ring[0])
    m = len(ring) - 1
    expected = sum(
        _meet(ring[i], ring[i + 1], ring[j], ring[j + 1])
        for i in range(m)
        for j in range(i + 2, m)
        if not (i == 0 and j == m - 1)
    )
    assume(m >= 3)
    polygon = shapely.Polygon(ring)
    got = crossings(polygon, limit=10**9)
    assert got == expected
    capped = crossings(polygon, limit=2)  # stops early, but never says "within"
    assert capped <= got and (capped > 2) == (got > 2)


def teeth(n: int) -> list[tuple[float, float]]:
    """A simple ring of ``n`` long leaning teeth round Stockholm (lon, lat), closed below.

    Tooth ``k`` rises from ``(k d, 0)`` to ``(k d + L, h)`` and falls to ``((k + 1) d, 0)``:
    its edges never cross (the rising ones are parallel, the falling ones too, and a rising
    and a falling one meet only at a shared vertex), but with ``L = n d`` every tooth's box
    overlaps nearly every other's, about ``n`` pairs a edge, so GEOS's validity check tests a
    quadratic number of edge pairs.
    """
    d, lean, h = 1e-5, 1e-5 * n, 0.05
    pts: list[tuple[float, float]] = []
    for k in range(n):
        pts += [(18.0 + k * d, 59.3), (18.0 + k * d + lean, 59.3 + h)]
    last = pts[-1][0]
    return [*pts, (last, 59.29), (18.0, 59.29), pts[0]]


def test_a_polygon_too_costly_to_check_is_refused_before_geos_checks_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Long overlapping teeth: refused by the box-pair budget, GEOS's validity never asked.

    An 8,000-tooth ring (one 160 kB document) took 1.75 s to read, three GEOS validity checks
    of half a second each, and the cost grows with the square of the teeth (a minute at
    100,000, within the document size limit). Refused as CAP text and as a Polygon alike.
    """
    from geotarget import Polygon, _geos
    from geotarget.errors import InvalidArea

    def no_check(*args: object, **kw: object) -> object:
        raise AssertionError("GEOS validity asked")

    ring = teeth(8_000)
    monkeypatch.setattr(shapely, "is_valid", no_check)
    monkeypatch.setattr(shapely, "is_valid_reason", no_check)
    doc = with_polygon(" ".join(f"{lat!r},{lon!r}" for lon, lat in ring))
    message = problems(doc)["info[0]/area[0]/polygon[0]"]
    assert f"at most {_geos.VALIDITY_PAIRS_PER_EDGE} pairs of edges whose boxes overlap" in message
    assert "a limit of geotarget" in message
    with pytest.raises(InvalidArea, match="pairs of edges whose boxes overlap"):
        Polygon(ring)


def test_the_validity_budget_is_shared_by_a_documents_polygons() -> None:
    """Each ring of 1,200 teeth is within the budget alone, not ten distinct ones together.

    (A ring repeated is checked, and counted, once.)
    """
    rings = [" ".join(f"{lat!r},{lon + k / 8}" for lon, lat in teeth(1_200)) for k in range(10)]
    assert shapely.is_valid(shapely.Polygon(teeth(1_200)))
    assert len(cap.read(with_polygon(rings[0])).alert.infos[0].areas[0].polygons) == 1
    found = problems(with_polygon("</polygon><polygon>".join(rings)))
    budget = [k for k in found if "pairs of edges whose boxes overlap" in found[k]]
    assert budget and "info[0]/area[0]/polygon[0]" not in budget


@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=70, max_size=120),
    st.integers(0, 3000),
)
@settings(max_examples=100, deadline=None)
def test_validity_pairs_agree_with_brute_force(points: list[tuple[int, int]], budget: int) -> None:
    """The box pairs counted (interval bound, then the R-tree) against every pair's boxes."""
    from geotarget._geos import validity_pairs

    ring = np.array([*points, points[0]], dtype=np.float64)
    a, b = ring[:-1], ring[1:]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    meet = (lo[:, None, 0] <= hi[None, :, 0]) & (lo[None, :, 0] <= hi[:, None, 0])
    meet &= (lo[:, None, 1] <= hi[None, :, 1]) & (lo[None, :, 1] <= hi[:, None, 1])
    expected = (int(meet.sum()) - len(points)) // 2
    got = validity_pairs([ring], budget)
    if expected > budget:
        assert got is None
    else:  # exact, or the interval bound when that is within the budget
        assert got is not None and expected <= got <= budget


# --- whitespace before the XML declaration ------------------------------------------------------


@pytest.mark.parametrize("lead", ["\n", "\r\n  \t", "\ufeff\n\n"])
def test_whitespace_before_the_declaration_is_refused_strictly_and_repaired_leniently(
    lead: str,
) -> None:
    """XML 1.0 §2.8 wants the declaration first: strict says where, lenient removes the space."""
    for data in (lead + BASE, (lead + BASE).encode("utf-8")):
        [(path, message)] = problems(data).items()
        assert path == "" and "declaration not at start" in message
        parsed = cap.loads_lenient(data)
        assert parsed.alert == cap.loads(BASE)
        assert [r.path for r in parsed.repairs] == [""]
        removed = len(lead.lstrip("\ufeff"))
        assert f"{removed} whitespace character(s)" in parsed.repairs[0].message


@pytest.mark.parametrize("lead", ["\n", "\r\n  \t", "\ufeff\n\n"])
def test_the_strict_refusal_of_whitespace_before_the_declaration_says_lenient_repairs_it(
    lead: str,
) -> None:
    """Like every problem a lenient reading repairs, it says so: the CLI points to the repair.

    Feeds served by PHP and the like often start with a newline before ``<?xml``; expat's
    "declaration not at start of entity" alone did not say how many characters, nor that
    ``loads_lenient`` (``geotarget preview --lenient``) removes them.
    """
    removed = len(lead.lstrip("\ufeff"))
    for data in (lead + BASE, (lead + BASE).encode("utf-8")):
        [message] = problems(data).values()
        assert f"{removed} whitespace character(s) come before the XML declaration" in message
        assert "XML 1.0 §2.8" in message and message.endswith("(loads_lenient repairs this)")
    stray = problems("\n<!-- x -->\n" + BASE)[""]  # not whitespace alone: no repair to offer
    assert "declaration not at start" in stray and "loads_lenient" not in stray


def test_a_document_without_leading_whitespace_has_no_such_repair() -> None:
    """Nothing to remove, nothing reported; whitespace inside the document is not touched."""
    assert cap.loads_lenient(BASE).repairs == ()
    assert (
        cap.loads_lenient(
            ("\n" + BASE).replace('<?xml version="1.0" encoding="UTF-8"?>', "")
        ).repairs
        == ()
    )


def test_repeated_points_are_not_crossings() -> None:
    """One point written 300 times encloses no area (a warning), and does not cross itself."""
    parsed = cap.read(with_polygon(" ".join(["59.3,18.0"] * 300)))
    assert [w.path for w in parsed.warnings] == ["info[0]/area[0]/polygon[0]"]
    assert "encloses no area" in parsed.warnings[0].message
    doubled = " ".join(p for p in star(5, 2).split() for _ in range(400))  # each point 400 times
    assert [w.path for w in cap.read(with_polygon(doubled)).warnings] == [
        "info[0]/area[0]/polygon[0]"
    ]


# --- geotarget's own event code and parameters -------------------------------------------------


def _code(name: str, value: str) -> str:
    return f"<eventCode><valueName>{name}</valueName><value>{value}</value></eventCode>"


def with_codes(*codes: str, en: tuple[str, ...] = ()) -> str:
    """BASE with event codes in its info block, and a second (English) block with ``en``."""
    doc = BASE.replace(
        "<certainty>Likely</certainty>", "<certainty>Likely</certainty>" + "".join(codes)
    )
    if en:
        start, end = doc.index("  <info>"), doc.index("</info>") + len("</info>\n")
        second = doc[start:end].replace("sv-SE", "en-US")
        for code in codes:
            second = second.replace(code, "")
        second = second.replace(
            "<certainty>Likely</certainty>", "<certainty>Likely</certainty>" + "".join(en)
        )
        doc = doc[:end] + second + doc[end:]
    return doc


def test_geotarget_conventions_are_refused_at_the_element_naming_them_as_geotargets() -> None:
    """A bad ``geotarget:kind`` or tip parameter: the path of the element, and not a CAP rule."""
    kind = "geotarget:kind"
    found = problems(with_codes(_code("SAME", "CEM"), _code(kind, "Explosion")))
    assert set(found) == {"info[0]/eventCode[1]"}
    assert "(got 'Explosion')" in found["info[0]/eventCode[1]"]
    assert "geotarget's own event code, not of CAP" in found["info[0]/eventCode[1]"]
    found = problems(with_codes(_code(kind, "explosion"), _code(kind, "flood")))
    assert list(found) == ["info[0]/eventCode[1]"]
    assert "'flood', but info[0]/eventCode[0] names 'explosion'" in found["info[0]/eventCode[1]"]
    found = problems(with_codes(_code(kind, "explosion"), en=(_code(kind, "tip_request"),)))
    assert list(found) == ["info[1]/eventCode[0]"]
    tip = BASE.replace(
        "<area>",
        "<parameter><valueName>geotarget:tip-fax</valueName><value>114 14</value></parameter><area>",
    )
    found = problems(tip)
    assert list(found) == ["info[0]/parameter[0]"]
    assert "kind must be one of phone, web" in found["info[0]/parameter[0]"]
    assert "not of CAP" in found["info[0]/parameter[0]"]
    # One kind in both languages, and other issuers' codes, are read as before.
    same = cap.loads(with_codes(_code(kind, "explosion"), en=(_code(kind, "explosion"),)))
    assert same.kind == "explosion"
    assert cap.loads(with_codes(_code("SAME", "CEM"), _code("geotarget:other", "X"))).kind is None


# --- altitude and ceiling ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vertical", "warned"),
    [("<altitude>0.0</altitude><ceiling>9842.5197</ceiling>", None),  # DWD: ground to 3,000 m
     ("<altitude>0</altitude>", None), ("<altitude>-100</altitude>", None),
     ("<altitude>5000</altitude>", "at altitude 5000 ft above"),
     ("<altitude>1000</altitude><ceiling>3000</ceiling>", "at altitude 1000 ft to 3000 ft"),
     ("<altitude>100</altitude><ceiling>50</ceiling>", "ceiling 50 ft is below altitude 100 ft")],
)  # fmt: skip
def test_an_altitude_range_above_the_ground_is_read_with_a_warning(
    vertical: str, warned: str | None
) -> None:
    """CAP's altitude is feet above sea level; geotarget is 2-D, so an airspace-like range warns."""
    parsed = cap.read(BASE.replace("</area>", vertical + "</area>"))
    assert parsed.alert == cap.loads(BASE.replace("</area>", vertical + "</area>"))
    found = {w.path: w.message for w in parsed.warnings}
    if warned is None:
        assert found == {}
    else:
        assert list(found) == ["info[0]/area[0]/altitude"]
        message = found["info[0]/area[0]/altitude"]
        assert warned in message and "horizontal position only" in message


# --- polygons that enclose no area ---------------------------------------------------------------


@pytest.mark.parametrize(
    "ring",
    ["59.3,18.0 59.3,18.0 59.3,18.0 59.3,18.0", "0,0 0,0 0,0 0,0",
     "59.3,18.0 59.4,18.0 59.5,18.0 59.3,18.0", "59.3,18.0 59.4,18.1 59.3,18.0 59.4,18.1 59.3,18.0"],
)  # fmt: skip
def test_a_polygon_enclosing_no_area_is_valid_cap_read_with_a_warning(ring: str) -> None:
    """Collinear or repeated points (a placeholder polygon): CAP-valid, so read, as radius 0 is.

    The rest of the area is still targeted; alone, the area has no geometry and says so.
    """
    parsed = cap.read(with_polygon(ring))
    assert parsed.alert.infos[0].areas[0].empty_polygons == (0,)
    assert parsed.alert.area == cap.loads(BASE.replace(
        "<polygon>59.33,18.06 59.33,18.07 59.335,18.07 59.335,18.06 59.33,18.06</polygon>", ""
    )).area  # fmt: skip
    assert [w.path for w in parsed.warnings] == ["info[0]/area[0]/polygon[0]"]
    assert "encloses no area" in parsed.warnings[0].message
    assert cap.loads(cap.dumps(parsed.alert)) == parsed.alert
    alone = cap.read(with_polygon(ring).replace("<circle>59.3325,18.06528 0.5</circle>", ""))
    assert alone.alert.area is None
    assert [w.path for w in alone.warnings] == ["info[0]/area[0]/polygon[0]", "info[0]/area[0]"]
    assert "reaches nobody" in alone.warnings[1].message
