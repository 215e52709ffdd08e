"""The benchmark's own corner of the shared local stack: databases named
``bench_*`` cloned from a migrated template, topics with a unique suffix, free
loopback ports, and the service's processes (``billing worker``, ``api``,
``replay``) started as subprocesses with their logs in the report folder.
Everything made here is removed by ``close()``, so tests others run on the
same stack are never disturbed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import msgspec
from aiokafka.admin import NewTopic

from bench.procstat import status_kb
from services import db, kafka, keys
from services.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def parse_position_header(value: str | None) -> dict[int, int]:
    """``X-Projection-Position: topic:0=41,topic:1=7`` -> {0: 41, 1: 7}
    (the next offset to apply per partition)."""
    found: dict[int, int] = {}
    for part in (value or "").split(","):
        head, sep, offset = part.rpartition("=")
        if not sep:
            continue
        partition = head.rpartition(":")[2]
        if partition.isdigit() and offset.isdigit():
            found[int(partition)] = int(offset)
    return found


class Process:
    """A child process of the benchmark, its log file, and its peak RSS.

    The peak is the kernel's VmHWM of the process, read while it runs (each
    wait step, and just before it is asked to stop). wait4's ru_maxrss would
    be wrong here: it keeps the high-water mark of the forked copy of this
    harness from before exec, so every child would look as large as the
    harness."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.popen = popen
        self.log = log
        self.peak_rss_kb: int | None = None
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def sample_peak(self) -> None:
        peak = status_kb(self.pid, "VmHWM")
        if peak is not None and self.popen.returncode is None:
            self.peak_rss_kb = max(self.peak_rss_kb or 0, peak)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (the service finishes its batch and stops), then wait;
        SIGKILL if it is still there after ``timeout``."""
        if self.running():
            self.sample_peak()
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()

    async def wait_async(self, timeout: float | None = None) -> int:  # noqa: ASYNC109 - samples RSS while waiting
        """Wait for the exit without blocking the event loop, sampling the
        peak RSS every 100 ms meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running():
            self.sample_peak()
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} still running after {timeout}s (log: {self.log})")
            await asyncio.sleep(0.1)
        return self.popen.wait()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Lab:
    """Databases, topics, processes and API keys of one benchmark session."""

    def __init__(self, admin_url: str, kafka_bootstrap: str, logs: Path) -> None:
        self.admin_url = admin_url
        self.kafka_bootstrap = kafka_bootstrap
        self.logs = logs
        self.suffix = uuid.uuid4().hex[:8]
        self.template = f"bench_template_{self.suffix}"
        self._databases: list[str] = []
        self._topics: list[str] = []
        self._processes: list[Process] = []
        self._counter = 0

    async def __aenter__(self) -> Lab:
        self.logs.mkdir(parents=True, exist_ok=True)
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f"CREATE DATABASE {self.template}")
        finally:
            await admin.close()
        self._databases.append(self.template)
        conn = await asyncpg.connect(with_database(self.admin_url, self.template))
        try:
            await db.migrate(conn)
        finally:
            await conn.close()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    def _name(self, label: str) -> str:
        self._counter += 1
        return f"{label}_{self.suffix}_{self._counter}"

    async def database(self, label: str) -> str:
        """A new migrated database (a clone of the template); its URL."""
        name = "bench_" + self._name(label)
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        finally:
            await admin.close()
        self._databases.append(name)
        return with_database(self.admin_url, name)

    async def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()
        if name in self._databases:
            self._databases.remove(name)

    async def topic(self, label: str, partitions: int = 4) -> str:
        name = "bench-" + self._name(label).replace("_", "-")
        admin = kafka.admin(Settings(kafka_bootstrap=self.kafka_bootstrap))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, 1), NewTopic(name + ".dlq", 1, 1)])
        finally:
            await admin.close()
        self._topics += [name, name + ".dlq"]
        return name

    def settings(self, database_url: str, topic: str | None = None, **overrides: object) -> Settings:
        """The service's settings for one run: its database, topic and group;
        everything else at the service's defaults (what is measured)."""
        # A broker that creates topics on first use may create even a topic
        # nothing publishes to; each one is deleted at the end.
        topic = topic or f"bench-none-{self.suffix}"
        if topic not in self._topics:
            self._topics += [topic, topic + ".dlq"]
        values: dict[str, object] = {
            "database_url": database_url,
            "kafka_bootstrap": self.kafka_bootstrap,
            "topic": topic,
            "dlq_topic": topic + ".dlq",
            "consumer_group": f"{topic}-group",
            "worker_metrics_port": 0,
            "api_port": free_port(),
            # One API process (what each figure is per); bench/read.py also measures N.
            "api_workers": 1,
        }
        return Settings.from_env({}, **{**values, **overrides})

    async def empty_database(self, label: str) -> str:
        """A new database without any schema (for another version of the code
        to migrate); its URL."""
        name = "bench_" + self._name(label)
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f"CREATE DATABASE {name}")
        finally:
            await admin.close()
        self._databases.append(name)
        return with_database(self.admin_url, name)

    def spawn(
        self,
        name: str,
        args: list[str],
        settings: Settings,
        extra_env: dict[str, str] | None = None,
        source: Path = REPO,
    ) -> Process:
        """Run ``python -m <args>`` with the settings as BILLING_* variables,
        from the source tree ``source`` (default this one; another commit's
        tree runs that commit's code, with the same virtualenv)."""
        env = {
            **os.environ,
            **settings.to_env(),
            "BILLING_LOG_FORMAT": "json",
            "BILLING_LOG_LEVEL": "warning",
            "PYTHONPATH": str(source),
            **(extra_env or {}),
        }
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=source
            )
        process = Process(name, popen, log)
        self._processes.append(process)
        return process

    def billing(
        self, name: str, command: list[str], settings: Settings, log_level: str = "warning", source: Path = REPO
    ) -> Process:
        """``billing <command>`` as a subprocess (of the code in ``source``)."""
        return self.spawn(name, ["services.cli", *command], settings, {"BILLING_LOG_LEVEL": log_level}, source)

    async def api(
        self, name: str, settings: Settings, module: str = "services.cli", source: Path = REPO
    ) -> tuple[Process, str]:
        """The read API (or the baseline app) on its port; returns once it answers."""
        args = ["services.cli", "api"] if module == "services.cli" else [module]
        process = self.spawn(name, args, settings, source=source)
        url = f"http://127.0.0.1:{settings.api_port}"
        async with httpx.AsyncClient(timeout=1.0) as client:
            for _ in range(300):
                if not process.running():
                    raise RuntimeError(f"{name} exited at start:\n{process.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url + "/health/live")).status_code == 200:
                        return process, url
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{name} did not answer on {url}:\n{process.tail()}")

    async def api_key(self, database_url: str, tenant: str) -> str:
        conn = await asyncpg.connect(database_url)
        try:
            _, key = await keys.create(conn, tenant, "benchmark")
        finally:
            await conn.close()
        return key

    async def close(self) -> None:
        for process in self._processes:
            if process.popen.returncode is None:
                with contextlib.suppress(Exception):
                    process.stop(timeout=20)
        if self._topics:
            with contextlib.suppress(Exception):
                admin = kafka.admin(Settings(kafka_bootstrap=self.kafka_bootstrap))
                await admin.start()
                try:
                    existing = set(await admin.list_topics())
                    # One at a time: a failure must not leave the others behind.
                    for topic in self._topics:
                        if topic in existing:
                            with contextlib.suppress(Exception):
                                await admin.delete_topics([topic])
                finally:
                    await admin.close()
            self._topics.clear()
        admin_conn = await asyncpg.connect(self.admin_url)
        try:
            for name in reversed(self._databases):
                with contextlib.suppress(Exception):
                    await admin_conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin_conn.close()
        self._databases.clear()


async def api_positions(client: httpx.AsyncClient, url: str, key: str) -> dict[int, int]:
    """The positions the API reflects (from the unfiltered summary's header)."""
    response = await client.get(url + "/invoices/summary", headers={"x-api-key": key})
    response.raise_for_status()
    return parse_position_header(response.headers.get("x-projection-position"))


def replace_settings(settings: Settings, **changes: object) -> Settings:
    return msgspec.structs.replace(settings, **changes)
