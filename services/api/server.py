"""Serve the API with uvicorn until SIGTERM/SIGINT: one process, or several
on one port (``billing api --workers N``, ``BILLING_API_WORKERS``).

Several: the parent binds the port once and spawns N children that accept
on that one socket (uvicorn's supervisor). A child that dies is replaced; on
SIGTERM or SIGINT the parent sends every child SIGTERM, each stops accepting,
finishes its in-flight requests and exits, and the parent exits 0. The
parent serves nothing itself. Each child has its own event loop, pool,
caches and metrics; the metrics are written to a directory of this run
(Prometheus's multiprocess mode: PROMETHEUS_MULTIPROC_DIR, under TMPDIR)
that every child's /metrics aggregates, removed when the parent exits.

One socket shared by accept rather than a SO_REUSEPORT socket per child:
measured, both spread keep-alive connections alike, but a SO_REUSEPORT
socket dies with its child and resets the connections waiting in its queue;
the shared socket's queue outlives any child (docs/deployment.md, 7.)."""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from typing import Any

import uvicorn
from litestar.types import ASGIApp
from prometheus_client import multiprocess
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors.multiprocess import Multiprocess

from services.api.app import create_app
from services.logging import configure
from services.settings import Settings

# Prometheus's multiprocess mode: set before a child imports prometheus_client.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# prctl(2): the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


class OneSendTransport:
    """A connection's transport as uvicorn's HTTP protocol writes to it: the
    writes of one turn of the event loop leave in one send. uvicorn writes a
    response's status line and headers, then its body: two system calls, two
    segments and two wake-ups of the client otherwise, for one answer."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self._send)
        self._held.append(data)

    def _send(self) -> None:
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._send()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        # Everything else (flow control, extra info, is_closing) is the transport's own.
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, sending each response in one write."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneSendTransport(transport, self.loop))  # type: ignore[arg-type]


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity, not the host's count)."""
    return len(os.sched_getaffinity(0))


def _config(settings: Settings, app: ASGIApp | str, port: int | None, workers: int = 1) -> uvicorn.Config:
    """``app``: the application, or the import string of a factory making it."""
    return uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port if port is None else port,
        workers=workers,
        http=HttpProtocol,
        factory=isinstance(app, str),
        log_config=None,
        access_log=False,
        lifespan="on",
    )


def server(settings: Settings, port: int | None = None) -> uvicorn.Server:
    return uvicorn.Server(_config(settings, create_app(settings), port))


async def serve(settings: Settings) -> bool:
    """One process on this event loop; False if the application did not start."""
    api = server(settings)
    try:
        await api.serve()
    except SystemExit as stop:
        # uvicorn's own exit when the application's startup fails (logged).
        if stop.code != STARTUP_FAILURE:
            raise
    return api.started


def child_app() -> ASGIApp:
    """One child's application (``factory``): a spawned process starts afresh,
    so it reads its settings from the environment the parent passed on and
    configures its logging."""
    _stop_with_supervisor()
    settings = Settings.from_env()
    configure(settings.log_format, settings.log_level)
    return create_app(settings)


def _stop_with_supervisor() -> None:
    """SIGTERM this child when the supervisor dies, however it died (SIGKILL
    included): no API process outlives it (it finishes its requests first)."""
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    if prctl is None or prctl(_PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        return  # not Linux: the supervisor's own stop still stops every child
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        sys.exit("the supervisor stopped before this API process started")


class Supervisor(Multiprocess):
    """uvicorn's supervisor; a child it replaced is marked dead for the
    metrics, so its requests in progress no longer count (its counters do)."""

    def keep_subprocess_alive(self) -> None:
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]

    def started(self) -> bool:
        """False when a child failed before serving (the supervisor then stopped)."""
        return all(process.exitcode != STARTUP_FAILURE for process in self.processes)


def supervise(settings: Settings, workers: int) -> bool:
    """Serve with ``workers`` processes until SIGTERM or SIGINT; False if one
    of them failed to start (its error is logged)."""
    metrics_dir = tempfile.mkdtemp(prefix="billing-api-metrics-")
    os.environ[METRICS_DIR_VARIABLE] = metrics_dir
    try:
        config = _config(settings, f"{__name__}:child_app", None, workers)
        socket = config.bind_socket()
        try:
            supervisor = Supervisor(config, sockets=[socket])
            supervisor.run()
        finally:
            socket.close()
        return supervisor.started()
    finally:
        del os.environ[METRICS_DIR_VARIABLE]
        shutil.rmtree(metrics_dir, ignore_errors=True)
