"""``python -m bench.profile [--events N]`` (``make bench-profile``): where one
worker's time goes, per event, stage by stage.

The worker runs in this process on the ingest benchmark's stream (published
beforehand, a fresh database), with its fetch and its transaction taking
turns instead of overlapping, so each stage's CPU is its own. Stages:

- fetch: ``getmany`` (aiokafka decompresses and parses the record batches there);
- decode: ``kafka.raw_record`` and ``projector.incoming`` per record;
- fold: ``BatchFold.add`` and ``BatchFold.finish``;
- row building: the store's row and column builders, and whatever else
  ``ProjectionStore.write`` spends outside its statements (the event store's
  COPY rows are built inline there);
- each SQL statement (by the table it writes or reads): the worker's CPU in
  the call (asyncpg encoding COPY rows and arguments), the PostgreSQL
  backend's CPU from ``/proc/<pid>/schedstat`` (nanoseconds on CPU) and the
  wall time, with the rows it carried per event.

The rest of the worker's CPU (event loop, aiokafka's background fetches,
position bookkeeping) is reported as such, and the CPU of the stack's process
groups over the run as microseconds per event. Prints the table; nothing is
kept but the report folder's log."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import asyncpg
import msgspec

from bench import loading, streams
from bench.config import QUICK, SEED
from bench.lab import REPO, Lab
from bench.procstat import CpuSampler, CpuShare, cpu_per_event, stack_groups
from bench.report import publish, table
from deploy import local as stack
from projections import batch, store
from services import kafka
from services.logging import configure
from services.worker import consumer
from services.worker.consumer import Prepared, Worker

P = ParamSpec("P")
R = TypeVar("R")

_TABLE = re.compile(r"\b(?:INTO|FROM|UPDATE|JOIN)\s+([\w.{}]+)", re.IGNORECASE)
_SCHEMA = re.compile(r"^bench_\w+?_\d+\.|^billing_read\.|^v\d+\.")


class Stage(msgspec.Struct):
    calls: int = 0
    rows: int = 0
    worker_ns: int = 0  # this thread's CPU, children excluded
    server_ns: int = 0  # the backend's CPU (statements only)
    wall_ns: int = 0  # children excluded


class Profile:
    """Stages timed with this thread's CPU clock; a stage inside another
    (a statement inside ``write``) is left out of its parent's figures."""

    def __init__(self) -> None:
        self.stages: dict[str, Stage] = {}
        # Per task, per open stage: [cpu, wall] of its children. Per task: a
        # rebalance callback's statements run while the fetch stage of
        # another task is open, and belong to neither.
        self._open: dict[object, list[list[int]]] = {}

    @contextmanager
    def stage(self, name: str, rows: list[int] | None = None, backend: int | None = None) -> Iterator[None]:
        """Time the block as ``name``; ``rows`` (one count, which the block
        may fill in) adds to the rows the stage carried."""
        cpu, wall = time.thread_time_ns(), time.perf_counter_ns()
        server = _on_cpu_ns(backend)
        task = _current_task()
        stack = self._open.setdefault(task, [])
        stack.append([0, 0])
        try:
            yield
        finally:
            child_cpu, child_wall = stack.pop()
            spent_cpu, spent_wall = time.thread_time_ns() - cpu, time.perf_counter_ns() - wall
            if stack:
                stack[-1][0] += spent_cpu
                stack[-1][1] += spent_wall
            else:
                del self._open[task]
            found = self.stages.setdefault(name, Stage())
            found.calls += 1
            found.rows += rows[0] if rows else 0
            found.worker_ns += spent_cpu - child_cpu
            found.wall_ns += spent_wall - child_wall
            if backend is not None:
                found.server_ns += _on_cpu_ns(backend) - server

    def timed(self, name: str, function: Callable[P, R]) -> Callable[P, R]:
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with self.stage(name):
                return function(*args, **kwargs)

        return wrapper

    def timed_async(self, name: str, function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with self.stage(name):
                return await function(*args, **kwargs)

        return wrapper


PROFILE = Profile()


def _current_task() -> object:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop running
        return None


def _on_cpu_ns(pid: int | None) -> int:
    """Nanoseconds the process has run on a CPU (first field of schedstat)."""
    if pid is None:
        return 0
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def statement_name(sql: str) -> str:
    """``INSERT billing.event_outcomes``, ``SELECT invoices``…: the verb and
    the first table, without the version's schema name."""
    words = sql.split()
    verb = words[0].upper() if words else "?"
    found = _TABLE.search(sql)
    target = _SCHEMA.sub("", found.group(1)) if found else ""
    return f"{verb} {target}".strip()


def _rows(args: tuple[Any, ...]) -> int:
    """Rows an ``unnest`` statement carries: the length of its first array."""
    return len(args[0]) if args and isinstance(args[0], list | tuple) else 0


def _affected(status: object) -> int:
    """Rows an INSERT, UPDATE or DELETE touched, from its status (``INSERT 0 12``)."""
    last = str(status).rpartition(" ")[2]
    return int(last) if last.isdigit() else 0


class TimedConnection(asyncpg.Connection):
    """A connection whose statements are profile stages."""

    def _backend(self) -> int:
        return int(self.get_server_pid())

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        rows = [_rows(args)]
        with PROFILE.stage("SQL " + statement_name(query), rows, self._backend()):
            status = await super().execute(query, *args, **kwargs)
            rows[0] = rows[0] or _affected(status)
            return status

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
        with PROFILE.stage("SQL " + statement_name(query), [_rows(args)], self._backend()):
            return await super().fetch(query, *args, **kwargs)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        with PROFILE.stage("SQL " + statement_name(query), [_rows(args)], self._backend()):
            return await super().fetchval(query, *args, **kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        with PROFILE.stage("SQL " + statement_name(query), [_rows(args)], self._backend()):
            return await super().fetchrow(query, *args, **kwargs)

    async def copy_records_to_table(self, table_name: str, *, records: Any, **kwargs: Any) -> Any:
        records = list(records)
        prefix = "billing." if kwargs.get("schema_name") == "billing" else ""
        with PROFILE.stage(f"SQL COPY {prefix}{table_name}", [len(records)], self._backend()):
            return await super().copy_records_to_table(table_name, records=records, **kwargs)


class ProfiledWorker(Worker):
    """The worker with its connection timed and its stages taking turns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = asyncio.Lock()

    async def _open(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self.settings.database_url,
            server_settings={"statement_timeout": str(self.settings.statement_timeout_ms)},
            connection_class=TimedConnection,
        )

    async def _prepare(self) -> Prepared | None:
        async with self._turns:
            return await super()._prepare()

    async def _process(self, decoded: list[batch.Incoming]) -> None:
        async with self._turns:
            with PROFILE.stage("transaction (rest: begin, commit waits, bookkeeping)"):
                await super()._process(decoded)


def instrument(worker: Worker) -> None:
    """Wrap the stages: attributes looked up at call time (module functions,
    methods), replaced by timed ones."""
    for owner, attribute, name in (
        (kafka, "raw_record", "decode (raw_record)"),
        (consumer, "incoming", "decode (incoming: codec)"),
        (batch.BatchFold, "add", "fold (BatchFold.add)"),
        (batch.BatchFold, "finish", "fold (BatchFold.finish)"),
        (worker.tracker, "to_apply", "positions (tracker.to_apply)"),
        *((store, row, f"rows ({row})") for row in ("invoice_row", "change_row", "payment_row")),
    ):
        setattr(owner, attribute, PROFILE.timed(name, getattr(owner, attribute)))
    for owner, attribute, name in (
        (worker.consumer, "getmany", "fetch (getmany)"),
        (store.ProjectionStore, "load", "load (rows -> states, held bodies decoded)"),
        (store.ProjectionStore, "write", "rows (rest of ProjectionStore.write)"),
    ):
        setattr(owner, attribute, PROFILE.timed_async(name, getattr(owner, attribute)))


async def profile(events: int, out: Path, batch_max_records: int | None = None) -> str:
    admin_url = os.environ.get("BILLING_DATABASE_URL") or stack.database_url()
    bootstrap = os.environ.get("BILLING_KAFKA_BOOTSTRAP") or stack.kafka_bootstrap()
    async with Lab(admin_url, bootstrap, out / "logs") as lab:
        today = dt.datetime.now(dt.UTC).date()
        records = await asyncio.to_thread(streams.records, events, SEED, today)
        topic = await lab.topic("profile")
        ends = await loading.publish(bootstrap, topic, records)
        url = await lab.database("profile")
        batching = {} if batch_max_records is None else {"batch_max_records": batch_max_records}
        settings = lab.settings(url, topic, consumer_group=f"profile-{uuid.uuid4().hex[:8]}", **batching)
        worker = ProfiledWorker(settings)
        instrument(worker)
        database = url.rpartition("/")[2]
        sampler = CpuSampler(
            stack_groups(stack.postgres_pid(), stack.kafka_pid(), database, lambda: {os.getpid(): "worker (profiled)"})
        )
        stop = asyncio.Event()
        process_cpu = time.process_time_ns()
        sampler.start()
        started = time.monotonic()
        running = asyncio.create_task(worker.run(stop))
        try:
            while sum(min(worker.tracker.expected.get(p, 0), end) for p, end in ends.items()) < len(records):
                if running.done():
                    running.result()
                    raise RuntimeError("the worker stopped before the end of the stream")
                if time.monotonic() - started > 120 + events / 500:
                    raise RuntimeError(f"the profiled worker is stuck at {worker.tracker.expected}")
                await asyncio.sleep(0.05)
            seconds = time.monotonic() - started
            cpu = await sampler.stop()
            process_cpu = time.process_time_ns() - process_cpu
        finally:
            stop.set()
            await running
        return render(PROFILE, len(records), seconds, process_cpu, cpu, worker.batches)


def render(found: Profile, events: int, seconds: float, process_cpu_ns: int, cpu: list[CpuShare], batches: int) -> str:
    """The stage table (µs per event), then the stack's CPU per event."""

    def us(ns: int) -> str:
        return f"{ns / 1000 / events:.1f}"

    stages = sorted(found.stages.items(), key=lambda kv: -(kv[1].worker_ns + kv[1].server_ns))
    attributed = sum(s.worker_ns for _, s in stages)
    rows: list[tuple[Any, ...]] = [
        (
            name,
            s.calls,
            f"{s.rows / events:.2f}" if name.startswith("SQL") else "",
            us(s.worker_ns),
            us(s.server_ns) if name.startswith("SQL") else "",
            us(s.wall_ns),
        )
        for name, s in stages
    ]
    rows.append(
        ("worker CPU outside these stages (event loop, aiokafka I/O)", "", "", us(process_cpu_ns - attributed), "", "")
    )
    rows.append(
        (
            "**all**",
            "",
            "",
            us(process_cpu_ns),
            us(sum(s.server_ns for _, s in stages)),
            f"{seconds * 1e6 / events:.1f}",
        )
    )
    lines = [
        f"Profiled ingest: {events:,} events in {batches} batches, {seconds:.1f} s ({events / seconds:,.0f} events/s "
        "with fetch and transaction taking turns and the stages timed)",
        "",
        table(
            ("stage", "calls", "rows/event", "worker CPU µs/event", "PostgreSQL CPU µs/event", "wall µs/event"), rows
        ),
        "",
        "CPU of the process groups during the run:",
        "",
        table(("process group", "CPU µs/event"), [(g, f"{v:.1f}") for g, v in cpu_per_event(cpu, seconds, events)]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=QUICK.ingest_events, help="records in the stream")
    parser.add_argument("--out", type=Path, default=REPO / "bench-report", help="report folder (logs)")
    parser.add_argument("--batch-max-records", type=int, default=None, help="the worker's setting (default: its own)")
    args = parser.parse_args(argv)
    # The worker's warnings (a failing batch, a rebalance) still show; its
    # per-batch lines would bury the table.
    configure(level="warning")
    text = asyncio.run(profile(args.events, args.out, args.batch_max_records))
    return publish(text, args.out / "profile.md")


if __name__ == "__main__":
    sys.exit(main())
