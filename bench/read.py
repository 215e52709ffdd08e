"""Read: latency and throughput of the summaries from one ``billing api``
process, against the request-time aggregation baseline (bench/baseline_api.py),
both loaded identically by the same load generator on loopback; and the
unfiltered and per-customer summaries from one process against one per
usable core (``billing api --workers N``, measure_processes).

The queried tenant is the largest one (~20% of the invoices): the worst case
for aggregating at request time, an ordinary day for summary rows. The
per-customer endpoint is spread over a few hundred of its customers.

Point in time: ``/v1/summary`` now, as of the last month-end (``asOf``), and
the same as known at two instants (``knownAt``): the morning after the
month-end (the close) and the middle of the data's record-time range. The
data set then carries the timelines and the event store
(bench/loading.py), and the baseline recomputes each answer from the event
store (bench/recompute.py). That takes seconds a request, so the baseline's
runs on those endpoints are sized by the time of one request (longer runs,
fewer connections) and its targets are judged one request at a time."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from statistics import median

import asyncpg
import httpx
import msgspec

from bench import loading, streams, timelines
from bench.config import SEED, Context, Sizes
from bench.lab import Process
from bench.loadgen import LoadResult, load
from bench.procstat import IDLE, CpuSampler, CpuShare, cpu_ticks, processes, stack_groups
from bench.report import (
    FILTERED,
    FILTERED_CUSTOMER,
    FILTERED_ISSUED,
    FILTERED_SEARCH,
    FILTERED_STATUS,
    FLOOR,
    V1_AS_OF,
    V1_CLOSE,
    V1_CURRENT,
    V1_MIDDLE,
    V1_SUMMARIES,
    _med,
    cpu_table,
    milliseconds,
    number,
    table,
)
from services.api.server import usable_cores

APPS = ("product", "baseline")
# Served by 1 and by N API processes (measure_processes).
PROCESS_ENDPOINTS = ("unfiltered summary", "per-customer summary")
# What one Litestar process on this machine serves at best: a constant JSON
# body from the baseline app (same server, event loop and framework, no
# database, no auth). It bounds what any endpoint of one API process can do.
FLOOR_PATH = "/floor"
UNLOADED_SECONDS = 3.0
# The event-store baseline of the point-in-time endpoints: runs of at least
# this many times one request (at most SLOW_MAX_SECONDS), with as many
# connections as leave each of them time for two answers.
SLOW_REQUESTS_PER_RUN = 3
SLOW_MAX_SECONDS = 60.0


class EndpointRuns(msgspec.Struct, frozen=True):
    endpoint: str
    app: str
    runs: list[LoadResult]
    cpu: list[CpuShare]  # during the last run
    # One connection, one request at a time: the service time without the
    # queueing that the loaded runs' latencies include.
    unloaded: LoadResult | None = None
    # The loaded runs' connections and seconds (None: the mode's).
    connections: int | None = None
    seconds: float | None = None


class ReadDataset(msgspec.Struct, frozen=True):
    invoices: int
    tenant_invoices: int
    customers_queried: int
    load_seconds: float
    identical_answers: bool
    differences: list[str]
    # The point-in-time data: the moments queried, what the data set holds,
    # and the share of the tenant's records that each knownAt leaves out.
    as_of: dt.date | None = None
    known_at_close: str | None = None
    known_at_middle: str | None = None
    oldest_record: str | None = None
    newest_record: str | None = None
    loaded_invoices: int | None = None
    events: int | None = None
    timeline_rows: int | None = None
    payments: int | None = None
    tenant_events: int | None = None
    tenant_timeline_rows: int | None = None
    # Per knownAt (close, middle): the tenant's events recorded after it, and
    # its timeline rows recorded after it and dated by asOf (what the
    # product's query subtracts).
    events_unknown: dict[str, int] = msgspec.field(default_factory=dict)
    rows_unknown: dict[str, int] = msgspec.field(default_factory=dict)


class ProcessesRuns(msgspec.Struct, frozen=True):
    """One endpoint served by ``processes`` API processes on one port."""

    endpoint: str
    processes: int
    runs: list[LoadResult]
    cpu: list[CpuShare]  # during the last run


class ReadResult(msgspec.Struct, frozen=True):
    dataset: ReadDataset
    endpoints: list[EndpointRuns]
    tool: str
    processes: list[ProcessesRuns] = msgspec.field(default_factory=list)


class Apps(msgspec.Struct):
    url: str
    key: str
    product: Process
    product_url: str
    baseline: Process
    baseline_url: str
    customers: list[str]
    dataset: ReadDataset
    # One request's time per (endpoint, app), from the comparison of answers.
    single_ms: dict[tuple[str, str], float] = msgspec.field(default_factory=dict)


def endpoint_paths(ctx: Context, apps: Apps) -> dict[str, list[str]]:
    paths = {
        "unfiltered summary": ["/invoices/summary"],
        "per-customer summary": [f"/customers/{c}/invoices/summary" for c in apps.customers],
        FILTERED: [f"/invoices/summary?invoiceStatus=SENT&dueBefore={ctx.today.isoformat()}"],
        **filtered_paths(ctx.today, apps.customers),
    }
    data = apps.dataset
    if data.as_of is not None and data.known_at_close is not None and data.known_at_middle is not None:
        paths[V1_CURRENT] = ["/v1/summary"]
        paths[V1_AS_OF] = [f"/v1/summary?asOf={data.as_of.isoformat()}"]
        paths[V1_CLOSE] = [f"/v1/summary?asOf={data.as_of.isoformat()}&knownAt={data.known_at_close}"]
        paths[V1_MIDDLE] = [f"/v1/summary?asOf={data.as_of.isoformat()}&knownAt={data.known_at_middle}"]
    return paths


def filtered_paths(today: dt.date, customers: list[str]) -> dict[str, list[str]]:
    """The filtered summaries besides status + due date: from the filter cells
    (status; currency + issue dates) and from the invoice rows (customer; search)."""
    issued = f"invoiceAfter={today - dt.timedelta(days=90)}&invoiceBefore={today - dt.timedelta(days=30)}"
    return {
        FILTERED_STATUS: ["/invoices/summary?invoiceStatus=SENT"],
        FILTERED_ISSUED: [f"/invoices/summary?invoiceCurrency=EUR&{issued}"],
        FILTERED_CUSTOMER: [f"/invoices/summary?customerId={c}" for c in customers],
        FILTERED_SEARCH: [f"/invoices/summary?search=INV-{today.year}-0001"],
    }


async def _compare(apps: Apps, paths: dict[str, list[str]]) -> list[str]:
    """The baseline must give the same answers, or the comparison means nothing.
    Records how long one request of each endpoint took on each app."""
    differences = []
    async with httpx.AsyncClient(timeout=300) as client:
        for name, candidates in paths.items():
            for path in candidates[:5]:
                answers = []
                for app, base in (("product", apps.product_url), ("baseline", apps.baseline_url)):
                    started = time.perf_counter()
                    response = await client.get(base + path, headers={"x-api-key": apps.key})
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    apps.single_ms[(name, app)] = max(apps.single_ms.get((name, app), 0.0), elapsed_ms)
                    answers.append((response.status_code, json.loads(response.content)))
                if answers[0] != answers[1]:
                    differences.append(f"{name} {path}: product {answers[0]!r:.300} baseline {answers[1]!r:.300}")
                elif answers[0][0] != 200:
                    differences.append(f"{name} {path}: both answer {answers[0]!r:.300}")
    return differences


class Plan(msgspec.Struct, frozen=True):
    """How one app is loaded on one endpoint."""

    seconds: float
    connections: int
    runs: int
    unloaded_seconds: float
    slow: bool = False  # sized by one request's time


def plan(sizes: Sizes, endpoint: str, app: str, single_ms: float | None, runs: int, seconds: float) -> Plan:
    """The mode's runs, except the event-store baseline of the point-in-time
    endpoints: seconds a request, so runs of at least a few requests and few
    enough connections that each gets answers (``single_ms``: one request's time)."""
    if app != "baseline" or endpoint not in V1_SUMMARIES or single_ms is None:
        return Plan(seconds, sizes.read_connections, runs, min(seconds, UNLOADED_SECONDS))
    single = single_ms / 1000
    run = min(SLOW_MAX_SECONDS, max(seconds, SLOW_REQUESTS_PER_RUN * single))
    connections = max(1, min(sizes.read_connections, int(run / (2 * single))))
    return Plan(run, connections, min(runs, sizes.read_slow_baseline_runs), max(UNLOADED_SECONDS, run), slow=True)


async def settle(process: Process, max_seconds: float = 120.0) -> None:
    """Wait until the process (and its children, if any) stops using the CPU
    (answers of a finished run still being computed would slow the next run
    down)."""
    deadline = time.monotonic() + max_seconds
    before = _family_ticks(process.pid)
    while before is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        after = _family_ticks(process.pid)
        if after is None or after - before <= 2:
            return
        before = after


async def _moments(ctx: Context, url: str, dataset: ReadDataset) -> ReadDataset:
    """The point-in-time moments queried, and what the data set holds."""
    conn = await asyncpg.connect(url)
    try:
        span = await conn.fetchrow("SELECT min(stored_at) AS oldest, max(stored_at) AS newest FROM billing.event_store")
        if span is None or span["oldest"] is None:
            raise RuntimeError("the point-in-time data set has no events")
        oldest: dt.datetime = span["oldest"]
        newest: dt.datetime = span["newest"]
        as_of = timelines.month_end_before(ctx.today)
        close = timelines.close_instant(as_of, oldest, newest)
        middle = timelines.midpoint(oldest, newest)
        tenant = streams.LARGEST_TENANT

        async def count(sql: str, *args: object) -> int:
            return int(await conn.fetchval(sql, *args))

        events_unknown, rows_unknown = {}, {}
        for label, at in (("close", close), ("middle", middle)):
            events_unknown[label] = await count(
                "SELECT count(*) FROM billing.event_store WHERE tenant_id = $1 AND stored_at > $2", tenant, at
            )
            rows_unknown[label] = await count(
                "SELECT count(*) FROM billing_read.invoice_changes WHERE tenant_id = $1 AND recorded_at > $2"
                " AND day <= $3",
                tenant,
                at,
                as_of,
            )
        return msgspec.structs.replace(
            dataset,
            as_of=as_of,
            known_at_close=timelines.rfc3339(close),
            known_at_middle=timelines.rfc3339(middle),
            oldest_record=oldest.isoformat(),
            newest_record=newest.isoformat(),
            loaded_invoices=await count("SELECT count(*) FROM billing_read.invoices"),
            events=await count("SELECT count(*) FROM billing.event_store"),
            timeline_rows=await count("SELECT count(*) FROM billing_read.invoice_changes"),
            payments=await count("SELECT count(*) FROM billing_read.payments"),
            tenant_events=await count("SELECT count(*) FROM billing.event_store WHERE tenant_id = $1", tenant),
            tenant_timeline_rows=await count(
                "SELECT count(*) FROM billing_read.invoice_changes WHERE tenant_id = $1", tenant
            ),
            events_unknown=events_unknown,
            rows_unknown=rows_unknown,
        )
    finally:
        await conn.close()


async def start_apps(ctx: Context, invoices: int, point_in_time: bool = False) -> Apps:
    """Load a data set and start both apps on it. ``point_in_time``: with the
    timelines and the event store, and the /v1 summaries' moments."""
    lab = ctx.lab
    url = await lab.database("read")
    ctx.say(f"read: loading {invoices:,} invoices{' with timelines and events' if point_in_time else ''}")
    loop = asyncio.get_running_loop()
    started = loop.time()
    # Recorded up to a moment ago: every record time is in the past when the apps are asked.
    now = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1) if point_in_time else None
    await loading.load_read_models(url, invoices, SEED + invoices, ctx.today, now)
    load_seconds = loop.time() - started
    conn = await asyncpg.connect(url)
    try:
        tenant_invoices = int(
            await conn.fetchval(
                "SELECT count(*) FROM billing_read.invoices WHERE tenant_id = $1", streams.LARGEST_TENANT
            )
        )
        customers = [
            r["customer_id"]
            for r in await conn.fetch(
                "SELECT DISTINCT customer_id FROM billing_read.invoices WHERE tenant_id = $1"
                " ORDER BY customer_id LIMIT 500",
                streams.LARGEST_TENANT,
            )
        ]
    finally:
        await conn.close()
    ctx.say(f"read: loaded in {load_seconds:.0f}s; tenant {streams.LARGEST_TENANT} has {tenant_invoices:,} invoices")
    key = await lab.api_key(url, streams.LARGEST_TENANT)
    product, product_url = await lab.api(f"read-api-{invoices}", lab.settings(url))
    baseline, baseline_url = await lab.api(f"read-baseline-{invoices}", lab.settings(url), module="bench.baseline_api")
    apps = Apps(
        url,
        key,
        product,
        product_url,
        baseline,
        baseline_url,
        customers,
        ReadDataset(invoices, tenant_invoices, len(customers), load_seconds, True, []),
    )
    if point_in_time:
        apps.dataset = await _moments(ctx, url, apps.dataset)
        data = apps.dataset
        ctx.say(
            f"read: {data.events:,} events, {data.timeline_rows:,} timeline rows; asOf {data.as_of}, "
            f"knownAt {data.known_at_close} (close) and {data.known_at_middle} (middle)"
        )
    differences = await _compare(apps, endpoint_paths(ctx, apps))
    apps.dataset = msgspec.structs.replace(apps.dataset, identical_answers=not differences, differences=differences)
    return apps


async def stop_apps(ctx: Context, apps: Apps) -> None:
    apps.product.stop()
    apps.baseline.stop()
    await ctx.lab.drop_database(apps.url)


async def measure(ctx: Context, apps: Apps, endpoints: list[str], runs: int, seconds: float) -> list[EndpointRuns]:
    """Each endpoint on each app: a short warm-up, then ``runs`` timed runs,
    alternating the apps so that any drift of the machine hits both."""
    paths = {**endpoint_paths(ctx, apps), FLOOR: [FLOOR_PATH]}
    database = apps.url.rpartition("/")[2]
    results: list[EndpointRuns] = []
    for endpoint in endpoints:
        served_by = ("baseline",) if endpoint == FLOOR else APPS
        plans = {
            app: plan(ctx.sizes, endpoint, app, apps.single_ms.get((endpoint, app)), runs, seconds) for app in served_by
        }
        measured: dict[str, list[LoadResult]] = {app: [] for app in served_by}
        cpu: dict[str, list[CpuShare]] = {}
        for app in served_by:
            if not plans[app].slow:  # a slow one was warmed up by the comparison
                await load(_base(apps, app), paths[endpoint], apps.key, 1, plans[app].connections, ctx.use_wrk)
                await settle(_process(apps, app))
        for index in range(runs):
            for app in served_by:
                if index >= plans[app].runs:
                    continue
                process = _process(apps, app)
                label = "billing api (python)" if app == "product" else "baseline api (python)"
                sampler = CpuSampler(stack_groups(ctx.postgres_pid, ctx.kafka_pid, database, _one(process.pid, label)))
                sampler.start()
                result = await load(
                    _base(apps, app), paths[endpoint], apps.key, plans[app].seconds, plans[app].connections, ctx.use_wrk
                )
                cpu[app] = await sampler.stop()
                measured[app].append(result)
                await settle(process)
        unloaded: dict[str, LoadResult] = {}
        for app in served_by:
            unloaded[app] = await load(
                _base(apps, app), paths[endpoint], apps.key, plans[app].unloaded_seconds, 1, ctx.use_wrk
            )
            await settle(_process(apps, app))
        for app in served_by:
            p = plans[app]
            results.append(
                EndpointRuns(endpoint, app, measured[app], cpu[app], unloaded[app], p.connections, p.seconds)
            )
            best = measured[app][-1]
            ctx.say(
                f"read {apps.dataset.invoices:,} {endpoint} {app}: p50 {milliseconds(best.p50_ms)},"
                f" p99 {milliseconds(best.p99_ms)}, {best.requests_per_second:,.1f} req/s"
                f" ({p.connections} connections), errors {best.errors};"
                f" 1 connection p50 {milliseconds(unloaded[app].p50_ms)}"
            )
    return results


def _one(pid: int, label: str) -> Callable[[], dict[int, str]]:
    return lambda: {pid: label}


def _family(pid: int, label: str) -> Callable[[], dict[int, str]]:
    """A process and its children (``billing api --workers N``: the supervisor and the API processes)."""
    return lambda: {pid: label, **{child: label for child, parent, _ in processes() if parent == pid}}


def _family_ticks(pid: int) -> int | None:
    ticks = [cpu_ticks(member) for member in _family(pid, "")()]
    return None if ticks[0] is None else sum(t for t in ticks if t is not None)


async def measure_processes(ctx: Context, apps: Apps, runs: int, seconds: float) -> list[ProcessesRuns]:
    """PROCESS_ENDPOINTS served by one API process (the product app of the
    other runs) and by ``billing api --workers N`` (N: the usable cores) on
    the same data, runs alternating between the two."""
    many = usable_cores()
    if many < 2:
        return []
    lab = ctx.lab
    process, url = await lab.api(f"read-api-{many}-processes", lab.settings(apps.url, api_workers=many))
    served = ((1, apps.product, apps.product_url), (many, process, url))
    database = apps.url.rpartition("/")[2]
    paths = endpoint_paths(ctx, apps)
    results: list[ProcessesRuns] = []
    try:
        for endpoint in PROCESS_ENDPOINTS:
            measured: dict[int, list[LoadResult]] = {count: [] for count, _, _ in served}
            cpu: dict[int, list[CpuShare]] = {}
            for _, api, base in served:
                await load(base, paths[endpoint], apps.key, 1, ctx.sizes.read_connections, ctx.use_wrk)
                await settle(api)
            for _ in range(runs):
                for count, api, base in served:
                    label = f"billing api, {count} process{'es' if count > 1 else ''} (python)"
                    named = _family(api.pid, label)
                    sampler = CpuSampler(stack_groups(ctx.postgres_pid, ctx.kafka_pid, database, named))
                    sampler.start()
                    result = await load(
                        base, paths[endpoint], apps.key, seconds, ctx.sizes.read_connections, ctx.use_wrk
                    )
                    cpu[count] = await sampler.stop()
                    measured[count].append(result)
                    await settle(api)
            for count, _, _ in served:
                results.append(ProcessesRuns(endpoint, count, measured[count], cpu[count]))
                best = measured[count][-1]
                ctx.say(
                    f"read {apps.dataset.invoices:,} {endpoint}, {count} API process(es): p50"
                    f" {milliseconds(best.p50_ms)}, p99 {milliseconds(best.p99_ms)},"
                    f" {best.requests_per_second:,.1f} req/s, errors {best.errors}"
                )
    finally:
        process.stop()
    return results


def processes_section(result: ReadResult | None, cores: int) -> list[str]:
    """The report's table of PROCESS_ENDPOINTS with 1 and N API processes."""
    if result is None or not result.processes:
        return []
    rows = []
    for endpoint in PROCESS_ENDPOINTS:
        found = {p.processes: p for p in result.processes if p.endpoint == endpoint}
        one = found.get(1)
        for count, entry in sorted(found.items()):
            rate = median(r.requests_per_second for r in entry.runs)
            api = next((s for s in entry.cpu if s.group.startswith("billing api")), None)
            last = entry.runs[-1]
            cpu_ms = (
                None
                if api is None or not last.requests
                else api.cpu_percent / 100 * last.seconds * 1000 / last.requests
            )
            ratio = None if one is None or count == 1 else rate / median(r.requests_per_second for r in one.runs)
            rows.append(
                (
                    endpoint,
                    count,
                    number(rate, 1),
                    number(rate / count, 1),
                    milliseconds(_med([r.p50_ms for r in entry.runs])),
                    milliseconds(_med([r.p99_ms for r in entry.runs])),
                    "n/a" if api is None else f"{api.cpu_percent:.0f}%",
                    "n/a" if cpu_ms is None else f"{cpu_ms:.3f}",
                    "n/a" if ratio is None else f"{ratio:.2f}×",
                    sum(r.errors for r in entry.runs),
                )
            )
    header = (
        "endpoint",
        "API processes",
        "requests/s",
        "requests/s per process (core)",
        "p50",
        "p99",
        "API CPU (last run)",
        "API CPU ms per request",
        "requests/s vs 1 process",
        "errors",
    )
    return [
        "### One API process and one per core",
        "",
        f"`billing api --workers N` (N = {max(p.processes for p in result.processes)}, the usable cores of this"
        f" {cores}-core machine) against one process, same data and load, runs alternating"
        f" (median of {len(result.processes[0].runs)}). The load generator and PostgreSQL share the same cores:"
        " the CPU column says how much of them the API got.",
        "",
        table(header, rows),
        "",
        *[
            line
            for entry in result.processes
            if entry.processes > 1
            for line in (
                f"CPU during the last run of the {entry.endpoint} with {entry.processes} API processes (idle:"
                f" {sum(c.cpu_percent for c in entry.cpu if c.group == IDLE):.0f}% of one core; with none left,"
                " the CPU that the API processes get bounds the ratio, not their number):",
                "",
                cpu_table(entry.cpu, cores),
                "",
            )
        ],
    ]


def _base(apps: Apps, app: str) -> str:
    return apps.product_url if app == "product" else apps.baseline_url


def _process(apps: Apps, app: str) -> Process:
    return apps.product if app == "product" else apps.baseline
