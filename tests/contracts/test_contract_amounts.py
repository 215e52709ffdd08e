"""The money and date rules of a created invoice."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec
import pytest

from contracts.amounts import LATEST_DUE_DATE, InvoiceAmounts, invoice_amounts
from contracts.errors import ContractError, Reason
from contracts.events import BillingPeriod, InvoiceCreatedData, Line
from contracts.examples import CREATED
from projections.timeline import AGING_THRESHOLDS


def line(
    net: str,
    tax: str,
    *,
    charge_type: Any = "fixed",
    recurrence: Any = "recurring",
    quantity: str = "1",
) -> Line:
    return Line(
        id=f"line-{net}-{tax}",
        charge_type=charge_type,
        recurrence=recurrence,
        quantity=quantity,
        net_amount=net,
        tax_amount=tax,
    )


def invoice(lines: list[Line], net: str, tax: str, gross: str, **changes: Any) -> InvoiceCreatedData:
    return msgspec.structs.replace(
        CREATED.data,
        lines=lines,
        net_total=net,
        tax_total=tax,
        gross_total=gross,
        **changes,
    )


def reason_of(data: InvoiceCreatedData) -> Reason:
    with pytest.raises(ContractError) as caught:
        invoice_amounts(data)
    return caught.value.reason


def test_totals_are_summed_and_split_by_charge_type_and_recurrence() -> None:
    assert invoice_amounts(CREATED.data) == InvoiceAmounts(
        net=123750,
        tax=25988,
        gross=149738,
        usage_gross=4538,
        fixed_gross=145200,
        recurring_gross=125538,
        one_time_gross=24200,
        quantity_is_zero=False,
    )


def test_the_groups_each_add_up_to_the_gross_total() -> None:
    data = invoice(
        [
            line("10.00", "2.00", charge_type="usage", recurrence="one_time"),
            line("5.5", "1.1", charge_type="usage", recurrence="recurring"),
            line("3", "0", charge_type="fixed", recurrence="one_time"),
        ],
        "18.50",
        "3.10",
        "21.60",
    )
    amounts = invoice_amounts(data)
    assert (amounts.net, amounts.tax, amounts.gross) == (1850, 310, 2160)
    assert (amounts.usage_gross, amounts.fixed_gross) == (1860, 300)
    assert (amounts.recurring_gross, amounts.one_time_gross) == (660, 1500)


def test_amounts_follow_the_invoice_currency_exponent() -> None:
    data = invoice([line("1000", "100")], "1000", "100", "1100", currency="JPY")
    assert invoice_amounts(data).gross == 1100
    kwd = invoice([line("1.250", "0.125")], "1.25", "0.125", "1.375", currency="KWD")
    assert invoice_amounts(kwd).gross == 1375


def test_quantities_summing_to_zero_are_detected() -> None:
    zero = invoice([line("0", "0", quantity="0"), line("0", "0", quantity="0.000")], "0", "0", "0")
    assert invoice_amounts(zero).quantity_is_zero
    some = invoice([line("0", "0", quantity="0"), line("0", "0", quantity="0.001")], "0", "0", "0")
    assert not invoice_amounts(some).quantity_is_zero


def test_an_invoice_without_lines_and_zero_totals_is_valid_with_zero_quantity() -> None:
    amounts = invoice_amounts(invoice([], "0.00", "0", "0.00"))
    assert amounts == InvoiceAmounts(0, 0, 0, 0, 0, 0, 0, True)


@pytest.mark.parametrize(
    ("net", "tax", "gross"),
    [("1.00", "0", "1.00"), ("0", "0.01", "0.01"), ("0", "0", "0.01")],
)
def test_an_invoice_without_lines_but_with_non_zero_totals_is_rejected(net: str, tax: str, gross: str) -> None:
    with pytest.raises(ContractError) as caught:
        invoice_amounts(invoice([], net, tax, gross))
    assert caught.value.reason is Reason.TOTALS_MISMATCH
    assert caught.value.detail.startswith("data.lines: an invoice without lines")


@pytest.mark.parametrize(
    ("net", "tax", "gross", "field"),
    [
        ("10.01", "2.00", "12.01", "data.net_total"),
        ("10.00", "1.99", "11.99", "data.tax_total"),
        ("10.00", "2.00", "12.01", "data.gross_total"),
        ("10.00", "2.00", "10.00", "data.gross_total"),
    ],
)
def test_totals_that_do_not_add_up_are_rejected(net: str, tax: str, gross: str, field: str) -> None:
    data = invoice([line("4.00", "1.00"), line("6.00", "1.00")], net, tax, gross)
    with pytest.raises(ContractError) as caught:
        invoice_amounts(data)
    assert caught.value.reason is Reason.TOTALS_MISMATCH
    assert caught.value.detail.startswith(field + ":")


def test_a_line_with_more_decimals_than_the_currency_names_the_line() -> None:
    data = invoice(
        [line("1.00", "0"), line("1.00", "0"), line("10.123", "0")],
        "12.12",
        "0",
        "12.12",
    )
    with pytest.raises(ContractError) as caught:
        invoice_amounts(data)
    assert caught.value.reason is Reason.MONEY_PRECISION
    assert caught.value.detail == "data.lines[2].net_amount: '10.123' has 3 decimals, EUR allows 2"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (invoice([line("-1.00", "0")], "-1.00", "0", "-1.00"), Reason.NEGATIVE_AMOUNT),
        (
            invoice([line("1.00", "-0.10")], "1.00", "-0.10", "0.90"),
            Reason.NEGATIVE_AMOUNT,
        ),
        (invoice([line("1.00", "0")], "1.00", "0", "-1.00"), Reason.NEGATIVE_AMOUNT),
        (invoice([line("1e2", "0")], "100", "0", "100"), Reason.INVALID_MONEY),
        (invoice([line("1", "0")], "1", "0", "1.000"), Reason.MONEY_PRECISION),
        (
            invoice([line("1", "0")], "1", "0", "1", currency="ZZZ"),
            Reason.UNKNOWN_CURRENCY,
        ),
        (
            invoice([line("20000000000000", "0")], "20000000000000", "0", "20000000000000"),
            Reason.AMOUNT_OUT_OF_RANGE,
        ),
        (
            invoice([line("1", "0", quantity="-1")], "1", "0", "1"),
            Reason.SCHEMA_VIOLATION,
        ),
        (
            invoice([line("1", "0", quantity="1e3")], "1", "0", "1"),
            Reason.SCHEMA_VIOLATION,
        ),
        (
            invoice([line("1", "0", quantity="")], "1", "0", "1"),
            Reason.SCHEMA_VIOLATION,
        ),
    ],
)
def test_every_money_rule_has_its_reason(data: InvoiceCreatedData, reason: Reason) -> None:
    assert reason_of(data) is reason


def test_a_bad_quantity_names_its_line() -> None:
    data = invoice([line("1", "0"), line("0", "0", quantity="1,5")], "1", "0", "1")
    with pytest.raises(ContractError) as caught:
        invoice_amounts(data)
    assert caught.value.detail.startswith("data.lines[1].quantity: '1,5'")


def test_amounts_with_leading_zeros_are_accepted() -> None:
    padded = "0" * 30 + "1.00"
    assert invoice_amounts(invoice([line(padded, "0")], "1", "0", padded)).gross == 100


def test_the_due_date_may_not_be_before_the_issue_date() -> None:
    same_day = msgspec.structs.replace(CREATED.data, due_date=CREATED.data.issue_date)
    assert invoice_amounts(same_day).gross == 149738
    early = msgspec.structs.replace(CREATED.data, due_date=CREATED.data.issue_date - datetime.timedelta(days=1))
    assert reason_of(early) is Reason.INVALID_DATES


def test_the_due_date_leaves_the_aging_buckets_inside_the_calendar() -> None:
    last = msgspec.structs.replace(CREATED.data, due_date=LATEST_DUE_DATE)
    assert invoice_amounts(last).gross == 149738
    later = msgspec.structs.replace(CREATED.data, due_date=LATEST_DUE_DATE + datetime.timedelta(days=1))
    assert reason_of(later) is Reason.INVALID_DATES
    # The oldest bucket and the day after its start are representable.
    assert LATEST_DUE_DATE + datetime.timedelta(days=max(AGING_THRESHOLDS) + 1) <= datetime.date.max


def test_a_billing_period_may_not_end_before_it_starts() -> None:
    day = datetime.date(2026, 2, 1)
    one_day = msgspec.structs.replace(CREATED.data, billing_period=BillingPeriod(start=day, end_inclusive=day))
    assert invoice_amounts(one_day).gross == 149738
    backwards = msgspec.structs.replace(
        CREATED.data,
        billing_period=BillingPeriod(start=day, end_inclusive=day - datetime.timedelta(days=1)),
    )
    with pytest.raises(ContractError) as caught:
        invoice_amounts(backwards)
    assert caught.value.reason is Reason.INVALID_DATES
    assert caught.value.detail.startswith("data.billing_period.end_inclusive:")
