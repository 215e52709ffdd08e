"""Ingest: events per second from Kafka into PostgreSQL, visible in the API.

The stream is published before anything consumes it, so the figure is the
projection's own speed, not the publisher's. Each run gets a fresh database
and consumer group on the same topic; ``billing worker`` processes (1, 2 or 4)
start, and the harness polls the API's ``X-Projection-Position`` until every
partition has reached the end. The baseline projector (one transaction per
event) reads a topic holding the first records of the same stream."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx
import msgspec

from bench import loading, streams
from bench.before import Tree
from bench.config import SEED, Context
from bench.lab import REPO, Process, api_positions
from bench.procstat import CpuSampler, CpuShare, stack_groups
from bench.stats import rate_between

POLL_SECONDS = 0.02
# No progress for this long: the workers are failing (their logs say why).
STALL_SECONDS = 60.0


class IngestRun(msgspec.Struct, frozen=True):
    workers: int
    events: int
    events_per_second: float | None  # from 5% to 100% visible
    wall_seconds: float  # from the workers' start to all visible
    peak_rss_mb: float | None  # the largest worker's
    cpu: list[CpuShare]
    outcomes: dict[str, int]
    invoices: int


class BaselineRun(msgspec.Struct, frozen=True):
    events: int
    events_per_second: float | None
    wall_seconds: float
    cpu: list[CpuShare]
    invoices: int


MIGRATE_SECONDS = 120.0


class Stream(msgspec.Struct, frozen=True):
    topic: str
    ends: dict[int, int]
    events: int
    baseline_topic: str
    baseline_ends: dict[int, int]
    baseline_events: int
    publish_seconds: float


def _done(positions: dict[int, int], ends: dict[int, int]) -> int:
    return sum(min(positions.get(p, 0), end) for p, end in ends.items())


async def prepare_stream(ctx: Context) -> Stream:
    """Generate the stream, publish it, and its first records to the baseline's topic."""
    sizes = ctx.sizes
    ctx.say(
        f"generating {sizes.ingest_events:,} records (duplicates {streams.DUPLICATE_SHARE:.0%}, "
        f"late {streams.LATE_SHARE:.0%})"
    )
    records = await asyncio.to_thread(streams.records, sizes.ingest_events, SEED, ctx.today)
    topic = await ctx.lab.topic("ingest")
    baseline_topic = await ctx.lab.topic("baseline")
    started = time.monotonic()
    ends = await loading.publish(ctx.lab.kafka_bootstrap, topic, records)
    publish_seconds = time.monotonic() - started
    baseline_ends = await loading.publish(ctx.lab.kafka_bootstrap, baseline_topic, records[: sizes.baseline_events])
    ctx.say(f"published {len(records):,} records in {publish_seconds:.1f}s")
    return Stream(topic, ends, len(records), baseline_topic, baseline_ends, sizes.baseline_events, publish_seconds)


async def _outcomes(url: str) -> tuple[dict[str, int], int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT outcome || CASE WHEN reason = '' THEN '' ELSE ':' || reason END AS o, sum(count)::bigint AS n"
            " FROM billing.event_outcomes GROUP BY 1 ORDER BY 1"
        )
        invoices = await conn.fetchval("SELECT count(*) FROM billing_read.invoices")
    finally:
        await conn.close()
    return {r["o"]: r["n"] for r in rows}, int(invoices)


async def _database_of(ctx: Context, tree: Tree | None) -> str:
    """A fresh database for one run: migrated by this code (a clone of the
    template), or by the code of ``tree``."""
    if tree is None:
        return await ctx.lab.database("ingest")
    url = await ctx.lab.empty_database("ingest_before")
    migrate = ctx.lab.billing("ingest-before-migrate", ["migrate"], ctx.lab.settings(url), source=tree.path)
    if await migrate.wait_async(MIGRATE_SECONDS) != 0:
        raise RuntimeError(f"billing migrate of commit {tree.commit} failed:\n{migrate.tail()}")
    return url


async def ingest_run(ctx: Context, stream: Stream, workers: int, tree: Tree | None = None) -> IngestRun:
    """One ingest of the whole stream into a fresh database by ``workers``
    worker processes, of this code or of the code of ``tree`` (its API too)."""
    lab = ctx.lab
    source = REPO if tree is None else tree.path
    tag = "" if tree is None else "-before"
    url = await _database_of(ctx, tree)
    settings = lab.settings(url, stream.topic, consumer_group=f"bench-{uuid.uuid4().hex[:8]}")
    key = await lab.api_key(url, streams.LARGEST_TENANT)
    api, api_url = await lab.api(f"ingest{tag}-api-{workers}w", settings, source=source)
    spawned: list[Process] = []
    database = url.rpartition("/")[2]

    def named() -> dict[int, str]:
        found = {p.pid: "billing worker (python)" for p in spawned}
        found[api.pid] = "billing api (python)"
        return found

    sampler = CpuSampler(stack_groups(ctx.postgres_pid, ctx.kafka_pid, database, named))
    samples: list[tuple[float, int]] = []
    # Generous: a stall (no progress for STALL_SECONDS) is what ends a failing
    # run; a machine shared with other work may run at a few hundred events/s.
    timeout = 120 + stream.events / 200
    try:
        sampler.start()
        started = time.monotonic()
        for index in range(workers):
            spawned.append(lab.billing(f"ingest{tag}-worker-{workers}w-{index}", ["worker"], settings, source=source))
        async with httpx.AsyncClient(timeout=10) as client:
            progressed = started
            while True:
                done = _done(await api_positions(client, api_url, key), stream.ends)
                now = time.monotonic()
                if not samples or done > samples[-1][1]:
                    progressed = now
                samples.append((now, done))
                if done >= stream.events:
                    break
                stalled = now - progressed > STALL_SECONDS
                if now - started > timeout or stalled or not all(p.running() for p in spawned):
                    raise RuntimeError(
                        f"ingest with {workers} worker(s) stopped at {done:,}/{stream.events:,} events\n"
                        + "\n".join(p.tail(10) for p in spawned)
                    )
                await asyncio.sleep(POLL_SECONDS)
        wall = time.monotonic() - started
        cpu = await sampler.stop()
    finally:
        for process in spawned:
            process.stop()
        api.stop()
    peaks = [p.peak_rss_kb for p in spawned if p.peak_rss_kb]
    outcomes, invoices = await _outcomes(url)
    await lab.drop_database(url)
    return IngestRun(
        workers=workers,
        events=stream.events,
        events_per_second=rate_between(samples, stream.events),
        wall_seconds=wall,
        peak_rss_mb=max(peaks) / 1024 if peaks else None,
        cpu=cpu,
        outcomes=outcomes,
        invoices=invoices,
    )


async def baseline_run(ctx: Context, stream: Stream) -> BaselineRun:
    lab = ctx.lab
    url = await lab.database("baseline")
    settings = lab.settings(url, stream.baseline_topic)
    total = stream.baseline_events
    database = url.rpartition("/")[2]
    process: Process | None = None

    def named() -> dict[int, str]:
        return {} if process is None else {process.pid: "baseline projector (python)"}

    sampler = CpuSampler(stack_groups(ctx.postgres_pid, ctx.kafka_pid, database, named))
    samples: list[tuple[float, int]] = []
    conn = await asyncpg.connect(url)
    try:
        sampler.start()
        started = time.monotonic()
        process = lab.spawn("baseline-projector", ["bench.baseline_projector"], settings)
        while True:
            try:
                done = int(
                    await conn.fetchval(
                        "SELECT coalesce(sum(next_offset), 0) FROM baseline.offsets WHERE topic = $1",
                        stream.baseline_topic,
                    )
                )
            except asyncpg.UndefinedTableError:
                done = 0  # the projector has not created its tables yet
            now = time.monotonic()
            samples.append((now, done))
            if done >= total:
                break
            if not process.running() or now - started > 120 + total / 50:
                raise RuntimeError(f"baseline projector stopped at {done:,}/{total:,}\n{process.tail()}")
            await asyncio.sleep(0.05)
        wall = time.monotonic() - started
        cpu = await sampler.stop()
        await process.wait_async(60)
        invoices = int(await conn.fetchval("SELECT count(*) FROM baseline.invoices"))
    finally:
        if process is not None:
            process.stop()
        await conn.close()
    await lab.drop_database(url)
    return BaselineRun(
        events=total, events_per_second=rate_between(samples, total), wall_seconds=wall, cpu=cpu, invoices=invoices
    )
