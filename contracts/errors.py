"""Why an event can never apply: one table of reasons, one exception.

Every quarantined event carries exactly one ``Reason``. The codes are stable:
they are stored with the quarantined event, counted in metrics and shown to
publishers, so a value may be added but never renamed.
"""

from __future__ import annotations

import enum

import msgspec


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
    # Found by the worker: the event waited for its gap beyond a limit (the
    # tenant's cap of held events, their age limit, or an operator's release).
    GAP_TIMEOUT = "gap_timeout"


class EventIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """Who an event that cannot apply says it belongs to, as far as it says.

    Each attribute is set only when the message gives it once, with the type
    and bounds the contract requires (``sequence`` an integer or a string of
    ASCII digits, 1 to 2147483647; the strings 1-200 characters without NUL),
    so a record that is quarantined can still be found by its tenant, event
    id or invoice. Nothing here was validated as an event: it is a lead for an
    operator, never a fact to fold.
    """

    tenantid: str | None = None
    id: str | None = None
    subject: str | None = None
    type: str | None = None
    sequence: int | None = None


class ContractError(Exception):
    """An event that can never apply.

    ``reason`` says which rule it breaks; ``detail`` is a human-readable message
    naming the field, e.g.
    ``"data.lines[2].net_amount: '10.123' has 3 decimals, EUR allows 2"``.
    ``identity`` is what the message says of its tenant, id, subject, type and
    sequence when ``decode`` could read any of them (binary-mode headers, or a
    structured body that parses but breaks a rule); None when it could not.
    """

    reason: Reason
    detail: str
    identity: EventIdentity | None

    def __init__(self, reason: Reason, detail: str, identity: EventIdentity | None = None) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail
        self.identity = identity

    def __reduce__(self) -> tuple[type[ContractError], tuple[Reason, str, EventIdentity | None]]:
        # Pickles and copies intact, identity included (it may be set after
        # the error was made).
        return (ContractError, (self.reason, self.detail, self.identity))

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}"


def quoted(value: str) -> str:
    """``value`` quoted for a detail message, cut short so details stay readable."""
    return repr(value if len(value) <= 40 else value[:40] + "...")
