"""A small catalogue of invoices whose every figure is known by hand, shared by
the filter and list tests: seven invoices of tenant acme, one of globex."""

from __future__ import annotations

import datetime as dt

from contracts import InvoiceEvent
from tests.factories import InvoiceBuilder, line


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


class Known:
    """What the test knows of one invoice (minor units)."""

    def __init__(
        self,
        builder: InvoiceBuilder,
        *,
        status: str,
        payment_status: str,
        gross: int,
        net: int,
        sent_date: dt.date | None,
    ) -> None:
        self.builder = builder
        self.id = builder.invoice_id
        self.number = builder.number
        self.currency = builder.currency
        self.issue_date = builder.issue_date
        self.due_date = builder.due_date
        self.accounting_date = builder.data.get("accounting_date", builder.issue_date)
        self.status = status
        self.payment_status = payment_status
        self.gross = gross
        self.net = net
        self.sent_date = sent_date


def catalogue() -> tuple[dict[str, Known], list[InvoiceEvent]]:
    """(invoices by letter, their events in order)."""
    d = dt.date
    a = InvoiceBuilder(
        customer="cus-1",
        currency="EUR",
        number="INV-2026-001",
        billing_schedule_id="sch-1",
        issue_date=d(2026, 1, 10),
        due_date=d(2026, 2, 10),
        lines=[line(net=10000, tax=2000)],
        billing_period={"start": d(2025, 12, 1), "end_inclusive": d(2025, 12, 31)},
        accounting_date=d(2026, 1, 12),
    )
    b = InvoiceBuilder(
        customer="cus-1",
        currency="EUR",
        number="INV-2026-002",
        issue_date=d(2026, 1, 15),
        due_date=d(2026, 2, 15),
        lines=[line(net=25050, tax=0)],
    )
    c = InvoiceBuilder(
        customer="cus-2",
        currency="EUR",
        number="inv-2026-003",
        billing_schedule_id="sch-2",
        issue_date=d(2026, 1, 31),
        due_date=d(2026, 3, 1),
        lines=[line(net=5000, tax=1000)],
    )
    dd = InvoiceBuilder(
        customer="cus-2",
        currency="GBP",
        number="PRO_2026%1",
        issue_date=d(2026, 2, 1),
        due_date=d(2026, 3, 3),
        lines=[line(net=10000, tax=0, quantity="0")],
    )
    e = InvoiceBuilder(
        customer="cus-3",
        currency="JPY",
        number="INV-2026-005",
        issue_date=d(2026, 2, 10),
        due_date=d(2026, 3, 10),
        lines=[line(net=100, tax=10)],
    )
    f = InvoiceBuilder(
        customer="cus-3",
        currency="KWD",
        number="KWD-1",
        issue_date=d(2026, 2, 20),
        due_date=d(2026, 3, 20),
        lines=[line(net=100000, tax=0)],
    )
    g = InvoiceBuilder(
        customer="cus-3",
        currency="KWD",
        number="KWD-2",
        issue_date=d(2026, 2, 21),
        due_date=d(2026, 3, 21),
        lines=[line(net=5, tax=0)],
    )
    other = InvoiceBuilder(
        tenant="globex",
        customer="cus-1",
        currency="EUR",
        number="INV-2026-001",
        issue_date=d(2026, 1, 10),
        lines=[line(net=99900, tax=0)],
    )
    events: list[InvoiceEvent] = [
        a.created(),
        b.created(),
        b.sent(at=utc("2026-01-15T23:30:00+00:00")),
        b.paid("50.00"),
        # Sent at 00:30 in UTC+1: the UTC sent date is the 31st.
        c.created(),
        c.sent(at=utc("2026-02-01T00:30:00+01:00")),
        c.paid("60.00"),
        dd.created(),
        dd.sent(at=utc("2026-02-02T10:00:00+00:00")),
        dd.voided(),
        e.created(),
        e.sent(at=utc("2026-02-11T08:00:00+00:00")),
        f.created(),
        g.created(),
        other.created(),
    ]
    known = {
        "A": Known(a, status="DRAFT", payment_status="UNPAID", gross=12000, net=10000, sent_date=None),
        "B": Known(b, status="SENT", payment_status="PARTIALLY_PAID", gross=25050, net=25050, sent_date=d(2026, 1, 15)),
        "C": Known(c, status="SENT", payment_status="PAID", gross=6000, net=5000, sent_date=d(2026, 1, 31)),
        "D": Known(dd, status="VOIDED", payment_status="UNPAID", gross=10000, net=10000, sent_date=d(2026, 2, 2)),
        "E": Known(e, status="SENT", payment_status="UNPAID", gross=110, net=100, sent_date=d(2026, 2, 11)),
        "F": Known(f, status="DRAFT", payment_status="UNPAID", gross=100000, net=100000, sent_date=None),
        "G": Known(g, status="DRAFT", payment_status="UNPAID", gross=5, net=5, sent_date=None),
    }
    return known, events


def customer_history() -> tuple[dict[str, InvoiceBuilder], list[InvoiceEvent]]:
    """Customer cus-9 of acme, with figures worked out by hand in the tests:

    P1 EUR SENT, issued 03-01, due 03-31: fixed/recurring 100.00+20.00 and
       usage/one-time 50.00+10.00 (gross 180.00), 30.00 paid on 03-05 12:00Z:
       balance 150.00 = fixed 100.00 + usage 50.00 = recurring 100.00 + one-time 50.00
    P2 EUR SENT, issued 04-01 (accounting 04-03), due 04-30, usage/recurring
       33.33, unpaid; series S2, proforma
    P3 EUR DRAFT 10.00; P4 EUR VOIDED 12.00
    P5 USD SENT, issued 04-15, due 04-20, 120.00 with 125.00 paid on 04-16 08:00Z
       (5.00 overpaid); series S1
    P6 USD DRAFT issued 06-01: the customer's latest invoice
    P7 GBP DRAFT 120.00
    and one invoice of globex's own cus-9 (EUR 999.00, SENT).
    """
    d = dt.date
    p1 = InvoiceBuilder(
        customer="cus-9",
        currency="EUR",
        issue_date=d(2026, 3, 1),
        due_date=d(2026, 3, 31),
        lines=[line("fixed", "recurring", 10000, 2000), line("usage", "one_time", 5000, 1000)],
        series_id="S1",
    )
    p2 = InvoiceBuilder(
        customer="cus-9",
        currency="EUR",
        issue_date=d(2026, 4, 1),
        due_date=d(2026, 4, 30),
        accounting_date=d(2026, 4, 3),
        lines=[line("usage", "recurring", 3333, 0)],
        series_id="S2",
        document_type="proforma",
    )
    p3 = InvoiceBuilder(
        customer="cus-9",
        currency="EUR",
        issue_date=d(2026, 5, 1),
        due_date=d(2026, 5, 31),
        lines=[line(net=1000, tax=0)],
    )
    p4 = InvoiceBuilder(
        customer="cus-9",
        currency="EUR",
        issue_date=d(2026, 2, 15),
        due_date=d(2026, 3, 15),
        lines=[line(net=1200, tax=0)],
    )
    p5 = InvoiceBuilder(
        customer="cus-9", currency="USD", issue_date=d(2026, 4, 15), due_date=d(2026, 4, 20), series_id="S1"
    )
    p6 = InvoiceBuilder(customer="cus-9", currency="USD", issue_date=d(2026, 6, 1), due_date=d(2026, 7, 1))
    p7 = InvoiceBuilder(customer="cus-9", currency="GBP", issue_date=d(2026, 2, 1), due_date=d(2026, 3, 1))
    other = InvoiceBuilder(
        tenant="globex",
        customer="cus-9",
        currency="EUR",
        issue_date=d(2026, 3, 1),
        due_date=d(2026, 3, 2),
        lines=[line(net=99900, tax=0)],
    )
    events: list[InvoiceEvent] = [
        p1.created(),
        p1.sent(at=utc("2026-03-01T10:00:00+00:00")),
        p1.paid("30.00", at=utc("2026-03-05T12:00:00+00:00")),
        p2.created(),
        p2.sent(at=utc("2026-04-01T10:00:00+00:00")),
        p3.created(),
        p4.created(),
        p4.voided(),
        p5.created(),
        p5.sent(at=utc("2026-04-15T10:00:00+00:00")),
        p5.paid("125.00", at=utc("2026-04-16T08:00:00+00:00")),
        p6.created(),
        p7.created(),
        other.created(),
        other.sent(),
    ]
    return {"P1": p1, "P2": p2, "P3": p3, "P4": p4, "P5": p5, "P6": p6, "P7": p7, "other": other}, events
