"""The invoice filter shared by the summary and list endpoints, and the SQL
predicates it becomes.

``invoice_filter`` is a Litestar dependency: routes that take an
``invoice_filter: InvoiceFilter`` argument get every filter parameter,
declared, validated and documented once. ``Sql`` turns a filter into
predicates with numbered parameters (the ``F_*`` fragments below): user input
only ever travels as a parameter value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

import msgspec

from contracts import CURRENCIES, MAX_MINOR
from services.api import params
from services.api.params import DATE, NON_EMPTY, Param, list_pattern

# Statuses our model produces, and the ones the seed pages document but our
# model never produces: accepted, matching nothing.
STATUSES = ("DRAFT", "SENT", "VOIDED")
NEVER_STATUSES = ("IN_PROGRESS", "FINAL")
PAYMENT_STATUSES = ("UNPAID", "PARTIALLY_PAID", "PAID")
NEVER_PAYMENT_STATUSES = ("UNCOLLECTIBLE",)

# Currency codes by their number of decimals: a net total is compared in the
# minor units of each group.
_CODES_BY_EXPONENT: dict[int, list[str]] = {}
for _code, _currency in sorted(CURRENCIES.items()):
    _CODES_BY_EXPONENT.setdefault(_currency.exponent, []).append(_code)

# Predicates, each ``{}`` a numbered parameter ($3).
F_STATUS = "status = ANY({}::text[])"
F_NOT_STATUS = "NOT (status = ANY({}::text[]))"
F_PAYMENT_STATUS = "payment_status = ANY({}::text[])"
F_NOT_PAYMENT_STATUS = "NOT (payment_status = ANY({}::text[]))"
F_CUSTOMER = "customer_id = {}::text"
F_NOT_CUSTOMER = "customer_id <> {}::text"
F_SCHEDULE = "billing_schedule_id = {}::text"
F_NOT_SCHEDULE = "billing_schedule_id IS DISTINCT FROM {}::text"
F_DUE_BEFORE = "due_date < {}::date"
F_DUE_AFTER = "due_date >= {}::date"
F_SENT_BEFORE = "sent_date < {}::date"
F_SENT_AFTER = "sent_date >= {}::date"
F_ISSUED_BEFORE = "issue_date < {}::date"
F_ISSUED_AFTER = "issue_date >= {}::date"
F_NONZERO_QUANTITY = "NOT quantity_is_zero"
F_CURRENCY = "currency = ANY({}::text[])"
F_NOT_CURRENCY = "NOT (currency = ANY({}::text[]))"
F_SEARCH = "invoice_number ILIKE {}::text ESCAPE '\\'"
F_NOT_SEARCH = "invoice_number NOT ILIKE {}::text ESCAPE '\\'"
F_NUMBER = "invoice_number = {}::text"
F_NOT_NUMBER = "invoice_number <> {}::text"
# Net total in minor units, for the currencies of one exponent.
F_NET_IN = "(currency = ANY({}::text[]) AND net = {}::bigint)"
F_NOTHING = "false"


class InvoiceFilter(msgspec.Struct, frozen=True, kw_only=True):
    statuses: list[str] | None = None
    not_statuses: list[str] | None = None
    payment_statuses: list[str] | None = None
    not_payment_statuses: list[str] | None = None
    customer_id: str | None = None
    not_customer_id: str | None = None
    billing_schedule_id: str | None = None
    not_billing_schedule_id: str | None = None
    due_before: dt.date | None = None
    due_after: dt.date | None = None
    sent_before: dt.date | None = None
    sent_after: dt.date | None = None
    issued_before: dt.date | None = None
    issued_after: dt.date | None = None
    exclude_zero_quantity: bool = False
    currencies: list[str] | None = None
    not_currencies: list[str] | None = None
    search: str | None = None
    not_search: str | None = None
    invoice_number: str | None = None
    not_invoice_number: str | None = None
    net_total: Decimal | None = None
    not_net_total: Decimal | None = None

    @property
    def is_empty(self) -> bool:
        return self == _NO_FILTER


_NO_FILTER = InvoiceFilter()

# Parameters (Sequence's names) -------------------------------------------------

_STATUS_LIST = list_pattern("|".join((*STATUSES, *NEVER_STATUSES)))
_PAYMENT_LIST = list_pattern("|".join((*PAYMENT_STATUSES, *NEVER_PAYMENT_STATUSES)))
_CURRENCY_LIST = list_pattern("[A-Z]{3}")
_NUMBER = {"type": "number"}

STATUS = Param(
    "invoiceStatus",
    "Invoice status, comma list: DRAFT, SENT, VOIDED (IN_PROGRESS, FINAL accepted, match nothing).",
    _STATUS_LIST,
    comma_list=True,
)
NOT_STATUS = Param("excludeInvoiceStatus", "Leave out these statuses (comma list).", _STATUS_LIST, comma_list=True)
PAYMENT_STATUS = Param(
    "invoicePaymentStatus",
    "Payment status, comma list: UNPAID, PARTIALLY_PAID, PAID (UNCOLLECTIBLE accepted, matches nothing).",
    _PAYMENT_LIST,
    comma_list=True,
)
NOT_PAYMENT_STATUS = Param(
    "excludeInvoicePaymentStatus", "Leave out these payment statuses (comma list).", _PAYMENT_LIST, comma_list=True
)
CUSTOMER = Param("customerId", "Only this customer's invoices.", NON_EMPTY)
NOT_CUSTOMER = Param("excludeCustomerId", "Leave out this customer's invoices.", NON_EMPTY)
SCHEDULE = Param("billingScheduleId", "Only invoices of this billing schedule.", NON_EMPTY)
NOT_SCHEDULE = Param(
    "excludeBillingScheduleId", "Leave out this billing schedule's invoices (invoices without one stay).", NON_EMPTY
)
DUE_BEFORE = Param("dueBefore", "Due date < this date (YYYY-MM-DD).", DATE)
DUE_AFTER = Param("dueAfter", "Due date >= this date (YYYY-MM-DD).", DATE)
SENT_BEFORE = Param("sentBefore", "Sent (UTC date of sent_at) < this date; never-sent invoices do not match.", DATE)
SENT_AFTER = Param("sentAfter", "Sent (UTC date of sent_at) >= this date; never-sent invoices do not match.", DATE)
ISSUED_BEFORE = Param("invoiceBefore", "Invoice (issue) date < this date.", DATE)
ISSUED_AFTER = Param("invoiceAfter", "Invoice (issue) date >= this date.", DATE)
NONZERO_QUANTITY = Param(
    "excludeZeroQuantity", "true: leave out invoices whose line quantities sum to zero.", {"type": "boolean"}
)
CURRENCY = Param("invoiceCurrency", "Currency codes, comma list (e.g. EUR,GBP).", _CURRENCY_LIST, comma_list=True)
NOT_CURRENCY = Param(
    "excludeInvoiceCurrency", "Leave out these currencies (comma list).", _CURRENCY_LIST, comma_list=True
)
SEARCH = Param("search", "Case-insensitive substring of the invoice number.", NON_EMPTY)
NOT_SEARCH = Param("excludeSearch", "Leave out invoices whose number contains this text (case-insensitive).", NON_EMPTY)
NUMBER = Param("invoiceNumber", "Exactly this invoice number.", NON_EMPTY)
NOT_NUMBER = Param("excludeInvoiceNumber", "Leave out the invoice with this number.", NON_EMPTY)
NET_TOTAL = Param("netTotal", "Net total equal to this amount in major units (e.g. 1250.50).", _NUMBER)
NOT_NET_TOTAL = Param("excludeNetTotal", "Leave out invoices whose net total equals this amount.", _NUMBER)


async def invoice_filter(
    invoice_status: Annotated[str | None, STATUS.query()] = None,
    invoice_payment_status: Annotated[str | None, PAYMENT_STATUS.query()] = None,
    customer_id: Annotated[str | None, CUSTOMER.query()] = None,
    billing_schedule_id: Annotated[str | None, SCHEDULE.query()] = None,
    due_before: Annotated[str | None, DUE_BEFORE.query()] = None,
    due_after: Annotated[str | None, DUE_AFTER.query()] = None,
    sent_before: Annotated[str | None, SENT_BEFORE.query()] = None,
    sent_after: Annotated[str | None, SENT_AFTER.query()] = None,
    invoice_before: Annotated[str | None, ISSUED_BEFORE.query()] = None,
    invoice_after: Annotated[str | None, ISSUED_AFTER.query()] = None,
    exclude_zero_quantity: Annotated[str | None, NONZERO_QUANTITY.query()] = None,
    invoice_currency: Annotated[str | None, CURRENCY.query()] = None,
    search: Annotated[str | None, SEARCH.query()] = None,
    invoice_number: Annotated[str | None, NUMBER.query()] = None,
    net_total: Annotated[str | None, NET_TOTAL.query()] = None,
    exclude_invoice_status: Annotated[str | None, NOT_STATUS.query()] = None,
    exclude_invoice_payment_status: Annotated[str | None, NOT_PAYMENT_STATUS.query()] = None,
    exclude_customer_id: Annotated[str | None, NOT_CUSTOMER.query()] = None,
    exclude_billing_schedule_id: Annotated[str | None, NOT_SCHEDULE.query()] = None,
    exclude_invoice_currency: Annotated[str | None, NOT_CURRENCY.query()] = None,
    exclude_invoice_number: Annotated[str | None, NOT_NUMBER.query()] = None,
    exclude_net_total: Annotated[str | None, NOT_NET_TOTAL.query()] = None,
    exclude_search: Annotated[str | None, NOT_SEARCH.query()] = None,
) -> InvoiceFilter:
    """The filter parameters of Sequence's invoice list, validated. A Litestar
    dependency: ``dependencies={"invoice_filter": Provide(invoice_filter)}``."""
    statuses, never = STATUSES, NEVER_STATUSES
    paid, never_paid = PAYMENT_STATUSES, NEVER_PAYMENT_STATUSES
    return InvoiceFilter(
        statuses=params.enum_list(STATUS.name, invoice_status, statuses, never),
        not_statuses=params.enum_list(NOT_STATUS.name, exclude_invoice_status, statuses, never),
        payment_statuses=params.enum_list(PAYMENT_STATUS.name, invoice_payment_status, paid, never_paid),
        not_payment_statuses=params.enum_list(
            NOT_PAYMENT_STATUS.name, exclude_invoice_payment_status, paid, never_paid
        ),
        customer_id=params.text(CUSTOMER.name, customer_id),
        not_customer_id=params.text(NOT_CUSTOMER.name, exclude_customer_id),
        billing_schedule_id=params.text(SCHEDULE.name, billing_schedule_id),
        not_billing_schedule_id=params.text(NOT_SCHEDULE.name, exclude_billing_schedule_id),
        due_before=params.date(DUE_BEFORE.name, due_before),
        due_after=params.date(DUE_AFTER.name, due_after),
        sent_before=params.date(SENT_BEFORE.name, sent_before),
        sent_after=params.date(SENT_AFTER.name, sent_after),
        issued_before=params.date(ISSUED_BEFORE.name, invoice_before),
        issued_after=params.date(ISSUED_AFTER.name, invoice_after),
        exclude_zero_quantity=bool(params.boolean(NONZERO_QUANTITY.name, exclude_zero_quantity)),
        currencies=params.currency_list(CURRENCY.name, invoice_currency),
        not_currencies=params.currency_list(NOT_CURRENCY.name, exclude_invoice_currency),
        search=params.text(SEARCH.name, search),
        not_search=params.text(NOT_SEARCH.name, exclude_search),
        invoice_number=params.text(NUMBER.name, invoice_number),
        not_invoice_number=params.text(NOT_NUMBER.name, exclude_invoice_number),
        net_total=params.decimal_number(NET_TOTAL.name, net_total),
        not_net_total=params.decimal_number(NOT_NET_TOTAL.name, exclude_net_total),
    )


# SQL -------------------------------------------------------------------------


def like_pattern(text: str) -> str:
    """An ILIKE pattern matching ``text`` anywhere, with ``\\``, ``%`` and ``_`` literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def net_minor_by_exponent(amount: Decimal) -> list[tuple[list[str], int]]:
    """(currencies, minor units) for each currency exponent in which ``amount``
    is a whole number of minor units; empty when it is one in none."""
    matches: list[tuple[list[str], int]] = []
    if abs(amount) > MAX_MINOR:  # beyond any invoice total, in every currency
        return matches
    for exponent, codes in _CODES_BY_EXPONENT.items():
        minor = amount.scaleb(exponent)
        if minor == minor.to_integral_value():
            matches.append((codes, int(minor)))
    return matches


class Sql:
    """Predicates with numbered parameters; ``$1`` is the tenant, ``more``
    the next ones (``$2``, …)."""

    def __init__(self, tenant_id: str, *more: Any) -> None:
        self.args: list[Any] = [tenant_id, *more]
        self.predicates: list[str] = []

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, fragment: str, *values: Any) -> None:
        self.predicates.append(fragment.format(*(self.param(v) for v in values)))

    def add_given(self, fragments: Sequence[tuple[str, Any]]) -> Sql:
        """Each fragment whose value is given (not None)."""
        for fragment, value in fragments:
            if value is not None:
                self.add(fragment, value)
        return self

    @property
    def where(self) -> str:
        return "".join(f" AND {p}" for p in self.predicates)

    def net_total(self, amount: Decimal, negate: bool) -> None:
        parts = [
            F_NET_IN.format(self.param(codes), self.param(minor)) for codes, minor in net_minor_by_exponent(amount)
        ]
        either = " OR ".join(parts) if parts else F_NOTHING
        self.predicates.append(f"NOT ({either})" if negate else f"({either})")

    def invoice_filter(self, f: InvoiceFilter) -> Sql:
        self.add_given(
            (
                (F_STATUS, f.statuses),
                (F_NOT_STATUS, f.not_statuses),
                (F_PAYMENT_STATUS, f.payment_statuses),
                (F_NOT_PAYMENT_STATUS, f.not_payment_statuses),
                (F_CUSTOMER, f.customer_id),
                (F_NOT_CUSTOMER, f.not_customer_id),
                (F_SCHEDULE, f.billing_schedule_id),
                (F_NOT_SCHEDULE, f.not_billing_schedule_id),
                (F_DUE_BEFORE, f.due_before),
                (F_DUE_AFTER, f.due_after),
                (F_SENT_BEFORE, f.sent_before),
                (F_SENT_AFTER, f.sent_after),
                (F_ISSUED_BEFORE, f.issued_before),
                (F_ISSUED_AFTER, f.issued_after),
                (F_CURRENCY, f.currencies),
                (F_NOT_CURRENCY, f.not_currencies),
                (F_SEARCH, None if f.search is None else like_pattern(f.search)),
                (F_NOT_SEARCH, None if f.not_search is None else like_pattern(f.not_search)),
                (F_NUMBER, f.invoice_number),
                (F_NOT_NUMBER, f.not_invoice_number),
            )
        )
        if f.exclude_zero_quantity:
            self.add(F_NONZERO_QUANTITY)
        if f.net_total is not None:
            self.net_total(f.net_total, negate=False)
        if f.not_net_total is not None:
            self.net_total(f.not_net_total, negate=True)
        return self
