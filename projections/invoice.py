"""One invoice's state and the state machine of its lifecycle (pure, no I/O).

DRAFT --sent--> SENT --voided--> VOIDED, DRAFT --voided--> VOIDED; payments may
arrive in DRAFT or SENT. The payment status follows from the amounts:
UNPAID -> PARTIALLY_PAID -> PAID. Forbidden transitions raise ContractError with
their own reason so the batch fold can quarantine them.
"""

from __future__ import annotations

import datetime as dt
from typing import assert_never

import msgspec

from contracts import (
    ContractError,
    InvoiceAmounts,
    InvoiceCreated,
    InvoiceEvent,
    InvoicePaid,
    InvoiceSent,
    InvoiceVoided,
    Reason,
    event_type,
    to_minor,
    type_name,
)

DRAFT, SENT, VOIDED = "DRAFT", "SENT", "VOIDED"
UNPAID, PARTIALLY_PAID, PAID = "UNPAID", "PARTIALLY_PAID", "PAID"


class InvoiceFacts(msgspec.Struct):
    """What an invoice's ``invoice.created`` event fixes for good; money in
    minor units of ``currency``. The invoices table's rows start with these
    columns, as the fold keeps them and as the read API reads them."""

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


class InvoiceState(InvoiceFacts, kw_only=True):
    """The current state of one invoice: one row of the invoices table.

    Mutable on purpose: the batch fold updates states in place (a batch touches
    thousands of them); callers that need the before-image take it first.
    """

    tenant_id: str
    invoice_id: str
    partition: int
    status: str = DRAFT
    amount_paid: int = 0
    payment_count: int = 0
    last_paid_at: dt.datetime | None = None
    last_payment_amount: int | None = None
    sent_at: dt.datetime | None = None
    voided_at: dt.datetime | None = None
    void_reason: str | None = None
    # Event id applied at each sequence (index = sequence - 1): duplicates and
    # sequence conflicts are decided from the invoice's own history.
    event_ids: list[str] = msgspec.field(default_factory=list)
    payment_ids: list[str] = msgspec.field(default_factory=list)
    # Each payment's business time and amount, in the order applied: the
    # invoice as it stood at any date (projections/timeline.py).
    payment_times: list[dt.datetime] = msgspec.field(default_factory=list)
    payment_amounts: list[int] = msgspec.field(default_factory=list)
    # When this service applied the sent and voided events (None until the
    # transaction that applies them records its time): what was known when.
    sent_recorded_at: dt.datetime | None = None
    voided_recorded_at: dt.datetime | None = None
    # The business time of invoice.created: the invoice exists from then on.
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def last_sequence(self) -> int:
        return len(self.event_ids)

    @property
    def payment_status(self) -> str:
        if self.gross > 0:
            if self.amount_paid >= self.gross:
                return PAID
            return PARTIALLY_PAID if self.amount_paid > 0 else UNPAID
        # Nothing is owed on a zero-total invoice once it is sent; a zero-total
        # draft stays UNPAID until then (see docs/figures.md#payment-status).
        return PAID if self.amount_paid > 0 or self.status == SENT else UNPAID

    @property
    def balance(self) -> int:
        return max(self.gross - self.amount_paid, 0)

    @property
    def overpaid(self) -> int:
        return max(self.amount_paid - self.gross, 0)

    @property
    def receivable(self) -> bool:
        return self.status == SENT and self.balance > 0

    @property
    def sent_date(self) -> dt.date | None:
        return None if self.sent_at is None else self.sent_at.astimezone(dt.UTC).date()

    def balance_split(self) -> tuple[int, int, int, int]:
        """The balance split (usage, fixed, recurring, one_time); see
        docs/figures.md#balance-split."""
        balance = self.balance
        fixed, usage = split_pro_rata(balance, self.fixed_gross, self.usage_gross, self.gross)
        recurring, one_time = split_pro_rata(balance, self.recurring_gross, self.one_time_gross, self.gross)
        return usage, fixed, recurring, one_time


def round_half_even_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half to even, in exact integers (both >= 0)."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def split_pro_rata(balance: int, first: int, second: int, total: int) -> tuple[int, int]:
    """Split balance between two groups by their gross, so the parts add up exactly.

    The smaller group gets balance x its gross / total rounded half-even; the
    larger takes the rest. Ties go to ``first``, which is why callers pass the
    group that wins ties first (fixed before usage, recurring before one-time).
    """
    if total <= 0 or balance == 0:
        return 0, 0
    if first >= second:
        part = round_half_even_div(balance * second, total)
        return balance - part, part
    part = round_half_even_div(balance * first, total)
    return part, balance - part


def opens_history(event: InvoiceEvent) -> bool:
    """Whether events of this type start an invoice's history (sequence 1)."""
    match event:
        case InvoicePaid() | InvoiceSent() | InvoiceVoided():
            return False
        case InvoiceCreated():
            return True
        case _:
            assert_never(event)


def first_state(event: InvoiceEvent, amounts: InvoiceAmounts | None, partition: int) -> InvoiceState:
    """The state an invoice's first event creates; ContractError (invalid
    sequence) if events of this type cannot start a history."""
    match event:
        case InvoiceCreated() if amounts is not None:
            return created_state(event, amounts, partition)
        case InvoiceCreated() | InvoiceSent() | InvoicePaid() | InvoiceVoided():
            raise ContractError(
                Reason.INVALID_SEQUENCE,
                f"{event_type(event)} at sequence 1: an invoice's first event is {type_name(InvoiceCreated)}",
            )
        case _:
            assert_never(event)


def created_state(event: InvoiceCreated, amounts: InvoiceAmounts, partition: int) -> InvoiceState:
    data = event.data
    period = data.billing_period
    return InvoiceState(
        tenant_id=event.tenantid,
        invoice_id=event.subject,
        partition=partition,
        invoice_number=data.invoice_number,
        customer_id=data.customer_id,
        customer_name=data.customer_name,
        currency=data.currency,
        issue_date=data.issue_date,
        due_date=data.due_date,
        accounting_date=data.accounting_date or data.issue_date,
        billing_period_start=None if period is None else period.start,
        billing_period_end=None if period is None else period.end_inclusive,
        billing_schedule_id=data.billing_schedule_id,
        series_id=data.series_id,
        document_type=data.document_type,
        net=amounts.net,
        tax=amounts.tax,
        gross=amounts.gross,
        usage_gross=amounts.usage_gross,
        fixed_gross=amounts.fixed_gross,
        recurring_gross=amounts.recurring_gross,
        one_time_gross=amounts.one_time_gross,
        quantity_is_zero=amounts.quantity_is_zero,
        event_ids=[event.id],
        created_at=event.time,
        updated_at=event.time,
    )


def check_transition(state: InvoiceState, event: InvoiceEvent) -> int:
    """Raise ContractError if ``event`` may not follow ``state``; else return the
    payment amount in minor units (0 for events that carry none)."""
    # The cases run in order: the most frequent events first.
    match event:
        case InvoicePaid():
            if state.status == VOIDED:
                raise ContractError(Reason.PAID_AFTER_VOID, f"invoice {state.invoice_id} is voided")
            if event.data.payment_id in state.payment_ids:
                raise ContractError(
                    Reason.DUPLICATE_PAYMENT,
                    f"payment {event.data.payment_id} was already applied to invoice {state.invoice_id}",
                )
            # The payment is in the invoice's currency; only now is its precision known.
            return to_minor(event.data.amount, state.currency, field="data.amount")
        case InvoiceSent():
            if state.status == SENT:
                raise ContractError(Reason.SENT_TWICE, f"invoice {state.invoice_id} was already sent")
            if state.status == VOIDED:
                raise ContractError(Reason.SENT_AFTER_VOID, f"invoice {state.invoice_id} is voided")
            return 0
        case InvoiceVoided():
            if state.status == VOIDED:
                raise ContractError(Reason.VOIDED_TWICE, f"invoice {state.invoice_id} is already voided")
            if state.payment_status == PAID:
                raise ContractError(Reason.VOID_AFTER_PAID, f"invoice {state.invoice_id} is fully paid")
            return 0
        case InvoiceCreated():
            raise ContractError(
                Reason.INVALID_SEQUENCE,
                f"{event_type(event)} at sequence {event.sequence}: an invoice is created by its first event",
            )
        case _:
            assert_never(event)


def advance(state: InvoiceState, event: InvoiceEvent, amount: int, recorded_at: dt.datetime | None = None) -> None:
    """Apply an event that check_transition accepted (``amount`` is its result),
    recorded at ``recorded_at`` (None: by the transaction that writes it)."""
    match event:
        case InvoicePaid():
            state.amount_paid += amount
            state.payment_count += 1
            state.payment_ids.append(event.data.payment_id)
            state.payment_times.append(event.data.paid_at)
            state.payment_amounts.append(amount)
            paid_at = event.data.paid_at
            # The latest payment by paid_at; on a tie the later-applied one wins.
            if state.last_paid_at is None or paid_at >= state.last_paid_at:
                state.last_paid_at = paid_at
                state.last_payment_amount = amount
        case InvoiceSent():
            state.status = SENT
            state.sent_at = event.data.sent_at
            state.sent_recorded_at = recorded_at
        case InvoiceVoided():
            state.status = VOIDED
            state.voided_at = event.data.voided_at
            state.voided_recorded_at = recorded_at
            state.void_reason = event.data.reason
        case InvoiceCreated():
            raise ValueError(f"{event_type(event)} never follows a state: check_transition refuses it")
        case _:
            assert_never(event)
    state.event_ids.append(event.id)
    state.updated_at = event.time
