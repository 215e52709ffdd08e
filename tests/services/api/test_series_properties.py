"""Property test of the series on generated histories: the tables the real
projector writes, read by the series' queries, give for any period what the
invoices themselves say — invoiced − voided equal to the change of the SENT
figures of the point-in-time summaries at the period's ends, collected equal
to the payments dated in it, the close equal to the point-in-time figures at
its last day (docs/figures.md#series)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import InvoiceEvent, format_minor
from projections.figures import NO_FIGURES, Figures, contribution
from projections.invoice import InvoiceState
from projections.timeline import business_day, state_on
from services.api.v1.series.periods import INTERVALS, Period, periods
from services.api.v1.series.queries import CurrencySeries, customer_series, tenant_series
from tests.factories import InvoiceBuilder, line
from tests.projected import project
from tests.projections.harness import Harness

START = dt.date(2026, 3, 1)
CUSTOMERS = ("c1", "c2")


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime.combine(START + dt.timedelta(days=day), dt.time(hour), dt.UTC)


@st.composite
def history(draw: st.DrawFn, index: int) -> list[InvoiceEvent]:
    """One invoice's valid history, its events on non-decreasing business days."""
    gross = draw(st.integers(0, 10**6))
    inv = InvoiceBuilder(
        f"inv-{index}",
        customer=draw(st.sampled_from(CUSTOMERS)),
        currency=draw(st.sampled_from(("EUR", "JPY"))),
        lines=[line(net=gross, tax=0)],
        due_date=START + dt.timedelta(days=draw(st.integers(0, 90))),
    )
    day = draw(st.integers(0, 60))
    events: list[InvoiceEvent] = [inv.created(at=at(day, 1))]
    status, paid = "DRAFT", 0
    for hour in range(2, 2 + draw(st.integers(0, 5))):
        day += draw(st.integers(0, 20))
        options = ["pay"]
        if status == "DRAFT":
            options.append("send")
        if not (paid >= gross if gross > 0 else (paid > 0 or status == "SENT")):
            options.append("void")
        action = draw(st.sampled_from(options))
        if action == "send":
            events.append(inv.sent(at=at(day, hour)))
            status = "SENT"
        elif action == "void":
            events.append(inv.voided(at=at(day, hour)))
            break
        else:
            amount = draw(st.integers(1, max(gross, 1) * 2))
            paid += amount
            events.append(inv.paid(format_minor(amount, inv.currency), at=at(day, hour)))
    return events


def states(batches: list[list[InvoiceEvent]]) -> list[InvoiceState]:
    """The invoices after every batch, as the fold leaves them."""
    harness = Harness()
    for batch in batches:
        harness.deliver(batch)
    return list(harness.states.values())


def figures_on(state: InvoiceState, day: dt.date) -> Figures:
    """The invoice's point-in-time figures at the end of ``day``."""
    return contribution(state_on(state, day))


def in_period(instant: dt.datetime | None, p: Period) -> bool:
    return instant is not None and p.start <= business_day(instant) <= p.end


def expected(states: list[InvoiceState], spans: list[Period]) -> dict[str, list[dict[str, Any]]]:
    """Each currency's periods, from the invoices and their point-in-time figures."""
    out: dict[str, list[dict[str, Any]]] = {}
    last = spans[-1].end
    for currency in sorted({s.currency for s in states if business_day(s.created_at or at(0, 0)) <= last}):
        mine = [s for s in states if s.currency == currency]
        rows = []
        for p in spans:
            sent_now = sum((figures_on(s, p.end) for s in mine), NO_FIGURES)
            sent_before = sum((figures_on(s, p.start - dt.timedelta(days=1)) for s in mine), NO_FIGURES)
            sent = [s for s in mine if in_period(s.sent_at, p)]
            voided = [s for s in mine if s.sent_at is not None and in_period(s.voided_at, p)]
            overdue = [
                (s, figures_on(s, p.end)) for s in mine if figures_on(s, p.end).receivable_count and s.due_date < p.end
            ]
            aging = [
                (
                    sum(1 for s, _ in overdue if low <= (p.end - s.due_date).days <= high),
                    sum(f.receivable_balance for s, f in overdue if low <= (p.end - s.due_date).days <= high),
                )
                for low, high in ((1, 30), (31, 60), (61, 90), (91, 10**6))
            ]
            rows.append(
                {
                    "invoiced": (len(sent), sum(s.gross for s in sent)),
                    "voided": (len(voided), sum(s.gross for s in voided)),
                    "invoiced - voided": (
                        sent_now.sent_count - sent_before.sent_count,
                        sent_now.sent_gross - sent_before.sent_gross,
                    ),
                    "collected": sum(
                        amount
                        for s in mine
                        for paid_at, amount in zip(s.payment_times, s.payment_amounts, strict=True)
                        if in_period(paid_at, p)
                    ),
                    "receivable": (sent_now.receivable_count, sent_now.receivable_balance),
                    "overdue": (len(overdue), sum(f.receivable_balance for _, f in overdue)),
                    "aging": aging,
                }
            )
        out[currency] = rows
    return out


def answered(found: list[CurrencySeries]) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for s in found:
        rows = []
        for p in s.periods:
            rows.append(
                {
                    "invoiced": (p.invoiced_count, p.invoiced_gross),
                    "voided": (p.voided_count, p.voided_gross),
                    "invoiced - voided": (p.invoiced_count - p.voided_count, p.invoiced_gross - p.voided_gross),
                    "collected": p.collected,
                    "receivable": (p.receivable_count, p.receivable_balance),
                    "overdue": (p.overdue_count, p.overdue_balance),
                    "aging": p.aging,
                }
            )
        out[s.currency] = rows
    return out


@st.composite
def batches(draw: st.DrawFn) -> list[list[InvoiceEvent]]:
    """Generated histories, delivered in order in batches of any size."""
    events = [e for i in range(draw(st.integers(1, 6))) for e in draw(history(i))]
    cuts = sorted(draw(st.lists(st.integers(1, len(events)), max_size=3)))
    return [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True) if a < b]


async def check(url: str, delivered: list[list[InvoiceEvent]], interval: str, spans: list[Period]) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    folded = states(delivered)
    conn = await asyncpg.connect(url)
    try:
        for index, batch in enumerate(delivered):
            await project(conn, [msgspec.structs.replace(e, tenantid=tenant) for e in batch], partition=index % 2)
        found = await tenant_series(conn, tenant, spans, interval, None, None, by_month=False)
        assert answered(found) == expected(folded, spans)
        for customer in CUSTOMERS:
            mine = [s for s in folded if s.customer_id == customer]
            by_customer = await customer_series(conn, tenant, customer, spans, interval, None, None)
            assert answered(by_customer or []) == expected(mine, spans)
    finally:
        await conn.close()


@pytest.mark.integration
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    delivered=batches(),
    first=st.integers(0, 100),
    length=st.integers(0, 120),
    interval=st.sampled_from(INTERVALS),
)
def test_every_period_agrees_with_the_invoices_and_the_point_in_time_figures(
    database_url: str, delivered: list[list[InvoiceEvent]], first: int, length: int, interval: str
) -> None:
    start = START + dt.timedelta(days=first - 10)
    asyncio.run(check(database_url, delivered, interval, periods(start, start + dt.timedelta(days=length), interval)))
