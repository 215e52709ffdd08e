"""The invoice state machine, payment status and balance splits
(docs/figures.md#payment-status, #balance-split)."""

from __future__ import annotations

import msgspec
import pytest

from projections.figures import RECEIVABLE, contribution
from projections.invoice import (
    PAID,
    PARTIALLY_PAID,
    SENT,
    UNPAID,
    VOIDED,
    round_half_even_div,
    split_pro_rata,
)
from tests.factories import InvoiceBuilder, line
from tests.projections.harness import Harness


def state_after(*events):  # type: ignore[no-untyped-def]
    harness = Harness()
    harness.deliver(events)
    assert len(harness.states) == 1, harness.outcome_counts()
    return next(iter(harness.states.values()))


def figures(state) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return msgspec.structs.asdict(contribution(state))


def test_a_created_invoice_is_an_unpaid_draft_and_not_receivable() -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=2000)])
    state = state_after(inv.created())
    assert (state.status, state.payment_status) == ("DRAFT", UNPAID)
    assert (state.gross, state.balance, state.receivable) == (12000, 12000, False)
    f = figures(state)
    assert (f["draft_count"], f["draft_gross"], f["receivable_count"], f["sent_gross"]) == (1, 12000, 0, 0)


def test_a_sent_invoice_is_receivable_for_its_whole_gross() -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=2000)])
    state = state_after(inv.created(), inv.sent())
    assert state.status == SENT and state.receivable
    f = figures(state)
    assert (f["sent_count"], f["sent_gross"], f["sent_tax"], f["receivable_balance"]) == (1, 12000, 2000, 12000)
    assert (f["unpaid_count"], f["unpaid_gross"]) == (1, 12000)


def test_partial_payments_add_up_until_the_invoice_is_paid() -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=2000)])
    created, sent, first = inv.created(), inv.sent(), inv.paid("20.00")
    state = state_after(created, sent, first)
    assert (state.payment_status, state.amount_paid, state.balance) == (PARTIALLY_PAID, 2000, 10000)
    state = state_after(created, sent, first, inv.paid("100.00"))
    assert (state.payment_status, state.balance, state.receivable) == (PAID, 0, False)
    assert figures(state)["paid_count"] == 1


def test_money_paid_beyond_the_gross_is_kept_as_overpaid() -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)])
    state = state_after(inv.created(), inv.sent(), inv.paid("150.00"))
    assert (state.payment_status, state.balance, state.overpaid) == (PAID, 0, 5000)
    f = figures(state)
    assert (f["collected"], f["paid_capped"], f["overpaid"]) == (15000, 10000, 5000)


def test_a_zero_total_invoice_is_paid_once_sent_but_a_zero_total_draft_is_unpaid() -> None:
    inv = InvoiceBuilder(lines=[])
    created = inv.created()
    assert state_after(created).payment_status == UNPAID
    state = state_after(created, inv.sent())
    assert (state.payment_status, state.receivable) == (PAID, False)


def test_a_payment_on_a_draft_counts_as_collected_but_the_draft_is_not_receivable() -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)])
    state = state_after(inv.created(), inv.paid("40.00"))
    assert (state.status, state.payment_status, state.receivable) == ("DRAFT", PARTIALLY_PAID, False)
    assert figures(state)["collected"] == 4000


def test_a_voided_invoice_leaves_revenue_receivable_and_collected() -> None:
    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)])
    state = state_after(inv.created(), inv.sent(), inv.paid("40.00"), inv.voided("wrong customer"))
    assert state.status == VOIDED and not state.receivable
    f = figures(state)
    assert (f["voided_count"], f["voided_gross"], f["sent_gross"], f["collected"]) == (1, 10000, 0, 0)
    assert state.void_reason == "wrong customer"


def test_the_latest_payment_is_the_one_with_the_latest_paid_at() -> None:
    import datetime as dt

    inv = InvoiceBuilder(lines=[line(net=10000, tax=0)])
    late = dt.datetime(2026, 4, 2, tzinfo=dt.UTC)
    early = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    state = state_after(inv.created(), inv.sent(), inv.paid("10.00", at=late), inv.paid("20.00", at=early))
    assert (state.last_paid_at, state.last_payment_amount, state.payment_count) == (late, 1000, 2)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(5, 2, 2), (7, 2, 4), (1, 3, 0), (2, 3, 1), (10, 4, 2), (14, 4, 4), (0, 5, 0)],
)
def test_division_rounds_half_to_even(numerator: int, denominator: int, expected: int) -> None:
    assert round_half_even_div(numerator, denominator) == expected


def test_the_smaller_group_gets_its_rounded_share_and_the_larger_the_rest() -> None:
    # balance 100, fixed gross 2, usage gross 1, total 3: usage = 100/3 = 33.33 -> 33
    assert split_pro_rata(100, 2, 1, 3) == (67, 33)
    # usage larger: fixed = 100*1/3 -> 33, usage takes 67
    assert split_pro_rata(100, 1, 2, 3) == (33, 67)


def test_a_tie_between_groups_goes_to_the_first_group() -> None:
    # 101 split evenly: the second group gets 50.5 -> 50 (half-even), the first 51.
    assert split_pro_rata(101, 5, 5, 10) == (51, 50)
    # 103 -> 51.5 -> 52 (half-even rounds to the even 52), the first takes 51.
    assert split_pro_rata(103, 5, 5, 10) == (51, 52)


def test_the_receivable_balance_is_split_by_charge_type_and_recurrence() -> None:
    inv = InvoiceBuilder(
        lines=[
            line("fixed", "recurring", net=6000, tax=0),
            line("usage", "one_time", net=3000, tax=0),
            line("usage", "recurring", net=1000, tax=0),
        ]
    )
    state = state_after(inv.created(), inv.sent(), inv.paid("33.33"))
    # balance 10000 - 3333 = 6667; usage gross 4000 of 10000 -> 2666.8 -> 2667; fixed 4000.
    # recurring 7000 (largest), one-time 3000 -> 2000.1 -> 2000; recurring 4667.
    assert state.balance_split() == (2667, 4000, 4667, 2000)
    part = {name: value for name, value in figures(state).items() if name in RECEIVABLE}
    assert part == {
        "receivable_count": 1,
        "receivable_balance": 6667,
        "receivable_usage": 2667,
        "receivable_fixed": 4000,
        "receivable_recurring": 4667,
        "receivable_one_time": 2000,
    }


def test_parts_always_add_up_to_the_balance_in_a_zero_decimal_currency() -> None:
    inv = InvoiceBuilder(currency="JPY", lines=[line("fixed", net=1, tax=0), line("usage", net=2, tax=0)])
    state = state_after(inv.created(), inv.sent())
    usage, fixed, recurring, one_time = state.balance_split()
    assert usage + fixed == state.balance == recurring + one_time == 3
