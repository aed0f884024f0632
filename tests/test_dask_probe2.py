"""Datasets changed behind geotarget's back, against the in-memory Targeter as the oracle.

The oracle reads every file with pyarrow directly (not geotarget's reader), builds a
:class:`~geotarget.Positions` of all devices and targets the same alert in memory; the Dask
path must give the same result (verdict, recipients, counts, per-county counts, claims). The
cluster is the shared ``client`` fixture (a ``LocalCluster`` of two worker processes): it fails
in CI (``CI=true``) and skips locally only when it cannot start.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from targeting_helpers import T0, assert_same_result, make_alert, make_regions, policy

from geotarget import Circle, PositionIndex, Positions, pilot
from geotarget.targeting import Outcome, Targeter

if os.environ.get("CI") != "true":  # in CI a missing extra fails at the import below
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    pytest.importorskip("pyarrow", reason="the dask extra is not installed")
import pyarrow as pa
import pyarrow.parquet as pq

from geotarget.dask import DaskTargeter, PartitionedPositions, write_partitioned


def _targeter(**kw: Any) -> Targeter:
    start = T0 - dt.timedelta(days=1)
    return Targeter(make_regions(), policy({"explosion": [(start, ("XX",))]}), **kw)


def _everyone(root: Path) -> Positions:
    """Every device of every Parquet file under ``root``, read with pyarrow alone."""
    ids: list[Any] = []
    cols: dict[str, list[Any]] = {"lon": [], "lat": [], "accuracy_m": []}
    observed: list[Any] = []
    for path in sorted(root.rglob("*.parquet")):
        t = pq.read_table(path)
        ids += t["id"].to_pylist()
        for name, values in cols.items():
            values += [np.nan if v is None else v for v in t[name].to_pylist()]
        observed += t["observed_at"].to_pylist()
    return Positions(
        ids,
        np.array(cols["lon"], dtype=float),
        np.array(cols["lat"], dtype=float),
        accuracy_m=np.array(cols["accuracy_m"], dtype=float),
        observed_at=observed,
    )


def test_a_rewrite_that_took_fixes_away_under_old_metadata_is_read(
    client: Any, tmp_path: Path
) -> None:
    """A file rewritten with pyarrow, its ``geotarget`` metadata kept, two fixes now null.

    The row count and the remaining fixes still agree with the old metadata (``no_fix`` 0),
    so the file was pruned for an alert 40 km away and its two devices without a fix counted
    ``OUTSIDE_AREA`` instead of ``NO_FIX``; for a kind that tells devices without a fix they
    were not told at all. Nulls are in the footer's statistics: such metadata is not trusted.
    """
    n = 6
    far = Positions(
        [f"f{i}" for i in range(n)] + ["n0", "n1"],
        [17.1 + i * 0.01 for i in range(n)] + [18.0, 18.001],
        [59.9] * n + [59.5, 59.5],
        accuracy_m=[5.0] * (n + 2),
        observed_at=T0,
    )
    root = tmp_path / "ds"
    write_partitioned(far, root, cell_deg=0.25)
    (path,) = [p for p in root.rglob("*.parquet") if pq.read_metadata(p).num_rows == n]
    table = pq.read_table(path)
    assert b"geotarget" in (table.schema.metadata or {})
    for name in ("lon", "lat", "accuracy_m"):
        values = table[name].to_pylist()
        values[0] = values[1] = None
        table = table.set_column(table.column_names.index(name), name, pa.array(values))
    pq.write_table(table, path)  # the metadata travels with the table's schema
    assert b"geotarget" in (pq.read_metadata(path).metadata or {})

    everyone = _everyone(root)
    alert = make_alert("explosion", Circle(18.0, 59.5, 2000.0), ident="e1")
    got = DaskTargeter(_targeter(), PartitionedPositions(root), client).target(alert, T0)
    want = _targeter().target(alert, PositionIndex(everyone), T0)
    assert_same_result(got, want)
    assert got.counts[Outcome.NO_FIX] == 2

    rules = {"explosion": attrs.evolve(pilot.KIND_RULES["explosion"], include_no_fix=True)}
    alert = make_alert("explosion", Circle(18.0, 59.5, 2000.0), ident="e2")
    dk = DaskTargeter(_targeter(location_rules=rules), PartitionedPositions(root), client)
    got = dk.target(alert, T0)
    want = _targeter(location_rules=rules).target(alert, PositionIndex(everyone), T0)
    assert_same_result(got, want)
    assert {"f0", "f1"} <= set(got.recipients.tolist())


def test_a_file_the_file_system_refuses_is_named_not_an_os_error(
    client: Any, tmp_path: Path
) -> None:
    """A partition file that ``stat`` refuses is an InvalidInput naming it, wherever met.

    Here a loop of symbolic links; a permission refused or a network file system's I/O error
    take the same path.

    It was a bare ``OSError`` (``[Errno 40] Too many levels of symbolic links``) from listing
    the dataset, from stat-ing the files an alert reads, and from the worker's read, where
    an ``OSError`` is what the cluster raises when it loses work.
    """
    from geotarget.dask import _load, _Refused
    from geotarget.errors import InvalidInput

    positions = Positions(
        ["a", "b", "c"], [18.0, 18.06, 18.2], [59.5] * 3, accuracy_m=[1.0] * 3, observed_at=T0
    )
    root = tmp_path / "ds"
    write_partitioned(positions, root, cell_deg=0.05)
    dataset = PartitionedPositions(root, recheck_s=None)
    targeter = _targeter()
    dk = DaskTargeter(targeter, dataset, client)
    alert = make_alert("explosion", Circle(18.0, 59.5, 1000.0), ident="e1")
    assert dk.target(alert, T0).recipients.tolist() == ["a"]

    (near,) = [
        p.path for p in dataset.partitions if p.meta and p.meta.bounds and p.meta.bounds[0] == 18.0
    ]
    near.unlink()
    near.symlink_to(near.name)  # a link to itself
    refused = r"cell=\d+/part-0\.parquet: the file system refused it \(Too many levels"
    alert = make_alert("explosion", Circle(18.0, 59.5, 1000.0), ident="e2")
    with pytest.raises(InvalidInput, match=refused):
        dk.target(alert, T0)
    assert targeter.ledger.incident("polisen@example.se/e2") is None  # not admitted
    with pytest.raises(InvalidInput, match=refused):
        PartitionedPositions(root)
    # A worker meets it (removed and linked after the client listed it): refused, named.
    got = _load(str(near), (0, 0, 0, 0))
    assert isinstance(got, _Refused)
    with pytest.raises(InvalidInput, match=refused):
        raise got.error()


def test_a_branch_of_a_hive_dataset_that_lost_its_tester_column_is_refused(
    tmp_path: Path,
) -> None:
    """``write_dataset(partitioning=["tester", "region"])`` opened at ``tester=true/region=…``.

    A directory above the dataset's own named ``tester=``, so the files had lost the column:
    every device was read as a non-tester and a TEST alert reached nobody without a word. The
    whole dataset and its ``tester=true`` branch were refused; the branch one level deeper,
    and one file in it (also through ``read_parquet``), were not.
    """
    import pyarrow.dataset as pads

    from geotarget.dask import read_parquet
    from geotarget.errors import InvalidInput

    n = 8
    table = pa.table(
        {
            "id": [f"d{i}" for i in range(n)],
            "lon": [18.0 + i * 1e-4 for i in range(n)],
            "lat": [59.5] * n,
            "accuracy_m": [1.0] * n,
            "observed_at": pa.array([T0] * n, pa.timestamp("us", tz="UTC")),
            "tester": [i % 2 == 0 for i in range(n)],
            "region": ["0102"] * (n // 2) + ["0201"] * (n - n // 2),
        }
    )
    root = tmp_path / "ds"
    pads.write_dataset(
        table, root, format="parquet", partitioning=["tester", "region"],
        partitioning_flavor="hive",
    )  # fmt: skip
    branch = root / "tester=true" / "region=0102"
    (file,) = branch.glob("*.parquet")
    lost = r"region=0102/part-0\.parquet: lacks column\(s\) tester, .*\(tester=\)"
    for opened in (root, root / "tester=true", branch, file):
        with pytest.raises(InvalidInput, match=lost):
            PartitionedPositions(opened)
    with pytest.raises(InvalidInput, match=lost):
        read_parquet(file)
    # Files that hold the column there are read by their values, as before.
    kept = tmp_path / "kept" / "tester=true" / "region=0102"
    kept.mkdir(parents=True)
    pq.write_table(table.drop_columns(["region"]), kept / "data.parquet")
    assert len(PartitionedPositions(kept)) == 1
    assert read_parquet(kept / "data.parquet").tester.tolist() == table["tester"].to_pylist()
