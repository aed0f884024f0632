"""CAP 1.2 codec: microseconds per document to read and write a typical alert, and real ones.

Scenarios (one document per call):

* ``pilot explosion`` — the two-language Explosion alert of the docs (1.9 KB, one circle);
* ``NWS alert, 1 polygon`` — a real IPAWS alert with an image resource (26 KB), when
  ``../shared/data/cap`` is present;
* ``41,009-vertex polygon`` — the WMO Burkina Faso alert (0.9 MB), when present.

Implementations: ``geotarget.cap.loads`` (strict), ``loads_lenient``, ``dumps``, and as a floor
``xml.etree.ElementTree.fromstring`` on the same text — XML parsing alone, no CAP checks, no
model. There is no peer gate: no maintained Python CAP library is a fair peer to time against.

Run: ``python benchmarks/bench_cap.py`` (add ``--quick`` for the CI-sized run).
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _harness import Report, Timing, best_of

from geotarget import Circle, cap, pilot

SHARED_CAP = (
    Path(
        os.environ.get(
            "GEOTARGET_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
        )
    )
    / "cap"
)
NS = "{urn:oasis:names:tc:emergency:cap:1.2}"


def pilot_document() -> str:
    """The Sergels torg Explosion alert of the docs, as CAP text."""
    t0 = datetime(2026, 5, 4, 21, 30, tzinfo=timezone(timedelta(hours=2)))
    sv = pilot.Message(
        headline="Polisen larmad om explosion vid Sergels torg",
        description="Polisen är på plats och utreder en befarad explosion.",
        instruction="Undvik området och följ polisens anvisningar.",
        area_description="Sergels torg, Stockholm",
    )
    en = pilot.Message(
        headline="Police alerted to an explosion at Sergels torg",
        description="The police are on site investigating a feared explosion.",
        instruction="Avoid the area and follow police instructions.",
        area_description="Sergels torg, Stockholm",
    )
    alert = pilot.explosion(
        identifier="SE-POL-2026-0001", sender="polisen@polisen.se", sent=t0,
        area=Circle(18.06528, 59.3325, 500.0), sv=sv, en=en, onset=t0,
        expires=t0 + timedelta(hours=2),
    )  # fmt: skip
    return cap.dumps(alert)


def documents() -> dict[str, bytes]:
    """The scenarios' documents, as the bytes a feed delivers."""
    docs = {"pilot explosion": pilot_document().encode("utf-8")}
    for scenario, name in (
        ("NWS alert, 1 polygon", "oasiscap_ipaws-5e7e0fc5023f1930efcf3deb.xml"),
        ("41,009-vertex polygon", "wmo_bf_valid.xml"),
    ):
        path = SHARED_CAP / name
        if path.is_file():
            docs[scenario] = path.read_bytes()
    return docs


def run(quick: bool) -> Report:
    """Time reading and writing each document; check the floor parses the same elements."""
    report = Report()
    for scenario, data in documents().items():
        big = len(data) > 100_000
        repeat = 3 if big or quick else 7
        number = 1 if big else (20 if quick else 100)
        alert = cap.loads(data)
        root = ET.fromstring(data)
        # Same answer: the floor sees exactly the info blocks and areas we read.
        assert len(root.findall(f"{NS}info")) == len(alert.infos)
        assert len(root.findall(f"{NS}info/{NS}area")) == sum(len(i.areas) for i in alert.infos)
        assert cap.loads_lenient(data).alert == alert
        assert cap.loads(cap.dumps(alert)) == alert
        size = f"{len(data) / 1000:.1f} KB, 1 document per call"
        for impl, fn in (
            ("geotarget.cap.loads", lambda d=data: cap.loads(d)),
            ("geotarget.cap.loads_lenient", lambda d=data: cap.loads_lenient(d)),
            ("geotarget.cap.dumps", lambda a=alert: cap.dumps(a)),
            ("ElementTree.fromstring (floor)", lambda d=data: ET.fromstring(d)),
        ):
            seconds = best_of(fn, repeat=repeat, number=number)
            report.add(Timing(scenario, impl, seconds, note=size))
    report.extra["unit"] = "one CAP document per call"
    return report


def main(argv: list[str]) -> None:
    """Print microseconds per document for each scenario and implementation."""
    report = run(quick="--quick" in argv)
    print("| scenario | implementation | µs per document | vs floor |\n|---|---|---:|---:|")
    for t in report.timings:
        floor = report.seconds(t.scenario, "ElementTree.fromstring (floor)")
        print(
            f"| {t.scenario} ({t.note}) | {t.impl} | {t.seconds * 1e6:,.0f} | "
            f"{t.seconds / floor:.1f}x |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
