"""What the operator commands do, between the CLI's argument parsing and the
projections' SQL: replay and promote with progress, verify, versions."""

from __future__ import annotations

import asyncpg

from projections import replay, versions
from projections.verify import Difference, verify
from services.progress import Progress


async def rebuild(read: asyncpg.Connection, write: asyncpg.Connection, promote: bool) -> str:
    """Build (or resume) a new version beside the active one, catch it up, and
    promote it if asked. Returns a one-line account."""
    version = await replay.start(write)
    if version.applied_seq == 0:
        upto = await replay.watermark(write)
        progress = Progress(f"replay v{version.version}: bulk", await replay.pending(write, version, upto))
        version = await replay.bulk(read, write, version, progress)
        progress.finish()
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
