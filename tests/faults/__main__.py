"""The long fault soak: every scenario, several rounds, bigger streams, and
the per-scenario table (`make faults`; FAULT_ROUNDS, FAULT_INVOICES)."""

from __future__ import annotations

import asyncio
import os
import sys

from services.logging import configure
from tests.faults import private_stack
from tests.faults.scenarios import FAULTS, HEADER, Report, run_scenario


async def soak(rounds: int, invoices: int) -> list[Report]:
    env = private_stack.start()
    reports: list[Report] = []
    try:
        for round_number in range(rounds):
            for fault in FAULTS.values():
                report = await run_scenario(env, fault, invoices=invoices, seed=round_number + 1)
                reports.append(report)
                print(report.row(), flush=True)
    finally:
        private_stack.stop()
    return reports


def main() -> int:
    # The table is the output: the in-process API's per-request warnings
    # during an outage would drown it.
    configure("console", "error")
    rounds = int(os.environ.get("FAULT_ROUNDS", "3"))
    invoices = int(os.environ.get("FAULT_INVOICES", "6000"))
    print(f"fault soak: {rounds} round(s) of {len(FAULTS)} scenarios, {invoices} invoices each\n")
    print(HEADER, flush=True)
    reports = asyncio.run(soak(rounds, invoices))
    bad = [
        r for r in reports if r.lost or r.doubled or r.differences or r.reads_failed_after_recovery or r.reads_broken
    ]
    print(
        f"\n{len(reports)} runs, {sum(r.published for r in reports)} records; lost "
        f"{sum(r.lost for r in reports)}, doubled {sum(r.doubled for r in reports)}; "
        f"{len(bad)} run(s) with a problem"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
