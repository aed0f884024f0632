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

#: A timing or a rate as results.md writes it: "1.11 ms", "250.3 µs", "2.05 s", "40.12 M/s",
#: "198,933 deliveries/s".
_QUANTITY = re.compile(r"\d[\d,]*(?:\.\d+)? ?(?:ms|µs|s|M/s|deliveries/s)(?![\w/])")

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
    ("dask.rst", "Numbers\n-------", "\nEarlier runs\n", "dask"),
    ("performance.rst", "Beyond one machine: Dask\n---", "\nThe reference service", "dask"),
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
            values.update(_QUANTITY.findall(timing["note"]))
        values.update(_formatted(s) for s in _extra_seconds(bench.get("extra", {})))
    return values


def _extra_seconds(extra: object) -> list[float]:
    """The durations (keys ending ``_s``) a benchmark reports in ``extra``."""
    if not isinstance(extra, dict):
        return []
    found = []
    for key, value in extra.items():
        if isinstance(value, dict):
            found += _extra_seconds(value)
        elif str(key).endswith("_s") and isinstance(value, (int, float)):
            found.append(float(value))
    return found


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
