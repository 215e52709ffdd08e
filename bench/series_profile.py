"""``python -m bench.series_profile [--runs N] [--database-url URL]``: where one
series request's time goes, stage by stage, in this process.

The series benchmark's data set (bench/series.py: the read data set with its
timelines, loaded by bench/loading.py; or an existing database of it), its
largest tenant, the 12-month monthly and the 365-day daily series of
bench/series.py. Per request, timed with the wall clock (median of N runs):

- queries: the time in the connection's fetches (PostgreSQL's work, the
  round trips and asyncpg's decoding of the rows);
- sums: the rest of ``queries.tenant_series`` (the rows -> each period's figures);
- building: ``endpoints.answer`` (the figures -> the answer's objects);
- encoding: ``reading.json_response`` (the answer -> its JSON bytes);

and the request's CPU, which contention for the cores leaves as it is: this
process's (every stage, the driver's decoding of the rows included) and the
PostgreSQL backend's (its queries).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg

from bench import loading, series, streams
from bench.config import QUICK, SEED
from bench.lab import REPO, Lab
from bench.report import table
from bench.stats import median
from deploy import local as stack
from services.api.freshness import Positions
from services.api.reading import Read, json_response
from services.api.v1.series import endpoints, queries
from services.api.v1.series.periods import periods

STAGES = ("queries", "sums", "building", "encoding")
CPU = ("API CPU", "PostgreSQL CPU")  # per request, on any core
T = TypeVar("T")


def backend_cpu_ns(pid: int) -> int:
    """Nanoseconds the PostgreSQL backend has run on a CPU (schedstat's first
    field): what the machine spends on a query, whoever else runs on it."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


class TimedConnection:
    """A connection whose fetches add their time to ``fetch_seconds`` and
    their backend's CPU to ``backend_ns``."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.backend = conn.get_server_pid()
        self.fetch_seconds = 0.0
        self.backend_ns = 0

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        started, cpu = time.perf_counter(), backend_cpu_ns(self.backend)
        try:
            return await self.conn.fetch(query, *args)
        finally:
            self.fetch_seconds += time.perf_counter() - started
            self.backend_ns += backend_cpu_ns(self.backend) - cpu

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


async def _timed(call: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await call()
    return result, time.perf_counter() - started


async def one_request(conn: TimedConnection, path: str) -> dict[str, float]:
    """One series request of ``path`` as the endpoint answers it, in
    milliseconds per stage (and its body's size in bytes)."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
    first, last = dt.date.fromisoformat(query["from"]), dt.date.fromisoformat(query["to"])
    interval = query["interval"]
    spans = periods(first, last, interval)
    conn.fetch_seconds, conn.backend_ns, cpu = 0.0, 0, time.thread_time()
    found, seconds = await _timed(
        lambda: queries.tenant_series(conn, streams.LARGEST_TENANT, spans, interval, None, None)  # type: ignore[arg-type]
    )
    started = time.perf_counter()
    body = endpoints.answer(first, last, interval, found, None, None)
    built = time.perf_counter()
    response = json_response(body, Read(conn.conn, streams.LARGEST_TENANT, Positions("profile", {}, None)))
    encoded = time.perf_counter()
    cpu = time.thread_time() - cpu
    return {
        "API CPU": cpu * 1000,
        "PostgreSQL CPU": conn.backend_ns / 1e6,
        "queries": conn.fetch_seconds * 1000,
        "sums": (seconds - conn.fetch_seconds) * 1000,
        "building": (built - started) * 1000,
        "encoding": (encoded - built) * 1000,
        "bytes": len(response.content),
    }


async def profile_database(url: str, runs: int, today: dt.date) -> str:
    conn = TimedConnection(await asyncpg.connect(url))
    try:
        rows = []
        for name, path in series.paths(today).items():
            if name == series.SUMMARY:
                continue
            await one_request(conn, path)  # warm-up: plans, caches
            found = [await one_request(conn, path) for _ in range(runs)]
            stages = [median(r[s] for r in found) for s in STAGES]
            total = median(sum(r[s] for s in STAGES) for r in found)
            cpu = [median(r[c] for r in found) for c in CPU]
            rows.append((name, *(f"{ms:.1f}" for ms in (*stages, total, *cpu)), f"{found[-1]['bytes']:,.0f}"))
    finally:
        await conn.conn.close()
    headers = ("series", *(f"{s} ms" for s in (*STAGES, "request", *CPU)), "body bytes")
    return f"Series of tenant {streams.LARGEST_TENANT}, in process, median of {runs} runs per stage:\n\n" + table(
        headers, rows
    )


async def profile(invoices: int, runs: int, out: Path, database_url: str | None) -> str:
    today = dt.datetime.now(dt.UTC).date()
    if database_url is not None:
        return await profile_database(database_url, runs, today)
    admin_url = os.environ.get("BILLING_DATABASE_URL") or stack.database_url()
    bootstrap = os.environ.get("BILLING_KAFKA_BOOTSTRAP") or stack.kafka_bootstrap()
    async with Lab(admin_url, bootstrap, out / "logs") as lab:
        url = await lab.database("series_profile")
        # As bench/read.py loads the series' data set: recorded up to a moment ago.
        now = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await loading.load_read_models(url, invoices, SEED + invoices, today, now)
        return f"{invoices:,} invoices loaded. " + await profile_database(url, runs, today)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.series_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=QUICK.read_invoices, help="invoices loaded")
    parser.add_argument("--runs", type=int, default=10, help="requests timed per series")
    parser.add_argument("--database-url", default=None, help="a database of the data set already loaded")
    parser.add_argument("--out", type=Path, default=REPO / "bench-report", help="report folder (logs)")
    args = parser.parse_args(argv)
    print(asyncio.run(profile(args.invoices, args.runs, args.out, args.database_url)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
