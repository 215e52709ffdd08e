"""Every Kafka client the service builds, from its Settings, and the records
they deliver.

The options all clients share — the brokers, the client id and, where a
cluster asks for them, the security settings — are set here once
(``client_options``); each caller adds only what its role needs (a group, fetch
sizes, idempotence). ``contracts.InvoiceEventPublisher`` keeps its own producer
for publishers outside this service; ``publisher`` gives it the same shared
options when the service itself publishes (``billing demo``, benchmarks).
"""

from __future__ import annotations

import os
import ssl
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context
from aiokafka.structs import ConsumerRecord

from contracts import InvoiceEventPublisher
from projections.projector import RawRecord
from services.settings import Settings, SettingsError, variable


def client_options(settings: Settings) -> dict[str, Any]:
    """The options every client of this service connects with: the brokers,
    the client id and the security settings (``security_options``)."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "client_id": settings.kafka_client_id,
        **security_options(settings),
    }


def security_options(settings: Settings) -> dict[str, Any]:
    """aiokafka's options for the settings' security protocol: none for
    PLAINTEXT; a TLS context (the CA bundle, or the system's trust store, and
    the client certificate for mutual TLS; host names are checked) for SSL and
    SASL_SSL; the SASL mechanism and credentials for SASL_PLAINTEXT and
    SASL_SSL. Settings already checked which combinations make sense."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = tls_context(settings)
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The TLS context of the settings' files; a file that cannot be read or
    loaded is a SettingsError naming its variable."""
    files = {
        "kafka_ssl_cafile": settings.kafka_ssl_cafile,
        "kafka_ssl_certfile": settings.kafka_ssl_certfile,
        "kafka_ssl_keyfile": settings.kafka_ssl_keyfile,
    }
    for name, path in files.items():
        if path is not None and not os.access(path, os.R_OK):
            why = "cannot be read" if os.path.exists(path) else "does not exist"
            raise SettingsError(f"{variable(name)}={path}: the file {why}")
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
        )
    except ssl.SSLError as error:
        given = ", ".join(f"{variable(n)}={p}" for n, p in files.items() if p is not None)
        raise SettingsError(f"the TLS files ({given}) cannot be loaded as PEM: {error}") from None
    return context


def consumer(settings: Settings, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer (not started), subscribed to ``topics`` if any are given."""
    return AIOKafkaConsumer(*topics, **client_options(settings), **options)


def producer(settings: Settings, **options: Any) -> AIOKafkaProducer:
    """A producer (not started)."""
    return AIOKafkaProducer(**client_options(settings), **options)


def admin(settings: Settings, **options: Any) -> AIOKafkaAdminClient:
    """An admin client (not started), for topics."""
    return AIOKafkaAdminClient(**client_options(settings), **options)


def publisher(settings: Settings, topic: str | None = None, **options: Any) -> InvoiceEventPublisher:
    """The contract's idempotent publisher (not started), to ``topic`` (the
    settings' event topic by default), connected like every other client."""
    shared = client_options(settings)
    bootstrap = shared.pop("bootstrap_servers")
    return InvoiceEventPublisher(bootstrap, settings.topic if topic is None else topic, **shared, **options)


def raw_record(record: ConsumerRecord) -> RawRecord:
    """A consumed record as the projections take it, free of the client library."""
    return RawRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=tuple(record.headers or ()),
        timestamp_ms=record.timestamp,
    )
