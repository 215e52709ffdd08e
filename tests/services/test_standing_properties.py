"""Property test of the customer standing on generated histories: whatever
the invoices' histories and however their events are cut into batches on two
partitions, the standing rows the projector keeps equal what the fold's own
invoice states say per customer (projections/standing.py,
docs/figures.md#customers)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import InvoiceEvent
from projections import standing, versions
from projections.invoice import SENT, InvoiceState
from tests.factories import InvoiceBuilder, interleaved, lifecycle, line
from tests.projected import project
from tests.projections.harness import Harness

pytestmark = pytest.mark.integration

TODAY = dt.datetime.now(dt.UTC).date()
_numbers = itertools.count()


@st.composite
def history(draw: st.DrawFn, tenant: str) -> list[InvoiceEvent]:
    """One invoice's valid history: created, maybe sent, paid (in part, in
    full, beyond), voided while not fully paid."""
    gross = draw(st.integers(0, 10**5))
    # Due dates around today often: where overdue begins.
    due = TODAY + dt.timedelta(days=draw(st.one_of(st.sampled_from((-1, 0, 1)), st.integers(-90, 30))))
    inv = InvoiceBuilder(
        f"inv-{next(_numbers)}",
        tenant=tenant,
        customer=draw(st.sampled_from(("c1", "c2", "c3"))),
        currency=draw(st.sampled_from(("EUR", "JPY"))),
        lines=[line(net=gross, tax=0)],
        issue_date=due - dt.timedelta(days=draw(st.integers(0, 40))),
        due_date=due,
    )
    return lifecycle(draw, inv, gross, draw(st.integers(0, 4)))


def expected(states: list[InvoiceState]) -> list[tuple[Any, ...]]:
    """Per (tenant, currency, customer), from the invoice states alone."""
    groups: dict[tuple[str, str, str], list[InvoiceState]] = {}
    for s in states:
        groups.setdefault((s.tenant_id, s.currency, s.customer_id), []).append(s)
    out = []
    for key, mine in sorted(groups.items()):
        receivable = [s for s in mine if s.status == SENT and s.balance > 0]
        overdue = [s for s in receivable if s.due_date < TODAY]
        later = [s.due_date for s in receivable if s.due_date >= TODAY]
        named = [s for s in mine if s.customer_name is not None]
        latest = max(named, key=lambda s: (s.issue_date, s.invoice_id)) if named else None
        paid_at = [s.last_paid_at for s in mine if s.last_paid_at is not None]
        out.append(
            (
                *key,
                None if latest is None else latest.customer_name,
                len(mine),
                sum(s.gross for s in mine if s.status == SENT),
                len(receivable),
                sum(s.balance for s in receivable),
                len(overdue),
                sum(s.balance for s in overdue),
                min((s.due_date for s in overdue), default=standing.NO_OVERDUE),
                max(paid_at, default=None),
                TODAY,
                min(later) + dt.timedelta(days=1) if later else None,
            )
        )
    return out


async def stored(conn: asyncpg.Connection, tenant: str) -> list[tuple[Any, ...]]:
    schema = (await versions.active(conn)).schema_name
    columns = ", ".join((*standing.FIGURE_COLUMNS, "as_of_day", "stale_from"))
    rows = await conn.fetch(
        f"SELECT tenant_id, currency, customer_id, {columns} FROM {schema}.customer_standing"
        " WHERE tenant_id = $1 ORDER BY 1, 2, 3",
        tenant,
    )
    return [
        tuple(int(v) if k in ("revenue", "receivable_balance", "overdue_balance") else v for k, v in r.items())
        for r in rows
    ]


async def check(url: str, events: list[InvoiceEvent], cuts: list[int], tenant: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        harness = Harness()
        start = 0
        for index, end in enumerate([*sorted(set(cuts)), len(events)]):
            batch = events[start:end]
            if batch:
                # Alternate partitions: one customer's invoices on both.
                await project(conn, batch, partition=index % 2)
                harness.deliver(batch)
            start = end
        assert await stored(conn, tenant) == expected(list(harness.states.values()))
    finally:
        await conn.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_standing_equals_the_per_customer_fold(database_url: str, data: st.DataObject) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    invoices = data.draw(st.lists(history(tenant), min_size=1, max_size=12))
    events = interleaved(data, invoices)
    cuts = data.draw(st.lists(st.integers(0, len(events)), max_size=4))
    asyncio.run(check(database_url, events, cuts, tenant))
