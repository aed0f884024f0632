"""The cluster's guard weighs the info blocks that begin later before it reads any partition.

An Explosion over a 500 m circle now, with blocks over an 8 km circle beginning in 30 minutes
(201 km², over a 100 km² ``max_area_km2``), is held by the blast-radius guard until a person
confirms it (``Targeter.target``). On the cluster it must be held without reading the dataset:
no index is built for it, and a bad partition beside it does not turn the verdict into that
partition's error. Confirmed, it reads the dataset and meets the bad partition, as any alert
does. Oracle: the in-memory Targeter's verdict, and the area of the circles by pyproj.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pyproj
import pytest
from targeting_helpers import SENDER, T0, make_regions, message

from geotarget import Circle, PositionIndex, Positions, pilot
from geotarget.alerts import Alert, AlertArea
from geotarget.rollout import nationwide
from geotarget.targeting import KindRules, Targeter, Verdict

pytest.importorskip("distributed", reason="the dask extra is not installed")

from geotarget.dask import DaskTargeter, PartitionedPositions, write_partitioned

NOW, LATER = Circle(17.5, 59.5, 500.0), Circle(17.5, 59.5, 8_000.0)


def _later_block() -> Alert:
    first = pilot.explosion(
        identifier="held-1", sender=SENDER, sent=T0, area=NOW, sv=message("sv"),
        en=message("en"), onset=T0, expires=T0 + dt.timedelta(hours=2),
    )  # fmt: skip
    wider = [
        attrs.evolve(
            i, onset=T0 + dt.timedelta(minutes=30), areas=[AlertArea.from_area("wider", LATER)]
        )
        for i in first.infos
    ]
    return attrs.evolve(first, infos=(*first.infos, *wider))


def _rules() -> dict[str, KindRules]:
    return {"explosion": attrs.evolve(pilot.KIND_RULES["explosion"], max_area_km2=100.0)}


def test_an_alert_held_for_its_later_blocks_reads_no_partition(client: Any, tmp_path: Path) -> None:
    # The oracle: the 8 km circle is over the limit, the 500 m one under it.
    rim = pyproj.Geod(ellps="WGS84").fwd(
        np.full(4096, LATER.lon),
        np.full(4096, LATER.lat),
        np.linspace(0, 360, 4096),
        np.full(4096, 8_000.0),
    )
    km2 = abs(pyproj.Geod(ellps="WGS84").polygon_area_perimeter(rim[0], rim[1])[0]) / 1e6
    assert km2 > 100.0 > 3.15 * 0.5**2

    rng = np.random.default_rng(14)
    n = 200
    lon, lat = rng.uniform(17.45, 17.55, n), rng.uniform(59.48, 59.52, n)
    devices = Positions(np.arange(n), lon, lat, accuracy_m=np.full(n, 5.0), observed_at=T0)
    write_partitioned(devices, tmp_path / "ds", cell_deg=0.05)
    bad = tmp_path / "ds" / "bad.parquet"  # a latitude of 99: reading it is an error
    pq.write_table(
        pa.table({"id": [10_000], "lon": [17.5], "lat": [99.0], "accuracy_m": [5.0],
                  "observed_at": pa.array([T0.replace(tzinfo=None)], pa.timestamp("us", tz="UTC"))}),
        bad,
    )  # fmt: skip

    def targeter() -> Targeter:
        return Targeter(make_regions(), nationwide("XX"), location_rules=_rules())

    alert = _later_block()
    want = targeter().target(alert, PositionIndex(devices), T0)
    assert want.verdict is Verdict.BLAST_RADIUS, want.reason
    dk = DaskTargeter(targeter(), PartitionedPositions(tmp_path / "ds", recheck_s=0), client)
    got = dk.target(alert, T0)
    assert got.verdict is Verdict.BLAST_RADIUS, got.reason
    assert got.reason == want.reason
    # Confirmed, it is evaluated over the dataset: the bad partition is read, and refused.
    with pytest.raises(Exception, match=r"bad\.parquet"):
        dk.target(alert, T0, confirm=True)
