"""PostgreSQL confirmations: exact under concurrency, linear in the batch."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from functools import partial
from typing import Any

import numpy as np
import pytest

from geotarget.errors import StoreError
from geotarget.ledger import Confirmation, DeliveryKind, PostgresLedger

T0 = datetime(2024, 4, 15, 10, 0, tzinfo=timezone.utc)


def _at_once(calls: Sequence[Callable[[], Confirmation]]) -> list[Confirmation]:
    """Run the calls on threads released together; their results, in order (errors re-raised)."""
    go = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        go.wait()
        try:
            out[i] = calls[i]()
        except BaseException as err:  # re-raised on the main thread
            out[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in out:
        if isinstance(r, BaseException):
            raise r
    return out


@pytest.mark.parametrize("how", ["keys", "devices", "retractions"])
def test_two_postgres_handles_confirming_at_once_confirm_each_delivery_once(
    postgres_dsn: str, how: str
) -> None:
    """Guarantee 3 across instances: of two concurrent confirms, one says confirmed, one already.

    Each round, two handles confirm overlapping sets (in different orders) of one incident's
    deliveries on two threads released together. Every delivery is reported ``confirmed`` by
    exactly one of them and ``already`` by the other if both named it; neither fails (no
    deadlock). Before the fix, a read taken before the UPDATE made both say ``confirmed``.
    """
    n = 2_000
    rng = np.random.default_rng(7)
    with PostgresLedger(postgres_dsn) as a, PostgresLedger(postgres_dsn) as b:
        for r in range(12):
            inc = f"inc{r}"
            ids = [f"d{i}" for i in range(n)]
            claims = a.claim(inc, ids, version="v", at=T0)
            kind = DeliveryKind.ALERT
            if how == "retractions":
                claims = a.retract(inc, version="c", at=T0)
                kind = DeliveryKind.RETRACTION
            items = claims.keys() if how == "keys" else claims.devices
            assert items.size == n
            # Half the rounds the same items; the others overlapping halves, shuffled.
            if r % 2:
                mine, theirs = items[: 3 * n // 4], items[n // 4 :]
            else:
                mine, theirs = items, items
            mine, theirs = rng.permutation(mine), rng.permutation(theirs)
            both = np.intersect1d(mine, theirs).size

            if how == "keys":
                calls = [partial(s.confirm, k, at=T0) for s, k in ((a, mine), (b, theirs))]
            else:
                calls = [
                    partial(s.confirm_devices, inc, d, at=T0, kind=kind)
                    for s, d in ((a, mine), (b, theirs))
                ]
            got = _at_once(calls)
            confirmed = [
                set(mine[got[0].confirmed].tolist()),
                set(theirs[got[1].confirmed].tolist()),
            ]
            assert len(confirmed[0]) + len(confirmed[1]) == n, f"round {r}"
            assert not confirmed[0] & confirmed[1], f"round {r}: confirmed by both"
            assert sum(len(g.already) for g in got) == both, f"round {r}"
            assert all(len(g.unknown) == 0 for g in got)
            assert len(a.confirm(claims.keys(), at=T0).already) == n  # stored once each


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def test_postgres_confirming_a_large_batch_takes_time_linear_in_it(postgres_dsn: str) -> None:
    """Confirming 60,000 keys (and devices) costs about ten 6,000-key confirms, not a hundred.

    The bound is relative to 6,000-key confirms in the same run (30 times, plus a second), so
    a slow machine does not fail it; a quadratic plan (a nested loop comparing every claim with
    every key: minutes for 60,000) does. A statement timeout at the bound ends such a plan.
    """
    small, large = 6_000, 60_000
    with PostgresLedger(postgres_dsn) as store:
        singles, devices = [], []
        for i in range(3):
            keys = store.claim(f"s{i}", np.arange(small), version="v", at=T0).keys()
            singles.append(_timed(partial(store.confirm, keys, at=T0)))
            store.claim(f"t{i}", np.arange(small), version="v", at=T0)
            devices.append(_timed(partial(store.confirm_devices, f"t{i}", np.arange(small), at=T0)))
        bound = 30 * max(statistics.median(singles), statistics.median(devices)) + 1.0
    dsn = postgres_dsn.replace("options='", f"options='-c statement_timeout={int(bound * 1000)} ")
    with PostgresLedger(dsn) as store:
        keys = store.claim("big", np.arange(large), version="v", at=T0).keys()
        store.claim("bigd", np.arange(large), version="v", at=T0)
        try:
            took = _timed(partial(store.confirm, keys, at=T0))
            took_devices = _timed(partial(store.confirm_devices, "bigd", np.arange(large), at=T0))
        except StoreError as err:
            pytest.fail(f"a {large}-key confirm ran past {bound:.2f} s: {err}")
        assert took < bound, (took, singles)
        assert took_devices < bound, (took_devices, devices)
        assert len(store.confirm(keys, at=T0).already) == large
