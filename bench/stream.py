"""The live stream under load: 1,000 subscribers of ``/v1/stream`` on one API
process while ingest runs at 2,000 events/s, against 1,000 clients polling
``/v1/summary`` once a second (the way to stay current without the stream),
in the same run, on the same API process, worker and database.

Latency is measured from publish to client: the paced publisher
(bench/paced_publisher.py) notes the monotonic time just before it sends one
record in ``SAMPLE_EVERY``, with the partition and offset the broker gives
it; its tenant is known from the record (the harness makes the same records
again). A subscriber of that tenant knows of the event at the first
``change`` event whose position has passed that offset; a polling client at
the first answer whose ``X-Projection-Position`` has. Every (sample,
client of its tenant) pair counts once: 10 clients per tenant, 100 tenants
(Zipf-sized: the largest changes all the time, the smallest rarely).
Each latency is split at the commit of the worker's batch that applied the
event: the harness LISTENs to the workers' change notices too (delivered at
commit) and takes, for each sample, the first notice of its tenant whose
position has passed it. Publish → commit is the worker's share (its lag
behind the publisher), commit → client the stream's or polling's own.

The clients are two processes of their own (``python -m bench.stream
client``) on raw asyncio sockets, so that the harness measures the API and
not an HTTP library. Also reported: the API's resident memory before the
clients, with them connected, and its peak; the CPU of the API, the worker
and PostgreSQL's backends (the database load polling costs); events and
refetches received; requests per second of the polling clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec

from bench import loading, streams
from bench.config import SEED, Context
from bench.freshness import visibility_latencies
from bench.lab import Process, api_positions, parse_position_header
from bench.procstat import CpuSampler, CpuShare, stack_groups, status_kb
from bench.stats import percentile
from projections.notify import CHANNEL
from services import keys
from services.settings import Settings

CLIENTS = 1000
CLIENT_PROCESSES = 2
RATE = 2000
SAMPLE_EVERY = 20
POLL_SECONDS = 1.0
WATCH_SECONDS = 0.1
TARGET_P99_MS = 1000.0


class Phase(msgspec.Struct, frozen=True):
    mode: str  # stream | poll
    clients: int
    connected: int
    target_rate: int
    achieved_rate: float
    seconds: float
    samples: int
    # (sample, client of its tenant) pairs, and how many of them saw the event.
    pairs: int
    seen: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    # Publish -> commit (the worker's batch applying the event, as its change
    # notice reached the harness), and commit -> the client: the stream's (or
    # polling's) own delay.
    commit_p50_ms: float
    commit_p99_ms: float
    after_commit_p50_ms: float
    after_commit_p99_ms: float
    # What the clients received: stream events (change, refetch) or answers.
    changes: int
    refetches: int
    requests: int
    received_per_second: float
    api_rss_idle_mb: float
    api_rss_connected_mb: float
    api_rss_peak_mb: float
    cpu: list[CpuShare]
    load_average: float


class StreamResult(msgspec.Struct, frozen=True):
    phases: list[Phase]
    # A phase that failed (the other is still reported), by mode.
    errors: dict[str, str] = {}


# The clients ---------------------------------------------------------------


class Client:
    """One subscriber or polling client: what it saw, when."""

    def __init__(self, tenant: str, key: str) -> None:
        self.tenant = tenant
        self.key = key
        self.observations: list[tuple[float, dict[int, int]]] = []
        self.ready = asyncio.Event()
        self.changes = 0
        self.refetches = 0
        self.requests = 0


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


async def subscribe(host: str, port: int, client: Client) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    writer.write(f"GET /v1/stream HTTP/1.1\r\nHost: {host}\r\nx-api-key: {client.key}\r\n\r\n".encode())
    status, headers = await _head(reader)
    if status != 200:
        raise RuntimeError(f"/v1/stream answered {status}")
    chunked = headers.get("transfer-encoding") == "chunked"
    kind = event_id = ""
    while True:
        line = await reader.readline()
        if not line:
            return
        if chunked and line.endswith(b"\r\n"):
            # Chunk sizes and chunk ends; the events' own lines end with \n.
            continue
        text = line.decode().rstrip("\n")
        if text.startswith("event: "):
            kind = text[7:]
        elif text.startswith("id: "):
            event_id = text[4:]
        elif text == "" and kind:
            if kind == "ready":
                client.ready.set()
            elif kind == "change":
                client.changes += 1
                client.observations.append((time.monotonic(), parse_position_header(event_id)))
            elif kind == "refetch":
                client.refetches += 1
                client.observations.append((time.monotonic(), parse_position_header(event_id)))
            kind = event_id = ""


async def poll(host: str, port: int, client: Client, offset: float) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET /v1/summary HTTP/1.1\r\nHost: {host}\r\nx-api-key: {client.key}\r\n\r\n".encode()
    await asyncio.sleep(offset)
    started = time.monotonic()
    while True:
        writer.write(request)
        status, headers = await _head(reader)
        await reader.readexactly(int(headers.get("content-length", "0")))
        if status != 200:
            raise RuntimeError(f"/v1/summary answered {status}")
        client.requests += 1
        client.observations.append((time.monotonic(), parse_position_header(headers.get("x-projection-position"))))
        client.ready.set()
        # Once a second, on a schedule of its own (a slow answer is not caught up twice).
        started += POLL_SECONDS
        await asyncio.sleep(max(0.0, started - time.monotonic()))


async def clients_main(args: argparse.Namespace, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Run the clients until SIGTERM; what they saw."""
    host, _, port = args.address.rpartition(":")
    clients = [Client(tenant, key) for tenant, key in pairs]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks = []
    for index, client in enumerate(clients):
        if args.mode == "stream":
            tasks.append(asyncio.create_task(subscribe(host, int(port), client)))
        else:
            tasks.append(asyncio.create_task(poll(host, int(port), client, POLL_SECONDS * index / len(clients))))
        if index % 50 == 49:
            await asyncio.sleep(0.05)  # connect in steps: the API's accept queue is finite
    await asyncio.wait([asyncio.create_task(c.ready.wait()) for c in clients], timeout=60)
    connected = sum(c.ready.is_set() for c in clients)
    print(f"ready {connected}", flush=True)
    await stop.wait()
    failures = [repr(t.exception()) for t in tasks if t.done() and not t.cancelled() and t.exception()]
    for task in tasks:
        task.cancel()
    return {
        "connected": connected,
        "failures": failures[:5],
        "clients": [
            {
                "tenant": c.tenant,
                "changes": c.changes,
                "refetches": c.refetches,
                "requests": c.requests,
                "observations": [[t, list(p.items())] for t, p in c.observations],
            }
            for c in clients
        ],
    }


# The harness ---------------------------------------------------------------


async def _watch(http: httpx.AsyncClient, api_url: str, key: str) -> dict[int, int]:
    """The positions the API reflects (none when it is too busy to answer in time)."""
    try:
        return await api_positions(http, api_url, key)
    except httpx.TimeoutException:
        return {}


class Commits:
    """The workers' change notices as they reach a LISTEN connection of the
    harness: when each tenant's positions were committed."""

    def __init__(self) -> None:
        self.by_tenant: dict[str, list[tuple[float, dict[int, int]]]] = {}
        self.conn: asyncpg.Connection | None = None

    async def listen(self, database_url: str) -> None:
        self.conn = await asyncpg.connect(database_url)
        await self.conn.add_listener(CHANNEL, self._notice)

    def _notice(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        notice = json.loads(str(payload))
        if notice.get("position"):
            positions = parse_position_header(notice["position"])
            self.by_tenant.setdefault(notice["tenant"], []).append((time.monotonic(), positions))

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    return (status_kb(pid, field) or 0) / 1024


async def _tenant_keys(url: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(url)
    try:
        return [
            (tenant, (await keys.create(conn, tenant, "benchmark"))[1])
            for tenant in (streams.tenant_id(index) for index in range(streams.TENANTS))
        ]
    finally:
        await conn.close()


async def _caught_up(client: httpx.AsyncClient, api_url: str, key: str, ends: dict[int, int], worker: Process) -> None:
    deadline = time.monotonic() + 120
    while True:
        positions = await api_positions(client, api_url, key)
        if all(positions.get(p, 0) >= o for p, o in ends.items()):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not catch up:\n{worker.tail()}")
        await asyncio.sleep(0.1)


async def run(ctx: Context) -> StreamResult:
    lab = ctx.lab
    url = await lab.database("stream")
    topic = await lab.topic("stream")
    settings = lab.settings(url, topic, consumer_group=f"bench-{uuid.uuid4().hex[:8]}", api_workers=1)
    tenant_keys = await _tenant_keys(url)
    api, api_url = await lab.api("stream-api", settings)
    worker = lab.billing("stream-worker", ["worker"], settings)
    database = url.rpartition("/")[2]
    phases: list[Phase] = []
    errors: dict[str, str] = {}
    try:
        warm = streams.records(2_000, SEED + 30, ctx.today)
        ends = await loading.publish(lab.kafka_bootstrap, topic, warm)
        async with httpx.AsyncClient(timeout=10) as http:
            await _caught_up(http, api_url, tenant_keys[0][1], ends, worker)
            for index, mode in enumerate(("stream", "poll")):
                rig = Rig(settings, api, api_url, worker, database, tenant_keys, http)
                try:
                    phases.append(await _phase(ctx, rig, mode, SEED + 31 + index))
                except Exception as error:  # noqa: BLE001 - reported; the other phase stands
                    errors[mode] = repr(error)[:500]
                    ctx.say(f"stream benchmark, {mode} FAILED: {error!r}")
                    continue
                ctx.say(
                    f"stream benchmark, {mode}: p50 {phases[-1].p50_ms:.0f} ms, p99 {phases[-1].p99_ms:.0f} ms, "
                    f"API RSS {phases[-1].api_rss_connected_mb:.0f} MB"
                )
    finally:
        worker.stop()
        api.stop()
    await lab.drop_database(url)
    return StreamResult(phases, errors)


class Rig:
    """What the phases share: the API, its worker, the tenants' keys."""

    def __init__(
        self,
        settings: Settings,
        api: Process,
        api_url: str,
        worker: Process,
        database: str,
        tenant_keys: list[tuple[str, str]],
        http: httpx.AsyncClient,
    ) -> None:
        self.settings = settings
        self.api = api
        self.api_url = api_url
        self.worker = worker
        self.database = database
        self.tenant_keys = tenant_keys
        self.http = http


async def _phase(ctx: Context, rig: Rig, mode: str, seed: int) -> Phase:
    settings, api, api_url, worker, database, tenant_keys, http = (
        rig.settings,
        rig.api,
        rig.api_url,
        rig.worker,
        rig.database,
        rig.tenant_keys,
        rig.http,
    )
    key = tenant_keys[0][1]
    lab = ctx.lab
    seconds = ctx.sizes.freshness_seconds
    tag = uuid.uuid4().hex[:6]
    logs = ctx.report_dir / "logs"
    rss_idle = _rss_mb(api.pid)
    # Client i follows tenant i mod 100: ten clients per tenant.
    assigned = [tenant_keys[index % len(tenant_keys)] for index in range(CLIENTS)]
    clients: list[Process] = []
    outputs: list[Path] = []
    publisher: Process | None = None
    commits = Commits()
    try:
        await commits.listen(settings.database_url)
        for part in range(CLIENT_PROCESSES):
            keys_file = logs / f"stream-{mode}-{tag}-keys-{part}.json"
            keys_file.write_text(json.dumps(assigned[part::CLIENT_PROCESSES]))
            outputs.append(logs / f"stream-{mode}-{tag}-clients-{part}.json")
            clients.append(
                lab.spawn(
                    f"stream-{mode}-clients-{part}",
                    [
                        "bench.stream",
                        "client",
                        "--mode",
                        mode,
                        "--address",
                        f"127.0.0.1:{settings.api_port}",
                        "--keys",
                        str(keys_file),
                        "--out",
                        str(outputs[-1]),
                    ],
                    settings,
                )
            )
        connected = 0
        for process in clients:
            while "ready" not in process.log.read_text(errors="replace"):
                if not process.running():
                    raise RuntimeError(f"{process.name} failed:\n{process.tail()}")
                await asyncio.sleep(0.1)
            connected += int(process.log.read_text().split("ready", 1)[1].split()[0])
        rss_connected = _rss_mb(api.pid)
        samples_file = logs / f"stream-{mode}-{tag}-samples.json"
        publisher = lab.spawn(
            f"stream-{mode}-publisher",
            [
                "bench.paced_publisher",
                "--rate",
                str(RATE),
                "--seconds",
                str(seconds),
                "--sample-every",
                str(SAMPLE_EVERY),
                "--seed",
                str(seed),
                "--out",
                str(samples_file),
            ],
            settings,
        )
        while "ready" not in publisher.log.read_text(errors="replace"):
            if not publisher.running():
                raise RuntimeError(f"paced publisher failed:\n{publisher.tail()}")
            await asyncio.sleep(0.05)
        names = {api.pid: "billing api (python)", worker.pid: "billing worker (python)"}
        names |= {p.pid: "benchmark clients (python)" for p in clients}
        names[publisher.pid] = "paced publisher (python)"
        sampler = CpuSampler(stack_groups(ctx.postgres_pid, ctx.kafka_pid, database, lambda: names))
        sampler.start()
        rss_peak = rss_connected
        while publisher.running():
            rss_peak = max(rss_peak, _rss_mb(api.pid))
            await asyncio.sleep(0.1)
        cpu = await sampler.stop()
        if publisher.popen.wait() != 0:
            raise RuntimeError(f"paced publisher failed:\n{publisher.tail()}")
        published = json.loads(samples_file.read_text())
        wanted: dict[int, int] = {}
        for _, partition, offset in published["samples"]:
            wanted[partition] = max(wanted.get(partition, -1), offset)
        # Until the API reflects every sampled event (a slow worker catches up).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            positions = await _watch(http, api_url, key)
            if all(positions.get(p, 0) > o for p, o in wanted.items()):
                break
            await asyncio.sleep(WATCH_SECONDS)
        # The last events reach the clients (a poller's next answer is up to a second away).
        await asyncio.sleep(POLL_SECONDS + 1)
    finally:
        await commits.close()
        if publisher is not None:
            publisher.stop()
        for process in clients:
            process.stop()
    seen = [json.loads(path.read_text()) for path in outputs]
    records = streams.records(int(RATE * seconds), seed, late=0.0, duplicates=0.0)
    by_tenant: dict[str, list[tuple[float, int, int]]] = {}
    for number, (sent, partition, offset) in enumerate(published["samples"]):
        tenant = records[number * SAMPLE_EVERY].event.tenantid
        by_tenant.setdefault(tenant, []).append((float(sent), int(partition), int(offset)))
    committed: dict[tuple[float, int, int], float] = {}
    for tenant, mine in by_tenant.items():
        for sample, after in zip(mine, visibility_latencies(mine, commits.by_tenant.get(tenant, [])), strict=True):
            if after is not None:
                committed[sample] = sample[0] + after
    latencies: list[float] = []
    after_commit: list[float] = []
    pairs = 0
    changes = refetches = requests = 0
    # What the clients received while the publisher ran (the CPU's window).
    in_window = 0
    for output in seen:
        for client in output["clients"]:
            changes += client["changes"]
            refetches += client["refetches"]
            requests += client["requests"]
            observations = [(t, {int(p): int(o) for p, o in pos}) for t, pos in client["observations"]]
            in_window += sum(sampler.started <= t <= sampler.stopped for t, _ in observations)
            mine = by_tenant.get(client["tenant"], [])
            pairs += len(mine)
            for sample, known in zip(mine, visibility_latencies(mine, observations), strict=True):
                if known is None:
                    continue
                latencies.append(known * 1000)
                commit = committed.get(sample)
                if commit is not None:
                    after_commit.append((sample[0] + known - commit) * 1000)
    commit_ms = [(commit - sample[0]) * 1000 for sample, commit in committed.items()] or [0.0]
    after_ms = after_commit or [0.0]
    ms = latencies or [0.0]
    window = published["seconds"]
    return Phase(
        mode=mode,
        clients=CLIENTS,
        connected=connected,
        target_rate=RATE,
        achieved_rate=published["sent"] / window,
        seconds=window,
        samples=len(published["samples"]),
        pairs=pairs,
        seen=len(latencies),
        p50_ms=percentile(ms, 50),
        p90_ms=percentile(ms, 90),
        p99_ms=percentile(ms, 99),
        max_ms=max(ms),
        commit_p50_ms=percentile(commit_ms, 50),
        commit_p99_ms=percentile(commit_ms, 99),
        after_commit_p50_ms=percentile(after_ms, 50),
        after_commit_p99_ms=percentile(after_ms, 99),
        changes=changes,
        refetches=refetches,
        requests=requests,
        # Answers (poll) or events (stream) a second while the publisher ran.
        received_per_second=in_window / max(sampler.stopped - sampler.started, 1e-9),
        api_rss_idle_mb=rss_idle,
        api_rss_connected_mb=rss_connected,
        api_rss_peak_mb=rss_peak,
        cpu=cpu,
        load_average=os.getloadavg()[0],
    )


def section(result: StreamResult | None) -> list[str]:
    """The report's section (markdown lines)."""
    if result is None:
        return []
    out = [
        "## Live stream: 1,000 subscribers while ingesting 2,000 events/s",
        "",
        f"{CLIENTS:,} clients on one API process, ten per tenant over {streams.TENANTS} tenants, while a paced "
        f"publisher sends {RATE:,} events/s; latency from publish (just before the send) to the client knowing "
        f"of the event, over every (sampled event, client of its tenant) pair (1 event in {SAMPLE_EVERY}). "
        f"Baseline in the same run: the same clients polling /v1/summary once a second. Target p99 <= "
        f"{TARGET_P99_MS:.0f} ms.",
        "",
        "| clients | connected | events/s | pairs seen | publish → client p50 / p90 / p99 / max ms "
        "| publish → commit p50 / p99 ms | commit → client p50 / p99 ms | received "
        "| received/s while publishing "
        "| API RSS idle / connected / peak MB | CPU %: API / worker / PostgreSQL backends / machine load (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in result.phases:
        cpu = {share.group: share.cpu_percent for share in p.cpu}
        received = (
            f"{p.changes:,} changes, {p.refetches} refetches" if p.mode == "stream" else f"{p.requests:,} answers"
        )
        out.append(
            f"| {p.mode} ({p.clients:,}) | {p.connected:,} | {p.achieved_rate:,.0f} | {p.seen:,}/{p.pairs:,} "
            f"| {p.p50_ms:.0f} / {p.p90_ms:.0f} / {p.p99_ms:.0f} / {p.max_ms:.0f} "
            f"| {p.commit_p50_ms:.0f} / {p.commit_p99_ms:.0f} | {p.after_commit_p50_ms:.0f} / "
            f"{p.after_commit_p99_ms:.0f} | {received} | {p.received_per_second:,.0f} "
            f"| {p.api_rss_idle_mb:.0f} / {p.api_rss_connected_mb:.0f} / {p.api_rss_peak_mb:.0f} "
            f"| {cpu.get('billing api (python)', 0):.0f} / {cpu.get('billing worker (python)', 0):.0f} / "
            f"{cpu.get('postgres backends (benchmark database)', 0):.0f} / {p.load_average:.1f} |"
        )
    by_mode = {p.mode: p for p in result.phases}
    if "stream" in by_mode and "poll" in by_mode:
        s, q = by_mode["stream"], by_mode["poll"]
        ratio = q.p99_ms / s.p99_ms if s.p99_ms else 0.0
        out += [
            "",
            f"Stream p99 {s.p99_ms:.0f} ms against polling's {q.p99_ms:.0f} ms ({ratio:.1f}x); after the change "
            f"is committed, {s.after_commit_p99_ms:.0f} ms against {q.after_commit_p99_ms:.0f} ms at p99; "
            f"p99 {'within' if s.p99_ms <= TARGET_P99_MS else 'OVER'} the {TARGET_P99_MS:.0f} ms target. "
            f"Memory the subscribers hold in the API: {s.api_rss_connected_mb - s.api_rss_idle_mb:.0f} MB "
            f"({(s.api_rss_connected_mb - s.api_rss_idle_mb) * 1024 / max(s.connected, 1):.0f} kB each).",
        ]
    out += [f"The {mode} phase failed: {error}" for mode, error in result.errors.items()]
    return [*out, ""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    client = sub.add_parser("client", help="stream subscribers or polling clients (the harness runs these)")
    client.add_argument("--mode", choices=("stream", "poll"), required=True)
    client.add_argument("--address", required=True, help="host:port of the API")
    client.add_argument("--keys", required=True, help="JSON list of [tenant, key], one per client")
    client.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    pairs = json.loads(Path(args.keys).read_text())
    Path(args.out).write_text(json.dumps(asyncio.run(clients_main(args, pairs))))


if __name__ == "__main__":
    main(sys.argv[1:])
