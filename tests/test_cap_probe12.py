"""CAP 1.2 alerts of many blocks and many readers: the work stays linear in what is given.

A document of thousands of ``<info>`` blocks (one per district, as a national feed sends them)
and a service whose devices report a hundred distinct language tags are real inputs of
:meth:`Alert.info_for` and :meth:`Alert.info_indices`. The oracle of the choice is the
documented rule applied device by device in plain Python; the work is counted (comparisons of
areas, of tags, elements handed to ``argmin``), never timed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import attrs
import numpy as np
import pytest
import shapely

from geotarget import Area, cap
from geotarget.alerts import Alert, AlertArea, Info
from geotarget.errors import InvalidAlert, InvalidCAP

SENT = datetime(2026, 12, 7, 7, 30, tzinfo=timezone.utc)


def _block(language: str, lon: float, lat: float, radius_m: float = 1000.0) -> Info:
    return Info(
        language=language,
        categories=["Met"],
        event="Storm",
        urgency="Expected",
        severity="Severe",
        certainty="Likely",
        areas=[AlertArea(description=f"{lon},{lat}", circles=[(lon, lat, radius_m)])],
    )


def _alert(infos: list[Info]) -> Alert:
    return Alert(
        identifier="SE-SMHI-1",
        sender="smhi@smhi.se",
        sent=SENT,
        status="Actual",
        msg_type="Alert",
        scope="Public",
        infos=infos,
    )


# --- thousands of blocks, each for its own district ---------------------------------------------


def test_the_areas_of_many_blocks_are_not_each_compared_with_every_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One block per district: choosing a block compares areas a linear number of times.

    Each distinct area is located once; finding which distinct area a block has compared it
    with every earlier one (``list.index``), n**2 / 2 comparisons: 4,000 blocks took seconds
    per call.
    """
    n = 400
    alert = _alert(
        [_block("sv-SE", 11.0 + (k % 20) * 0.5, 56.0 + (k // 20) * 0.5) for k in range(n)]
    )
    calls = 0
    original = Area.__eq__

    def counting(self: Area, other: object) -> Any:
        nonlocal calls
        calls += 1
        return original(self, other)

    monkeypatch.setattr(Area, "__eq__", counting)
    chosen = alert.info_for("sv-SE", lon=11.5, lat=56.5)  # the block of district 21
    indices = alert.info_indices("sv-SE", [11.0, 20.5], [56.0, 65.5])
    assert calls <= 2 * n, f"{calls:,} comparisons of areas for {n} blocks"
    # The oracle: the block whose circle holds the point (the districts lie 0.5° apart).
    assert chosen is alert.infos[21]
    assert indices.tolist() == [0, n - 1]


# --- a hundred language tags among the devices --------------------------------------------------


def _expected(languages: list[str], wanted: str) -> int:
    """The documented language rule, in plain Python: exact, primary, English, first."""
    want = wanted.strip().replace("_", "-").lower()
    tags = [t.lower() for t in languages]
    head = want.split("-")[0]
    for k, t in enumerate(tags):
        if t == want:
            return k
    for k, t in enumerate(tags):
        if t.split("-")[0] == head:
            return k
    for k, t in enumerate(tags):
        if t.split("-")[0] == "en":
            return k
    return 0


class _Tag(str):
    """A language tag that counts the ordering comparisons made of it."""

    compared = 0

    def __lt__(self, other: object) -> bool:
        _Tag.compared += 1
        return str.__lt__(self, other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        _Tag.compared += 1
        return str.__gt__(self, other)  # type: ignore[operator]


BLOCK_LANGUAGES = ["sv-SE", "en-GB", "fi-FI", "ar", "fa-IR", "so", "pl-PL", "de-DE"]
#: Tags phones report: the blocks' own, their regional variants, and languages of no block.
DEVICE_TAGS = [
    "sv-SE", "sv-FI", "sv", "en-US", "en-SE", "en-GB", "fi-FI", "fi", "ar-SE", "ar-IQ", "ar",
    "fa-IR", "fa", "so-SO", "so", "pl-PL", "pl", "de-DE", "de-AT", "de-CH", "ti-ER", "es-ES",
    "es-MX", "fr-FR", "ru-RU", "uk-UA", "tr-TR", "ku", "bs-BA", "sr-RS", "hr-HR", "th-TH",
    "zh-CN", "zh-TW", "ja-JP", "ko-KR", "vi-VN", "pt-BR", "it-IT", "nl-NL", "da-DK", "nb-NO",
    "nn-NO", "is-IS", "et-EE", "lv-LV", "lt-LT", "hu-HU", "ro-RO", "el-GR", "he-IL", "hi-IN",
    "ur-PK", "bn-BD", "am-ET", "sw-KE", "en", "EN-au", "sv_SE", "de_DE",
]  # fmt: skip


def test_many_language_tags_choose_as_the_rule_says_in_one_pass_over_the_devices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hundred distinct tags: each device gets its block, the devices passed over once.

    The tiers were computed over every device once per distinct tag (a hundred tags among
    1.2 million devices: ten seconds instead of a half), and the tags were sorted as Python
    objects (``np.unique``: n log n string comparisons) to find the distinct ones.
    """
    alert = _alert([_block(lang, 18.0, 59.3, 50_000.0) for lang in BLOCK_LANGUAGES])
    n = 3_000
    rng = np.random.default_rng(12)
    pool = [_Tag(t) for t in DEVICE_TAGS]
    tags = [pool[k] for k in rng.integers(0, len(pool), n)]
    lon, lat = rng.uniform(17.9, 18.1, n), rng.uniform(59.25, 59.35, n)

    handled = 0
    original = np.argmin

    def counting(a: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal handled
        handled += np.size(a)
        return original(a, *args, **kwargs)

    monkeypatch.setattr(np, "argmin", counting)
    _Tag.compared = 0
    got = alert.info_indices(tags, lon, lat)
    monkeypatch.undo()

    assert _Tag.compared < n, f"{_Tag.compared:,} comparisons of tags for {n:,} devices"
    assert handled <= len(BLOCK_LANGUAGES) * n, f"{handled:,} elements for {n:,} devices"
    expected = {t: _expected(BLOCK_LANGUAGES, t) for t in DEVICE_TAGS}
    assert got.tolist() == [expected[str(t)] for t in tags]
    # The single-tag form agrees with the per-device form.
    for tag in ("nn-NO", "sv_FI", "ti-ER"):
        assert (
            alert.info_for(tag) is alert.infos[expected.get(tag, _expected(BLOCK_LANGUAGES, tag))]
        )


# --- what dumps writes, loads reads back: the document's polygons together ----------------------


def _scribble(teeth: int) -> list[tuple[float, float]]:
    """A closed ring whose edges cross about ``teeth`` times: two sawteeth in opposite phase.

    Out along one sawtooth and back along the other, each tooth of one crossing a tooth of
    the other (as a hand-drawn zigzag traced back over itself does).
    """
    out = [(18.0 + 0.5 * i / teeth, 59.30 + 0.01 * (i % 2)) for i in range(teeth + 1)]
    back = [(18.0 + 0.5 * i / teeth, 59.30 + 0.01 * (1 - i % 2)) for i in range(teeth, -1, -1)]
    ring = out + back
    return [*ring, ring[0]]


def test_dumps_refuses_polygons_the_reader_refuses_together_and_writes_the_rest() -> None:
    """One document's distinct self-crossing polygons share a budget; a repeated ring counts once.

    The model bounds each polygon alone, so two areas whose rings cross themselves 6,000
    times each (CAP allows it), 12,000 crossings in one document, were written by dumps and
    refused by loads (a delivery store keeping such an alert then reported its own document
    as corrupt). dumps then refused it, but also refused the same area in two languages
    (probe 20: the reader checks and repairs a repeated ring once, so it costs once). Now the
    alert itself refuses two distinct rings, naming the polygon; one ring in two languages is
    written and reads back equal.
    """
    area = AlertArea(description="Zigzag", polygons=[_scribble(6_000)])
    assert area.repaired_polygons == (0,)  # it crosses itself (the model repairs it)
    one = _alert([attrs.evolve(_block("sv-SE", 18.0, 59.3), areas=[area])])
    assert cap.loads(cap.dumps(one)) == one
    two = attrs.evolve(one, infos=[one.infos[0], attrs.evolve(one.infos[0], language="en-GB")])
    assert cap.loads(cap.dumps(two)) == two
    moved = AlertArea(
        description="Zigzag", polygons=[[(lon, lat + 0.05) for lon, lat in _scribble(6_000)]]
    )
    en = attrs.evolve(one.infos[0], language="en-GB", areas=[moved])
    with pytest.raises(InvalidAlert) as err:
        attrs.evolve(one, infos=[one.infos[0], en])
    assert "info[1]/area[0]/polygon[0]" in str(err.value)
    assert "10,000" in str(err.value)


# --- decimal commas: an unclosed ring that closes only when read in another locale -------------

#: A CAP document as a writer formatting in a decimal-comma locale (sv-SE, de-DE...) sends it.
LOCALE_DOC = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>SE-POL-2026-0412</identifier>
  <sender>polisen@polisen.se</sender>
  <sent>2026-12-07T08:30:00+01:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>sv-SE</language>
    <category>Safety</category>
    <event>Explosion</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <area>
      <areaDesc>Sergels torg</areaDesc>
      <polygon>RING</polygon>
    </area>
  </info>
</alert>
"""
#: Two squares at Sergels torg: read in CAP pairs, the first names places in range (59°N 33°E,
#: 18°N 6°E...), the second a longitude of 335°.
RINGS = [
    [(59.33, 18.06), (59.33, 18.07), (59.34, 18.07), (59.34, 18.06), (59.33, 18.06)],
    [(59.33, 18.06), (59.33, 18.07), (59.335, 18.07), (59.335, 18.06), (59.33, 18.06)],
]


@pytest.mark.parametrize("lenient", [False, True])
@pytest.mark.parametrize("ring", RINGS)
def test_a_ring_in_decimal_commas_is_refused_saying_so_never_closed_elsewhere(
    lenient: bool, ring: list[tuple[float, float]]
) -> None:
    """``59,33 18,06 ...``: CAP pairs of other places, unclosed; leniency must not close them.

    Read as CAP's ``lat,lon`` pairs, the tokens are points at 59°N 33°E, 18°N 6°E... whose
    ring is not closed: lenient reading closed it and targeted a band from Niger to Russia,
    and strict reading said lenient reading repairs it; with a longitude out of range, the
    refusal did not say why.
    """
    text = " ".join(
        f"{str(lat).replace('.', ',')} {str(lon).replace('.', ',')}" for lat, lon in ring
    )
    doc = LOCALE_DOC.replace("RING", text)
    with pytest.raises(InvalidCAP) as err:
        cap.read(doc, lenient=lenient)
    (problem,) = err.value.problems
    assert problem.path == "info[0]/area[0]/polygon[0]"
    assert "decimal numbers written with commas" in problem.message
    assert "59.33,18.06" in problem.message
    assert "repairs" not in problem.message
    # Written with decimal points, the ring is the square at Sergels torg (shapely's oracle).
    good = LOCALE_DOC.replace("RING", " ".join(f"{lat},{lon}" for lat, lon in ring))
    area = cap.loads(good).area
    assert area is not None
    square = shapely.Polygon([(lon, lat) for lat, lon in ring])
    assert area.contains([18.065], [59.3325]).tolist() == [
        bool(square.covers(shapely.Point(18.065, 59.3325)))
    ]


def test_a_ring_of_whole_degrees_left_open_is_still_closed_leniently() -> None:
    """Whole degrees (``59,18``) are no decimal commas: an open ring is closed as before."""
    doc = LOCALE_DOC.replace("RING", "59,18 60,18 60,19 59,19")
    parsed = cap.loads_lenient(doc)
    assert [r.path for r in parsed.repairs] == ["info[0]/area[0]/polygon[0]"]
    assert parsed.alert.infos[0].areas[0].polygons[0][-1] == (18.0, 59.0)


def test_a_circle_in_decimal_commas_says_so() -> None:
    """``59,3325 18,06528 0,5``: refused, and the refusal names the decimal commas."""
    doc = LOCALE_DOC.replace("<polygon>RING</polygon>", "<circle>59,3325 18,06528 0,5</circle>")
    with pytest.raises(InvalidCAP) as err:
        cap.loads_lenient(doc)
    (problem,) = err.value.problems
    assert problem.path == "info[0]/area[0]/circle[0]"
    assert "decimal numbers written with commas" in problem.message
    assert "59.3325,18.06528" in problem.message
