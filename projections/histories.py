"""The fold of one invoice's whole history, for a rebuild's bulk phase.

The event store holds only applied events, each invoice's in sequence order
from 1, so none is held, duplicated or quarantined: the batch fold's machinery
for those (and its summed changes, which a rebuild computes in SQL afterwards)
is left out. What is kept is what the per-invoice tables need: the final
state, its timeline rows once per record time (the events recorded together
as one step, as the transaction that applied them wrote them), its payments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from contracts import ContractError, Decoded, InvoicePaid
from projections.batch import InvoiceChange, Payment
from projections.invoice import InvoiceState, advance, check_transition, first_state
from projections.timeline import difference, event_day, snapshot

# One stored event: (partition, decoded body, stored_at).
StoredStep = tuple[int, Decoded, dt.datetime]


class BrokenHistory(Exception):
    """The event store holds a history the state machine rejects."""


def fold_history(events: Iterable[StoredStep]) -> tuple[InvoiceState, list[InvoiceChange], list[Payment]]:
    """The invoice's final state, timeline rows and payments from its complete
    history, in sequence order."""
    state: InvoiceState | None = None
    before: InvoiceState | None = None  # the state when the current step began
    first_day: dt.date | None = None  # the earliest business day of the step's events
    step_recorded_at: dt.datetime | None = None
    partition = 0
    changes: list[InvoiceChange] = []
    payments: list[Payment] = []

    def end_step(state: InvoiceState) -> None:
        assert first_day is not None
        changes.extend(
            InvoiceChange(
                state.tenant_id,
                state.invoice_id,
                state.customer_id,
                state.currency,
                state.due_date,
                partition,
                day,
                step_recorded_at,
                delta,
            )
            for day, delta in difference(before, state, first_day).items()
        )

    for event_partition, decoded, recorded_at in events:
        event = decoded.event
        expected = 1 if state is None else state.last_sequence + 1
        if event.sequence != expected:
            raise BrokenHistory(f"invoice {event.tenantid}/{event.subject}: sequence {event.sequence}, not {expected}")
        try:
            if state is None:
                state = first_state(event, decoded.amounts, event_partition)
            else:
                if recorded_at != step_recorded_at:
                    end_step(state)
                    before, first_day = snapshot(state), None
                advance(state, event, check_transition(state, event), recorded_at)
        except ContractError as error:
            raise BrokenHistory(f"invoice {event.tenantid}/{event.subject}: {error.detail}") from error
        if isinstance(event, InvoicePaid):
            payments.append(Payment.applied(state, event, recorded_at))
        day = event_day(event)
        first_day = day if first_day is None or day < first_day else first_day
        step_recorded_at, partition = recorded_at, event_partition
    if state is None:
        raise BrokenHistory("an empty history")
    end_step(state)
    return state, changes, payments
