"""The Markdown report: machine facts, every figure as the median of its runs
(with the run count), each target met or not, each ratio, and the CPU tables
that show what bounds a missed target. Pure: results in, text out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from bench import before
from bench.procstat import IDLE, OTHER_DATABASES, OTHERS, CpuShare, cpu_per_event
from bench.stats import median, ratio

if TYPE_CHECKING:
    from bench.freshness import FreshnessResult
    from bench.run import IngestSection, Results

# The targets of the issues (the write path's: one worker and a rebuild on
# this 2-core machine).
INGEST_MIN_RATE = 25_000
INGEST_MIN_RATIO = 20
REPLAY_MIN_RATE = 100_000
MAX_RSS_MB = 500
# Issue 16: the whole pipeline's CPU (service, PostgreSQL, Kafka) per ingested event.
INGEST_MAX_CPU_US = 45
READ_MAX_P99_MS = 10
READ_MIN_RPS = 3_000
READ_MIN_RATIO = 20
READ_TARGET_INVOICES = 1_000_000
FRESHNESS_MAX_P99_MS = 500
# Point in time: its p50 at most this many times the current state's, at
# least READ_MIN_RATIO times faster than recomputing from the event store;
# ingest with the timelines within 15% of the code before them.
POINT_IN_TIME_MAX_RATIO = 5
INGEST_MIN_SHARE_OF_BEFORE = 0.85
# Filtered summaries the filter cells answer: p99 at most, and at least this
# many times faster than aggregating the invoice rows; the others are reported.
FILTERED_MAX_P99_MS = 20
FILTERED_MIN_RATIO = 10
FILTERED = "filtered summary"  # status + due date
FILTERED_STATUS = "filtered: status"
FILTERED_ISSUED = "filtered: currency + issue dates"
FILTERED_CUSTOMER = "filtered: customer"
FILTERED_SEARCH = "filtered: search"
FILTERED_FROM_CELLS = (FILTERED, FILTERED_STATUS, FILTERED_ISSUED)
FILTERED_FROM_ROWS = (FILTERED_CUSTOMER, FILTERED_SEARCH)
# Per read endpoint: (p99 at most, requests/s at least, baseline p50 ÷ product p50 at least); None: no target.
READ_TARGETS: dict[str, tuple[float | None, float | None, float | None]] = {
    "unfiltered summary": (READ_MAX_P99_MS, READ_MIN_RPS, READ_MIN_RATIO),
    "per-customer summary": (READ_MAX_P99_MS, READ_MIN_RPS, READ_MIN_RATIO),
    **dict.fromkeys(FILTERED_FROM_CELLS, (FILTERED_MAX_P99_MS, None, FILTERED_MIN_RATIO)),
    **dict.fromkeys(FILTERED_FROM_ROWS, (None, None, None)),
}

# The read "endpoint" that only the baseline app serves (bench/read.py).
FLOOR = "HTTP floor (constant body, no database)"
# The /v1 summaries measured now and in the past; the baseline recomputes
# each from the event store (bench/recompute.py).
V1_CURRENT = "v1 summary, current state"
V1_AS_OF = "v1 summary, asOf month-end"
V1_CLOSE = "v1 summary, asOf + knownAt at the close"
V1_MIDDLE = "v1 summary, asOf + knownAt mid-range"
POINT_IN_TIME = (V1_AS_OF, V1_CLOSE, V1_MIDDLE)
V1_SUMMARIES = (V1_CURRENT, *POINT_IN_TIME)


class Line(msgspec.Struct, frozen=True):
    """One row of the summary: a figure, or a target check of one."""

    figure: str
    value: str
    runs: str
    target: str = ""
    met: bool | None = None  # None: no target, or not measured


def number(value: float | None, digits: int = 0) -> str:
    """1234567.8 -> '1,234,568'; None -> 'n/a'."""
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def milliseconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f} ms" if value < 100 else f"{value:,.0f} ms"


def times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}×"


def verdict(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "n/a"}[met]


def publish(text: str, path: Path) -> int:
    """A profile's table: printed, and kept in the report folder; exit code 0."""
    print(text)
    path.write_text(text + "\n")
    return 0


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table; cells are str()-ed and pipes escaped."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def runs_text(count: int) -> str:
    return f"median of {count}" if count > 1 else "1 run"


def _med(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present else None


def cpu_table(shares: Sequence[CpuShare], cores: int) -> str:
    """Each group's CPU, the total of the benchmark's own processes, then
    what the rest of the machine used and the idle time: a saturated group
    (near 100% of one core for a single-threaded process) or no idle left
    is what bounds a figure."""
    own = [s for s in shares if s.group not in (OTHERS, IDLE)]
    rest = [s for s in shares if s.group in (OTHERS, IDLE)]
    rows: list[tuple[Any, ...]] = [
        (s.group, s.processes, f"{s.cpu_percent:.0f}%", f"{s.cpu_percent / max(cores, 1):.0f}%")
        for s in own
        if s.cpu_percent >= 0.5
    ]
    total = sum(s.cpu_percent for s in own)
    rows.append(("**benchmark and stack processes**", "", f"{total:.0f}%", f"{total / max(cores, 1):.0f}%"))
    rows += [(s.group, "", f"{s.cpu_percent:.0f}%", f"{s.cpu_percent / max(cores, 1):.0f}%") for s in rest]
    return table(("process group", "processes", "CPU (% of one core)", f"share of the {cores} cores"), rows)


CPU_KINDS = ("service (python)", "PostgreSQL", "Kafka", "harness and API")


def cpu_kinds(shares: Sequence[CpuShare], seconds: float, events: int) -> dict[str, float]:
    """CPU µs per event by kind of process: the service's worker or replay
    processes, PostgreSQL (backends and background), Kafka, the harness and
    the API that watch the run; then all of them. Backends of other databases
    are other people's work on a shared server: left out."""
    found = dict.fromkeys(CPU_KINDS, 0.0)
    for group, us in cpu_per_event(shares, seconds, events)[:-1]:
        if group == OTHER_DATABASES:
            continue
        if group.startswith("postgres"):
            found["PostgreSQL"] += us
        elif group.startswith("kafka"):
            found["Kafka"] += us
        elif "harness" in group or "api" in group:
            found["harness and API"] += us
        else:
            found["service (python)"] += us
    # What the pipeline costs: the watchers are the benchmark's, not the service's.
    found["all"] = found["service (python)"] + found["PostgreSQL"] + found["Kafka"]
    return found


def cpu_per_event_table(rows: Sequence[tuple[str, Sequence[CpuShare], float, int]]) -> str:
    """One row per (run, CPU shares, seconds, events): µs per event by kind."""
    body = []
    for label, shares, seconds, events in rows:
        kinds = cpu_kinds(shares, seconds, events)
        body.append((label, *(f"{kinds[k]:.1f}" for k in (*CPU_KINDS, "all"))))
    return table(("run", *(f"{k} µs/event" for k in CPU_KINDS), "service + PostgreSQL + Kafka µs/event"), body)


def _endpoint(results: Results, endpoint: str, app: str) -> list[Any]:
    if results.read is None:
        return []
    return next((e.runs for e in results.read.endpoints if e.endpoint == endpoint and e.app == app), [])


def before_name(section: IngestSection) -> tuple[str, bool]:
    """What the other commit of an ingest comparison is called, and whether
    it is the default, the code before the timelines."""
    timelines = section.before_rev is None or before.DEFAULT_REV in section.before_rev
    return ("before the timelines" if timelines else f"commit {section.before_rev}"), timelines


def ingest_before_lines(results: Results) -> list[Line]:
    """Ingest now against another commit's code (by default the one before
    the timelines, which the target is about), same stream, runs
    interleaved; a clear line when it could not be measured."""
    section = results.ingest
    if section is None or (section.before_rev is None and section.before_skipped is None):
        return []
    name, timelines = before_name(section)
    target = f"≥ {INGEST_MIN_SHARE_OF_BEFORE:.2f}× (within {1 - INGEST_MIN_SHARE_OF_BEFORE:.0%})" if timelines else ""
    if not section.before:
        reason = section.before_skipped or "no run finished"
        return [Line(f"Ingest now ÷ {name}", f"not measured: {reason}", "", target, None)]
    before_rate = _med([r.events_per_second for r in section.before])
    now = _med([r.events_per_second for r in section.runs])
    r = ratio(now or 0, before_rate or 0)
    return [
        Line(
            f"Ingest {name}" + (f" (commit {section.before_rev})" if timelines else "") + ", 1 worker (events/s)",
            number(before_rate),
            runs_text(len(section.before)),
        ),
        Line(
            f"Ingest now ÷ {name} (same stream, runs interleaved)",
            f"{r:.3f}×" if r is not None else "n/a",
            "ratio of the medians",
            target,
            None if r is None or not timelines else r >= INGEST_MIN_SHARE_OF_BEFORE,
        ),
    ]


def _runs_of(results: Results, endpoint: str, app: str) -> Any:
    """The EndpointRuns of one endpoint and app, or None."""
    if results.read is None:
        return None
    return next((e for e in results.read.endpoints if e.endpoint == endpoint and e.app == app), None)


def _p50(runs: Sequence[Any]) -> float | None:
    return _med([r.p50_ms for r in runs])


def point_in_time_lines(results: Results) -> list[Line]:
    """The /v1 summary now and in the past, product and event-store baseline:
    the past's p50 against the present's (both loaded alike), and the
    baseline's against the product's one request at a time (the baseline
    takes seconds a request: see bench/read.py)."""
    if results.read is None:
        return []
    current = _runs_of(results, V1_CURRENT, "product")
    if current is None:
        return []
    invoices = results.read.dataset.invoices
    size_note = "" if invoices >= READ_TARGET_INVOICES else f" (target is at {READ_TARGET_INVOICES:,})"
    current_p50 = _p50(current.runs)
    current_idle = None if current.unloaded is None else current.unloaded.p50_ms
    lines: list[Line] = []
    for endpoint in V1_SUMMARIES:
        product, baseline = _runs_of(results, endpoint, "product"), _runs_of(results, endpoint, "baseline")
        if product is None:
            continue
        p50 = _p50(product.runs)
        idle = None if product.unloaded is None else product.unloaded.p50_ms
        lines.append(
            Line(
                f"Read {endpoint} at {invoices:,} invoices: p50 / p99 / req/s (1 connection: p50)",
                f"{milliseconds(p50)} / {milliseconds(_med([r.p99_ms for r in product.runs]))} / "
                f"{number(_med([r.requests_per_second for r in product.runs]))} ({milliseconds(idle)})",
                runs_text(len(product.runs)),
            )
        )
        if endpoint != V1_CURRENT:
            r = ratio(p50 or 0, current_p50 or 0)
            lines.append(
                Line(
                    f"Read {endpoint}: p50 ÷ current-state p50 "
                    f"(1 connection: {times(ratio(idle or 0, current_idle or 0))})",
                    times(r),
                    "ratio of the medians",
                    f"≤ {POINT_IN_TIME_MAX_RATIO}×{size_note}",
                    None if r is None else r <= POINT_IN_TIME_MAX_RATIO,
                )
            )
        if baseline is None:
            continue
        b_idle = None if baseline.unloaded is None else baseline.unloaded.p50_ms
        lines.append(
            Line(
                f"Read {endpoint}: event-store baseline p50 / p99 / req/s at {baseline.connections} connection(s) "
                "(1 connection: p50)",
                f"{milliseconds(_p50(baseline.runs))} / {milliseconds(_med([r.p99_ms for r in baseline.runs]))} / "
                f"{number(_med([r.requests_per_second for r in baseline.runs]), 1)} ({milliseconds(b_idle)})",
                runs_text(len(baseline.runs)),
            )
        )
        r = ratio(b_idle or 0, idle or 0)
        targeted = endpoint != V1_CURRENT
        lines.append(
            Line(
                f"Read {endpoint}: baseline p50 ÷ product p50, 1 connection",
                times(r),
                "1 run each",
                f"≥ {READ_MIN_RATIO}×{size_note}" if targeted else "",
                (r is not None and r >= READ_MIN_RATIO) if targeted else None,
            )
        )
    return lines


def summary_lines(results: Results) -> list[Line]:
    """Every headline figure with its target, in the report's order."""
    lines: list[Line] = []
    if results.ingest is not None and results.ingest.runs:
        runs = results.ingest.runs
        rate = _med([r.events_per_second for r in runs])
        lines.append(
            Line(
                "Ingest, 1 worker (events/s)",
                number(rate),
                runs_text(len(runs)),
                f"≥ {INGEST_MIN_RATE:,}",
                None if rate is None else rate >= INGEST_MIN_RATE,
            )
        )
        rss = _med([r.peak_rss_mb for r in runs])
        lines.append(
            Line(
                "Ingest worker peak RSS (MB)",
                number(rss),
                runs_text(len(runs)),
                f"≤ {MAX_RSS_MB}",
                None if rss is None else rss <= MAX_RSS_MB,
            )
        )
        middle = _median_run(runs, lambda r: r.events_per_second or 0)
        if middle.cpu:
            cpu_us = cpu_kinds(middle.cpu, middle.wall_seconds, middle.events)["all"]
            lines.append(
                Line(
                    "Ingest CPU per event, service + PostgreSQL + Kafka (µs)",
                    f"{cpu_us:.0f}",
                    "median run",
                    f"≤ {INGEST_MAX_CPU_US}",
                    cpu_us <= INGEST_MAX_CPU_US,
                )
            )
        lines += ingest_before_lines(results)
        if results.ingest.baseline:
            base = _med([b.events_per_second for b in results.ingest.baseline])
            lines.append(
                Line(
                    "Baseline projector, one transaction per event (events/s)",
                    number(base),
                    runs_text(len(results.ingest.baseline)),
                )
            )
            r = ratio(rate or 0, base or 0)
            lines.append(
                Line(
                    "Ingest ÷ baseline",
                    times(r),
                    "ratio of the medians",
                    f"≥ {INGEST_MIN_RATIO}×",
                    None if r is None else r >= INGEST_MIN_RATIO,
                )
            )
    for size in results.replay or []:
        if not size.runs:
            continue
        rate = _med([r.events_per_second for r in size.runs])
        lines.append(
            Line(
                f"Replay {size.events:,} events (events/s)",
                number(rate),
                runs_text(len(size.runs)),
                f"≥ {REPLAY_MIN_RATE:,}",
                None if rate is None else rate >= REPLAY_MIN_RATE,
            )
        )
        rss = _med([r.peak_rss_mb for r in size.runs])
        lines.append(
            Line(
                f"Replay {size.events:,}: peak RSS (MB)",
                number(rss),
                runs_text(len(size.runs)),
                f"≤ {MAX_RSS_MB}",
                None if rss is None else rss <= MAX_RSS_MB,
            )
        )
        pause = max(r.reader.max_ms for r in size.runs)
        failed = sum(r.reader.failures for r in size.runs)
        lines.append(
            Line(
                f"Replay {size.events:,}: longest API read during replay + promote",
                f"{milliseconds(pause)} (p99 {milliseconds(_med([r.reader.p99_ms for r in size.runs]))}, "
                f"{failed} failed reads)",
                f"max over {len(size.runs)} run(s)",
            )
        )
    if results.read is not None:
        invoices = results.read.dataset.invoices
        at = f" at {invoices:,} invoices"
        size_note = "" if invoices >= READ_TARGET_INVOICES else f" (target is at {READ_TARGET_INVOICES:,})"
        for endpoint, (max_p99, min_rps, min_ratio) in READ_TARGETS.items():
            product, baseline = _endpoint(results, endpoint, "product"), _endpoint(results, endpoint, "baseline")
            if not product:
                continue
            p50 = _med([r.p50_ms for r in product])
            p99 = _med([r.p99_ms for r in product])
            rps = _med([r.requests_per_second for r in product])
            n = runs_text(len(product))
            lines.append(Line(f"Read {endpoint}{at}: p50", milliseconds(p50), n))
            lines.append(
                Line(
                    f"Read {endpoint}{at}: p99",
                    milliseconds(p99),
                    n,
                    f"≤ {max_p99:g} ms{size_note}" if max_p99 else "",
                    (p99 is not None and p99 <= max_p99) if max_p99 else None,
                )
            )
            lines.append(
                Line(
                    f"Read {endpoint}{at}: requests/s",
                    number(rps),
                    n,
                    f"≥ {min_rps:,g}{size_note}" if min_rps else "",
                    (rps is not None and rps >= min_rps) if min_rps else None,
                )
            )
            if baseline:
                b50 = _med([r.p50_ms for r in baseline])
                brps = _med([r.requests_per_second for r in baseline])
                lines.append(
                    Line(
                        f"Read {endpoint}{at}: baseline (request-time aggregation) p50 / p99 / req/s",
                        f"{milliseconds(b50)} / {milliseconds(_med([r.p99_ms for r in baseline]))} / {number(brps)}",
                        runs_text(len(baseline)),
                    )
                )
                r = ratio(b50 or 0, p50 or 0)
                lines.append(
                    Line(
                        f"Read {endpoint}: baseline p50 ÷ product p50 "
                        f"(req/s ratio {times(ratio(rps or 0, brps or 0))})",
                        times(r),
                        "ratio of the medians",
                        f"≥ {min_ratio:g}×{size_note}" if min_ratio else "",
                        (r is not None and r >= min_ratio) if min_ratio else None,
                    )
                )
        lines += point_in_time_lines(results)
        floor = _endpoint(results, FLOOR, "baseline")
        if floor:
            lines.append(
                Line(
                    f"Read: {FLOOR}, one Litestar process: p50 / p99 / req/s",
                    f"{milliseconds(_med([r.p50_ms for r in floor]))} / "
                    f"{milliseconds(_med([r.p99_ms for r in floor]))} / "
                    f"{number(_med([r.requests_per_second for r in floor]))}",
                    runs_text(len(floor)),
                )
            )
    if results.freshness is not None:
        f = results.freshness
        lines.append(
            Line(
                f"Freshness at {f.achieved_rate:,.0f} events/s: p50",
                milliseconds(f.p50_ms),
                f"{f.visible} sampled events, 1 run",
            )
        )
        lines.append(
            Line(
                f"Freshness at {f.achieved_rate:,.0f} events/s: p99",
                milliseconds(f.p99_ms),
                f"{f.visible} sampled events, 1 run",
                f"≤ {FRESHNESS_MAX_P99_MS} ms",
                f.p99_ms <= FRESHNESS_MAX_P99_MS and f.visible == f.samples,
            )
        )
        loaded = f.under_load
        if loaded is not None and loaded.load is not None:
            lines.append(
                Line(
                    f"Freshness at {loaded.achieved_rate:,.0f} events/s while the API serves "
                    f"{loaded.load.requests_per_second:,.0f} reads/s: p99",
                    milliseconds(loaded.p99_ms),
                    f"{loaded.visible} sampled events, 1 run",
                    f"≤ {FRESHNESS_MAX_P99_MS} ms",
                    loaded.p99_ms <= FRESHNESS_MAX_P99_MS and loaded.visible == loaded.samples,
                )
            )
    for workers, runs in sorted((results.scaling or {}).items(), key=lambda kv: int(kv[0])):
        if runs:
            lines.append(
                Line(
                    f"Scaling: ingest with {workers} worker(s) (events/s)",
                    number(_med([r.events_per_second for r in runs])),
                    runs_text(len(runs)),
                )
            )
    for point in results.read_scaling or []:
        lines.append(
            Line(
                f"Scaling: unfiltered summary at {point.invoices:,} invoices, p50 / p99 (baseline p50)",
                f"{milliseconds(_med([r.p50_ms for r in point.product]))} / "
                f"{milliseconds(_med([r.p99_ms for r in point.product]))} "
                f"({milliseconds(_med([r.p50_ms for r in point.baseline]))})",
                runs_text(len(point.product)),
            )
        )
    return lines


def _machine(results: Results) -> str:
    m = results.machine
    rows = [
        ("CPU", f"{m.cpu_model}, {m.cores} cores"),
        ("memory", f"{m.memory_gib} GiB"),
        ("kernel", m.kernel),
        ("Python", m.python),
        ("PostgreSQL", m.postgresql),
        ("Kafka", m.kafka),
        ("load average at start", " / ".join(f"{x:.2f}" for x in m.load_average_at_start)),
        (
            "code measured",
            f"commit {m.commit}"
            + (
                f" plus {m.product_changes_uncommitted} uncommitted file(s) in contracts/, projections/, services/"
                if m.product_changes_uncommitted
                else ""
            ),
        ),
        ("HTTP load generator", f"{results.load_tool} ({results.load_tool_note})"),
    ]
    return table(("", ""), rows)


def _ingest(results: Results) -> list[str]:
    section = results.ingest
    if section is None:
        return []
    cores = results.machine.cores
    out = ["## 1. Ingest", ""]
    s = section.stream
    out.append(
        f"{s.events:,} records published beforehand to a 4-partition topic (in {s.publish_seconds:.0f} s; not "
        "measured): invoice histories of 100 tenants (Zipf), ~20 invoices per customer, EUR/USD/GBP/JPY/KWD, "
        "partial payments and voids, due dates from 120 days ago to 45 days ahead, ~2% duplicates and ~1% late "
        "events. Each run: a fresh database, `billing worker` as a subprocess (service defaults), and the "
        "harness polling `/invoices/summary`'s `X-Projection-Position` every 20 ms. The rate is measured from "
        "5% to 100% of the stream visible in the API (leaves out process start and the group's first rebalance); "
        "the wall time is from spawning the worker to all visible."
    )
    out.append("")
    rows = [
        (
            i + 1,
            number(r.events_per_second),
            f"{r.wall_seconds:.1f} s",
            number(r.peak_rss_mb),
            f"{r.invoices:,}",
            ", ".join(f"{k} {v:,}" for k, v in r.outcomes.items()),
        )
        for i, r in enumerate(section.runs)
    ]
    out += [table(("run", "events/s", "wall", "peak RSS (MB)", "invoices", "outcomes"), rows), ""]
    name, _ = before_name(section)
    if section.before:
        out.append(
            f"**{name[0].upper()}{name[1:]}**: the same stream, each run into a fresh database migrated by the code of "
            f"commit {section.before_rev} (its `billing worker` and API run from that commit's tree, "
            "materialised with `git archive`, with the same virtualenv), runs interleaved with the ones above "
            "(before, now, before, now…):"
        )
        out.append("")
        before_rows = [
            (i + 1, number(r.events_per_second), f"{r.wall_seconds:.1f} s", number(r.peak_rss_mb), f"{r.invoices:,}")
            for i, r in enumerate(section.before)
        ]
        out += [table(("run", "events/s", "wall", "peak RSS (MB)", "invoices"), before_rows), ""]
        middle_before = _median_run(section.before, lambda r: r.events_per_second or 0)
        out += [f"CPU during the median run of {name}:", "", cpu_table(middle_before.cpu, cores), ""]
    elif section.before_skipped:
        out += [f"**{name[0].upper()}{name[1:]}**: not measured — {section.before_skipped}.", ""]
    waiting = [r.outcomes.get("held", 0) - r.outcomes.get("released", 0) for r in section.runs]
    if any(waiting):
        out += [
            f"Held and not released at the end ({max(waiting)}): late events whose predecessor lies past the "
            "end of the stream, which is cut at exactly the record count; they wait, as they should.",
            "",
        ]
    if section.baseline:
        out.append(
            f"**Baseline** (bench/baseline_projector.py: one transaction per event — read the invoice row, "
            f"update it and the per-currency and per-customer counters, store the offset) on the first "
            f"{section.baseline[0].events:,} records of the same stream, same broker and database server:"
        )
        out.append("")
        baseline_rows = [
            (i + 1, number(b.events_per_second), f"{b.wall_seconds:.1f} s", f"{b.invoices:,}")
            for i, b in enumerate(section.baseline)
        ]
        out += [table(("run", "events/s", "wall", "invoices"), baseline_rows), ""]
    if section.runs:
        middle = _median_run(section.runs, lambda r: r.events_per_second or 0)
        out += ["CPU during the median ingest run (1 worker):", "", cpu_table(middle.cpu, cores), ""]
        per_event = [("now, median run", middle.cpu, middle.wall_seconds, middle.events)]
        if section.before:
            earlier = _median_run(section.before, lambda r: r.events_per_second or 0)
            per_event.append((f"{section.before_rev}, median run", earlier.cpu, earlier.wall_seconds, earlier.events))
        if section.baseline:
            base = _median_run(section.baseline, lambda r: r.events_per_second or 0)
            per_event.append(("baseline projector, median run", base.cpu, base.wall_seconds, base.events))
        out += [
            "CPU per event (each group's CPU over the run's wall time ÷ its events; `make bench-profile` breaks the "
            "worker's and PostgreSQL's down by stage and statement):",
            "",
            cpu_per_event_table(per_event),
            "",
        ]
    if section.baseline:
        middle_b = _median_run(section.baseline, lambda r: r.events_per_second or 0)
        out += ["CPU during the median baseline run:", "", cpu_table(middle_b.cpu, cores), ""]
    return out


def _median_run(runs: Sequence[Any], key: Any) -> Any:
    ordered = sorted(runs, key=key)
    return ordered[(len(ordered) - 1) // 2]


def _replay(results: Results) -> list[str]:
    if not results.replay:
        return []
    cores = results.machine.cores
    out = ["## 2. Replay", ""]
    out.append(
        "The event store is COPYed in beforehand (not measured): the same kind of histories in append order, "
        "partition = a stable hash of the invoice id mod 4. Each run is `billing replay --promote` as a "
        "subprocess, timed from spawn to exit; the retired version is dropped between runs. Peak RSS: the "
        "`VmHWM` (/proc/<pid>/status) of the replay process and of each of its share processes, read every "
        "100 ms while they run, summed. Meanwhile one "
        "client reads `/invoices/summary` back to back; its slowest read is the longest pause readers saw. "
        "The first run switches away from an empty version, later runs from a full one."
    )
    out.append("")
    for size in results.replay:
        out.append(f"### {size.events:,} events ({size.invoices:,} invoices; loaded in {size.load_seconds:.0f} s)")
        out.append("")
        rows = [
            (
                i + 1,
                number(r.events_per_second),
                f"{r.seconds:.1f} s",
                number(r.peak_rss_mb),
                milliseconds(r.switch_ms),
                f"{r.live_invoices_before:,}",
                r.reader.reads,
                milliseconds(r.reader.p99_ms),
                milliseconds(r.reader.max_ms),
                r.reader.failures,
            )
            for i, r in enumerate(size.runs)
        ]
        out += [
            table(
                (
                    "run",
                    "events/s",
                    "time",
                    "peak RSS (MB)",
                    "switch",
                    "live invoices before",
                    "reads",
                    "read p99",
                    "read max",
                    "failed reads",
                ),
                rows,
            ),
            "",
        ]
        for i, run in enumerate(size.runs):
            if run.reader.failure_examples:
                out.append("Failed reads, e.g.: " + "; ".join(run.reader.failure_examples))
            if run.slow_reads:
                out.append(
                    f"Run {i + 1}, slowest reads (seconds after the start: time, replay step): "
                    + "; ".join(f"{r.at_seconds:.1f} s: {milliseconds(r.ms)}, {r.step}" for r in run.slow_reads)
                )
        if any(run.slow_reads for run in size.runs):
            out.append("")
        if size.runs:
            middle = _median_run(size.runs, lambda r: r.events_per_second)
            out += ["CPU during the median run:", "", cpu_table(middle.cpu, cores), ""]
            out += [
                "CPU per event of the median run:",
                "",
                cpu_per_event_table([(f"replay {size.events:,}", middle.cpu, middle.seconds, middle.events)]),
                "",
            ]
    return out


def _read(results: Results) -> list[str]:
    if results.read is None:
        return []
    cores = results.machine.cores
    data = results.read.dataset
    sizes = results.sizes
    out = ["## 3. Read", ""]
    out.append(
        f"{data.invoices:,} invoices loaded (in {data.load_seconds:.0f} s, not measured); the queried tenant has "
        f"{data.tenant_invoices:,}. One `billing api` process and one baseline app (bench/baseline_api.py: "
        "Litestar + asyncpg on the product's pool, event loop and response builders, "
        "aggregating the invoice rows at request time), both on loopback, "
        f"loaded by {results.load_tool}: {sizes.read_connections} connections, 2 threads, "
        f"{sizes.read_seconds:g} s per run after a 1 s warm-up, runs alternating between the two apps. "
        f"Per-customer requests spread over {data.customers_queried} customers of the tenant. "
        f"Both apps give identical answers: **{'yes' if data.identical_answers else 'NO'}**."
    )
    for difference in data.differences[:5]:
        out.append(f"- difference: {difference}")
    out.append("")
    out += _point_in_time_data(results)
    rows = []
    for endpoint in (*READ_TARGETS, *V1_SUMMARIES, FLOOR):
        for app in ("product", "baseline"):
            found = _runs_of(results, endpoint, app)
            if found is None or not found.runs:
                continue
            runs, idle = found.runs, found.unloaded
            rows.append(
                (
                    endpoint,
                    app,
                    milliseconds(_med([r.p50_ms for r in runs])),
                    milliseconds(_med([r.p99_ms for r in runs])),
                    number(_med([r.requests_per_second for r in runs]), 1),
                    sum(r.errors for r in runs),
                    f"{runs_text(len(runs))}, {found.connections or sizes.read_connections} conn., "
                    f"{found.seconds or sizes.read_seconds:g} s",
                    "n/a" if idle is None else f"{milliseconds(idle.p50_ms)} / {milliseconds(idle.p99_ms)}",
                )
            )
    out += [
        table(
            ("endpoint", "app", "p50", "p99", "requests/s", "errors", "runs", "p50 / p99 at 1 connection (1 run)"), rows
        ),
        "",
    ]
    out += [
        "With 16 connections kept busy, latency is mostly waiting in the API's queue (about connections ÷ "
        "requests/s); the last column, one request at a time, is the time one request takes. The "
        f"{FLOOR} row is the most one Python API process serves on this machine: the baseline app "
        "answering a constant body, with no database, no key check and no metrics.",
        "",
    ]
    for e in results.read.endpoints:
        if e.endpoint == "unfiltered summary" and e.app == "product":
            out += ["CPU during the last product run of the unfiltered summary:", "", cpu_table(e.cpu, cores), ""]
    for e in results.read.endpoints:
        if e.endpoint in POINT_IN_TIME and e.cpu:
            out += [f"CPU during the last {e.app} run of the {e.endpoint}:", "", cpu_table(e.cpu, cores), ""]
    return out


def _read_processes(results: Results) -> list[str]:
    from bench.read import processes_section  # bench.read imports this module

    return processes_section(results.read, results.machine.cores)


def _point_in_time_data(results: Results) -> list[str]:
    """What the point-in-time endpoints ask of which data."""
    assert results.read is not None
    data = results.read.dataset
    if data.as_of is None or data.events is None:
        return []
    tenant_rows = data.tenant_timeline_rows or 0
    tenant_events = data.tenant_events or 0

    def share(part: int | None, whole: int) -> str:
        return "n/a" if part is None or not whole else f"{part:,} ({part / whole:.1%})"

    return [
        f"**Point in time.** The data set also holds what the worker writes for the timelines: "
        f"{data.loaded_invoices or 0:,} invoices as recorded by the load's start (histories cut there; "
        "each event recorded its emission time plus an exponential lag of ~20 s, 3% of events 1–10 days "
        f"late, later events of the invoice held behind them), {data.events:,} events in the event store "
        f"(stored_at = record time, appended in record order; {data.oldest_record} to {data.newest_record}), "
        f"{data.timeline_rows or 0:,} timeline rows and {data.payments or 0:,} payments with their record "
        "times, and the per-day and per-overdue-threshold sums filled from the timeline rows. The queried "
        f"tenant has {tenant_events:,} events and {tenant_rows:,} timeline rows. `asOf={data.as_of}` (the last "
        f"month-end); `knownAt={data.known_at_close}` (the close: the morning after the month-end, or halfway "
        f"to the newest record when that is still to come) and `knownAt={data.known_at_middle}` (the middle of "
        "the record-time range). The product answers from the summary tables and subtracts the timeline rows "
        "recorded after knownAt and dated by asOf: "
        f"{share(data.rows_unknown.get('close'), tenant_rows)} of the tenant's rows at the close, "
        f"{share(data.rows_unknown.get('middle'), tenant_rows)} at mid-range. The baseline "
        "(bench/baseline_api.py, bench/recompute.py) reads the tenant's events recorded by knownAt and folds "
        "each invoice's events dated by asOf with the service's state machine; it leaves out "
        f"{share(data.events_unknown.get('close'), tenant_events)} and "
        f"{share(data.events_unknown.get('middle'), tenant_events)} of the tenant's events. It takes seconds a "
        "request, so its runs are sized by one request's time (fewer connections, longer runs, see the runs "
        "column), and it is compared with the product one request at a time.",
        "",
    ]


def _freshness(results: Results) -> list[str]:
    f = results.freshness
    if f is None:
        return []
    return ["## 4. Freshness", "", *_paced(results, f), *_paced_under_load(results, f.under_load)]


def _paced_under_load(results: Results, f: FreshnessResult | None) -> list[str]:
    if f is None or f.load is None:
        return []
    served = f.load
    return [
        "**While the API serves the read load**: the same again (a fresh database, worker and API), with the read "
        f"benchmark's load generator ({served.tool}, {results.sizes.read_connections} connections) sending the "
        f"tenant's and {len(f.load_paths) - 2} customers' summaries to the same API process from the first paced "
        f"send for {served.seconds:.1f} s (the planned length of the paced run): "
        f"{served.requests_per_second:,.0f} requests/s, p50 {milliseconds(served.p50_ms)}, p99 "
        f"{milliseconds(served.p99_ms)}, {served.errors} errors.",
        "",
        *_paced(results, f),
    ]


def _paced(results: Results, f: FreshnessResult) -> list[str]:
    return [
        f"A paced publisher (its own process; idempotent, acks=all, linger 1 ms) sent {f.achieved_rate:,.0f} "
        f"events/s (target {f.target_rate:,}) for {f.seconds:.1f} s to a `billing worker` at service defaults. "
        f"1 event in {results.sizes.freshness_sample_every} was sampled ({f.samples}; {f.visible} seen visible): "
        "time before the send → the first `/invoices/summary` answer (polled every 5 ms, "
        f"{f.polls:,} polls) whose `X-Projection-Position` is past its offset.",
        "",
        table(
            ("p50", "p90", "p99", "max"),
            [(milliseconds(f.p50_ms), milliseconds(f.p90_ms), milliseconds(f.p99_ms), milliseconds(f.max_ms))],
        ),
        "",
        "CPU during the paced run:",
        "",
        cpu_table(f.cpu, results.machine.cores),
        "",
    ]


def _scaling(results: Results) -> list[str]:
    out: list[str] = []
    if results.scaling:
        out += [
            "## 5. Scaling",
            "",
            "Ingest of the same stream (4 partitions) with 1, 2 and 4 `billing worker` "
            "processes in one consumer group, each run into a fresh database:",
            "",
        ]
        one = _med([r.events_per_second for r in results.scaling.get("1", [])])
        rows = []
        for workers, runs in sorted(results.scaling.items(), key=lambda kv: int(kv[0])):
            rate = _med([r.events_per_second for r in runs])
            rows.append((workers, number(rate), times(ratio(rate or 0, one or 0)), runs_text(len(runs))))
        out += [table(("workers", "events/s", "vs 1 worker", "runs"), rows), ""]
        per_event = [
            (f"{workers} worker(s), median run", m.cpu, m.wall_seconds, m.events)
            for workers, runs in sorted(results.scaling.items(), key=lambda kv: int(kv[0]))
            if runs
            for m in [_median_run(runs, lambda r: r.events_per_second or 0)]
        ]
        out += ["CPU per event at each worker count:", "", cpu_per_event_table(per_event), ""]
        for workers, runs in sorted(results.scaling.items(), key=lambda kv: int(kv[0])):
            if int(workers) > 1 and runs:
                middle = _median_run(runs, lambda r: r.events_per_second or 0)
                out += [
                    f"CPU with {workers} workers (median run):",
                    "",
                    cpu_table(middle.cpu, results.machine.cores),
                    "",
                ]
    if results.read_scaling:
        if not results.scaling:
            out += ["## 5. Scaling", ""]
        out += ["Unfiltered summary latency by data size (the queried tenant holds ~20% of the invoices):", ""]
        size_rows = [
            (
                f"{p.invoices:,}",
                f"{p.tenant_invoices:,}",
                milliseconds(_med([r.p50_ms for r in p.product])),
                milliseconds(_med([r.p99_ms for r in p.product])),
                milliseconds(_med([r.p50_ms for r in p.baseline])),
                milliseconds(_med([r.p99_ms for r in p.baseline])),
                runs_text(len(p.product)),
            )
            for p in results.read_scaling
        ]
        out += [
            table(("invoices", "tenant's invoices", "p50", "p99", "baseline p50", "baseline p99", "runs"), size_rows),
            "",
        ]
    return out


def render(results: Results, charts: Sequence[str]) -> str:
    lines = summary_lines(results)
    checks = [line for line in lines if line.target]
    out = [
        f"# Benchmarks ({results.mode} mode)",
        "",
        f"Produced by `{results.command}` (`make bench{'-full' if results.mode == 'full' else ''}`) on "
        f"{results.started_at}, in {results.seconds / 60:.1f} minutes. Every figure is the median of its runs "
        "(the run count is given); every ratio compares figures measured in the same invocation.",
        "",
        "## Machine",
        "",
        _machine(results),
        "",
        "## Figures",
        "",
        table(
            ("figure", "value", "runs", "target", "status"),
            [(x.figure, x.value, x.runs, x.target, verdict(x.met) if x.target else "") for x in lines],
        ),
        "",
        f"Targets met: {sum(1 for x in checks if x.met)} of {len(checks)}.",
        "",
    ]
    if results.mode != "full":
        out += [
            "Quick mode measures smaller data than the targets name (e.g. reads at "
            f"{results.sizes.read_invoices:,} invoices, not 1,000,000): `make bench-full` for those.",
            "",
        ]
    for name, error in results.errors.items():
        out += [f"**{name} failed**:", "", "```", error.strip(), "```", ""]
    out += _ingest(results) + _replay(results) + _read(results) + _read_processes(results)
    out += _freshness(results) + _scaling(results)
    if charts:
        out += ["## Charts", ""] + [f"![{c}]({c})" for c in charts] + [""]
    return "\n".join(out)
