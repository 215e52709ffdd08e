"""One typed settings object, read from ``BILLING_*`` environment variables.

Every process builds it once at start-up (``Settings.from_env()``) and passes it
down explicitly; nothing reads the environment at import time. The defaults
point at the local stack (deploy/local, python -m deploy.local) so a laptop needs no set-up.

A value that cannot be used is a ``SettingsError`` whose message names the
variable, what it holds and what it accepts; ``billing`` prints it as one line.
"""

from __future__ import annotations

import os
import re
import types
import typing
import urllib.parse
from collections.abc import Mapping
from typing import Any

import msgspec

PREFIX = "BILLING_"

# How the service's Kafka clients reach the brokers (Kafka's security.protocol).
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
LOG_FORMATS = ("auto", "json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# Settings with a fixed set of values, and whether they are upper or lower case.
CHOICES: dict[str, tuple[str, ...]] = {
    "kafka_security_protocol": SECURITY_PROTOCOLS,
    "kafka_sasl_mechanism": SASL_MECHANISMS,
    "log_format": LOG_FORMATS,
    "log_level": LOG_LEVELS,
}
# Values that never appear in a repr or a log line.
SECRETS = frozenset({"kafka_sasl_password"})
TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


class SettingsError(ValueError):
    """A BILLING_* variable that cannot be used; the message names it."""


def variable(field: str) -> str:
    """The environment variable of a settings field."""
    return PREFIX + field.upper()


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "postgresql://billing@127.0.0.1:15432/billing"
    kafka_bootstrap: str = "127.0.0.1:19092"
    # How this service's Kafka clients name themselves to the brokers (their
    # logs, quotas and group member ids).
    kafka_client_id: str = "billing"
    # Kafka security, for every client the service builds (worker, dead
    # letters, publisher, status probe, admin): PLAINTEXT | SSL |
    # SASL_PLAINTEXT | SASL_SSL. SASL takes a mechanism (PLAIN |
    # SCRAM-SHA-256 | SCRAM-SHA-512), a user name and a password; TLS takes
    # a CA bundle (default: the system's trust store) and, for mutual TLS, a
    # client certificate and key (PEM files).
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    topic: str = "invoice-events"
    dlq_topic: str = "invoice-events.dlq"
    consumer_group: str = "invoice-projections"
    # Kafka group membership: a worker that stops sending heartbeats for this
    # long loses its partitions. With a stable instance id (static membership)
    # a restarted worker takes its partitions back at once, without a rebalance.
    session_timeout_ms: int = 10_000
    group_instance_id: str | None = None
    # The topics as `billing topics ensure` creates and checks them: partitions
    # (workers scale out up to this many), replicas of each partition, and how
    # long the broker keeps records (ms; -1 forever). The event store in
    # PostgreSQL is the long-term record: retention only has to outlast the
    # longest worker outage (docs/scaling.md).
    topic_partitions: int = 4
    topic_replication_factor: int = 1
    topic_retention_ms: int = 7 * 24 * 3600 * 1000
    # A worker that finds its topics missing creates them (as `billing topics
    # ensure` would) when this is on; off, it refuses to start.
    topic_auto_create: bool = True
    # Consumers a worker process runs, each its own member of the group with
    # its own partitions and database session. A consumer's batch is a chain:
    # its fold (the process's CPU), then its statements (PostgreSQL's); with
    # two, one folds while the other's statements run (docs/scaling.md).
    worker_consumers: int = 2
    # Worker batching: up to batch_max_records per transaction, waiting at most
    # batch_wait_ms for a batch to fill.
    batch_max_records: int = 5000
    batch_wait_ms: int = 50
    # Longest a worker statement may run before it is cancelled (and the batch
    # retried): a lock held elsewhere or a stuck server cannot wedge a worker.
    statement_timeout_ms: int = 60_000
    # A held event whose gap is still open after this long is reported.
    gap_alert_seconds: float = 300.0
    # Held events are bounded: a tenant holds at most this many (an event
    # beyond goes to quarantine, reason gap_timeout), and one still held
    # after this long goes to quarantine too (the workers' periodic check).
    held_max_per_tenant: int = 10_000
    held_max_age_seconds: float = 7 * 24 * 3600.0
    # Prometheus metrics of the worker on <host>:<port>; port 0 turns them
    # off. Containers listen on 0.0.0.0.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 9465
    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # API processes serving the port (`billing api --workers`); 0: one per
    # usable core (the CPUs this process may run on).
    api_workers: int = 0
    # Read-your-writes: how long a request may wait for a position.
    freshness_wait_max_ms: int = 5000
    # Positions read for one request answer the next ones for this long (they
    # stay a lower bound of what the data reflects); 0 reads them every time.
    api_positions_max_age_ms: int = 20
    cors_origins: tuple[str, ...] = ()
    # One structured log line per API request (method, route, status,
    # duration, tenant, request id, client address).
    api_access_log: bool = True
    # Currency of the converted grand totals (Contazen's grand_total_<code>),
    # using the FX rates loaded with `billing fx load`.
    reporting_currency: str = "EUR"
    # Connections the API opens up front; 0 lets it start (and /health/ready
    # say why it is not ready) while the database is still down.
    db_pool_min: int = 0
    db_pool_max: int = 10
    # An API request waits at most this long for a pooled connection, and a
    # query may run this long, before the answer is a 503.
    db_acquire_timeout_ms: int = 5_000
    api_statement_timeout_ms: int = 10_000
    # API keys: a lookup (hit or miss) is remembered this long, so a revoked
    # key stops working within it; 0 looks every request up.
    api_key_cache_seconds: float = 5.0
    # The live stream (GET /v1/stream, docs/stream.md): its tokens (for
    # EventSource, which cannot send headers) are valid this long; a comment
    # line this often keeps proxies from closing a quiet stream; a tenant's
    # changes within the coalescing window go out as one event; events
    # waiting for one slow subscriber beyond the queue are dropped and it is
    # told to refetch; one API process holds at most so many subscribers
    # (503 beyond); a stream ends after its longest life (the client
    # reconnects with Last-Event-ID, as EventSource does by itself), so
    # connections rotate through proxies and over the API's processes.
    stream_token_seconds: int = 300
    stream_heartbeat_seconds: float = 15.0
    stream_coalesce_ms: int = 250
    stream_queue_events: int = 32
    stream_max_subscribers: int = 10_000
    stream_max_seconds: float = 3600.0
    # Requests per second per API key (per client address without a key);
    # 0 turns rate limiting off.
    rate_limit_per_second: int = 0
    # Request limits: the query string in bytes (414 beyond), one parameter's
    # value in characters (cursors may be 4x), values of a comma list, query
    # parameters per request (400 beyond), all request headers in bytes (431).
    max_query_length: int = 8192
    max_parameter_length: int = 1000
    max_list_values: int = 50
    max_query_parameters: int = 64
    max_header_bytes: int = 16384
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"  # debug | info | warning | error | critical

    def __post_init__(self) -> None:
        for name, accepted in CHOICES.items():
            value = getattr(self, name)
            if value not in accepted:
                raise SettingsError(f"{variable(name)}={value!r}: expected one of {', '.join(accepted)}")
        self._check_kafka_security()
        self._check_database_url()
        for name in ("topic", "dlq_topic"):
            if not TOPIC_NAME.match(getattr(self, name)):
                raise SettingsError(
                    f"{variable(name)}={getattr(self, name)!r}: expected a Kafka topic name"
                    " (1-249 of the characters A-Z a-z 0-9 . _ -)"
                )
        if self.topic == self.dlq_topic:
            raise SettingsError(f"{variable('dlq_topic')} must differ from {variable('topic')} ({self.topic!r})")
        for name, low in (
            ("topic_partitions", 1),
            ("topic_replication_factor", 1),
            ("batch_max_records", 1),
            ("worker_consumers", 1),
            ("held_max_per_tenant", 1),
            ("api_workers", 0),
            ("stream_token_seconds", 1),
            ("stream_coalesce_ms", 0),
            ("stream_queue_events", 1),
            ("stream_max_subscribers", 1),
        ):
            if getattr(self, name) < low:
                raise SettingsError(f"{variable(name)}={getattr(self, name)}: expected an integer of at least {low}")
        if self.topic_retention_ms != -1 and self.topic_retention_ms < 1:
            raise SettingsError(
                f"{variable('topic_retention_ms')}={self.topic_retention_ms}: expected milliseconds (> 0), or -1 for"
                " no time limit"
            )
        for name in ("held_max_age_seconds", "stream_heartbeat_seconds", "stream_max_seconds"):
            if not 0 < getattr(self, name) < float("inf"):
                raise SettingsError(
                    f"{variable(name)}={getattr(self, name)}: expected a number of seconds (> 0, finite)"
                )
        for name in ("worker_metrics_port", "api_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise SettingsError(f"{variable(name)}={getattr(self, name)}: expected a port number (0-65535)")

    def _check_database_url(self) -> None:
        # The value may hold a password: messages do not repeat it.
        url = self.database_url
        if not url.startswith(("postgresql://", "postgres://")):
            raise SettingsError(
                f"{variable('database_url')}: expected a postgresql://user[:password]@host[:port]/database URL"
            )
        parts = urllib.parse.urlsplit(url)
        if "," not in parts.netloc:  # several hosts (host1:5432,host2:5432) are asyncpg's to parse
            try:
                parts.port  # noqa: B018 - parsing it is the check
            except ValueError:
                raise SettingsError(f"{variable('database_url')}: the port is not a number") from None

    def _check_kafka_security(self) -> None:
        protocol = self.kafka_security_protocol
        sasl = protocol.startswith("SASL_")
        tls = protocol in ("SSL", "SASL_SSL")
        protocol_var = f"{variable('kafka_security_protocol')}={protocol}"
        credentials = ("kafka_sasl_username", "kafka_sasl_password")
        if sasl:
            missing = [variable(n) for n in credentials if not getattr(self, n)]
            if missing:
                raise SettingsError(f"{protocol_var} needs {' and '.join(missing)}")
        else:
            given = [variable(n) for n in credentials if getattr(self, n) is not None]
            if given:
                raise SettingsError(
                    f"{' and '.join(given)} set, but {protocol_var} does not use SASL"
                    " (expected SASL_PLAINTEXT or SASL_SSL)"
                )
        files = ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")
        if not tls:
            given = [variable(n) for n in files if getattr(self, n) is not None]
            if given:
                raise SettingsError(
                    f"{' and '.join(given)} set, but {protocol_var} does not use TLS (expected SSL or SASL_SSL)"
                )
        if self.kafka_ssl_keyfile is not None and self.kafka_ssl_certfile is None:
            raise SettingsError(
                f"{variable('kafka_ssl_keyfile')} needs {variable('kafka_ssl_certfile')} (the client certificate)"
            )

    def __repr__(self) -> str:
        shown = []
        for field in msgspec.structs.fields(self):
            value = getattr(self, field.name)
            if field.name in SECRETS and value is not None:
                text = "'***'"
            elif field.name == "database_url":
                text = repr(redact_url(value))
            else:
                text = repr(value)
            shown.append(f"{field.name}={text}")
        return f"Settings({', '.join(shown)})"

    def to_env(self) -> dict[str, str]:
        """These settings as BILLING_* variables, for a child process."""
        env: dict[str, str] = {}
        for field in msgspec.structs.fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            if isinstance(value, tuple):
                env[variable(field.name)] = ",".join(value)
            elif isinstance(value, bool):
                env[variable(field.name)] = "true" if value else "false"
            else:
                env[variable(field.name)] = str(value)
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``environ`` (default: the process environment), then
        ``overrides`` (field names). Raises SettingsError naming the variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in msgspec.structs.fields(cls):
            name = variable(field.name)
            raw = env.get(name)
            if raw is None:
                continue
            values[field.name] = _parse(name, raw, field.type, CHOICES.get(field.name))
        values.update(overrides)
        try:
            # Overrides are converted too (strict=False: "5000" is 5000); the
            # checks of __post_init__ raise with their own message.
            return msgspec.convert(values, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(str(exc)) from exc


def _parse(name: str, raw: str, kind: Any, choices: tuple[str, ...] | None) -> Any:
    """One variable's text as its field's type; SettingsError names the variable."""
    optional = isinstance(kind, types.UnionType) and type(None) in typing.get_args(kind)
    if optional:
        if raw.strip() == "":
            return None
        (kind,) = (a for a in typing.get_args(kind) if a is not type(None))
    if choices is not None:
        # Kafka spells its choices in capitals, logging in lower case; either is accepted.
        for choice in choices:
            if raw.strip().lower() == choice.lower():
                return choice
        raise SettingsError(f"{name}={raw!r}: expected one of {', '.join(choices)}")
    if kind is str:
        return raw
    if typing.get_origin(kind) is tuple:
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    try:
        # strict=False turns "5000" into 5000, "0.5" into 0.5 and "true"/"0" into booleans.
        return msgspec.convert(raw.strip(), kind, strict=False)
    except msgspec.ValidationError:
        expected = {int: "an integer", float: "a number", bool: "true or false (or 1 or 0)"}.get(kind, str(kind))
        raise SettingsError(f"{name}={raw!r}: expected {expected}") from None


def redact_url(url: str) -> str:
    """A database URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def describe() -> list[tuple[str, str]]:
    """(variable, default) pairs, for --help and the README."""
    return [(variable(f.name), repr(f.default)) for f in msgspec.structs.fields(Settings)]
