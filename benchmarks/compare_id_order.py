"""The covered devices' ids in id order, two ways, on a Stockholm-municipality answer.

``Targeter.target`` hands the store of deliveries its batch of ids sorted. Over
``bench_targeting``'s snapshot (1.2 M devices, distinct random int64 ids in no order), for the
rows of a Stockholm-municipality query (about 37,000, ascending as a classification returns
them), best of seven in microseconds:

* *ids sorted as gathered*: gather the ids in row order, sort them with ``np.sort`` (what the
  Targeter did before);
* *rows by id place*: order the rows by the place of their ids (``Positions.id_order``: the
  snapshot's ranks of its ids, sorted by 16-bit digits), then gather the ids, now scattered
  over the snapshot (``Positions.sorted_ids``, what it does now).

Both answers are checked equal::

    python benchmarks/compare_id_order.py
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from typing import Any

import numpy as np
from bench_targeting import _positions

from geotarget import PositionIndex, sweden


def _best_us(f: Callable[[], Any]) -> float:
    number = 20
    return min(timeit.repeat(f, number=number, repeat=7)) / number * 1e6


def main() -> None:
    """Measure and print."""
    positions = _positions(1_200_000)
    index = PositionIndex(positions)
    rows = index.query(sweden.municipalities().union(["0180"]))

    def as_gathered() -> Any:
        ids = positions.ids.take(rows)
        ids.sort()
        return ids

    def by_place() -> Any:
        return positions.sorted_ids(rows)

    assert np.array_equal(by_place(), as_gathered())
    assert np.array_equal(by_place(), np.sort(positions.ids[rows]))
    print(f"{rows.size:,} rows of a Stockholm-municipality query, 1,200,000 devices:")
    print(f"ids sorted as gathered:           {_best_us(as_gathered):8.1f} µs")
    print(f"rows by id place, then their ids: {_best_us(by_place):8.1f} µs")


if __name__ == "__main__":
    main()
