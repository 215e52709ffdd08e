"""``billing``: the one command operators use. ``billing <command> --help`` for each."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from services import db, keys
from services.logging import configure
from services.settings import Settings, describe

Command = Callable[[argparse.Namespace, Settings], Awaitable[int]]


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    conn = await db.connect(settings.database_url)
    try:
        applied = await db.migrate(conn)
    finally:
        await conn.close()
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
    conn = await db.connect(settings.database_url)
    try:
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
    finally:
        await conn.close()
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
    demo = sub.add_parser(
        "demo", help="migrate, run a worker and the API in one process, publish demo events"
    )
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
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings.from_env()
    configure(settings.log_format, settings.log_level)
    run: Command = args.run
    try:
        return asyncio.run(run(args, settings))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
