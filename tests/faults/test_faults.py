"""The short fault scenarios (the long soak: `make faults`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults import private_stack
from tests.faults.scenarios import FAULTS, run_scenario

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fault_env() -> Iterator[dict[str, str]]:
    env = private_stack.start()
    yield env
    private_stack.stop()


@pytest.mark.parametrize("name", list(FAULTS))
async def test_nothing_is_lost_or_doubled_and_the_worker_recovers_by_itself(
    fault_env: dict[str, str], name: str
) -> None:
    report = await run_scenario(fault_env, FAULTS[name], invoices=1200)
    print(report)
    assert report.lost == 0 and report.doubled == 0, report
    assert report.applied == report.expected_applied, report
    assert report.differences == 0, report
    assert report.reads_failed_after_recovery == 0 and report.reads_broken == 0, report
    assert report.recovery_seconds < 60, report
