"""``billing api --workers N``: N processes on one port under a supervisor,
run as an operator runs it (a process of its own on a free port)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.cli import API_START_FAILED, EXIT_DATABASE
from services.settings import Settings
from tests.conftest import free_port

pytestmark = pytest.mark.integration

BILLING = Path(sys.executable).with_name("billing")
# A request that waits this long for a position the projections never reach.
SLOW_SECONDS = 3.0
# How long processes get to start (spawned, each imports and builds the app)
# on a busy machine.
START_SECONDS = 60.0


class Api:
    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url

    async def live(self) -> int:
        """The process that answered /health/live on a new connection."""
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            answer = await client.get("/health/live")
        assert answer.status_code == 200, answer.text
        process: int = answer.json()["process"]
        return process

    async def processes(self, count: int, excluding: frozenset[int] = frozenset()) -> dict[int, int]:
        """Answers by process, each on a new connection (accepted by any
        process), until ``count`` processes not in ``excluding`` answered."""
        answers: dict[int, int] = {}
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                pid = await self.live()
                answers[pid] = answers.get(pid, 0) + 1
            if len(answers.keys() - excluding) >= count:
                return answers
            await asyncio.sleep(0.02)
        raise AssertionError(f"{count} processes did not answer: {answers}")

    async def metrics(self) -> str:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            return (await client.get("/metrics")).text

    async def requests_total(self, path: str) -> float:
        text = await self.metrics()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "billing_api_requests"
            for sample in family.samples
            if sample.name == "billing_api_requests_total" and sample.labels["path"] == path
        )


@contextlib.asynccontextmanager
async def billing_api(settings: Settings, *arguments: str) -> AsyncIterator[Api]:
    port = free_port()
    env = {
        **os.environ,
        **settings.to_env(),
        "BILLING_API_PORT": str(port),
        "BILLING_FRESHNESS_WAIT_MAX_MS": str(int(SLOW_SECONDS * 1000)),
        "BILLING_LOG_LEVEL": "warning",
    }
    # A session of its own: whatever a test does, its whole group is stopped after.
    process = await asyncio.create_subprocess_exec(str(BILLING), "api", *arguments, env=env, start_new_session=True)
    api = Api(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert process.returncode is None, "billing api stopped"
            with contextlib.suppress(httpx.TransportError):
                await api.live()
                break
            await asyncio.sleep(0.05)
        yield api
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


def metrics_dir(pid: int) -> Path:
    """The multiprocess metrics directory a process was given."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    (value,) = [entry.partition(b"=")[2] for entry in environ if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return Path(value.decode())


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_two_processes_serve_one_port_and_metrics_add_up(settings: Settings) -> None:
    async with billing_api(settings, "--workers", "2") as api:
        before = await api.requests_total("/health/live")  # the start's probe
        answers = await api.processes(2)
        assert len(answers) == 2 and api.process.pid not in answers, answers
        # Every answer was counted by the process that gave it; the scrape
        # (answered by one of them) shows all.
        assert await api.requests_total("/health/live") == before + sum(answers.values())
        more = await api.processes(2)
        assert await api.requests_total("/health/live") == before + sum(answers.values()) + sum(more.values())
        # Every series is the server's: none is left per process.
        assert 'pid="' not in await api.metrics()


async def test_a_killed_process_is_replaced(settings: Settings) -> None:
    async with billing_api(settings, "--workers", "2") as api:
        first = set(await api.processes(2))
        before = await api.requests_total("/health/live")
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        answers = await api.processes(1, excluding=frozenset(first))
        replacement = answers.keys() - first
        assert len(replacement) == 1 and victim not in answers
        assert len(await api.processes(2, excluding=frozenset({victim}))) == 2
        # The dead process's counts stay in the sum.
        assert await api.requests_total("/health/live") >= before + sum(answers.values())


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_stop_signal_lets_in_flight_requests_finish(
    settings: Settings, api_key: str, stop: signal.Signals
) -> None:
    async with billing_api(settings, "--workers", "2") as api:
        children = set(await api.processes(2))
        directory = metrics_dir(min(children))
        assert directory.is_dir()
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
            # No projection ever reaches this position: the answer comes after SLOW_SECONDS.
            slow = asyncio.create_task(
                client.get("/invoices/summary", headers={"x-api-key": api_key, "X-Min-Position": "0:999999999"})
            )
            await asyncio.sleep(0.5)
            assert not slow.done()
            started = time.monotonic()
            api.process.send_signal(stop)
            answer = await slow
            answered_after = time.monotonic() - started
        assert answer.status_code == 503 and answer.json()["title"] == "Not yet fresh", answer.text
        assert answered_after >= SLOW_SECONDS - 1.0
        assert await asyncio.wait_for(api.process.wait(), 20) == 0
        assert not any(running(pid) for pid in children)
        assert not directory.exists()
        with pytest.raises(httpx.TransportError):
            await api.live()


async def test_processes_stop_when_the_supervisor_is_killed(settings: Settings) -> None:
    async with billing_api(settings, "--workers", "2") as api:
        children = set(await api.processes(2))
        api.process.kill()  # SIGKILL: it cannot pass anything on
        await api.process.wait()
        deadline = time.monotonic() + 20
        for _ in range(200):
            if not any(running(pid) for pid in children) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert not any(running(pid) for pid in children)


async def test_one_worker_runs_no_supervisor(settings: Settings) -> None:
    async with billing_api(settings, "--workers", "1") as api:
        assert await api.live() == api.process.pid
        api.process.send_signal(signal.SIGTERM)
        # One process re-raises the signal once it has shut down.
        assert await asyncio.wait_for(api.process.wait(), 20) == -signal.SIGTERM


async def test_workers_setting_is_the_default(settings: Settings) -> None:
    settings = Settings.from_env(settings.to_env(), api_workers=3)
    async with billing_api(settings) as api:
        assert len(await api.processes(3)) == 3


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_a_failed_start_is_a_database_error(settings: Settings, workers: str) -> None:
    # The pool opens a connection at start (BILLING_DB_POOL_MIN=1) to a database that does not exist.
    missing = settings.database_url.rpartition("/")[0] + "/no_such_database"
    env = {
        **os.environ,
        **settings.to_env(),
        "BILLING_DATABASE_URL": missing,
        "BILLING_DB_POOL_MIN": "1",
        "BILLING_API_PORT": str(free_port()),
        "BILLING_LOG_LEVEL": "critical",
    }
    process = await asyncio.create_subprocess_exec(
        str(BILLING), "api", "--workers", workers, env=env, stderr=asyncio.subprocess.PIPE, start_new_session=True
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), START_SECONDS)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == EXIT_DATABASE
    assert stderr.decode().strip().splitlines()[-1] == f"billing api: {API_START_FAILED}"
