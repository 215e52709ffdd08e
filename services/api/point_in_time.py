"""Figures as they stood at the end of a business date (``asOf``) and as this
service knew them at an instant (``knownAt``), from the timelines the workers
keep (projections/timeline.py; docs/figures.md#as-of). Shared by every summary
endpoint that takes the two parameters.

- Per tenant: the current sums minus what counts only after D (the per-day and
  per-overdue-threshold sums, few rows for a recent D) minus what was recorded
  after T (the timeline rows recorded since, few for a recent T).
- Per customer: the customer's timeline rows with day <= D and recorded <= T.
- The dates of SENT invoices (first/latest issue date, latest accounting date,
  latest payment): index probes over the invoices SENT as of D and known by T.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated

import asyncpg
import msgspec

from projections.figures import NO_FIGURES, RECEIVABLE, TOTALS, Figures, is_count
from projections.timeline import AGING_THRESHOLDS
from services.api import params
from services.api.figures import CurrencyFigures, SentDates, currency_figures
from services.api.params import Param
from services.api.problems import BadParameter
from services.api.rows import Connection, typed

KNOWN_AT = Param(
    "knownAt",
    "Only what this service had applied by this instant (RFC 3339, with an offset: "
    "`2026-11-01T00:00:00Z`): the figures as they were known then, reproducible after late events arrive. "
    "With `asOf`, the state at the end of that date as known at this instant. Not before the oldest "
    "retained record, not in the future.",
    {"format": "date-time", "maxLength": 64},
)
KnownAt = Annotated[str | None, KNOWN_AT.query()]


class Moment(msgspec.Struct, frozen=True):
    """Where a summary stands in time: the end of business day ``as_of`` (None:
    every applied event, whatever its date) as known at ``known_at`` (None:
    now); overdue is counted as of ``cutoff``."""

    as_of: dt.date | None
    known_at: dt.datetime | None
    cutoff: dt.date

    @property
    def current(self) -> bool:
        return self.as_of is None and self.known_at is None

    @property
    def day_after(self) -> dt.datetime | None:
        """The first instant after the business day, for timestamp columns."""
        if self.as_of is None:
            return None
        return dt.datetime.combine(self.as_of + dt.timedelta(days=1), dt.time(), dt.UTC)


def instant(parameter: str, value: str | None) -> dt.datetime | None:
    """An RFC 3339 timestamp with an offset, or None when absent."""
    if value is None or value == "":
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadParameter(
            parameter, f"expected an RFC 3339 timestamp such as 2026-11-30T23:59:59Z, got {value!r}"
        ) from None
    if "T" not in value.upper() or parsed.tzinfo is None:
        raise BadParameter(parameter, f"expected a date, a time and an offset (e.g. ...T23:59:59Z), got {value!r}")
    return parsed


OLDEST_RECORD = "SELECT stored_at FROM billing.event_store ORDER BY seq LIMIT 1"


async def moment(conn: Connection, as_of: str | None, known_at: str | None) -> Moment:
    """The moment the parameters name, checked: a ``knownAt`` in the future or
    before the oldest record this service keeps is a 400 that says why."""
    day = params.date(params.AS_OF.name, as_of)
    at = instant(KNOWN_AT.name, known_at)
    if at is not None:
        now = dt.datetime.now(dt.UTC)
        if at > now:
            raise BadParameter(KNOWN_AT.name, f"{known_at!r} is in the future (it is {now:%Y-%m-%dT%H:%M:%SZ} now)")
        oldest: dt.datetime | None = await conn.fetchval(OLDEST_RECORD)
        if oldest is None:
            raise BadParameter(KNOWN_AT.name, "nothing has been recorded yet, so nothing was known at any time")
        if at < oldest:
            raise BadParameter(
                KNOWN_AT.name,
                f"{known_at!r} is before the oldest record this service keeps ({oldest.isoformat()}): "
                "what was known then cannot be told",
            )
    return Moment(day, at, day or params.today())


def _sum(column: str, source: str = "") -> str:
    kind = "bigint" if is_count(column) else "numeric"
    return f"coalesce(sum({source}{column}), 0)::{kind} AS {column}"


def _minus(columns: tuple[str, ...], *parts: str) -> str:
    return ", ".join(f"c.{f}" + "".join(f" - coalesce({p}.{f}, 0)" for p in parts) + f" AS {f}" for f in columns)


_ALL = ", ".join(_sum(f) for f in TOTALS)
_RECEIVABLE = ", ".join(_sum(f) for f in RECEIVABLE)
_THRESHOLDS = f"unnest(ARRAY{list(AGING_THRESHOLDS)}) AS n"

# $1 tenant, $2 asOf (date or null), $3 knownAt (or null).
TENANT_FIGURES = f"""
WITH c AS (
    SELECT currency, {_ALL} FROM billing_read.currency_totals WHERE tenant_id = $1 GROUP BY currency
), later AS (
    SELECT currency, {_ALL} FROM billing_read.currency_daily
    WHERE tenant_id = $1 AND day > $2::date GROUP BY currency
), unknown AS (
    SELECT currency, {_ALL} FROM billing_read.invoice_changes
    WHERE tenant_id = $1 AND recorded_at > $3::timestamptz AND ($2::date IS NULL OR day <= $2::date)
    GROUP BY currency
)
SELECT c.currency, {_minus(TOTALS, "later", "unknown")}
FROM c LEFT JOIN later USING (currency) LEFT JOIN unknown USING (currency)
ORDER BY c.currency
"""

# Per currency and threshold N: the receivable figures of what is at least N
# days past due at the cut-off $4. With asOf ($2 = $4): the current receivable
# minus the changes that start counting after it; without: the receivable
# rows due at least N days before the cut-off. Minus what was recorded after
# $3 in both cases.
TENANT_OVERDUE = f"""
WITH c AS (
    SELECT currency, n, {_RECEIVABLE} FROM billing_read.currency_totals CROSS JOIN {_THRESHOLDS}
    WHERE tenant_id = $1 AND $2::date IS NOT NULL GROUP BY currency, n
    UNION ALL
    SELECT currency, n, {_RECEIVABLE} FROM billing_read.currency_receivable CROSS JOIN {_THRESHOLDS}
    WHERE tenant_id = $1 AND $2::date IS NULL AND due_date + n <= $4::date GROUP BY currency, n
), later AS (
    SELECT currency, days_past_due AS n, {_RECEIVABLE} FROM billing_read.currency_overdue_from
    WHERE tenant_id = $1 AND from_day > $2::date GROUP BY currency, days_past_due
), unknown AS (
    SELECT currency, n, {_RECEIVABLE} FROM billing_read.invoice_changes CROSS JOIN {_THRESHOLDS}
    WHERE tenant_id = $1 AND recorded_at > $3::timestamptz AND ($2::date IS NULL OR day <= $2::date)
      AND due_date + n <= $4::date
    GROUP BY currency, n
)
SELECT c.currency, c.n, {_minus(RECEIVABLE, "later", "unknown")}
FROM c LEFT JOIN later USING (currency, n) LEFT JOIN unknown USING (currency, n)
"""

# One customer's ($2) rows: $3 asOf, $4 knownAt, $5 cut-off.
_CUSTOMER_ROWS = """
FROM billing_read.invoice_changes
WHERE tenant_id = $1 AND customer_id = $2 AND ($3::date IS NULL OR day <= $3::date)
  AND ($4::timestamptz IS NULL OR recorded_at <= $4::timestamptz)
"""
CUSTOMER_FIGURES = f"SELECT currency, {_ALL}{_CUSTOMER_ROWS}GROUP BY currency ORDER BY currency"
CUSTOMER_OVERDUE = f"""
SELECT currency, n, {_RECEIVABLE}{
    _CUSTOMER_ROWS.replace(
        "FROM billing_read.invoice_changes", f"FROM billing_read.invoice_changes CROSS JOIN {_THRESHOLDS}"
    )
}  AND due_date + n <= $5::date
GROUP BY currency, n
"""

# Invoices SENT as of the moment: sent by the end of $2's day (the first
# instant after it, null: any time) and known by $3, not voided by then.
_SENT = """i.sent_at IS NOT NULL AND ($2::timestamptz IS NULL OR i.sent_at < $2::timestamptz)
      AND ($3::timestamptz IS NULL OR i.sent_recorded_at <= $3::timestamptz)
      AND (i.voided_at IS NULL OR i.voided_at >= $2::timestamptz
           OR ($3::timestamptz IS NOT NULL AND i.voided_recorded_at > $3::timestamptz))"""
_PROBE = f"""SELECT {{column}} FROM billing_read.invoices i
    WHERE i.tenant_id = $1 AND i.currency = g.currency{{customer}} AND {_SENT}
    ORDER BY i.{{column}}{{direction}} LIMIT 1"""
_LAST_PAYMENT = f"""SELECT p.paid_at, p.amount, p.invoice_id FROM billing_read.payments p
    JOIN billing_read.invoices i USING (tenant_id, invoice_id)
    WHERE p.tenant_id = $1 AND p.currency = g.currency{{customer}}
      AND ($2::timestamptz IS NULL OR p.paid_at < $2::timestamptz)
      AND ($3::timestamptz IS NULL OR p.recorded_at <= $3::timestamptz) AND {_SENT}
    ORDER BY p.paid_at DESC, p.invoice_id DESC LIMIT 1"""


def _dates(customer: str) -> str:
    def probe(column: str, direction: str) -> str:
        return _PROBE.format(column=column, direction=direction, customer=customer)

    return f"""
SELECT g.currency, f.issue_date AS first_issue_date, l.issue_date AS latest_issue_date,
       a.accounting_date AS latest_accounting_date,
       p.paid_at AS last_paid_at, p.amount AS last_payment_amount, p.invoice_id AS last_paid_invoice_id
FROM unnest($4::text[]) AS g(currency)
LEFT JOIN LATERAL ({probe("issue_date", "")}) f ON true
LEFT JOIN LATERAL ({probe("issue_date", " DESC")}) l ON true
LEFT JOIN LATERAL ({probe("accounting_date", " DESC")}) a ON true
LEFT JOIN LATERAL ({_LAST_PAYMENT.format(customer=customer)}) p ON true
WHERE f.issue_date IS NOT NULL
"""


# $1 tenant, $2 first instant after asOf, $3 knownAt, $4 currencies (, $5 customer).
TENANT_DATES = _dates("")
CUSTOMER_DATES = _dates(" AND i.customer_id = $5")


class PastDue(msgspec.Struct, frozen=True):
    """The receivable figures of what is at least N days past due at the
    cut-off, for each N of AGING_THRESHOLDS."""

    at_least: dict[int, Figures]

    def overdue(self) -> Figures:
        return self.at_least.get(AGING_THRESHOLDS[0], NO_FIGURES)

    def aging(self) -> list[tuple[int, int]]:
        """(count, balance) per bucket: 1-30, 31-60, 61-90, over 90 days."""
        sums = (self.at_least.get(n, NO_FIGURES) for n in AGING_THRESHOLDS)
        return aging([(f.receivable_count, f.receivable_balance) for f in sums])


def aging(at_least: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """(count, balance) per aging bucket (1-30, 31-60, 61-90, over 90 days)
    from the (count, balance) at least N days past due, for each N of
    AGING_THRESHOLDS: each bucket is the difference of two thresholds."""
    sums = [*at_least, (0, 0)]
    return [(older[0] - newer[0], older[1] - newer[1]) for older, newer in zip(sums, sums[1:], strict=False)]


def _past_due(records: list[asyncpg.Record]) -> dict[str, PastDue]:
    found: dict[str, dict[int, Figures]] = {}
    for r in records:
        found.setdefault(r["currency"], {})[r["n"]] = Figures(**{f: int(r[f]) for f in RECEIVABLE})
    return {currency: PastDue(at_least) for currency, at_least in found.items()}


async def tenant_figures(conn: Connection, tenant_id: str, at: Moment) -> list[CurrencyFigures]:
    records = await conn.fetch(TENANT_FIGURES, tenant_id, at.as_of, at.known_at)
    return [f for f in currency_figures(records) if f.figures.invoice_count]


async def customer_figures(conn: Connection, tenant_id: str, customer_id: str, at: Moment) -> list[CurrencyFigures]:
    records = await conn.fetch(CUSTOMER_FIGURES, tenant_id, customer_id, at.as_of, at.known_at)
    return [f for f in currency_figures(records) if f.figures.invoice_count]


async def tenant_past_due(conn: Connection, tenant_id: str, at: Moment) -> dict[str, PastDue]:
    return _past_due(await conn.fetch(TENANT_OVERDUE, tenant_id, at.as_of, at.known_at, at.cutoff))


async def customer_past_due(conn: Connection, tenant_id: str, customer_id: str, at: Moment) -> dict[str, PastDue]:
    return _past_due(await conn.fetch(CUSTOMER_OVERDUE, tenant_id, customer_id, at.as_of, at.known_at, at.cutoff))


async def tenant_dates(conn: Connection, tenant_id: str, at: Moment, currencies: list[str]) -> dict[str, SentDates]:
    records = await conn.fetch(TENANT_DATES, tenant_id, at.day_after, at.known_at, currencies)
    return {r["currency"]: typed(SentDates, r) for r in records}


async def customer_dates(
    conn: Connection, tenant_id: str, customer_id: str, at: Moment, currencies: list[str]
) -> dict[str, SentDates]:
    records = await conn.fetch(CUSTOMER_DATES, tenant_id, at.day_after, at.known_at, currencies, customer_id)
    return {r["currency"]: typed(SentDates, r) for r in records}
