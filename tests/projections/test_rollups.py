"""The monthly sums (projections/rollups.py): a batch's deltas per month and
threshold, their upsert on the real database equal to the tables' SQL
definition over the timeline rows (a rebuild's fill gives the same rows), and
verify_monthly reporting a corrupted row."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

from projections import rollups, versions
from projections.batch import InvoiceChange
from projections.figures import Figures
from tests.factories import InvoiceBuilder, line
from tests.projected import project

D = dt.date.fromisoformat


def at(day: str) -> dt.datetime:
    return dt.datetime.combine(D(day), dt.time(12), dt.UTC)


def change(day: str, due: str, **figures: int) -> InvoiceChange:
    return InvoiceChange("acme", "inv-1", "cus-1", "EUR", D(due), 3, D(day), None, Figures(**figures))


def test_changes_add_up_per_month_and_count_past_due_from_the_month_they_reach_each_threshold() -> None:
    deltas = rollups.monthly_deltas(
        [
            change("2026-03-05", "2026-03-20", invoiced_count=1, receivable_count=1, receivable_balance=500),
            change("2026-03-30", "2026-03-20", received=200, receivable_balance=-200),
            change("2026-04-02", "2026-03-20", received=300, receivable_count=-1, receivable_balance=-300),
        ]
    )
    monthly = deltas["currency_monthly"]
    assert monthly[("acme", "EUR", D("2026-03-01"), 3)] == Figures(
        invoiced_count=1, received=200, receivable_count=1, receivable_balance=300
    )
    assert monthly[("acme", "EUR", D("2026-04-01"), 3)] == Figures(
        received=300, receivable_count=-1, receivable_balance=-300
    )
    overdue = {key[2:4]: figures.receivable_balance for key, figures in deltas["currency_overdue_monthly"].items()}
    # At least 1 day past due from 03-21 on (the first two in March, the third
    # from its own day); at least 31, 61 and 91 from 04-20, 05-20 and 06-19 on,
    # where the three cancel out.
    assert overdue == {(1, D("2026-03-01")): 300, (1, D("2026-04-01")): -300}


def test_a_month_whose_changes_cancel_out_writes_no_row() -> None:
    deltas = rollups.monthly_deltas(
        [change("2026-03-05", "2026-09-01", draft_count=1), change("2026-03-09", "2026-09-01", draft_count=-1)]
    )
    assert deltas == {"currency_monthly": {}, "currency_overdue_monthly": {}}


def history() -> list[Any]:
    late = InvoiceBuilder(lines=[line(net=10000, tax=0)], issue_date=D("2026-01-10"), due_date=D("2026-02-09"))
    voided = InvoiceBuilder(currency="JPY", customer="cus-2", lines=[line(net=2000, tax=0)], due_date=D("2026-03-31"))
    return [
        late.created(at=at("2026-01-10")),
        late.sent(at=at("2026-01-11")),
        late.paid("40.00", at=at("2026-03-15")),
        voided.created(at=at("2026-02-27")),
        voided.sent(at=at("2026-03-01")),
        voided.paid("5", at=at("2026-03-02")),
        late.paid("60.00", at=at("2026-05-20")),
        voided.voided(at=at("2026-06-02")),
    ]


async def live_rows(conn: asyncpg.Connection, schema: str, table: str) -> list[tuple[Any, ...]]:
    rows = await conn.fetch(f"SELECT * FROM {schema}.{table} ORDER BY 1, 2, 3, 4, 5")
    return [tuple(r.values()) for r in rows]


@pytest.mark.integration
async def test_the_batches_upserts_equal_the_definition_and_a_rebuilds_fill(conn: asyncpg.Connection) -> None:
    schema = (await versions.active(conn)).schema_name
    events = history()
    # Batches on two partitions, the later ones adding to rows the first wrote.
    for index, batch in enumerate((events[:3], events[3:6], events[6:])):
        result = await project(conn, batch, partition=index % 2)
        await rollups.add_monthly(conn, schema, result.changes)
    assert await rollups.verify_monthly(conn, schema) == []
    kept = {table: await live_rows(conn, schema, table) for table in rollups.MONTHLY_TABLES}
    assert all(kept.values())

    for table in rollups.MONTHLY_TABLES:
        await conn.execute(f"TRUNCATE {schema}.{table}")
    await rollups.fill_monthly(conn, schema)
    filled = {table: await live_rows(conn, schema, table) for table in rollups.MONTHLY_TABLES}
    # The upserts may leave rows that add up to zero; the fill writes none.
    width = {table: len(keys) for table, (keys, _) in rollups.MONTHLY_TABLES.items()}
    assert {t: [r for r in rows if any(r[width[t] :])] for t, rows in kept.items()} == filled


@pytest.mark.integration
async def test_verify_reports_a_corrupted_monthly_row(conn: asyncpg.Connection) -> None:
    schema = (await versions.active(conn)).schema_name
    result = await project(conn, history())
    await rollups.add_monthly(conn, schema, result.changes)
    await conn.execute(
        f"UPDATE {schema}.currency_overdue_monthly SET receivable_balance = receivable_balance + 1"
        " WHERE currency = 'EUR' AND days_past_due = 31 AND from_month = '2026-03-01'"
    )
    differences = await rollups.verify_monthly(conn, schema)
    assert [(d.table, d.key, d.column) for d in differences] == [
        ("currency_overdue_monthly", ("acme", "EUR", 31, D("2026-03-01")), "receivable_balance")
    ]
    assert differences[0].live == differences[0].expected + 1
