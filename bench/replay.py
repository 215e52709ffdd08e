"""Replay: ``billing replay --promote`` rebuilding every projection from the
event store, as a subprocess, while a client reads ``/invoices/summary``
without pause through the rebuild and the switch.

The event store is COPYed in beforehand (bench/loading.py). Each run builds a
new version and promotes it; the retired one is dropped between runs (not
measured), so the first run switches away from an empty version and later
runs from a full one, as in production."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time

import asyncpg
import httpx
import msgspec

from bench import loading, streams
from bench.config import SEED, Context
from bench.lab import Process
from bench.procstat import CpuSampler, CpuShare, processes, stack_groups, status_kb
from bench.stats import percentile

SLOWEST_KEPT = 5
SWITCH_LINE = re.compile(r"version (\d+) is active: (\d+) events applied during a ([\d.]+) ms switch")


class ReaderStats(msgspec.Struct, frozen=True):
    reads: int
    failures: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    failure_examples: list[str]
    # The slowest reads: (Unix time when sent, ms), slowest first.
    slowest: list[tuple[float, float]] = msgspec.field(default_factory=list)


class SlowRead(msgspec.Struct, frozen=True):
    """A slow read during a replay: when (seconds after the replay started),
    how long, and the replay's step then (from its log)."""

    at_seconds: float
    ms: float
    step: str


class ReplayRun(msgspec.Struct, frozen=True):
    events: int
    seconds: float
    events_per_second: float
    exit_code: int
    # VmHWM of the replay process and of its children (the processes of its
    # shares) summed, each read every 100 ms while it ran.
    peak_rss_mb: float | None
    switch_ms: float | None
    live_invoices_before: int
    reader: ReaderStats
    cpu: list[CpuShare]
    slow_reads: list[SlowRead] = msgspec.field(default_factory=list)


class ReplaySize(msgspec.Struct, frozen=True):
    events: int
    invoices: int
    load_seconds: float
    runs: list[ReplayRun]


async def read_continuously(url: str, key: str, stop: asyncio.Event) -> ReaderStats:
    """One client reading the unfiltered summary back to back: every pause of
    the API shows as one slow read."""
    latencies: list[float] = []
    sent_at: list[float] = []
    failures: list[str] = []
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set():
            sent_at.append(time.time())
            started = time.perf_counter()
            try:
                response = await client.get(url + "/invoices/summary", headers={"x-api-key": key})
                if response.status_code != 200:
                    failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
            except httpx.HTTPError as error:
                failures.append(repr(error))
            latencies.append((time.perf_counter() - started) * 1000)
    ms = latencies or [0.0]
    return ReaderStats(
        reads=len(latencies),
        failures=len(failures),
        p50_ms=percentile(ms, 50),
        p99_ms=percentile(ms, 99),
        max_ms=max(ms),
        failure_examples=failures[:5],
        slowest=sorted(zip(sent_at, latencies, strict=True), key=lambda read: -read[1])[:SLOWEST_KEPT],
    )


def replay_steps(log: str) -> list[tuple[float, str]]:
    """(Unix time, step) of each step the replay's log names, as each first
    appears: its progress lines are JSON with the step after the version in
    ``event`` ("replay v3: bulk"; the bulk's last line comes after its
    summary step's)."""
    steps: list[tuple[float, str]] = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        event = entry.get("event", "") if isinstance(entry, dict) else ""
        step = event.partition(": ")[2]
        if not step or any(step == seen for _, seen in steps):
            continue
        steps.append((dt.datetime.fromisoformat(entry["timestamp"]).timestamp(), step))
    return steps


def slow_reads(reader: ReaderStats, began: float, log: str) -> list[SlowRead]:
    """The slowest reads, each with the replay step it was sent in (the last
    one the log names before it; "start" before any)."""
    steps = replay_steps(log)
    found = []
    for sent, ms in reader.slowest:
        step = "start"
        for at, name in steps:
            if at <= sent:
                step = name
        found.append(SlowRead(at_seconds=sent - began, ms=ms, step=step))
    return found


def children(pid: int) -> list[int]:
    return [child for child, parent, _ in processes() if parent == pid]


async def children_peaks(pid: int, peaks: dict[int, int], stop: asyncio.Event) -> None:
    """Each child's VmHWM, read every 100 ms until ``stop``."""
    while not stop.is_set():
        for child in children(pid):
            peak = status_kb(child, "VmHWM")
            if peak is not None:
                peaks[child] = max(peaks.get(child, 0), peak)
        await asyncio.sleep(0.1)


async def _retired(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [
            r["version"]
            for r in await conn.fetch(
                "SELECT version FROM billing.projection_versions WHERE status = 'retired' ORDER BY version"
            )
        ]
    finally:
        await conn.close()


async def _live_invoices(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM billing_read.invoices"))
    finally:
        await conn.close()


async def replay_size(ctx: Context, events: int, runs: int) -> ReplaySize:
    lab = ctx.lab
    url = await lab.database("replay")
    database = url.rpartition("/")[2]
    topic = await lab.topic("replay")
    ctx.say(f"replay: COPY {events:,} events into the event store")
    started = time.monotonic()
    await loading.copy_event_store(url, events, SEED + events, topic, ctx.today)
    load_seconds = time.monotonic() - started
    conn = await asyncpg.connect(url)
    try:
        invoices = int(await conn.fetchval("SELECT count(DISTINCT (tenant_id, invoice_id)) FROM billing.event_store"))
    finally:
        await conn.close()
    ctx.say(f"replay: loaded in {load_seconds:.0f}s ({invoices:,} invoices)")
    settings = lab.settings(url, topic)
    key = await lab.api_key(url, streams.LARGEST_TENANT)
    api, api_url = await lab.api("replay-api", settings)
    results: list[ReplayRun] = []
    try:
        for run in range(runs):
            live_before = await _live_invoices(url)
            replaying: list[Process] = []  # the replay process, once started

            def named(replaying: list[Process] = replaying) -> dict[int, str]:
                found = {api.pid: "billing api (python)"}
                for p in replaying:
                    found[p.pid] = "billing replay (python)"
                    found.update(dict.fromkeys(children(p.pid), "billing replay shares (python)"))
                return found

            sampler = CpuSampler(stack_groups(ctx.postgres_pid, ctx.kafka_pid, database, named))
            stop = asyncio.Event()
            reader = asyncio.create_task(read_continuously(api_url, key, stop))
            await asyncio.sleep(0.5)  # the reader is reading before the replay starts
            sampler.start()
            began, wall_began = time.monotonic(), time.time()
            process = lab.billing(f"replay-{events}-{run + 1}", ["replay", "--promote"], settings, log_level="info")
            replaying.append(process)
            peaks: dict[int, int] = {}
            exited = asyncio.Event()
            sampling = asyncio.create_task(children_peaks(process.pid, peaks, exited))
            code = await process.wait_async()
            exited.set()
            await sampling
            seconds = time.monotonic() - began
            cpu = await sampler.stop()
            await asyncio.sleep(0.5)  # reads just after the switch count too
            stop.set()
            reader_stats = await reader
            output = process.log.read_text(errors="replace")
            switches = list(SWITCH_LINE.finditer(output))
            match = switches[-1] if switches else None
            if code != 0:
                raise RuntimeError(f"billing replay exited {code}:\n{process.tail()}")
            results.append(
                ReplayRun(
                    events=events,
                    seconds=seconds,
                    events_per_second=events / seconds,
                    exit_code=code,
                    peak_rss_mb=(process.peak_rss_kb + sum(peaks.values())) / 1024 if process.peak_rss_kb else None,
                    switch_ms=float(match.group(3)) if match else None,
                    live_invoices_before=live_before,
                    reader=reader_stats,
                    cpu=cpu,
                    slow_reads=slow_reads(reader_stats, wall_began, output),
                )
            )
            ctx.say(
                f"replay {events:,} run {run + 1}: {events / seconds:,.0f} events/s, "
                f"peak RSS {results[-1].peak_rss_mb or 0:.0f} MB, max read {reader_stats.max_ms:.0f} ms"
            )
            # Free the disk: the retired version is not needed (not measured).
            for version in await _retired(url):
                dropped = lab.billing(f"replay-drop-{events}-{run + 1}", ["versions", "drop", str(version)], settings)
                await dropped.wait_async(300)
    finally:
        api.stop()
        await lab.drop_database(url)
    return ReplaySize(events=events, invoices=invoices, load_seconds=load_seconds, runs=results)
