"""Read: latency and throughput of the summaries from one ``billing api``
process, against the request-time aggregation baseline (bench/baseline_api.py),
both loaded identically by the same load generator on loopback.

The queried tenant is the largest one (~20% of the invoices): the worst case
for aggregating at request time, an ordinary day for summary rows. The
per-customer endpoint is spread over a few hundred of its customers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import asyncpg
import httpx
import msgspec

from bench import loading, streams
from bench.config import SEED, Context
from bench.lab import Process
from bench.loadgen import LoadResult, load
from bench.procstat import CpuSampler, CpuShare, stack_groups
from bench.report import FLOOR, milliseconds

APPS = ("product", "baseline")
# What one Litestar process on this machine serves at best: a constant JSON
# body from the baseline app (same server, event loop and framework, no
# database, no auth). It bounds what any endpoint of one API process can do.
FLOOR_PATH = "/floor"
UNLOADED_SECONDS = 3.0


class EndpointRuns(msgspec.Struct, frozen=True):
    endpoint: str
    app: str
    runs: list[LoadResult]
    cpu: list[CpuShare]  # during the last run
    # One connection, one request at a time: the service time without the
    # queueing that the loaded runs' latencies include.
    unloaded: LoadResult | None = None


class ReadDataset(msgspec.Struct, frozen=True):
    invoices: int
    tenant_invoices: int
    customers_queried: int
    load_seconds: float
    identical_answers: bool
    differences: list[str]


class ReadResult(msgspec.Struct, frozen=True):
    dataset: ReadDataset
    endpoints: list[EndpointRuns]
    tool: str


class Apps(msgspec.Struct):
    url: str
    key: str
    product: Process
    product_url: str
    baseline: Process
    baseline_url: str
    customers: list[str]
    dataset: ReadDataset


def endpoint_paths(ctx: Context, customers: list[str]) -> dict[str, list[str]]:
    return {
        "unfiltered summary": ["/invoices/summary"],
        "per-customer summary": [f"/customers/{c}/invoices/summary" for c in customers],
        "filtered summary": [f"/invoices/summary?invoiceStatus=SENT&dueBefore={ctx.today.isoformat()}"],
    }


async def _compare(apps: Apps, paths: dict[str, list[str]]) -> list[str]:
    """The baseline must give the same answers, or the comparison means nothing."""
    differences = []
    async with httpx.AsyncClient(timeout=60) as client:
        for name, candidates in paths.items():
            for path in candidates[:5]:
                answers = []
                for base in (apps.product_url, apps.baseline_url):
                    response = await client.get(base + path, headers={"x-api-key": apps.key})
                    answers.append((response.status_code, json.loads(response.content)))
                if answers[0] != answers[1]:
                    differences.append(f"{name} {path}: product {answers[0]!r:.300} baseline {answers[1]!r:.300}")
    return differences


async def start_apps(ctx: Context, invoices: int) -> Apps:
    lab = ctx.lab
    url = await lab.database("read")
    ctx.say(f"read: loading {invoices:,} invoices")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await loading.load_read_models(url, invoices, SEED + invoices, ctx.today)
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
    differences = await _compare(apps, endpoint_paths(ctx, customers))
    apps.dataset = msgspec.structs.replace(apps.dataset, identical_answers=not differences, differences=differences)
    return apps


async def stop_apps(ctx: Context, apps: Apps) -> None:
    apps.product.stop()
    apps.baseline.stop()
    await ctx.lab.drop_database(apps.url)


async def measure(ctx: Context, apps: Apps, endpoints: list[str], runs: int, seconds: float) -> list[EndpointRuns]:
    """Each endpoint on each app: a short warm-up, then ``runs`` timed runs,
    alternating the apps so that any drift of the machine hits both."""
    paths = {**endpoint_paths(ctx, apps.customers), FLOOR: [FLOOR_PATH]}
    database = apps.url.rpartition("/")[2]
    results: list[EndpointRuns] = []
    for endpoint in endpoints:
        served_by = ("baseline",) if endpoint == FLOOR else APPS
        measured: dict[str, list[LoadResult]] = {app: [] for app in served_by}
        cpu: dict[str, list[CpuShare]] = {}
        for app in served_by:
            await load(_base(apps, app), paths[endpoint], apps.key, 1, ctx.sizes.read_connections, ctx.use_wrk)
        for _ in range(runs):
            for app in served_by:
                process = apps.product if app == "product" else apps.baseline
                label = "billing api (python)" if app == "product" else "baseline api (python)"
                sampler = CpuSampler(stack_groups(ctx.postgres_pid, ctx.kafka_pid, database, _one(process.pid, label)))
                sampler.start()
                result = await load(
                    _base(apps, app), paths[endpoint], apps.key, seconds, ctx.sizes.read_connections, ctx.use_wrk
                )
                cpu[app] = await sampler.stop()
                measured[app].append(result)
        unloaded: dict[str, LoadResult] = {}
        for app in served_by:
            unloaded[app] = await load(
                _base(apps, app), paths[endpoint], apps.key, min(seconds, UNLOADED_SECONDS), 1, ctx.use_wrk
            )
        for app in served_by:
            results.append(EndpointRuns(endpoint, app, measured[app], cpu[app], unloaded[app]))
            best = measured[app][-1]
            ctx.say(
                f"read {apps.dataset.invoices:,} {endpoint} {app}: p50 {milliseconds(best.p50_ms)},"
                f" p99 {milliseconds(best.p99_ms)}, {best.requests_per_second:,.0f} req/s, errors {best.errors}"
            )
    return results


def _one(pid: int, label: str) -> Callable[[], dict[int, str]]:
    return lambda: {pid: label}


def _base(apps: Apps, app: str) -> str:
    return apps.product_url if app == "product" else apps.baseline_url
