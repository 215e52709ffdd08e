"""The summary figures: one Struct, its arithmetic, each invoice's contribution
by name, and the summary tables' columns checked against it."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import msgspec
import pytest

import projections
from projections.figures import NO_FIGURES, RECEIVABLE, TOTALS, Figures, contribution, is_count
from projections.invoice import InvoiceState
from projections.store import ALL_SUM_TABLES, SUM_TABLES
from tests.factories import InvoiceBuilder, line
from tests.projections.harness import Harness

SCHEMA_SQL = (Path(projections.__file__).parent / "schema.sql").read_text(encoding="utf-8")


def test_the_column_lists_are_the_fields_of_figures() -> None:
    assert Figures.__struct_fields__ == TOTALS
    assert tuple(name for name in TOTALS if name.startswith("receivable_")) == RECEIVABLE
    assert {figures for _, figures in SUM_TABLES.values()} == {TOTALS, RECEIVABLE}


def test_figures_add_and_subtract_field_by_field() -> None:
    a = Figures(*range(1, len(TOTALS) + 1))
    b = Figures(*range(100, 100 + len(TOTALS)))
    assert msgspec.structs.astuple(a + b) == tuple(
        x + y for x, y in zip(range(1, len(TOTALS) + 1), range(100, 100 + len(TOTALS)), strict=True)
    )
    assert (b - a) + a == b
    assert a - a == NO_FIGURES
    assert a + NO_FIGURES == a == a - NO_FIGURES


def test_the_receivable_part_keeps_only_the_receivable_figures() -> None:
    a = Figures(*range(1, len(TOTALS) + 1))
    part = msgspec.structs.asdict(a.receivable_part())
    assert part == {name: (getattr(a, name) if name in RECEIVABLE else 0) for name in TOTALS}


def state_after(*events) -> InvoiceState:  # type: ignore[no-untyped-def]
    harness = Harness()
    harness.deliver(events)
    assert len(harness.states) == 1, harness.outcome_counts()
    return next(iter(harness.states.values()))


def invoice() -> InvoiceBuilder:
    # gross 11500 = net 10000 + tax 1500; usage 4300, fixed 7200; recurring 8200, one-time 3300
    return InvoiceBuilder(
        lines=[
            line("fixed", "recurring", net=6000, tax=1200),
            line("usage", "one_time", net=3000, tax=300),
            line("usage", "recurring", net=1000, tax=0),
        ]
    )


def _draft_paid_in_part() -> InvoiceState:
    inv = invoice()
    return state_after(inv.created(), inv.paid("20.00"))


def _sent() -> InvoiceState:
    inv = invoice()
    return state_after(inv.created(), inv.sent())


def _sent_paid_in_part() -> InvoiceState:
    inv = invoice()
    return state_after(inv.created(), inv.sent(), inv.paid("33.33"))


def _sent_overpaid() -> InvoiceState:
    inv = invoice()
    return state_after(inv.created(), inv.sent(), inv.paid("120.00"))


def _voided_after_a_payment() -> InvoiceState:
    inv = invoice()
    return state_after(inv.created(), inv.sent(), inv.paid("10.00"), inv.voided())


SENT = {"sent_count": 1, "sent_net": 10000, "sent_tax": 1500, "sent_gross": 11500}
INVOICED = {"invoiced_count": 1, "invoiced_gross": 11500}
# Every figure of each case by name (figures not named are 0).
CASES = {
    _draft_paid_in_part: {"draft_count": 1, "draft_gross": 11500, "collected": 2000, "received": 2000},
    _sent: {
        **SENT,
        **INVOICED,
        "unpaid_count": 1,
        "unpaid_gross": 11500,
        "receivable_count": 1,
        "receivable_balance": 11500,
        "receivable_usage": 4300,
        "receivable_fixed": 7200,
        "receivable_recurring": 8200,
        "receivable_one_time": 3300,
    },
    _sent_paid_in_part: {
        **SENT,
        **INVOICED,
        "partially_paid_count": 1,
        "partially_paid_gross": 11500,
        "collected": 3333,
        "received": 3333,
        "paid_capped": 3333,
        "receivable_count": 1,
        # balance 8167; usage 8167 x 4300 / 11500 = 3053.7 -> 3054, fixed the rest;
        # one-time 8167 x 3300 / 11500 = 2343.6 -> 2344, recurring the rest
        "receivable_balance": 8167,
        "receivable_usage": 3054,
        "receivable_fixed": 5113,
        "receivable_recurring": 5823,
        "receivable_one_time": 2344,
    },
    _sent_overpaid: {
        **SENT,
        **INVOICED,
        "paid_count": 1,
        "paid_gross": 11500,
        "collected": 12000,
        "received": 12000,
        "paid_capped": 11500,
        "overpaid": 500,
    },
    _voided_after_a_payment: {"voided_count": 1, "voided_gross": 11500, **INVOICED, "received": 1000},
}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__.strip("_"))
def test_each_figure_of_an_invoice_contribution_by_name(case) -> None:  # type: ignore[no-untyped-def]
    expected = dict.fromkeys(TOTALS, 0) | {"invoice_count": 1, "gross_total": 11500} | CASES[case]
    assert msgspec.structs.asdict(contribution(case())) == expected


def test_the_cases_tell_every_two_figures_apart() -> None:
    """So a value given to the wrong field of Figures fails a case above."""
    by_figure = {name: tuple(figures.get(name, 0) for figures in CASES.values()) for name in TOTALS}
    by_figure["invoice_count"] = (1,) * len(CASES)
    by_figure["gross_total"] = (11500,) * len(CASES)
    assert len(set(by_figure.values())) == len(TOTALS)


def test_no_invoice_contributes_nothing() -> None:
    assert contribution(None) == NO_FIGURES == Figures()


# The summary tables' columns in schema.sql ----------------------------------

_TABLE = re.compile(r"CREATE TABLE \{schema\}\.(\w+) \((.*?)\n\);", re.DOTALL)
_LIKE = re.compile(r"LIKE \{schema\}\.(\w+)")


def schema_columns() -> dict[str, list[tuple[str, str]]]:
    """(name, definition) of every column of every table in schema.sql, with
    ``LIKE`` clauses expanded."""
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, body in _TABLE.findall(SCHEMA_SQL):
        columns: list[tuple[str, str]] = []
        for raw in body.splitlines():
            text = raw.split("--")[0].strip().rstrip(",")
            if text.startswith("PRIMARY KEY"):  # the last clause of each table (it may span lines)
                break
            if not text:
                continue
            like = _LIKE.match(text)
            if like:
                columns.extend(tables[like.group(1)])
            else:
                name, definition = text.split(maxsplit=1)
                columns.append((name, " ".join(definition.split())))
        tables[table] = columns
    return tables


@pytest.mark.parametrize("table", ALL_SUM_TABLES)
def test_the_figure_columns_of_each_summary_table_are_its_figures(table: str) -> None:
    keys, figures = ALL_SUM_TABLES[table]
    columns = schema_columns()[table]
    assert sorted(name for name, _ in columns[: len(keys)]) == sorted(name for name, _ in keys)
    assert [name for name, _ in columns[len(keys) :]] == list(figures)
    for name, definition in columns[len(keys) :]:
        assert definition == f"{'bigint' if is_count(name) else 'numeric'} NOT NULL DEFAULT 0", name


@pytest.mark.integration
async def test_the_created_summary_tables_have_the_figure_columns(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'proj_1' AND table_name = ANY($1::text[]) ORDER BY table_name, ordinal_position",
        list(ALL_SUM_TABLES),
    )
    for table, (keys, figures) in ALL_SUM_TABLES.items():
        columns = [(r["column_name"], r["data_type"]) for r in rows if r["table_name"] == table]
        assert {name for name, _ in columns[: len(keys)]} == {name for name, _ in keys}
        assert columns[len(keys) :] == [(f, "bigint" if is_count(f) else "numeric") for f in figures]
