"""Customers: GET /v1/customers?currency=…&sortBy=overdueBalance at the read
benchmark's data set (about 20 invoices per customer: 50k customers at 1M
invoices; the largest tenant queried, in its main currency), the first page
and a deep page (a cursor 50 pages in, or as deep as the list goes), each
against the baseline that aggregates the invoice rows at request time
(bench/customers_baseline.py) with identical bodies, and the unfiltered
/v1/summary as the reference of the target "ranking p50 ≤ 2× the unfiltered
summary's p50" — all in the same run, the apps' runs alternated.

And what keeping the standing rows costs the workers: the same stream folded
by the projector with and without the standing maintenance (lock, then
recompute the batch's customers), on fresh databases, runs interleaved."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import msgspec

from bench import read, streams
from bench.config import SEED, Context
from bench.read import Apps, ReadDataset
from bench.report import milliseconds
from bench.series import (
    BASELINE_FACTOR,
    SUMMARY,
    SUMMARY_FACTOR,
    SeriesRuns,
    _compare,
    _ratio,
    _times,
    measure,
)
from bench.stats import median
from contracts import encode
from projections import positions, standing
from projections.projector import Projector, RawRecord, incoming

CURRENCY = "EUR"
FIRST = "customers: first page"
DEEP = "customers: deep page"
DEEP_PAGES = 50
# Ingest cost: events folded per run, per batch (one partition's batch), runs of each.
INGEST_EVENTS = {"quick": 60_000, "full": 300_000}
INGEST_BATCH = 5_000
INGEST_RUNS = 2
INGEST_TOPIC = "bench-standing"


class IngestCost(msgspec.Struct, frozen=True):
    events: int
    with_standing: list[float]  # events/s per run
    without_standing: list[float]
    # Of each run with them, the share of the batches' time spent locking and
    # recomputing the standing rows (a profile, steadier than the throughputs
    # on a busy machine).
    standing_share: list[float]

    @property
    def cost(self) -> float | None:
        """The share of ingest throughput the standing maintenance takes."""
        on, off = median(self.with_standing), median(self.without_standing)
        return None if not off else 1 - on / off


class CustomersResult(msgspec.Struct, frozen=True):
    dataset: ReadDataset
    customers: int  # of the queried tenant in CURRENCY
    deep_page: int
    endpoints: list[SeriesRuns]
    identical_answers: bool
    differences: list[str]
    versus_summary: dict[str, float | None]
    versus_baseline: dict[str, float | None]
    ingest: IngestCost | None


async def _paths(apps: Apps) -> tuple[dict[str, str], int]:
    """The first page, the page DEEP_PAGES in (or the last but one), and the summary."""
    first = f"/v1/customers?currency={CURRENCY}&sortBy=overdueBalance"
    deep, page = first, 1
    async with httpx.AsyncClient(base_url=apps.product_url, headers={"x-api-key": apps.key}, timeout=60) as client:
        after = (await client.get(first)).json()["pagination"]["after"]
        while after is not None and page < DEEP_PAGES:
            path = f"{first}&after={quote(after)}"
            following = (await client.get(path)).json()["pagination"]["after"]
            if following is None:
                break  # keep a page with a next one: as deep as the list goes
            deep, after, page = path, following, page + 1
    return {FIRST: first, DEEP: deep, SUMMARY: "/v1/summary"}, page


# Ingest cost ------------------------------------------------------------------


@contextlib.contextmanager
def standing_maintenance(enabled: bool, spent: list[float]) -> Iterator[None]:
    """The projector with or without the standing rows' upkeep (deltas, and the recomputes they leave);
    with them, the seconds they take are added to ``spent[0]``."""
    kept = standing.refresh

    async def skipped(*_: object, **__: object) -> None:
        return None

    async def timed(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        await kept(*args, **kwargs)
        spent[0] += time.perf_counter() - started

    standing.refresh = timed if enabled else skipped
    try:
        yield
    finally:
        standing.refresh = kept


def _batches(events: int, ctx: Context) -> list[tuple[int, int, list[RawRecord]]]:
    """The stream cut as the workers cut it: per partition, batches of
    consecutive offsets, the partitions' batches alternating."""
    per_partition: list[list[RawRecord]] = [[] for _ in range(streams.PARTITIONS)]
    for record in streams.records(events, SEED, ctx.today, late=0.0, duplicates=0.0):
        p = streams.stable_partition(record.event.subject)
        per_partition[p].append(RawRecord(INGEST_TOPIC, p, len(per_partition[p]), record.key, encode(record.event)))
    out = []
    for start in range(0, max(map(len, per_partition)), INGEST_BATCH):
        for p, records in enumerate(per_partition):
            if records[start : start + INGEST_BATCH]:
                out.append((p, start, records[start : start + INGEST_BATCH]))
    return out


async def _fold(
    ctx: Context, batches: Sequence[tuple[int, int, list[RawRecord]]], events: int, with_standing: bool
) -> tuple[float, float]:
    """(events/s, the share of the time spent on the standing rows)."""
    url = await ctx.lab.database("standing_ingest")
    conn = await asyncpg.connect(url)
    try:
        await positions.claim(conn, INGEST_TOPIC, list(range(streams.PARTITIONS)))
        projector = Projector(INGEST_TOPIC)
        spent = [0.0]
        with standing_maintenance(with_standing, spent):
            started = time.perf_counter()
            for partition, offset, records in batches:
                await projector.apply(conn, [incoming(r) for r in records], {partition: offset})
            seconds = time.perf_counter() - started
    finally:
        await conn.close()
        await ctx.lab.drop_database(url)
    return events / seconds, spent[0] / seconds


async def ingest_cost(ctx: Context) -> IngestCost:
    events = INGEST_EVENTS[ctx.sizes.mode]
    batches = _batches(events, ctx)
    on: list[float] = []
    off: list[float] = []
    share: list[float] = []
    for index in range(INGEST_RUNS):
        # Alternate which goes first (off, on, on, off …): a machine whose
        # load drifts favours neither.
        for with_standing in (False, True) if index % 2 == 0 else (True, False):
            rate, spent = await _fold(ctx, batches, events, with_standing)
            if with_standing:
                on.append(rate)
                share.append(spent)
            else:
                off.append(rate)
    cost = IngestCost(events, on, off, share)
    ctx.say(
        f"customers: ingest of {events:,} events (one connection, batches of {INGEST_BATCH:,}) "
        f"{median(on):,.0f} events/s with the standing rows, {median(off):,.0f} without"
        f" ({(cost.cost or 0) * 100:.1f}% of the throughput); the standing rows took"
        f" {median(share) * 100:.1f}% of the batches' time"
    )
    return cost


async def run(ctx: Context) -> CustomersResult:
    apps = await read.start_apps(ctx, ctx.sizes.read_invoices)
    try:
        wanted, deep_page = await _paths(apps)
        count_path = f"/v1/customers?currency={CURRENCY}&limit=1"
        async with httpx.AsyncClient(base_url=apps.product_url, headers={"x-api-key": apps.key}) as client:
            customers = (await client.get(count_path)).json()["pagination"]["totalResultSize"]
        ctx.say(f"customers: {customers:,} {CURRENCY} customers of the tenant; deep page {deep_page}")
        differences, single_ms = await _compare(apps, wanted)
        measured = await measure(ctx, apps, wanted, single_ms, "customers")
    finally:
        await read.stop_apps(ctx, apps)
    p50 = {(m.endpoint, m.app): m.p50_ms for m in measured}
    result = CustomersResult(
        dataset=apps.dataset,
        customers=customers,
        deep_page=deep_page,
        endpoints=measured,
        identical_answers=not differences,
        differences=differences,
        versus_summary={n: _ratio(p50[n, "product"], p50[SUMMARY, "product"]) for n in (FIRST, DEEP)},
        versus_baseline={n: _ratio(p50[n, "baseline"], p50[n, "product"]) for n in (FIRST, DEEP)},
        ingest=await ingest_cost(ctx),
    )
    for name in (FIRST, DEEP):
        ctx.say(
            f"customers {name}: p50 {_times(result.versus_summary[name])} the unfiltered summary's"
            f" (target ≤ {SUMMARY_FACTOR:g}x), baseline {_times(result.versus_baseline[name])} slower"
            f" (target ≥ {BASELINE_FACTOR:g}x)"
        )
    if differences:
        ctx.say(f"customers: the baseline's answers differ: {differences}")
    return result


def section(result: CustomersResult | None) -> list[str]:
    """The report's section (markdown lines)."""
    if result is None:
        return []
    data = result.dataset
    out = [
        "",
        "## Customers: the collections view",
        "",
        f"`/v1/customers?currency={CURRENCY}&sortBy=overdueBalance` on {data.invoices:,} invoices (tenant with "
        f"{data.tenant_invoices:,} invoices, {result.customers:,} {CURRENCY} customers): the first page and page "
        f"{result.deep_page} (a cursor {result.deep_page - 1} pages in), against a baseline aggregating the invoice "
        f"rows per request (identical bodies: {'yes' if result.identical_answers else 'NO'}), and the unfiltered "
        "/v1/summary in the same run.",
        "",
        "| request | app | p50 | p99 | requests/s | connections |",
        "|---|---|---|---|---|---|",
    ]
    for m in result.endpoints:
        last = m.runs[-1]
        out.append(
            f"| {m.endpoint} | {m.app} | {milliseconds(m.p50_ms)} | {milliseconds(last.p99_ms)} "
            f"| {last.requests_per_second:,.1f} | {m.connections} |"
        )
    out.append("")
    for name in (FIRST, DEEP):
        out.append(
            f"- {name}: p50 {_times(result.versus_summary[name])} the unfiltered summary's (target ≤ "
            f"{SUMMARY_FACTOR:g}x); the baseline {_times(result.versus_baseline[name])} slower (target ≥ "
            f"{BASELINE_FACTOR:g}x)."
        )
    if result.ingest is not None:
        i = result.ingest
        out.append(
            f"- Ingest, {i.events:,} events folded by the projector on one connection: "
            f"{median(i.with_standing):,.0f} events/s with the standing rows, {median(i.without_standing):,.0f} "
            f"without ({(i.cost or 0) * 100:.1f}% of the throughput); locking and recomputing the standing rows "
            f"took {median(i.standing_share) * 100:.1f}% of the batches' time (runs: "
            f"{', '.join(f'{x * 100:.1f}%' for x in i.standing_share)})."
        )
    return out
