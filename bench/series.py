"""Series: GET /v1/summary/series at the read benchmark's data set (timelines
and event store loaded, the largest tenant queried): a 12-month monthly series
and a 365-day daily series, each against the baseline that aggregates the
invoice rows at request time (bench/series_baseline.py) with identical bodies,
and the unfiltered /v1/summary as the reference of the target "series p50 ≤ 2×
the unfiltered summary's p50" — all measured in the same run, on the same
database and load generator, the apps' runs alternated."""

from __future__ import annotations

import datetime as dt
import json
import math
import time

import httpx
import msgspec

from bench import read
from bench.config import Context
from bench.loadgen import LoadResult, load
from bench.read import Apps, ReadDataset
from bench.report import milliseconds
from bench.stats import median

MONTHLY = "series: 12 months by month"
DAILY = "series: 365 days by day"
SUMMARY = "/v1/summary (unfiltered)"
# Targets (issue 13): series p50 at most this many times the unfiltered
# summary's, and at least this many times faster than the baseline.
SUMMARY_FACTOR = 2.0
BASELINE_FACTOR = 20.0
# A baseline request slower than this is loaded as bench/read.py loads the
# slow ones: runs of a few requests, few connections.
SLOW_MS = 500.0
SLOW_REQUESTS_PER_RUN = 3
SLOW_MAX_SECONDS = 60.0


class SeriesRuns(msgspec.Struct, frozen=True):
    endpoint: str
    app: str
    path: str
    runs: list[LoadResult]
    connections: int
    seconds: float
    single_ms: float  # one request, unloaded (from the comparison of answers)
    # One connection, one request at a time: the service time without the
    # queueing the loaded runs' latencies include (None: not measured).
    unloaded: LoadResult | None = None

    @property
    def p50_ms(self) -> float | None:
        values = [r.p50_ms for r in self.runs if r.p50_ms is not None]
        return median(values) if values else None


class SeriesResult(msgspec.Struct, frozen=True):
    dataset: ReadDataset
    endpoints: list[SeriesRuns]
    identical_answers: bool
    differences: list[str]
    # Per series: its p50 over the unfiltered summary's (both loaded alike), and
    # the baseline's p50 over its at one connection (the slow baseline's
    # loaded runs have fewer connections, so only those compare alike).
    versus_summary: dict[str, float | None]
    versus_baseline: dict[str, float | None]


def paths(today: dt.date) -> dict[str, str]:
    month = today.replace(day=1)
    for _ in range(11):
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return {
        MONTHLY: f"/v1/summary/series?from={month}&to={today}&interval=month",
        DAILY: f"/v1/summary/series?from={today - dt.timedelta(days=364)}&to={today}&interval=day",
        SUMMARY: "/v1/summary",
    }


async def _compare(apps: Apps, wanted: dict[str, str]) -> tuple[list[str], dict[tuple[str, str], float]]:
    """The baseline's answers must be the product's; and one request's time of each."""
    differences, single_ms = [], {}
    async with httpx.AsyncClient(timeout=600) as client:
        for name, path in wanted.items():
            if name == SUMMARY:
                continue
            answers = []
            for app, base in (("product", apps.product_url), ("baseline", apps.baseline_url)):
                started = time.perf_counter()
                response = await client.get(base + path, headers={"x-api-key": apps.key})
                single_ms[name, app] = (time.perf_counter() - started) * 1000
                answers.append((response.status_code, json.loads(response.content)))
            if answers[0] != answers[1]:
                differences.append(f"{name}: product {answers[0]!r:.400} baseline {answers[1]!r:.400}")
            elif answers[0][0] != 200:
                differences.append(f"{name}: both answer {answers[0]!r:.400}")
    return differences, single_ms


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if numerator is None or not denominator else numerator / denominator


async def run(ctx: Context) -> SeriesResult:
    sizes = ctx.sizes
    apps = await read.start_apps(ctx, sizes.read_invoices, point_in_time=True)
    try:
        wanted = paths(ctx.today)
        differences, single_ms = await _compare(apps, wanted)
        measured = await measure(ctx, apps, wanted, single_ms, "series")
    finally:
        await read.stop_apps(ctx, apps)
    p50 = {(m.endpoint, m.app): m.p50_ms for m in measured}
    alone = {(m.endpoint, m.app): m.unloaded.p50_ms if m.unloaded else None for m in measured}
    result = SeriesResult(
        dataset=apps.dataset,
        endpoints=measured,
        identical_answers=not differences,
        differences=differences,
        versus_summary={n: _ratio(p50[n, "product"], p50[SUMMARY, "product"]) for n in (MONTHLY, DAILY)},
        versus_baseline={n: _ratio(alone[n, "baseline"], alone[n, "product"]) for n in (MONTHLY, DAILY)},
    )
    for name in (MONTHLY, DAILY):
        ctx.say(
            f"series {name}: p50 {_times(result.versus_summary[name])} the unfiltered summary's"
            f" (target ≤ {SUMMARY_FACTOR:g}x); at 1 connection {milliseconds(alone[name, 'product'])},"
            f" the baseline's {milliseconds(alone[name, 'baseline'])}: {_times(result.versus_baseline[name])}"
            f" (target ≥ {BASELINE_FACTOR:g}x)"
        )
    if differences:
        ctx.say(f"series: the baseline's answers differ: {differences}")
    return result


async def measure(
    ctx: Context, apps: Apps, wanted: dict[str, str], single_ms: dict[tuple[str, str], float], part: str
) -> list[SeriesRuns]:
    """Each path's runs on both apps (SUMMARY on the product only), alternated:
    the mode's runs, or runs of a few requests for a slow baseline."""
    sizes = ctx.sizes
    served = {"product": (apps.product_url, apps.product), "baseline": (apps.baseline_url, apps.baseline)}
    measured: list[SeriesRuns] = []
    for name, path in wanted.items():
        served_by = ("product",) if name == SUMMARY else read.APPS
        one = {app: single_ms.get((name, app), 0.0) for app in served_by}
        slow = {app: app == "baseline" and one[app] >= SLOW_MS for app in served_by}
        shape = {app: _shape(ctx, one[app] if slow[app] else None) for app in served_by}
        for app in served_by:
            if not slow[app]:  # a slow one was warmed up by the comparison
                await load(served[app][0], [path], apps.key, 1, shape[app][1], ctx.use_wrk)
                await read.settle(served[app][1])
        runs: dict[str, list[LoadResult]] = {app: [] for app in served_by}
        for index in range(sizes.read_runs):
            for app in served_by:
                seconds, connections, most = shape[app]
                if index >= most:
                    continue
                runs[app].append(await load(served[app][0], [path], apps.key, seconds, connections, ctx.use_wrk))
                await read.settle(served[app][1])
        unloaded = {}
        for app in served_by:
            seconds, connections, _ = shape[app]
            if connections == 1:
                unloaded[app] = runs[app][-1]
            else:
                unloaded[app] = await load(
                    served[app][0], [path], apps.key, max(seconds, read.UNLOADED_SECONDS), 1, ctx.use_wrk
                )
                await read.settle(served[app][1])
        for app in served_by:
            seconds, connections, _ = shape[app]
            found = SeriesRuns(name, app, path, runs[app], connections, seconds, one[app], unloaded[app])
            measured.append(found)
            last = found.runs[-1]
            ctx.say(
                f"{part} {apps.dataset.invoices:,} {name} {app}: p50 {milliseconds(found.p50_ms)}"
                f" (median of {len(found.runs)} runs), p99 {milliseconds(last.p99_ms)},"
                f" {last.requests_per_second:,.1f} req/s ({connections} connections), errors {last.errors};"
                f" 1 connection p50 {milliseconds(unloaded[app].p50_ms)}"
            )
    return measured


def _times(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def _shape(ctx: Context, slow_ms: float | None) -> tuple[float, int, int]:
    """(seconds, connections, runs) of one app's runs on one endpoint: the
    mode's, or for a slow baseline (one request took ``slow_ms``) runs of a
    few requests on few connections."""
    sizes = ctx.sizes
    if slow_ms is None:
        return sizes.read_seconds, sizes.read_connections, sizes.read_runs
    single = slow_ms / 1000
    # Whole seconds: wrk takes no fraction of one.
    seconds = float(math.ceil(min(SLOW_MAX_SECONDS, max(sizes.read_seconds, SLOW_REQUESTS_PER_RUN * single))))
    connections = max(1, min(sizes.read_connections, int(seconds / (2 * single))))
    return seconds, connections, sizes.read_slow_baseline_runs
