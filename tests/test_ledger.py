"""Delivery ledgers: exactly-once per (incident, device), durable across restarts and crashes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import InvalidInput, InvalidType
from geotarget.ledger import DeliveryLedger, MemoryLedger, SQLiteLedger

T0 = datetime(2024, 4, 15, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeliveryLedger]:
    """Each ledger implementation, fresh."""
    if request.param == "memory":
        yield MemoryLedger()
    else:
        with SQLiteLedger(tmp_path / "ledger.db") as db:
            yield db


def test_claim_returns_only_new_devices_in_input_order(ledger: DeliveryLedger) -> None:
    """A second claim for the same incident returns only the devices not yet told."""
    assert ledger.claim("inc", ["b", "a", "7"], alert_id="v1", at=T0).tolist() == ["b", "a", "7"]
    assert ledger.claim("inc", ["c", "a", "7", "c"], alert_id="v2", at=T0).tolist() == ["c"]
    assert ledger.recipients("inc").tolist() == ["b", "a", "7", "c"]


def test_int_and_its_text_are_one_device(ledger: DeliveryLedger) -> None:
    """Device 7 and device "7" are one device across calls; "007" is another; one call is one kind."""
    assert ledger.claim("inc", [7, -3], alert_id="v1", at=T0).tolist() == [7, -3]
    assert ledger.claim("inc", ["7", "007", "-3", "-0"], alert_id="v2", at=T0).tolist() == [
        "007",
        "-0",
    ]
    assert ledger.claim("inc", np.array([0, 7]), alert_id="v3", at=T0).tolist() == [0]
    assert ledger.delivered("inc", ["7", "007", "0", "8"]).tolist() == [True, True, True, False]
    assert ledger.delivered("inc", [7, 8]).tolist() == [True, False]
    assert ledger.recipients("inc").tolist() == ["7", "-3", "007", "-0", "0"]
    big = 2**63 - 1
    assert ledger.claim("big", [big], alert_id="v1", at=T0).tolist() == [big]
    assert ledger.claim("big", [str(big), str(2**63)], alert_id="v2", at=T0).tolist() == [
        str(2**63)
    ]
    with pytest.raises(InvalidType, match="all str or all int"):
        ledger.claim("inc", [8, "8"], alert_id="v4", at=T0)


@settings(max_examples=100, deadline=None)
@given(
    batches=st.lists(
        st.lists(
            st.one_of(st.integers(-20, 20), st.sampled_from(["1", "-2", "01", "x", "+3", "-0"])),
            max_size=12,
        ),
        max_size=6,
    )
)
def test_memory_ledger_identity_is_canonical_text(batches: list[list[int | str]]) -> None:
    """Claims agree with a set oracle over str(id), whatever mix of int and str calls."""
    ledger = MemoryLedger()
    seen: list[str] = []
    for batch in batches:
        for kind in (int, str):
            ids = [d for d in batch if isinstance(d, kind)]
            if not ids:
                continue
            expected = [d for d in dict.fromkeys(ids) if str(d) not in seen]
            seen += [str(d) for d in expected]
            assert ledger.claim("inc", ids, alert_id="v", at=T0).tolist() == expected
    assert ledger.recipients("inc").tolist() == seen


def test_longer_string_ids_after_shorter_ones_stay_whole(ledger: DeliveryLedger) -> None:
    """A long id claimed after short ones is remembered whole, not truncated to their width."""
    ledger.claim("inc", ["d0"], alert_id="v1", at=T0)
    assert ledger.claim("inc", ["walker"], alert_id="v2", at=T0).tolist() == ["walker"]
    assert ledger.claim("inc", ["walker", "wa"], alert_id="v3", at=T0).tolist() == ["wa"]


def test_incidents_are_independent(ledger: DeliveryLedger) -> None:
    """Delivering one incident does not mark devices for another."""
    ledger.claim("one", ["a"], alert_id="v1", at=T0)
    assert ledger.claim("two", ["a"], alert_id="v1", at=T0).tolist() == ["a"]
    assert ledger.delivered("one", ["a", "b"]).tolist() == [True, False]


def test_numpy_ids_and_duplicates_in_a_batch(ledger: DeliveryLedger) -> None:
    """Numpy arrays of ids work, and a duplicate inside one batch is delivered once."""
    got = ledger.claim("inc", np.array([5, 6, 5, 7]), alert_id="v1", at=T0)
    assert got.tolist() == [5, 6, 7]
    assert ledger.claim("inc", np.array([9, 7, 8]), alert_id="v2", at=T0).tolist() == [9, 8]
    assert ledger.delivered("inc", np.array([7, 8, 10])).tolist() == [True, True, False]


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(st.lists(st.integers(0, 50), max_size=30), max_size=8))
def test_memory_ledger_equals_a_set_oracle(batches: list[list[int]]) -> None:
    """Each claim returns exactly the ids not seen before, in first-seen order (set oracle)."""
    ledger = MemoryLedger()
    seen: set[int] = set()
    for batch in batches:
        expected = [d for d in dict.fromkeys(batch) if d not in seen]
        seen |= set(batch)
        assert (
            ledger.claim("inc", np.array(batch, dtype=np.int64), alert_id="v", at=T0).tolist()
            == expected
        )
    assert sorted(ledger.recipients("inc").tolist()) == sorted(str(d) for d in seen)


def test_bad_arguments_are_rejected_before_anything_is_recorded(ledger: DeliveryLedger) -> None:
    """Bad ids, empty incidents and naive datetimes raise and record nothing."""
    with pytest.raises(InvalidType, match=r"device_ids\[1\] must be a str or an int"):
        ledger.claim("inc", ["a", 1.5], alert_id="v1", at=T0)  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="incident must be a non-empty str"):
        ledger.claim("", ["a"], alert_id="v1", at=T0)
    with pytest.raises(InvalidInput, match="timezone-aware"):
        ledger.claim("inc", ["a"], alert_id="v1", at=datetime(2024, 4, 15))
    assert ledger.recipients("inc").tolist() == []


def test_sqlite_ledger_survives_a_restart(tmp_path: Path) -> None:
    """Deliveries recorded before closing are known after reopening the file."""
    path = tmp_path / "ledger.db"
    with SQLiteLedger(path) as first:
        first.claim("inc", ["a", "b"], alert_id="v1", at=T0)
    with SQLiteLedger(path) as second:
        assert second.claim("inc", ["a", "b", "c"], alert_id="v2", at=T0).tolist() == ["c"]
        assert second.recipients("inc").tolist() == ["a", "b", "c"]


def test_sqlite_ledger_uses_wal(tmp_path: Path) -> None:
    """The database runs in WAL mode."""
    path = tmp_path / "ledger.db"
    SQLiteLedger(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


WRITER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    from geotarget.ledger import SQLiteLedger
    ledger = SQLiteLedger(sys.argv[1])
    at = datetime(2024, 4, 15, tzinfo=timezone.utc)
    for batch in range(10_000):
        ledger.claim("inc", [f"{batch}:{i}" for i in range(2000)], alert_id=str(batch), at=at)
        print(batch, flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_batch_loses_nothing_acknowledged_and_leaves_no_partial_batch(
    tmp_path: Path,
) -> None:
    """A writer killed with SIGKILL mid-batch: every acknowledged batch is whole, none partial."""
    path = tmp_path / "ledger.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acked: list[int] = []
    while len(acked) < 5:
        line = proc.stdout.readline()
        assert line, "writer ended early"
        acked.append(int(line))
    time.sleep(0.003)  # land the kill inside a later batch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    acked += [int(x) for x in proc.stdout.read().split()]
    proc.stdout.close()
    with SQLiteLedger(path) as ledger:
        rows = ledger.recipients("inc")
    per_batch: dict[str, int] = {}
    for device in rows.tolist():
        batch = str(device).split(":")[0]
        per_batch[batch] = per_batch.get(batch, 0) + 1
    assert all(n == 2000 for n in per_batch.values()), "a partial batch was committed"
    assert {str(b) for b in acked} <= set(per_batch), "an acknowledged batch was lost"
