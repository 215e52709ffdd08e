"""Lag in seconds: how long the oldest record a worker has not applied yet has
waited, per partition it owns (``billing_worker_lag_seconds``).

Definition. For an owned partition whose stored position is P (the next
offset to apply):

- 0 when P has reached the partition's high watermark as of the worker's
  latest fetch (everything published so far is applied);
- otherwise now minus the Kafka timestamp of the record at offset P, the
  oldest one not applied: CreateTime as the publisher set it, or the broker's
  LogAppendTime when the topic uses that.

The worker learns that timestamp from the records it fetches: each fetched
chunk of a partition starts right after the previous one, so the first record
of the chunk after the last applied one is the record at P. Until that chunk
arrives (a backlog longer than a batch), the timestamp of the last applied
record (at P - 1) stands in; it was appended before the record at P, so the
figure can only overstate the age, never hide it. The age is computed when
the metric is scraped, not when a batch commits, so it keeps rising while the
worker is stuck (database down, batches failing and retried). A partition
appears from the first fetch or commit after it was assigned and disappears
when it is revoked.

``billing status`` computes the same figure from the broker (it reads the
record at each stored position), for partitions whatever worker owns them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class RecordTimes:
    """Timestamps of the oldest unapplied record of each owned partition (see the module)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        # partition -> timestamp (ms) of the record at the stored position;
        # None: nothing left to apply. Absent: not known yet.
        self.oldest: dict[int, int | None] = {}
        # partition -> {first offset of a fetched chunk: its timestamp}, and
        # {last offset of a fetched chunk: its timestamp}: fetched, not applied.
        self._firsts: dict[int, dict[int, int]] = {}
        self._lasts: dict[int, dict[int, int]] = {}

    def fetched(self, partition: int, first: tuple[int, int], last: tuple[int, int], position: int | None) -> None:
        """A chunk of (offset, timestamp) ``first`` .. ``last`` was fetched;
        ``position`` is the partition's stored position now (None if not owned).
        An offset's timestamp never changes, so chunks fetched before a seek
        or a failed batch stay true; they are dropped once applied."""
        if position is None or last[0] < position:
            return
        self._firsts.setdefault(partition, {})[first[0]] = first[1]
        self._lasts.setdefault(partition, {})[last[0]] = last[1]
        if first[0] <= position:
            # This chunk holds the record at the stored position (the first
            # one it fetched after a seek, or new records after catching up).
            self.oldest[partition] = first[1] if first[0] == position else self.oldest.get(partition, first[1])
        elif self.oldest.get(partition, 0) is None:
            # Caught up before, and a later chunk arrived first: the records
            # in between are newer than the one that was applied last.
            self.oldest[partition] = first[1]

    def applied(self, partition: int, position: int, end_offset: int | None) -> None:
        """Records up to ``position`` - 1 committed; ``end_offset`` is the
        high watermark of the latest fetch (None if unknown)."""
        firsts = self._firsts.get(partition, {})
        lasts = self._lasts.get(partition, {})
        if end_offset is not None and position >= end_offset:
            self.oldest[partition] = None
        elif position in firsts:
            self.oldest[partition] = firsts[position]
        elif position - 1 in lasts:
            self.oldest[partition] = lasts[position - 1]
        # else: keep the older timestamp it had (an overstatement, never an understatement).
        for offset in [o for o in firsts if o < position]:
            del firsts[offset]
        for offset in [o for o in lasts if o < position - 1]:
            del lasts[offset]

    def caught_up(self, partition: int, position: int, end_offset: int | None) -> None:
        """An idle moment: if nothing is left to apply, the lag is 0."""
        if end_offset is not None and position >= end_offset:
            self.oldest[partition] = None

    def revoked(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.oldest.pop(partition, None)
            self._firsts.pop(partition, None)
            self._lasts.pop(partition, None)

    def snapshot(self) -> Mapping[tuple[str, int], int | None]:
        """(topic, partition) -> oldest unapplied timestamp, for the metric."""
        return {(self.topic, partition): oldest for partition, oldest in list(self.oldest.items())}
