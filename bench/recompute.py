"""The point-in-time baseline's arithmetic (pure, no I/O): the figures of
``GET /v1/summary?asOf=D&knownAt=T`` recomputed from the tenant's stored
events at request time, with no timeline.

The caller reads the events recorded by T (``stored_at <= T``) in each
invoice's sequence order; here each invoice's events dated by the end of D
(by their own business times: ``time`` of invoice.created, ``sent_at``,
``paid_at``, ``voided_at``) go through the service's state machine
(``first_state``, ``check_transition``, ``advance``), and the invoices as they
stood are summed with ``contribution``: every figure, overdue and aging at D,
and the dates of the SENT invoices. The business-time rule is defined here
again, on purpose: the product reads its answer from timelines
(projections/timeline.py), the baseline folds the events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import assert_never

import msgspec

from contracts import Decoded, InvoiceCreated, InvoiceEvent, InvoicePaid, InvoiceSent, InvoiceVoided, decode_stored
from projections.figures import RECEIVABLE, TOTALS, Figures, contribution
from projections.invoice import SENT, InvoiceState, advance, check_transition, first_state
from services.api.figures import SentDates
from services.api.v1.summaries.queries import Aged, CurrencySummary, Overdue

# Aging buckets by days past due (docs/figures.md#aging): 1-30, 31-60, 61-90, 91+.
AGING_STARTS = (1, 31, 61, 91)
_OTHER_FIGURES = (0,) * (len(TOTALS) - len(RECEIVABLE))


def business_time(event: InvoiceEvent) -> dt.datetime:
    """The instant from which an event counts (docs/figures.md#as-of)."""
    match event:
        case InvoiceCreated():
            return event.time
        case InvoiceSent():
            return event.data.sent_at
        case InvoicePaid():
            return event.data.paid_at
        case InvoiceVoided():
            return event.data.voided_at
        case _:
            assert_never(event)


def end_of_day(day: dt.date) -> dt.datetime:
    """The first instant after ``day`` (UTC): an event counts as of ``day`` when it is before this."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)


def fold_at(events: Sequence[Decoded], partition: int, before: dt.datetime | None) -> InvoiceState | None:
    """One invoice as it stood just before ``before`` (None: with every
    event), from its events in sequence order; None when it did not exist yet."""
    state: InvoiceState | None = None
    for decoded in events:
        event = decoded.event
        if before is not None and business_time(event) >= before:
            if state is None:
                return None  # created later
            continue
        if state is None:
            state = first_state(event, decoded.amounts, partition)
        else:
            advance(state, event, check_transition(state, event))
    return state


class _Currency:
    """The running sums of one currency."""

    def __init__(self) -> None:
        self.totals = [0] * len(TOTALS)
        self.overdue = [0] * len(RECEIVABLE)
        self.aging = [[0, 0] for _ in AGING_STARTS]
        self.first_issue: dt.date | None = None
        self.latest_issue: dt.date | None = None
        self.latest_accounting: dt.date | None = None
        self.last_payment: tuple[dt.datetime, str, int] | None = None

    def add(self, state: InvoiceState, cutoff: dt.date) -> None:
        figures = msgspec.structs.astuple(contribution(state))
        self.totals = [a + b for a, b in zip(self.totals, figures, strict=True)]
        if state.receivable and state.due_date < cutoff:
            receivable = figures[-len(RECEIVABLE) :]
            self.overdue = [a + b for a, b in zip(self.overdue, receivable, strict=True)]
            days = (cutoff - state.due_date).days
            bucket = sum(1 for start in AGING_STARTS if days >= start) - 1
            self.aging[bucket][0] += 1
            self.aging[bucket][1] += state.balance
        if state.status != SENT:
            return
        issue, accounting = state.issue_date, state.accounting_date
        self.first_issue = issue if self.first_issue is None else min(self.first_issue, issue)
        self.latest_issue = issue if self.latest_issue is None else max(self.latest_issue, issue)
        self.latest_accounting = (
            accounting if self.latest_accounting is None else max(self.latest_accounting, accounting)
        )
        if state.last_paid_at is not None and state.last_payment_amount is not None:
            # The latest payment by paid_at; on a tie the larger invoice id (as the product orders them).
            payment = (state.last_paid_at, state.invoice_id, state.last_payment_amount)
            if self.last_payment is None or payment[:2] > self.last_payment[:2]:
                self.last_payment = payment

    def summary(self, currency: str) -> CurrencySummary:
        last = self.last_payment
        return CurrencySummary(
            currency=currency,
            totals=Figures(*self.totals),
            overdue=Overdue(
                receivable=Figures(*_OTHER_FIGURES, *self.overdue),
                aging=[Aged(count, balance) for count, balance in self.aging],
            ),
            dates=SentDates(
                first_issue_date=self.first_issue,
                latest_issue_date=self.latest_issue,
                latest_accounting_date=self.latest_accounting,
                last_paid_at=None if last is None else last[0],
                last_payment_amount=None if last is None else last[2],
                last_paid_invoice_id=None if last is None else last[1],
            ),
        )


def summaries(states: Iterable[InvoiceState], cutoff: dt.date) -> list[CurrencySummary]:
    """Per currency (in code order) of the invoices: every figure, overdue and
    aging as of ``cutoff``, the dates of the SENT ones."""
    by_currency: dict[str, _Currency] = {}
    for state in states:
        sums = by_currency.get(state.currency)
        if sums is None:
            sums = by_currency[state.currency] = _Currency()
        sums.add(state, cutoff)
    return [by_currency[code].summary(code) for code in sorted(by_currency)]


def invoice_events(rows: Iterable[tuple[str, int, bytes]]) -> Iterator[tuple[int, list[Decoded]]]:
    """Rows of (invoice id, partition, body) in invoice then sequence order ->
    each invoice's partition and decoded events."""
    current: str | None = None
    partition = 0
    events: list[Decoded] = []
    for invoice_id, row_partition, body in rows:
        if invoice_id != current:
            if current is not None:
                yield partition, events
            current, partition, events = invoice_id, row_partition, []
        events.append(decode_stored(body))
    if current is not None:
        yield partition, events


def summaries_at(
    rows: Iterable[tuple[str, int, bytes]], as_of: dt.date | None, cutoff: dt.date
) -> list[CurrencySummary]:
    """The /v1/summary figures from the stored events ``rows`` (already
    limited to those recorded by ``knownAt``) as of the end of ``as_of``
    (None: every event), overdue as of ``cutoff``."""
    before = None if as_of is None else end_of_day(as_of)
    states = (fold_at(events, partition, before) for partition, events in invoice_events(rows))
    return summaries((s for s in states if s is not None), cutoff)
