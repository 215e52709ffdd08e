"""The stored invoice: one row of ``billing_read.invoices`` as the invoice
lists and the invoice lookup read it. Its fields are the columns read, in
order (``INVOICE_FIELDS``), so a record becomes one without a lookup per column."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import asyncpg
import msgspec


class StoredInvoice(msgspec.Struct, frozen=True):
    """Money in minor units of ``currency``."""

    invoice_id: str
    invoice_number: str
    customer_id: str
    customer_name: str | None
    currency: str
    issue_date: dt.date
    due_date: dt.date
    accounting_date: dt.date
    billing_period_start: dt.date | None
    billing_period_end: dt.date | None
    billing_schedule_id: str | None
    series_id: str | None
    document_type: str
    net: int
    tax: int
    gross: int
    usage_gross: int
    fixed_gross: int
    recurring_gross: int
    one_time_gross: int
    quantity_is_zero: bool
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
