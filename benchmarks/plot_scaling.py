"""Draw the matcher's scaling plot from ``docs/_static/matcher_scaling.json``.

``python benchmarks/bench_matcher.py`` (full mode) measures the rows and calls :func:`plot`;
``python benchmarks/plot_scaling.py`` redraws ``docs/_static/matcher_scaling.png`` from the
recorded JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parents[1] / "docs" / "_static"
EXACT = "STRtree bbox + Geod.inv"


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    """Three panels: query time (first and warm), build time, memory per device."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["n"] for r in rows]
    fig, (ax_q, ax_b, ax_m) = plt.subplots(1, 3, figsize=(13, 4.2))
    for impl, colour in (("geotarget", "tab:blue"), (EXACT, "tab:orange")):
        for label, marker in (("1 km", "o"), ("10 km", "s")):
            for when, style in (("first", "-"), ("warm", ":")):
                key = f"{impl} {label} {when}"
                if key in rows[0]:
                    ax_q.loglog(
                        n,
                        [r[key] * 1e3 for r in rows],
                        style,
                        marker=marker,
                        color=colour,
                        label=f"{impl}, {label}, {when}",
                    )
    if "geotarget classify 500 m first" in rows[0]:
        ax_q.loglog(
            n,
            [r["geotarget classify 500 m first"] * 1e3 for r in rows],
            "--",
            marker="^",
            color="tab:green",
            label="geotarget classify, 500 m, first",
        )
    ax_q.set_title("Query time (median over 10 towns)")
    ax_q.set_ylabel("ms")
    ax_q.legend(fontsize=6)
    for impl, colour in (("geotarget", "tab:blue"), ("STRtree", "tab:orange")):
        ax_b.loglog(n, [r[f"{impl} build s"] for r in rows], "-o", color=colour, label=impl)
    ax_m.semilogx(
        n,
        [r["geotarget nbytes/device"] for r in rows],
        "-o",
        color="tab:blue",
        label="geotarget (arrays held)",
    )
    ax_m.semilogx(
        n,
        [r.get("STRtree RSS B/device", r.get("STRtree B/device")) for r in rows],
        "-o",
        color="tab:orange",
        label="STRtree (RSS growth)",
    )
    ax_b.set_title("Index build time")
    ax_b.set_ylabel("s")
    ax_m.set_title("Index memory")
    ax_m.set_ylabel("bytes per device")
    ax_m.set_ylim(bottom=0)
    for ax in (ax_q, ax_b, ax_m):
        ax.set_xlabel("devices in the snapshot")
        ax.grid(True, which="both", alpha=0.3)
    ax_b.legend(fontsize=8)
    ax_m.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    recorded = json.loads((STATIC / "matcher_scaling.json").read_text("utf-8"))
    plot(recorded, STATIC / "matcher_scaling.png")
