"""Work split into disjoint shares, each folded by its own process (a Python
fold uses one core): one coroutine per share, each process with its own event
loop and connections, progress and failures reported back to the caller's loop.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec

Progress = Callable[[int], None]
# work(*args, share, progress): the coroutine each process runs.
Work = Callable[..., Coroutine[Any, Any, None]]

# How often the caller looks at the processes' reports.
POLL_SECONDS = 0.05
# A share's process yields the cores to live work (the API answering reads,
# the workers) whenever that wants them: a rebuild is a background job.
SHARE_NICENESS = 10


class Share(msgspec.Struct, frozen=True):
    """Share ``index`` of ``count``."""

    index: int
    count: int


class ShareFailed(Exception):
    """A share's process failed; the others were stopped."""


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _main(work: Work, args: tuple[Any, ...], share: Share, reports: Any) -> None:
    def progress(done: int) -> None:
        reports.put(("progress", share.index, done))

    os.nice(SHARE_NICENESS)
    try:
        asyncio.run(work(*args, share, progress))
    except BaseException:
        reports.put(("failed", share.index, traceback.format_exc()))
        raise
    reports.put(("done", share.index, peak_rss_kb()))


async def run(work: Work, args: tuple[Any, ...], count: int, progress: Progress | None = None) -> list[int]:
    """Run ``work`` over ``count`` shares, each in a process of its own
    (spawned: this process runs an event loop a fork would copy); ``progress``
    gets the sum of the shares' progress. Returns each process's peak RSS in
    kB. Raises ShareFailed as soon as one fails; stopped (cancelled,
    interrupted), it stops them all."""
    context = multiprocessing.get_context("spawn")
    reports = context.Queue()
    processes = [
        context.Process(target=_main, args=(work, args, Share(index, count), reports), daemon=True)
        for index in range(count)
    ]
    started = []
    done: dict[int, int] = {}
    peaks: dict[int, int] = {}
    try:
        for process in processes:
            process.start()
            started.append(process)
        while len(peaks) < count:
            try:
                kind, index, value = reports.get_nowait()
            except queue.Empty:
                lost = [i for i, p in enumerate(processes) if p.exitcode not in (None, 0) and i not in peaks]
                if lost and reports.empty():
                    raise ShareFailed(f"share {lost[0]} of {count} exited {processes[lost[0]].exitcode}") from None
                await asyncio.sleep(POLL_SECONDS)
                continue
            if kind == "failed":
                raise ShareFailed(f"share {index} of {count} failed:\n{value}")
            if kind == "progress":
                done[index] = value
                if progress is not None:
                    progress(sum(done.values()))
            else:
                peaks[index] = value
    finally:
        for process in started:
            if process.is_alive():
                process.terminate()
            process.join()
        reports.close()
    return [peaks[index] for index in range(count)]
