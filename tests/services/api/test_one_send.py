"""The API's connections send each response in one write (services/api/server.py)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import httpx

from services.api.server import OneSendTransport
from tests.services.api.conftest import ModuleApi


class Recorded:
    """What a transport was asked to do."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name == "sockname" else default


def one_send(recorded: Recorded) -> OneSendTransport:
    return OneSendTransport(cast(asyncio.Transport, recorded), asyncio.get_running_loop())


async def test_the_writes_of_one_turn_of_the_loop_leave_in_one_write_at_its_end() -> None:
    recorded = Recorded()
    transport = one_send(recorded)
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert recorded.writes == []
    await asyncio.sleep(0)
    assert recorded.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert recorded.writes[1:] == [b"next"]


async def test_closing_sends_what_is_held_first_and_the_rest_is_the_transports() -> None:
    recorded = Recorded()
    transport = one_send(recorded)
    transport.write(b"last answer")
    transport.close()
    assert recorded.writes == [b"last answer"]
    assert recorded.closed and transport.is_closing()
    await asyncio.sleep(0)  # nothing more to send, and nothing sent after the close
    assert recorded.writes == [b"last answer"]
    assert transport.get_extra_info("sockname") == ("127.0.0.1", 8000)


async def test_answers_on_one_connection_stay_whole_and_in_order(module_api: ModuleApi) -> None:
    async with httpx.AsyncClient(base_url=module_api.url, headers={"x-api-key": module_api.acme_key}) as http:
        for path in ("/invoices/summary", "/nowhere", "/health/live", "/invoices/summary"):
            response = await http.get(path)
            assert response.status_code == (404 if path == "/nowhere" else 200)
            assert int(response.headers["content-length"]) == len(response.content)
