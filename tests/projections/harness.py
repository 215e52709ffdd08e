"""Runs the pure fold over several batches, carrying what the database would
carry between them (states, held events, summed deltas) in plain dicts. It
stands in for nothing: it is how the unit tests observe the fold's output.
The sums are those the store adds up from each batch's timeline rows
(projections/store.py CHANGE_SUMS), computed again here."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from contracts import InvoiceEvent, encode
from projections.batch import BatchFold, BatchResult, InvoiceKey, Pending
from projections.figures import NO_FIGURES, Figures
from projections.invoice import InvoiceState
from projections.projector import RawRecord, incoming
from projections.timeline import AGING_THRESHOLDS

TOPIC = "invoice-events"


def record(event: InvoiceEvent | bytes, offset: int = 0, partition: int = 0, key: bytes | None = None) -> RawRecord:
    if isinstance(event, bytes):
        return RawRecord(TOPIC, partition, offset, key, event)
    return RawRecord(TOPIC, partition, offset, key or event.subject.encode(), encode(event))


class Harness:
    def __init__(self) -> None:
        self.states: dict[InvoiceKey, InvoiceState] = {}
        self.held: dict[InvoiceKey, dict[int, Pending]] = {}
        self.sums: dict[str, dict[Any, Figures]] = {
            "totals": {},
            "customer_totals": {},
            "receivable": {},
            "customer_receivable": {},
            "daily": {},
            "overdue_from": {},
        }
        self.outcomes: Counter[tuple[str, int, str, str]] = Counter()
        self.events: list[tuple[str, str, int]] = []
        self.quarantined: list[Any] = []
        self.offset = 0

    def fold(self, records: Sequence[RawRecord]) -> BatchResult:
        fold = BatchFold(self.states, {k: dict(v) for k, v in self.held.items()})
        for item in map(incoming, records):
            fold.add(item)
        result = fold.finish()
        for key, sequence in result.held_removed:
            del self.held[key][sequence]
        for key, pending in result.held_added:
            self.held.setdefault(key, {})[pending.event.sequence] = pending
        for name, deltas in summed_changes(result).items():
            sums = self.sums[name]
            for k, delta in deltas.items():
                sums[k] = sums.get(k, NO_FIGURES) + delta
        self.outcomes.update(result.outcomes)
        self.events.extend((e.tenant_id, e.invoice_id, e.sequence) for e in result.events)
        self.quarantined.extend(result.quarantined)
        return result

    def deliver(self, events: Iterable[InvoiceEvent | bytes], partition: int = 0) -> BatchResult:
        """All events as one batch of consecutive offsets."""
        records = []
        for event in events:
            records.append(record(event, self.offset, partition))
            self.offset += 1
        return self.fold(records)

    def outcome_counts(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for (_, _, outcome, reason), n in self.outcomes.items():
            counts[f"{outcome}:{reason}" if reason else outcome] += n
        return dict(counts)

    def summed(self, name: str, by: slice = slice(0, 2)) -> dict[Any, Figures]:
        """A sum table with the shard (partition) folded away; zero rows dropped."""
        return regrouped(self.sums[name], by)


def regrouped(sums: dict[Any, Figures], by: slice) -> dict[Any, Figures]:
    """Sums added up by the part ``by`` of their keys; zero rows dropped."""
    out: dict[Any, Figures] = {}
    for key, figures in sums.items():
        out[key[by]] = out.get(key[by], NO_FIGURES) + figures
    return {k: figures for k, figures in out.items() if figures != NO_FIGURES}


def summed_changes(result: BatchResult) -> dict[str, dict[Any, Figures]]:
    """A batch's timeline rows summed per row of each summed table (key: its
    key columns, partition last; the receivable tables keep the receivable
    figures only), rows whose sums cancel out left out."""
    out: dict[str, dict[Any, Figures]] = {
        name: {} for name in ("totals", "customer_totals", "receivable", "customer_receivable", "daily", "overdue_from")
    }

    def add(name: str, key: tuple[Any, ...], figures: Figures) -> None:
        out[name][key] = out[name].get(key, NO_FIGURES) + figures

    for c in result.changes:
        add("totals", (c.tenant_id, c.currency, c.partition), c.figures)
        add("customer_totals", (c.tenant_id, c.customer_id, c.currency, c.partition), c.figures)
        add("daily", (c.tenant_id, c.currency, c.day, c.partition), c.figures)
        part = c.figures.receivable_part()
        add("receivable", (c.tenant_id, c.currency, c.due_date, c.partition), part)
        add("customer_receivable", (c.tenant_id, c.customer_id, c.currency, c.due_date, c.partition), part)
        if part == NO_FIGURES:
            # As the write path: only a receivable change counts past due (an
            # invoice that never was receivable may be due at the calendar's end).
            continue
        for n in AGING_THRESHOLDS:
            from_day = max(c.day, c.due_date + dt.timedelta(days=n))
            add("overdue_from", (c.tenant_id, c.currency, n, from_day, c.partition), part)
    return {name: {k: f for k, f in sums.items() if f != NO_FIGURES} for name, sums in out.items()}
