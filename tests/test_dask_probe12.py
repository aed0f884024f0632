"""Datasets whose Parquet files are not all named ``*.parquet`` (probe 12).

Dask lists a dataset's ``.parquet``, ``.parq`` and ``.pq`` files (its ``read_parquet``
default); Hive names its output ``000000_0``. A file the listing passed over would leave its
devices out of every alert, silently. The oracle reads every file with pyarrow by what it
holds (the Parquet magic), not by the library's listing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from targeting_helpers import T0
from test_dask_probe11 import _alert, _frame, _targeter

from geotarget.targeting import Outcome, Verdict

pytest.importorskip("dask.distributed")

import pyarrow as pa
import pyarrow.parquet as pq

from geotarget.dask import DaskTargeter, PartitionedPositions
from geotarget.errors import InvalidInput


def _write(frame: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def _devices(root: Path) -> int:
    """Rows in every file under ``root`` that is Parquet by its content (not hidden)."""
    n = 0
    for path in root.rglob("*"):
        hidden = any(p.startswith((".", "_")) for p in path.relative_to(root).parts)
        if path.is_file() and not hidden and path.read_bytes()[:4] == b"PAR1":
            n += pq.read_metadata(path).num_rows
    return n


def test_parq_and_pq_files_in_any_case_are_read(client: Any, tmp_path: Path) -> None:
    frame = _frame(600, seed=3)
    _write(frame.iloc[:200], tmp_path / "a" / "part-0.parquet")
    _write(frame.iloc[200:400], tmp_path / "a" / "part-1.parq")
    _write(frame.iloc[400:500], tmp_path / "b" / "part-2.PQ")
    _write(frame.iloc[500:], tmp_path / "b" / "part-3.Parquet")
    (tmp_path / "b" / "README.txt").write_text("not a partition\n")  # not Parquet: passed over
    ds = PartitionedPositions(tmp_path)
    assert len(ds.partitions) == 4
    got = DaskTargeter(_targeter(), ds, client).target(_alert("pq-1"), T0)
    assert got.verdict is Verdict.DELIVER
    assert sum(got.counts.values()) == _devices(tmp_path) == 600
    assert got.counts[Outcome.INSIDE] > 0


@pytest.mark.parametrize("name", ["000000_0", "part-00000", "part-0.snappy"])
def test_a_parquet_file_of_another_name_is_refused_naming_it(tmp_path: Path, name: str) -> None:
    frame = _frame(50, seed=4)
    _write(frame.iloc[:25], tmp_path / "dt=2025-05-01" / "part-0.parquet")
    _write(frame.iloc[25:], tmp_path / "dt=2025-05-01" / name)
    with pytest.raises(InvalidInput, match=rf"dt=2025-05-01/{name}: a Parquet file whose name"):
        PartitionedPositions(tmp_path)


def test_a_misnamed_file_added_later_is_refused_at_the_next_listing(tmp_path: Path) -> None:
    frame = _frame(40, seed=5)
    _write(frame.iloc[:20], tmp_path / "x" / "part-0.parquet")
    ds = PartitionedPositions(tmp_path, recheck_s=0)
    assert _devices(tmp_path) == 20
    _write(frame.iloc[20:], tmp_path / "x" / "000001_0")
    with pytest.raises(InvalidInput, match=r"x/000001_0: a Parquet file whose name"):
        ds.refresh()
    with pytest.raises(InvalidInput, match=r"000001_0"):
        ds.current()


def test_a_dataset_of_hive_files_only_is_refused_naming_one(tmp_path: Path) -> None:
    _write(_frame(10, seed=6), tmp_path / "000000_0")
    with pytest.raises(InvalidInput, match=r"000000_0: a Parquet file whose name"):
        PartitionedPositions(tmp_path)


# --- a table format's directory is not a dataset ------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "what"),
    [
        ("_delta_log/00000000000000000001.json", "a Delta Lake table"),
        (".hoodie/hoodie.properties", "an Apache Hudi table"),
        ("metadata/version-hint.text", "an Apache Iceberg table"),
    ],
)
def test_a_table_formats_directory_keeping_old_versions_is_refused(
    tmp_path: Path, marker: str, what: str
) -> None:
    """Version 0 wrote a device at one place; version 1 rewrote its file with it moved.

    Both files are still in the directory (until VACUUM), and only the table's log says which
    is current: read as a dataset, the device would be in two partitions, or (had version 1
    deleted it) told where it was an hour ago. The table, or a branch of it, is refused.
    """
    frame = _frame(20, seed=7)
    table = tmp_path / "positions"
    _write(frame, table / "region=01" / "part-00000-v0.snappy.parquet")
    moved = frame.assign(lon=frame.lon + 0.01)
    _write(moved, table / "region=01" / "part-00000-v1.snappy.parquet")
    (table / marker).parent.mkdir(parents=True, exist_ok=True)
    (table / marker).write_text("{}\n")
    for root in (table, table / "region=01"):
        with pytest.raises(InvalidInput, match=rf"positions: {what} \(it holds "):
            PartitionedPositions(root)
    # The current version written out as Parquet (the refusal's advice) is a dataset.
    _write(moved, tmp_path / "export" / "part-0.parquet")
    assert len(PartitionedPositions(tmp_path / "export").partitions) == 1
