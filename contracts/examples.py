"""One well-formed example of each event type, the history of one invoice.

Used by the README, by the schema checks and by anyone who needs a valid event
to start from (``msgspec.structs.replace`` makes variations).
"""

from __future__ import annotations

import datetime
from typing import Any

from contracts.events import (
    BillingPeriod,
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
)

_INVOICE_ID = "inv_01J9Z3Q5T7"
_UTC = datetime.UTC


def _envelope(event_id: str, sequence: int, time: datetime.datetime, source: str = "/invoicing") -> dict[str, Any]:
    """The CloudEvents attributes of one event of the example invoice."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "subject": _INVOICE_ID,
        "time": time,
        "tenantid": "acme",
        "sequence": sequence,
        "datacontenttype": "application/json",
    }


CREATED = InvoiceCreated(
    **_envelope("evt_0001", 1, datetime.datetime(2026, 3, 1, 9, 30, tzinfo=_UTC)),
    data=InvoiceCreatedData(
        invoice_number="INV-2026-0042",
        customer_id="cus_42",
        customer_name="Globex Corporation Ltd",
        currency="EUR",
        issue_date=datetime.date(2026, 3, 1),
        due_date=datetime.date(2026, 3, 31),
        billing_period=BillingPeriod(start=datetime.date(2026, 2, 1), end_inclusive=datetime.date(2026, 2, 28)),
        lines=[
            Line(
                id="line_1",
                description="Platform subscription, February",
                charge_type="fixed",
                recurrence="recurring",
                quantity="1",
                net_amount="1000.00",
                tax_amount="210.00",
            ),
            Line(
                id="line_2",
                description="API calls over plan",
                charge_type="usage",
                recurrence="recurring",
                quantity="12500",
                net_amount="37.50",
                tax_amount="7.88",
            ),
            Line(
                id="line_3",
                description="Onboarding workshop",
                charge_type="fixed",
                recurrence="one_time",
                quantity="1",
                net_amount="200.00",
                tax_amount="42.00",
            ),
        ],
        net_total="1237.50",
        tax_total="259.88",
        gross_total="1497.38",
    ),
)

SENT = InvoiceSent(
    **_envelope("evt_0002", 2, datetime.datetime(2026, 3, 1, 9, 31, tzinfo=_UTC)),
    data=InvoiceSentData(sent_at=datetime.datetime(2026, 3, 1, 9, 31, tzinfo=_UTC)),
)

PAID = InvoicePaid(
    **_envelope("evt_0003", 3, datetime.datetime(2026, 3, 20, 14, 5, 12, tzinfo=_UTC), source="/payments"),
    data=InvoicePaidData(
        payment_id="pay_7781",
        amount="500.00",
        paid_at=datetime.datetime(2026, 3, 20, 14, 5, 12, tzinfo=_UTC),
    ),
)

VOIDED = InvoiceVoided(
    **_envelope("evt_0004", 4, datetime.datetime(2026, 3, 25, 8, 0, tzinfo=_UTC)),
    data=InvoiceVoidedData(
        voided_at=datetime.datetime(2026, 3, 25, 8, 0, tzinfo=_UTC),
        reason="Replaced by INV-2026-0057",
    ),
)

EXAMPLES: tuple[InvoiceEvent, ...] = (CREATED, SENT, PAID, VOIDED)
