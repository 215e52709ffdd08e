"""The stack as a whole: start, stop, kill and the status of its components."""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from deploy.local.config import (
    COMPONENTS,
    HOST,
    env_mapping,
    external,
    kafka_port,
    layout,
    pg_port,
    select_components,
)
from deploy.local.errors import StackError
from deploy.local.kafka import kafka_begin, kafka_pid, kafka_stop
from deploy.local.postgres import postgres_begin, postgres_pid, postgres_stop
from deploy.local.processes import (
    DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
    port_open,
    say,
    state_lock,
    wait_gone,
)


@dataclasses.dataclass(frozen=True)
class ComponentStatus:
    """What ``status`` knows about one component."""

    name: str
    # running: pid alive and port accepting; starting: pid alive, port not yet
    # accepting; stopped: no live process; external: not managed here.
    state: Literal["running", "starting", "stopped", "external"]
    pid: int | None
    address: str
    log: Path | None
    reachable: bool

    @property
    def running(self) -> bool:
        return self.reachable and self.state in ("running", "external")

    def line(self) -> str:
        pid = str(self.pid) if self.pid is not None else "-"
        log = str(self.log) if self.log is not None else "-"
        if self.state == "external":
            state = "external (reachable)" if self.reachable else "external (UNREACHABLE)"
        else:
            state = self.state
        return f"{self.name:<9} {state:<22} pid={pid:<8} address={self.address}  log={log}"


def start(components: Sequence[str] = COMPONENTS, timeout: float = DEFAULT_START_TIMEOUT) -> dict[str, str]:
    """Bring the requested components up (idempotent); returns the BILLING_* env mapping."""
    wanted = select_components(components)
    begins: dict[str, Callable[[float], Callable[[], None]]] = {"kafka": kafka_begin, "postgres": postgres_begin}
    with state_lock():
        waiters = []
        for name in wanted:
            address = external(name)
            if address is not None:
                say(f"{name} is external ({address}); not starting it")
                continue
            # Launch everything first and wait afterwards, so PostgreSQL initialises
            # while the JVM boots.
            waiters.append(begins[name](timeout))
        # PostgreSQL is ready long before Kafka: waiting for it first keeps its
        # reported start-up time honest.
        for wait in reversed(waiters):
            wait()
    return env_mapping()


def stop(components: Sequence[str] = COMPONENTS, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
    """Stop the requested components (logs and data are kept)."""
    wanted = select_components(components)
    with state_lock():
        for name in wanted:
            if external(name) is not None:
                say(f"{name} is external; not stopping it")
            elif name == "kafka":
                kafka_stop(timeout)
            else:
                postgres_stop("fast", timeout)


def kill(component: str, sig: int, wait: float = 0.0) -> int:
    """Send ``sig`` to a component's main process, no cleanup (fault injection); returns the pid.

    With ``wait`` > 0, also wait up to that many seconds for the process to be
    gone: after SIGTERM Kafka takes a moment, and a start() issued meanwhile
    would find it still running."""
    (name,) = select_components((component,))
    pid = kafka_pid() if name == "kafka" else postgres_pid()
    if pid is None:
        raise StackError(f"{name} is not running")
    os.kill(pid, sig)
    if wait > 0 and not wait_gone(pid, wait):
        raise StackError(f"{name} (pid {pid}) still running {wait:.0f}s after signal {sig}")
    return pid


def _external_reachable(component: str, address: str) -> bool:
    if component == "postgres":
        parsed = urllib.parse.urlsplit(address)
        return port_open(parsed.hostname or "localhost", parsed.port or 5432)
    for server in address.split(","):
        host, _, port = server.strip().rpartition(":")
        if port.isdigit() and port_open(host.strip("[]") or "localhost", int(port)):
            return True
    return False


def _redact(address: str) -> str:
    """Hide a password in a database URL before printing it."""
    parts = urllib.parse.urlsplit(address)
    if parts.password is None:
        return address
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _status_of(component: str) -> ComponentStatus:
    address = external(component)
    if address is not None:
        reachable = _external_reachable(component, address)
        return ComponentStatus(component, "external", None, _redact(address), None, reachable)
    paths = layout()
    if component == "kafka":
        pid, port, log = kafka_pid(), kafka_port(), paths.kafka_log
    else:
        pid, port, log = postgres_pid(), pg_port(), paths.pg_log
    reachable = pid is not None and port_open(HOST, port)
    state: Literal["running", "starting", "stopped"] = (
        "stopped" if pid is None else "running" if reachable else "starting"
    )
    return ComponentStatus(component, state, pid, f"{HOST}:{port}", log, reachable)


def status(components: Sequence[str] = COMPONENTS) -> dict[str, ComponentStatus]:
    return {name: _status_of(name) for name in select_components(components)}
