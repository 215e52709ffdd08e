"""The timelines' sums per calendar month (projections/store.py
TIMELINE_SUM_TABLES): written by each batch from its staged timeline rows, equal
to their definition over the timeline rows (verify), per month and per first
month past due; verify reports a corrupted row."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

from projections import versions
from projections.verify import verify_timeline_sums
from tests.factories import InvoiceBuilder, line
from tests.projected import project

D = dt.date.fromisoformat


def at(day: str) -> dt.datetime:
    return dt.datetime.combine(D(day), dt.time(12), dt.UTC)


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


async def projected_history(conn: asyncpg.Connection) -> str:
    """The history in three batches on two partitions (the later ones adding
    to rows the first wrote); the active version's schema."""
    events = history()
    for index, batch in enumerate((events[:3], events[3:6], events[6:])):
        await project(conn, batch, partition=index % 2)
    return (await versions.active(conn)).schema_name


async def eur_balance(conn: asyncpg.Connection, sql: str) -> dict[Any, int]:
    return {tuple(r)[:-1]: int(r[-1]) for r in await conn.fetch(sql) if r[-1] != 0}


@pytest.mark.integration
async def test_each_batch_adds_its_changes_per_month_and_per_first_month_past_due(conn: asyncpg.Connection) -> None:
    schema = await projected_history(conn)
    assert await verify_timeline_sums(conn, schema) == []
    # Sent on 01-11 (100.00 due 02-09), paid 40.00 on 03-15 and 60.00 on 05-20.
    monthly = await eur_balance(
        conn,
        f"SELECT month, sum(receivable_balance) FROM {schema}.currency_monthly"
        " WHERE tenant_id = 'acme' AND currency = 'EUR' GROUP BY 1",
    )
    assert monthly == {(D("2026-01-01"),): 10000, (D("2026-03-01"),): -4000, (D("2026-05-01"),): -6000}
    overdue = await eur_balance(
        conn,
        f"SELECT days_past_due, from_month, sum(receivable_balance) FROM {schema}.currency_overdue_monthly"
        " WHERE tenant_id = 'acme' AND currency = 'EUR' GROUP BY 1, 2",
    )
    # At least 1 day past due from 02-10; at least 31 from 03-12, so the
    # first payment (03-15) counts in March too; 61 from 04-11, with 60.00
    # open until 05-20; 91 from 05-11: in May, where all three cancel out.
    assert overdue == {
        (1, D("2026-02-01")): 10000,
        (1, D("2026-03-01")): -4000,
        (1, D("2026-05-01")): -6000,
        (31, D("2026-03-01")): 6000,
        (31, D("2026-05-01")): -6000,
        (61, D("2026-04-01")): 6000,
        (61, D("2026-05-01")): -6000,
    }


@pytest.mark.integration
async def test_verify_reports_a_corrupted_monthly_row(conn: asyncpg.Connection) -> None:
    schema = await projected_history(conn)
    await conn.execute(
        f"UPDATE {schema}.currency_overdue_monthly SET receivable_balance = receivable_balance + 1"
        " WHERE currency = 'EUR' AND days_past_due = 31 AND from_month = '2026-03-01'"
    )
    differences = await verify_timeline_sums(conn, schema)
    assert [(d.table, d.key, d.column) for d in differences] == [
        ("currency_overdue_monthly", ("acme", "EUR", 31, D("2026-03-01")), "receivable_balance")
    ]
    assert differences[0].live == differences[0].expected + 1
