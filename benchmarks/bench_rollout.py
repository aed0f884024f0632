"""Canary hashing throughput: stable buckets for every device id, integer and string ids.

The peer is what a user would otherwise write: a Python loop computing each id's bucket from the
documented definition (BLAKE2b for strings, splitmix64 on Python integers). Both must give the same
buckets. No bar is set for rollout; the numbers are reported.
"""

from __future__ import annotations

import hashlib
from functools import partial

import numpy as np
from _harness import Report, Timing, best_of

from geotarget.rollout import canary_buckets

_M = (1 << 64) - 1
SALT, KIND = "geotarget", "crime_modus"


def _h(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def loop_str(ids: list[str]) -> list[int]:
    """One bucket per id, in a Python loop."""
    return [((_h(f"{SALT}/{KIND}/{i}") >> 32) * 10000) >> 32 for i in ids]


def loop_int(ids: list[int]) -> list[int]:
    """splitmix64 per id on Python integers."""
    seed = _h(f"{SALT}/{KIND}")
    out = []
    for i in ids:
        z = ((i & _M) ^ seed) + 0x9E3779B97F4A7C15 & _M
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _M
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _M
        out.append((((z ^ (z >> 31)) >> 32) * 10000) >> 32)
    return out


def run(quick: bool) -> Report:
    """Time integer ids (vectorized) and string ids (one hashlib call per id)."""
    report = Report()
    repeat = 3 if quick else 7
    n_int = 200_000 if quick else 1_200_000
    n_str = 50_000 if quick else 400_000
    rng = np.random.default_rng(16)
    ints = rng.integers(0, 2**63 - 1, n_int, dtype=np.int64)
    strs = np.array([f"{x:032x}" for x in rng.integers(0, 2**63 - 1, n_str)])

    for scenario, ids, peer, as_list in (
        (f"canary buckets: {n_int:,} integer ids", ints, loop_int, ints.tolist()),
        (f"canary buckets: {n_str:,} string ids (hex uuids)", strs, loop_str, strs.tolist()),
    ):
        ours = canary_buckets(ids, kind=KIND, salt=SALT)
        assert ours.tolist() == peer(as_list), "peer disagrees with canary_buckets"
        report.add(
            Timing(
                scenario,
                "geotarget canary_buckets",
                best_of(partial(canary_buckets, ids, kind=KIND, salt=SALT), repeat=repeat),
                len(as_list),
            )
        )
        report.add(
            Timing(
                scenario,
                "Python loop over ids",
                best_of(partial(peer, as_list), repeat=repeat),
                len(as_list),
                "same buckets",
            )
        )
    return report
