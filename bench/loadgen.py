"""HTTP load on loopback: ``wrk`` when it is installed (a real load generator
written in C, so the client does not steal the server's CPU the way a Python
client would), else a bounded asyncio + httpx client. Both are closed-loop:
N connections, each sending its next request when the previous answer came.
Every run is bounded in time and only ever targets 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import msgspec

from bench.stats import percentile

WRK_MARK = "BENCH_RESULT "
# Request-time aggregation over millions of rows takes seconds: a short
# timeout would count those answers as errors instead of measuring them.
TIMEOUT_SECONDS = 30

# Picks a path at random for each request (a spread of customers, not one hot
# row), sends the key, and prints the figures as one JSON line at the end.
WRK_SCRIPT = """
local paths = {%(paths)s}
wrk.headers["x-api-key"] = "%(key)s"
local counter = 0
setup = function(thread)
  thread:set("seed", counter)
  counter = counter + 1
end
init = function(args)
  math.randomseed(os.time() + seed * 7919)
end
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests": %%d, "duration_us": %%d, "connect_errors": %%d, "read_errors": %%d, '
    .. '"write_errors": %%d, "status_errors": %%d, "timeouts": %%d, "p50_us": %%d, '
    .. '"p90_us": %%d, "p99_us": %%d, "max_us": %%d, "mean_us": %%f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


class LoadResult(msgspec.Struct, frozen=True):
    tool: str
    requests: int
    seconds: float
    requests_per_second: float
    # None when no request completed in the run (e.g. every one slower than it).
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors: int  # failed connections, reads, timeouts and non-2xx answers


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def ensure_wrk(install: bool) -> tuple[bool, str]:
    """Is wrk there? If not and allowed (root, apt-get present), install the
    Debian package. Returns (available, what happened)."""
    if wrk_available():
        return True, "wrk found"
    if not install:
        return False, "wrk not installed (installing was not allowed)"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return False, "wrk not installed, and apt-get is not usable here (not root or not Debian)"
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if done.returncode != 0:
            return False, f"installing wrk failed: {' '.join(command)}: {done.stderr.strip()[-300:]}"
    return wrk_available(), "wrk installed with apt-get"


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(
    base_url: str, paths: Sequence[str], key: str, seconds: float, connections: int, threads: int = 2
) -> LoadResult:
    script = WRK_SCRIPT % {
        "paths": ", ".join(_lua_string(p) for p in paths),
        "key": key,
        "mark": WRK_MARK,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        script_path = handle.name
    try:
        done = subprocess.run(
            # wrk needs at least one connection per thread.
            [
                "wrk",
                "-t",
                str(min(threads, connections)),
                "-c",
                str(connections),
                "-d",
                # wrk takes whole seconds ("8.5s" is a usage error).
                f"{math.ceil(seconds)}s",
                "--timeout",
                f"{TIMEOUT_SECONDS}s",
                "-s",
                script_path,
                base_url + paths[0],
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    finally:
        Path(script_path).unlink(missing_ok=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(WRK_MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result (exit {done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}")
    raw = json.loads(line[len(WRK_MARK) :])
    seconds_run = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    done_any = raw["requests"] > 0

    def ms(field: str) -> float | None:
        return raw[field] / 1000 if done_any else None

    return LoadResult(
        tool="wrk",
        requests=raw["requests"],
        seconds=seconds_run,
        requests_per_second=raw["requests"] / seconds_run if seconds_run else 0.0,
        p50_ms=ms("p50_us"),
        p90_ms=ms("p90_us"),
        p99_ms=ms("p99_us"),
        max_ms=ms("max_us"),
        errors=errors,
    )


async def run_httpx(base_url: str, paths: Sequence[str], key: str, seconds: float, connections: int) -> LoadResult:
    """The fallback: ``connections`` asyncio tasks on one keep-alive client.
    It shares the CPU with the server, so its figures are pessimistic."""
    import random

    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)

    async def loop(client: httpx.AsyncClient, rng: random.Random) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = await client.get(paths[rng.randrange(len(paths))], headers={"x-api-key": key})
                if response.status_code >= 400:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - started)

    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=float(TIMEOUT_SECONDS)) as client:
        await asyncio.gather(*(loop(client, random.Random(i)) for i in range(connections)))
    elapsed = time.monotonic() - started
    ms = [x * 1000 for x in latencies]
    return LoadResult(
        tool="httpx",
        requests=len(latencies),
        seconds=elapsed,
        requests_per_second=len(latencies) / elapsed,
        p50_ms=percentile(ms, 50) if ms else None,
        p90_ms=percentile(ms, 90) if ms else None,
        p99_ms=percentile(ms, 99) if ms else None,
        max_ms=max(ms) if ms else None,
        errors=errors,
    )


async def load(
    base_url: str, paths: Sequence[str], key: str, seconds: float, connections: int, use_wrk: bool
) -> LoadResult:
    if use_wrk:
        return await asyncio.to_thread(run_wrk, base_url, paths, key, seconds, connections)
    return await run_httpx(base_url, paths, key, seconds, connections)
