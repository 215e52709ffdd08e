"""Property-based fuzzing of every operation of the OpenAPI document
(schemathesis): valid and invalid parameters, with a valid key and data
loaded. No answer may be a server error (other than the documented 503 of a
position not reached in time), and every answer must be documented: status
code, content type, headers and body schema. Operations that declare a
security scheme must refuse a request without a key.

``BILLING_FUZZ_EXAMPLES`` sets the examples per operation and generation
mode (default 25; e.g. 500 for a long run).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode, checks
from schemathesis.core.failures import FailureGroup

from tests.security.conftest import Served

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("BILLING_FUZZ_EXAMPLES", "25"))
NOT_YET_FRESH = "/problems/not-yet-fresh"


@schemathesis.check
def no_server_error(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> bool:
    """Any 5xx fails, except the documented 503 of read-your-writes (a
    ``minPosition`` the projections have not reached in time)."""
    if response.status_code >= 500:
        body = response.json() if response.headers.get("content-type", [""])[0].startswith("application/") else {}
        if not (response.status_code == 503 and isinstance(body, dict) and body.get("type") == NOT_YET_FRESH):
            raise AssertionError(f"server error {response.status_code}: {response.text[:300]}")
    return True


CHECKS = [
    no_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.ignored_auth,
    checks.unsupported_method,
]


class Tally:
    def __init__(self) -> None:
        self.cases: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self.skipped: list[str] = []


def fuzz(url: str, key: str, tally: Tally) -> None:
    """Every operation, positive then negative examples (runs in a thread:
    the API answers on the test's event loop meanwhile)."""
    schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json")
    session = requests.Session()
    # Both the Authorization and the x-api-key header: schemathesis would
    # otherwise fill the one left out with a made-up key.
    auth = {"Authorization": f"Bearer {key}", "x-api-key": key}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            label = f"{operation.label} {mode.value}"
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception as error:  # noqa: BLE001 - an operation with nothing to make invalid
                tally.failures.append(f"{label}: no strategy: {error!r}")
                continue

            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(case=strategy)
            def run(case: schemathesis.Case) -> None:  # run() is called within this iteration: label is current
                tally.cases[label] += 1  # noqa: B023
                try:
                    response = case.call_and_validate(base_url=url, session=session, headers=auth, checks=CHECKS)
                    tally.statuses[response.status_code] += 1
                except (Exception, FailureGroup) as failure:  # noqa: BLE001 - collected, reported together below
                    tally.failures.append(f"{label}: {case.as_curl_command(headers=auth)}\n{failure}")  # noqa: B023

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                # No parameter to make invalid (e.g. /health/live): nothing negative to send.
                if mode is not GenerationMode.NEGATIVE or any(True for _ in operation.iter_parameters()):
                    raise
                tally.skipped.append(label)
            except (Exception, FailureGroup) as failure:  # noqa: BLE001 - reported together below
                tally.failures.append(f"{label}: {failure}")


def report(tally: Tally, seconds: float) -> str:
    lines = [
        f"{sum(tally.cases.values())} cases over {len(tally.cases)} operation/mode pairs in {seconds:.1f}s,"
        f" {len(tally.failures)} failures ({len(tally.skipped)} without negative cases);"
        f" statuses {dict(sorted(tally.statuses.items()))}"
    ]
    lines += [f"  {label}: {n}" for label, n in sorted(tally.cases.items())]
    return "\n".join(lines)


async def test_every_operation_answers_as_documented(serve: Any) -> None:
    # Streams end at once: the fuzzer reads every answer to its end.
    served: Served = await serve(freshness_wait_max_ms=20, stream_max_seconds=0.2)
    tally = Tally()
    started = time.monotonic()
    await asyncio.to_thread(fuzz, served.url, served.acme_key, tally)
    print(report(tally, time.monotonic() - started))
    assert not tally.failures, "\n\n".join(tally.failures[:20])
    operations = {label.rsplit(" ", 1)[0] for label in tally.cases}
    assert len(operations) >= 13, operations
    assert tally.statuses[200] > 0 and tally.statuses[400] > 0
