"""Facts about the machine and the software measured, for the report."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

import asyncpg
import msgspec

from bench.lab import REPO


class Machine(msgspec.Struct, frozen=True):
    cpu_model: str
    cores: int
    memory_gib: float
    kernel: str
    python: str
    postgresql: str
    kafka: str
    load_average_at_start: tuple[float, float, float]
    commit: str
    product_changes_uncommitted: int  # files of contracts/, projections/, services/ changed in the work tree


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _kafka_version() -> str:
    """From the broker's jar names in the local stack (kafka-server-<version>.jar,
    or kafka_<scala>-<version>.jar in older layouts)."""
    for jar in sorted((REPO / ".stack" / "kafka" / "libs").glob("kafka*.jar")):
        match = re.fullmatch(r"kafka(?:_[\d.]+|-server)-(\d[\w.]*)\.jar", jar.name)
        if match:
            return match.group(1)
    return "unknown"


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip()


async def describe(database_url: str) -> Machine:
    conn = await asyncpg.connect(database_url)
    try:
        postgresql = str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
    changed = [
        line
        for line in _git("status", "--porcelain", "--", "contracts", "projections", "services").splitlines()
        if line.strip()
    ]
    return Machine(
        cpu_model=_cpu_model(),
        cores=os.cpu_count() or 0,
        memory_gib=round(_memory_gib(), 1),
        kernel=platform.release(),
        python=platform.python_version(),
        postgresql=postgresql,
        kafka=_kafka_version(),
        load_average_at_start=os.getloadavg(),
        # BENCH_COMMIT names the code when it is not a git checkout (an exported snapshot).
        commit=_git("rev-parse", "--short", "HEAD") or os.environ.get("BENCH_COMMIT", "unknown"),
        product_changes_uncommitted=len(changed),
    )
