"""Lanes: a fetched batch split by partition for transactions that run at the
same time.

Each lane holds whole partitions, so every partition's records still apply in
offset order and its position still moves in the transaction that writes its
rows. Two lanes are two transactions on two sessions, exactly as two workers
owning those partitions would run them: an invoice whose events came through
partitions of both lanes is the cross-partition case the stranded check
already settles (services/worker/stranded.py), and the summed tables are kept
per partition, so the lanes meet only on the few rows keyed without one (a
customer's standing), where one waits for the other's commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from projections.batch import Incoming


def split(items: Sequence[Incoming], lanes: int) -> list[list[Incoming]]:
    """``items`` in at most ``lanes`` non-empty lanes of whole partitions, the
    busiest partitions first, each to the lane with the fewest records so far;
    each lane keeps the items' order."""
    sizes = Counter(item.position.partition for item in items)
    loads = [0] * min(lanes, len(sizes))
    lane_of: dict[int, int] = {}
    for partition, size in sorted(sizes.items(), key=lambda entry: (-entry[1], entry[0])):
        lane = loads.index(min(loads))
        lane_of[partition] = lane
        loads[lane] += size
    split_items: list[list[Incoming]] = [[] for _ in loads]
    for item in items:
        split_items[lane_of[item.position.partition]].append(item)
    return split_items
