"""Freshness: time from publish to visible in the API at a steady rate.

A paced publisher (bench/paced_publisher.py, its own process) sends at
5,000 events/s and notes, for one event in 50, the time before sending and the
partition and offset the broker acknowledged. Meanwhile the harness polls
``/invoices/summary`` every few milliseconds and keeps each answer's
``X-Projection-Position`` with the time the answer arrived. An event is
visible at the first answer whose next offset of its partition is past it.

``run`` then measures the same again while the read benchmark's load
generator (bench/loadgen.py: wrk, or its asyncio fallback) keeps the same API
process busy with summary requests for the whole paced run: the freshness a
reader sees when the API is serving, and what the API serves meanwhile."""

from __future__ import annotations

import asyncio
import bisect
import json
import time
import uuid
from collections.abc import Sequence

import httpx
import msgspec

from bench import loading, streams
from bench.config import SEED, Context
from bench.lab import Process, api_positions
from bench.loadgen import LoadResult, load
from bench.procstat import CpuSampler, CpuShare, stack_groups
from bench.stats import percentile

POLL_SECONDS = 0.005


class FreshnessResult(msgspec.Struct, frozen=True):
    target_rate: int
    achieved_rate: float
    seconds: float
    samples: int
    visible: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    polls: int
    latencies_ms: list[float]
    # (seconds since the first send, latency ms) per visible sample: a rising
    # line is a worker falling behind the publisher.
    series: list[tuple[float, float]]
    cpu: list[CpuShare]
    # Set when the API served the read load during the paced run.
    load: LoadResult | None = None
    load_paths: list[str] = msgspec.field(default_factory=list)
    # The same measurement while the API served the read load.
    under_load: FreshnessResult | None = None


# Customers of the queried tenant whose summaries the read load asks for.
LOAD_CUSTOMERS = 20


def load_paths() -> list[str]:
    """The summaries the read benchmark loads: the tenant's, and its customers'."""
    customers = [streams.customer_id(0, index) for index in range(LOAD_CUSTOMERS)]
    return ["/invoices/summary", "/v1/summary", *(f"/customers/{c}/invoices/summary" for c in customers)]


def visibility_latencies(
    samples: Sequence[tuple[float, int, int]], observations: Sequence[tuple[float, dict[int, int]]]
) -> list[float | None]:
    """For each sample (time sent, partition, offset), seconds until the first
    observation (time, next offset per partition) after it that has passed
    the offset; None if none did. Observations are in time order."""
    times = [t for t, _ in observations]
    by_partition: dict[int, list[int]] = {}
    for _, positions in observations:
        for partition in positions:
            by_partition.setdefault(partition, [])
    for partition, offsets in by_partition.items():
        running = 0
        for _, positions in observations:
            # Positions only move forward; a missing reading keeps the last.
            running = max(running, positions.get(partition, running))
            offsets.append(running)
    found: list[float | None] = []
    for sent, partition, offset in samples:
        passed = by_partition.get(partition)
        if passed is None:
            found.append(None)
            continue
        index = max(bisect.bisect_left(times, sent), bisect.bisect_right(passed, offset))
        found.append(times[index] - sent if index < len(times) else None)
    return found


async def run(ctx: Context) -> FreshnessResult:
    """Freshness on a quiet API, then while it serves the read load."""
    quiet = await paced(ctx)
    loaded = await paced(ctx, under_load=True)
    return msgspec.structs.replace(quiet, under_load=loaded)


async def paced(ctx: Context, under_load: bool = False) -> FreshnessResult:
    lab, sizes = ctx.lab, ctx.sizes
    url = await lab.database("fresh")
    topic = await lab.topic("fresh")
    reading: asyncio.Task[LoadResult] | None = None
    settings = lab.settings(url, topic, consumer_group=f"bench-{uuid.uuid4().hex[:8]}")
    key = await lab.api_key(url, streams.LARGEST_TENANT)
    api, api_url = await lab.api("fresh-api", settings)
    worker = lab.billing("fresh-worker", ["worker"], settings)
    publisher: Process | None = None
    database = url.rpartition("/")[2]
    out = ctx.report_dir / "logs" / f"freshness-samples-{uuid.uuid4().hex[:6]}.json"
    try:
        # Warm up: the worker joins its group and applies a first stream.
        warm = streams.records(2_000, SEED + 7, ctx.today)
        ends = await loading.publish(lab.kafka_bootstrap, topic, warm)
        async with httpx.AsyncClient(timeout=10) as client:
            deadline = time.monotonic() + 120
            while True:
                positions = await api_positions(client, api_url, key)
                if all(positions.get(p, 0) >= o for p, o in ends.items()):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the freshness worker did not catch up:\n{worker.tail()}")
                await asyncio.sleep(0.1)
            publisher = lab.spawn(
                "fresh-publisher",
                [
                    "bench.paced_publisher",
                    "--rate",
                    str(sizes.freshness_rate),
                    "--seconds",
                    str(sizes.freshness_seconds),
                    "--sample-every",
                    str(sizes.freshness_sample_every),
                    "--seed",
                    str(SEED + 8),
                    "--out",
                    str(out),
                ],
                settings,
            )
            while "ready" not in publisher.log.read_text(errors="replace"):
                if not publisher.running():
                    raise RuntimeError(f"paced publisher failed:\n{publisher.tail()}")
                await asyncio.sleep(0.05)
            names = {
                worker.pid: "billing worker (python)",
                api.pid: "billing api (python)",
                publisher.pid: "paced publisher (python)",
            }
            sampler = CpuSampler(stack_groups(ctx.postgres_pid, ctx.kafka_pid, database, lambda: names))
            sampler.start()
            if under_load:
                # As long as the paced run; the few polls after it see an idle API.
                seconds = float(sizes.freshness_seconds)
                reading = asyncio.create_task(
                    load(api_url, load_paths(), key, seconds, sizes.read_connections, ctx.use_wrk)
                )
            observations: list[tuple[float, dict[int, int]]] = []
            while publisher.running():
                positions = await api_positions(client, api_url, key)
                observations.append((time.monotonic(), positions))
                await asyncio.sleep(POLL_SECONDS)
            served = None if reading is None else await reading
            cpu = await sampler.stop()
            if await publisher.wait_async() != 0:
                raise RuntimeError(f"paced publisher failed:\n{publisher.tail()}")
            result = json.loads(out.read_text())
            samples = [(float(t), int(p), int(o)) for t, p, o in result["samples"]]
            wanted: dict[int, int] = {}
            for _, p, o in samples:
                wanted[p] = max(wanted.get(p, -1), o)
            # Keep watching until the last sampled event is visible.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                positions = await api_positions(client, api_url, key)
                observations.append((time.monotonic(), positions))
                if all(positions.get(p, 0) > o for p, o in wanted.items()):
                    break
                await asyncio.sleep(POLL_SECONDS)
    finally:
        if reading is not None and not reading.done():
            reading.cancel()
        if publisher is not None:
            publisher.stop()
        worker.stop()
        api.stop()
    await lab.drop_database(url)
    found = visibility_latencies(samples, observations)
    latencies = [x * 1000 for x in found if x is not None]
    first = samples[0][0] if samples else 0.0
    series = [(sent - first, x * 1000) for (sent, _, _), x in zip(samples, found, strict=True) if x is not None]
    ms = latencies or [0.0]
    return FreshnessResult(
        target_rate=sizes.freshness_rate,
        achieved_rate=result["sent"] / result["seconds"],
        seconds=result["seconds"],
        samples=len(samples),
        visible=len(latencies),
        p50_ms=percentile(ms, 50),
        p90_ms=percentile(ms, 90),
        p99_ms=percentile(ms, 99),
        max_ms=max(ms),
        polls=len(observations),
        latencies_ms=sorted(latencies),
        series=series,
        cpu=cpu,
        load=served,
        load_paths=load_paths() if under_load else [],
    )
