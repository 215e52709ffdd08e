"""``billing``: the one command operators use. ``billing <command> --help`` for each."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import asyncpg

from projections.replay import ReplayError
from services import db, keys
from services.logging import configure
from services.settings import Settings, describe

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


@contextlib.asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await db.connect(settings.database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    async with connected(settings) as conn:
        applied = await db.migrate(conn)
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    return 0


async def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from services.worker.main import run_worker

    await run_worker(settings)
    return 0


async def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    from services.api.server import serve

    await serve(settings)
    return 0


async def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    async with connected(settings) as conn:
        if args.keys_command == "create":
            record, key = await keys.create(conn, args.tenant, args.name)
            print(f"created key {record.id} for tenant {record.tenant_id}: {key}")
            print("store it now: it is not shown again")
        elif args.keys_command == "list":
            for k in await keys.list_keys(conn, args.tenant):
                state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
                print(f"{k.id}\t{k.tenant_id}\t{k.prefix}…\t{k.name}\t{state}")
        else:
            if not await keys.revoke(conn, args.id):
                print(f"no active key with id {args.id}", file=sys.stderr)
                return 1
            print(f"revoked key {args.id}")
    return 0


async def cmd_fx(args: argparse.Namespace, settings: Settings) -> int:
    import datetime as dt
    from pathlib import Path

    from services.api import fx

    if args.fx_command == "load":
        quote = args.to.upper()
        try:
            fx.parse_argument(f"{quote}=1", quote, dt.date.today())  # checks the code
            as_of = dt.date.fromisoformat(args.as_of) if args.as_of else dt.datetime.now(dt.UTC).date()
            rates = []
            if args.file:
                # The CLI reads its one input file before any other work starts.
                text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()  # noqa: ASYNC240
                rates += fx.parse_csv(text, quote, as_of)
            rates += [fx.parse_argument(a, quote, as_of) for a in args.rate]
        except (fx.FxError, ValueError, OSError) as exc:
            print(f"fx load: {exc}", file=sys.stderr)
            return 2
        if not rates:
            print("fx load: no rates given (a CSV file or CURRENCY=RATE arguments)", file=sys.stderr)
            return 2
    async with connected(settings) as conn:
        if args.fx_command == "load":
            try:
                count = await fx.load(conn, rates)
            except fx.FxError as exc:
                print(f"fx load: {exc}", file=sys.stderr)
                return 2
            print(f"loaded {count} rate{'s' if count != 1 else ''} into {quote}")
        else:
            for r in await fx.list_rates(conn):
                loaded = f"{r.loaded_at:%Y-%m-%d %H:%M}" if r.loaded_at else ""
                print(f"{r.base}\t{r.quote}\t{r.rate}\t{r.as_of}\t{loaded}")
    return 0


async def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from projections import replay
    from services import operations

    async with connected(settings) as read, connected(settings) as write:
        if args.abandon:
            dropped = await replay.abandon(write)
            print(f"abandoned version {dropped}" if dropped else "no version is being built")
        elif args.from_kafka:
            print(await operations.rebuild_from_kafka(write, settings, promote=args.promote))
        else:
            print(await operations.rebuild(read, write, promote=args.promote))
    return 0


async def cmd_promote(args: argparse.Namespace, settings: Settings) -> int:
    from services import operations

    async with connected(settings) as conn:
        print(await operations.promote_built(conn))
    return 0


async def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from services import operations

    async with connected(settings) as conn:
        schema, differences = await operations.verify_version(conn, args.version)
    for difference in differences[: args.limit]:
        print(difference)
    if len(differences) > args.limit:
        print(f"… and {len(differences) - args.limit} more")
    print(f"{schema}: {len(differences)} difference(s) from the event store")
    return 1 if differences else 0


async def cmd_versions(args: argparse.Namespace, settings: Settings) -> int:
    from projections import replay
    from services import operations

    async with connected(settings) as conn:
        if args.versions_command == "drop":
            await replay.drop_retired(conn, args.version)
            print(f"dropped version {args.version}")
            return 0
        for r in await operations.list_versions(conn):
            promoted = f"{r['promoted_at']:%Y-%m-%d %H:%M}" if r["promoted_at"] else "-"
            print(
                f"{r['version']}\t{r['schema_name']}\t{r['status']}\t"
                f"applied seq {r['applied_seq']}\tpromoted {promoted}"
            )
    return 0


async def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    import msgspec

    from services.kafka_probe import KafkaProbe
    from services.status import projection_status, render

    probe = KafkaProbe(settings)
    async with connected(settings) as conn:
        reachable: KafkaProbe | None = probe
        try:
            await probe.start()
        except Exception as error:  # noqa: BLE001 - show what the database knows
            print(f"broker unreachable ({error!r}): lag unknown", file=sys.stderr)
            reachable = None
        try:
            current = await projection_status(conn, settings, reachable)
        finally:
            await probe.stop()
    print(msgspec.json.encode(current).decode() if args.json else render(current))
    return 0


async def cmd_quarantine(args: argparse.Namespace, settings: Settings) -> int:
    import datetime as dt

    from projections import quarantine

    def when(text: str | None) -> dt.datetime | None:
        return None if text is None else dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)

    async with connected(settings) as conn:
        if args.quarantine_command == "list":
            events = await quarantine.list_events(
                conn,
                reason=args.reason,
                tenant=args.tenant,
                since=when(args.since),
                until=when(args.until),
                status=None if args.status == "all" else args.status,
                limit=args.limit,
            )
            for e in events:
                print(
                    f"{e.id}\t{e.quarantined_at:%Y-%m-%d %H:%M:%S}\t{e.reason}\t{e.status}\t"
                    f"{e.topic}:{e.partition}:{e.kafka_offset}\t{e.tenant_id or '-'}\t{e.event_id or '-'}"
                )
            print(f"{len(events)} event(s)", file=sys.stderr)
        elif args.quarantine_command == "show":
            event = await quarantine.get(conn, args.id)
            if event is None:
                print(f"no quarantined event {args.id}", file=sys.stderr)
                return 1
            print(f"id {event.id}: {event.reason} ({event.status})\n{event.detail}")
            print(f"position {event.topic}:{event.partition}:{event.kafka_offset}, key {event.kafka_key!r}")
            print(f"headers {event.headers!r}")
            print(f"decoded today: {event.decode_attempt()}")
            raw = event.raw or b""
            try:
                print("raw (UTF-8):\n" + raw.decode())
            except UnicodeDecodeError:
                print("raw (hex):\n" + raw.hex(" ", 16))
        elif args.quarantine_command == "retry":
            ids = list(args.ids)
            if args.reason or args.all:
                ids += [e.id for e in await quarantine.list_events(conn, reason=args.reason, limit=1_000_000)]
            if not ids:
                print("nothing to retry: give ids, --reason or --all", file=sys.stderr)
                return 1
            for outcome in await quarantine.retry(conn, ids):
                why = f" ({outcome.reason}: {outcome.detail})" if outcome.reason else ""
                print(f"{outcome.id}\t{outcome.outcome}{why}")
        else:
            print(f"dismissed {await quarantine.dismiss(conn, args.ids)} event(s)")
    return 0


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from services.devrun import run_demo

    return await run_demo(settings, invoices=args.invoices)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="billing",
        description="Invoice summaries: projection workers, read API and operations.",
        epilog="Settings come from environment variables:\n"
        + "\n".join(f"  {name} (default {default})" for name, default in describe()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="command")
    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(run=cmd_migrate)
    sub.add_parser("worker", help="run a projection worker (SIGTERM stops it cleanly)").set_defaults(run=cmd_worker)
    sub.add_parser("api", help="serve the read API").set_defaults(run=cmd_api)
    demo = sub.add_parser("demo", help="migrate, run a worker and the API in one process, publish demo events")
    demo.add_argument("--invoices", type=int, default=60, help="demo invoices to publish (default 60)")
    demo.set_defaults(run=cmd_demo)

    key_parser = sub.add_parser("keys", help="create, list and revoke API keys")
    key_sub = key_parser.add_subparsers(dest="keys_command", required=True, metavar="action")
    create = key_sub.add_parser("create", help="create a key for a tenant (printed once)")
    create.add_argument("tenant", help="tenant id the key reads")
    create.add_argument("--name", default="", help="a label, e.g. the frontend using it")
    listing = key_sub.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--tenant", default=None, help="only this tenant's keys")
    revoke = key_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", type=int)
    key_parser.set_defaults(run=cmd_keys)

    fx_parser = sub.add_parser("fx", help="load and list the FX rates of converted grand totals")
    fx_sub = fx_parser.add_subparsers(dest="fx_command", required=True, metavar="action")
    load = fx_sub.add_parser(
        "load",
        help="load rates: 1 unit of CURRENCY = RATE units of the --to currency",
        description="Rates from a CSV file (lines currency,rate[,as_of]; '-' reads stdin) "
        "and/or CURRENCY=RATE[@YYYY-MM-DD] arguments. A loaded pair replaces its previous rate.",
    )
    load.add_argument("rate", nargs="*", help="e.g. USD=0.92 or USD=0.92@2026-11-20")
    load.add_argument("--file", help="CSV file of currency,rate[,as_of] lines")
    load.add_argument("--to", default="EUR", help="the reporting currency the rates convert into (default EUR)")
    load.add_argument("--as-of", default=None, help="date of rates without one (default today, UTC)")
    fx_sub.add_parser("list", help="list the loaded rates")
    fx_parser.set_defaults(run=cmd_fx)

    replay_parser = sub.add_parser(
        "replay",
        help="rebuild the projections from the event store into a new version, beside the live one",
        description="Builds a new projection version from the event store while the active one keeps "
        "serving and workers keep consuming, then catches it up to live. A replay that was stopped "
        "resumes (or, stopped during its bulk phase, starts over).",
    )
    replay_parser.add_argument("--promote", action="store_true", help="switch to the new version when it is caught up")
    replay_parser.add_argument("--abandon", action="store_true", help="drop the version being built")
    replay_parser.add_argument(
        "--from-kafka",
        action="store_true",
        help="rebuild from the topic's earliest offsets (only when the event store is empty)",
    )
    replay_parser.set_defaults(run=cmd_replay)
    sub.add_parser("promote", help="switch the API and workers to the version `replay` built, atomically").set_defaults(
        run=cmd_promote
    )
    verify = sub.add_parser(
        "verify",
        help="recompute the projections from the event store and print every difference (exit 1 if any)",
    )
    verify.add_argument("--version", type=int, default=None, help="a version other than the active one")
    verify.add_argument("--limit", type=int, default=50, help="differences to print (default 50)")
    verify.set_defaults(run=cmd_verify)
    versions_parser = sub.add_parser("versions", help="list projection versions, drop retired ones")
    versions_sub = versions_parser.add_subparsers(dest="versions_command", metavar="action")
    versions_sub.add_parser("list", help="list versions (the default)")
    drop = versions_sub.add_parser("drop", help="drop a retired version's schema")
    drop.add_argument("version", type=int)
    versions_parser.set_defaults(run=cmd_versions)

    status_parser = sub.add_parser(
        "status", help="active version, positions and lag per partition, held events, quarantine counts"
    )
    status_parser.add_argument("--json", action="store_true", help="machine-readable output")
    status_parser.set_defaults(run=cmd_status)

    q = sub.add_parser("quarantine", help="list, inspect, retry or dismiss quarantined events")
    q_sub = q.add_subparsers(dest="quarantine_command", required=True, metavar="action")
    q_list = q_sub.add_parser("list", help="list quarantined events")
    q_list.add_argument("--reason", help="e.g. malformed, schema_violation, paid_after_void")
    q_list.add_argument("--tenant")
    q_list.add_argument("--since", help="ISO date/time (UTC)")
    q_list.add_argument("--until", help="ISO date/time (UTC)")
    q_list.add_argument("--status", default="open", choices=["open", "retried", "dismissed", "all"])
    q_list.add_argument("--limit", type=int, default=100)
    q_show = q_sub.add_parser("show", help="raw bytes, headers, position and what decoding makes of it today")
    q_show.add_argument("id", type=int)
    q_retry = q_sub.add_parser("retry", help="put events through the fold again; prints each outcome")
    q_retry.add_argument("ids", type=int, nargs="*")
    q_retry.add_argument("--reason", help="retry every open event with this reason")
    q_retry.add_argument("--all", action="store_true", help="retry every open event")
    q_dismiss = q_sub.add_parser("dismiss", help="close events without applying them")
    q_dismiss.add_argument("ids", type=int, nargs="+")
    q.set_defaults(run=cmd_quarantine)
    return top


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it comes with uvicorn[standard]): a faster event
    loop for the API and the worker alike."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings.from_env()
    configure(settings.log_format, settings.log_level)
    run: Command = args.run
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(run(args, settings))
    except KeyboardInterrupt:
        return 130
    except ReplayError as error:
        print(f"billing {args.command}: {error}", file=sys.stderr)
    except asyncpg.UndefinedTableError as error:
        print(
            f"billing {args.command}: the database has no schema yet ({error}): run `billing migrate`", file=sys.stderr
        )
    except (
        ConnectionError,
        socket.gaierror,
        asyncpg.PostgresConnectionError,
        asyncpg.InvalidAuthorizationSpecificationError,
    ) as error:
        print(f"billing {args.command}: cannot reach the database (BILLING_DATABASE_URL): {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
