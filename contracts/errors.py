"""Why an event can never apply: one table of reasons, one exception.

Every quarantined event carries exactly one ``Reason``. The codes are stable:
they are stored with the quarantined event, counted in metrics and shown to
publishers, so a value may be added but never renamed.
"""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    """Why an event is quarantined; the value is a stable snake_case code."""

    # Found by the codec, from the event alone.
    MALFORMED = "malformed"
    SCHEMA_VIOLATION = "schema_violation"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_SPECVERSION = "unsupported_specversion"
    UNKNOWN_CURRENCY = "unknown_currency"
    INVALID_MONEY = "invalid_money"
    MONEY_PRECISION = "money_precision"
    NEGATIVE_AMOUNT = "negative_amount"
    AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
    TOTALS_MISMATCH = "totals_mismatch"
    INVALID_DATES = "invalid_dates"
    # Found by the worker: the Kafka key is not the event's subject.
    SUBJECT_MISMATCH = "subject_mismatch"
    # Found by the fold, against the invoice's history.
    INVALID_SEQUENCE = "invalid_sequence"
    SEQUENCE_CONFLICT = "sequence_conflict"
    DUPLICATE_PAYMENT = "duplicate_payment"
    SENT_TWICE = "sent_twice"
    SENT_AFTER_VOID = "sent_after_void"
    PAID_AFTER_VOID = "paid_after_void"
    VOID_AFTER_PAID = "void_after_paid"
    VOIDED_TWICE = "voided_twice"


class ContractError(Exception):
    """An event that can never apply.

    ``reason`` says which rule it breaks; ``detail`` is a human-readable message
    naming the field, e.g.
    ``"data.lines[2].net_amount: '10.123' has 3 decimals, EUR allows 2"``.
    """

    reason: Reason
    detail: str

    def __init__(self, reason: Reason, detail: str) -> None:
        # Both go to Exception.args so the error pickles and copies intact.
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}"


def quoted(value: str) -> str:
    """``value`` quoted for a detail message, cut short so details stay readable."""
    return repr(value if len(value) <= 40 else value[:40] + "...")
