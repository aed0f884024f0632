"""Draw the pilot policy's timeline on a map of Sweden: the enabled counties per phase.

Reads the pilot as shipped (``geotarget.sweden.pilot_policy()``, the package's
``geotarget/data/sweden/pilot_policy.toml``) and draws one map per
kind (kinds with the same schedule share a row) and per instant at which some phase starts. The
county outlines are the built-in ones of ``geotarget.sweden``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from geotarget.errors import UnknownCode
from geotarget.rollout import Reason, RolloutPolicy
from geotarget.rollout import _time as _rollout_time

ON, OFF, EDGE = "#1b7837", "#e3e3e3", "#ffffff"
LABELS = {
    "explosion": "explosion alerts",
    "crime_modus": "crime-modus information",
    "tip_request": "tip requests",
}


class CountyCatalog:
    """A RegionCatalog of Sweden's counties and the country: enough for the example policy."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = {"SE": "Sverige", **names}

    def level_of(self, code: str) -> str:
        """``country`` or ``county``."""
        self.name_of(code)
        return "country" if code == "SE" else "county"

    def name_of(self, code: str) -> str:
        """The Swedish name."""
        try:
            return self.names[code]
        except KeyError:
            raise UnknownCode(f"unknown region code {code!r}") from None

    def ancestors(self, code: str) -> tuple[str, ...]:
        """Counties lie in the country."""
        return () if self.level_of(code) == "country" else ("SE",)

    def expand(self, codes: Iterable[str], level: str) -> frozenset[str]:
        """The counties within ``codes``."""
        wanted = set(codes)
        return frozenset(
            c for c in self.names if self.level_of(c) == level and {c, *self.ancestors(c)} & wanted
        )


def _counties() -> dict[str, tuple[str, Any]]:
    """``code -> (name, shapely geometry)`` of the built-in counties, simplified for drawing."""
    import shapely

    from geotarget import sweden

    return {r.code: (r.name, shapely.simplify(r.geometry, 0.01)) for r in sweden.counties()}


def _rows(policy: RolloutPolicy) -> list[tuple[str, Any]]:
    """One row per distinct schedule, labelled with the kinds that share it."""
    rows: dict[tuple[Any, ...], list[str]] = {}
    for r in policy.rollouts:
        key = tuple((p.starts_at, p.regions, p.percentage) for p in r.phases)
        rows.setdefault(key, []).append(r.kind)
    labels = [", ".join(LABELS[k] for k in kinds) for kinds in rows.values()]
    return [
        (t[0].upper() + t[1:], kinds[0]) for t, kinds in zip(labels, rows.values(), strict=True)
    ]


def _draw_polygons(ax: Any, geom: Any, colour: str) -> None:
    import shapely

    for part in shapely.get_parts(geom):
        x, y = np.asarray(part.exterior.coords).T
        ax.fill(x, y, facecolor=colour, edgecolor=EDGE, linewidth=0.3)


def main(outdir: Path) -> None:
    """Write ``rollout_timeline.png``."""
    from geotarget import sweden

    policy = sweden.pilot_policy()
    counties = _counties()
    rows = _rows(policy)
    instants = sorted({p.starts_at for r in policy.rollouts for p in r.phases})
    tz = policy.timezone
    catalog = CountyCatalog({c: n for c, (n, _) in counties.items()})
    fig, axes = plt.subplots(
        len(rows), len(instants), figsize=(2.3 * len(instants) + 1.2, 4.0 * len(rows)), dpi=110
    )
    axes = np.atleast_2d(axes)
    for i, (label, kind) in enumerate(rows):
        for j, at in enumerate(instants):
            ax = axes[i, j]
            d = policy.decide(kind, at)
            enabled = d.expand(catalog, "county")
            for code, (_, geom) in counties.items():
                _draw_polygons(ax, geom, ON if code in enabled else OFF)
            ax.set_aspect(1 / np.cos(np.radians(62.0)))
            ax.set_axis_off()
            phase = "" if d.phase_index is None else f"phase {d.phase_index + 1}: "
            what = "nationwide" if d.reason is Reason.NATIONWIDE else f"{len(enabled)} counties"
            if len(enabled) == 1:
                what = catalog.name_of(next(iter(enabled)))
            rollout = policy.rollout(kind)
            started = (
                rollout.phases[d.phase_index]
                if rollout is not None and d.phase_index is not None
                else None
            )
            note = (
                " (illustrative date)"
                if started is not None and started.illustrative and started.starts_at == at
                else ""
            )
            ax.set_title(
                f"{_rollout_time.human(at, tz, with_zone=False)}{note}\n{phase}{what}",
                fontsize=8,
            )
        axes[i, 0].text(
            -0.08,
            0.5,
            label,
            rotation=90,
            va="center",
            ha="right",
            fontsize=9,
            transform=axes[i, 0].transAxes,
        )
    fig.suptitle(
        "The pilot policy as shipped: enabled counties from each phase start\n"
        f'(times {tz}; a date marked "illustrative date" is not decided)',
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(outdir / "rollout_timeline.png")
    plt.close(fig)
