"""One typed settings object, read from ``BILLING_*`` environment variables.

Every process builds it once at start-up (``Settings.from_env()``) and passes it
down explicitly; nothing reads the environment at import time. The defaults
point at the local stack (deploy/local, python -m deploy.local) so a laptop needs no set-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import msgspec

PREFIX = "BILLING_"


class SettingsError(ValueError):
    """A BILLING_* variable that cannot be used; the message names it."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "postgresql://billing@127.0.0.1:15432/billing"
    kafka_bootstrap: str = "127.0.0.1:19092"
    # How this service's Kafka clients name themselves to the brokers (their
    # logs, quotas and group member ids).
    kafka_client_id: str = "billing"
    topic: str = "invoice-events"
    dlq_topic: str = "invoice-events.dlq"
    consumer_group: str = "invoice-projections"
    # Kafka group membership: a worker that stops sending heartbeats for this
    # long loses its partitions. With a stable instance id (static membership)
    # a restarted worker takes its partitions back at once, without a rebalance.
    session_timeout_ms: int = 10_000
    group_instance_id: str | None = None
    # Partitions of the topics when this service creates them; workers scale
    # out up to this many.
    topic_partitions: int = 4
    # Worker batching: up to batch_max_records per transaction, waiting at most
    # batch_wait_ms for a batch to fill.
    batch_max_records: int = 5000
    batch_wait_ms: int = 50
    # Longest a worker statement may run before it is cancelled (and the batch
    # retried): a lock held elsewhere or a stuck server cannot wedge a worker.
    statement_timeout_ms: int = 60_000
    # A held event whose gap is still open after this long is reported.
    gap_alert_seconds: float = 300.0
    # Prometheus metrics of the worker on 127.0.0.1:<port>; 0 turns them off.
    worker_metrics_port: int = 9465
    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Read-your-writes: how long a request may wait for a position.
    freshness_wait_max_ms: int = 5000
    # Positions read for one request answer the next ones for this long (they
    # stay a lower bound of what the data reflects); 0 reads them every time.
    api_positions_max_age_ms: int = 20
    cors_origins: tuple[str, ...] = ()
    # Readiness fails when any partition lags more events than this.
    ready_max_lag: int = 100_000
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
    log_level: str = "info"

    def to_env(self) -> dict[str, str]:
        """These settings as BILLING_* variables, for a child process."""
        env: dict[str, str] = {}
        for field in msgspec.structs.fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            env[PREFIX + field.name.upper()] = ",".join(value) if isinstance(value, tuple) else str(value)
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in msgspec.structs.fields(cls):
            raw = env.get(PREFIX + field.name.upper())
            if raw is not None:
                values[field.name] = [o for o in raw.split(",") if o] if field.name == "cors_origins" else raw
        values.update(overrides)
        try:
            # strict=False turns "5000" into 5000 and "0.5" into 0.5.
            return msgspec.convert(values, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"invalid setting: {exc} (variables are {PREFIX}<FIELD>)") from exc


def describe() -> list[tuple[str, str]]:
    """(variable, default) pairs, for --help and the README."""
    return [(PREFIX + f.name.upper(), repr(f.default)) for f in msgspec.structs.fields(Settings)]
