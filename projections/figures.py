"""What one invoice contributes to the summary tables.

Every summary row is a sum of per-invoice contributions, so the change an event
causes is ``contribution(after) - contribution(before)``, and sums of changes
commute: batches, shards and replays all add up to the same totals. The column
names here are the single source of truth for the summary tables' SQL.
"""

from __future__ import annotations

from projections.invoice import DRAFT, PAID, PARTIALLY_PAID, SENT, UNPAID, VOIDED, InvoiceState

# Per (tenant, currency) and per (tenant, customer, currency).
TOTALS: tuple[str, ...] = (
    "invoice_count",  # every invoice, any status
    "gross_total",
    "draft_count",
    "draft_gross",
    "sent_count",
    "sent_net",
    "sent_tax",  # VAT of SENT invoices
    "sent_gross",  # revenue (invoiced)
    "voided_count",
    "voided_gross",
    "unpaid_count",  # SENT invoices by payment status
    "unpaid_gross",
    "partially_paid_count",
    "partially_paid_gross",
    "paid_count",
    "paid_gross",
    "collected",  # payments on non-voided invoices
    "paid_capped",  # SENT: paid up to the gross (overpayment not counted)
    "overpaid",  # non-voided: paid beyond the gross
    "receivable_count",  # SENT with balance > 0
    "receivable_balance",
    "receivable_usage",
    "receivable_fixed",
    "receivable_recurring",
    "receivable_one_time",
)

# Per due date: overdue as of D is the sum of the rows with due_date < D.
RECEIVABLE: tuple[str, ...] = TOTALS[TOTALS.index("receivable_count") :]

ZERO_TOTALS = (0,) * len(TOTALS)


def is_count(column: str) -> bool:
    return column.endswith("_count")


def contribution(state: InvoiceState | None) -> tuple[int, ...]:
    """The invoice's contribution to TOTALS, in that order (zeros for no invoice)."""
    if state is None:
        return ZERO_TOTALS
    status, gross = state.status, state.gross
    draft = status == DRAFT
    sent = status == SENT
    voided = status == VOIDED
    payment_status = state.payment_status if sent else None
    unpaid = payment_status == UNPAID
    partial = payment_status == PARTIALLY_PAID
    paid = payment_status == PAID
    receivable = state.receivable
    if receivable:
        usage, fixed, recurring, one_time = state.balance_split()
        balance = state.balance
    else:
        usage = fixed = recurring = one_time = balance = 0
    amount_paid = state.amount_paid
    return (
        1,
        gross,
        int(draft),
        gross if draft else 0,
        int(sent),
        state.net if sent else 0,
        state.tax if sent else 0,
        gross if sent else 0,
        int(voided),
        gross if voided else 0,
        int(unpaid),
        gross if unpaid else 0,
        int(partial),
        gross if partial else 0,
        int(paid),
        gross if paid else 0,
        0 if voided else amount_paid,
        min(amount_paid, gross) if sent else 0,
        0 if voided else state.overpaid,
        int(receivable),
        balance,
        usage,
        fixed,
        recurring,
        one_time,
    )


def receivable_part(totals: tuple[int, ...]) -> tuple[int, ...]:
    return totals[len(TOTALS) - len(RECEIVABLE) :]


def subtract(after: tuple[int, ...], before: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(a - b for a, b in zip(after, before, strict=True))
