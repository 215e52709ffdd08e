"""Flexprice's answer, with its published field names; amounts are decimal
strings in major units."""

from __future__ import annotations

import msgspec

from services.api.money import Money


class CustomerInvoiceSummary(msgspec.Struct):
    currency: str
    customer_id: str
    overdue_invoice_count: int
    total_invoice_count: int
    total_overdue_amount: Money
    total_revenue_amount: Money
    total_unpaid_amount: Money
    unpaid_fixed_charges: Money
    unpaid_invoice_count: int
    unpaid_usage_charges: Money


class CustomerMultiCurrencyInvoiceSummary(msgspec.Struct):
    customer_id: str
    default_currency: str
    summaries: list[CustomerInvoiceSummary]
