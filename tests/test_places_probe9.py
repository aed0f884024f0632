"""Probe 9: real places at the edges of Sweden's territory and of the rollout's regions.

How an operator names the places of a Stockholm-first rollout, and what geotarget decides there,
checked against the reference data in ``../shared/data/sweden`` (SCB's county table; the
detailed Lantmäteriet boundaries read with shapely and pyproj), never geotarget's internals.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
import shapely.geometry as sg

import geotarget
from geotarget import pilot, sweden
from geotarget.errors import InvalidPolicy, InvalidRegions, UnknownCode
from geotarget.issuers import Issuers
from geotarget.policy import load_policy
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import KindRollout, Phase, RolloutPolicy
from geotarget.targeting import Targeter

UTC = dt.timezone.utc
START = dt.datetime(2024, 4, 14, 22, 0, tzinfo=UTC)


def _lan(shared_data: Path) -> list[dict[str, str]]:
    with (shared_data / "sweden" / "lan.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _refusal(code: str) -> str:
    """The problem a Targeter names for a tip-request phase enabling ``code``."""
    policy = RolloutPolicy(
        rollouts=[KindRollout(kind="tip_request", phases=[Phase(starts_at=START, regions=[code])])],
        country="SE",
    )
    with pytest.raises(InvalidPolicy) as err:
        Targeter(sweden.hierarchy(), policy, recognition=pilot.RECOGNITION)
    (problem,) = err.value.problems
    return problem.message


# --- naming the counties of a phased rollout --------------------------------------------------


@pytest.mark.shared_data
def test_an_iso_3166_2_county_code_is_told_its_county_not_the_whole_country(
    shared_data: Path,
) -> None:
    """``"SE-AB"`` (Stockholm County in ISO 3166-2) in a Stockholm-first phase.

    It was told "close matches: 'SE'": an operator following the hint would have enabled the
    tip request in the whole country instead of Stockholm County. Each county's ISO 3166-2
    code, letter and short name (SCB's table) is now told its county's code, and the country
    is never offered for them.
    """
    for row in _lan(shared_data):
        county = f"'{row['lan_kod']}' ({row['lan_namn']}, county)"
        for written in (row["iso_3166_2"], row["lansbokstav"], row["iso_3166_2"].lower()):
            message = _refusal(written)
            assert f"is another designation of {county}: write its code" in message, message
            assert "'SE'" not in message, message
    # an issuer's regions too: "SE" would have authorised the Stockholm police nationwide
    issuer = {"name": "sthlm", "senders": ["s@polisen.se"], "kinds": ["tip_request"]}
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_json(
            json.dumps({"issuers": [{**issuer, "regions": ["SE-AB"]}]}), catalog=sweden.hierarchy()
        )
    (problem,) = err.value.problems
    assert "another designation of '01' (Stockholms län, county)" in problem.message
    assert "'SE'" not in problem.message


@pytest.mark.shared_data
def test_a_county_short_name_is_told_its_county(shared_data: Path) -> None:
    """A short county name ("Skane") or "Storstockholm" is told its county's code.

    They were told "valid codes include '01', '0114', …". A short county name (SCB's
    ``lan_namn_kort``, with or without its accents) that is no municipality's name is now told
    its county; one that is ("Stockholm", "Gotland") is told that municipality, as before.
    """
    names = {r.name for r in sweden.municipalities()}
    for row in _lan(shared_data):
        county = f"'{row['lan_kod']}' ({row['lan_namn']}, county)"
        short = row["lan_namn_kort"]
        plain = short.translate(str.maketrans("åäöÅÄÖ", "aaoAAO"))
        if " " in plain or short in names:  # (a phase refuses a code with a space)
            continue
        message = _refusal(plain)
        assert f"is another designation of {county}" in message, message
    assert "'01' (Stockholms län, county)" in _refusal("Storstockholm")


def test_a_code_within_a_known_code_in_another_scheme_is_never_told_that_code() -> None:
    """NUTS ``"SE110"``, HASC ``"SE.AB"``: not the country, nor a county by spelling.

    ``"SE110"`` (Stockholm County in NUTS) was told "close matches: '10', 'SE'": Blekinge, or
    the whole country.
    """
    for written in ("SE110", "SE.AB", "SE-XX", "SE_AB"):
        message = _refusal(written)
        assert "close matches" not in message, message
        assert "it is not 'SE' (Sverige, country), whose code it begins with" in message, message
    # one character more is a typo, told its close match
    assert "close matches: 'PR-STOCKHOLM'" in _refusal("PR-STOCKHOLMS")


def test_aliases_of_any_hierarchy_are_hints_never_codes() -> None:
    """The generic mechanism: a hierarchy's aliases name codes, and are refused as codes."""
    towns = RegionSet(
        Region(code=c, name=n, level="town", geometry=sg.box(x, 0, x + 1, 1))
        for c, n, x in (("T1", "Åby", 0), ("T2", "Berg", 1))
    )
    land = RegionSet([Region(code="L", name="Land", level="land", geometry=sg.box(0, 0, 2, 1))])
    h = RegionHierarchy([towns, land], {"T1": "L", "T2": "L"}, aliases={"L-Å": "T1"})
    assert "L-Å" not in h
    with pytest.raises(UnknownCode, match=r"'l-a' is another designation of 'T1' \(Åby, town\)"):
        h.level_of("l-a")
    with pytest.raises(UnknownCode, match=r"'aby' is a region's name, not its code: 'T1'"):
        h.level_of("aby")
    with pytest.raises(UnknownCode, match=r"it is not 'L' \(Land, land\), whose code it begins"):
        h.level_of("L-9")
    with pytest.raises(InvalidRegions, match=r"aliases\['T2'\].*never a code"):
        RegionHierarchy([towns, land], {"T1": "L", "T2": "L"}, aliases={"T2": "T1"})
    with pytest.raises(UnknownCode, match=r"aliases\['x'\]"):
        RegionHierarchy([towns, land], {"T1": "L", "T2": "L"}, aliases={"x": "T9"})


def test_a_police_region_written_with_its_accent_is_told_the_code(tmp_path: Path) -> None:
    """``"PR-VÄST"`` (police Region Väst) in a policy file read with the Swedish regions.

    It was told "close matches: 'PR-OST', 'PR-SYD', 'PR-VAST'", the wrong regions first.
    """
    policy = Path(geotarget.__file__).parent / sweden.PILOT_POLICY_FILE
    doc = policy.read_text(encoding="utf-8").replace('regions = ["01"]', 'regions = ["PR-VÄST"]', 1)
    file = tmp_path / "policy.toml"
    file.write_text('issuers = "any"\n' + doc, encoding="utf-8")
    with pytest.raises(InvalidPolicy) as err:
        load_policy(file, catalog=sweden.hierarchy())
    messages = [p.message for p in err.value.problems if p.path.endswith("phases[0].regions")]
    assert len(messages) == 1
    assert "codes are written without accents: did you mean 'PR-VAST'?" in messages[0]
    assert "PR-OST" not in messages[0]


# --- when a police region or the country gets a phased kind -------------------------------------

#: The pilot's phases 1 and 2 for tip requests, restated from its announcement (the counties
#: and the day they start, midnight Europe/Stockholm); phase 3 (2025-01-13) enables all Sweden.
PILOT_TIPS = [({"01"}, "2024-04-15"), ({"01", "12", "14"}, "2024-09-02")]


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "at", [dt.datetime(2024, 3, 1, tzinfo=UTC), dt.datetime(2024, 5, 20, 12, tzinfo=UTC)]
)
def test_a_police_region_is_told_when_its_first_county_gets_a_tip_request(
    shared_data: Path, at: dt.datetime
) -> None:
    """Police Region Syd before phase 2: "phase 2 enables it in Skåne län from 2024-09-02".

    ``explain`` said only "phase 3, which adds it as part of Sverige, starts 2025-01-13": an
    operator asking when Region Syd gets tip requests did not learn that Skåne (Malmö) gets
    them from phase 2. The oracle: the police regions' counties (Brå, ``polisregioner.csv``)
    against the pilot's phases restated above.
    """
    with (shared_data / "sweden" / "polisregioner.csv").open(encoding="utf-8") as f:
        police = {r["polisregion"]: set(r["lan_koder"].split(";")) for r in csv.DictReader(f)}
    county_name = {r["lan_kod"]: r["lan_namn"] for r in _lan(shared_data)}
    code_of = {name: code for code, (name, _) in sweden.POLICE_REGIONS.items()}
    now = 0 if at >= dt.datetime(2024, 4, 14, 22, tzinfo=UTC) else -1
    regions = {code_of[name]: counties for name, counties in police.items()}
    regions["SE"] = set(county_name)
    for code, counties in regions.items():
        enabled = set() if now < 0 else PILOT_TIPS[now][0] & counties
        e = pilot.pilot_policy().explain("tip_request", code, at, catalog=sweden.hierarchy())
        text = str(e)
        assert not e.enabled and e.change_phase_index == 2, text
        assert "phase 3, which adds all of it" in text or not enabled, text
        first = next(
            (
                (j, sorted(phase & counties - enabled))
                for j, (phase, _) in enumerate(PILOT_TIPS)
                if j > now and phase & counties - enabled
            ),
            None,
        )
        if first is None:
            assert e.partial_phase_index is None, text
            assert "enables it" not in text.partition("; phase 3")[0].partition(": ")[2], text
            continue
        j, new = first
        names = ", ".join(county_name[c] for c in new)
        assert (e.partial_phase_index, list(e.partial_within)) == (j, new), text
        assert f"phase {j + 1} enables it in {names} from {PILOT_TIPS[j][1]} 00:00" in text


@pytest.mark.parametrize(
    ("lon", "lat", "radius"),
    [
        (24.17, 65.85, 800.0),  # Tornio, across the Torne from Haparanda: Finland
        (17.5, 57.5, 3_000.0),  # the open Baltic between Gotland and Öland, beyond 12 nmi
        (12.62, 55.70, 1_000.0),  # Copenhagen
    ],
)
def test_an_explosion_wholly_beyond_the_territory_is_said_to_lie_in_no_region(
    shared_data: Path, lon: float, lat: float, radius: float
) -> None:
    """An area in no region at all is not "outside the regions where explosion is enabled (SE)".

    Explosion is enabled nationwide; the reason said the area lay outside the enabled regions
    and that "no later phase of the policy enables it there", as if a policy could. Oracle:
    shapely and pyproj on Lantmäteriet's territory (land, inland water and territorial sea):
    the circle lies wholly beyond it.
    """
    import numpy as np
    import pyproj
    import shapely

    from geotarget import Circle
    from geotarget.ledger import MemoryLedger
    from geotarget.targeting import Verdict

    doc = json.loads((shared_data / "sweden" / "lan_lantmateriet_wgs84.geojson").read_text())
    counties = [shapely.make_valid(sg.shape(f["geometry"])) for f in doc["features"]]
    territory = shapely.union_all(counties)
    aeqd = pyproj.Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84", always_xy=True
    )
    near = shapely.clip_by_rect(territory, lon - 3, lat - 2, lon + 3, lat + 2)
    metric = shapely.transform(near, lambda xy: np.column_stack(aeqd.transform(*xy.T)))
    assert shapely.distance(metric, sg.Point(0.0, 0.0)) > radius + 100.0  # wholly beyond
    at = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
    message = pilot.Message(headline="Explosion", description="x", area_description="x")
    alert = pilot.explosion(
        identifier="X-1", sender="polisen@polisen.se", sent=at, area=Circle(lon, lat, radius),
        sv=message, en=message, onset=at, expires=at + dt.timedelta(hours=1),
    )  # fmt: skip
    policy = sweden.pilot_policy()
    targeter = Targeter(sweden.hierarchy(), policy, ledger=MemoryLedger())
    positions = geotarget.Positions(["a"], [18.06], [59.33], accuracy_m=[5.0], observed_at=[at])
    got = targeter.target(alert, geotarget.PositionIndex(positions), at)
    assert got.verdict is Verdict.AREA_OUTSIDE_ROLLOUT
    assert "lies in none of the 290 regions of the territory" in got.reason, got.reason
    assert "abroad, or at sea beyond the territorial sea" in got.reason
    assert "enabled (SE)" not in got.reason
