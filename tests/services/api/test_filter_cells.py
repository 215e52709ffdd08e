"""Filtered totals from the filter cells equal the aggregate over the invoice
rows, for random filter combinations on generated invoices, and the planner
sends to the invoice rows exactly the filters the cells cannot answer."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
import pytest

from contracts import InvoiceEvent, format_minor
from projections.verify import verify
from services.api import filter_cells
from services.api.filters import InvoiceFilter, Sql
from services.api.sequence import queries
from tests.factories import InvoiceBuilder, line
from tests.projected import project

START = dt.date(2025, 11, 20)
DAYS = 130


@pytest.mark.parametrize(
    "f",
    [
        InvoiceFilter(customer_id="c", payment_statuses=["PAID"]),
        InvoiceFilter(customer_id="c", due_before=dt.date(2026, 1, 1)),
        InvoiceFilter(customer_id="c", net_total=Decimal(0)),
        InvoiceFilter(billing_schedule_id="s"),
        InvoiceFilter(search="x"),
        InvoiceFilter(exclude_zero_quantity=True),
        InvoiceFilter(due_before=dt.date(2026, 1, 1), sent_after=dt.date(2025, 1, 1)),
    ],
)
def test_filters_the_cells_cannot_answer_go_to_the_invoice_rows(f: InvoiceFilter) -> None:
    assert filter_cells.plan(f) is None


def test_a_customer_with_only_currencies_and_statuses_uses_the_customer_sums() -> None:
    f = InvoiceFilter(customer_id="c", not_statuses=["DRAFT"], currencies=["EUR"])
    assert filter_cells.plan(f) is None
    assert filter_cells.customer_plan(f) == filter_cells.CustomerPlan("c", ("SENT", "VOIDED"))
    assert filter_cells.customer_plan(InvoiceFilter(statuses=["SENT"])) is None


def test_filters_on_cell_dimensions_use_the_cells() -> None:
    plan = filter_cells.plan(InvoiceFilter(statuses=["SENT"], due_before=dt.date(2026, 1, 10), currencies=["EUR"]))
    assert plan is not None and (plan.dimension, plan.start, plan.end) == ("due", None, dt.date(2026, 1, 10))
    assert plan.combinations == (("SENT", "UNPAID"), ("SENT", "PARTIALLY_PAID"), ("SENT", "PAID"))
    everything = filter_cells.plan(InvoiceFilter(payment_statuses=["PAID"], not_statuses=["VOIDED"]))
    assert everything is not None and (everything.dimension, everything.start, everything.end) == ("issue", None, None)
    assert everything.combinations == (("DRAFT", "PAID"), ("SENT", "PAID"))


def some_day(rng: random.Random) -> dt.date:
    return START + dt.timedelta(days=rng.randrange(DAYS))


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(10), dt.UTC)


def history(rng: random.Random) -> list[InvoiceEvent]:
    issue = some_day(rng)
    invoice = InvoiceBuilder(
        tenant=rng.choice(["acme", "acme", "other"]),
        customer=f"cus-{rng.randrange(5)}",
        currency=rng.choice(["EUR", "USD", "JPY"]),
        issue_date=issue,
        due_date=issue + dt.timedelta(days=rng.choice([0, 14, 30, 45])),
        lines=[line(net=rng.randrange(100, 90000), tax=rng.randrange(0, 9000))],
    )
    events: list[InvoiceEvent] = [invoice.created(at=at(issue))]
    if rng.random() < 0.8:
        sent = issue + dt.timedelta(days=rng.randrange(3))
        events.append(invoice.sent(at=at(sent)))
        for _ in range(rng.randrange(3)):
            events.append(invoice.paid(format_minor(rng.randrange(1, 40000), invoice.currency), at=at(sent)))
    if rng.random() < 0.15:
        events.append(invoice.voided(at=at(issue + dt.timedelta(days=5))))
    return events


def random_filter(rng: random.Random) -> InvoiceFilter:
    def maybe(values: list[str]) -> list[str] | None:
        return rng.sample(values, rng.randint(1, len(values))) if rng.random() < 0.4 else None

    fields: dict[str, Any] = {
        "statuses": maybe(["DRAFT", "SENT", "VOIDED"]),
        "not_statuses": maybe(["DRAFT", "SENT", "VOIDED"]) if rng.random() < 0.3 else None,
        "payment_statuses": maybe(["UNPAID", "PARTIALLY_PAID", "PAID"]),
        "not_payment_statuses": maybe(["UNPAID", "PAID"]) if rng.random() < 0.3 else None,
        "currencies": maybe(["EUR", "USD", "JPY", "GBP"]),
        "not_currencies": maybe(["EUR", "JPY"]) if rng.random() < 0.3 else None,
    }
    dimension = rng.choice(["due", "issued", "sent", None])
    if dimension is not None:
        if rng.random() < 0.7:
            fields[f"{dimension}_before"] = some_day(rng)
        if rng.random() < 0.7:
            fields[f"{dimension}_after"] = some_day(rng)
    return InvoiceFilter(**fields)


@pytest.mark.integration
async def test_cells_agree_with_the_invoice_rows_on_random_filters(conn: asyncpg.Connection) -> None:
    rng = random.Random(20261201)
    histories = [history(rng) for _ in range(160)]
    # Applied over several batches and partitions, events of one invoice in order.
    for batch in range(4):
        events = [e for h in histories[batch::4] for e in h]
        await project(conn, events, partition=batch % 2)
    assert await verify(conn, "proj_1") == []
    cells = await agreements(conn, [random_filter(rng) for _ in range(300)], filter_cells.plan, filter_cells.cell_query)
    assert cells > 100  # most filters select something
    customers = [customer_filter(rng) for _ in range(150)]
    assert await agreements(conn, customers, filter_cells.customer_plan, filter_cells.customer_query) > 50


async def agreements(
    conn: asyncpg.Connection,
    filters: list[InvoiceFilter],
    plan: Callable[[InvoiceFilter], Any],
    query: Callable[[str, InvoiceFilter, Any], tuple[str, list[object]]],
) -> int:
    """Checks that each filter's totals from the rows ``plan`` picks equal the
    aggregate over the invoice rows, for both tenants; returns how many of
    them selected something."""
    selected = 0
    for f in filters:
        picked = plan(f)
        assert picked is not None, f
        for tenant in ("acme", "other"):
            sql, args = query(tenant, f, picked)
            from_sums = await conn.fetch(sql.replace("billing_read.", "proj_1."), *args)
            rows = Sql(tenant).invoice_filter(f)
            from_rows = await conn.fetch(
                queries.FILTERED_TOTALS.replace("billing_read.", "proj_1.").format(where=rows.where), *rows.args
            )
            assert [tuple(r) for r in from_sums] == [tuple(r) for r in from_rows], f
            selected += bool(from_rows)
    return selected


def customer_filter(rng: random.Random) -> InvoiceFilter:
    """One customer, with statuses and currencies at random (what the
    per-customer sums answer)."""
    fields = {
        name: value
        for name, value in msgspec.structs.asdict(random_filter(rng)).items()
        if name in ("statuses", "not_statuses", "currencies", "not_currencies")
    }
    return InvoiceFilter(customer_id=f"cus-{rng.randrange(6)}", **fields)
