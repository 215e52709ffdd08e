"""``python -m bench.sql_fold [--events N]`` (``make bench-sql-fold``): what a
set-based fold in SQL over the event store costs per event, beside the
replay's Python fold on the same store in the same run.

The event store is COPYed into a scratch database (bench/loading.py), then
each stage runs on its own, timed, with the CPU of PostgreSQL (the database's
backends, its parallel workers and background processes) and of everything
else the stage runs (this process; the fold's share processes) per event:

- read: every body read, none parsed (the floor under every stage);
- parse: every body parsed as jsonb, the fields the fold reads extracted and
  aggregated so nothing is sent back;
- invoice states: one grouped pass (CREATE UNLOGGED TABLE AS ... GROUP BY
  invoice): the created event's facts, the status from the last status
  event, sent and voided times, the payments' sum, count and latest time;
- timeline steps: one row per event by window functions over the invoice's
  sequence: the status it moves from and to, the amount it adds to the paid
  sum, the business day and record time;
- b + c from one parse: the events parsed once into an unlogged table, then
  both passes over it (a fold of several tables shares its parse);
- Python fold: the replay's bulk fold phase alone (a new version without its
  indexes, every share folded and its per-invoice rows COPYed, one process
  per core), without its summary step;
- summary step: the replay's own after that fold (every summary table from
  the per-invoice rows, the customers' standing, the secondary indexes), the
  floor under any fold: a SQL fold would still need it, or its equivalent.

The invoice states are then compared with the Python fold's invoice rows, and
the timeline's last step of each invoice with the same rows. Prints the table
(CPU per event against the 20 µs a replay of 100,000 events/s on two cores
allows, and against the Python fold) and drops the scratch database.
``--setting name=value`` sets a session setting for the SQL stages (jit=off,
max_parallel_workers_per_gather=0 ...)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg
import msgspec

from bench import loading
from bench.config import SEED
from bench.lab import REPO, Lab
from bench.procstat import OTHER_DATABASES, CpuSampler, cpu_per_event, stack_groups
from bench.replay import children
from bench.report import publish, table
from contracts.currencies import ISO_4217
from deploy import local as stack
from projections import replay, shares, versions

DEFAULT_EVENTS = 1_000_000
# CPU per event a replay of 100,000 events/s may spend on two cores.
BUDGET_US = 2 / 100_000 * 1e6
# The topic the loaded events say they came from (nothing consumes it).
TOPIC = "bench-sql-fold"
# Every grouped pass and window sort of a rebuild in memory, not spilled.
WORK_MEM = "256MB"

STATES_TABLE = "public.sql_fold_invoices"
STEPS_TABLE = "public.sql_fold_steps"

_SCALES = ", ".join(f"('{code}', {10**exponent})" for code, exponent, _ in ISO_4217)
# Minor units per major unit of each currency: a decimal amount times its
# scale is exact (the store holds only amounts with the currency's decimals).
SCALES = f"scales (currency, scale) AS (VALUES {_SCALES})"

# Every event with the fields the fold reads. jsonb_to_record in FROM runs
# once per row: one parse of the body, every field cast to its type there (a
# data->>'field' per column would parse the body once per column instead).
EVENTS = """
SELECT e.tenant_id, e.invoice_id, e.sequence, e.type, e.event_time, e.stored_at, d.*
FROM billing.event_store e
CROSS JOIN LATERAL jsonb_to_record(convert_from(e.body, 'UTF8')::jsonb -> 'data') AS d (
    customer_id text, currency text, issue_date date, due_date date,
    net_total numeric, tax_total numeric, gross_total numeric,
    sent_at timestamptz, voided_at timestamptz, paid_at timestamptz, amount numeric, payment_id text
)
"""

INVOICE_COUNT = "SELECT count(DISTINCT (tenant_id, invoice_id)) FROM billing.event_store"
READ = "SELECT count(*), sum(octet_length(body)) FROM billing.event_store"

PARSE = f"""
SELECT count(*), count(customer_id), count(currency), max(issue_date), max(due_date),
       sum(net_total), sum(tax_total), sum(gross_total), max(sent_at), max(voided_at), max(paid_at),
       sum(amount), count(payment_id)
FROM ({EVENTS}) e
"""

_CREATED = "FILTER (WHERE type = 'invoice.created')"
_RANK = "CASE type WHEN 'invoice.sent' THEN 1 WHEN 'invoice.voided' THEN 2 ELSE 0 END"


def invoice_states(events: str, table: str = STATES_TABLE) -> str:
    """The grouped pass over ``events`` (a query in EVENTS' columns) into
    ``table``. The status moves DRAFT -> SENT -> VOIDED or DRAFT -> VOIDED
    and never back (projections/invoice.py): the last status event is the
    one with the highest sequence."""
    return f"""
CREATE UNLOGGED TABLE {table} AS
WITH {SCALES},
folded AS (
    SELECT tenant_id, invoice_id,
           max(customer_id) {_CREATED} AS customer_id, max(currency) {_CREATED} AS currency,
           max(issue_date) {_CREATED} AS issue_date, max(due_date) {_CREATED} AS due_date,
           max(net_total) {_CREATED} AS net, max(tax_total) {_CREATED} AS tax,
           max(gross_total) {_CREATED} AS gross,
           max(sequence) FILTER (WHERE type = 'invoice.sent') AS sent_sequence,
           max(sequence) FILTER (WHERE type = 'invoice.voided') AS voided_sequence,
           max(sent_at) AS sent_at, max(voided_at) AS voided_at,
           coalesce(sum(amount), 0) AS paid, count(amount) AS payment_count, max(paid_at) AS last_paid_at
    FROM ({events}) e
    GROUP BY tenant_id, invoice_id
)
SELECT f.tenant_id, f.invoice_id, f.customer_id, f.currency, f.issue_date, f.due_date,
       (f.net * s.scale)::bigint AS net, (f.tax * s.scale)::bigint AS tax, (f.gross * s.scale)::bigint AS gross,
       CASE WHEN f.voided_sequence > coalesce(f.sent_sequence, 0) THEN 'VOIDED'
            WHEN f.sent_sequence IS NOT NULL THEN 'SENT'
            ELSE 'DRAFT' END AS status,
       f.sent_at, f.voided_at, (f.paid * s.scale)::bigint AS amount_paid, f.payment_count::integer,
       f.last_paid_at
FROM folded f JOIN scales s USING (currency)
"""


def timeline_steps(events: str, table: str = STEPS_TABLE) -> str:
    """The window pass over ``events`` (a query in EVENTS' columns) into
    ``table``: the status after an event is the highest rank so far (it never
    moves back). One sort by invoice and sequence serves every window."""
    return f"""
CREATE UNLOGGED TABLE {table} AS
WITH {SCALES},
stepped AS (
    SELECT tenant_id, invoice_id, sequence, stored_at,
           CASE type WHEN 'invoice.created' THEN event_time WHEN 'invoice.sent' THEN sent_at
                     WHEN 'invoice.voided' THEN voided_at ELSE paid_at END AS at,
           coalesce(max({_RANK}) OVER before, 0) AS rank_before,
           max({_RANK}) OVER upto AS rank_after,
           coalesce(amount, 0) AS paid_added,
           sum(coalesce(amount, 0)) OVER upto AS paid_after,
           first_value(customer_id) OVER upto AS customer_id,
           first_value(currency) OVER upto AS currency,
           first_value(due_date) OVER upto AS due_date,
           first_value(gross_total) OVER upto AS gross
    FROM ({events}) e
    WINDOW upto AS (PARTITION BY tenant_id, invoice_id ORDER BY sequence),
           before AS (upto ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)
SELECT t.tenant_id, t.invoice_id, t.sequence, t.customer_id, t.currency, t.due_date,
       (t.at AT TIME ZONE 'UTC')::date AS day, t.stored_at AS recorded_at,
       (ARRAY['DRAFT', 'SENT', 'VOIDED'])[t.rank_before + 1] AS status_before,
       (ARRAY['DRAFT', 'SENT', 'VOIDED'])[t.rank_after + 1] AS status_after,
       (t.paid_added * s.scale)::bigint AS paid_added, (t.paid_after * s.scale)::bigint AS paid_after,
       (t.gross * s.scale)::bigint AS gross
FROM stepped t JOIN scales s USING (currency)
"""


INVOICE_STATES = invoice_states(EVENTS)
TIMELINE_STEPS = timeline_steps(EVENTS)
# Both passes from one parse: the events parsed once into a table that each
# pass reads (what a fold of several tables from one parse costs).
PARSED_TABLE = "public.sql_fold_events"
SHARED_PARSE = (
    f"CREATE UNLOGGED TABLE {PARSED_TABLE} AS {EVENTS}",
    invoice_states(f"SELECT * FROM {PARSED_TABLE}", "public.sql_fold_invoices_shared"),
    timeline_steps(f"SELECT * FROM {PARSED_TABLE}", "public.sql_fold_steps_shared"),
)

# The columns the grouped pass shares with the invoice rows.
COMPARED = (
    "customer_id",
    "currency",
    "issue_date",
    "due_date",
    "net",
    "tax",
    "gross",
    "status",
    "sent_at",
    "voided_at",
    "amount_paid",
    "payment_count",
    "last_paid_at",
)


def _mismatch_query(schema: str) -> str:
    counts = ", ".join(f"count(*) FILTER (WHERE s.{c} IS DISTINCT FROM i.{c}) AS {c}" for c in COMPARED)
    return f"""
    SELECT count(*) FILTER (WHERE s.invoice_id IS NULL) AS only_in_python,
           count(*) FILTER (WHERE i.invoice_id IS NULL) AS only_in_sql,
           {counts}
    FROM {STATES_TABLE} s FULL JOIN {schema}.invoices i USING (tenant_id, invoice_id)
    """


def _last_step_query(schema: str) -> str:
    return f"""
    SELECT count(*) FILTER (WHERE l.invoice_id IS NULL OR l.status_after IS DISTINCT FROM i.status
                               OR l.paid_after IS DISTINCT FROM i.amount_paid) AS last_step
    FROM {schema}.invoices i
    LEFT JOIN (SELECT DISTINCT ON (tenant_id, invoice_id) * FROM {STEPS_TABLE}
               ORDER BY tenant_id, invoice_id, sequence DESC) l USING (tenant_id, invoice_id)
    """


async def mismatches(conn: asyncpg.Connection, schema: str) -> dict[str, int]:
    """Per column: the invoices whose SQL state differs from the folded row
    (``only_in_*``: an invoice one side lacks); ``last_step``: the invoices
    whose last timeline step ends elsewhere than the folded row's status and
    paid sum. Needs both tables."""
    found: dict[str, int] = {}
    for query in (_mismatch_query(schema), _last_step_query(schema)):
        row = await conn.fetchrow(query)
        assert row is not None  # an aggregate without GROUP BY gives one row
        found.update(row.items())
    return found


async def new_version(conn: asyncpg.Connection) -> tuple[versions.Version, int]:
    """A new version to fold into, without its secondary indexes (as the
    bulk phase starts), and the watermark."""
    version = await replay.start(conn)
    await versions.drop_indexes(conn, version)
    return version, await replay.watermark(conn)


class StageRun(msgspec.Struct, frozen=True):
    stage: str
    seconds: float
    postgres_us: float  # CPU per event
    other_us: float

    @property
    def cpu_us(self) -> float:
        return self.postgres_us + self.other_us


async def measure(
    stage: str, events: int, database: str, work: Callable[[], Awaitable[object]], named: dict[int, str] | None = None
) -> StageRun:
    """Run ``work`` with the CPU of PostgreSQL and of this process (and its
    children, named in ``named`` as they appear) sampled."""

    def processes() -> dict[int, str]:
        found = dict.fromkeys(children(os.getpid()), "share processes (python)")
        return {**found, **(named or {})}

    sampler = CpuSampler(stack_groups(stack.postgres_pid(), None, database, processes))
    sampler.start()
    started = time.monotonic()
    await work()
    seconds = time.monotonic() - started
    per_event = cpu_per_event(await sampler.stop(), seconds, events)
    everything = per_event[-1][1]
    postgres = sum(us for group, us in per_event[:-1] if group.startswith("postgres") and group != OTHER_DATABASES)
    return StageRun(stage, seconds, postgres, everything - postgres)


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def render(
    runs: list[StageRun],
    events: int,
    invoices: int,
    found: dict[str, int],
    loads: tuple[str, str],
    settings: Sequence[str],
) -> str:
    python = next(r.cpu_us for r in runs if r.stage.startswith("d."))
    rows = [
        (
            r.stage,
            f"{events / r.seconds:,.0f}",
            f"{r.postgres_us:.1f}",
            f"{r.other_us:.1f}",
            f"{r.cpu_us:.1f}",
            f"{r.cpu_us / BUDGET_US:.2f}",
            f"{r.cpu_us / python:.2f}",
        )
        for r in runs
    ]
    wrong = {column: count for column, count in found.items() if count}
    return "\n".join(
        [
            f"SQL fold against the Python fold: {events:,} events, {invoices:,} invoices; the SQL stages' "
            f"session settings: {', '.join(settings)} (the server's otherwise)",
            "",
            table(
                (
                    "stage",
                    "events/s",
                    "PostgreSQL CPU µs/event",
                    "other CPU µs/event",
                    "all CPU µs/event",
                    f"× {BUDGET_US:.0f} µs budget",
                    "× Python fold",
                ),
                rows,
            ),
            "",
            f"Invoice states against the folded rows: {sum(wrong.values())} mismatches"
            + (f" ({', '.join(f'{c}: {n}' for c, n in wrong.items())})" if wrong else ""),
            f"Load average (1, 5, 15 min): {loads[0]} at the start, {loads[1]} at the end",
        ]
    )


async def run_all(conn: asyncpg.Connection, statements: Sequence[str]) -> None:
    for statement in statements:
        await conn.execute(statement)


async def run(events: int, out: Path, settings: Sequence[str] = ()) -> str:
    """The stages on a store of ``events``; ``settings`` (``name=value``) are
    the SQL stages' session settings beside work_mem."""
    admin_url = os.environ.get("BILLING_DATABASE_URL") or stack.database_url()
    bootstrap = os.environ.get("BILLING_KAFKA_BOOTSTRAP") or stack.kafka_bootstrap()
    async with Lab(admin_url, bootstrap, out / "logs") as lab:
        url = await lab.database("sql_fold")
        database = url.rpartition("/")[2]
        print(f"sql-fold: COPY {events:,} events into the event store", file=sys.stderr)
        await loading.copy_event_store(url, events, SEED + events, TOPIC, dt.datetime.now(dt.UTC).date())
        conn = await asyncpg.connect(url)
        try:
            invoices = int(await conn.fetchval(INVOICE_COUNT))
            # The load's WAL flushed now, not during the first stage.
            await conn.execute("CHECKPOINT")
            for setting in (f"work_mem={WORK_MEM}", *settings):
                name, _, value = setting.partition("=")
                await conn.execute("SELECT set_config($1, $2, false)", name, value)
            loads = [load_average()]
            stages: list[tuple[str, Callable[[], Awaitable[object]]]] = [
                ("read (bodies, not parsed)", lambda: conn.fetchrow(READ)),
                ("a. parse (jsonb, fields extracted)", lambda: conn.fetchrow(PARSE)),
                ("b. invoice states (one grouped pass)", lambda: conn.execute(INVOICE_STATES)),
                ("c. timeline steps (window functions)", lambda: conn.execute(TIMELINE_STEPS)),
                ("b + c from one parse (parsed to a table, then both passes)", lambda: run_all(conn, SHARED_PARSE)),
            ]
            runs = []
            for stage, work in stages:
                runs.append(await measure(stage, events, database, work))
                print(f"sql-fold: {stage}: {runs[-1].seconds:.1f} s", file=sys.stderr)
            await conn.execute("RESET ALL")
            version, upto = await new_version(conn)
            fold_args = (url, version.schema_name, upto)
            # The bulk phase's fold as replay.bulk runs it: a share per core.
            runs.append(
                await measure(
                    "d. Python fold phase (replay shares, no summary step)",
                    events,
                    database,
                    # The fold of one share in its own process, as the replay runs it.
                    lambda: shares.run(replay._fold_share_alone, fold_args, shares.usable_cores()),
                )
            )
            other = await asyncpg.connect(url)
            try:
                # What the replay does after its fold: every summary table,
                # the customers' standing and the secondary indexes.
                runs.append(
                    await measure(
                        "e. the replay's summary step after d",
                        events,
                        database,
                        lambda: replay.summarise(other, conn, version),
                    )
                )
            finally:
                await other.close()
            loads.append(load_average())
            found = await mismatches(conn, version.schema_name)
        finally:
            await conn.close()
        return render(runs, events, invoices, found, (loads[0], loads[1]), (f"work_mem={WORK_MEM}", *settings))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sql_fold", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="events in the event store")
    parser.add_argument("--out", type=Path, default=REPO / "bench-report", help="report folder (logs, sql-fold.md)")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a session setting for the SQL stages (repeatable), e.g. jit=off",
    )
    args = parser.parse_args(argv)
    text = asyncio.run(run(args.events, args.out, args.setting))
    return publish(text, args.out / "sql-fold.md")


if __name__ == "__main__":
    sys.exit(main())
