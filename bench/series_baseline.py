"""The series baseline (served by bench/baseline_api.py): GET
/v1/summary/series computed the common way, by aggregating the tenant's
invoice rows at request time — what was sent, voided and paid in each
period from the rows' dates and payment lists, and the receivable, overdue
and aging at each period's end from each invoice's balance then. Same
periods, same response builders as the product, so the bodies are identical
and the benchmark compares only where the figures come from."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping

from projections.timeline import AGING_THRESHOLDS
from services.api.point_in_time import aging
from services.api.rows import Connection
from services.api.v1.series.endpoints import currency_series
from services.api.v1.series.flows import PeriodFlows
from services.api.v1.series.periods import periods
from services.api.v1.series.queries import CurrencySeries
from services.api.v1.series.schemas import V1Series

STATEMENT_TIMEOUT_MS = 300_000

# $1 tenant, $2 the periods' first days, $3 their last days. Business days
# are the UTC dates of the rows' times.
_INVOICES = """
WITH p AS (SELECT * FROM unnest($2::date[], $3::date[]) WITH ORDINALITY AS p(first, last, i)),
inv AS MATERIALIZED (
    SELECT currency, gross, due_date, payment_times, payment_amounts,
           (created_at AT TIME ZONE 'UTC')::date AS created,
           (sent_at AT TIME ZONE 'UTC')::date AS sent,
           (voided_at AT TIME ZONE 'UTC')::date AS voided
    FROM billing_read.invoices
    WHERE tenant_id = $1 AND (created_at AT TIME ZONE 'UTC')::date <= $3[array_upper($3, 1)]
)
"""
_AGING = ", ".join(
    f"count(*) FILTER (WHERE p.last - b.due_date >= {n}) AS count_{n},"
    f" coalesce(sum(b.balance) FILTER (WHERE p.last - b.due_date >= {n}), 0) AS balance_{n}"
    for n in AGING_THRESHOLDS
)
SERIES = f"""{_INVOICES}
SELECT 'currency' AS kind, 0::bigint AS i, currency, 0::bigint AS count, 0::numeric AS amount FROM inv GROUP BY currency
UNION ALL
SELECT 'invoiced', p.i, inv.currency, count(*), sum(inv.gross)
FROM inv JOIN p ON inv.sent BETWEEN p.first AND p.last GROUP BY p.i, inv.currency
UNION ALL
SELECT 'voided', p.i, inv.currency, count(*), sum(inv.gross)
FROM inv JOIN p ON inv.sent IS NOT NULL AND inv.voided BETWEEN p.first AND p.last GROUP BY p.i, inv.currency
UNION ALL
SELECT 'collected', p.i, inv.currency, count(*), sum(x.amount)
FROM inv CROSS JOIN unnest(inv.payment_times, inv.payment_amounts) AS x(paid_at, amount)
JOIN p ON (x.paid_at AT TIME ZONE 'UTC')::date BETWEEN p.first AND p.last GROUP BY p.i, inv.currency
"""
CLOSING = f"""{_INVOICES}
SELECT p.i, b.currency, count(*) AS receivable_count, sum(b.balance) AS receivable_balance, {_AGING}
FROM p CROSS JOIN LATERAL (
    SELECT inv.currency, inv.due_date,
           inv.gross - coalesce((
               SELECT sum(x.amount) FROM unnest(inv.payment_times, inv.payment_amounts) AS x(paid_at, amount)
               WHERE (x.paid_at AT TIME ZONE 'UTC')::date <= p.last
           ), 0) AS balance
    FROM inv
    WHERE inv.created <= p.last AND inv.sent <= p.last AND (inv.voided IS NULL OR inv.voided > p.last)
) AS b
WHERE b.balance > 0
GROUP BY p.i, b.currency
"""


async def series(conn: Connection, tenant_id: str, query: Mapping[str, str]) -> V1Series:
    """The answer to ``from``, ``to`` and ``interval`` (the benchmark's
    requests: no customer, currency or knownAt)."""
    first, last = dt.date.fromisoformat(query["from"]), dt.date.fromisoformat(query["to"])
    spans = periods(first, last, query["interval"])
    args = (tenant_id, [s.start for s in spans], [s.end for s in spans])
    async with conn.transaction():
        # A daily series' closing figures take longer than the API's limit here.
        await conn.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        records = await conn.fetch(SERIES, *args)
        closing_records = await conn.fetch(CLOSING, *args)
    flows: dict[tuple[str, str], dict[int, tuple[int, int]]] = defaultdict(dict)
    currencies = set()
    for r in records:
        if r["kind"] == "currency":
            currencies.add(r["currency"])
        else:
            flows[r["kind"], r["currency"]][r["i"] - 1] = (int(r["count"]), int(r["amount"]))
    # Per currency and period: (receivable count, balance), then (count,
    # balance) at least N days past due for each N of AGING_THRESHOLDS.
    closing: dict[str, dict[int, tuple[tuple[int, int], list[tuple[int, int]]]]] = defaultdict(dict)
    for r in closing_records:
        at_least = [(int(r[f"count_{n}"]), int(r[f"balance_{n}"])) for n in AGING_THRESHOLDS]
        closing[r["currency"]][r["i"] - 1] = ((int(r["receivable_count"]), int(r["receivable_balance"])), at_least)
    none = ((0, 0), [(0, 0)] * len(AGING_THRESHOLDS))
    found = []
    for code in sorted(currencies):
        rows = []
        for index, span in enumerate(spans):
            invoiced = flows["invoiced", code].get(index, (0, 0))
            voided = flows["voided", code].get(index, (0, 0))
            receivable, at_least = closing[code].get(index, none)
            rows.append(
                PeriodFlows(
                    period=span,
                    invoiced_count=invoiced[0],
                    invoiced_gross=invoiced[1],
                    collected=flows["collected", code].get(index, (0, 0))[1],
                    voided_count=voided[0],
                    voided_gross=voided[1],
                    receivable_count=receivable[0],
                    receivable_balance=receivable[1],
                    overdue_count=at_least[0][0],
                    overdue_balance=at_least[0][1],
                    aging=aging(at_least),
                )
            )
        found.append(currency_series(CurrencySeries(code, rows)))
    return V1Series(from_=first, to=last, interval=query["interval"], series=found)
