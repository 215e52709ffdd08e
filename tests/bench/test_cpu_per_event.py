"""CPU per event in the report, and the profile's bookkeeping: pure, no services."""

from __future__ import annotations

import msgspec
import pytest

from bench import report
from bench.freshness import FreshnessResult, load_paths
from bench.loadgen import LoadResult
from bench.procstat import IDLE, OTHERS, CpuShare, cpu_per_event
from bench.profile import Profile, statement_name
from tests.bench.test_bench_helpers import _results

SHARES = [
    CpuShare("billing worker (python)", 80.0, 1),
    CpuShare("postgres backends (benchmark database)", 50.0, 2),
    CpuShare("postgres background (WAL, checkpoints, autovacuum)", 10.0, 1),
    CpuShare("kafka (java)", 20.0, 1),
    CpuShare("postgres backends (other databases)", 40.0, 9),
    CpuShare("billing api (python)", 4.0, 1),
    CpuShare("benchmark harness (load, polling)", 6.0, 1),
    CpuShare(OTHERS, 30.0, 0),
    CpuShare(IDLE, 0.0, 0),
]


def test_cpu_per_event_is_each_groups_cpu_time_over_the_events() -> None:
    # 80% of a core for 10 s is 8 s of CPU; over 100,000 events, 80 µs each.
    found = dict(cpu_per_event(SHARES, 10.0, 100_000))
    assert found["billing worker (python)"] == pytest.approx(80.0)
    assert found["kafka (java)"] == pytest.approx(20.0)
    assert OTHERS not in found and IDLE not in found
    assert found["postgres backends (other databases)"] == pytest.approx(40.0)
    # Other databases' backends are other people's work on the same server.
    assert found["all of the run's processes"] == pytest.approx(170.0)


def test_cpu_kinds_sum_the_pipeline_without_its_watchers() -> None:
    kinds = report.cpu_kinds(SHARES, 10.0, 100_000)
    assert kinds["service (python)"] == pytest.approx(80.0)
    assert kinds["PostgreSQL"] == pytest.approx(60.0)
    assert kinds["Kafka"] == pytest.approx(20.0)
    assert kinds["harness and API"] == pytest.approx(10.0)
    assert kinds["all"] == pytest.approx(160.0)
    text = report.cpu_per_event_table([("now", SHARES, 10.0, 100_000)])
    assert "| now | 80.0 | 60.0 | 20.0 | 10.0 | 160.0 |" in text


def test_statement_names_keep_the_verb_and_table_without_the_version_schema() -> None:
    assert statement_name("INSERT INTO proj_3.currency_daily AS t (a) SELECT 1") == "INSERT proj_3.currency_daily"
    assert statement_name("SELECT a FROM billing.held_events h JOIN x") == "SELECT billing.held_events"
    assert statement_name("COMMIT;") == "COMMIT;"


def test_a_stage_inside_another_is_left_out_of_its_parent() -> None:
    profile = Profile()
    with profile.stage("outer"):
        sum(range(200_000))
        with profile.stage("inner", [7]):
            sum(range(200_000))
    outer, inner = profile.stages["outer"], profile.stages["inner"]
    assert (outer.calls, inner.calls, inner.rows) == (1, 1, 7)
    assert inner.wall_ns > 0 and outer.wall_ns > 0
    with profile.stage("inner", [3]):
        pass
    assert profile.stages["inner"].calls == 2 and profile.stages["inner"].rows == 10


def _paced(p99_ms: float, served: LoadResult | None = None) -> FreshnessResult:
    return FreshnessResult(
        target_rate=5_000,
        achieved_rate=4_990.0,
        seconds=10.0,
        samples=100,
        visible=100,
        p50_ms=p99_ms / 2,
        p90_ms=p99_ms * 0.9,
        p99_ms=p99_ms,
        max_ms=p99_ms,
        polls=2_000,
        latencies_ms=[],
        series=[],
        cpu=SHARES,
        load=served,
        load_paths=load_paths() if served else [],
    )


def test_freshness_under_the_read_load_is_judged_beside_the_quiet_figure() -> None:
    served = LoadResult("wrk", 12_000, 10.0, 1_200.0, 8.0, 12.0, 20.0, 40.0, 0)
    results = msgspec.structs.replace(
        _results(12_000, 1_000), freshness=msgspec.structs.replace(_paced(300.0), under_load=_paced(700.0, served))
    )
    text = report.render(results, [])
    assert "| Freshness at 4,990 events/s: p99 | 300 ms |" in text
    assert "| Freshness at 4,990 events/s while the API serves 1,200 reads/s: p99 | 700 ms |" in text
    assert "**not met**" in text.split("while the API serves 1,200 reads/s: p99")[1].splitlines()[0]
    assert "1,200 requests/s, p50 8.00 ms, p99 20.00 ms, 0 errors" in text
