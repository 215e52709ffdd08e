"""The timelines' sums per calendar month, kept beside the per-day ones.

currency_monthly holds the timeline rows (invoice_changes) summed per
(tenant, currency, first day of the month of ``day``, partition);
currency_overdue_monthly the receivable part per threshold N and first day of
the month from which a change counts as at least N days past due
(projections/timeline.py). A month, quarter or year series reads a row per
month for the months wholly inside its range instead of a row per day
(services/api/v1/series/queries.py): about 30 times fewer rows.

A batch adds its changes' monthly deltas (``add_monthly``); a rebuild or a
benchmark's load fills the tables from the timeline rows in one statement
each (``fill_monthly``), and ``verify_monthly`` checks them against that
definition.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

# The store is read when called, not when imported: its write path may call
# into this module.
from projections import store
from projections.batch import InvoiceChange
from projections.figures import NO_FIGURES, RECEIVABLE, TOTALS, Figures
from projections.timeline import AGING_THRESHOLDS

if TYPE_CHECKING:
    from projections.verify import Difference

Keys = tuple[tuple[str, str], ...]
_TENANT, _CURRENCY, _PARTITION = ("tenant_id", "text"), ("currency", "text"), ("partition", "int")
MONTHLY_TABLES: dict[str, tuple[Keys, tuple[str, ...]]] = {
    "currency_monthly": ((_TENANT, _CURRENCY, ("month", "date"), _PARTITION), TOTALS),
    "currency_overdue_monthly": (
        (_TENANT, _CURRENCY, ("days_past_due", "int"), ("from_month", "date"), _PARTITION),
        RECEIVABLE,
    ),
}
_VALUES = {table: operator.attrgetter(*figures) for table, (_, figures) in MONTHLY_TABLES.items()}

MonthlyDeltas = dict[str, dict[tuple[Any, ...], Figures]]


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def monthly_deltas(changes: Iterable[InvoiceChange]) -> MonthlyDeltas:
    """Per table, the sums of ``changes`` by row key (partition last), rows
    whose changes cancel out left out. Only receivable changes count past due,
    as in the per-day sums."""
    found: MonthlyDeltas = {table: {} for table in MONTHLY_TABLES}
    monthly, overdue = found["currency_monthly"], found["currency_overdue_monthly"]
    for c in changes:
        _add(monthly, (c.tenant_id, c.currency, month_of(c.day), c.partition), c.figures)
        part = c.figures.receivable_part()
        if part == NO_FIGURES:
            continue
        for n in AGING_THRESHOLDS:
            from_day = max(c.day, c.due_date + dt.timedelta(days=n))
            _add(overdue, (c.tenant_id, c.currency, n, month_of(from_day), c.partition), part)
    return {table: {k: v for k, v in rows.items() if v != NO_FIGURES} for table, rows in found.items()}


def _add(into: dict[tuple[Any, ...], Figures], key: tuple[Any, ...], delta: Figures) -> None:
    current = into.get(key)
    into[key] = delta if current is None else current + delta


@functools.cache
def _upsert(schema: str, table: str, money_type: str) -> str:
    keys, figures = MONTHLY_TABLES[table]
    return store._upsert_sums(table, keys, figures, money_type).replace("{schema}", schema)


async def add_monthly(conn: asyncpg.Connection, schema: str, changes: Sequence[InvoiceChange]) -> None:
    """Add a batch's timeline rows to the monthly sums of version ``schema``:
    one upsert per table, rows in key order (the caller owns the transaction)."""
    for table, deltas in monthly_deltas(changes).items():
        if not deltas:
            continue
        keys = sorted(deltas)
        figures = list(zip(*(_VALUES[table](deltas[key]) for key in keys), strict=True))
        fits = all(max(map(abs, column)) <= store.BIGINT_MAX for column in figures)
        await conn.execute(_upsert(schema, table, "bigint" if fits else "numeric"), *zip(*keys, strict=True), *figures)


# The key columns that are not columns of the timeline rows, over them.
_KEY_SQL = {
    "month": "date_trunc('month', day)::date",
    "days_past_due": "n",
    "from_month": "date_trunc('month', greatest(day, due_date + n))::date",
}
_THRESHOLDS = f" CROSS JOIN unnest(ARRAY{list(AGING_THRESHOLDS)}) AS n"


def monthly_sql(schema: str, table: str, sharded: bool = True) -> str:
    """``table``'s rows defined over the version's timeline rows: its key
    columns (without the partition unless ``sharded``), then its figures."""
    keys, figures = MONTHLY_TABLES[table]
    names = [name for name, _ in keys if sharded or name != "partition"]
    sums = [f"sum({f})" for f in figures]
    source, where = f"{schema}.invoice_changes", ""
    if figures == RECEIVABLE:
        source += _THRESHOLDS
        where = f" WHERE {_nonzero(figures)}"
    return (
        f"SELECT {', '.join(_KEY_SQL.get(name, name) for name in names)}, {', '.join(sums)} FROM {source}{where}"
        f" GROUP BY {', '.join(str(i) for i in range(1, len(names) + 1))} HAVING {_nonzero(sums)}"
    )


def _nonzero(values: Sequence[str]) -> str:
    """Rows with any of ``values`` not zero: as a batch's deltas, whose rows
    cancelling out are left out."""
    return f"({', '.join(values)}) <> ({', '.join('0' for _ in values)})"


MONTHLY_SQL: dict[str, str] = {
    table: f"INSERT INTO {{schema}}.{table} ({', '.join((*(name for name, _ in keys), *figures))}) "
    + monthly_sql("{schema}", table)
    for table, (keys, figures) in MONTHLY_TABLES.items()
}
"""Per table, the INSERT … SELECT that fills it (empty) from the timeline rows."""


async def fill_monthly(conn: asyncpg.Connection, schema: str) -> None:
    """Fill the empty monthly tables of version ``schema`` from its timeline rows."""
    for sql in MONTHLY_SQL.values():
        await conn.execute(sql.replace("{schema}", schema))


async def verify_monthly(conn: asyncpg.Connection, schema: str) -> list[Difference]:
    """The monthly tables' sums over their shards against their definition."""
    # Imported here: verify calls this, and imports the store this module needs.
    from projections import verify

    differences: list[Difference] = []
    for table, (keys, figures) in MONTHLY_TABLES.items():
        names = [name for name, _ in keys if name != "partition"]
        live = await verify._keyed(
            conn,
            f"SELECT {', '.join(names)}, {', '.join(f'sum({f})' for f in figures)} FROM {schema}.{table}"
            f" GROUP BY {', '.join(names)}",
            len(names),
        )
        expected = await verify._keyed(conn, monthly_sql(schema, table, sharded=False), len(names))
        differences.extend(verify._differences(table, figures, live, expected))
    return differences
