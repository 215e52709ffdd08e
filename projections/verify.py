"""An independent check of a projection version against the event store.

Two recomputations, neither of which uses the fold's incremental path (batches,
held events, summed deltas):
1. every invoice row is rebuilt from its complete history in the event store
   (read in key order, merged with the invoice rows, in bounded memory);
2. every summary table is recomputed with plain SQL aggregates over the
   invoice rows — a second, separate definition of each figure — and compared
   with the sums of its shards;
3. every invoice's timeline rows are recomputed from its history, whole
   timelines after each recorded step subtracted (not the fold's difference
   from the first changed day), and the timelines' sums per day and per
   overdue threshold with SQL aggregates over those rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import msgspec

from contracts import ContractError, decode
from projections import standing
from projections.aggregates import CELLS_SQL, FIGURE_SQL, invoice_figures_sql, timeline_sums_sql
from projections.figures import NO_FIGURES, TOTALS, Figures
from projections.invoice import InvoiceState, advance, check_transition, first_state
from projections.store import CELL_TABLES, INVOICE_COLUMNS, SUM_TABLES, TIMELINE_SUM_TABLES, invoice_row
from projections.timeline import Changes, changes

# (table, key columns, figures): the store's summary tables, shards summed.
SUMMARY_TABLES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = tuple(
    (table, tuple(name for name, _ in keys if name != "partition"), figures)
    for table, (keys, figures) in SUM_TABLES.items()
)

EVENTS_IN_KEY_ORDER = """
SELECT tenant_id, invoice_id, sequence, partition, body, stored_at FROM billing.event_store
ORDER BY tenant_id, invoice_id, sequence
"""
# An invoice's timeline rows per (record time, day), in key order.
CHANGES_IN_KEY_ORDER = (
    "SELECT tenant_id, invoice_id, recorded_at, day, "
    + ", ".join(f"sum({f})" for f in TOTALS)
    + " FROM {schema}.invoice_changes GROUP BY tenant_id, invoice_id, recorded_at, day"
    + " ORDER BY tenant_id, invoice_id"
)

History = list[tuple[int, bytes, dt.datetime]]
"""An invoice's stored events in sequence order: (partition, body, stored_at)."""


class Difference(msgspec.Struct, frozen=True):
    table: str
    key: tuple[Any, ...]
    column: str
    live: Any
    expected: Any

    def __str__(self) -> str:
        return f"{self.table} {self.key}: {self.column} is {self.live!r}, expected {self.expected!r}"


def summary_queries(schema: str, table: str, keys: tuple[str, ...], figures: tuple[str, ...]) -> tuple[str, str]:
    """(the live table summed over its shards, the same recomputed from invoices)."""
    key_list = ", ".join(keys)
    live = (
        f"SELECT {key_list}, "
        + ", ".join(f"sum({f}) AS {f}" for f in figures)
        + f" FROM {schema}.{table} GROUP BY {key_list}"
    )
    return live, invoice_figures_sql(schema, keys, figures)


async def _keyed(conn: asyncpg.Connection, sql: str, width: int) -> dict[tuple[Any, ...], tuple[int, ...]]:
    rows: dict[tuple[Any, ...], tuple[int, ...]] = {}
    for record in await conn.fetch(sql):
        values = tuple(record.values())
        figures = tuple(int(v) for v in values[width:])
        if any(figures):
            rows[values[:width]] = figures
    return rows


async def verify_summaries(conn: asyncpg.Connection, schema: str) -> list[Difference]:
    differences: list[Difference] = []
    for table, keys, figures in SUMMARY_TABLES:
        live_sql, expected_sql = summary_queries(schema, table, keys, figures)
        live = await _keyed(conn, live_sql, len(keys))
        expected = await _keyed(conn, expected_sql, len(keys))
        differences.extend(_differences(table, figures, live, expected))
    return differences


def _differences(
    table: str,
    figures: tuple[str, ...],
    live: dict[tuple[Any, ...], tuple[int, ...]],
    expected: dict[tuple[Any, ...], tuple[int, ...]],
) -> list[Difference]:
    differences: list[Difference] = []
    for key in sorted(set(live) | set(expected), key=repr):
        got, want = live.get(key), expected.get(key)
        for index, figure in enumerate(figures):
            g = 0 if got is None else got[index]
            w = 0 if want is None else want[index]
            if g != w:
                differences.append(Difference(table, key, figure, g, w))
    return differences


def rebuild(history: History) -> InvoiceState | None:
    """One invoice's state from its complete, ordered history."""
    state: InvoiceState | None = None
    for partition, body, recorded_at in history:
        decoded = decode(body)
        event = decoded.event
        try:
            if state is None:
                state = first_state(event, decoded.amounts, partition)
            else:
                advance(state, event, check_transition(state, event), recorded_at)
        except ContractError:
            return None  # the store holds an event the state machine rejects
    return state


def recorded_timeline(history: History) -> dict[tuple[dt.datetime, dt.date], Figures]:
    """The timeline rows an invoice's history should have left, per (record
    time, day): after each record time's events, the whole new timeline minus
    the one before."""
    rows: dict[tuple[dt.datetime, dt.date], Figures] = {}
    before: Changes = {}
    for end, (_, _, recorded_at) in enumerate(history, start=1):
        if end < len(history) and history[end][2] == recorded_at:
            continue  # the step ends with the last event of this record time
        state = rebuild(history[:end])
        after = changes(state)
        for day in after.keys() | before.keys():
            delta = after.get(day, NO_FIGURES) - before.get(day, NO_FIGURES)
            if delta != NO_FIGURES:
                rows[(recorded_at, day)] = delta
        before = after
    return rows


async def _histories(conn: asyncpg.Connection) -> AsyncIterator[tuple[tuple[str, str], History]]:
    current: tuple[str, str] | None = None
    history: History = []
    async for r in conn.cursor(EVENTS_IN_KEY_ORDER, prefetch=2000):
        key = (r["tenant_id"], r["invoice_id"])
        if key != current:
            if current is not None:
                yield current, history
            current, history = key, []
        history.append((r["partition"], bytes(r["body"]), r["stored_at"]))
    if current is not None:
        yield current, history


async def verify_invoices(
    conn: asyncpg.Connection, schema: str, progress: Callable[[int], None] | None = None
) -> list[Difference]:
    """Every invoice row equals its rebuild from the event store. Needs a
    transaction (cursors); compares in key order with bounded memory."""
    columns = ", ".join(INVOICE_COLUMNS)
    live_rows = conn.cursor(
        f"SELECT {columns} FROM {schema}.invoices ORDER BY tenant_id, invoice_id", prefetch=2000
    ).__aiter__()
    differences: list[Difference] = []
    live = await anext(live_rows, None)
    done = 0
    async for key, history in _histories(conn):
        while live is not None and (live["tenant_id"], live["invoice_id"]) < key:
            differences.append(Difference("invoices", (live["tenant_id"], live["invoice_id"]), "*", "row", "no events"))
            live = await anext(live_rows, None)
        state = rebuild(history)
        expected = None if state is None else invoice_row(state)
        if live is None or (live["tenant_id"], live["invoice_id"]) != key:
            differences.append(Difference("invoices", key, "*", None, "row"))
        else:
            got = tuple(live.values())
            if expected is None:
                differences.append(Difference("invoices", key, "*", "row", "an unreplayable history"))
            else:
                differences.extend(
                    Difference("invoices", key, column, g, w)
                    for column, g, w in zip(INVOICE_COLUMNS, got, expected, strict=True)
                    if g != w
                )
            live = await anext(live_rows, None)
        done += 1
        if progress is not None and done % 10_000 == 0:
            progress(done)
    while live is not None:
        differences.append(Difference("invoices", (live["tenant_id"], live["invoice_id"]), "*", "row", "no events"))
        live = await anext(live_rows, None)
    return differences


async def verify_changes(conn: asyncpg.Connection, schema: str) -> list[Difference]:
    """Every invoice's timeline rows equal those its history should have left.
    Needs a transaction (cursors); compares in key order with bounded memory."""
    live_rows = conn.cursor(CHANGES_IN_KEY_ORDER.format(schema=schema), prefetch=2000).__aiter__()
    differences: list[Difference] = []
    live = await anext(live_rows, None)

    def compare(
        key: tuple[str, str], got: dict[tuple[Any, ...], Figures], want: dict[tuple[Any, ...], Figures]
    ) -> None:
        for step in sorted(got.keys() | want.keys()):
            g, w = got.get(step, NO_FIGURES), want.get(step, NO_FIGURES)
            differences.extend(
                Difference("invoice_changes", (*key, *step), figure, getattr(g, figure), getattr(w, figure))
                for figure in TOTALS
                if getattr(g, figure) != getattr(w, figure)
            )

    async for key, history in _histories(conn):
        got: dict[tuple[Any, ...], Figures] = {}
        while live is not None and (live["tenant_id"], live["invoice_id"]) <= key:
            figures = Figures(*(int(v) for v in tuple(live.values())[4:]))
            if (live["tenant_id"], live["invoice_id"]) < key:
                compare((live["tenant_id"], live["invoice_id"]), {(live["recorded_at"], live["day"]): figures}, {})
            elif figures != NO_FIGURES:
                got[(live["recorded_at"], live["day"])] = figures
            live = await anext(live_rows, None)
        compare(key, got, dict(recorded_timeline(history)))
    while live is not None:
        figures = Figures(*(int(v) for v in tuple(live.values())[4:]))
        compare((live["tenant_id"], live["invoice_id"]), {(live["recorded_at"], live["day"]): figures}, {})
        live = await anext(live_rows, None)
    return differences


async def verify_timeline_sums(conn: asyncpg.Connection, schema: str) -> list[Difference]:
    differences: list[Difference] = []
    for table, (keys, figures) in TIMELINE_SUM_TABLES.items():
        key_names = tuple(name for name, _ in keys if name != "partition")
        sums = ", ".join(f"sum({f})" for f in figures)
        live = await _keyed(
            conn,
            f"SELECT {', '.join(key_names)}, {sums} FROM {schema}.{table} GROUP BY {', '.join(key_names)}",
            len(key_names),
        )
        all_keys = tuple(name for name, _ in keys)
        expected_sql = _summed_over_partitions(timeline_sums_sql(schema, table), all_keys, figures)
        expected = await _keyed(conn, expected_sql, len(key_names))
        differences.extend(_differences(table, figures, live, expected))
    return differences


async def verify_cells(conn: asyncpg.Connection, schema: str) -> list[Difference]:
    (keys, figures) = CELL_TABLES["invoice_cells"]
    key_names = tuple(name for name, _ in keys)
    live_sql = f"SELECT {', '.join(key_names)}, {', '.join(figures)} FROM {schema}.invoice_cells"
    live = await _keyed(conn, _summed_over_partitions(live_sql, key_names, figures), len(key_names) - 1)
    expected_sql = CELLS_SQL.format(schema=schema)
    expected = await _keyed(conn, _summed_over_partitions(expected_sql, key_names, figures), len(key_names) - 1)
    return _differences("invoice_cells", figures, live, expected)


def _summed_over_partitions(sql: str, keys: tuple[str, ...], figures: tuple[str, ...]) -> str:
    """``sql``'s rows (keys, then figures) with the partition shards summed."""
    named = ", ".join(k for k in keys if k != "partition")
    sums = ", ".join(f"sum({f})" for f in figures)
    columns = ", ".join((*keys, *figures))
    return f"SELECT {named}, {sums} FROM ({sql}) AS rows ({columns}) GROUP BY {named}"


# The payments, defined again: what the invoice rows hold, recorded when the
# event store stored their events.
PAYMENTS_LIVE = """
SELECT tenant_id, invoice_id, payment_id, paid_at, amount, recorded_at FROM {schema}.payments
"""
PAYMENTS_EXPECTED = """
SELECT p.tenant_id, p.invoice_id, p.payment_id, p.paid_at, p.amount, e.stored_at
FROM (
    SELECT tenant_id, invoice_id, unnest(payment_ids) AS payment_id, unnest(payment_times) AS paid_at,
           unnest(payment_amounts) AS amount
    FROM {schema}.invoices
) p
LEFT JOIN billing.event_store e
  ON e.tenant_id = p.tenant_id AND e.invoice_id = p.invoice_id AND e.type = 'invoice.paid'
 AND convert_from(e.body, 'UTF8')::jsonb #>> '{{data,payment_id}}' = p.payment_id
"""


async def verify_payments(conn: asyncpg.Connection, schema: str) -> list[Difference]:
    live = {tuple(r.values()) for r in await conn.fetch(PAYMENTS_LIVE.format(schema=schema))}
    expected = {tuple(r.values()) for r in await conn.fetch(PAYMENTS_EXPECTED.format(schema=schema))}
    return [Difference("payments", row[:3], "*", row, None) for row in sorted(live - expected, key=repr)] + [
        Difference("payments", row[:3], "*", None, row) for row in sorted(expected - live, key=repr)
    ]


# The customers' standing (projections/standing.py), defined again over the
# invoice rows, overdue as of each row's own as_of_day.
_RECEIVABLE = "status = 'SENT' AND balance > 0"
STANDING_COLUMNS = (*standing.FIGURE_COLUMNS, "stale_from")
STANDING_LIVE = (
    f"SELECT tenant_id, currency, customer_id, {', '.join(STANDING_COLUMNS)} FROM {{schema}}.customer_standing"
)
STANDING_EXPECTED = f"""
SELECT i.tenant_id, i.currency, i.customer_id,
       (array_agg(i.customer_name ORDER BY i.issue_date DESC, i.invoice_id DESC)
            FILTER (WHERE i.customer_name IS NOT NULL))[1],
       {FIGURE_SQL["invoice_count"]}, coalesce({FIGURE_SQL["sent_gross"]}, 0),
       {FIGURE_SQL["receivable_count"]}, coalesce({FIGURE_SQL["receivable_balance"]}, 0),
       count(*) FILTER (WHERE {_RECEIVABLE} AND due_date < s.as_of_day),
       coalesce(sum(balance) FILTER (WHERE {_RECEIVABLE} AND due_date < s.as_of_day), 0),
       coalesce(min(due_date) FILTER (WHERE {_RECEIVABLE} AND due_date < s.as_of_day), 'infinity'),
       max(i.last_paid_at),
       min(due_date) FILTER (WHERE {_RECEIVABLE} AND due_date >= s.as_of_day) + 1
FROM {{schema}}.invoices i
LEFT JOIN {{schema}}.customer_standing s USING (tenant_id, currency, customer_id)
GROUP BY i.tenant_id, i.currency, i.customer_id, s.as_of_day
"""


async def verify_standing(conn: asyncpg.Connection, schema: str) -> list[Difference]:
    def rows(records: list[asyncpg.Record]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        return {tuple(r.values())[:3]: tuple(r.values())[3:] for r in records}

    live = rows(await conn.fetch(STANDING_LIVE.format(schema=schema)))
    expected = rows(await conn.fetch(STANDING_EXPECTED.format(schema=schema)))
    differences: list[Difference] = []
    for key in sorted(live.keys() | expected.keys()):
        got, want = live.get(key), expected.get(key)
        if got is None or want is None:
            differences.append(Difference("customer_standing", key, "*", got and "row", want and "row"))
            continue
        differences.extend(
            Difference("customer_standing", key, column, g, w)
            for column, g, w in zip(STANDING_COLUMNS, got, want, strict=True)
            if g != w
        )
    return differences


async def verify(
    conn: asyncpg.Connection, schema: str, progress: Callable[[int], None] | None = None
) -> list[Difference]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return (
            await verify_invoices(conn, schema, progress)
            + await verify_summaries(conn, schema)
            + await verify_changes(conn, schema)
            + await verify_timeline_sums(conn, schema)
            + await verify_cells(conn, schema)
            + await verify_payments(conn, schema)
            + await verify_standing(conn, schema)
        )
