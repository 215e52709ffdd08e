"""The benchmark harness's pure helpers: statistics, data generation, the
report's tables and verdicts. Fast, no services."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from bench import report, streams
from bench.config import QUICK
from bench.freshness import visibility_latencies
from bench.ingest import IngestRun, Stream
from bench.lab import parse_position_header
from bench.machine import Machine
from bench.procstat import IDLE, OTHERS, CpuShare
from bench.replay import ReaderStats, slow_reads
from bench.run import IngestSection, Results
from bench.stats import figure, median, percentile, rate_between, ratio
from contracts import CURRENCIES, InvoiceCreated, decode, event_type

TODAY = dt.date(2026, 11, 20)


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(range(1, 101), 99) == pytest.approx(99.01)


def test_percentile_ignores_input_order_and_rejects_nothing() -> None:
    assert percentile([5, 1, 3], 50) == 3
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_median_of_one_run_is_that_run() -> None:
    assert median([7.5]) == 7.5
    f = figure("ingest", "events/s", [3.0, 1.0, 2.0])
    assert (f.median, f.count) == (2.0, 3)


def test_ratio_is_none_when_the_denominator_was_not_measured() -> None:
    assert ratio(100, 4) == 25
    assert ratio(100, 0) is None


def test_rate_leaves_out_the_start_and_stops_at_the_end() -> None:
    # 1,000 events: nothing for 2 s (start-up), then 100 per second.
    samples = [(0.0, 0), (2.0, 0), (3.0, 100), (4.0, 200)] + [(4.0 + i, 200 + 100 * i) for i in range(1, 9)]
    assert rate_between(samples, 1000) == pytest.approx(100.0)
    assert rate_between(samples[:5], 1000) is None  # never finished


def test_position_header_gives_next_offsets_by_partition() -> None:
    header = "bench-ingest-x:0=41,bench-ingest-x:1=7,bench-ingest-x:3=0"
    assert parse_position_header(header) == {0: 41, 1: 7, 3: 0}
    assert parse_position_header(None) == {}
    assert parse_position_header("garbage") == {}


def test_an_event_is_visible_at_the_first_reading_past_its_offset() -> None:
    observations = [(1.0, {0: 5}), (1.5, {0: 10, 1: 3}), (2.0, {0: 11, 1: 3}), (3.0, {0: 11, 1: 9})]
    samples = [(0.9, 0, 7), (1.6, 0, 10), (0.5, 1, 5), (2.5, 1, 9)]
    found = visibility_latencies(samples, observations)
    assert found[0] == pytest.approx(0.6)  # offset 7 < 10 at t=1.5
    assert found[1] == pytest.approx(0.4)  # offset 10 < 11 at t=2.0
    assert found[2] == pytest.approx(2.5)  # offset 5 < 9 at t=3.0
    assert found[3] is None  # never passed


def test_histories_spread_over_tenants_customers_and_currencies() -> None:
    histories = list(streams.histories(3000, seed=3, today=TODAY))
    created = [h[0] for h in histories]
    assert all(isinstance(e, InvoiceCreated) for e in created)
    tenants = Counter(e.tenantid for e in created)
    assert tenants.most_common(1)[0][0] == streams.LARGEST_TENANT
    assert 0.12 < tenants[streams.LARGEST_TENANT] / len(created) < 0.3
    assert len(tenants) > 50
    currencies = {e.data.currency for e in created}  # type: ignore[union-attr]
    assert {CURRENCIES[c].exponent for c in currencies} == {0, 2, 3}
    dues = [e.data.due_date for e in created]  # type: ignore[union-attr]
    assert min(dues) < TODAY < max(dues)
    types = Counter(event_type(e) for h in histories for e in h)
    assert types["invoice.paid"] > 0 and types["invoice.voided"] > 0
    partial = [h for h in histories if sum(1 for e in h if event_type(e) == "invoice.paid") > 1]
    assert partial, "some invoices are paid in several parts"


def test_records_interleave_invoices_with_some_duplicates_and_late_events() -> None:
    records = streams.records(6000, seed=5, today=TODAY, late=0.02, duplicates=0.03)
    assert len(records) == 6000
    assert all(decode(r.value).event.subject.encode() == r.key for r in records[:200])
    ids = Counter(r.event.id for r in records)
    duplicates = sum(n - 1 for n in ids.values())
    assert 0.01 * 6000 < duplicates < 0.06 * 6000
    # Interleaved: consecutive records mostly belong to different invoices.
    same = sum(1 for a, b in zip(records, records[1:], strict=False) if a.key == b.key)
    assert same < len(records) * 0.1
    late = 0
    last: dict[str, int] = {}
    for r in records:
        if r.event.sequence < last.get(r.event.subject, 0):
            late += 1
        last[r.event.subject] = max(last.get(r.event.subject, 0), r.event.sequence)
    assert late > 0


def test_store_rows_keep_each_invoice_in_order_with_stable_partitions() -> None:
    rows = [row for chunk in streams.store_rows(5000, seed=9, topic="t", today=TODAY, chunk=1000) for row in chunk]
    assert len(rows) == 5000
    seen: dict[str, int] = {}
    offsets: dict[int, int] = {}
    for row in rows:
        assert row.sequence == seen.get(row.invoice_id, 0) + 1
        seen[row.invoice_id] = row.sequence
        assert row.partition == streams.stable_partition(row.invoice_id)
        assert row.kafka_offset == offsets.get(row.partition, 0)
        offsets[row.partition] = row.kafka_offset + 1
    assert len({r.event_id for r in rows}) == len(rows)
    assert set(offsets) == {0, 1, 2, 3}


def test_generation_is_deterministic_for_a_seed() -> None:
    a = [r.value for r in streams.records(500, seed=1, today=TODAY)]
    b = [r.value for r in streams.records(500, seed=1, today=TODAY)]
    assert a == b


def _results(ingest_rate: float, baseline_rate: float) -> Results:
    machine = Machine(
        cpu_model="test",
        cores=2,
        memory_gib=24.0,
        kernel="k",
        python="3.11",
        postgresql="18",
        kafka="4.1",
        load_average_at_start=(0.0, 0.0, 0.0),
        commit="abc",
        product_changes_uncommitted=0,
    )
    stream = Stream("t", {0: 10}, 10, "b", {0: 5}, 5, 1.0)
    runs = [
        IngestRun(
            workers=1,
            events=10,
            events_per_second=ingest_rate * f,
            wall_seconds=1.0,
            peak_rss_mb=100.0,
            cpu=[CpuShare("billing worker (python)", 99.0, 1), CpuShare(OTHERS, 20.0, 0), CpuShare(IDLE, 81.0, 0)],
            outcomes={"applied": 10},
            invoices=4,
        )
        for f in (0.9, 1.0, 1.1)
    ]
    from bench.ingest import BaselineRun

    baseline = [BaselineRun(events=5, events_per_second=baseline_rate, wall_seconds=1.0, cpu=[], invoices=2)]
    return Results(
        mode="quick",
        command="python -m bench",
        started_at="2026-11-20T00:00:00+00:00",
        seconds=60.0,
        machine=machine,
        sizes=QUICK,
        load_tool="wrk",
        load_tool_note="wrk found",
        ingest=IngestSection(stream=stream, runs=runs, baseline=baseline),
    )


def test_summary_takes_medians_and_judges_targets_with_ratios() -> None:
    lines = {line.figure: line for line in report.summary_lines(_results(60_000, 1_000))}
    rate = lines["Ingest, 1 worker (events/s)"]
    assert (rate.value, rate.runs, rate.met) == ("60,000", "median of 3", True)
    ratio_line = lines["Ingest ÷ baseline"]
    assert (ratio_line.value, ratio_line.met) == ("60.0×", True)
    slow = {line.figure: line for line in report.summary_lines(_results(12_000, 1_000))}
    assert slow["Ingest, 1 worker (events/s)"].met is False
    assert slow["Ingest ÷ baseline"].met is False


def test_report_renders_tables_verdicts_and_the_cpu_breakdown() -> None:
    text = report.render(_results(12_000, 1_000), ["ingest.png"])
    assert "| Ingest, 1 worker (events/s) | 12,000 | median of 3 | ≥ 25,000 | **not met** |" in text
    assert (
        "| Ingest CPU per event, service + PostgreSQL + Kafka (µs) | 99000 | median run | ≤ 45 | **not met** |" in text
    )
    assert "Targets met: 1 of 4." in text
    assert "| billing worker (python) | 1 | 99% | 50% |" in text
    assert OTHERS in text and "![ingest.png](ingest.png)" in text


def test_markdown_table_escapes_pipes_and_formats_numbers() -> None:
    assert report.table(("a", "b"), [("x|y", 1)]) == "| a | b |\n|---|---|\n| x\\|y | 1 |"
    assert report.number(1234567.8) == "1,234,568"
    assert report.number(None) == "n/a"
    assert report.milliseconds(3.14159) == "3.14 ms"
    assert report.milliseconds(2355.2) == "2,355 ms"
    assert report.times(None) == "n/a"


def test_max_size_leaves_out_the_larger_data_sets() -> None:
    from bench.config import FULL
    from bench.run import limit_sizes

    sizes = limit_sizes(FULL, 1_000_000)
    assert sizes.replay_sizes == (1_000_000,) and sizes.replay_runs == (2,)
    assert sizes.read_scaling_sizes == (100_000, 1_000_000)
    assert sizes.read_invoices == 1_000_000
    assert limit_sizes(FULL, None) is FULL


def test_slow_reads_fall_in_the_replay_step_named_last_before_them() -> None:
    log = "\n".join(
        [
            '{"event": "replay v3: bulk", "done": 0, "timestamp": "2026-12-01T10:00:01Z"}',
            "a line that is not JSON",
            '{"event": "replay v3: bulk", "done": 5, "timestamp": "2026-12-01T10:00:06Z"}',
            '{"event": "replay v3: summary tables and indexes", "done": 0, "timestamp": "2026-12-01T10:00:10Z"}',
            # The bulk's last line comes after its summary step: not a new step.
            '{"event": "replay v3: bulk", "done": 9, "timestamp": "2026-12-01T10:00:20Z"}',
            '{"event": "replay v3: catch up", "done": 0, "timestamp": "2026-12-01T10:00:21Z"}',
        ]
    )
    began = dt.datetime(2026, 12, 1, 10, 0, 0, tzinfo=dt.UTC).timestamp()
    reader = ReaderStats(
        reads=10,
        failures=0,
        p50_ms=1,
        p99_ms=50,
        max_ms=90,
        failure_examples=[],
        slowest=[(began + 15, 90.0), (began + 0.5, 40.0), (began + 22, 30.0), (began + 3, 20.0)],
    )
    found = [(round(r.at_seconds, 1), r.ms, r.step) for r in slow_reads(reader, began, log)]
    assert found == [
        (15.0, 90.0, "summary tables and indexes"),
        (0.5, 40.0, "start"),
        (22.0, 30.0, "catch up"),
        (3.0, 20.0, "bulk"),
    ]
