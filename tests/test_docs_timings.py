"""The timings the integrator's guide quotes come from the recorded benchmark run it names."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "integrators.rst"
RECORDED = ROOT / "benchmarks" / "recorded" / "targeting"
COMMAND = "python benchmarks/run.py --only targeting --out benchmarks/recorded/targeting"

#: A timing or a rate as the page writes it: "1.11 ms", "250.3 µs", "2.05 s", "198,933
#: deliveries/s"; a duration the reader sets ("60 s" of a lease) is not in this section.
_QUANTITY = re.compile(r"\d[\d,]*(?:\.\d+)? ?(?:ms|µs|s|deliveries/s)\b")


def _section(text: str, title: str) -> str:
    start = text.index(f"\n{title}\n{'-' * len(title)}\n")
    nxt = re.search(r"\n[^\n]+\n-{3,}\n", text[start + len(title) + 2 :])
    return text[start : start + len(title) + 2 + nxt.start()] if nxt else text[start:]


def _formatted(seconds: float) -> str:
    """As ``benchmarks/run.py`` writes a time per call into results.md."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def test_what_it_costs_quotes_only_the_recorded_run() -> None:
    """Every timing in "What it costs" is a value of the recorded run, which names the command.

    A new run changes the numbers: copy them from results.md, or this test names the stale ones.
    """
    section = _section(PAGE.read_text(encoding="utf-8"), "What it costs")
    results = json.loads((RECORDED / "results.json").read_text(encoding="utf-8"))
    assert results["quick"] is False, "the page quotes a full run, not CI's quick one"
    assert results["command"] == COMMAND
    assert COMMAND in section
    assert "benchmarks/recorded/targeting/results.md" in section
    assert str(results["load_average_before"]) in section, "the page states the run's load"
    md = (RECORDED / "results.md").read_text(encoding="utf-8")
    assert md.startswith(f"`{COMMAND}` (full run)")

    recorded = set()
    for timing in results["benchmarks"]["targeting"]["timings"]:
        recorded.add(_formatted(timing["seconds"]))
        recorded.update(_QUANTITY.findall(timing["note"]))
    quoted = _QUANTITY.findall(section)
    assert len(quoted) >= 4
    stale = [q for q in quoted if q not in recorded]
    assert not stale, f"not in {RECORDED / 'results.md'}: {stale}"


def test_the_guide_quotes_no_timing_outside_that_section() -> None:
    """Elsewhere the guide may state settings (a 60 s lease) but no measured time."""
    text = PAGE.read_text(encoding="utf-8")
    rest = text.replace(_section(text, "What it costs"), "")
    measured = [
        m.group(0) for m in re.finditer(r"(?:about|takes|took) \d[\d,.]* ?(?:ms|µs|s)\b", rest)
    ]
    assert not measured
