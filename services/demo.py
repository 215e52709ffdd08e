"""Realistic invoice histories: the demo stream of `billing demo`, and data for
benchmarks. Deterministic for a given seed."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator

from contracts import (
    CURRENCIES,
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
    format_minor,
)

# A few currencies with different exponents (JPY 0, EUR/USD/GBP 2, KWD 3).
DEMO_CURRENCIES = ("EUR", "USD", "GBP", "JPY", "KWD")
SOURCE = "/invoicing"


class HistoryMaker:
    """Makes one invoice's event history at a time."""

    def __init__(self, seed: int = 7, today: dt.date | None = None) -> None:
        self.rng = random.Random(seed)
        self.today = today or dt.datetime.now(dt.UTC).date()
        self.counter = 0

    def _id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def history(self, tenant_id: str, customer_id: str, currency: str) -> list[InvoiceEvent]:
        rng = self.rng
        self.counter += 1
        invoice_id = self._id()
        exponent = CURRENCIES[currency].exponent
        scale = 10**exponent
        issue = self.today - dt.timedelta(days=rng.randint(0, 120))
        due = issue + dt.timedelta(days=rng.choice((0, 14, 30, 45)))
        lines = []
        net_total = tax_total = 0
        for index in range(rng.randint(1, 4)):
            net = rng.randint(1, 5000) * scale // rng.choice((1, 4))
            tax = net * rng.choice((0, 5, 19, 20)) // 100
            net_total += net
            tax_total += tax
            lines.append(
                Line(
                    id=f"l{index + 1}",
                    description=rng.choice(("Platform fee", "API calls", "Seats", "Setup", "Storage")),
                    charge_type=rng.choice(("fixed", "usage")),
                    recurrence=rng.choice(("recurring", "one_time")),
                    quantity=str(rng.randint(0, 100)),
                    net_amount=format_minor(net, currency),
                    tax_amount=format_minor(tax, currency),
                )
            )
        gross = net_total + tax_total
        at = dt.datetime.combine(issue, dt.time(9), dt.UTC)
        sequence = 0

        def envelope() -> dict[str, object]:
            nonlocal sequence, at
            sequence += 1
            at += dt.timedelta(hours=rng.randint(1, 72))
            return {
                "specversion": "1.0",
                "id": self._id(),
                "source": SOURCE,
                "subject": invoice_id,
                "time": at,
                "tenantid": tenant_id,
                "sequence": sequence,
            }

        events: list[InvoiceEvent] = [
            InvoiceCreated(
                **envelope(),  # type: ignore[arg-type]
                data=InvoiceCreatedData(
                    invoice_number=f"INV-{issue.year}-{self.counter:06d}",
                    customer_id=customer_id,
                    customer_name=f"{customer_id.title()} Ltd",
                    currency=currency,
                    issue_date=issue,
                    due_date=due,
                    lines=lines,
                    net_total=format_minor(net_total, currency),
                    tax_total=format_minor(tax_total, currency),
                    gross_total=format_minor(gross, currency),
                    billing_schedule_id=rng.choice((None, "sched-monthly", "sched-yearly")),
                    series_id=rng.choice(("A", "B")),
                ),
            )
        ]
        roll = rng.random()
        if roll < 0.1:
            return events  # stays a draft
        if roll < 0.15:
            events.append(InvoiceVoided(**envelope(), data=InvoiceVoidedData(voided_at=at, reason="duplicate")))  # type: ignore[arg-type]
            return events
        events.append(InvoiceSent(**envelope(), data=InvoiceSentData(sent_at=at)))  # type: ignore[arg-type]
        remaining = gross
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            if remaining <= 0:
                break
            amount = remaining if rng.random() < 0.6 else max(1, remaining // rng.randint(2, 4))
            remaining -= amount
            events.append(
                InvoicePaid(
                    **envelope(),  # type: ignore[arg-type]
                    data=InvoicePaidData(payment_id=self._id(), amount=format_minor(amount, currency), paid_at=at),
                )
            )
        if remaining > 0 and rng.random() < 0.05:
            events.append(InvoiceVoided(**envelope(), data=InvoiceVoidedData(voided_at=at)))  # type: ignore[arg-type]
        return events


def demo_stream(tenants: int = 2, customers: int = 5, invoices: int = 40, seed: int = 7) -> Iterator[InvoiceEvent]:
    """Histories of ``invoices`` invoices spread over tenants and customers,
    each invoice's events in order (the order publishers send them)."""
    maker = HistoryMaker(seed)
    rng = random.Random(seed + 1)
    for _ in range(invoices):
        tenant = f"tenant-{rng.randrange(tenants) + 1}" if tenants > 1 else "demo"
        customer = f"customer-{rng.randrange(customers) + 1}"
        yield from maker.history(tenant, customer, rng.choice(DEMO_CURRENCIES))
