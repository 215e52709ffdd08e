"""The access log and the ids every answer carries back: one structured line
per request (route template, status, duration, tenant, request id, trace id,
client address; never the key or the raw path), ``X-Request-ID`` echoed or
made, a valid ``traceparent`` echoed, on every answer — problems and
unmatched routes included — and declared in the OpenAPI document."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import signal
import sys
import uuid
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import structlog

from services import keys
from services.api import edge
from services.api.request_ids import new_hex_id, sane_id, trace_id
from services.logging import LineOutput, UtcTimestamp, render_json
from services.settings import Settings
from tests.conftest import free_port
from tests.services.api.conftest import ModuleApi
from tests.serving import running_api

pytestmark = pytest.mark.integration

TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE}-b7ad6b7169203331-01"
HEX_ID = re.compile(r"^[0-9a-f]{32}$")
ACCESS_FIELDS = {"method", "route", "status", "duration_ms", "tenant", "request_id", "trace_id", "client"}


@contextlib.contextmanager
def access_lines() -> Iterator[list[MutableMapping[str, Any]]]:
    """The access log lines (``request``) logged meanwhile, as they are written."""
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars, only_access_lines]
    ) as captured:
        yield captured


def only_access_lines(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    if event_dict.get("event") != "request":
        raise structlog.DropEvent
    return event_dict


async def settle() -> None:
    """Let the server write the lines of the requests that ended (services/api/edge.py)."""
    await asyncio.sleep(edge.FLUSH_SECONDS * 4)


def line_of(lines: list[MutableMapping[str, Any]], response: httpx.Response) -> MutableMapping[str, Any]:
    """The one line of the request ``response`` answered (other requests' lines may have been written meanwhile)."""
    (line,) = [entry for entry in lines if entry["request_id"] == response.headers["X-Request-ID"]]
    return line


def is_made_id(value: str) -> bool:
    return bool(HEX_ID.match(value)) and uuid.UUID(value).version == 4


# --------------------------------------------------------------------------- the log line


async def test_each_request_is_one_line_with_the_route_template_and_no_key(module_api: ModuleApi) -> None:
    with access_lines() as lines:
        response = await module_api.acme.get(
            "/v1/customers/cus-nobody/summary", headers={"X-Request-ID": "req-42", "traceparent": TRACEPARENT}
        )
        await settle()
    assert response.status_code == 404
    line = line_of(lines, response)
    assert set(line) - {"event", "log_level", "timestamp"} == ACCESS_FIELDS
    assert line["method"] == "GET"
    assert line["route"] == "/v1/customers/{customerId}/summary"  # the template, not cus-nobody
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float) and 0 <= line["duration_ms"] < 10_000
    assert line["tenant"] == "acme"
    assert (line["request_id"], line["trace_id"]) == ("req-42", TRACE)
    assert line["client"] == "127.0.0.1"
    assert module_api.acme_key not in json.dumps(line)


async def test_an_unmatched_route_is_logged_as_such_never_its_path(module_api: ModuleApi) -> None:
    with access_lines() as lines:
        response = await module_api.acme.get("/no/such/place", params={"token": "s3cret"})
        await settle()
    assert response.status_code == 404
    line = line_of(lines, response)
    assert (line["route"], line["status"]) == ("(no route)", 404)
    assert "/no/such" not in json.dumps(line) and "s3cret" not in json.dumps(line)
    assert line["request_id"] == response.headers["X-Request-ID"]


async def test_a_refused_key_is_never_logged_and_has_no_tenant(module_api: ModuleApi) -> None:
    wrong = "bk_this-key-does-not-exist"
    async with httpx.AsyncClient(base_url=module_api.url) as anonymous:
        with access_lines() as lines:
            response = await anonymous.get("/v1/summary", headers={"Authorization": f"Bearer {wrong}"})
            await settle()
    assert response.status_code == 401
    line = line_of(lines, response)
    assert (line["route"], line["status"], line["tenant"]) == ("/v1/summary", 401, None)
    assert wrong not in json.dumps(line)


async def test_public_paths_are_logged_without_a_tenant(module_api: ModuleApi) -> None:
    async with httpx.AsyncClient(base_url=module_api.url) as anonymous:
        with access_lines() as lines:
            response = await anonymous.get("/health/live")
            await settle()
    line = line_of(lines, response)
    assert (line["route"], line["status"], line["tenant"], line["trace_id"]) == ("/health/live", 200, None, None)


async def test_the_access_log_can_be_turned_off_the_ids_stay(settings: Settings) -> None:
    quiet = msgspec.structs.replace(settings, api_access_log=False, api_port=free_port())
    async with running_api(quiet) as url, httpx.AsyncClient(base_url=url) as client:
        with access_lines() as lines:
            response = await client.get("/health/live", headers={"X-Request-ID": "quiet-1"})
            await settle()
    assert not [entry for entry in lines if entry["request_id"] == "quiet-1"]
    assert response.headers["X-Request-ID"] == "quiet-1"


async def test_lines_are_written_together_soon_after_and_at_shutdown(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(edge, "FLUSH_SECONDS", 3600.0)
    api = msgspec.structs.replace(settings, api_port=free_port())
    with access_lines() as lines:
        async with running_api(api) as url, httpx.AsyncClient(base_url=url) as client:
            answers = [await client.get("/health/live", headers={"X-Request-ID": f"late-{i}"}) for i in range(3)]
            await asyncio.sleep(0.1)
            waiting = [entry for entry in lines if str(entry["request_id"]).startswith("late-")]
    assert waiting == [] and all(answer.status_code == 200 for answer in answers)
    written = [entry for entry in lines if str(entry["request_id"]).startswith("late-")]
    assert [entry["request_id"] for entry in written] == ["late-0", "late-1", "late-2"]
    # Each stamped with the time its request ended, not the time it was written.
    assert all(isinstance(entry["timestamp"], float) for entry in written)
    assert written[0]["timestamp"] <= written[1]["timestamp"] <= written[2]["timestamp"]


# --------------------------------------------------------------------------- X-Request-ID


async def test_a_request_id_is_made_when_absent_one_per_request(module_api: ModuleApi) -> None:
    first, second = await module_api.acme.get("/v1/summary"), await module_api.acme.get("/v1/summary")
    made = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all(is_made_id(value) for value in made), made
    assert made[0] != made[1]


@pytest.mark.parametrize(
    "given",
    ["req-1", "a45e6643-1caf-4429-8f90-07c03d85bc2b", "Root=1-67891233-abcdef012345678912345678;x=y", "x" * 128],
)
async def test_a_sane_request_id_is_echoed(module_api: ModuleApi, given: str) -> None:
    response = await module_api.acme.get("/v1/summary", headers={"X-Request-ID": given})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == given


@pytest.mark.parametrize("given", [b"x" * 129, b"two words", b"caf\xe9", b"tab\there"])
async def test_an_unfit_request_id_is_replaced(module_api: ModuleApi, given: bytes) -> None:
    with access_lines() as lines:
        response = await module_api.acme.get("/v1/summary", headers=[(b"X-Request-ID", given)])
        await settle()
    assert response.status_code == 200
    made = response.headers["X-Request-ID"]
    assert is_made_id(made)
    assert line_of(lines, response)["request_id"] == made


# --------------------------------------------------------------------------- traceparent


async def test_a_valid_traceparent_is_echoed_and_its_trace_id_logged(module_api: ModuleApi) -> None:
    with access_lines() as lines:
        response = await module_api.acme.get("/v1/summary", headers={"traceparent": TRACEPARENT})
        await settle()
    assert response.status_code == 200
    assert response.headers["traceparent"] == TRACEPARENT
    assert line_of(lines, response)["trace_id"] == TRACE


@pytest.mark.parametrize(
    "given",
    [
        f"00-{'0' * 32}-b7ad6b7169203331-01",  # no trace id
        f"00-{TRACE}-{'0' * 16}-01",  # no parent id
        f"00-{TRACE.upper()}-b7ad6b7169203331-01",  # upper-case hex
        f"ff-{TRACE}-b7ad6b7169203331-01",  # the forbidden version
        f"00-{TRACE}-b7ad6b7169203331-01-extra",  # version 00 has four fields
        f"00-{TRACE[:-1]}-b7ad6b7169203331-01",
        f"00-{TRACE}-b7ad6b7169203331",
        "not a traceparent",
        "",
    ],
)
async def test_an_invalid_traceparent_is_ignored(module_api: ModuleApi, given: str) -> None:
    with access_lines() as lines:
        response = await module_api.acme.get("/v1/summary", headers={"traceparent": given})
        await settle()
    assert response.status_code == 200
    assert "traceparent" not in response.headers
    assert line_of(lines, response)["trace_id"] is None
    assert is_made_id(response.headers["X-Request-ID"])


def test_trace_context_parsing() -> None:
    assert trace_id(TRACEPARENT.encode()) == TRACE
    # A later version may add fields; its first four are read the same way.
    assert trace_id(f"01-{TRACE}-b7ad6b7169203331-01-what-comes-next".encode()) == TRACE
    assert trace_id(f"01-{TRACE}-b7ad6b7169203331-01x".encode()) is None
    assert trace_id(None) is None
    assert sane_id(b"ok") == "ok" and sane_id(b"") is None and sane_id(None) is None
    assert sane_id(b"\x7f") is None and sane_id(b"a\x00") is None
    assert all(is_made_id(new_hex_id()) for _ in range(100))


# --------------------------------------------------------------------------- on every answer


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/summary", {}, 401),  # no key
        ("/v1/customers/cus-nobody/summary", None, 404),  # a problem of a matched route
        ("/v1/summary", None, 200),
        ("/v1/summary?asOf=yesterday", None, 400),
        ("/v1/summary?invoiceStatuses=SENT", None, 400),  # an unknown parameter
        ("/no/such/route", None, 404),  # no route
        ("/health/ready", {}, 200),
        ("/schema/openapi.json", {}, 200),
    ],
)
async def test_every_answer_carries_the_ids(
    module_api: ModuleApi, path: str, headers: dict[str, str] | None, status: int
) -> None:
    ids = {"X-Request-ID": f"ids-{status}", "traceparent": TRACEPARENT}
    async with httpx.AsyncClient(base_url=module_api.url) as anonymous:
        client = module_api.acme if headers is None else anonymous
        response = await client.get(path, headers={**(headers or {}), **ids})
        # Made ids too, on the same answers.
        made = await client.get(path, headers=headers)
    assert response.status_code == status, response.text
    assert (response.headers["X-Request-ID"], response.headers["traceparent"]) == (ids["X-Request-ID"], TRACEPARENT)
    assert made.status_code == status and is_made_id(made.headers["X-Request-ID"])
    assert "traceparent" not in made.headers


async def test_a_cors_preflight_and_its_answer_expose_the_ids(module_api: ModuleApi) -> None:
    origin = "https://app.example.com"
    async with httpx.AsyncClient(base_url=module_api.url) as anonymous:
        preflight = await anonymous.options(
            "/v1/summary", headers={"Origin": origin, "Access-Control-Request-Method": "GET", "X-Request-ID": "pre-1"}
        )
    assert preflight.headers["X-Request-ID"] == "pre-1"
    answer = await module_api.acme.get("/v1/summary", headers={"Origin": origin})
    exposed = {name.strip().lower() for name in answer.headers["access-control-expose-headers"].split(",")}
    assert {"x-request-id", "traceparent"} <= exposed


async def test_a_rate_limited_answer_carries_the_ids(settings: Settings, conn: asyncpg.Connection) -> None:
    limited = msgspec.structs.replace(settings, rate_limit_per_second=1, api_port=free_port())
    _, key = await keys.create(conn, "acme", "tests")
    async with running_api(limited) as url, httpx.AsyncClient(base_url=url, headers={"x-api-key": key}) as client:
        answers = [await client.get("/v1/summary", headers={"X-Request-ID": f"burst-{i}"}) for i in range(4)]
    refused = [(i, a) for i, a in enumerate(answers) if a.status_code == 429]
    assert refused, [a.status_code for a in answers]
    assert all(a.headers["X-Request-ID"] == f"burst-{i}" for i, a in refused)


async def test_an_unavailable_database_answer_carries_the_ids_and_its_log_line_the_request_id(
    settings: Settings,
) -> None:
    down = msgspec.structs.replace(
        settings,
        database_url=f"postgresql://billing@127.0.0.1:{free_port()}/nowhere",
        api_port=free_port(),
        db_acquire_timeout_ms=1000,
    )
    async with running_api(down) as url, httpx.AsyncClient(base_url=url) as client:
        with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as captured:
            response = await client.get("/v1/summary", headers={"x-api-key": "bk_anything", "X-Request-ID": "db-down"})
            await settle()
    assert response.status_code == 503 and response.headers["X-Request-ID"] == "db-down"
    warning = next(entry for entry in captured if entry["event"] == "database unavailable")
    assert warning["request_id"] == "db-down"
    access = next(entry for entry in captured if entry["event"] == "request")
    assert (access["status"], access["request_id"]) == (503, "db-down")


# --------------------------------------------------------------------------- Partner Center's ids, the same way


async def test_partner_center_echoes_its_ids_beside_the_request_id(module_api: ModuleApi) -> None:
    ids = {"MS-RequestId": "ms-req-1", "MS-CorrelationId": "ms-corr-1", "X-Request-ID": "ours-1"}
    answer = await module_api.acme.get("/v1/invoices/summaries", headers=ids)
    assert answer.status_code == 200
    assert {name: answer.headers[name] for name in ids} == ids
    # Unfit ones are replaced, as X-Request-ID is: by new GUIDs.
    unfit = await module_api.acme.get("/v1/invoices/summaries", headers={"MS-RequestId": "x" * 200})
    assert uuid.UUID(unfit.headers["MS-RequestId"]) and len(unfit.headers["MS-RequestId"]) == 36
    # Only that family's routes echo them.
    other = await module_api.acme.get("/v1/summary", headers=ids)
    assert "MS-RequestId" not in other.headers and other.headers["X-Request-ID"] == "ours-1"


# --------------------------------------------------------------------------- the OpenAPI document


async def test_the_document_declares_the_ids_on_every_answer(module_api: ModuleApi) -> None:
    document = (await module_api.acme.get("/schema/openapi.json")).json()
    headers = document["components"]["headers"]
    assert headers["X-Request-ID"]["required"] is True
    assert headers["traceparent"]["required"] is False
    for path, item in document["paths"].items():
        for operation in (value for value in item.values() if isinstance(value, dict)):
            for status, response in operation["responses"].items():
                declared = response["headers"]
                assert declared["X-Request-ID"] == {"$ref": "#/components/headers/X-Request-ID"}, (path, status)
                assert "traceparent" in declared
                partner_center = path == "/v1/invoices/summaries"
                assert ("MS-RequestId" in declared) is partner_center and ("MS-CorrelationId" in declared) is (
                    partner_center
                )


# --------------------------------------------------------------------------- the production format


def test_log_lines_are_json_objects_with_a_utc_timestamp() -> None:
    stamp = UtcTimestamp()(None, "info", {})["timestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp), stamp

    class Odd:
        def __repr__(self) -> str:
            return "<odd>"

    line = json.loads(render_json(None, "info", {"event": "x", "odd": Odd(), "key": (1, 2), "n": None}))
    assert line == {"event": "x", "odd": "<odd>", "key": [1, 2], "n": None}


def test_lines_logged_in_a_batch_are_one_write_at_its_end() -> None:
    class Stream(io.BytesIO):
        def __init__(self) -> None:
            super().__init__()
            self.writes: list[bytes] = []

        def write(self, data: Any) -> int:
            self.writes.append(bytes(data))
            return len(data)

    stream = Stream()
    output = LineOutput(stream)
    output.msg(b'{"a":1}')
    with output.batched():
        output.msg(b'{"b":2}')
        with output.batched():  # nested: the outer block writes
            output.msg(b'{"c":3}')
        assert stream.writes == [b'{"a":1}\n']
    output.msg(b'{"d":4}')
    assert stream.writes == [b'{"a":1}\n', b'{"b":2}\n{"c":3}\n', b'{"d":4}\n']


@pytest.fixture
async def billing_api(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[str, Process, Path]]:
    """``billing api`` in a process of its own, logging JSON to a file."""
    billing = Path(sys.executable).with_name("billing")
    log_file = tmp_path / "api.log"
    env = {**os.environ, **settings.to_env(), "BILLING_LOG_FORMAT": "json", "BILLING_LOG_LEVEL": "info"}
    with log_file.open("w") as sink:
        process = await asyncio.create_subprocess_exec(
            str(billing), "api", env=env, stderr=sink, stdout=asyncio.subprocess.DEVNULL
        )
    url = f"http://127.0.0.1:{settings.api_port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/health/live")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
        yield url, process, log_file
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 10)


async def test_billing_api_writes_json_access_lines(billing_api: tuple[str, Process, Path], api_key: str) -> None:
    url, process, log_file = billing_api
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {api_key}"}) as client:
        answer = await client.get(
            "/v1/customers/cus-7/summary", headers={"X-Request-ID": "proc-1", "traceparent": TRACEPARENT}
        )
    assert answer.status_code == 404, answer.text  # no invoices for cus-7
    process.send_signal(signal.SIGTERM)  # it stops (uvicorn re-raises the signal once it has shut down)
    await asyncio.wait_for(process.wait(), 10)
    text = log_file.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    (line,) = [entry for entry in lines if entry.get("request_id") == "proc-1"]
    assert line == {
        "method": "GET",
        "route": "/v1/customers/{customerId}/summary",
        "status": 404,
        "duration_ms": line["duration_ms"],
        "tenant": "acme",
        "request_id": "proc-1",
        "trace_id": TRACE,
        "client": "127.0.0.1",
        "event": "request",
        "level": "info",
        "timestamp": line["timestamp"],
    }
    assert api_key not in text
