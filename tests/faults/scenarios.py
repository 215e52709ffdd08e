"""Fault scenarios against a real stack: a publisher streams events, clients
read, workers consume — and something breaks. Afterwards the worker must have
recovered by itself, `verify` must find no difference, and the outcome counts
must equal those of a clean fold of exactly what the topic holds.

Used by tests/faults/test_faults.py (short) and ``python -m tests.faults``
(the long soak, `make faults`), which prints the per-scenario table.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts import InvoiceEvent, encode
from projections.projector import RawRecord
from projections.verify import verify
from services import db, keys
from services.api.freshness import read_positions
from services.settings import Settings
from tests.conftest import free_port, with_database
from tests.faults import private_stack
from tests.projections.harness import Harness
from tests.services.workers import caught_up, ends, messy_stream, spawn_worker, stop_worker
from tests.serving import running_api


@dataclass
class Run:
    """One scenario's moving parts, handed to its fault."""

    settings: Settings
    admin_url: str
    database: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_options: dict[str, Any] = field(default_factory=dict)

    def spawn(self, **options: Any) -> subprocess.Popen[bytes]:
        worker = spawn_worker(self.settings, **{**self.worker_options, **options})
        self.workers.append(worker)
        return worker

    async def admin(self, sql: str, *args: Any) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(sql, *args)
        finally:
            await conn.close()


@dataclass
class Fault:
    name: str
    inject: Callable[[Run], Awaitable[Any]]
    lift: Callable[[Run, Any], Awaitable[None]]
    hold_seconds: float = 2.0
    worker_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    scenario: str
    published: int
    applied: int
    expected_applied: int
    duplicates: int
    quarantined: int
    held: int
    lost: int
    doubled: int
    recovery_seconds: float
    reads_ok: int
    reads_failed: int
    reads_failed_after_recovery: int
    # Reads answered neither 200 nor 503 (a database outage is a 503 problem).
    reads_broken: int
    differences: int

    def row(self) -> str:
        return (
            f"| {self.scenario} | {self.published} | {self.applied} | {self.lost} | {self.doubled} |"
            f" {self.recovery_seconds:.2f} s | {self.reads_ok}/{self.reads_ok + self.reads_failed}"
            f" ({self.reads_failed - self.reads_broken} × 503) |"
        )


HEADER = (
    "| scenario | records published | events applied | lost | doubled | recovery | reads ok (503 while down) |\n"
    "|---|---|---|---|---|---|---|"
)


# -- the faults ---------------------------------------------------------------


async def _kill_kafka(run: Run) -> None:
    await asyncio.to_thread(private_stack.kill_kafka)


async def _start_kafka(run: Run, _: Any) -> None:
    await asyncio.to_thread(private_stack.start_kafka)


def _stop_postgres(mode: str) -> Callable[[Run], Awaitable[None]]:
    async def inject(run: Run) -> None:
        await asyncio.to_thread(private_stack.stop_postgres, mode)

    return inject


async def _start_postgres(run: Run, _: Any) -> None:
    await asyncio.to_thread(private_stack.start_postgres)


async def _kill_workers_repeatedly(run: Run) -> None:
    rng = random.Random(7)
    for _ in range(4):
        await asyncio.sleep(rng.uniform(0.6, 1.4))
        stop_worker(run.workers.pop(), signal.SIGKILL)
        run.spawn()


async def _nothing_to_lift(run: Run, _: Any) -> None:
    return None


async def _scale_up(run: Run) -> None:
    run.spawn()
    run.spawn()  # 1 -> 3
    await asyncio.sleep(2.0)
    stop_worker(run.workers.pop(), signal.SIGKILL)  # a crash ...
    stop_worker(run.workers.pop())  # ... and a clean leave: 3 -> 1


async def _refuse_connections(run: Run) -> None:
    await run.admin(f"ALTER DATABASE {run.database} ALLOW_CONNECTIONS false")
    await run.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", run.database)


async def _allow_connections(run: Run, _: Any) -> None:
    await run.admin(f"ALTER DATABASE {run.database} ALLOW_CONNECTIONS true")


async def _lock_a_summary_table(run: Run) -> asyncpg.Connection:
    conn = await asyncpg.connect(with_database(run.admin_url, run.database))
    transaction = conn.transaction()
    await transaction.start()
    await conn.execute("LOCK TABLE proj_1.currency_totals IN ACCESS EXCLUSIVE MODE")
    return (conn, transaction)  # type: ignore[return-value]


async def _release_lock(run: Run, held: Any) -> None:
    conn, transaction = held
    await transaction.rollback()
    await conn.close()


async def _make_read_only(run: Run) -> None:
    await run.admin(f"ALTER DATABASE {run.database} SET default_transaction_read_only = on")
    await run.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", run.database)


async def _make_writable(run: Run, _: Any) -> None:
    await run.admin(f"ALTER DATABASE {run.database} RESET default_transaction_read_only")


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("kafka broker killed (SIGKILL) and restarted", _kill_kafka, _start_kafka, 1.0),
        Fault("postgresql stopped (fast) and restarted", _stop_postgres("fast"), _start_postgres),
        Fault("postgresql stopped (immediate) and restarted", _stop_postgres("immediate"), _start_postgres),
        Fault(
            "worker killed (SIGKILL) 4 times",
            _kill_workers_repeatedly,
            _nothing_to_lift,
            0.0,
            {"group_instance_id": "faulty-worker"},
        ),
        Fault("workers scaled 1 -> 3 -> 1", _scale_up, _nothing_to_lift, 0.0),
        Fault("database refuses connections", _refuse_connections, _allow_connections),
        Fault(
            "statements time out behind a lock",
            _lock_a_summary_table,
            _release_lock,
            3.0,
            {"statement_timeout_ms": 500},
        ),
        Fault("database read-only", _make_read_only, _make_writable),
    )
}


# -- the run ----------------------------------------------------------------


async def _publish_resiliently(
    settings: Settings, events: list[InvoiceEvent | bytes], chunk: int, pause: float
) -> None:
    """Publish in chunks; a chunk the broker did not acknowledge is sent again
    (what a real publisher does: the log may then hold duplicates, which the
    projections recognise)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=10_000,
        linger_ms=5,
    )
    while True:
        try:
            await producer.start()
            break
        except Exception:  # noqa: BLE001 - the broker may be down right now
            await asyncio.sleep(0.5)
    try:
        for start in range(0, len(events), chunk):
            part = events[start : start + chunk]
            while True:
                try:
                    sends = [
                        await producer.send(
                            settings.topic,
                            e if isinstance(e, bytes) else encode(e),
                            key=b"poison" if isinstance(e, bytes) else e.subject.encode(),
                        )
                        for e in part
                    ]
                    await asyncio.gather(*sends)
                    break
                except Exception:  # noqa: BLE001 - retried: at-least-once publishing
                    await asyncio.sleep(0.5)
            await asyncio.sleep(pause)
    finally:
        with contextlib.suppress(Exception):
            await producer.stop()


async def read_topic(settings: Settings) -> list[RawRecord]:
    """Everything the topic holds, per partition in order."""
    consumer = AIOKafkaConsumer(
        settings.topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = sorted(consumer.assignment())
        ends = await consumer.end_offsets(tps)
        records: list[RawRecord] = []
        seen = dict.fromkeys(tps, 0)
        while any(seen[tp] < ends[tp] for tp in tps):
            for tp, batch in (await consumer.getmany(timeout_ms=1000)).items():
                for r in batch:
                    records.append(RawRecord(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ())))
                    seen[tp] = r.offset + 1
        return records
    finally:
        await consumer.stop()


async def _last_commit(url: str, topic: str) -> float | None:
    """Wall-clock time of the newest committed batch (None while unreachable)."""
    try:
        conn = await asyncio.wait_for(asyncpg.connect(url), 1.0)
    except Exception:  # noqa: BLE001 - the database may be down right now
        return None
    try:
        value = await conn.fetchval(
            "SELECT extract(epoch FROM max(updated_at)) FROM billing.partition_positions WHERE topic = $1",
            topic,
        )
        return None if value is None else float(value)
    except Exception:  # noqa: BLE001
        return None
    finally:
        conn.terminate()


async def _caught_up(url: str, settings: Settings) -> bool:
    """Whether the stored positions are at the end of the topic."""
    consumer = AIOKafkaConsumer(settings.topic, bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    try:
        await consumer.start()
        end_offsets = await consumer.end_offsets(list(consumer.assignment()))
    except Exception:  # noqa: BLE001 - the broker may be down right now
        return False
    finally:
        await consumer.stop()
    try:
        conn = await asyncio.wait_for(asyncpg.connect(url), 1.0)
    except Exception:  # noqa: BLE001
        return False
    try:
        stored = await read_positions(conn, settings.topic)
    finally:
        conn.terminate()
    # end offsets are next offsets; reached() takes the last offset wanted.
    return stored.reached({tp.partition: end - 1 for tp, end in end_offsets.items()})


async def _read_continuously(url: str, key: str, stop: asyncio.Event, log: list[tuple[float, int]]) -> None:
    async with httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=5) as client:
        while not stop.is_set():
            try:
                response = await client.get("/invoices/summary")
                status = response.status_code
                if status not in (200, 503):
                    print(f"read answered {status}: {response.text[:300]}")
            except httpx.HTTPError as error:
                print(f"read failed: {error!r}")
                status = 0
            log.append((time.monotonic(), status))
            await asyncio.sleep(0.02)


async def run_scenario(env: dict[str, str], fault: Fault, invoices: int = 1500, seed: int = 1) -> Report:
    suffix = uuid.uuid4().hex[:10]
    admin_url = env["BILLING_DATABASE_URL"]
    database = f"faults_{suffix}"
    await Run(Settings(), admin_url, database).admin(f"CREATE DATABASE {database}")
    url = with_database(admin_url, database)
    conn = await asyncpg.connect(url)
    await db.migrate(conn)
    _, api_key = await keys.create(conn, "tenant-1")
    await conn.close()
    settings = Settings.from_env(
        {},
        database_url=url,
        kafka_bootstrap=env["BILLING_KAFKA_BOOTSTRAP"],
        topic=f"faults-{suffix}",
        dlq_topic=f"faults-{suffix}.dlq",
        consumer_group=f"faults-{suffix}",
        worker_metrics_port=0,
        batch_wait_ms=20,
        batch_max_records=300,
        session_timeout_ms=6000,
        api_port=free_port(),
        db_pool_min=1,
        db_pool_max=4,
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(settings.topic, 4, 1), NewTopic(settings.dlq_topic, 1, 1)])
    await admin.close()

    run = Run(settings, admin_url, database, worker_options=fault.worker_options)
    run.spawn()
    api = contextlib.AsyncExitStack()
    api_url = await api.enter_async_context(running_api(settings))
    stop_reading = asyncio.Event()
    reads: list[tuple[float, int]] = []
    reader = asyncio.create_task(_read_continuously(api_url, api_key, stop_reading, reads))
    events = messy_stream(invoices=invoices, seed=seed)
    publishing = asyncio.create_task(_publish_resiliently(settings, events, chunk=150, pause=0.25))
    await asyncio.sleep(1.5)

    held = await fault.inject(run)
    await asyncio.sleep(fault.hold_seconds)
    await fault.lift(run, held)
    # Recovery: from lifting the fault to the first batch committed after it.
    lifted, lifted_wall = time.monotonic(), time.time()
    recovered_at: float | None = None
    while recovered_at is None and time.monotonic() - lifted < 120:
        committed = await _last_commit(url, settings.topic)
        if committed is not None and committed > lifted_wall:
            recovered_at = lifted + (committed - lifted_wall)
        elif await _caught_up(url, settings):
            recovered_at = lifted  # nothing was left to apply: nothing to recover
        else:
            await asyncio.sleep(0.05)
    await publishing
    records = await read_topic(settings)
    conn = await asyncpg.connect(url)
    try:
        await caught_up(conn, settings.topic, ends(records), timeout=180)
    finally:
        await conn.close()
    stop_reading.set()
    await reader
    await api.aclose()
    for worker in run.workers:
        stop_worker(worker)

    reference = Harness()
    reference.fold(records)
    expected = reference.outcome_counts()
    conn = await asyncpg.connect(url)
    try:
        outcomes = {
            (f"{r['outcome']}:{r['reason']}" if r["reason"] else r["outcome"]): r["n"]
            for r in await conn.fetch(
                "SELECT outcome, reason, sum(count)::int AS n FROM billing.event_outcomes GROUP BY 1, 2"
            )
            if r["n"]
        }
        applied = int(await conn.fetchval("SELECT count(*) FROM billing.event_store"))
        distinct = int(
            await conn.fetchval("SELECT count(DISTINCT (tenant_id, invoice_id, event_id)) FROM billing.event_store")
        )
        differences = await verify(conn, "proj_1")
    finally:
        await conn.close()
    await Run(settings, admin_url, database).admin(f"DROP DATABASE {database} WITH (FORCE)")
    recovery = (recovered_at or time.monotonic()) - lifted
    after = [status for t, status in reads if recovered_at is not None and t > recovered_at + 1.0]
    report = Report(
        scenario=fault.name,
        published=len(records),
        applied=applied,
        expected_applied=expected.get("applied", 0),
        duplicates=outcomes.get("duplicate", 0),
        quarantined=sum(n for k, n in outcomes.items() if k.startswith("quarantined")),
        held=outcomes.get("held", 0) - outcomes.get("released", 0),
        lost=max(expected.get("applied", 0) - applied, 0),
        doubled=max(applied - distinct, 0) + max(applied - expected.get("applied", 0), 0),
        recovery_seconds=recovery,
        reads_ok=sum(1 for _, s in reads if s == 200),
        reads_failed=sum(1 for _, s in reads if s != 200),
        reads_failed_after_recovery=sum(1 for s in after if s != 200),
        reads_broken=sum(1 for _, s in reads if s not in (200, 503)),
        differences=len(differences),
    )
    broken = sorted({s for _, s in reads if s not in (200, 503)})
    if broken:
        print(f"{fault.name}: reads answered {broken}")
    if outcomes != expected:
        raise AssertionError(f"{fault.name}: outcome counts {outcomes} != clean fold {expected}")
    return report
