"""The SQL of the projections: load the states a batch needs in one round trip
each, write everything a batch produced with bulk statements (COPY, and
``INSERT … SELECT`` from staged rows, never a statement per event): the
summed tables, the cells and the customer standing are grouped in SQL from
the batch's staged invoice and timeline rows. The caller owns the transaction.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import asyncpg

from contracts import Position, decode
from projections import cells, standing
from projections.batch import BatchResult, InvoiceChange, InvoiceKey, Payment, Pending
from projections.figures import RECEIVABLE, TOTALS
from projections.invoice import InvoiceState
from projections.timeline import AGING_THRESHOLDS

# Columns of the invoices table: every field of InvoiceState, then the
# figures derived from it (stored so that filters can use indexes).
STATE_COLUMNS: tuple[str, ...] = InvoiceState.__struct_fields__
DERIVED_COLUMNS: tuple[str, ...] = (
    "payment_status",
    "balance",
    "overpaid",
    "balance_usage",
    "balance_fixed",
    "balance_recurring",
    "balance_one_time",
    "sent_date",
)
INVOICE_COLUMNS: tuple[str, ...] = STATE_COLUMNS + DERIVED_COLUMNS
_state_values = operator.attrgetter(*STATE_COLUMNS)

EVENT_STORE_COLUMNS = (
    "tenant_id",
    "invoice_id",
    "sequence",
    "event_id",
    "type",
    "event_time",
    "topic",
    "partition",
    "kafka_offset",
    "body",
)
HELD_COLUMNS = (
    "tenant_id",
    "invoice_id",
    "sequence",
    "event_id",
    "topic",
    "partition",
    "kafka_offset",
    "body",
)
QUARANTINE_COLUMNS = (
    "topic",
    "partition",
    "kafka_offset",
    "kafka_key",
    "raw",
    "header_keys",
    "header_values",
    "reason",
    "detail",
    "event_id",
    "tenant_id",
    "invoice_id",
    "sequence",
    "event_type",
)

LOAD_HELD = """
SELECT h.tenant_id, h.invoice_id, h.sequence, h.topic, h.partition, h.kafka_offset,
       h.body, h.held_at
FROM billing.held_events h
JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, invoice_id) USING (tenant_id, invoice_id)
"""

DELETE_HELD = """
DELETE FROM billing.held_events h
USING unnest($1::text[], $2::text[], $3::int[]) AS k(tenant_id, invoice_id, sequence)
WHERE h.tenant_id = k.tenant_id AND h.invoice_id = k.invoice_id AND h.sequence = k.sequence
"""
# Events held per tenant (any invoice), for the per-tenant cap.
HELD_COUNTS = """
SELECT tenant_id, count(*) AS held FROM billing.held_events
WHERE tenant_id = ANY($1::text[]) GROUP BY tenant_id
"""


class HeldEventsChanged(Exception):
    """Held events this transaction loaded were released or quarantined by
    another one meanwhile: it must not commit (it would apply them again)."""


UPSERT_OUTCOMES = """
INSERT INTO billing.event_outcomes AS t (topic, partition, outcome, reason, count)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::bigint[])
ORDER BY 1, 2, 3, 4
ON CONFLICT (topic, partition, outcome, reason) DO UPDATE SET count = t.count + excluded.count
"""


def _adding(table: str, keys: Sequence[str], figures: Sequence[str], rows: str) -> str:
    """INSERT … ON CONFLICT adding ``rows`` (key columns, then figures) to the
    table's; rows are written in key order so concurrent writers could never
    deadlock."""
    return (
        f"INSERT INTO {{schema}}.{table} AS t ({', '.join((*keys, *figures))})\n"
        f"{rows} ORDER BY {', '.join(str(i) for i in range(1, len(keys) + 1))}\n"
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(f'{f} = t.{f} + excluded.{f}' for f in figures)}"
    )


_TENANT, _CUSTOMER, _CURRENCY = ("tenant_id", "text"), ("customer_id", "text"), ("currency", "text")
_DUE, _PARTITION = ("due_date", "date"), ("partition", "int")
SUM_TABLES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    "currency_totals": ((_TENANT, _CURRENCY, _PARTITION), TOTALS),
    "customer_totals": ((_TENANT, _CUSTOMER, _CURRENCY, _PARTITION), TOTALS),
    "currency_receivable": ((_TENANT, _CURRENCY, _DUE, _PARTITION), RECEIVABLE),
    "customer_receivable": ((_TENANT, _CUSTOMER, _CURRENCY, _DUE, _PARTITION), RECEIVABLE),
}
# The timelines' sums (projections/timeline.py): per business day, and per
# first day a receivable change counts as at least N days past due; the same
# per calendar month (its first day), so a month, quarter or year series reads
# a row per month for the months wholly inside its range instead of a row per
# day (services/api/v1/series/queries.py).
_DAY, _DAYS_PAST_DUE, _FROM_DAY = ("day", "date"), ("days_past_due", "int"), ("from_day", "date")
_MONTH, _FROM_MONTH = ("month", "date"), ("from_month", "date")
TIMELINE_SUM_TABLES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    "currency_daily": ((_TENANT, _CURRENCY, _DAY, _PARTITION), TOTALS),
    "currency_overdue_from": ((_TENANT, _CURRENCY, _DAYS_PAST_DUE, _FROM_DAY, _PARTITION), RECEIVABLE),
    "currency_monthly": ((_TENANT, _CURRENCY, _MONTH, _PARTITION), TOTALS),
    "currency_overdue_monthly": ((_TENANT, _CURRENCY, _DAYS_PAST_DUE, _FROM_MONTH, _PARTITION), RECEIVABLE),
}
# Their key columns that are not columns of the timeline rows, over those rows
# crossed with the aging thresholds (n) where the key has a threshold: a
# receivable change on ``day`` of an invoice due on ``due_date`` counts as N
# days past due from greatest(day, due_date + N) on.
_FIRST_DAY_PAST_DUE = "greatest(day, due_date + n)"
TIMELINE_KEY_SQL: dict[str, str] = {
    "days_past_due": "n",
    "from_day": _FIRST_DAY_PAST_DUE,
    "month": "date_trunc('month', day::timestamp)::date",
    "from_month": f"date_trunc('month', ({_FIRST_DAY_PAST_DUE})::timestamp)::date",
}
THRESHOLDS_SQL = f"unnest(ARRAY{list(AGING_THRESHOLDS)}) AS n"


# Invoice counts and gross totals per filter cell (projections/cells.py).
_TEXT = "text"
CELL_TABLES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    "invoice_cells": (
        (_TENANT, ("dimension", _TEXT), _DAY, _CURRENCY, _PARTITION),
        cells.FIGURES,
    )
}
ALL_SUM_TABLES = {**SUM_TABLES, **TIMELINE_SUM_TABLES, **CELL_TABLES}

# An invoice's timeline rows (batch.InvoiceChange). A live batch leaves out
# recorded_at, so the column's default, the transaction's start, records them
# with the same time as the event store's stored_at; a rebuild copies the
# record times of the events it replays.
CHANGE_KEYS: tuple[str, ...] = (
    "tenant_id",
    "invoice_id",
    "customer_id",
    "currency",
    "due_date",
    "partition",
    "day",
)
CHANGE_COLUMNS: tuple[str, ...] = (*CHANGE_KEYS, *TOTALS)
PAYMENT_COLUMNS: tuple[str, ...] = (
    "tenant_id",
    "invoice_id",
    "customer_id",
    "currency",
    "payment_id",
    "paid_at",
    "amount",
)
_figure_values = operator.attrgetter(*TOTALS)

# Invoices and timeline rows go through staging tables per connection and
# version (named for the version: a worker that outlives a promote must stage
# the new version's columns). COPY carries the invoices' text[] columns that
# unnest() would flatten, then one upsert moves them; the timeline rows are
# moved by one INSERT, and every summed table but the cells adds up the
# staged rows by one grouped upsert (CHANGE_SUMS).
INVOICES_STAGE = "{schema}_invoices_stage"
CHANGES_STAGE = "{schema}_changes_stage"
CREATE_STAGES = f"""
CREATE TEMP TABLE IF NOT EXISTS {INVOICES_STAGE} (LIKE {{schema}}.invoices) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS {CHANGES_STAGE} (LIKE {{schema}}.invoice_changes INCLUDING DEFAULTS)
    ON COMMIT DELETE ROWS;
"""
# A live batch's sent and voided events are recorded by its transaction.
_STAGED = {
    "sent_recorded_at": "CASE WHEN sent_at IS NOT NULL THEN coalesce(sent_recorded_at, now()) END",
    "voided_recorded_at": "CASE WHEN voided_at IS NOT NULL THEN coalesce(voided_recorded_at, now()) END",
}
UPSERT_INVOICES = (
    f"INSERT INTO {{schema}}.invoices ({', '.join(INVOICE_COLUMNS)})\n"
    f"SELECT {', '.join(_STAGED.get(c, c) for c in INVOICE_COLUMNS)} FROM {INVOICES_STAGE}"
    " ORDER BY tenant_id, invoice_id\n"
    "ON CONFLICT (tenant_id, invoice_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in INVOICE_COLUMNS if c not in ("tenant_id", "invoice_id"))
)
LOAD_INVOICES = (
    f"SELECT {', '.join(STATE_COLUMNS)}\n"
    "FROM {schema}.invoices i\n"
    "JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, invoice_id) USING (tenant_id, invoice_id)"
)
MOVE_CHANGES = (
    f"INSERT INTO {{schema}}.invoice_changes ({', '.join(CHANGE_COLUMNS)}, recorded_at)"
    f" SELECT {', '.join(CHANGE_COLUMNS)}, recorded_at FROM {CHANGES_STAGE}"
)


def _nonzero(values: Sequence[str]) -> str:
    return f"({', '.join(values)}) <> ({', '.join('0' for _ in values)})"


def grouped_changes(table: str, rows: str) -> str:
    """The timeline ``rows`` (a table of them) summed per key of ``table``, a
    summed table: its key columns (those that are not columns of the rows by
    their TIMELINE_KEY_SQL, over the rows crossed with the thresholds where
    the key has one), then its figures; rows whose sums cancel out left out.
    A batch adds its staged rows' (CHANGE_SUMS); a rebuild fills, and verify
    checks, the timelines' sums with the version's."""
    keys, figures = ALL_SUM_TABLES[table]
    names = [name for name, _ in keys]
    source = f"{rows} CROSS JOIN {THRESHOLDS_SQL}" if _DAYS_PAST_DUE in keys else rows
    sums = [f"sum({f})" for f in figures]
    return (
        f"SELECT {', '.join(TIMELINE_KEY_SQL.get(name, name) for name in names)}, {', '.join(sums)} FROM {source}"
        # Only a receivable change counts in the receivable sums.
        + (" WHERE " + " OR ".join(f"{f} <> 0" for f in figures) if figures == RECEIVABLE else "")
        + f" GROUP BY {', '.join(str(i) for i in range(1, len(names) + 1))} HAVING {_nonzero(sums)}"
    )


# The change of an invoice's contribution is the sum of its timeline rows
# over their days (tests/projections/test_fold_properties.py), so every
# summed table is a GROUP BY of them.
CHANGE_SUMS: dict[str, str] = {
    table: _adding(table, [name for name, _ in keys], figures, grouped_changes(table, CHANGES_STAGE))
    for table, (keys, figures) in {**SUM_TABLES, **TIMELINE_SUM_TABLES}.items()
}

# The filter cells (projections/cells.py) from the staged invoice rows and the
# rows they replace, read before the invoices upsert rewrites them: each
# changed invoice leaves its old cells (-1, -gross) and enters its new ones,
# one cell per dimension it has a date in, in the shard of its partition.
_CELL_SUMS = [
    f"coalesce(sum({value}) FILTER (WHERE status = '{status}' AND payment_status = '{payment}'), 0)"
    for status, payment in cells.COMBINATIONS
    for value in ("sign", "sign * gross")
]
_CELL_KEYS, _ = CELL_TABLES["invoice_cells"]
_CELL_VALUES = ("currency", "status", "payment_status", "due_date", "issue_date", "sent_date", "gross")
CELLS_FROM_STAGE = _adding(
    "invoice_cells",
    [name for name, _ in _CELL_KEYS],
    cells.FIGURES,
    f"""SELECT m.tenant_id, d.dimension, d.day, m.currency, m.partition, {", ".join(_CELL_SUMS)}
FROM (
    SELECT n.tenant_id, n.partition, v.*
    FROM {INVOICES_STAGE} n LEFT JOIN {{schema}}.invoices o USING (tenant_id, invoice_id)
    CROSS JOIN LATERAL (VALUES (-1, {", ".join(f"o.{c}" for c in _CELL_VALUES)}),
                               (1, {", ".join(f"n.{c}" for c in _CELL_VALUES)}))
        AS v(sign, {", ".join(_CELL_VALUES)})
    WHERE v.currency IS NOT NULL
) m
CROSS JOIN LATERAL (VALUES {", ".join(f"('{dimension}', m.{column})" for dimension, column in cells.DATE_COLUMNS)})
    AS d(dimension, day)
WHERE d.day IS NOT NULL
GROUP BY 1, 2, 3, 4, 5 HAVING {_nonzero(_CELL_SUMS)}""",
)


def invoice_row(state: InvoiceState) -> tuple[Any, ...]:
    """One row of the invoices table, in INVOICE_COLUMNS order."""
    usage, fixed, recurring, one_time = state.balance_split()
    return (
        *_state_values(state),
        state.payment_status,
        state.balance,
        state.overpaid,
        usage,
        fixed,
        recurring,
        one_time,
        state.sent_date,
    )


def _columns(rows: Iterable[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows -> one list per column, for unnest()."""
    columns: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for index, value in enumerate(row):
            columns[index].append(value)
    return columns


def payment_row(payment: Payment) -> tuple[Any, ...]:
    """One row of payments in PAYMENT_COLUMNS order."""
    return (
        payment.tenant_id,
        payment.invoice_id,
        payment.customer_id,
        payment.currency,
        payment.payment_id,
        payment.paid_at,
        payment.amount,
    )


def change_row(change: InvoiceChange) -> tuple[Any, ...]:
    """One row of invoice_changes in CHANGE_COLUMNS order."""
    return (
        change.tenant_id,
        change.invoice_id,
        change.customer_id,
        change.currency,
        change.due_date,
        change.partition,
        change.day,
        *_figure_values(change.figures),
    )


class ProjectionStore:
    """Reads and writes one projection version (its schema)."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._invoices_stage = INVOICES_STAGE.replace("{schema}", schema)
        self._changes_stage = CHANGES_STAGE.replace("{schema}", schema)
        self._sql = {
            name: sql.replace("{schema}", schema)
            for name, sql in {
                "load_invoices": LOAD_INVOICES,
                "create_stages": CREATE_STAGES,
                "upsert_invoices": UPSERT_INVOICES,
                "move_changes": MOVE_CHANGES,
                "cells": CELLS_FROM_STAGE,
            }.items()
        }
        self._change_sums = [sql.replace("{schema}", schema) for sql in CHANGE_SUMS.values()]

    async def load(
        self, conn: asyncpg.Connection, keys: Iterable[InvoiceKey]
    ) -> tuple[dict[InvoiceKey, InvoiceState], dict[InvoiceKey, dict[int, Pending]]]:
        """The states of these invoices that exist, and their held events."""
        tenants, invoices = _columns(keys, 2) if keys else ([], [])
        states: dict[InvoiceKey, InvoiceState] = {}
        for record in await conn.fetch(self._sql["load_invoices"], tenants, invoices):
            state = InvoiceState(**dict(record.items()))
            states[(state.tenant_id, state.invoice_id)] = state
        held: dict[InvoiceKey, dict[int, Pending]] = {}
        for record in await conn.fetch(LOAD_HELD, tenants, invoices):
            # Held bodies were valid when held; decoding them again cannot fail.
            decoded = decode(record["body"])
            position = Position(record["topic"], record["partition"], record["kafka_offset"])
            held.setdefault((record["tenant_id"], record["invoice_id"]), {})[record["sequence"]] = Pending(
                event=decoded.event,
                decoded=decoded,
                position=position,
                body=record["body"],
                held_at=record["held_at"],
            )
        return states, held

    async def held_counts(self, conn: asyncpg.Connection, tenants: Iterable[str]) -> dict[str, int]:
        """How many events each of these tenants holds, over all its invoices."""
        rows = await conn.fetch(HELD_COUNTS, sorted(set(tenants)))
        return {row["tenant_id"]: row["held"] for row in rows}

    async def write(self, conn: asyncpg.Connection, result: BatchResult) -> None:
        """Everything a live batch produced: the shared log tables and this version."""
        await write_log(conn, result)
        await self.write_projection(conn, result)

    async def write_projection(self, conn: asyncpg.Connection, result: BatchResult) -> None:
        """This version's rows: upserted invoices and added summary deltas."""
        if not result.invoices:
            return
        await conn.execute(self._sql["create_stages"])
        await conn.copy_records_to_table(
            self._invoices_stage, columns=INVOICE_COLUMNS, records=[invoice_row(state) for state in result.invoices]
        )
        # The cells first: they read the invoice rows the upsert replaces.
        await conn.execute(self._sql["cells"])
        await conn.execute(self._sql["upsert_invoices"])
        if result.changes:
            await self._copy_recorded(conn, self._changes_stage, None, CHANGE_COLUMNS, result.changes, change_row)
            await conn.execute(self._sql["move_changes"])
            for sql in self._change_sums:
                await conn.execute(sql)
        await self._copy_recorded(conn, "payments", self.schema, PAYMENT_COLUMNS, result.payments, payment_row)
        # Last: the customers' standing rows are locked until the commit.
        await standing.refresh(conn, self.schema, self._invoices_stage, self._changes_stage)

    @staticmethod
    async def _copy_recorded(
        conn: asyncpg.Connection,
        table: str,
        schema: str | None,
        columns: tuple[str, ...],
        rows: Sequence[InvoiceChange] | Sequence[Payment],
        values: Callable[[Any], tuple[Any, ...]],
    ) -> None:
        """COPY rows that carry a record time: a live batch's (None) take the
        column's default, now(); a rebuild's keep theirs."""
        now: list[tuple[Any, ...]] = []
        recorded: list[tuple[Any, ...]] = []
        for item in rows:
            if item.recorded_at is None:
                now.append(values(item))
            else:
                recorded.append((*values(item), item.recorded_at))
        if now:
            await conn.copy_records_to_table(table, schema_name=schema, columns=columns, records=now)
        if recorded:
            await conn.copy_records_to_table(
                table, schema_name=schema, columns=(*columns, "recorded_at"), records=recorded
            )


async def write_log(conn: asyncpg.Connection, result: BatchResult) -> None:
    """The shared tables every version agrees on: the event store, held and
    quarantined events, outcome counts. Raises HeldEventsChanged when a held
    event the batch releases is gone (the caller's transaction rolls back)."""
    if result.events:
        await conn.copy_records_to_table(
            "event_store",
            schema_name="billing",
            columns=EVENT_STORE_COLUMNS,
            records=[
                (
                    e.tenant_id,
                    e.invoice_id,
                    e.sequence,
                    e.event_id,
                    e.type,
                    e.time,
                    e.position.topic,
                    e.position.partition,
                    e.position.offset,
                    e.body,
                )
                for e in result.events
            ],
        )
    if result.held_removed:
        status = await conn.execute(DELETE_HELD, *_columns(((k[0], k[1], seq) for k, seq in result.held_removed), 3))
        deleted = int(status.split()[-1])
        if deleted != len(result.held_removed):
            # Another transaction (the periodic check, an operator, another
            # worker) took some of them since they were loaded.
            raise HeldEventsChanged(
                f"{len(result.held_removed) - deleted} of {len(result.held_removed)} held events this batch"
                " releases are no longer held"
            )
    if result.held_added:
        await conn.copy_records_to_table(
            "held_events",
            schema_name="billing",
            columns=HELD_COLUMNS,
            records=[
                (
                    key[0],
                    key[1],
                    p.event.sequence,
                    p.event.id,
                    p.position.topic,
                    p.position.partition,
                    p.position.offset,
                    p.body,
                )
                for key, p in result.held_added
            ],
        )
    if result.quarantined:
        await conn.copy_records_to_table(
            "quarantine",
            schema_name="billing",
            columns=QUARANTINE_COLUMNS,
            records=[
                (
                    q.position.topic,
                    q.position.partition,
                    q.position.offset,
                    q.key,
                    q.value,
                    [k for k, _ in q.headers],
                    [v for _, v in q.headers],
                    q.reason,
                    q.detail,
                    q.event_id,
                    q.tenant_id,
                    q.invoice_id,
                    q.sequence,
                    q.event_type,
                )
                for q in result.quarantined
            ],
        )
    if result.outcomes:
        await conn.execute(
            UPSERT_OUTCOMES,
            *_columns(((*key, count) for key, count in sorted(result.outcomes.items())), 5),
        )
