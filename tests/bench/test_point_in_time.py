"""The point-in-time benchmark's pure parts: record times, the timelines the
loader writes, the event-store baseline's fold, the moments queried, the
sizing of slow runs and the report's lines. Fast, no services."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from bench import before, read, recompute, report, streams, timelines
from bench.config import FULL, QUICK
from bench.loadgen import LoadResult
from bench.read import EndpointRuns, ReadDataset, ReadResult
from bench.run import IngestSection
from contracts import decode_stored, encode
from projections import aggregates
from projections.figures import NO_FIGURES, RECEIVABLE, Figures, contribution
from projections.timeline import AGING_THRESHOLDS
from projections.verify import recorded_timeline
from tests.bench.test_bench_helpers import _results

TODAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 15, 30, tzinfo=dt.UTC)


def _recorded(count: int, seed: int) -> list[tuple[list, list[dt.datetime], int, timelines.InvoiceTimeline]]:  # type: ignore[type-arg]
    rng = random.Random(seed)
    out = []
    for history in streams.histories(count, seed, TODAY):
        partition = streams.stable_partition(history[0].subject)
        recorded = timelines.record_times(history, rng, NOW)
        folded = timelines.fold_recorded(history, recorded, partition)
        if folded is not None:
            out.append((history, recorded, partition, folded))
    return out


def test_record_times_follow_the_events_in_order_and_stop_at_now() -> None:
    rng = random.Random(4)
    cut = late = 0
    for history in streams.histories(2000, 4, TODAY):
        times = timelines.record_times(history, rng, NOW)
        assert times == sorted(times)
        assert all(at <= NOW for at in times)
        assert all(at >= event.time for event, at in zip(history, times, strict=False))
        cut += len(times) < len(history)
        late += sum(1 for event, at in zip(history, times, strict=False) if at - event.time > dt.timedelta(days=1))
    # Events after now (and late ones not yet arrived) are cut; some arrive days late.
    assert 0 < cut < 200
    assert late > 20


def test_the_loaded_timeline_rows_are_what_verify_expects_of_each_history() -> None:
    """The rows per (record time, day) equal projections.verify's own
    recomputation from the stored events: whole timelines after each record
    time subtracted."""
    for history, recorded, partition, folded in _recorded(600, 7):
        got: dict[tuple[dt.datetime, dt.date], Figures] = {}
        for change in folded.changes:
            assert change.recorded_at is not None
            key = (change.recorded_at, change.day)
            got[key] = got.get(key, NO_FIGURES) + change.figures
        stored = [(partition, encode(e), at) for e, at in zip(history, recorded, strict=False)]
        assert {k: v for k, v in got.items() if v != NO_FIGURES} == recorded_timeline(stored)
        assert [p.recorded_at for p in folded.payments] == sorted(p.recorded_at for p in folded.payments)  # type: ignore[type-var]
        if folded.state.sent_at is not None:
            assert folded.state.sent_recorded_at in recorded


def test_the_baseline_fold_matches_the_timelines_as_of_any_day_and_known_at_any_time() -> None:
    """The product sums timeline rows with day <= D recorded by T; the
    baseline folds the events recorded by T dated by the end of D. Same
    figures, invoice by invoice."""
    rng = random.Random(2)
    invoices = _recorded(250, 9)
    for _ in range(40):
        as_of = TODAY - dt.timedelta(days=rng.randint(-3, 125))
        known_at = NOW - dt.timedelta(days=rng.uniform(0, 125))
        for history, recorded, partition, folded in invoices:
            expected = NO_FIGURES
            for change in folded.changes:
                assert change.recorded_at is not None
                if change.day <= as_of and change.recorded_at <= known_at:
                    expected = expected + change.figures
            known = [decode_stored(encode(e)) for e, at in zip(history, recorded, strict=False) if at <= known_at]
            state = recompute.fold_at(known, partition, recompute.end_of_day(as_of)) if known else None
            assert contribution(state) == expected


def test_the_baseline_summaries_add_up_overdue_and_aging_as_the_thresholds_do() -> None:
    """Per currency: the totals are the timelines' sums; overdue at least N
    days is the receivable change counted when max(day, due + N) <= D, as the
    product's per-threshold sums count it."""
    invoices = _recorded(800, 13)
    as_of = dt.date(2026, 10, 31)
    rows = [
        (history[0].subject, partition, encode(e))
        for history, recorded, partition, _ in sorted(invoices, key=lambda i: i[0][0].subject)
        for e, _ in zip(history, recorded, strict=False)
    ]
    found = {s.currency: s for s in recompute.summaries_at(rows, as_of, as_of)}
    totals: dict[str, Figures] = {}
    at_least: dict[tuple[str, int], Figures] = {}
    for _, _, _, folded in invoices:
        for change in folded.changes:
            if change.day <= as_of:
                totals[change.currency] = totals.get(change.currency, NO_FIGURES) + change.figures
            for n in AGING_THRESHOLDS:
                if max(change.day, change.due_date + dt.timedelta(days=n)) <= as_of:
                    key = (change.currency, n)
                    at_least[key] = at_least.get(key, NO_FIGURES) + change.figures.receivable_part()
    assert sorted(found) == sorted(c for c, f in totals.items() if f.invoice_count)
    for currency, summary in found.items():
        assert summary.totals == totals[currency]
        overdue = at_least.get((currency, 1), NO_FIGURES)
        assert summary.overdue.receivable == overdue.receivable_part()
        sums = [at_least.get((currency, n), NO_FIGURES) for n in AGING_THRESHOLDS] + [NO_FIGURES]
        expected = [
            (a.receivable_count - b.receivable_count, a.receivable_balance - b.receivable_balance)
            for a, b in zip(sums, sums[1:], strict=False)
        ]
        assert [(g.count, g.balance) for g in summary.overdue.aging] == expected
        assert summary.dates.first_issue_date is not None
        assert summary.dates.first_issue_date <= (summary.dates.latest_issue_date or TODAY) <= as_of
    assert any(g.count for s in found.values() for g in s.overdue.aging)


def test_an_invoice_created_after_the_day_does_not_exist_yet() -> None:
    history = next(iter(streams.histories(1, 3, TODAY)))
    decoded = [decode_stored(encode(e)) for e in history]
    created = recompute.business_time(history[0])
    assert recompute.fold_at(decoded, 0, created) is None
    assert recompute.fold_at(decoded, 0, created + dt.timedelta(microseconds=1)) is not None
    assert recompute.fold_at(decoded, 0, None) is not None


def test_moments_month_end_close_and_middle() -> None:
    assert timelines.month_end_before(dt.date(2026, 12, 1)) == dt.date(2026, 11, 30)
    assert timelines.month_end_before(dt.date(2026, 3, 15)) == dt.date(2026, 2, 28)
    oldest = dt.datetime(2026, 8, 1, 12, 0, 0, 500_000, tzinfo=dt.UTC)
    # The morning after the month-end has come: the close is then.
    newest = dt.datetime(2026, 12, 10, 8, tzinfo=dt.UTC)
    assert timelines.close_instant(dt.date(2026, 11, 30), oldest, newest) == dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    # Not yet: halfway from the end of the day to the newest record.
    newest = dt.datetime(2026, 12, 1, 3, 0, 0, 999_999, tzinfo=dt.UTC)
    assert timelines.close_instant(dt.date(2026, 11, 30), oldest, newest) == dt.datetime(
        2026, 12, 1, 1, 30, tzinfo=dt.UTC
    )
    middle = timelines.midpoint(oldest, newest)
    assert oldest < middle < newest and middle.microsecond == 0
    # Never before the oldest record once its fraction of a second is dropped.
    assert timelines.midpoint(oldest, oldest) == oldest.replace(microsecond=0) + dt.timedelta(seconds=1)
    assert timelines.rfc3339(dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.UTC)) == "2026-12-01T01:30:00Z"


def test_timeline_sums_are_filled_per_partition_with_the_service_definitions() -> None:
    daily = aggregates.fill_sql("proj_1", "currency_daily")
    assert daily.startswith("INSERT INTO proj_1.currency_daily (tenant_id, currency, day, partition, invoice_count,")
    assert "FROM proj_1.invoice_changes GROUP BY 1, 2, 3, 4" in daily
    overdue = aggregates.fill_sql("proj_1", "currency_overdue_from")
    assert "SELECT tenant_id, currency, n, greatest(day, due_date + n), partition, sum(receivable_count)" in overdue
    assert f"unnest(ARRAY{list(AGING_THRESHOLDS)}) AS n" in overdue
    assert " OR ".join(f"{f} <> 0" for f in RECEIVABLE) in overdue
    assert "GROUP BY 1, 2, 3, 4, 5" in overdue


def test_slow_baseline_runs_are_sized_by_one_request() -> None:
    fast = read.plan(QUICK, report.V1_AS_OF, "product", 12.0, 3, 5.0)
    assert fast == read.Plan(5.0, QUICK.read_connections, 3, 3.0)
    assert read.plan(QUICK, "unfiltered summary", "baseline", 30.0, 3, 5.0).slow is False
    # 1 s a request: the mode's 5 s runs, 2 connections (two answers each), 3 runs.
    quick = read.plan(QUICK, report.V1_AS_OF, "baseline", 1000.0, 3, 5.0)
    assert (quick.slow, quick.seconds, quick.connections, quick.runs) == (True, 5.0, 2, 3)
    assert read.plan(QUICK, report.V1_AS_OF, "baseline", 2000.0, 3, 5.0).seconds == pytest.approx(6.0)
    # 13 s a request at 1M: one connection, at most a minute, one run.
    full = read.plan(FULL, report.V1_MIDDLE, "baseline", 13_000.0, 3, 10.0)
    assert (full.connections, full.runs, full.seconds, full.unloaded_seconds) == (1, 1, 39.0, 39.0)
    assert read.plan(FULL, report.V1_MIDDLE, "baseline", 60_000.0, 3, 10.0).seconds == read.SLOW_MAX_SECONDS


def _load(p50: float, rps: float = 100.0) -> LoadResult:
    return LoadResult("wrk", 100, 5.0, rps, p50, p50 * 1.5, p50 * 2, p50 * 3, 0)


def _runs(endpoint: str, app: str, p50: float, idle: float, connections: int = 16) -> EndpointRuns:
    return EndpointRuns(endpoint, app, [_load(p50)] * 3, [], _load(idle), connections, 5.0)


def test_report_judges_point_in_time_against_now_and_the_event_store_baseline() -> None:
    results = _results(12_000, 1_000)
    dataset = ReadDataset(1_000_000, 200_000, 500, 60.0, True, [], as_of=dt.date(2026, 11, 30), events=2_700_000)
    results.read = ReadResult(
        dataset=dataset,
        endpoints=[
            _runs(report.V1_CURRENT, "product", 6.0, 1.0),
            _runs(report.V1_CURRENT, "baseline", 9000.0, 7000.0, 1),
            _runs(report.V1_AS_OF, "product", 12.0, 2.0),
            _runs(report.V1_AS_OF, "baseline", 9000.0, 7000.0, 1),
            _runs(report.V1_MIDDLE, "product", 60.0, 400.0),
            _runs(report.V1_MIDDLE, "baseline", 9000.0, 4000.0, 1),
        ],
        tool="wrk",
    )
    lines = {line.figure: line for line in report.summary_lines(results)}
    as_of = lines[f"Read {report.V1_AS_OF}: p50 ÷ current-state p50 (1 connection: 2.0×)"]
    assert (as_of.value, as_of.met) == ("2.0×", True)
    middle = lines[f"Read {report.V1_MIDDLE}: p50 ÷ current-state p50 (1 connection: 400.0×)"]
    assert (middle.value, middle.met) == ("10.0×", False)
    assert lines[f"Read {report.V1_AS_OF}: baseline p50 ÷ product p50, 1 connection"].met is True
    slow = lines[f"Read {report.V1_MIDDLE}: baseline p50 ÷ product p50, 1 connection"]
    assert (slow.value, slow.met) == ("10.0×", False)
    # The current state has no point-in-time target.
    assert lines[f"Read {report.V1_CURRENT}: baseline p50 ÷ product p50, 1 connection"].target == ""
    assert "| v1 summary, asOf month-end | baseline | 9,000 ms |" in report.render(results, [])


def test_report_compares_ingest_with_the_code_before_or_says_why_not() -> None:
    results = _results(12_000, 1_000)
    assert results.ingest is not None
    earlier = [
        r.__class__(**{**{f: getattr(r, f) for f in r.__struct_fields__}, "events_per_second": 12_500.0})
        for r in results.ingest.runs
    ]
    results.ingest = IngestSection(
        results.ingest.stream, results.ingest.runs, results.ingest.baseline, earlier, "2866660 = 3958b8f^"
    )
    lines = {line.figure: line for line in report.summary_lines(results)}
    assert lines["Ingest before the timelines (commit 2866660 = 3958b8f^), 1 worker (events/s)"].value == "12,500"
    ratio_line = lines["Ingest now ÷ before the timelines (same stream, runs interleaved)"]
    assert (ratio_line.value, ratio_line.met) == ("0.960×", True)
    skipped = IngestSection(
        results.ingest.stream, results.ingest.runs, [], before_skipped="revision 3958b8f^ is not in this clone"
    )
    results.ingest = skipped
    line = next(x for x in report.summary_lines(results) if x.figure == "Ingest now ÷ before the timelines")
    assert line.value == "not measured: revision 3958b8f^ is not in this clone" and line.met is None
    assert "not measured — revision 3958b8f^ is not in this clone" in report.render(results, [])


def test_an_unknown_revision_is_reported_not_raised(tmp_path: Path) -> None:
    found = before.materialise("no-such-revision-anywhere", tmp_path)
    assert isinstance(found, str) and "no-such-revision-anywhere" in found
