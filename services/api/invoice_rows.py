"""The stored invoice: one row of ``billing_read.invoices`` as the invoice
lists and the invoice lookup read it. Its fields are the columns read, in
order (``INVOICE_FIELDS``), so a record becomes one without a lookup per column."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import asyncpg

from projections.invoice import InvoiceFacts


class StoredInvoice(InvoiceFacts):
    """Money in minor units of ``currency``."""

    invoice_id: str
    status: str
    payment_status: str
    amount_paid: int
    balance: int
    overpaid: int
    balance_usage: int
    balance_fixed: int
    balance_recurring: int
    balance_one_time: int
    payment_count: int
    last_paid_at: dt.datetime | None
    last_payment_amount: int | None
    sent_at: dt.datetime | None
    sent_date: dt.date | None
    voided_at: dt.datetime | None
    void_reason: str | None
    event_ids: list[str]
    payment_ids: list[str]
    created_at: dt.datetime | None
    updated_at: dt.datetime | None


INVOICE_FIELDS = ", ".join(StoredInvoice.__struct_fields__)


def stored_invoices(records: Iterable[asyncpg.Record]) -> list[StoredInvoice]:
    """Records of ``SELECT {INVOICE_FIELDS}``, typed."""
    return [StoredInvoice(*record) for record in records]
