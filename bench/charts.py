"""PNG charts of the results (matplotlib, no display needed). Each function
draws one chart if its benchmark ran and returns the file name, else None."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bench import report  # noqa: E402
from bench.stats import median  # noqa: E402

if TYPE_CHECKING:
    from bench.run import Results

PRODUCT, BASELINE, TARGET = "#2b6cb0", "#c05621", "#2f855a"


def _med(values: list[float | None]) -> float:
    present = [v for v in values if v is not None]
    return median(present) if present else 0.0


def _save(fig: Figure, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name


def _label_bars(ax: Axes, bars: BarContainer, fmt: str) -> None:
    ax.bar_label(bars, labels=[fmt.format(b.get_height()) for b in bars], padding=2, fontsize=8)


def ingest_chart(results: Results, out: Path) -> str | None:
    section = results.ingest
    if section is None or not section.runs:
        return None
    names = ["billing worker\n(batched)"]
    values = [_med([r.events_per_second for r in section.runs])]
    colors = [PRODUCT]
    if section.before:
        names.insert(0, f"before the timelines\n({section.before_rev})")
        values.insert(0, _med([r.events_per_second for r in section.before]))
        colors.insert(0, "#718096")
    if section.baseline:
        names.append("baseline\n(one transaction per event)")
        values.append(_med([b.events_per_second for b in section.baseline]))
        colors.append(BASELINE)
    fig, ax = plt.subplots(figsize=(6, 4))
    bars = ax.bar(names, values, color=colors)
    _label_bars(ax, bars, "{:,.0f}")
    ax.axhline(report.INGEST_MIN_RATE, color=TARGET, linestyle="--", label=f"target {report.INGEST_MIN_RATE:,}/s")
    ax.set_ylabel("events/s (median)")
    ax.set_title(f"Ingest, {section.stream.events:,} events, 1 worker")
    ax.legend()
    return _save(fig, out, "ingest.png")


def replay_chart(results: Results, out: Path) -> str | None:
    sizes = [s for s in results.replay or [] if s.runs]
    if not sizes:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    bars = ax.bar(
        [f"{s.events:,}" for s in sizes], [_med([r.events_per_second for r in s.runs]) for s in sizes], color=PRODUCT
    )
    _label_bars(ax, bars, "{:,.0f}")
    ax.axhline(report.REPLAY_MIN_RATE, color=TARGET, linestyle="--", label=f"target {report.REPLAY_MIN_RATE:,}/s")
    ax.set_xlabel("events in the event store")
    ax.set_ylabel("events/s (median)")
    ax.set_title("Replay (billing replay --promote)")
    ax.legend()
    return _save(fig, out, "replay.png")


def read_chart(results: Results, out: Path) -> str | None:
    if results.read is None:
        return None
    endpoints = ["unfiltered summary", "per-customer summary", "filtered summary"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.38
    for ax, (field, title) in zip(axes, (("p50_ms", "p50"), ("p99_ms", "p99")), strict=True):
        for offset, app, color in ((-width / 2, "product", PRODUCT), (width / 2, "baseline", BASELINE)):
            values = []
            for endpoint in endpoints:
                runs = report._endpoint(results, endpoint, app)  # noqa: SLF001 - shared lookup
                values.append(_med([getattr(r, field) for r in runs]))
            bars = ax.bar(
                [i + offset for i in range(len(endpoints))],
                values,
                width,
                color=color,
                label="billing api (summary rows)" if app == "product" else "baseline (aggregate at request)",
            )
            _label_bars(ax, bars, "{:.1f}")
        if field == "p99_ms":
            ax.axhline(
                report.READ_MAX_P99_MS, color=TARGET, linestyle="--", label=f"target {report.READ_MAX_P99_MS} ms"
            )
        ax.set_yscale("log")
        low, high = ax.get_ylim()
        ax.set_ylim(low, high * 8)  # room above the bars for the legend
        ax.set_xticks(range(len(endpoints)), [e.replace(" ", "\n", 1) for e in endpoints])
        ax.set_ylabel("ms (log scale)")
        ax.set_title(f"{title} latency, {results.read.dataset.invoices:,} invoices")
        ax.legend(fontsize=7, loc="upper left")
    return _save(fig, out, "read.png")


def point_in_time_chart(results: Results, out: Path) -> str | None:
    """The /v1 summary now and in the past: the product loaded and one request
    at a time, the event-store baseline one request at a time."""
    if results.read is None or report._runs_of(results, report.V1_CURRENT, "product") is None:  # noqa: SLF001
        return None
    endpoints = [e for e in report.V1_SUMMARIES if report._runs_of(results, e, "product") is not None]  # noqa: SLF001
    series = (
        ("product, 16 connections", "product", False, PRODUCT),
        ("product, 1 connection", "product", True, "#90cdf4"),
        ("baseline (event store), 1 connection", "baseline", True, BASELINE),
    )
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.27
    for index, (label, app, idle, color) in enumerate(series):
        values = []
        for endpoint in endpoints:
            found = report._runs_of(results, endpoint, app)  # noqa: SLF001
            if found is None:
                values.append(0.0)
            elif idle:
                values.append(found.unloaded.p50_ms if found.unloaded and found.unloaded.p50_ms else 0.0)
            else:
                values.append(_med([r.p50_ms for r in found.runs]))
        bars = ax.bar([i + (index - 1) * width for i in range(len(endpoints))], values, width, color=color, label=label)
        _label_bars(ax, bars, "{:,.1f}")
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 8)
    ax.set_xticks(range(len(endpoints)), [e.removeprefix("v1 summary, ").replace(" + ", "\n+ ") for e in endpoints])
    ax.set_ylabel("p50, ms (log scale)")
    ax.set_title(f"/v1/summary now and as of the month-end, {results.read.dataset.invoices:,} invoices")
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, out, "point_in_time.png")


def freshness_chart(results: Results, out: Path) -> str | None:
    f = results.freshness
    if f is None or not f.latencies_ms:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    values = sorted(f.latencies_ms)
    left.plot(values, [(i + 1) / len(values) for i in range(len(values))], color=PRODUCT)
    left.axvline(
        report.FRESHNESS_MAX_P99_MS, color=TARGET, linestyle="--", label=f"target p99 {report.FRESHNESS_MAX_P99_MS} ms"
    )
    left.axvline(f.p99_ms, color=BASELINE, linestyle=":", label=f"p99 {f.p99_ms:.0f} ms")
    left.set_xlabel("publish → visible in the API (ms)")
    left.set_ylabel("share of sampled events")
    left.set_title(f"Freshness at {f.achieved_rate:,.0f} events/s")
    left.legend(fontsize=8)
    right.scatter([t for t, _ in f.series], [ms for _, ms in f.series], s=4, color=PRODUCT)
    right.axhline(report.FRESHNESS_MAX_P99_MS, color=TARGET, linestyle="--")
    right.set_xlabel("seconds since the first send")
    right.set_ylabel("publish → visible (ms)")
    right.set_title("Over the run (rising: the worker falls behind)")
    right.set_ylim(bottom=0)
    return _save(fig, out, "freshness.png")


def scaling_chart(results: Results, out: Path) -> str | None:
    if not results.scaling and not results.read_scaling:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    left, right = axes
    if results.scaling:
        points = sorted(
            (int(w), _med([r.events_per_second for r in runs])) for w, runs in results.scaling.items() if runs
        )
        left.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=PRODUCT)
        for x, y in points:
            left.annotate(f"{y:,.0f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        left.set_xticks([p[0] for p in points])
        left.set_ylim(0, max(p[1] for p in points) * 1.2)
    left.set_xlabel("worker processes")
    left.set_ylabel("events/s (median)")
    left.set_title("Ingest by worker count (4 partitions)")
    if results.read_scaling:
        xs = [p.invoices for p in results.read_scaling]
        series: list[tuple[str, Callable[[object], float], str, str]] = [
            ("product p50", lambda p: _med([r.p50_ms for r in p.product]), PRODUCT, "-"),  # type: ignore[attr-defined]
            ("product p99", lambda p: _med([r.p99_ms for r in p.product]), PRODUCT, "--"),  # type: ignore[attr-defined]
            ("baseline p50", lambda p: _med([r.p50_ms for r in p.baseline]), BASELINE, "-"),  # type: ignore[attr-defined]
            ("baseline p99", lambda p: _med([r.p99_ms for r in p.baseline]), BASELINE, "--"),  # type: ignore[attr-defined]
        ]
        for label, value, color, style in series:
            right.plot(
                xs, [value(p) for p in results.read_scaling], marker="o", color=color, linestyle=style, label=label
            )
        right.set_xscale("log")
        right.set_yscale("log")
        right.legend(fontsize=8)
    right.set_xlabel("invoices loaded (log)")
    right.set_ylabel("ms (log)")
    right.set_title("Unfiltered summary latency by size")
    return _save(fig, out, "scaling.png")


def draw_all(results: Results, out: Path) -> list[str]:
    drawn = []
    for draw in (ingest_chart, replay_chart, read_chart, point_in_time_chart, freshness_chart, scaling_chart):
        name = draw(results, out)
        if name is not None:
            drawn.append(name)
    return drawn
