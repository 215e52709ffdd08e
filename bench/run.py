"""``python -m bench [--full] [--only ingest,replay,read,series,customers,freshness,scaling,stream]``:
runs the benchmarks against the local stack and writes ``bench-report/``
(report.md, results.json, PNG charts, and the logs of every process)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path

import msgspec

from bench import before, customers, freshness, ingest, read, replay, series, stream
from bench.config import BENCHMARKS, FULL, QUICK, Context, Sizes
from bench.customers import CustomersResult
from bench.freshness import FreshnessResult
from bench.ingest import BaselineRun, IngestRun, Stream
from bench.lab import REPO, Lab
from bench.loadgen import LoadResult, ensure_wrk
from bench.machine import Machine, describe
from bench.read import ReadResult
from bench.replay import ReplaySize
from bench.report import FLOOR
from bench.series import SeriesResult
from bench.stream import StreamResult
from deploy import local as stack  # the local Kafka + PostgreSQL


class ReadScalingPoint(msgspec.Struct, frozen=True):
    invoices: int
    tenant_invoices: int
    product: list[LoadResult]
    baseline: list[LoadResult]


class IngestSection(msgspec.Struct, frozen=True):
    stream: Stream
    runs: list[IngestRun]
    baseline: list[BaselineRun]
    # The same stream ingested by the code before the timelines (--ingest-before),
    # runs interleaved with ``runs``; or why that could not be measured.
    before: list[IngestRun] = msgspec.field(default_factory=list)
    before_rev: str | None = None
    before_skipped: str | None = None


class Results(msgspec.Struct, kw_only=True):
    mode: str
    command: str
    started_at: str
    seconds: float = 0.0
    machine: Machine
    sizes: Sizes
    load_tool: str
    load_tool_note: str
    ingest: IngestSection | None = None
    scaling: dict[str, list[IngestRun]] | None = None  # by worker count
    replay: list[ReplaySize] | None = None
    read: ReadResult | None = None
    read_scaling: list[ReadScalingPoint] | None = None
    series: SeriesResult | None = None
    freshness: FreshnessResult | None = None
    stream: StreamResult | None = None
    customers: CustomersResult | None = None
    errors: dict[str, str] = msgspec.field(default_factory=dict)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of the invoice summary service against the local stack; writes bench-report/.",
    )
    parser.add_argument("--full", action="store_true", help="the full sizes (1M-5M events; about 40 minutes)")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma list of benchmarks to run (default all: {','.join(BENCHMARKS)})",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench-report", help="report folder (default bench-report/)")
    parser.add_argument("--no-install", action="store_true", help="never install wrk with apt-get")
    parser.add_argument(
        "--ingest-before",
        default=before.DEFAULT_REV,
        metavar="REV",
        help="also ingest the same stream with the code of this commit, runs interleaved (default "
        f"{before.DEFAULT_REV}: before the timelines); '{before.NONE}' to leave it out",
    )
    parser.add_argument(
        "--max-size",
        type=int,
        default=None,
        help="leave out data sizes above this (events for replay, invoices for reads)",
    )
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}")
    return args


def limit_sizes(sizes: Sizes, max_size: int | None) -> Sizes:
    """The sizes without the data sets larger than ``max_size`` (for a shorter
    run of the full mode, e.g. replay and reads at 1M but not 5M)."""
    if max_size is None:
        return sizes
    replay = [(n, r) for n, r in zip(sizes.replay_sizes, sizes.replay_runs, strict=True) if n <= max_size]
    return msgspec.structs.replace(
        sizes,
        replay_sizes=tuple(n for n, _ in replay),
        replay_runs=tuple(r for _, r in replay),
        read_scaling_sizes=tuple(n for n in sizes.read_scaling_sizes if n <= max_size),
        read_invoices=min(sizes.read_invoices, max_size),
        ingest_events=min(sizes.ingest_events, max_size),
    )


async def _guarded(results: Results, name: str, ctx: Context, step: object) -> object:
    """Run one benchmark; a failure is reported, and the others still run."""
    try:
        return await step  # type: ignore[misc]
    except Exception as error:  # noqa: BLE001 - recorded in the report
        results.errors[name] = f"{error!r}\n{traceback.format_exc()[-2000:]}"
        ctx.say(f"{name} FAILED: {error!r}")
        return None


async def ingest_runs(
    ctx: Context, stream: Stream, before_rev: str | None
) -> tuple[list[IngestRun], list[IngestRun], str | None, str | None]:
    """The 1-worker ingest runs of this code and, interleaved with them (before,
    now, before, now…), of the code of ``before_rev``: (now, before, the
    before commit, why before was not measured)."""
    runs: list[IngestRun] = []
    earlier: list[IngestRun] = []
    with tempfile.TemporaryDirectory(prefix="bench-before-") as folder:
        tree: before.Tree | str | None = None
        if before_rev is not None:
            tree = await asyncio.to_thread(before.materialise, before_rev, Path(folder))
            if isinstance(tree, str):
                ctx.say(f"ingest before: not measured: {tree}")
        for index in range(ctx.sizes.ingest_runs):
            if isinstance(tree, before.Tree):
                try:
                    run = await ingest.ingest_run(ctx, stream, workers=1, tree=tree)
                except Exception as error:  # noqa: BLE001 - reported, and the current code's runs go on
                    tree = f"the run of commit {tree.commit} failed: {error!r}"[:600]
                    ctx.say(f"ingest before: {tree}")
                else:
                    earlier.append(run)
                    ctx.say(f"ingest before ({tree.label}) run {index + 1}: {run.events_per_second or 0:,.0f} events/s")
            run = await ingest.ingest_run(ctx, stream, workers=1)
            runs.append(run)
            ctx.say(
                f"ingest run {index + 1}: {run.events_per_second or 0:,.0f} events/s, "
                f"peak RSS {run.peak_rss_mb or 0:.0f} MB, outcomes {run.outcomes}"
            )
    if isinstance(tree, before.Tree):
        return runs, earlier, tree.label, None
    return runs, earlier, None if tree is None else before_rev, tree


async def run_ingest_and_scaling(
    ctx: Context, results: Results, selected: list[str], before_rev: str | None = None
) -> None:
    sizes = ctx.sizes
    stream = await ingest.prepare_stream(ctx)
    runs, earlier, measured_rev, skipped = await ingest_runs(ctx, stream, before_rev if "ingest" in selected else None)
    baseline: list[BaselineRun] = []
    if "ingest" in selected:
        for index in range(sizes.baseline_runs):
            base = await ingest.baseline_run(ctx, stream)
            baseline.append(base)
            ctx.say(f"baseline run {index + 1}: {base.events_per_second or 0:,.0f} events/s")
    results.ingest = IngestSection(
        stream=stream, runs=runs, baseline=baseline, before=earlier, before_rev=measured_rev, before_skipped=skipped
    )
    if "scaling" in selected:
        scaling: dict[str, list[IngestRun]] = {"1": runs}
        for workers in sizes.scaling_workers:
            if workers == 1:
                continue
            scaling[str(workers)] = []
            for index in range(sizes.scaling_runs):
                run = await ingest.ingest_run(ctx, stream, workers=workers)
                scaling[str(workers)].append(run)
                ctx.say(f"scaling {workers} workers run {index + 1}: {run.events_per_second or 0:,.0f} events/s")
        results.scaling = scaling


async def run_replay(ctx: Context, results: Results) -> None:
    results.replay = []
    for events, runs in zip(ctx.sizes.replay_sizes, ctx.sizes.replay_runs, strict=True):
        results.replay.append(await replay.replay_size(ctx, events, runs))


async def run_read(ctx: Context, results: Results, selected: list[str]) -> None:
    sizes = ctx.sizes
    if "read" in selected:
        apps = await read.start_apps(ctx, sizes.read_invoices, point_in_time=True)
        try:
            endpoints = await read.measure(
                ctx, apps, [*read.endpoint_paths(ctx, apps), FLOOR], sizes.read_runs, sizes.read_seconds
            )
            processes = await read.measure_processes(ctx, apps, sizes.read_runs, sizes.read_seconds)
        finally:
            await read.stop_apps(ctx, apps)
        results.read = ReadResult(
            dataset=apps.dataset, endpoints=endpoints, tool=results.load_tool, processes=processes
        )
    if "scaling" in selected:
        points: list[ReadScalingPoint] = []
        for invoices in sizes.read_scaling_sizes:
            if results.read is not None and invoices == results.read.dataset.invoices:
                unfiltered = {e.app: e.runs for e in results.read.endpoints if e.endpoint == "unfiltered summary"}
                points.append(
                    ReadScalingPoint(
                        invoices, results.read.dataset.tenant_invoices, unfiltered["product"], unfiltered["baseline"]
                    )
                )
                continue
            apps = await read.start_apps(ctx, invoices)
            try:
                measured = await read.measure(ctx, apps, ["unfiltered summary"], 1, sizes.read_scaling_seconds)
            finally:
                await read.stop_apps(ctx, apps)
            by_app = {e.app: e.runs for e in measured}
            points.append(
                ReadScalingPoint(invoices, apps.dataset.tenant_invoices, by_app["product"], by_app["baseline"])
            )
        results.read_scaling = points


async def main_async(args: argparse.Namespace) -> int:
    from bench import charts, report

    sizes = limit_sizes(FULL if args.full else QUICK, args.max_size)
    out: Path = args.out
    (out / "logs").mkdir(parents=True, exist_ok=True)
    admin_url = os.environ.get("BILLING_DATABASE_URL") or stack.database_url()
    bootstrap = os.environ.get("BILLING_KAFKA_BOOTSTRAP") or stack.kafka_bootstrap()
    use_wrk, tool_note = (False, "no benchmark with HTTP load selected")
    if {"read", "series", "customers", "scaling", "freshness"} & set(args.only):
        use_wrk, tool_note = ensure_wrk(install=not args.no_install)
    started = time.monotonic()
    async with Lab(admin_url, bootstrap, out / "logs") as lab:
        ctx = Context(lab, sizes, out, stack.postgres_pid(), stack.kafka_pid(), use_wrk)
        ctx.say(
            f"{sizes.mode} mode: {', '.join(args.only)}; load generator: "
            f"{'wrk' if use_wrk else 'asyncio+httpx'} ({tool_note})"
        )
        results = Results(
            mode=sizes.mode,
            command=" ".join(shlex.quote(a) for a in ["python", "-m", "bench", *sys.argv[1:]]),
            started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            machine=await describe(admin_url),
            sizes=sizes,
            load_tool="wrk" if use_wrk else "asyncio+httpx",
            load_tool_note=tool_note,
        )
        if "ingest" in args.only or "scaling" in args.only:
            before_rev = None if args.ingest_before.lower() == before.NONE else args.ingest_before
            await _guarded(results, "ingest", ctx, run_ingest_and_scaling(ctx, results, args.only, before_rev))
        if "replay" in args.only:
            await _guarded(results, "replay", ctx, run_replay(ctx, results))
        if "read" in args.only or "scaling" in args.only:
            await _guarded(results, "read", ctx, run_read(ctx, results, args.only))
        if "series" in args.only:
            results.series = await _guarded(results, "series", ctx, series.run(ctx))  # type: ignore[assignment]
        if "customers" in args.only:
            results.customers = await _guarded(results, "customers", ctx, customers.run(ctx))  # type: ignore[assignment]
        if "freshness" in args.only:
            results.freshness = await _guarded(results, "freshness", ctx, freshness.run(ctx))  # type: ignore[assignment]
        if "stream" in args.only:
            results.stream = await _guarded(results, "stream", ctx, stream.run(ctx))  # type: ignore[assignment]
        results.seconds = time.monotonic() - started
        (out / "results.json").write_bytes(msgspec.json.format(msgspec.json.encode(results)))
        chart_files = await asyncio.to_thread(charts.draw_all, results, out)
        (out / "report.md").write_text(
            report.render(results, chart_files)
            + "\n".join(stream.section(results.stream))
            + "\n".join(customers.section(results.customers))
        )
        ctx.say(f"report written to {out / 'report.md'} in {results.seconds / 60:.1f} min")
    return 1 if results.errors else 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))
