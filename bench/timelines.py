"""Record times and timelines of generated invoice histories (pure, no I/O):
what the read benchmark loads so that ``asOf`` and ``knownAt`` have data to
answer from, as the worker would have left it.

- **Record times.** The service applies an event shortly after it is emitted
  (its envelope ``time``): a lag of seconds (the publisher, the log, the
  worker's batch), and for a few events days (a payment imported late, an
  outage upstream). An invoice's events apply in sequence order, so a late
  event delays the ones after it (they are held until it arrives). Events that
  would be recorded after ``now`` have not arrived yet: the history is cut
  there, as a live service's would be.
- **Timelines.** Each group of an invoice's events recorded at the same time
  is one step of the fold: it writes the difference between the invoice's
  timeline before and after the step (projections/timeline.py), dated by
  business day and recorded at the step's time, exactly as
  ``projections.batch.BatchFold`` does for a batch, with the service's own
  state machine and timeline functions.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import NamedTuple

from contracts import Decoded, InvoiceCreated, InvoiceEvent, invoice_amounts
from projections.batch import InvoiceChange, Payment
from projections.histories import fold_history
from projections.invoice import InvoiceState

# The usual lag from an event's emission to its application (exponential).
RECORD_LAG_MEAN_SECONDS = 20.0
# Events (after an invoice's first) that arrive days late, and how late.
LATE_RECORD_SHARE = 0.03
LATE_RECORD_DAYS = (1.0, 10.0)


def record_times(history: Sequence[InvoiceEvent], rng: random.Random, now: dt.datetime) -> list[dt.datetime]:
    """When the service applied each event of ``history`` (sequence order):
    non-decreasing, each at or after its event's time, none after ``now``. The
    list is shorter than the history when its later events are not recorded
    yet (empty: the invoice does not exist yet)."""
    times: list[dt.datetime] = []
    for index, event in enumerate(history):
        if index and rng.random() < LATE_RECORD_SHARE:
            lag = dt.timedelta(days=rng.uniform(*LATE_RECORD_DAYS))
        else:
            lag = dt.timedelta(seconds=rng.expovariate(1 / RECORD_LAG_MEAN_SECONDS))
        at = event.time + lag
        if times and at < times[-1]:
            at = times[-1]  # held until its predecessor was applied
        if at > now:
            break
        times.append(at)
    return times


class InvoiceTimeline(NamedTuple):
    """One invoice as the worker leaves it: its state (the invoice row), its
    timeline rows and its payments, each with its record time."""

    state: InvoiceState
    changes: list[InvoiceChange]
    payments: list[Payment]


def fold_recorded(
    history: Sequence[InvoiceEvent], recorded: Sequence[dt.datetime], partition: int
) -> InvoiceTimeline | None:
    """Fold the recorded prefix of ``history`` (``recorded[i]`` is when event
    i was applied) as a rebuild folds a stored history (projections/histories.py:
    the events recorded together as one step); None when nothing is recorded.
    The events must be a valid history (the generator's are)."""
    if not recorded:
        return None
    first = history[0]
    if not isinstance(first, InvoiceCreated):
        raise ValueError(f"a history starts with {InvoiceCreated.__name__}, not {type(first).__name__}")
    amounts = invoice_amounts(first.data)
    steps = (
        (partition, Decoded(event, amounts if index == 0 else None), at)
        for index, (event, at) in enumerate(zip(history, recorded, strict=False))
    )
    return InvoiceTimeline(*fold_history(steps))


def month_end_before(today: dt.date) -> dt.date:
    """The last day of the month before ``today``'s: the month-end a close reports."""
    return today.replace(day=1) - dt.timedelta(days=1)


CLOSE_HOUR = 9


def close_instant(as_of: dt.date, oldest: dt.datetime, newest: dt.datetime) -> dt.datetime:
    """When a finance team pulls the report of ``as_of`` at the close: the
    morning after it, or, when that has not come yet (the data's newest
    record is before it), halfway between the end of the day and the newest
    record. Whole seconds, within [oldest, newest]."""
    end_of_day = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), dt.UTC)
    morning = end_of_day + dt.timedelta(hours=CLOSE_HOUR)
    at = morning if morning <= newest else end_of_day + (newest - end_of_day) / 2
    return _whole_second(min(max(at, oldest), newest), oldest)


def midpoint(oldest: dt.datetime, newest: dt.datetime) -> dt.datetime:
    """Halfway through the record-time range, in whole seconds."""
    return _whole_second(oldest + (newest - oldest) / 2, oldest)


def _whole_second(at: dt.datetime, oldest: dt.datetime) -> dt.datetime:
    """``at`` without its fraction of a second, not before ``oldest`` (a
    ``knownAt`` before the oldest record is a 400)."""
    whole = at.replace(microsecond=0)
    return whole if whole >= oldest else whole + dt.timedelta(seconds=1)


def rfc3339(instant: dt.datetime) -> str:
    """``2026-11-30T12:00:00Z`` (UTC, whole seconds): safe in a query string as it is."""
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
