"""The servers as processes: pid files, launching, waiting, terminating, logs and the state lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TypedDict

from deploy.local.config import HOST, layout
from deploy.local.errors import StackError

DEFAULT_START_TIMEOUT = 120.0
# A clean Kafka shutdown (controlled shutdown, flushing logs) can take ~10 s.
DEFAULT_STOP_TIMEOUT = 45.0
# Logs are appended across restarts; past this size the old one is moved to *.1.
LOG_ROTATE_BYTES = 20 * 1024 * 1024


def say(message: str) -> None:
    # Progress goes to stderr so that stdout stays parseable (``env``).
    print(f"stack: {message}", file=sys.stderr, flush=True)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
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


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split("\n", 1)[0].strip()
        return int(first) if first else None
    except (OSError, ValueError):
        return None


def owned_pid(pid_file: Path, needle: str) -> int | None:
    """The pid recorded in ``pid_file`` if that process is alive and is ours.

    "Ours" means its command line mentions ``needle`` (a path inside the state
    folder), which guards against pid reuse after a reboot or a crash."""
    pid = read_pid(pid_file)
    if pid is None or not pid_alive(pid):
        return None
    return pid if needle in cmdline(pid) else None


def tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _rotate_log(path: Path) -> None:
    if log_size(path) > LOG_ROTATE_BYTES:
        path.replace(path.with_name(path.name + ".1"))


def open_log(path: Path) -> IO[bytes]:
    """A component's log, opened for appending behind a dated separator line."""
    _rotate_log(path)
    handle = path.open("ab")
    handle.write(f"\n===== deploy.local {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
    handle.flush()
    return handle


def failure(what: str, log: Path, reason: str) -> StackError:
    shown_tail = tail(log, 25)
    shown = f"\n--- last lines of {log} ---\n{shown_tail}" if shown_tail else ""
    return StackError(f"{what}: {reason}; see {log}{shown}")


def run_logged(command: Sequence[str], log: IO[bytes]) -> subprocess.CompletedProcess[bytes]:
    """Run a one-off command to its end, its output appended to ``log``."""
    return subprocess.run(list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)


def wait_for(
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
            raise failure(what, log, "the process exited during startup")
        if time.monotonic() > deadline:
            raise failure(
                what, log, f"not ready after {timeout:.0f}s (left running; 'python -m deploy.local stop' ends it)"
            )
        time.sleep(0.2)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def terminate(pid: int, timeout: float) -> str:
    """SIGTERM, wait, then SIGKILL; returns how it ended."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_gone(pid, timeout):
        return "stopped"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_gone(pid, 10)
    return f"killed (no clean exit within {timeout:.0f}s)"


def ensure_port_free(port: int, what: str, variable: str) -> None:
    if port_open(HOST, port):
        raise StackError(
            f"{HOST}:{port} is already in use by a process this stack does not own; "
            f"stop it or pick another {what} port with {variable}=..."
        )


def launch(
    command: Sequence[str],
    log: Path,
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    run_as: tuple[int, int] | None = None,
) -> int:
    """Start a long-running server detached from this process; returns its pid.

    A new session keeps it alive after this command exits and away from the
    terminal's Ctrl-C; stdout/stderr go to its log file."""
    with open_log(log) as handle:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **as_user(run_as),
        )
    return process.pid


class UserArgs(TypedDict):
    user: int | None
    group: int | None
    extra_groups: list[int] | None


def as_user(run_as: tuple[int, int] | None) -> UserArgs:
    """subprocess arguments to run a child as (uid, gid); None keeps the current user."""
    if run_as is None:
        return {"user": None, "group": None, "extra_groups": None}
    # extra_groups=[] drops root's supplementary groups as well.
    return {"user": run_as[0], "group": run_as[1], "extra_groups": []}


@contextlib.contextmanager
def state_lock() -> Iterator[None]:
    """Serialise start/stop across processes (e.g. parallel test workers)."""
    paths = layout()
    paths.root.mkdir(parents=True, exist_ok=True)
    with paths.lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("waiting for another deploy.local run to finish…")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
