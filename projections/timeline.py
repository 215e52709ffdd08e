"""One invoice's figures along business time (pure, no I/O).

An invoice exists from its ``invoice.created`` event's time, is SENT from
``sent_at``, VOIDED from ``voided_at``, and each payment counts from its
``paid_at`` (docs/figures.md#as-of). Its contribution to the summary figures
therefore changes only on the business days of those times, and the figures
of any set of invoices at the end of day D are the sum of their changes dated
on or before D.

The fold stores those changes: when a batch moves an invoice from one state to
another, what it writes is the difference between the two timelines, per
business day. Each batch's rows carry its record time (when this service
applied them), so the sum of the rows recorded by T is the timeline as it was
known at T.
"""

from __future__ import annotations

import datetime as dt
from typing import assert_never

import msgspec

from contracts import InvoiceCreated, InvoiceEvent, InvoicePaid, InvoiceSent, InvoiceVoided
from projections.figures import NO_FIGURES, Figures, contribution
from projections.invoice import DRAFT, SENT, VOIDED, InvoiceState

Changes = dict[dt.date, Figures]
"""Changes of an invoice's contribution, by the business day they take effect."""


def business_day(instant: dt.datetime) -> dt.date:
    """The UTC date of a business time: ``asOf=D`` covers instants up to the end of D."""
    return instant.astimezone(dt.UTC).date()


def event_day(event: InvoiceEvent) -> dt.date:
    """The business day from which an event counts."""
    match event:
        case InvoicePaid():
            return business_day(event.data.paid_at)
        case InvoiceCreated():
            return business_day(event.time)
        case InvoiceSent():
            return business_day(event.data.sent_at)
        case InvoiceVoided():
            return business_day(event.data.voided_at)
        case _:
            assert_never(event)


def state_on(state: InvoiceState, day: dt.date) -> InvoiceState | None:
    """The invoice as it stood at the end of ``day`` by its events' business
    times; None when it did not exist yet."""
    if state.created_at is None or business_day(state.created_at) > day:
        return None
    sent_at = state.sent_at if state.sent_at is not None and business_day(state.sent_at) <= day else None
    voided_at = state.voided_at if state.voided_at is not None and business_day(state.voided_at) <= day else None
    status = VOIDED if voided_at is not None else SENT if sent_at is not None else DRAFT
    paid = sum(
        amount
        for paid_at, amount in zip(state.payment_times, state.payment_amounts, strict=True)
        if business_day(paid_at) <= day
    )
    if paid == state.amount_paid and sent_at is state.sent_at and voided_at is state.voided_at:
        return state
    return msgspec.structs.replace(state, status=status, amount_paid=paid, sent_at=sent_at, voided_at=voided_at)


def figures_on(state: InvoiceState | None, day: dt.date) -> Figures:
    """The invoice's contribution at the end of ``day``."""
    return NO_FIGURES if state is None else contribution(state_on(state, day))


def change_days(state: InvoiceState) -> list[dt.date]:
    """The business days on which the invoice's state can change, in order."""
    instants = [state.created_at, state.sent_at, state.voided_at, *state.payment_times]
    return sorted({business_day(t) for t in instants if t is not None})


def snapshot(state: InvoiceState) -> InvoiceState:
    """A copy that later changes to ``state`` leave alone (the fold appends to
    its lists in place)."""
    return msgspec.structs.replace(
        state, payment_times=list(state.payment_times), payment_amounts=list(state.payment_amounts)
    )


def difference(before: InvoiceState | None, after: InvoiceState | None, first_day: dt.date) -> Changes:
    """The dated changes that turn the timeline of ``before`` into that of
    ``after``, when every event between them counts from ``first_day`` on (so
    the two agree on every earlier day and only later days need a look)."""
    days = sorted({day for state in (before, after) if state for day in change_days(state) if day >= first_day})
    out: Changes = {}
    previous = NO_FIGURES
    for day in days:
        gap = figures_on(after, day) - figures_on(before, day)
        if gap != previous:
            out[day] = gap - previous
            previous = gap
    return out


def changes(state: InvoiceState | None) -> Changes:
    """The invoice's whole timeline as dated changes (nothing for no invoice)."""
    if state is None:
        return {}
    return difference(None, state, dt.date.min)


def sum_on(all_changes: Changes, day: dt.date) -> Figures:
    """The sum of the changes dated on or before ``day``."""
    total = NO_FIGURES
    for when, delta in all_changes.items():
        if when <= day:
            total = total + delta
    return total


AGING_THRESHOLDS: tuple[int, ...] = (1, 31, 61, 91)
"""Days past due where an aging bucket starts (docs/figures.md#aging): a
receivable change on ``day`` of an invoice due on ``due`` counts, at the end of
day D, as at least N days past due when max(day, due + N) <= D. Sums of those
changes per first such day answer overdue (N = 1) and every bucket (the
difference of two thresholds) at any D with one range each."""
