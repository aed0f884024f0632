"""The newcomer's main job, ``geotarget demo``, checked scene by scene against an oracle.

The oracle is plain numpy and pyproj's geodesic distance over the demo's own inputs (its
synthetic devices and the batch of fresh fixes, rebuilt from the same seed): who lies inside a
circle, whose accuracy disk crosses its edge, whose fix is older than an hour but within 1 km.
The pilot's rules as its policy file states them: an Explosion fails open and tells old fixes
(up to 24 h) within 1,000 m of the area; a tip request fails closed; fresh means at most 1 h.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.machinery
import importlib.util
import io
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry

from geotarget import Circle, PositionIndex, Positions, Targeter, _demo, pilot, sweden
from geotarget.ledger import MemoryLedger

N, SEED = 30_000, 2024
GEOD = pyproj.Geod(ellps="WGS84")
LATER = _demo.DEMO_AT + dt.timedelta(minutes=20)


#: The tests' default, and the command's own ``--help`` example (``--devices 100000 --seed 7``).
RUNS = [(N, SEED), (100_000, 7)]


@pytest.fixture(scope="module", params=RUNS, ids=lambda run: f"{run[0]}-devices-seed-{run[1]}")
def run(request: pytest.FixtureRequest) -> tuple[int, int]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def played(run: tuple[int, int]) -> tuple[str, Any, Any]:
    out = io.StringIO()
    args = argparse.Namespace(devices=run[0], seed=run[1], plot=None, ledger=None)
    stage, story = _demo.play(_demo.Out(out), args, MemoryLedger())
    return out.getvalue(), stage, story


def _columns(p: Any) -> tuple[Any, ...]:
    return tuple(np.asarray(c) for c in (p.ids, p.lon, p.lat, p.accuracy_m, p.observed_at))


def _distance(lon: Any, lat: Any, centre: tuple[float, float]) -> Any:
    d = np.full(lon.size, np.inf)
    ok = ~np.isnan(lon)
    _, _, d[ok] = GEOD.inv(
        np.full(ok.sum(), centre[0]), np.full(ok.sum(), centre[1]), lon[ok], lat[ok]
    )
    return d


def _age_h(observed: Any, at: dt.datetime) -> Any:
    now = np.datetime64(at.astimezone(dt.timezone.utc).replace(tzinfo=None), "us")
    return (now - observed) / np.timedelta64(1, "h")


def _oracle(n: int, seed: int) -> dict[str, Any]:
    """Every count of the story, from the inputs alone."""
    positions = _demo.demo_positions(n, seed, _demo.DEMO_AT)
    ids, lon, lat, acc, seen = _columns(positions)
    moved = _demo.moved_devices(positions, LATER, seed)
    m_ids, m_lon, m_lat, m_acc, m_seen = _columns(moved)

    def explosion(lon: Any, lat: Any, acc: Any, seen: Any, at: dt.datetime, r: float) -> Any:
        d, age = _distance(lon, lat, _demo.SERGELS_TORG), _age_h(seen, at)
        fresh = age <= 1.0
        return {
            "inside": fresh & (d + acc <= r),
            "crosses": fresh & (d - acc <= r) & (d + acc > r),
            "old": ~fresh & (age <= 24.0) & (d <= r + 1000.0),
        }

    def tips(lon: Any, lat: Any, acc: Any, seen: Any, at: dt.datetime) -> Any:
        d, age = _distance(lon, lat, _demo.STOCKHOLM_C), _age_h(seen, at)
        return (age <= 1.0) & (d + acc <= 2000.0)

    e1 = explosion(lon, lat, acc, seen, _demo.DEMO_AT, 500.0)
    told_e1 = e1["inside"] | e1["crosses"] | e1["old"]
    told_t1 = tips(lon, lat, acc, seen, _demo.DEMO_AT)
    rows = np.searchsorted(ids, m_ids)
    assert (ids[rows] == m_ids).all()
    m_e = explosion(m_lon, m_lat, m_acc, m_seen, LATER, 500.0)
    streamed_e = (m_e["inside"] | m_e["crosses"] | m_e["old"]) & ~told_e1[rows]
    streamed_t = tips(m_lon, m_lat, m_acc, m_seen, LATER) & ~told_t1[rows]
    lon2, lat2, acc2, seen2 = lon.copy(), lat.copy(), acc.copy(), seen.copy()
    lon2[rows], lat2[rows], acc2[rows], seen2[rows] = m_lon, m_lat, m_acc, m_seen
    e5 = explosion(lon2, lat2, acc2, seen2, LATER, 1000.0)
    covered5 = e5["inside"] | e5["crosses"] | e5["old"]
    told_before = told_e1.copy()
    told_before[rows[streamed_e]] = True
    return {
        "e1": {k: int(v.sum()) for k, v in e1.items()},
        "t1": int(told_t1.sum()),
        "streamed": (int(streamed_e.sum()), int(streamed_t.sum())),
        "e5": {k: int(v.sum()) for k, v in e5.items()},
        "new5": int((covered5 & ~told_before).sum()),
        "already5": int((covered5 & told_before).sum()),
        "covered5": int(covered5.sum()),
        "walkers": (int(covered5[rows].sum()), int(rows.size)),
        "cancel": int((covered5 | told_before).sum()),
        "no_fix": int(np.isnan(lon).sum()),
    }


@pytest.fixture(scope="module")
def oracle(run: tuple[int, int]) -> dict[str, Any]:
    return _oracle(*run)


def _scene(text: str, number: int) -> str:
    start = text.index(f"\n{number}. ")
    end = text.find(f"\n{number + 1}. ", start)
    return text[start : end if end >= 0 else None]


def test_every_count_the_demo_prints_is_the_oracles(
    played: tuple[str, Any, Any], oracle: dict[str, Any]
) -> None:
    """Scenes 1, 2, 4, 5 and 6 and the summary, number for number."""
    text = played[0]
    e1, e5 = oracle["e1"], oracle["e5"]
    one = _scene(text, 1)
    assert f"{sum(e1.values()):,} new recipient" in one
    assert f"told: {e1['inside']:,} inside the area" in one
    assert f"{e1['old']:,} whose last fix is 1 h–24 h old but within 1,000 m" in one
    assert f"{oracle['t1']:,} new recipient" in _scene(text, 2)
    streamed_e, streamed_t = oracle["streamed"]
    assert f"newly told: {streamed_e:,} the explosion alert, {streamed_t:,} the tip request" in (
        _scene(text, 4)
    )
    five = _scene(text, 5)
    assert f"{oracle['new5']:,} new recipient" in five
    assert f"told: {e5['inside']:,} inside the area" in five
    assert f"of these, {oracle['already5']:,} told earlier are not told again" in five
    assert f"covered {sum(e1.values()):,} → {oracle['covered5']:,}:" in five
    assert f"no fix {oracle['no_fix']:,} → {oracle['no_fix']:,}" in five
    assert f"all-clear to {oracle['cancel']:,} devices" in _scene(text, 6)
    assert f"the explosion alert reached {oracle['cancel']:,} devices" in text
    assert f"the tip request reached {oracle['t1'] + streamed_t:,} devices" in text


def test_the_update_counts_the_walkers_its_wider_area_covers(
    played: tuple[str, Any, Any], oracle: dict[str, Any]
) -> None:
    """Scene 5 said "covered 220 → 1,312: ... and 404 devices walked in": the wrong walkers.

    Those are the walkers inside the first, 500 m area; the 1 km area covers more of them (at
    1.2 million devices 593 of the 600): the number the line explains the growth by was not
    the number of devices that walked into the area it describes.
    """
    covered, walked = oracle["walkers"]
    assert covered != oracle["streamed"][0]  # the two numbers differ for this input
    assert (
        f"and {covered:,} of the {walked:,} devices that walked towards Sergels torg are in it"
        in _scene(played[0], 5)
    )


def test_the_old_fixes_line_says_they_lie_in_or_near_the_area(
    played: tuple[str, Any, Any], oracle: dict[str, Any]
) -> None:
    """The old fixes counted lie within 1,000 m of the area, most of them outside it."""
    five = _scene(played[0], 5)
    match = re.search(r"old fixes ([\d,]+) → ([\d,]+): ([^\n]*)", five)
    assert match is not None
    assert int(match[1].replace(",", "")) == oracle["e1"]["old"]
    assert int(match[2].replace(",", "")) == oracle["e5"]["old"]
    assert "older than the 1 h freshness limit or within 1,000 m of it" in match[3]


def test_devices_without_a_fix_are_not_said_to_be_in_the_country(
    played: tuple[str, Any, Any], oracle: dict[str, Any]
) -> None:
    """Nothing places a device without a fix: "in the country ... (anywhere)" contradicted it."""
    text = played[0]
    assert "in the country with no fix" not in text
    assert f"{oracle['no_fix']:,} with no fix at all (they could be anywhere)" in text


# --- scripts/demo on a fresh machine ----------------------------------------------------------

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _load_venv_script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    loader = importlib.machinery.SourceFileLoader("_venv", str(SCRIPTS / "_venv.py"))
    spec = importlib.util.spec_from_loader("_venv", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for the Python")
def test_a_virtualenv_left_without_pip_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``.venv`` with a Python and no pip is made again, not kept.

    ``python3 -m venv`` without ``ensurepip`` (Debian before ``python3-venv``) leaves one. Every
    later ``python3 scripts/demo`` kept it and failed at its first step, "No module named pip",
    even once ``python3-venv`` was installed.
    """
    script = _load_venv_script(monkeypatch)
    venv = tmp_path / ".venv"
    python = script.bin_of(venv, "python")
    python.parent.mkdir(parents=True)
    # A Python 3.12 that runs, but has no pip to import.
    python.write_text(
        '#!/bin/sh\ncase "$2" in *"import pip"*) echo "No module named pip" >&2; exit 1;; esac\n'
        "echo 3 12\n"
    )
    python.chmod(0o755)
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(script, "run", lambda *a, **k: calls.append(tuple(map(str, a))))
    script.ensure_venv(venv, "-e", ".")
    assert calls[0] == (sys.executable, "-m", "venv", "--clear", str(venv))
    assert calls[1][1:4] == ("-m", "pip", "install")


# --- the pilot's rollout, place by place ------------------------------------------------------

CEST = dt.timezone(dt.timedelta(hours=2))
#: A day in each phase of the shipped pilot policy, and the counties (SCB's codes) whose places
#: police information reaches then; None: every place in Sweden.
PHASE_DAYS = [
    (dt.datetime(2024, 5, 20, 12, tzinfo=CEST), {"01"}),  # Stockholm County (Storstockholm)
    (dt.datetime(2024, 10, 1, 12, tzinfo=CEST), {"01", "12", "14"}),
    (dt.datetime(2025, 3, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1))), None),
]


@pytest.mark.parametrize(("at", "counties"), PHASE_DAYS, ids=["phase1", "phase2", "phase3"])
@pytest.mark.parametrize("kind", ["tip_request", "crime_modus"])
def test_police_information_reaches_each_municipality_in_its_phase(
    shared_data: Path, kind: str, at: dt.datetime, counties: set[str] | None
) -> None:
    """One device 300 m inside each of the 290 municipalities, one 50 m alert over each.

    The oracle: Lantmäteriet's detailed boundaries (SWEREF 99 TM, an interior point of each
    municipality shrunk by 300 m, to WGS84 with pyproj) and SCB's municipality → county table;
    Storstockholm (``storstadsomraden.csv``) is Stockholm County's 26 municipalities.
    """
    folder = shared_data / "sweden"
    with (folder / "kommuner_folkmangd_2024.csv").open(encoding="utf-8") as f:
        county = {r["kommun_kod"]: r["lan_kod"] for r in csv.DictReader(f)}
    with (folder / "storstadsomraden.csv").open(encoding="utf-8") as f:
        stockholm = {r["kommun_kod"] for r in csv.DictReader(f) if r["omrade"] == "Storstockholm"}
    assert stockholm == {k for k, c in county.items() if c == "01"}
    features = json.loads((folder / "kommuner_lantmateriet_sweref99tm.geojson").read_text())
    to_wgs84 = pyproj.Transformer.from_crs(3006, 4326, always_xy=True)
    places: dict[str, tuple[float, float]] = {}
    for feature in features["features"]:
        shape = shapely.geometry.shape(feature["geometry"])
        inner = shape.buffer(-300.0)
        point = shapely.point_on_surface(inner if not inner.is_empty else shape)
        places[feature["properties"]["kommun_kod"]] = to_wgs84.transform(point.x, point.y)
    assert sorted(places) == sorted(county)
    codes = sorted(places)
    lon = np.array([places[c][0] for c in codes])
    lat = np.array([places[c][1] for c in codes])
    index = PositionIndex(
        Positions(codes, lon, lat, accuracy_m=np.full(len(codes), 1.0), observed_at=at)
    )
    targeter = Targeter(sweden.hierarchy(), sweden.pilot_policy(), ledger=MemoryLedger())
    text = pilot.Message(headline="Polisen informerar", description="Test", area_description="Här")
    wrong = []
    for i, code in enumerate(codes):
        alert = getattr(pilot, kind)(
            identifier=f"PROBE9-{kind}-{code}",
            sender="polisen@polisen.se",
            sent=at,
            area=Circle(float(lon[i]), float(lat[i]), 50.0),
            sv=text,
            en=text,
            onset=at,
            expires=at + dt.timedelta(hours=2),
        )
        told = code in {str(d) for d in targeter.target(alert, index, at).recipients.tolist()}
        if told != (counties is None or county[code] in counties):
            wrong.append((code, county[code], told))
    assert wrong == []


def test_the_cancel_says_cancelled_once(played: tuple[str, Any, Any]) -> None:
    """Scene 6 printed "CANCELLED: cancelled: retract from ...": the verdict, then the reason's."""
    six = _scene(played[0], 6)
    assert "CANCELLED: cancelled" not in six
    assert re.search(r"CANCELLED: retract from the [\d,]+ devices? told about ", six)
