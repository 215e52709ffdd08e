"""``billing``: the one command operators use. ``billing <command> --help`` for each.

Output: tables print their rows on stdout, tab-separated, one per line (for
scripts); their header and the count line go to stderr, so they show on a
terminal and stay out of pipes. ``--json`` prints one JSON document instead.
Every operational error is one line on stderr and an exit code (EXIT_CODES).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import socket
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from typing import Any

import asyncpg
import msgspec
from aiokafka.errors import KafkaConnectionError, KafkaError

from projections.replay import ReplayError
from services import db, keys
from services.logging import configure
from services.settings import Settings, SettingsError, describe, redact_url
from services.topics import TopicError

# A coroutine run on an event loop of the command's own; a command that runs
# no loop in this process (the API's supervisor) returns its exit code.
Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int] | int]

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_USAGE = 2
EXIT_SETTING = 3
EXIT_DATABASE = 4
EXIT_KAFKA = 5
EXIT_INTERRUPTED = 130
EXIT_CODES = (
    (EXIT_OK, "success"),
    (
        EXIT_FOUND,
        "the command ran and reports a finding: differences (verify), topics short of the settings, an unknown id",
    ),
    (
        EXIT_USAGE,
        "bad arguments or input: the command line, an input file, an operation refused (dropping the active version)",
    ),
    (
        EXIT_SETTING,
        "a bad setting: a BILLING_* variable that cannot be used (the message names it and what it accepts)",
    ),
    (
        EXIT_DATABASE,
        "the database: unreachable, refusing the connection or a statement, or without schema (`billing migrate`)",
    ),
    (EXIT_KAFKA, "Kafka: brokers unreachable, TLS or SASL refused, a topic missing (auto-creation off) or refused"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
)


class CliError(Exception):
    """An operational error: one line for the operator and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@contextlib.asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await db.connect(settings.database_url)
    try:
        yield conn
    finally:
        await conn.close()


# --------------------------------------------------------------------------- output


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _camel_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k) if isinstance(k, str) else k: _camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


def print_json(value: Any) -> None:
    """One JSON document on stdout; field names in camelCase, as the API's."""
    print(msgspec.json.encode(_camel_keys(msgspec.to_builtins(value))).decode())


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if hasattr(value, "strftime") and hasattr(value, "hour"):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return str(value)


def print_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Rows on stdout (tab-separated), the header on stderr (module docstring)."""
    print("\t".join(header), file=sys.stderr, flush=True)
    for row in rows:
        print("\t".join(_cell(c) for c in row))
    sys.stdout.flush()


def note(line: str) -> None:
    """A line for the operator, beside the data: stderr."""
    sys.stdout.flush()
    print(line, file=sys.stderr, flush=True)


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    async with connected(settings) as conn:
        applied = await db.migrate(conn)
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    return 0


async def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from services.worker.main import run_worker

    await run_worker(settings)
    return 0


def cmd_api(args: argparse.Namespace, settings: Settings) -> Coroutine[Any, Any, int] | int:
    """One process serves on this process's event loop; several are children
    of a supervisor that runs no event loop."""
    from services.api import server

    workers = args.workers or settings.api_workers or server.usable_cores()
    if workers == 1:
        return _serve_api(settings)
    if not server.supervise(settings, workers):
        raise CliError(EXIT_DATABASE, API_START_FAILED)
    return EXIT_OK


API_START_FAILED = "the API did not start: its database pool or startup failed (logged above)"


async def _serve_api(settings: Settings) -> int:
    from services.api.server import serve

    if not await serve(settings):
        raise CliError(EXIT_DATABASE, API_START_FAILED)
    return EXIT_OK


async def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    async with connected(settings) as conn:
        if args.keys_command == "create":
            record, key = await keys.create(conn, args.tenant, args.name)
            print(f"created key {record.id} for tenant {record.tenant_id}: {key}")
            print("store it now: it is not shown again")
        elif args.keys_command == "list":
            listed = await keys.list_keys(conn, args.tenant)
            if args.json:
                print_json(listed)
                return EXIT_OK
            if not listed:
                note("no API keys" + (f" for tenant {args.tenant}" if args.tenant else "") + ": `billing keys create`")
                return EXIT_OK
            print_table(
                ("id", "tenant", "prefix", "name", "created", "state"),
                (
                    (
                        k.id,
                        k.tenant_id,
                        f"{k.prefix}…",
                        k.name or "-",
                        k.created_at,
                        f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active",
                    )
                    for k in listed
                ),
            )
            note(f"{len(listed)} key(s), {sum(k.revoked_at is None for k in listed)} active")
        else:
            if not await keys.revoke(conn, args.id):
                print(f"no active key with id {args.id}", file=sys.stderr)
                return EXIT_FOUND
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
                rates += fx.parse_rates_file(text, quote, as_of)
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
        elif args.fx_command == "currency":
            try:
                if args.code:
                    await fx.set_reporting_currency(conn, args.tenant, args.code)
            except fx.FxError as exc:
                print(f"fx currency: {exc}", file=sys.stderr)
                return 2
            code = await fx.tenant_setting(conn, args.tenant)
            default = f"none set (its only invoice currency, else {settings.reporting_currency})"
            print(f"{args.tenant}: {code or default}")
        else:
            listed = await fx.list_rates(conn)
            if args.json:
                print_json(listed)
            elif not listed:
                note("no FX rates loaded: converted grand totals are unavailable until `billing fx load`")
            else:
                print_table(
                    ("base", "quote", "rate", "as of", "loaded"),
                    (
                        (r.base, r.quote, r.rate, r.as_of, f"{r.loaded_at:%Y-%m-%d %H:%M}" if r.loaded_at else "-")
                        for r in listed
                    ),
                )
                note(f"{len(listed)} rate(s): 1 unit of base = rate units of quote")
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
            print(await operations.rebuild(read, write, promote=args.promote, dsn=settings.database_url))
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
        listed = [dict(r.items()) for r in await operations.list_versions(conn)]
    if getattr(args, "json", False):
        print_json(listed)
        return EXIT_OK
    print_table(
        ("version", "schema", "status", "applied seq", "created", "promoted", "retired"),
        (
            (
                r["version"],
                r["schema_name"],
                r["status"],
                r["applied_seq"],
                r["created_at"],
                r["promoted_at"],
                r["retired_at"],
            )
            for r in listed
        ),
    )
    return EXIT_OK


async def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from services.kafka_probe import KafkaProbe
    from services.status import projection_status, render

    async with connected(settings) as conn:
        probe = KafkaProbe(settings)
        reachable: KafkaProbe | None = probe
        try:
            await probe.start()
        except (KafkaError, OSError, TimeoutError) as error:  # show what the database knows
            note(f"broker unreachable ({error!r}): lag unknown")
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

    def when(text: str | None, option: str) -> dt.datetime | None:
        if text is None:
            return None
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise CliError(EXIT_USAGE, f"{option} {text!r}: expected an ISO date or date-time (UTC)") from None
        return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment

    since = when(getattr(args, "since", None), "--since")
    until = when(getattr(args, "until", None), "--until")
    async with connected(settings) as conn:
        if args.quarantine_command == "list":
            from services import operations

            page = await operations.quarantine_page(
                conn,
                reason=args.reason,
                tenant=args.tenant,
                since=since,
                until=until,
                status=None if args.status == "all" else args.status,
                limit=args.limit,
                offset=args.offset,
            )
            if args.json:
                print_json(page)
                return EXIT_OK
            which = "" if args.status == "all" else f"{args.status} "
            if not page.items:
                beyond = f" at offset {page.offset}" if page.total else ""
                note(f"no {which}quarantined events match{beyond} (of {page.total})")
                return EXIT_OK
            print_table(
                ("id", "quarantined", "reason", "status", "position", "tenant", "event id"),
                (
                    (
                        e.id,
                        e.quarantined_at,
                        e.reason,
                        e.status,
                        f"{e.topic}:{e.partition}:{e.kafka_offset}",
                        e.tenant_id,
                        e.event_id,
                    )
                    for e in page.items
                ),
            )
            last = page.offset + len(page.items)
            more = f"; next page: --offset {last}" if last < page.total else ""
            note(f"showing {page.offset + 1}-{last} of {page.total} {which}quarantined event(s){more}")
        elif args.quarantine_command == "show":
            event = await quarantine.get(conn, args.id)
            if event is None:
                print(f"no quarantined event {args.id}", file=sys.stderr)
                return EXIT_FOUND
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
                return EXIT_FOUND
            for outcome in await quarantine.retry(conn, ids, settings.held_max_per_tenant):
                why = f" ({outcome.reason}: {outcome.detail})" if outcome.reason else ""
                print(f"{outcome.id}\t{outcome.outcome}{why}")
        else:
            print(f"dismissed {await quarantine.dismiss(conn, args.ids)} event(s)")
    return 0


async def cmd_held(args: argparse.Namespace, settings: Settings) -> int:
    from projections import held

    if getattr(args, "invoice", None) is not None and args.tenant is None:
        raise CliError(EXIT_USAGE, "--invoice needs --tenant")
    if getattr(args, "sequence", None) is not None and getattr(args, "invoice", None) is None:
        raise CliError(EXIT_USAGE, "--sequence needs --invoice")
    async with connected(settings) as conn:
        if args.held_command == "list":
            page = await held.page(
                conn,
                tenant=args.tenant,
                invoice=args.invoice,
                older_than=args.older_than,
                limit=args.limit,
                offset=args.offset,
            )
            if args.json:
                print_json(page)
                return EXIT_OK
            if not page.items:
                beyond = f" at offset {page.offset}" if page.total else ""
                note(f"no held events match{beyond} (of {page.total})")
                return EXIT_OK
            print_table(
                ("held", "age (s)", "tenant", "invoice", "sequence", "waiting for", "position", "event id"),
                (
                    (
                        e.held_at,
                        f"{e.age_seconds:.0f}",
                        e.tenant_id,
                        e.invoice_id,
                        e.sequence,
                        e.waiting_for,
                        f"{e.topic}:{e.partition}:{e.kafka_offset}",
                        e.event_id,
                    )
                    for e in page.items
                ),
            )
            last = page.offset + len(page.items)
            more = f"; next page: --offset {last}" if last < page.total else ""
            note(
                f"showing {page.offset + 1}-{last} of {page.total} held event(s){more}"
                f" (cap {settings.held_max_per_tenant} per tenant, {settings.held_max_age_seconds:g} s at most)"
            )
        elif args.held_command == "show":
            found = await held.get(conn, args.tenant, args.invoice, args.sequence)
            if found is None:
                print(f"no held event {args.tenant}/{args.invoice}#{args.sequence}", file=sys.stderr)
                return EXIT_FOUND
            event, body = found
            if args.json:
                print_json({**msgspec.to_builtins(event), "body": body.decode(errors="replace")})
                return EXIT_OK
            print(f"{event.tenant_id}/{event.invoice_id}#{event.sequence}: event {event.event_id}")
            print(f"position {event.topic}:{event.partition}:{event.kafka_offset}")
            print(f"held since {_cell(event.held_at)} UTC ({event.age_seconds:.0f} s)")
            print(f"waiting for sequence {event.waiting_for} of the invoice")
            print("body:\n" + body.decode(errors="replace"))
        else:
            if not (args.tenant or args.older_than is not None or args.all):
                raise CliError(EXIT_USAGE, "release-to-quarantine: give --tenant, --older-than or --all")
            from services.worker.dead_letters import DeadLetters

            dead_letters = DeadLetters(settings)
            await dead_letters.start()
            released = 0
            try:
                while True:
                    moved = await held.move_to_quarantine(
                        conn,
                        "released to quarantine by an operator",
                        tenant=args.tenant,
                        invoice=args.invoice,
                        sequence=args.sequence,
                        older_than=args.older_than,
                        before_commit=dead_letters.copy,
                    )
                    released += moved.quarantined
                    if moved.result is not None:
                        for q in moved.result.quarantined:
                            print(f"{q.tenant_id}\t{q.invoice_id}\t{q.sequence}\t{q.event_id}")
                    if moved.selected < held.MOVE_LIMIT or not moved.quarantined:
                        break
            finally:
                await dead_letters.stop()
            note(
                f"released {released} held event(s) to quarantine (reason gap_timeout):"
                " `billing quarantine retry --reason gap_timeout` once their gaps have filled"
            )
    return EXIT_OK


async def cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    from services import topics

    reports = await topics.ensure(settings, create=args.topics_command == "ensure")
    problems = any(r.problems for r in reports)
    if args.json:
        print_json({"ok": not problems, "topics": reports})
    else:
        for line in topics.render(reports):
            print(line)
    return EXIT_FOUND if problems else EXIT_OK


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from services.devrun import run_demo

    return await run_demo(settings, invoices=args.invoices)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="billing",
        description="Invoice summaries: projection workers, read API and operations.",
        epilog="Exit codes:\n"
        + "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES)
        + "\n\nTables print rows on stdout (tab-separated) and their header and counts on stderr;"
        " --json prints one JSON document.\n\n"
        "Settings come from environment variables:\n"
        + "\n".join(f"  {name} (default {default})" for name, default in describe()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="command")
    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(run=cmd_migrate)
    sub.add_parser("worker", help="run a projection worker (SIGTERM stops it cleanly)").set_defaults(run=cmd_worker)
    api = sub.add_parser(
        "api",
        help="serve the read API (SIGTERM or SIGINT: in-flight requests finish, then it exits)",
        description="Serve the read API on BILLING_API_HOST:BILLING_API_PORT. With several processes, a"
        " supervisor binds the port once, runs the processes on it, replaces one that dies and, on SIGTERM or"
        " SIGINT, lets every process finish its in-flight requests; /metrics adds up all of them.",
    )
    api.add_argument(
        "--workers",
        type=positive,
        default=None,
        metavar="N",
        help="API processes serving the port (default BILLING_API_WORKERS; 0 there, the default, is one per"
        " usable core); 1 runs no supervisor",
    )
    api.set_defaults(run=cmd_api)
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
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = key_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", type=int)
    key_parser.set_defaults(run=cmd_keys)

    fx_parser = sub.add_parser("fx", help="load and list the FX rates of converted grand totals")
    fx_sub = fx_parser.add_subparsers(dest="fx_command", required=True, metavar="action")
    load = fx_sub.add_parser(
        "load",
        help="load rates: 1 unit of CURRENCY = RATE units of the --to currency",
        description="Rates from a file (CSV lines currency,rate[,as_of], or the ECB's eurofxref.csv or "
        "eurofxref-daily.xml, converted into the --to currency; '-' reads stdin) "
        "and/or CURRENCY=RATE[@YYYY-MM-DD] arguments. A loaded pair replaces its previous rate.",
    )
    load.add_argument("rate", nargs="*", help="e.g. USD=0.92 or USD=0.92@2026-11-20")
    load.add_argument("--file", help="currency,rate[,as_of] lines, or an ECB eurofxref.csv / eurofxref-daily.xml")
    load.add_argument("--to", default="EUR", help="the reporting currency the rates convert into (default EUR)")
    load.add_argument("--as-of", default=None, help="date of rates without one (default today, UTC)")
    fx_list = fx_sub.add_parser("list", help="list the loaded rates")
    fx_list.add_argument("--json", action="store_true", help="machine-readable output")
    currency = fx_sub.add_parser("currency", help="show or set a tenant's reporting currency (its grand totals')")
    currency.add_argument("tenant")
    currency.add_argument("code", nargs="?", help="e.g. RON; without it, show the tenant's")
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
    versions_parser.add_argument("--json", action="store_true", help="machine-readable output")
    versions_sub = versions_parser.add_subparsers(dest="versions_command", metavar="action")
    versions_list = versions_sub.add_parser("list", help="list versions (the default)")
    # SUPPRESS: the sub-command's default must not undo `billing versions --json list`.
    versions_list.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
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
    q_list.add_argument("--limit", type=positive, default=100, help="events per page (default 100)")
    q_list.add_argument(
        "--offset", type=non_negative, default=0, help="events to skip (the next page's offset is shown)"
    )
    q_list.add_argument("--json", action="store_true", help="machine-readable output: total, offset, limit, items")
    q_show = q_sub.add_parser("show", help="raw bytes, headers, position and what decoding makes of it today")
    q_show.add_argument("id", type=int)
    q_retry = q_sub.add_parser("retry", help="put events through the fold again; prints each outcome")
    q_retry.add_argument("ids", type=int, nargs="*")
    q_retry.add_argument("--reason", help="retry every open event with this reason")
    q_retry.add_argument("--all", action="store_true", help="retry every open event")
    q_dismiss = q_sub.add_parser("dismiss", help="close events without applying them")
    q_dismiss.add_argument("ids", type=int, nargs="+")
    q.set_defaults(run=cmd_quarantine)

    h = sub.add_parser("held", help="list and show held events, release them to quarantine")
    h_sub = h.add_subparsers(dest="held_command", required=True, metavar="action")
    h_list = h_sub.add_parser("list", help="list held events, oldest first")
    h_list.add_argument("--tenant")
    h_list.add_argument("--invoice", help="only this invoice's (with --tenant)")
    h_list.add_argument("--older-than", type=seconds, default=None, help="only those held longer (seconds)")
    h_list.add_argument("--limit", type=positive, default=100, help="events per page (default 100)")
    h_list.add_argument(
        "--offset", type=non_negative, default=0, help="events to skip (the next page's offset is shown)"
    )
    h_list.add_argument("--json", action="store_true", help="machine-readable output: total, offset, limit, items")
    h_show = h_sub.add_parser("show", help="one held event: position, age, what it waits for, its body")
    h_show.add_argument("tenant")
    h_show.add_argument("invoice")
    h_show.add_argument("sequence", type=int)
    h_show.add_argument("--json", action="store_true", help="machine-readable output")
    h_release = h_sub.add_parser(
        "release-to-quarantine",
        help="move held events whose gap is still open to quarantine (gap_timeout), copied to the dead letters",
        description="Moves the held events that match to the quarantine with reason gap_timeout (their stored "
        "body and Kafka position kept; `billing quarantine retry` applies them once their gaps have filled) "
        "and copies them to the dead-letter topic. Prints tenant, invoice, sequence and event id of each.",
    )
    h_release.add_argument("--tenant")
    h_release.add_argument("--invoice", help="only this invoice's (with --tenant)")
    h_release.add_argument("--sequence", type=int, help="only this sequence (with --invoice)")
    h_release.add_argument("--older-than", type=seconds, default=None, help="only those held longer (seconds)")
    h_release.add_argument("--all", action="store_true", help="every held event")
    h.set_defaults(run=cmd_held)

    topics_parser = sub.add_parser(
        "topics",
        help="create or check the event and dead-letter topics against the settings",
        description="ensure: create a missing topic with BILLING_TOPIC_PARTITIONS partitions, "
        "BILLING_TOPIC_REPLICATION_FACTOR replicas and BILLING_TOPIC_RETENTION_MS retention, and report "
        "what exists against what is configured; an existing topic is never changed. check: only report. "
        "Exit 1 when a topic is missing (check) or does less than configured.",
    )
    topics_sub = topics_parser.add_subparsers(dest="topics_command", required=True, metavar="action")
    for action, text in (("ensure", "create missing topics, report the rest"), ("check", "report only")):
        topics_action = topics_sub.add_parser(action, help=text)
        topics_action.add_argument("--json", action="store_true", help="machine-readable output")
    topics_parser.set_defaults(run=cmd_topics)
    return top


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected 1 or more")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: expected 0 or more")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: expected a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: expected a number of seconds (0 or more)")
    return value


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it comes with uvicorn[standard]): a faster event
    loop for the API and the worker alike."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class KafkaBootstrapErrors(logging.Filter):
    """Keeps the reason aiokafka logs when it cannot bootstrap from a broker
    (refused, TLS, SASL) for the one-line error, instead of a log line each."""

    PREFIX = re.compile(r'^Unable connect to "[^"]*": ')

    def __init__(self) -> None:
        super().__init__()
        self.last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("aiokafka"):
            message = record.getMessage()
            if self.PREFIX.match(message):
                self.last = self.PREFIX.sub("", message)
                return False
        return True


def describe_error(error: BaseException, settings: Settings, kafka_cause: str | None) -> tuple[int, str] | None:
    """The exit code and one line for an operational error; None for a bug
    (which keeps its traceback)."""
    database = f"the database at {redact_url(settings.database_url)} (BILLING_DATABASE_URL)"
    protocol = settings.kafka_security_protocol
    if protocol.startswith("SASL_"):
        protocol += f" {settings.kafka_sasl_mechanism}"
    brokers = f"Kafka at {settings.kafka_bootstrap} ({protocol}; BILLING_KAFKA_BOOTSTRAP, BILLING_KAFKA_SECURITY_*)"
    match error:
        case CliError():
            return error.code, str(error)
        case SettingsError():
            return EXIT_SETTING, str(error)
        case ReplayError():
            return EXIT_USAGE, str(error)
        case TopicError():
            return EXIT_KAFKA, str(error)
        case asyncpg.UndefinedTableError() | asyncpg.InvalidSchemaNameError():
            return EXIT_DATABASE, f"the database has no schema yet ({error}): run `billing migrate`"
        case asyncpg.ClientConfigurationError():
            return EXIT_SETTING, f"BILLING_DATABASE_URL cannot be used: {error}"
        case asyncpg.InvalidAuthorizationSpecificationError() | asyncpg.InvalidCatalogNameError():
            return EXIT_DATABASE, f"{database} refused the connection: {error}"
        case asyncpg.PostgresConnectionError() | asyncpg.InterfaceError():
            return EXIT_DATABASE, f"lost or could not open the connection to {database}: {error}"
        case asyncpg.PostgresError():
            return EXIT_DATABASE, f"{database} refused a statement: {type(error).__name__}: {error}"
        case KafkaConnectionError():
            return EXIT_KAFKA, f"cannot connect to {brokers}: {kafka_cause or error}"
        case KafkaError():
            return EXIT_KAFKA, f"{brokers}: {type(error).__name__}: {error}"
        case ConnectionError() | socket.gaierror() | TimeoutError() | OSError():
            # Kafka's client errors are KafkaErrors: a bare socket error is the database's.
            return EXIT_DATABASE, f"cannot reach {database}: {error}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"billing {args.command}: {error}", file=sys.stderr)
        return EXIT_SETTING
    configure(settings.log_format, settings.log_level)
    bootstrap_errors = KafkaBootstrapErrors()
    for handler in logging.getLogger().handlers:
        handler.addFilter(bootstrap_errors)
    run: Command = args.run
    try:
        outcome = run(args, settings)
        if isinstance(outcome, int):
            return outcome
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(outcome)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:
        described = describe_error(error, settings, bootstrap_errors.last)
        if described is None:
            raise
        code, message = described
        print(f"billing {args.command}: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
