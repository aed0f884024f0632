"""Probe 7: an enclave across a county border under the phased rollout, and values in messages.

* Tranemo (1452, Västra Götalands län) has a hole in Lantmäteriet's polygons: an exclave of
  Jönköping municipality (0680, Jönköpings län). In the pilot's phase 2 (01 + 12 + 14) a tip
  request over it must tell Tranemo around the hole and nobody inside it; the oracle is plain
  shapely on the reference polygons (``../shared/data/sweden``), not geotarget's data.
* A text given where a sequence or a CRS belongs is quoted in the error up to a whole word, then
  ``...`` and its length: never cut silently in the middle of a word or inside its quotes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg

from geotarget import Circle, PositionIndex, Positions, pilot, sweden
from geotarget.alerts import Alert, Info, NamedValue, TipChannel, TipChannelKind
from geotarget.errors import InvalidAlert, InvalidPolicy, InvalidRegions, InvalidType
from geotarget.kinds import Recognizer
from geotarget.regions import RegionHierarchy, RegionSet
from geotarget.rollout import Phase, RolloutPolicy
from geotarget.targeting import Targeter, Verdict

GEOD = pyproj.Geod(ellps="WGS84")
TO_TM = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)
#: Phase 2 of the pilot's tip requests (01, 12, 14; from 2024-09-02, illustrative).
PHASE_2 = dt.datetime(2024, 10, 1, 10, 0, tzinfo=dt.timezone.utc)
MSG = pilot.Message(headline="Tips", description="Tips.", area_description="Tranemo")
#: geotarget's stated boundary tolerance (60 m) plus a metre.
UNSURE_M = 61.0

#: A quoted text cut visibly: the quoted head, then ``...`` and the length.
CUT = re.compile(r"'([^']*)'\.\.\. \(([\d,]+) characters\)")


def _tm(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_TM.transform(xy[:, 0], xy[:, 1])))


def test_a_tip_request_over_an_exclave_of_another_county_skips_only_the_exclave(
    shared_data: Path,
) -> None:
    """Devices in Jönköping's exclave inside Tranemo are not told in phase 2; Tranemo's are."""
    doc = json.loads((shared_data / "sweden" / "kommuner_lantmateriet_wgs84.geojson").read_text())
    geoms = {f["properties"]["kommun_kod"]: sg.shape(f["geometry"]) for f in doc["features"]}
    holes = [
        sg.Polygon(r) for p in getattr(geoms["1452"], "geoms", [geoms["1452"]]) for r in p.interiors
    ]
    assert holes, "Tranemo's polygon has a hole in the reference data"
    hole = holes[0]
    centre = hole.representative_point()
    assert geoms["0680"].covers(centre)  # the exclave is Jönköping's (county 06)
    rng = np.random.default_rng(7)
    n = 300
    lon, lat, _ = GEOD.fwd(
        np.full(n, centre.x), np.full(n, centre.y), rng.uniform(0, 360, n), rng.uniform(0, 2_500, n)
    )
    ids = [f"d{i}" for i in range(n)]
    targeter = Targeter(sweden.hierarchy(), pilot.pilot_policy(), recognition=pilot.RECOGNITION)
    alert = pilot.tip_request(
        identifier="probe7-tranemo", sender="polisen@polisen.se", sent=PHASE_2,
        area=Circle(centre.x, centre.y, 3_000.0), sv=MSG, en=MSG, onset=PHASE_2,
        expires=PHASE_2 + dt.timedelta(hours=2),
    )  # fmt: skip
    positions = Positions(ids, lon, lat, accuracy_m=np.full(n, 3.0), observed_at=PHASE_2)
    result = targeter.target(alert, PositionIndex(positions), PHASE_2)
    assert result.verdict is Verdict.DELIVER, result.reason
    told = set(result.recipients.tolist())
    points = shapely.points(lon, lat)
    tm_points = _tm(points)
    checked = {"in the exclave": 0, "told": 0}
    for code, geom in geoms.items():
        inside = geom.covers(points)
        if not inside.any():
            continue
        far = shapely.distance(_tm(geom.boundary), tm_points) > UNSURE_M
        for i in np.flatnonzero(inside & far):
            expected = code[:2] in ("01", "12", "14")
            assert (ids[i] in told) is expected, (ids[i], code)
            checked["told" if expected else "in the exclave"] += code == "0680" or expected
    assert checked["in the exclave"] > 10 and checked["told"] > 100, checked
    assert set(result.per_county) == {"14"}


def _quoted_head(message: str, value: str) -> str:
    match = CUT.search(message)
    assert match is not None, message
    head, size = match.group(1), int(match.group(2).replace(",", ""))
    assert size == len(value), message
    assert value.startswith(head), message
    assert value[len(head)] == " ", f"cut inside a word: {message}"
    return head


def test_a_text_where_tip_channels_belong_is_quoted_up_to_a_whole_word() -> None:
    """tip_channels given as one text: the error shows its words, cut visibly, not mid-word."""
    text = "Ring 114 14 eller lämna tipset på polisens webbplats, lagg-fram-tips, senast i kväll"
    with pytest.raises(InvalidType, match="tip_channels must be a sequence") as err:
        pilot.tip_request(
            identifier="probe7-tips", sender="polisen@polisen.se", sent=PHASE_2,
            area=Circle(14.0, 57.6, 1_000.0), sv=MSG, en=MSG, onset=PHASE_2,
            expires=PHASE_2 + dt.timedelta(hours=1), tip_channels=text,  # type: ignore[arg-type]
        )  # fmt: skip
    head = _quoted_head(str(err.value), text)
    assert len(head) <= 60


def test_a_long_crs_text_is_quoted_up_to_a_whole_word_and_closed() -> None:
    """A CRS text pyproj does not know: quoted whole-word head, closed quote, its length."""
    text = (
        "SWEREF 99 TM som Lantmäteriet använder för hela Sverige, med mittmeridianen femton grader"
    )
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"kod": "0180"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[18.0, 59.0], [18.1, 59.0], [18.1, 59.1], [18.0, 59.0]]],
                },
            }
        ],
    }
    with pytest.raises(InvalidRegions, match="is not a CRS that pyproj knows") as err:
        RegionSet.from_geojson(collection, code_property="kod", level="municipality", crs=text)
    head = _quoted_head(str(err.value), text)
    assert len(head) <= 80


def test_a_policy_quotes_a_long_region_text_and_key_up_to_a_whole_word() -> None:
    """A phase's region written as prose, and a note written as a key: whole words, closed quotes."""
    region = "Stockholms län, Uppsala län och Södermanlands län enligt beslut från polisen"
    note = "Anteckning om Stockholms län och om hur piloten ska utvidgas under hösten"
    doc = (
        'format_version = 1\ntimezone = "Europe/Stockholm"\n[kinds.tip_request]\n'
        "[[kinds.tip_request.phases]]\nstarts_at = 2024-04-15T00:00:00\n"
        f'regions = ["{region}"]\n"{note}" = 1\n'
    )
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(doc)
    by_path = {p.path: str(p) for p in err.value.problems}
    region_problem = by_path["kinds.tip_request.phases[0].regions"]
    assert len(_quoted_head(region_problem, region)) <= 60
    (key_path,) = (p for p in by_path if p.startswith('kinds.tip_request.phases[0]."'))
    match = re.fullmatch(r'kinds\.tip_request\.phases\[0\]\."([^"]*)"\.\.\.', key_path)
    assert match is not None, key_path  # the quotes close on what is shown; "..." outside
    assert note.startswith(match.group(1)) and note[len(match.group(1))] == " ", key_path


def test_what_recognition_looked_at_cuts_a_long_event_and_code_at_whole_words() -> None:
    """An unrecognised police alert's reason shows its event and eventCode by whole words."""
    event = "Polisen efterfrågar tips om en vit skåpbil som setts vid Sergels torg i natt"
    code = NamedValue("profile:se-polisen:ärendetyp", "efterlysning av vittnen vid Sergels torg")
    info = Info(
        categories=["Security"], event=event, urgency="Expected", severity="Moderate",
        certainty="Likely", event_codes=[code],
    )  # fmt: skip
    alert = Alert(
        identifier="probe7-looked-at", sender="polisen@polisen.se", status="Actual",
        msg_type="Alert", scope="Public", infos=[info], sent=PHASE_2,
    )  # fmt: skip
    text = Recognizer().looked_at(alert)
    assert len(_quoted_head(text, event)) <= 60
    written = f"{code.value_name}={code.value}"
    match = re.search(r"eventCodes (.*?)\.\.\. \(([\d,]+) characters\)", text)
    assert match is not None, text
    assert int(match.group(2).replace(",", "")) == len(written), text
    assert written.startswith(match.group(1)) and written[len(match.group(1))] == " ", text


def _feature(code: str, name: str | None = None, geometry: object = "square") -> dict[str, object]:
    square = {
        "type": "Polygon",
        "coordinates": [[[18.0, 59.0], [18.1, 59.0], [18.1, 59.1], [18.0, 59.0]]],
    }
    props = {"kod": code} if name is None else {"kod": code, "namn": name}
    return {
        "type": "Feature",
        "properties": props,
        "geometry": square if geometry == "square" else geometry,
    }


def test_a_region_files_long_code_or_name_is_quoted_briefly() -> None:
    """A code or name column holding a whole text: its first words and length are quoted.

    A wrong column or a join gone wrong put 180,000 characters into one message.
    """
    prose = "Kommunen Stockholm enligt Lantmäteriets gränser " * 4_000
    for features, name_property in (
        ([_feature(prose.strip(), geometry=None)], None),
        ([_feature("0180", prose), _feature("0180", "Stockholm")], "namn"),
    ):
        collection = {"type": "FeatureCollection", "features": features}
        with pytest.raises(InvalidRegions) as err:
            RegionSet.from_geojson(
                collection, code_property="kod", name_property=name_property, level="municipality"
            )
        text = str(err.value)
        assert len(text) < 400, text[:400]
        _quoted_head(text, prose.strip() if name_property is None else prose)


def test_a_later_phase_keyed_by_a_description_is_named_briefly() -> None:
    """``announced_policy(later_phases={<a description>: ...})``: path and value quoted briefly."""
    description = "Information om pågående brottsmodus i Stockholms län och på Gotland " * 30
    autumn = dt.datetime(2024, 9, 2, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    phase = Phase(starts_at=autumn, regions={"01", "09"})
    with pytest.raises(InvalidPolicy) as err:
        pilot.announced_policy(later_phases={description: [phase]})
    (problem,) = err.value.problems
    assert len(str(problem)) < 400, str(problem)[:400]
    assert len(_quoted_head(problem.path, description)) <= 60
    assert len(_quoted_head(str(problem).removeprefix(problem.path), description)) <= 80


def test_a_long_tip_channel_listed_twice_is_named_briefly() -> None:
    """A campaign URL with tracking parameters, listed twice: its start and length are shown.

    The refusal quoted all of its 1,703 characters.
    """
    url = "https://polisen.se/lagg-fram-tips?" + "&".join(
        f"utm_param{i}=kampanj-stockholm-hosten-2024" for i in range(40)
    )
    channel = TipChannel(TipChannelKind.WEB, url)
    with pytest.raises(InvalidAlert, match="list each channel once") as err:
        pilot.tip_request(
            identifier="probe7-channels", sender="polisen@polisen.se", sent=PHASE_2,
            area=Circle(18.07, 59.33, 500.0), sv=MSG, en=MSG, onset=PHASE_2,
            expires=PHASE_2 + dt.timedelta(hours=1), tip_channels=[channel, channel],
        )  # fmt: skip
    text = str(err.value)
    assert len(text) < 300, text[:300]
    match = CUT.search(text)
    assert match is not None and url.startswith(match.group(1)), text
    assert int(match.group(2).replace(",", "")) == len(url), text


def test_a_hierarchy_without_the_country_names_only_the_missing_country() -> None:
    """Municipalities and counties, no country level: the pilot's "SE" is unknown, said once.

    Each county the policy lists was also said not to lie within the country 'SE', three
    problems of noise about a country the catalog does not have.
    """
    municipalities = sweden.municipalities()
    counties = sweden.counties()
    two_levels = RegionHierarchy(
        [municipalities, counties], {code: code[:2] for code in municipalities.codes}
    )
    with pytest.raises(InvalidPolicy) as err:
        Targeter(two_levels, pilot.pilot_policy(), recognition=pilot.RECOGNITION)
    texts = [p.message for p in err.value.problems]
    assert all(t.startswith("unknown region code 'SE'") for t in texts), texts
    assert "policy.country" in {p.path for p in err.value.problems}


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("2024-09-02 00:00", "TOML date-times need seconds: write 2024-09-02T00:00:00"),
        ("2024-09-02T00:00+02:00", "need seconds: write 2024-09-02T00:00:00+02:00"),
        ("02/09/2024", "starts_at is a TOML date-time such as 2024-09-02T00:00:00"),
        ("2024-09-02 kl 00:00  # fas 2", "starts_at is a TOML date-time such as"),
    ],
)
def test_a_phase_start_written_as_an_operator_would_says_how_to_write_it(
    written: str, hint: str
) -> None:
    """``starts_at = 2024-09-02 00:00`` was only "Expected newline or end of document"."""
    doc = (
        'format_version = 1\ntimezone = "Europe/Stockholm"\n[kinds.tip_request]\n'
        f'[[kinds.tip_request.phases]]\nstarts_at = {written}\nregions = ["01"]\n'
    )
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(doc)
    assert hint in str(err.value), str(err.value)
    assert f"(got {written.partition('#')[0].strip()!r})" in str(err.value)
