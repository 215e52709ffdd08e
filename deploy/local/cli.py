"""The command line: ``python -m deploy.local start|stop|status|env|logs``."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from deploy.local.config import COMPONENTS, env_mapping, kafka_sasl_ssl_port, layout
from deploy.local.control import start, status, stop
from deploy.local.errors import StackError
from deploy.local.processes import DEFAULT_START_TIMEOUT, DEFAULT_STOP_TIMEOUT, tail
from deploy.local.tls import client_env

PROG = "python -m deploy.local"


def _cmd_start(args: argparse.Namespace) -> int:
    start(args.components, timeout=args.timeout)
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    stop(args.components, timeout=args.timeout)
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    report = status(args.components)
    for entry in report.values():
        print(entry.line())
    return 0 if all(entry.running for entry in report.values()) else 3


def _cmd_env(args: argparse.Namespace) -> int:
    prefix = "export " if args.export else ""
    mapping = env_mapping()
    if args.sasl_ssl:
        port = kafka_sasl_ssl_port()
        if port is None:
            raise StackError("no SASL_SSL listener: start the stack with BILLING_STACK_KAFKA_SASL_SSL_PORT set")
        mapping.update(client_env(layout(), port))
    for key, value in mapping.items():
        print(f"{prefix}{key}={shlex.quote(value)}")
    return 0


def _cmd_logs(args: argparse.Namespace) -> int:
    paths = layout()
    logs = {"kafka": paths.kafka_log, "postgres": paths.pg_log}
    chosen = [args.component] if args.component else list(COMPONENTS)
    for name in chosen:
        if len(chosen) > 1:
            print(f"==> {logs[name]} <==")
        text = tail(logs[name], args.lines)
        print(text if text else f"(no log yet at {logs[name]})")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Start, stop and inspect the private local Kafka broker and PostgreSQL server.",
        epilog="State folder: $BILLING_STACK_DIR or <repo>/.stack. Ports: BILLING_STACK_KAFKA_PORT (19092), "
        "BILLING_STACK_KAFKA_CONTROLLER_PORT (19093), BILLING_STACK_PG_PORT (15432). "
        "BILLING_STACK_KAFKA_SASL_SSL_PORT adds a SASL_SSL listener (PLAIN and SCRAM, certificates made with "
        "openssl in the state folder; BILLING_STACK_KAFKA_SSL_CLIENT_AUTH=none|requested|required); it must be set "
        "before the broker's storage is first formatted for SCRAM users to exist. "
        "Set BILLING_DATABASE_URL / BILLING_KAFKA_BOOTSTRAP to use external servers instead.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_components(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        # Validated by select_components(): argparse's choices do not combine well with nargs="*".
        sub.add_argument("components", nargs="*", metavar="{kafka,postgres}", help="components (default: all)")
        return sub

    start_cmd = with_components("start", "Start components that are not running and wait until they are ready.")
    start_cmd.add_argument("--timeout", type=float, default=DEFAULT_START_TIMEOUT, help="seconds to wait for readiness")
    start_cmd.set_defaults(handler=_cmd_start)
    stop_cmd = with_components("stop", "Stop components cleanly (SIGKILL after the timeout); data and logs are kept.")
    stop_cmd.add_argument("--timeout", type=float, default=DEFAULT_STOP_TIMEOUT, help="seconds before forcing")
    stop_cmd.set_defaults(handler=_cmd_stop)
    with_components("status", "One line per component; exit 0 if all are running, else 3.").set_defaults(
        handler=_cmd_status
    )
    env_cmd = commands.add_parser(
        "env",
        help="Print BILLING_DATABASE_URL and BILLING_KAFKA_BOOTSTRAP lines.",
        description=f'Print shell lines; use: set -a; eval "$({PROG} env)"; set +a',
    )
    env_cmd.add_argument("--export", action="store_true", help="prefix each line with 'export '")
    env_cmd.add_argument(
        "--sasl-ssl", action="store_true", help="the settings of a client of the SASL_SSL listener (SCRAM-SHA-512)"
    )
    env_cmd.set_defaults(handler=_cmd_env)
    logs_cmd = commands.add_parser(
        "logs",
        help="Show the end of a component's log.",
        description="Show the end of a component's log (both when none is given).",
    )
    logs_cmd.add_argument("component", nargs="?", choices=COMPONENTS)
    logs_cmd.add_argument("-n", "--lines", type=int, default=50, help="number of lines (default 50)")
    logs_cmd.set_defaults(handler=_cmd_logs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except StackError as error:
        print(f"stack: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
