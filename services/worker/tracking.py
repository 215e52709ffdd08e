"""Where the worker stands on each partition it owns, without any I/O.

The stored positions (projections/positions.py) are the truth; this object
keeps the worker's copy of them and decides which fetched records may apply:

- ``expected``: the next offset to apply of each owned partition, as stored
  when the worker last sought or committed;
- ``generation``: bumped by every seek and revocation, so a batch fetched
  before one (its records may come from either side of it) is dropped and
  read again;
- ``needs_rewind``: set after any failure, when the consumer's fetch positions
  may have run ahead of the stored ones; nothing applies until the worker has
  sought back to them;
- offset gaps: a batch whose records do not start at the stored position is
  refused once (its records are read again from the stored position); the
  same gap seen again is real (transaction markers, compaction) and accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from projections.batch import Incoming

# A partition this worker does not own: no offset reaches it.
MISSING = 2**63


class OffsetGap(Exception):
    """A batch whose records do not start at the stored position."""


class PartitionTracker:
    """The worker's positions, generation and rewind state (see the module)."""

    def __init__(self) -> None:
        self.expected: dict[int, int] = {}
        self.generation = 0
        self.needs_rewind = False
        self._accepted_gaps: dict[int, tuple[int, int]] = {}

    def invalidate(self) -> None:
        """A seek begins: whatever was fetched before it must not be applied."""
        self.generation += 1

    def sought(self, stored: Mapping[int, int]) -> None:
        """The consumer now reads these partitions from these stored positions."""
        self.expected.update(stored)

    def revoked(self, partitions: Iterable[int]) -> None:
        """These partitions belong to another worker now."""
        self.generation += 1
        for partition in partitions:
            self.expected.pop(partition, None)

    def rewinding(self) -> None:
        """Every position is about to be read again from the database."""
        self.expected.clear()

    def is_current(self, generation: int) -> bool:
        """Whether a batch fetched under ``generation`` may still apply."""
        return generation == self.generation

    def to_apply(self, items: Sequence[Incoming]) -> list[Incoming]:
        """The records of a batch not applied yet, on owned partitions (each
        partition's in offset order). Raises OffsetGap when a partition's
        records do not start at its stored position, unless that very gap was
        refused once already: applying records beyond a gap would skip the
        ones in it."""
        fresh = [i for i in items if i.position.offset >= self.expected.get(i.position.partition, MISSING)]
        firsts: dict[int, int] = {}
        for item in fresh:
            firsts.setdefault(item.position.partition, item.position.offset)
        for partition, first in firsts.items():
            position = self.expected[partition]
            if first > position and self._accepted_gaps.get(partition) != (position, first):
                self._accepted_gaps[partition] = (position, first)
                raise OffsetGap(f"partition {partition}: stored position {position}, first record {first}")
        return fresh

    def applied(self, items: Sequence[Incoming]) -> dict[int, int]:
        """Records committed: each partition moves past its last one. Returns
        the new positions of the partitions they were on."""
        moved: dict[int, int] = {}
        for item in items:
            moved[item.position.partition] = item.position.offset + 1
        self.expected.update(moved)
        return moved

    def lag(self, partition: int, end_offset: int | None) -> int | None:
        """Records between the stored position and the partition's end, if both are known."""
        position = self.expected.get(partition)
        if end_offset is None or position is None:
            return None
        return max(end_offset - position, 0)
