"""Draw the matching semantics: an area, its boundary band, and devices classified under a rule.

Synthetic devices only (no real positions). Writes ``matching_semantics.png``.
"""

from __future__ import annotations

import datetime as dt
import pathlib

import numpy as np


def main(outdir: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle as Disk

    from geotarget import Circle, Location, LocationRule, PositionIndex, Positions

    now = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    lon0, lat0 = 18.0686, 59.3293
    area = Circle(lon0, lat0, 400.0)
    rng = np.random.default_rng(4)
    n = 160
    lon = lon0 + rng.uniform(-0.011, 0.011, n)
    lat = lat0 + rng.uniform(-0.0055, 0.0055, n)
    acc = rng.choice([5.0, 20.0, 60.0, 120.0], n)
    age = rng.uniform(0.0, 34.0, n)
    observed = np.datetime64("2025-05-01T12:00:00", "us") - (age * 60e6).astype("timedelta64[us]")
    positions = Positions(np.arange(n), lon, lat, accuracy_m=acc, observed_at=observed)
    rule = LocationRule(max_age=dt.timedelta(minutes=30))
    rows, states = PositionIndex(positions).classify(area, rule, now)
    state = np.full(n, int(Location.OUTSIDE))
    state[rows] = states

    kx = 111_320.0 * np.cos(np.radians(lat0))  # metres per degree of longitude, for drawing
    ky = 111_320.0
    x = (lon - lon0) * kx
    y = (lat - lat0) * ky
    colours = {
        Location.INSIDE: "#1b7837",
        Location.AMBIGUOUS: "#e08214",
        Location.OUTSIDE: "#9e9e9e",
        Location.UNKNOWN: "#5e3c99",
    }
    fig, ax = plt.subplots(figsize=(9.0, 5.6))
    rim = np.radians(np.linspace(0, 360, 721))
    band = 120.0
    ax.fill(
        np.concatenate([(400 + band) * np.cos(rim), (400 - band) * np.cos(rim[::-1])]),
        np.concatenate([(400 + band) * np.sin(rim), (400 - band) * np.sin(rim[::-1])]),
        color="#fdb863",
        alpha=0.25,
        lw=0,
        label="boundary band (largest accuracy disk)",
    )
    ax.plot(400 * np.cos(rim), 400 * np.sin(rim), color="black", lw=1.5, label="alert area (400 m)")
    for loc, colour in colours.items():
        sel = state == int(loc)
        ax.scatter(
            x[sel], y[sel], s=14, color=colour, label=f"{loc.name} ({int(sel.sum())})", zorder=3
        )
        for i in np.flatnonzero(sel):
            ax.add_patch(Disk((x[i], y[i]), acc[i], fill=False, lw=0.5, color=colour, alpha=0.5))
    ax.set_aspect("equal")
    ax.set_xlim(-650, 650)
    ax.set_ylim(-620, 620)
    ax.set_xlabel("metres east of the centre")
    ax.set_ylabel("metres north of the centre")
    ax.set_title("Accuracy disks classified under LocationRule(max_age=30 min)", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    outdir.mkdir(parents=True, exist_ok=True)
    fig.savefig(outdir / "matching_semantics.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    main(pathlib.Path(__file__).resolve().parents[1] / "_generated")
