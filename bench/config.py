"""The sizes of each mode, and what every benchmark needs to run."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import msgspec

from bench.lab import Lab


class Sizes(msgspec.Struct, frozen=True):
    mode: str
    # Ingest: records published beforehand, runs of the whole stream.
    ingest_events: int
    ingest_runs: int
    # The per-event baseline gets the first records of the same stream.
    baseline_events: int
    baseline_runs: int
    # Replay: event-store sizes and runs per size.
    replay_sizes: tuple[int, ...]
    replay_runs: tuple[int, ...]
    # Read: invoices loaded, seconds and runs per endpoint, wrk connections.
    read_invoices: int
    read_seconds: float
    read_runs: int
    read_connections: int
    # Freshness: a paced publisher.
    freshness_rate: int
    freshness_seconds: float
    freshness_sample_every: int
    # Scaling: worker processes (on the ingest stream), read sizes.
    scaling_workers: tuple[int, ...]
    scaling_runs: int
    read_scaling_sizes: tuple[int, ...]
    read_scaling_seconds: float
    # Runs of the event-store baseline on the point-in-time endpoints (each
    # request takes seconds at 1M invoices; bench/read.py sizes the runs).
    read_slow_baseline_runs: int = 3


QUICK = Sizes(
    mode="quick",
    ingest_events=100_000,
    ingest_runs=3,
    baseline_events=5_000,
    baseline_runs=3,
    replay_sizes=(200_000,),
    replay_runs=(3,),
    read_invoices=100_000,
    read_seconds=5,
    read_runs=3,
    read_connections=16,
    freshness_rate=5_000,
    freshness_seconds=10,
    freshness_sample_every=50,
    scaling_workers=(1, 2, 4),
    scaling_runs=3,
    read_scaling_sizes=(10_000, 100_000),
    read_scaling_seconds=5,
)

FULL = Sizes(
    mode="full",
    ingest_events=1_000_000,
    ingest_runs=1,
    baseline_events=20_000,
    baseline_runs=1,
    replay_sizes=(1_000_000, 5_000_000),
    replay_runs=(2, 1),
    read_invoices=1_000_000,
    read_seconds=10,
    read_runs=3,
    read_connections=16,
    freshness_rate=5_000,
    freshness_seconds=20,
    freshness_sample_every=50,
    scaling_workers=(1, 2, 4),
    scaling_runs=1,
    read_scaling_sizes=(100_000, 1_000_000, 5_000_000),
    read_scaling_seconds=10,
    read_slow_baseline_runs=1,
)

BENCHMARKS = ("ingest", "replay", "read", "series", "customers", "freshness", "scaling", "stream")
SEED = 20_260_101


class Context:
    """Shared by the benchmarks of one invocation."""

    def __init__(
        self, lab: Lab, sizes: Sizes, report_dir: Path, postgres_pid: int | None, kafka_pid: int | None, use_wrk: bool
    ) -> None:
        self.lab = lab
        self.sizes = sizes
        self.report_dir = report_dir
        self.postgres_pid = postgres_pid
        self.kafka_pid = kafka_pid
        self.use_wrk = use_wrk
        self.today = dt.datetime.now(dt.UTC).date()
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[bench {elapsed:6.0f}s] {message}", file=sys.stderr, flush=True)
