"""Play ``geotarget demo`` and keep what it shows: its text and its map.

Writes ``demo.txt`` (the demo's report, as ``python3 scripts/demo`` prints it) and
``demo_map.png`` (what ``geotarget demo --plot`` draws) for the docs' demo page.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from geotarget import _demo, _plot
from geotarget.ledger import MemoryLedger


def main(outdir: Path) -> None:
    """Write ``demo.txt`` and ``demo_map.png``."""
    outdir.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    args = argparse.Namespace(devices=1_200_000, seed=2024, plot=None, ledger=None)
    stage, story = _demo.play(_demo.Out(out), args, MemoryLedger())
    (outdir / "demo.txt").write_text(out.getvalue(), encoding="utf-8")
    _plot.pilot_map(str(outdir / "demo_map.png"), **_demo.map_args(stage, story))


if __name__ == "__main__":
    main(Path(__file__).resolve().parents[1] / "_generated")
