"""What the operator commands do, between the CLI's argument parsing and the
projections' SQL: replay and promote with progress, verify, versions, a page
of quarantined events."""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec

from projections import positions, replay, versions
from projections.projector import Projector, incoming
from projections.verify import Difference, verify
from services import kafka
from services.progress import Progress
from services.settings import Settings


async def rebuild(read: asyncpg.Connection, write: asyncpg.Connection, promote: bool, dsn: str | None = None) -> str:
    """Build (or resume) a new version beside the active one, catch it up, and
    promote it if asked. Returns a one-line account. With ``dsn``, the bulk
    phase folds in one process per core (replay.bulk)."""
    version = await replay.start(write)
    if version.applied_seq == 0:
        upto = await replay.watermark(write)
        progress = Progress(f"replay v{version.version}: bulk", await replay.pending(write, version, upto))
        summarising = Progress(
            f"replay v{version.version}: summary tables and indexes", replay.SUMMARY_STATEMENTS, unit="statements"
        )
        version = await replay.bulk(read, write, version, progress, dsn, summarising=summarising)
        progress.finish()
        summarising.finish()
    while True:
        upto = await replay.watermark(write)
        behind = await replay.pending(write, version, upto)
        if behind <= replay.PROMOTE_WITHIN_EVENTS:
            break
        progress = Progress(f"replay v{version.version}: catch up", behind)
        version = await replay.catch_up(write, version, upto, progress)
        progress.finish()
    if not promote:
        return (
            f"version {version.version} ({version.schema_name}) is built and {behind} events behind live;"
            " `billing promote` switches the API and workers to it"
        )
    report = await replay.promote(write, version)
    return (
        f"version {report.version} is active: {report.events_in_switch} events applied during a"
        f" {report.switch_seconds * 1000:.1f} ms switch"
    )


async def promote_built(conn: asyncpg.Connection) -> str:
    row = await conn.fetchrow(
        "SELECT version, schema_name, status, ddl_hash, applied_seq FROM billing.projection_versions"
        " WHERE status = 'building'"
    )
    if row is None:
        raise replay.ReplayError("no version is being built: run `billing replay` first")
    version = versions.Version(**dict(row.items()))
    if version.applied_seq == 0:
        raise replay.ReplayError(f"version {version.version} is not built yet: run `billing replay`")
    upto = await replay.watermark(conn)
    version = await replay.catch_up(conn, version, upto)
    report = await replay.promote(conn, version)
    return (
        f"version {report.version} is active: {report.events_in_switch} events applied during a"
        f" {report.switch_seconds * 1000:.1f} ms switch"
    )


async def verify_version(conn: asyncpg.Connection, version_number: int | None) -> tuple[str, list[Difference]]:
    if version_number is None:
        version = await versions.active(conn)
    else:
        row = await conn.fetchrow(
            "SELECT version, schema_name, status, ddl_hash, applied_seq FROM billing.projection_versions"
            " WHERE version = $1",
            version_number,
        )
        if row is None:
            raise replay.ReplayError(f"there is no version {version_number}")
        version = versions.Version(**dict(row.items()))
    total = int(await conn.fetchval("SELECT count(*) FROM " + version.schema_name + ".invoices"))
    progress = Progress(f"verify v{version.version}", total, unit="invoices")
    differences = await verify(conn, version.schema_name, progress)
    progress(total)
    progress.finish()
    return version.schema_name, differences


async def list_versions(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT version, schema_name, status, applied_seq, created_at, promoted_at, retired_at"
            " FROM billing.projection_versions ORDER BY version"
        )
    )


async def rebuild_from_kafka(conn: asyncpg.Connection, settings: Settings, promote: bool) -> str:
    """Rebuild from the topic itself, from its earliest offsets, when the event
    store is empty (a new database beside a topic that kept everything). The
    records go through the worker's own path — event store, held and quarantined
    events, positions by compare-and-set — into the new version, so a live
    worker running meanwhile is safe: each record is applied by exactly one of them."""
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM billing.event_store)"):
        raise replay.ReplayError("the event store has events: replay from it (without --from-kafka)")
    if await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM billing.partition_positions WHERE topic = $1 AND next_offset > 0)",
        settings.topic,
    ):
        raise replay.ReplayError(
            "partition positions are past the start while the event store is empty: "
            "this database lost its events; restore it, or use a new database"
        )
    version = await replay.start(conn)
    # Without a group, a subscribed consumer is assigned every partition.
    consumer = kafka.consumer(
        settings,
        settings.topic,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = sorted(consumer.assignment())
        if not tps:
            raise replay.ReplayError(f"topic {settings.topic} does not exist")
        partitions = [tp.partition for tp in tps]
        await consumer.seek_to_beginning(*tps)
        ends = {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
        expected = await positions.claim(conn, settings.topic, partitions)
        projector = Projector(settings.topic)
        progress = Progress(f"replay v{version.version} from Kafka", sum(ends.values()), unit="records")
        done = 0
        while any(expected[p] < ends[p] for p in partitions):
            fetched = await consumer.getmany(timeout_ms=500, max_records=settings.batch_max_records)
            records = [
                kafka.raw_record(r)
                for batch in fetched.values()
                for r in batch
                if expected[r.partition] <= r.offset < ends[r.partition]
            ]
            if not records:
                continue
            try:
                await projector.apply(conn, [incoming(r) for r in records], expected, schema=version.schema_name)
            except positions.StalePosition:
                # A live worker applied these first: continue from where it is.
                expected = await positions.claim(conn, settings.topic, partitions)
                for tp in tps:
                    consumer.seek(tp, expected[tp.partition])
                continue
            for r in records:
                expected[r.partition] = r.offset + 1
            done += len(records)
            progress(done)
        progress.finish()
    finally:
        await consumer.stop()
    # What a live worker applied meanwhile went to the old version only: catch
    # up from the store (events this replay applied itself count as duplicates).
    upto = await replay.watermark(conn)
    version = await replay.catch_up(conn, version, upto)
    if not promote:
        return (
            f"version {version.version} ({version.schema_name}) is rebuilt from Kafka; `billing promote` switches to it"
        )
    report = await replay.promote(conn, version)
    return (
        f"version {report.version} is active (rebuilt from Kafka): {report.events_in_switch} events"
        f" applied during a {report.switch_seconds * 1000:.1f} ms switch"
    )


# The quarantine's filters (as projections/quarantine.py lists them), counted
# and paged: a page is ORDER BY id with LIMIT/OFFSET.
QUARANTINE_FILTER = """
FROM billing.quarantine
WHERE ($1::text IS NULL OR reason = $1)
  AND ($2::text IS NULL OR tenant_id = $2)
  AND ($3::timestamptz IS NULL OR quarantined_at >= $3)
  AND ($4::timestamptz IS NULL OR quarantined_at < $4)
  AND ($5::text IS NULL OR status = $5)
"""
QUARANTINE_COUNT = "SELECT count(*) " + QUARANTINE_FILTER
QUARANTINE_PAGE = (
    "SELECT id, quarantined_at, reason, status, topic, partition, kafka_offset, tenant_id, invoice_id,"
    " event_id, event_type, sequence, detail " + QUARANTINE_FILTER + " ORDER BY id LIMIT $6 OFFSET $7"
)


class QuarantineRow(msgspec.Struct, frozen=True, kw_only=True):
    """One quarantined event as `billing quarantine list` shows it (no raw bytes)."""

    id: int
    quarantined_at: dt.datetime
    reason: str
    status: str
    topic: str
    partition: int
    kafka_offset: int
    tenant_id: str | None
    invoice_id: str | None
    event_id: str | None
    event_type: str | None
    sequence: int | None
    detail: str


class QuarantinePage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of matching events and how many match in all."""

    total: int
    offset: int
    limit: int
    items: list[QuarantineRow]


async def quarantine_page(
    conn: asyncpg.Connection,
    *,
    reason: str | None = None,
    tenant: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    status: str | None = "open",
    limit: int = 100,
    offset: int = 0,
) -> QuarantinePage:
    filters = (reason, tenant, since, until, status)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        # One snapshot: the count and the page agree.
        total = int(await conn.fetchval(QUARANTINE_COUNT, *filters))
        rows = await conn.fetch(QUARANTINE_PAGE, *filters, limit, offset)
    return QuarantinePage(
        total=total, offset=offset, limit=limit, items=[QuarantineRow(**dict(r.items())) for r in rows]
    )
