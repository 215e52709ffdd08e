"""Kafka security: the settings, the options every client gets from them, and
events passed end to end through a broker that only speaks SASL_SSL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiokafka
import asyncpg
import httpx
import msgspec
import pytest

from services import kafka, keys
from services.kafka_probe import KafkaProbe
from services.settings import Settings, SettingsError
from tests.conftest import free_port
from tests.factories import InvoiceBuilder, line
from tests.services.secured_kafka import missing_tools, secured_broker

SASL: dict[str, Any] = {"kafka_sasl_username": "billing", "kafka_sasl_password": "s3cret"}


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A CA and a client certificate and key (PEM), made with openssl."""
    if missing_tools():
        pytest.skip(f"needs {', '.join(missing_tools())}")
    from deploy.local.config import Layout
    from deploy.local.tls import ensure_tls

    tls = ensure_tls(Layout(tmp_path_factory.mktemp("tls")))
    return {
        "kafka_ssl_cafile": str(tls.ca),
        "kafka_ssl_certfile": str(tls.client_cert),
        "kafka_ssl_keyfile": str(tls.client_key),
    }


def test_plaintext_clients_get_no_security_options() -> None:
    assert kafka.security_options(Settings()) == {}


def test_sasl_plaintext_clients_get_the_mechanism_and_credentials() -> None:
    settings = Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="SCRAM-SHA-256", **SASL)
    assert kafka.client_options(settings) == {
        "bootstrap_servers": "127.0.0.1:19092",
        "client_id": "billing",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "billing",
        "sasl_plain_password": "s3cret",
    }


def test_sasl_ssl_clients_get_a_tls_context_with_the_ca_and_client_certificate(tls_files: dict[str, Any]) -> None:
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512", **SASL, **tls_files)
    options = kafka.security_options(settings)
    context = options.pop("ssl_context")
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "billing",
        "sasl_plain_password": "s3cret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "billing local stack CA"),),)]


def test_ssl_without_files_trusts_the_system_store() -> None:
    options = kafka.security_options(Settings(kafka_security_protocol="SSL"))
    assert set(options) == {"security_protocol", "ssl_context"}
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED


class Recorder:
    """Stands in for an aiokafka client class: keeps the options it was built with."""

    built: list[dict[str, Any]] = []

    def __init__(self, *topics: str, **options: Any) -> None:
        Recorder.built.append(options)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


async def test_every_client_the_service_builds_uses_the_security_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.worker.consumer import group_consumer
    from services.worker.dead_letters import DeadLetters

    for module, name in (
        (kafka, "AIOKafkaConsumer"),
        (kafka, "AIOKafkaProducer"),
        (kafka, "AIOKafkaAdminClient"),
        (aiokafka, "AIOKafkaProducer"),
    ):
        monkeypatch.setattr(module, name, Recorder)
    Recorder.built = []
    settings = Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN", **SASL)
    group_consumer(settings)
    DeadLetters(settings)
    kafka.admin(settings)
    KafkaProbe(settings)
    async with kafka.publisher(settings):
        pass
    assert len(Recorder.built) == 5
    for options in Recorder.built:
        assert options["security_protocol"] == "SASL_PLAINTEXT"
        assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("billing", "s3cret")


def test_a_missing_tls_file_is_a_settings_error_naming_its_variable(tmp_path: Path) -> None:
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=str(tmp_path / "ca.pem"))
    with pytest.raises(SettingsError, match=r"^BILLING_KAFKA_SSL_CAFILE=.*ca\.pem: the file does not exist$"):
        kafka.client_options(settings)
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    with pytest.raises(SettingsError, match=r"BILLING_KAFKA_SSL_CAFILE=.*cannot be loaded as PEM"):
        kafka.client_options(settings)


# --------------------------------------------------------------------------- through a real SASL_SSL broker


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if missing_tools():
        pytest.skip(f"needs {', '.join(missing_tools())}")
    with secured_broker(tmp_path_factory.mktemp("sasl-ssl-stack")) as client:
        yield client


def billing(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text: str = response.read().decode()
        return text


@pytest.mark.integration
async def test_events_pass_end_to_end_through_a_sasl_ssl_broker(broker: dict[str, str], database_url: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    metrics_port = free_port()
    env = {
        **broker,  # SASL_SSL, SCRAM-SHA-512, the CA, a client certificate (the listener requires one)
        "BILLING_DATABASE_URL": database_url,
        "BILLING_TOPIC": f"secured-{suffix}",
        "BILLING_DLQ_TOPIC": f"secured-{suffix}.dlq",
        "BILLING_CONSUMER_GROUP": f"secured-{suffix}",
        "BILLING_TOPIC_AUTO_CREATE": "false",
        "BILLING_WORKER_METRICS_PORT": str(metrics_port),
        "BILLING_BATCH_WAIT_MS": "20",
        "BILLING_LOG_FORMAT": "json",
        "BILLING_LOG_LEVEL": "warning",
    }
    settings = Settings.from_env(env, api_port=free_port())

    # Auto-creation off and no topic: the worker refuses, in one line.
    refused = billing(env, "worker")
    assert refused.returncode == 5, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"billing worker: topics {settings.topic} and {settings.dlq_topic} are missing and BILLING_TOPIC_AUTO_CREATE"
        " is off: create them with `billing topics ensure`"
    ]
    created = billing(env, "topics", "ensure", "--json")
    assert created.returncode == 0, created.stderr
    assert [t["state"] for t in json.loads(created.stdout)["topics"]] == ["created", "created"]

    # Published with the service's own publisher, this one with SASL PLAIN.
    inv = InvoiceBuilder(tenant="acme", currency="EUR", lines=[line(net=100050, tax=21010)])
    plain = msgspec.structs.replace(settings, kafka_sasl_mechanism="PLAIN")
    async with kafka.publisher(plain) as publisher:
        positions = await publisher.publish_many([inv.created(), inv.sent(), inv.paid("100.00")])
    producer = kafka.producer(settings)
    await producer.start()
    try:
        poison = await producer.send_and_wait(settings.topic, b"not json", key=inv.invoice_id.encode())
    finally:
        await producer.stop()

    conn = await asyncpg.connect(database_url)
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "worker",
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wanted = {p.partition: p.offset + 1 for p in positions} | {poison.partition: poison.offset + 1}
        deadline = time.monotonic() + 45
        while True:
            stored: dict[int, int] = {
                r["partition"]: r["next_offset"]
                for r in await conn.fetch(
                    "SELECT partition, next_offset FROM billing.partition_positions WHERE topic = $1", settings.topic
                )
            }
            if all(stored.get(p, 0) >= o for p, o in wanted.items()):
                break
            if worker.returncode is not None:
                raise AssertionError(await worker.stderr.read() if worker.stderr else "the worker stopped")
            assert time.monotonic() < deadline, f"the worker did not reach {wanted}: {stored}"
            await asyncio.sleep(0.1)

        # The figures, through the read API.
        _, key = await keys.create(conn, "acme", "tests")
        from tests.serving import running_api

        async with running_api(settings) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
            response = await client.get("/invoices/summary", headers={"x-api-key": key})
        assert response.status_code == 200, response.text
        assert response.json() == {"totalsByCurrency": [{"currency": "EUR", "invoiceCount": 1, "grossTotal": 1210.6}]}
        assert await conn.fetchval("SELECT reason FROM billing.quarantine") == "malformed"

        # The worker's metrics: caught up, so no lag in seconds on its partitions.
        text = await asyncio.to_thread(scrape, metrics_port)
        lag = [row for row in text.splitlines() if row.startswith("billing_worker_lag_seconds{")]
        assert lag and all(row.endswith(" 0.0") for row in lag), lag
        assert f'topic="{settings.topic}"' in lag[0]
    finally:
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), 30) == 0
        await conn.close()

    # The dead-letter copy went through the worker's producer.
    dlq = kafka.consumer(settings, settings.dlq_topic, auto_offset_reset="earliest")
    await dlq.start()
    try:
        copies = await dlq.getmany(timeout_ms=10_000)
    finally:
        await dlq.stop()
    assert [r.value for batch in copies.values() for r in batch] == [b"not json"]

    # status reads the end offsets over SASL_SSL too.
    status = billing(env, "status", "--json")
    assert status.returncode == 0, status.stderr
    ends = {p["partition"]: p["endOffset"] for p in json.loads(status.stdout)["partitions"]}
    assert ends == {partition: wanted.get(partition, 0) for partition in range(settings.topic_partitions)}

    # Wrong credentials, no client certificate: one line each, exit 5.
    for wrong, says in (
        ({"BILLING_KAFKA_SASL_PASSWORD": "wrong"}, "Authentication failed"),
        ({"BILLING_KAFKA_SSL_CERTFILE": "", "BILLING_KAFKA_SSL_KEYFILE": ""}, "cannot connect to Kafka"),
    ):
        checked = billing({**env, **wrong}, "topics", "check")
        assert checked.returncode == 5 and says in checked.stderr, checked.stderr
        assert len(checked.stderr.strip().splitlines()) == 1, checked.stderr
