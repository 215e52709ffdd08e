"""What each process costs while a benchmark runs, from /proc: CPU time
(utime + stime deltas of /proc/<pid>/stat) and peak RSS (VmHWM of
/proc/<pid>/status). When a target is missed, the CPU table shows what bounds
it: on 2 cores shared by Kafka, PostgreSQL and the service, the busiest
process is usually the limit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.25


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of the process, in clock ticks (None if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces: fields start after the last ')'.
    fields = text.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def machine_ticks() -> tuple[int, int]:
    """(busy, idle) clock ticks of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    # user nice system idle iowait irq softirq steal (guest time is inside user).
    return sum(fields[:8]) - idle, idle


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def status_kb(pid: int, field: str) -> int | None:
    """A ``kB`` field of /proc/<pid>/status (VmHWM: peak RSS, VmRSS: RSS now)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command name) of every process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        found.append((int(entry.name), int(text.rpartition(")")[2].split()[1]), name))
    return found


OTHER_DATABASES = "postgres backends (other databases)"


def postgres_group(pid: int, database: str | None) -> str:
    """Which kind of PostgreSQL process this is, from its title
    (``postgres: billing bench_x 127.0.0.1(5432) idle`` for a backend)."""
    title = command_line(pid)
    if database and f" {database} " in f" {title} ":
        return "postgres backends (benchmark database)"
    parts = title.split()
    if len(parts) >= 3 and parts[0] == "postgres:" and "(" in title:
        return OTHER_DATABASES
    return "postgres background (WAL, checkpoints, autovacuum)"


class CpuShare(msgspec.Struct, frozen=True):
    group: str
    cpu_percent: float  # of one core: 200 is both cores of a 2-core machine
    processes: int


OTHERS = "everything else on the machine (kernel, other users' processes)"
IDLE = "idle"

Groups = Callable[[], dict[int, str]]


class CpuSampler:
    """Samples the CPU time of groups of processes during a measured window.

    ``groups`` is called at every sample and maps each pid of interest to its
    group name, so processes that start, or PostgreSQL backends that connect,
    during the window are counted from their start."""

    def __init__(self, groups: Groups) -> None:
        self.groups = groups
        self._first: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._group: dict[int, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._machine_start = (0, 0)
        self._machine_stop = (0, 0)
        self.started = 0.0
        self.stopped = 0.0

    def _sample(self, initial: bool = False) -> None:
        for pid, group in self.groups().items():
            ticks = cpu_ticks(pid)
            if ticks is None:
                continue
            if pid not in self._first:
                # Present at the start: count from now. Started later: from 0.
                self._first[pid] = ticks if initial else 0
            self._last[pid] = ticks
            self._group[pid] = group

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            self._sample()

    def start(self) -> None:
        self.started = time.monotonic()
        self._machine_start = machine_ticks()
        self._sample(initial=True)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> list[CpuShare]:
        self._sample()
        self.stopped = time.monotonic()
        self._machine_stop = machine_ticks()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.shares()

    def shares(self) -> list[CpuShare]:
        """CPU per group, then what the rest of the machine used (other
        people's processes share it too) and how much stayed idle."""
        elapsed = max(self.stopped - self.started, 1e-9)
        ticks: dict[str, int] = {}
        counts: dict[str, int] = {}
        for pid, group in self._group.items():
            ticks[group] = ticks.get(group, 0) + self._last[pid] - self._first[pid]
            counts[group] = counts.get(group, 0) + 1
        shares = sorted(
            (CpuShare(group, 100.0 * t / CLOCK_TICKS / elapsed, counts[group]) for group, t in ticks.items()),
            key=lambda share: -share.cpu_percent,
        )
        busy = self._machine_stop[0] - self._machine_start[0]
        idle = self._machine_stop[1] - self._machine_start[1]
        if busy or idle:
            others = max(busy - sum(ticks.values()), 0)
            shares.append(CpuShare(OTHERS, 100.0 * others / CLOCK_TICKS / elapsed, 0))
            shares.append(CpuShare(IDLE, 100.0 * idle / CLOCK_TICKS / elapsed, 0))
        return shares


def stack_groups(
    postgres_pid: int | None, kafka_pid: int | None, database: str | None, named: Callable[[], dict[int, str]]
) -> Groups:
    """The groups of a benchmark run: the named processes of the run (worker,
    API, replay …), PostgreSQL by kind, Kafka, and this harness."""

    def groups() -> dict[int, str]:
        found: dict[int, str] = {os.getpid(): "benchmark harness (load, polling)"}
        if kafka_pid:
            found[kafka_pid] = "kafka (java)"
        if postgres_pid:
            found[postgres_pid] = "postgres background (WAL, checkpoints, autovacuum)"
        for pid, parent, name in processes():
            if postgres_pid and parent == postgres_pid:
                found[pid] = postgres_group(pid, database)
            elif name == "wrk" and parent == os.getpid():
                found[pid] = "wrk (HTTP load generator)"
        found.update(named())
        return found

    return groups


def cpu_per_event(shares: Sequence[CpuShare], seconds: float, events: int) -> list[tuple[str, float]]:
    """Each process group's CPU in microseconds per event over a run of
    ``seconds`` that handled ``events``, then the sum of the run's own groups
    (the machine's other users, other databases' backends and the idle time
    left out of it)."""
    own = [
        (s.group, s.cpu_percent / 100 * seconds * 1e6 / max(events, 1)) for s in shares if s.group not in (OTHERS, IDLE)
    ]
    total = sum(v for group, v in own if group != OTHER_DATABASES)
    return [*own, ("all of the run's processes", total)]
