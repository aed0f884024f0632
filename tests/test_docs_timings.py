"""The timings the docs quote come from the recorded benchmark runs they name.

``benchmarks/recorded/<name>/results.{md,json}`` are full runs of ``benchmarks/run.py``, made
with ``--out`` into that folder and committed; each records its command, start time and load.
A docs passage that quotes timings names the run, and every number in it must be one of that
run's, as ``results.md`` writes it. A new run changes the numbers: copy them from results.md, or
these tests name the stale ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RECORDED = ROOT / "benchmarks" / "recorded"

#: A timing, a rate or a size as results.md writes it: "1.11 ms", "250.3 µs", "2.05 s",
#: "40.12 M/s", "198,933 deliveries/s", "34.5 B/device".
_QUANTITY = re.compile(
    r"\d[\d,]*(?:\.\d+)? ?(?:ms|µs|s|M/s|deliveries/s|B/(?:device|plan|transformer))(?![\w/])"
)

#: (page, first words of the passage, first words after it, the recorded run it quotes).
PASSAGES = [
    ("integrators.rst", "What it costs\n---", None, "targeting"),
    ("delivery.rst", "``target()`` end to end with the durable store", "\n\n", "targeting"),
    ("regions.rst", "Speed, 1.2 M synthetic Swedish devices", "\nLoading regions\n", "regions"),
    (
        "delivery.rst",
        "From the recorded full run ``benchmarks/recorded/ledger",
        "\n``redeliver``",
        "ledger",
    ),
    ("dask.rst", "Numbers\n-------", "\nWhat is left\n", "dask"),
    # The performance page: one passage per section that quotes timings.
    (
        "performance.rst",
        "The matcher: area → devices\n---",
        "\nCaches and threads\n",
        "matcher",
    ),
    (
        "performance.rst",
        "``target()`` of a new alert\n---",
        "\n**The durable ledger.**",
        "targeting",
    ),
    ("performance.rst", ".. tip-budget-start", ".. tip-budget-end", "ledger"),
    ("performance.rst", "Regions\n-------", "\nThe delivery ledger\n", "regions"),
    ("performance.rst", "The delivery ledger\n---", "\nBeyond one machine", "ledger"),
    ("performance.rst", "Beyond one machine: Dask\n---", "\nThe reference service", "dask"),
    ("performance.rst", "The reference service under load\n---", None, "service"),
]

#: Sentences elsewhere that quote a recorded run named in an earlier passage of their page.
SENTENCES = [
    ("regions.rst", "first ``sweden.hierarchy()`` in a fresh interpreter:", "regions"),
]


def command(name: str) -> str:
    return f"python benchmarks/run.py --only {name} --out benchmarks/recorded/{name}"


def _passage(page: str, start: str, end: str | None) -> str:
    text = (DOCS / page).read_text(encoding="utf-8")
    i = text.index(start)
    j = text.find(end, i + len(start)) if end else -1
    return text[i:] if j < 0 else text[i:j]


def _formatted(seconds: float) -> str:
    """As ``benchmarks/run.py`` writes a time per call into results.md."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def recorded_values(name: str) -> set[str]:
    """Every timing, rate and note quantity of a recorded run, written as results.md does."""
    results = json.loads((RECORDED / name / "results.json").read_text(encoding="utf-8"))
    assert results["quick"] is False, f"{name}: the docs quote a full run, not CI's quick one"
    assert results["command"] == command(name)
    md = (RECORDED / name / "results.md").read_text(encoding="utf-8")
    assert md.startswith(f"`{command(name)}` (full run)")
    values = set()
    for bench in results["benchmarks"].values():
        for timing in bench["timings"]:
            if timing["unit"] == "s":
                values.add(_formatted(timing["seconds"]))
                if timing.get("unit_count"):
                    values.add(f"{timing['unit_count'] / timing['seconds'] / 1e6:.2f} M/s")
            else:
                values.add(f"{timing['seconds']:.1f} {timing['unit']}")
            values.update(_QUANTITY.findall(timing["note"]))
        seconds, per_device = _extra_values(bench.get("extra", {}))
        values.update(_formatted(s) for s in seconds)
        values.update(f"{b:.1f} B/device" for b in per_device)
    return values


#: Keys of durations in a benchmark's ``extra``: ``recheck_s``, and the matcher's scaling rows
#: (``"geotarget build s"``, ``"geotarget 1 km first"``, ``"... warm"``).
_SECONDS_KEY = re.compile(r"(?:_s| s| first| warm)$")
#: Keys of bytes per device there (``"geotarget nbytes/device"``, ``"STRtree RSS B/device"``).
_BYTES_KEY = re.compile(r"(?:nbytes|B)/device$")


def _extra_values(extra: object) -> tuple[list[float], list[float]]:
    """The durations and the bytes per device a benchmark reports in ``extra``."""
    seconds: list[float] = []
    per_device: list[float] = []
    items: list[tuple[object, object]]
    if isinstance(extra, dict):
        items = list(extra.items())
    elif isinstance(extra, list):
        items = list(enumerate(extra))
    else:
        return seconds, per_device
    for key, value in items:
        if isinstance(value, (dict, list)):
            s, b = _extra_values(value)
            seconds += s
            per_device += b
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if _SECONDS_KEY.search(str(key)):
                seconds.append(float(value))
            elif _BYTES_KEY.search(str(key)):
                per_device.append(float(value))
    return seconds, per_device


@pytest.mark.parametrize(("page", "start", "end", "name"), PASSAGES)
def test_quoted_timings_are_the_recorded_runs(
    page: str, start: str, end: str | None, name: str
) -> None:
    """Each passage names its run's command and load, and quotes only that run's numbers."""
    passage = _passage(page, start, end)
    results = json.loads((RECORDED / name / "results.json").read_text(encoding="utf-8"))
    assert re.sub(r"\s+", " ", command(name)) in re.sub(r"\s+", " ", passage)
    assert f"benchmarks/recorded/{name}/results.md" in passage
    assert str(results["load_average_before"]) in passage, "the passage states the run's load"
    quoted = _QUANTITY.findall(passage)
    assert quoted
    stale = [q for q in quoted if q not in recorded_values(name)]
    assert not stale, f"{page}: not in benchmarks/recorded/{name}/results.md: {stale}"


@pytest.mark.parametrize(("page", "start", "name"), SENTENCES)
def test_quoted_sentences_are_the_recorded_runs(page: str, start: str, name: str) -> None:
    """A sentence quoting a run named earlier on its page quotes only that run's numbers."""
    text = (DOCS / page).read_text(encoding="utf-8")
    sentence = _passage(page, start, ")")
    assert f"benchmarks/recorded/{name}/results.md" in text[: text.index(start)]
    quoted = _QUANTITY.findall(sentence)
    assert quoted
    stale = [q for q in quoted if q not in recorded_values(name)]
    assert not stale, f"{page}: not in benchmarks/recorded/{name}: {stale}"


def test_the_guide_quotes_no_timing_outside_its_costs_section() -> None:
    """Elsewhere the integrator's guide may state settings (a 60 s lease), not measured times."""
    text = (DOCS / "integrators.rst").read_text(encoding="utf-8")
    rest = text.replace(_passage("integrators.rst", "What it costs\n---", None), "")
    measured = re.findall(r"(?:about|takes|took) \d[\d,.]* ?(?:ms|µs|s)\b", rest)
    assert not measured


#: Quantities outside the checked passages that are settings, bounds or estimates, not
#: measurements: (page, the phrase that holds them).
NOT_MEASURED = [
    ("delivery.rst", "(``lease=``, default 60 s)"),
    ("integrators.rst", "``lease=`` (default 60 s)"),
    ("delivery.rst", "``busy_timeout`` (5 s)"),
    ("delivery.rst", "1,200,000 / 600 s"),
    ("cap.rst", "CAP 1.2 §3.3.2 s"),
    ("performance.rst", "within a budget of 1.5 ms"),
    ("performance.rst", "tip request's budget of\n  5 ms"),
    # The peer times and the recorded run's, by which benchmarks/_host.py's yardstick
    # is chosen (its docstring), and the budget it scales.
    ("performance.rst", "states its budgets (1.5 ms"),
    ("performance.rst", "median over ten cities, 7.2 ms"),
    ("performance.rst", "took 7.37 ms for it"),
    ("performance.rst", "took 0.37 and 0.10 ms against the issue's 0.52 and 0.25 ms"),
]


def _pages() -> list[Path]:
    pages = [p for p in sorted(DOCS.glob("*.rst")) if p.name != "changelog.rst"]
    return [*pages, ROOT / "README.md"]


@pytest.mark.parametrize("path", _pages(), ids=lambda p: p.name)
def test_every_timing_on_a_page_is_checked(path: Path) -> None:
    """A timing on a docs page or the README sits in a passage above or is a stated setting."""
    text = path.read_text(encoding="utf-8")
    for page, start, end, _ in PASSAGES:
        if page == path.name:
            text = text.replace(_passage(page, start, end), "")
    for page, start, _ in SENTENCES:
        if page == path.name:
            text = text.replace(_passage(page, start, ")"), "")
    for page, phrase in NOT_MEASURED:
        if page == path.name:
            assert phrase in text, f"{page}: NOT_MEASURED phrase gone: {phrase!r}"
            text = text.replace(phrase, "")
    unchecked = [
        text[max(m.start() - 40, 0) : m.end()].replace("\n", " ") for m in _QUANTITY.finditer(text)
    ]
    assert not unchecked, f"{path.name}: timings outside a checked passage: {unchecked}"
