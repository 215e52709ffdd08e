"""Event builders for tests: one invoice's history with readable defaults."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from hypothesis import strategies as st

from contracts import (
    InvoiceCreated,
    InvoiceCreatedData,
    InvoiceEvent,
    InvoicePaid,
    InvoicePaidData,
    InvoiceSent,
    InvoiceSentData,
    InvoiceVoided,
    InvoiceVoidedData,
    Line,
    encode,
    format_minor,
)

_ids = itertools.count(1)
BASE_TIME = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)

# (charge_type, recurrence, net minor units, tax minor units, quantity)
LineSpec = tuple[str, str, int, int, str]


def line(
    charge: str = "fixed", recurrence: str = "recurring", net: int = 10000, tax: int = 2000, quantity: str = "1"
) -> LineSpec:
    return (charge, recurrence, net, tax, quantity)


class InvoiceBuilder:
    """Builds the events of one invoice; each call takes the next sequence
    unless ``sequence=`` says otherwise."""

    def __init__(
        self,
        invoice_id: str | None = None,
        *,
        tenant: str = "acme",
        customer: str = "cus-1",
        currency: str = "EUR",
        lines: list[LineSpec] | None = None,
        issue_date: dt.date = dt.date(2026, 3, 1),
        due_date: dt.date = dt.date(2026, 3, 31),
        number: str | None = None,
        **data: Any,
    ) -> None:
        self.invoice_id = invoice_id or f"inv-{next(_ids)}"
        self.tenant = tenant
        self.customer = customer
        self.currency = currency
        self.lines = [line()] if lines is None else lines
        self.issue_date = issue_date
        self.due_date = due_date
        self.number = number or f"INV-{self.invoice_id}"
        self.data = data
        self.sequence = 0

    def _envelope(self, sequence: int | None, event_id: str | None, time: dt.datetime | None = None) -> dict[str, Any]:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        return {
            "specversion": "1.0",
            "id": event_id or f"evt-{self.invoice_id}-{sequence}-{next(_ids)}",
            "source": "/invoicing",
            "subject": self.invoice_id,
            "time": time or BASE_TIME + dt.timedelta(hours=sequence),
            "tenantid": self.tenant,
            "sequence": sequence,
        }

    def created(
        self, sequence: int | None = None, event_id: str | None = None, at: dt.datetime | None = None
    ) -> InvoiceCreated:
        fmt = lambda minor: format_minor(minor, self.currency)  # noqa: E731
        lines = [
            Line(
                id=f"l{i}",
                charge_type=c,
                recurrence=r,
                quantity=q,  # type: ignore[arg-type]
                net_amount=fmt(net),
                tax_amount=fmt(tax),
            )
            for i, (c, r, net, tax, q) in enumerate(self.lines)
        ]
        net = sum(spec[2] for spec in self.lines)
        tax = sum(spec[3] for spec in self.lines)
        return InvoiceCreated(
            **self._envelope(sequence, event_id, at),
            data=InvoiceCreatedData(
                invoice_number=self.number,
                customer_id=self.customer,
                customer_name=f"{self.customer} Ltd",
                currency=self.currency,
                issue_date=self.issue_date,
                due_date=self.due_date,
                lines=lines,
                net_total=fmt(net),
                tax_total=fmt(tax),
                gross_total=fmt(net + tax),
                **self.data,
            ),
        )

    def sent(
        self, at: dt.datetime | None = None, sequence: int | None = None, event_id: str | None = None
    ) -> InvoiceSent:
        return InvoiceSent(
            **self._envelope(sequence, event_id),
            data=InvoiceSentData(sent_at=at or BASE_TIME + dt.timedelta(days=1)),
        )

    def paid(
        self,
        amount: str,
        payment_id: str | None = None,
        at: dt.datetime | None = None,
        sequence: int | None = None,
        event_id: str | None = None,
    ) -> InvoicePaid:
        return InvoicePaid(
            **self._envelope(sequence, event_id),
            data=InvoicePaidData(
                payment_id=payment_id or f"pay-{next(_ids)}",
                amount=amount,
                paid_at=at or BASE_TIME + dt.timedelta(days=2),
            ),
        )

    def voided(
        self,
        reason: str | None = None,
        sequence: int | None = None,
        event_id: str | None = None,
        at: dt.datetime | None = None,
    ) -> InvoiceVoided:
        return InvoiceVoided(
            **self._envelope(sequence, event_id),
            data=InvoiceVoidedData(voided_at=at or BASE_TIME + dt.timedelta(days=3), reason=reason),
        )


def value(event: InvoiceEvent) -> bytes:
    return encode(event)


def lifecycle(draw: Any, inv: InvoiceBuilder, gross: int, steps: int) -> list[InvoiceEvent]:
    """A valid history of ``inv`` for property tests (``draw``: hypothesis's):
    created, then up to ``steps`` actions the state machine allows — sent once,
    paid (in part, in full, beyond), voided while not fully paid (which ends it)."""
    events: list[InvoiceEvent] = [inv.created()]
    sent, paid = False, 0
    for _ in range(steps):
        options = ["pay"] + ([] if sent else ["send"])
        fully_paid = paid >= gross if gross > 0 else (paid > 0 or sent)
        if not fully_paid:
            options.append("void")
        action = draw(st.sampled_from(options))
        if action == "send":
            events.append(inv.sent())
            sent = True
        elif action == "void":
            events.append(inv.voided())
            break
        else:
            amount = draw(st.integers(1, max(gross, 1) * 2))
            paid += amount
            events.append(inv.paid(format_minor(amount, inv.currency)))
    return events


def interleaved(data: st.DataObject, histories: list[list[InvoiceEvent]]) -> list[InvoiceEvent]:
    """The invoices' events interleaved at random, each history kept in order."""
    events: list[InvoiceEvent] = []
    queues = [list(h) for h in histories]
    while queues:
        queue = data.draw(st.sampled_from(queues))
        events.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
    return events
