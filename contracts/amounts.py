"""The money of a created invoice, checked and turned into minor units.

``invoice_amounts`` applies every money and date rule of an invoice.created
payload that needs nothing but the payload itself (see README.md, "Money"):

- the currency is a known ISO 4217 code;
- every amount is a plain decimal string with at most the currency's decimals,
  ``>= 0`` and within ``MAX_MINOR``;
- every line quantity is a plain decimal string ``>= 0``;
- ``net_total`` and ``tax_total`` are the sums over the lines and
  ``gross_total = net_total + tax_total`` (so an invoice without lines has zero
  totals);
- ``due_date >= issue_date``, and no later than ``LATEST_DUE_DATE``;
- a billing period does not end before it starts.
"""

from __future__ import annotations

import datetime

import msgspec

from contracts.errors import ContractError, Reason, quoted
from contracts.events import InvoiceCreatedData
from contracts.money import (
    currency,
    format_minor,
    is_plain_decimal,
    to_minor,
    try_minor,
)


class InvoiceAmounts(msgspec.Struct, frozen=True):
    """The validated money of a created invoice, in minor units.

    ``usage_gross + fixed_gross == gross`` and
    ``recurring_gross + one_time_gross == gross``: the groups split the gross
    total by the lines' charge_type and recurrence.
    """

    net: int
    tax: int
    gross: int
    usage_gross: int
    fixed_gross: int
    recurring_gross: int
    one_time_gross: int
    # Every quantity is >= 0, so they sum to zero exactly when each one is zero
    # (an invoice without lines counts as zero quantity).
    quantity_is_zero: bool


def invoice_amounts(data: InvoiceCreatedData) -> InvoiceAmounts:
    """Check the money and dates of ``data``; ContractError names the broken rule."""
    code = data.currency
    exponent = currency(code, field="data.currency").exponent
    _check_dates(data)

    net_total = _non_negative(data.net_total, exponent, code, "data.net_total")
    tax_total = _non_negative(data.tax_total, exponent, code, "data.tax_total")
    gross_total = _non_negative(data.gross_total, exponent, code, "data.gross_total")

    net = tax = usage = recurring = 0
    quantity_is_zero = True
    for index, line in enumerate(data.lines):
        quantity = line.quantity
        if not is_plain_decimal(quantity):
            raise ContractError(
                Reason.SCHEMA_VIOLATION,
                f"data.lines[{index}].quantity: {quoted(quantity)} is not a decimal string >= 0 like '1' or '0.5'",
            )
        if quantity_is_zero and quantity.strip("0."):
            quantity_is_zero = False
        line_net = _non_negative(line.net_amount, exponent, code, "data.lines[{}].net_amount", index)
        line_tax = _non_negative(line.tax_amount, exponent, code, "data.lines[{}].tax_amount", index)
        net += line_net
        tax += line_tax
        if line.charge_type == "usage":
            usage += line_net + line_tax
        if line.recurrence == "recurring":
            recurring += line_net + line_tax

    if not data.lines and (net_total or tax_total or gross_total):
        raise ContractError(
            Reason.TOTALS_MISMATCH,
            "data.lines: an invoice without lines must have zero totals, got "
            f"net_total {quoted(data.net_total)}, tax_total {quoted(data.tax_total)}, "
            f"gross_total {quoted(data.gross_total)}",
        )
    if net_total != net:
        raise _sum_mismatch("net_total", data.net_total, "net_amount", net, code)
    if tax_total != tax:
        raise _sum_mismatch("tax_total", data.tax_total, "tax_amount", tax, code)
    if gross_total != net_total + tax_total:
        raise ContractError(
            Reason.TOTALS_MISMATCH,
            f"data.gross_total: {quoted(data.gross_total)} is not "
            f"net_total + tax_total = {format_minor(net_total + tax_total, code)!r}",
        )
    return InvoiceAmounts(
        net=net_total,
        tax=tax_total,
        gross=gross_total,
        usage_gross=usage,
        fixed_gross=gross_total - usage,
        recurring_gross=recurring,
        one_time_gross=gross_total - recurring,
        quantity_is_zero=quantity_is_zero,
    )


# The latest due date an invoice may have: a receivable invoice counts as at
# least 91 days past due (the oldest aging bucket) from its due date + 91 days,
# and that day, plus one for the next day a figure changes, must stay inside
# the calendar the projections and the API read (it ends on 9999-12-31).
LATEST_DUE_DATE = datetime.date(9999, 9, 30)


def _check_dates(data: InvoiceCreatedData) -> None:
    if data.due_date > LATEST_DUE_DATE:
        raise ContractError(
            Reason.INVALID_DATES,
            f"data.due_date: {data.due_date} is after the latest due date accepted, {LATEST_DUE_DATE}",
        )
    if data.due_date < data.issue_date:
        raise ContractError(
            Reason.INVALID_DATES,
            f"data.due_date: {data.due_date} is before data.issue_date {data.issue_date}",
        )
    period = data.billing_period
    if period is not None and period.end_inclusive < period.start:
        raise ContractError(
            Reason.INVALID_DATES,
            f"data.billing_period.end_inclusive: {period.end_inclusive} is before "
            f"data.billing_period.start {period.start}",
        )


def _non_negative(amount: str, exponent: int, code: str, field: str, index: int = 0) -> int:
    """Minor units of an amount that must be >= 0.

    ``field`` is a template for the line ``index``, formatted only for an error:
    this runs for every amount of every invoice.
    """
    minor = try_minor(amount, exponent)
    if minor is not None:
        return minor
    field = field.format(index)
    minor = to_minor(amount, code, field=field)
    if minor < 0:
        raise ContractError(
            Reason.NEGATIVE_AMOUNT,
            f"{field}: {quoted(amount)} is negative; must be >= 0",
        )
    return minor


def _sum_mismatch(total_field: str, total: str, line_field: str, line_sum: int, code: str) -> ContractError:
    return ContractError(
        Reason.TOTALS_MISMATCH,
        f"data.{total_field}: {quoted(total)} is not the sum of the lines' "
        f"{line_field} = {format_minor(line_sum, code)!r}",
    )
