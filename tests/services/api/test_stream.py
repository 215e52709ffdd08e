"""GET /v1/stream against the real broker, worker, database and HTTP API:
what a subscriber receives, and only its tenant's; the tokens; resuming;
coalescing; a slow client; heartbeats; the listen connection's loss."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import msgspec
import pytest

from contracts import InvoiceEventPublisher, encode
from projections import notify, quarantine, versions
from services import keys
from services.api.stream.listener import APPLICATION_NAME
from services.api.stream.tokens import sign
from services.settings import Settings
from tests.factories import InvoiceBuilder
from tests.projected import project
from tests.services.api.sse import subscribed
from tests.serving import running_api

pytestmark = pytest.mark.integration


def offsets(token: str) -> dict[int, int]:
    found = {}
    for part in filter(None, token.split(",")):
        head, _, offset = part.partition("=")
        found[int(head.rpartition(":")[2])] = int(offset)
    return found


def reached(position: str, wanted: str) -> bool:
    have = offsets(position)
    return all(have.get(p, 0) >= o for p, o in offsets(wanted).items())


@contextlib.asynccontextmanager
async def api(settings: Settings, **stream: object) -> AsyncIterator[str]:
    async with running_api(msgspec.structs.replace(settings, **stream)) as url:  # type: ignore[arg-type]
        yield url


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_published_change_reaches_its_tenant_only_with_position_currency_and_customer(
    settings: Settings, running_worker: asyncio.Event, conn: asyncpg.Connection, api_key: str
) -> None:
    _, globex_key = await keys.create(conn, "globex", "tests")
    eur = InvoiceBuilder(tenant="acme", customer="cus-eur", currency="EUR")
    chf = InvoiceBuilder(tenant="acme", customer="cus-chf", currency="CHF")
    async with (
        api(settings) as url,
        subscribed(url, bearer(api_key)) as acme,
        subscribed(url, {"x-api-key": globex_key}) as globex,
    ):
        assert acme.headers is not None and acme.headers["content-type"].startswith("text/event-stream")
        ready = await acme.next()
        assert ready.event == "ready" and ready.id == ready.data["position"]
        assert (await globex.next()).event == "ready"
        async with InvoiceEventPublisher(settings.kafka_bootstrap, settings.topic) as publisher:
            await publisher.publish_many([eur.created(), eur.sent(), chf.created()])
            wanted = publisher.position_token()
        currencies: set[str] = set()
        customers: set[str] = set()
        position = ""
        while not reached(position, wanted):
            change = await acme.next_of("change")
            assert change.id == change.data["position"]
            position = change.data["position"]
            currencies |= set(change.data["currencies"])
            customers |= set(change.data["customers"])
        assert currencies == {"EUR", "CHF"} and customers == {"cus-eur", "cus-chf"}
        # The position is a freshness token: the figures it names include the change.
        async with httpx.AsyncClient(base_url=url, headers=bearer(api_key)) as http:
            summary = await http.get("/v1/summary", params={"minPosition": position})
        assert summary.status_code == 200
        assert {s["currency"] for s in summary.json()["summaries"]} == {"EUR", "CHF"}
        # globex received acme's change notice at the same moment: nothing reached it.
        assert await globex.quiet(0.5) == []


async def test_a_stream_token_opens_the_stream_of_its_tenant_without_headers(
    settings: Settings, conn: asyncpg.Connection, api_key: str
) -> None:
    eur = InvoiceBuilder(tenant="acme", customer="cus-1")
    async with api(settings) as url, httpx.AsyncClient(base_url=url) as http:
        minted = await http.post("/v1/stream/tokens", headers=bearer(api_key))
        assert minted.status_code == 200, minted.text
        body = minted.json()
        assert body["expiresIn"] == settings.stream_token_seconds and body["url"].endswith(body["token"])
        assert api_key not in body["token"]
        async with subscribed(url, params={"token": body["token"]}) as client:
            assert (await client.next()).event == "ready"
            await project(conn, [eur.created()], topic=settings.topic)
            change = await client.next_of("change")
            assert change.data["customers"] == ["cus-1"]
        # Minting needs the key itself.
        assert (await http.post("/v1/stream/tokens", params={"token": body["token"]})).status_code == 401


async def test_a_tampered_expired_or_revoked_token_and_a_raw_key_in_the_url_are_401_problems(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    record, key = await keys.create(conn, "acme", "tests")
    async with api(settings) as url, httpx.AsyncClient(base_url=url) as http:
        token = (await http.post("/v1/stream/tokens", headers=bearer(key))).json()["token"]
        version, key_id, expires, signature = token.split(".")
        tampered = [
            f"{version}.{key_id}.{int(expires) + 3600}.{signature}",  # a longer life
            f"{version}.{key_id}.{expires}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
            sign(record.id, keys.hash_key(key), int(time.time()) - 1),  # expired
            key,  # the raw key is not a token
        ]
        for bad in tampered:
            async with subscribed(url, params={"token": bad}) as client:
                assert client.status == 401, bad
                assert client.headers is not None
                assert client.headers["content-type"].startswith("application/problem+json")
        async with subscribed(url, params={"token": tampered[2]}) as client:
            assert "expired" in msgspec.json.decode(client.body)["detail"]
        await keys.revoke(conn, record.id)
        await asyncio.sleep(settings.api_key_cache_seconds + 0.2)
        async with subscribed(url, params={"token": token}) as client:
            assert client.status == 401
        # Unknown parameters are refused as everywhere.
        other_key = (await keys.create(conn, "acme", "tests"))[1]
        async with subscribed(url, bearer(other_key), params={"tenant": "globex"}) as client:
            assert client.status == 400 and "tenant" in client.body


async def test_last_event_id_resumes_with_what_was_missed(
    settings: Settings, conn: asyncpg.Connection, api_key: str
) -> None:
    async with api(settings) as url:
        async with subscribed(url, bearer(api_key)) as client:
            start = (await client.next()).id
        assert start is not None
        missed = InvoiceBuilder(tenant="acme", customer="cus-away", currency="JPY")
        await project(conn, [missed.created()], topic=settings.topic)
        await project(conn, [InvoiceBuilder(tenant="globex", customer="not-mine").created()], topic=settings.topic)
        await asyncio.sleep(0.3)  # the notices reach the API
        async with subscribed(url, {**bearer(api_key), "Last-Event-ID": start}) as client:
            ready = await client.next()
            assert ready.event == "ready" and ready.id is None
            caught_up = await client.next()
            assert caught_up.event == "change"
            assert caught_up.data["currencies"] == ["JPY"] and caught_up.data["customers"] == ["cus-away"]
            latest = caught_up.id
        assert latest is not None and latest != start
        async with subscribed(url, {**bearer(api_key), "Last-Event-ID": latest}) as client:
            assert (await client.next()).event == "ready"
            assert await client.quiet(0.4) == []
        # An id that is no position of this topic: what was missed is unknown.
        async with subscribed(url, {**bearer(api_key), "Last-Event-ID": "other-topic:0=5"}) as client:
            assert (await client.next()).event == "ready"
            refetch = await client.next()
            assert refetch.event == "refetch" and refetch.data["reason"] == "resume"


async def test_a_burst_of_batches_is_coalesced_into_fewer_events_with_their_union(
    settings: Settings, conn: asyncpg.Connection, api_key: str
) -> None:
    batches = 20
    async with api(settings, stream_coalesce_ms=500) as url, subscribed(url, bearer(api_key)) as client:
        await client.next()
        for n in range(batches):
            await project(conn, [InvoiceBuilder(tenant="acme", customer=f"cus-{n}").created()], topic=settings.topic)
        received = await client.quiet(1.5)
    assert all(event.event == "change" for event in received)
    assert 1 <= len(received) < batches / 2
    assert set().union(*(event.data["customers"] for event in received)) == {f"cus-{n}" for n in range(batches)}


async def test_a_client_that_does_not_read_is_told_to_refetch_instead_of_buffered(
    settings: Settings, conn: asyncpg.Connection, api_key: str
) -> None:
    async with api(settings, stream_coalesce_ms=1, stream_queue_events=4) as url:
        port = int(url.rsplit(":", 1)[1])
        reader = socket.socket()
        # A small receive window: the server's writes back up once the
        # kernel's buffers are full (a send buffer grows up to tcp_wmem's
        # maximum, 4 MB by default).
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.connect(("127.0.0.1", port))
        reader.sendall(
            f"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {api_key}\r\n\r\n".encode()
        )
        await asyncio.sleep(0.3)
        # Changes of the longest customer ids make events of ~7 kB: sent as
        # the workers send them, each after the last one went out.
        customers = [f"{n:02d}" + "x" * 198 for n in range(36)]
        changes = 1000
        for n in range(changes):
            position = notify.position_token(settings.topic, {0: n + 1})
            await notify.send(
                conn, [notify.Notice(tenant="acme", position=position, currencies=["EUR"], customers=customers)]
            )
            await asyncio.sleep(0.003)
        await asyncio.sleep(0.3)
        reader.setblocking(False)
        received = b""
        deadline = time.monotonic() + 10
        while b"event: refetch" not in received and time.monotonic() < deadline:
            try:
                chunk = reader.recv(1 << 16)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            if not chunk:
                break
            received += chunk
        reader.close()
    assert b'"reason":"overflow"' in received
    # The refetch stands for the changes dropped: far fewer went out.
    assert received.count(b"event: change") < changes / 2


async def test_heartbeats_keep_an_idle_stream_busy(settings: Settings, api_key: str) -> None:
    async with api(settings, stream_heartbeat_seconds=0.2) as url, subscribed(url, bearer(api_key)) as client:
        await client.next()
        await asyncio.sleep(0.7)
        assert client.comments.count(": heartbeat") >= 2


async def test_a_stream_ends_after_its_longest_life(settings: Settings, api_key: str) -> None:
    async with api(settings, stream_max_seconds=0.5, stream_heartbeat_seconds=0.2) as url:
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{url}/v1/stream", headers=bearer(api_key))
        lasted = time.monotonic() - started
    assert response.status_code == 200
    assert "event: ready" in response.text and ": heartbeat" in response.text
    assert 0.5 <= lasted < 5


async def test_a_lost_listen_connection_and_a_switch_over_tell_subscribers_to_refetch(
    settings: Settings, conn: asyncpg.Connection, api_key: str
) -> None:
    async with api(settings) as url, subscribed(url, bearer(api_key)) as client:
        await client.next()
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = $1",
            APPLICATION_NAME,
        )
        assert killed == 1
        refetch = await client.next_of("refetch")
        assert refetch.data["reason"] == "reconnect"
        # Changes after the reconnection flow again.
        await project(conn, [InvoiceBuilder(tenant="acme", customer="cus-back").created()], topic=settings.topic)
        assert (await client.next_of("change")).data["customers"] == ["cus-back"]
        async with conn.transaction():
            await versions.switch_to(conn, await versions.active(conn))
        assert (await client.next_of("refetch")).data["reason"] == "switch-over"


async def test_a_quarantined_event_applied_by_a_retry_reaches_the_stream(
    settings: Settings, conn: asyncpg.Connection, api_key: str
) -> None:
    fixed = InvoiceBuilder(tenant="acme", customer="cus-retried", currency="GBP")
    async with api(settings) as url, subscribed(url, bearer(api_key)) as client:
        await client.next()
        await project(conn, [b"not json"], topic=settings.topic)
        # The publisher's bytes were repaired by hand, as an operator may.
        await conn.execute(
            "UPDATE billing.quarantine SET raw = $1, kafka_key = $2", encode(fixed.created()), fixed.invoice_id.encode()
        )
        [event] = await quarantine.list_events(conn)
        [report] = await quarantine.retry(conn, [event.id])
        assert report.outcome == "applied"
        change = await client.next_of("change")
        assert change.data["customers"] == ["cus-retried"] and change.data["currencies"] == ["GBP"]


async def test_a_process_holds_at_most_its_subscriber_cap_and_frees_a_place_when_a_client_leaves(
    settings: Settings, api_key: str
) -> None:
    async with api(settings, stream_max_subscribers=1) as url:
        async with subscribed(url, bearer(api_key)) as first:
            assert (await first.next()).event == "ready"
            async with subscribed(url, bearer(api_key)) as second:
                assert second.status == 503
                assert second.headers is not None and second.headers["retry-after"] == "5"
        await asyncio.sleep(0.2)  # the server sees the disconnection
        async with subscribed(url, bearer(api_key)) as again:
            assert (await again.next()).event == "ready"


async def test_the_access_log_never_shows_a_stream_token(
    settings: Settings, api_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with api(settings) as url, httpx.AsyncClient(base_url=url) as http:
        token = (await http.post("/v1/stream/tokens", headers=bearer(api_key))).json()["token"]
        async with subscribed(url, params={"token": token}) as client:
            assert (await client.next()).event == "ready"
        async with subscribed(url, params={"token": token + "x"}) as refused:
            assert refused.status == 401
        await asyncio.sleep(0.2)  # the access log's lines are written in batches
    logged = capsys.readouterr()
    assert "route=/v1/stream" in logged.out or '"route": "/v1/stream"' in logged.out
    assert token not in logged.out + logged.err and api_key not in logged.out + logged.err


async def test_the_metrics_count_the_subscribers_and_the_events_queued_for_them(
    settings: Settings, conn: asyncpg.Connection, api_key: str
) -> None:
    def value(metrics: str, name: str) -> float:
        return sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(name))

    async with api(settings) as url, httpx.AsyncClient(base_url=url) as http:
        before = (await http.get("/metrics")).text
        async with subscribed(url, bearer(api_key)) as one, subscribed(url, bearer(api_key)) as two:
            await one.next()
            await two.next()
            await project(conn, [InvoiceBuilder(tenant="acme").created()], topic=settings.topic)
            await one.next_of("change")
            await two.next_of("change")
            during = (await http.get("/metrics")).text
        await asyncio.sleep(0.2)
        after = (await http.get("/metrics")).text
    subscribers = "billing_stream_subscribers"
    assert value(during, subscribers) == value(before, subscribers) + 2 == value(after, subscribers) + 2
    changes = 'billing_stream_events_total{event="change"}'
    assert value(during, changes) >= value(before, changes) + 2
