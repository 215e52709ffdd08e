"""Settings from BILLING_* variables: a bad value is an error naming the
variable and what it accepts (no I/O)."""

from __future__ import annotations

import pytest

from services.settings import Settings, SettingsError
from services.worker.main import consumer_settings

SASL = {"BILLING_KAFKA_SASL_USERNAME": "billing", "BILLING_KAFKA_SASL_PASSWORD": "s3cret"}


def test_the_defaults_are_plaintext_kafka_and_auto_created_topics() -> None:
    settings = Settings.from_env({})
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert settings.topic_auto_create is True
    assert (settings.topic_partitions, settings.topic_replication_factor) == (4, 1)
    assert settings.topic_retention_ms == 7 * 24 * 3600 * 1000
    assert settings.worker_metrics_host == "127.0.0.1"


def test_security_settings_are_read_and_their_choices_accepted_in_any_case() -> None:
    settings = Settings.from_env(
        {
            "BILLING_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "BILLING_KAFKA_SASL_MECHANISM": "scram-sha-512",
            "BILLING_KAFKA_SSL_CAFILE": "/etc/kafka/ca.pem",
            **SASL,
        }
    )
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert settings.kafka_ssl_cafile == "/etc/kafka/ca.pem"
    assert Settings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"BILLING_KAFKA_SECURITY_PROTOCOL": "TLS"},
            "BILLING_KAFKA_SECURITY_PROTOCOL='TLS': expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL",
        ),
        (
            {"BILLING_KAFKA_SASL_MECHANISM": "GSSAPI"},
            "BILLING_KAFKA_SASL_MECHANISM='GSSAPI': expected one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
        ),
        (
            {"BILLING_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            "BILLING_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs BILLING_KAFKA_SASL_USERNAME"
            " and BILLING_KAFKA_SASL_PASSWORD",
        ),
        (
            {"BILLING_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "BILLING_KAFKA_SASL_USERNAME": "billing"},
            "BILLING_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT needs BILLING_KAFKA_SASL_PASSWORD",
        ),
        (
            {"BILLING_KAFKA_SECURITY_PROTOCOL": "SSL", **SASL},
            "BILLING_KAFKA_SASL_USERNAME and BILLING_KAFKA_SASL_PASSWORD set, but BILLING_KAFKA_SECURITY_PROTOCOL=SSL"
            " does not use SASL (expected SASL_PLAINTEXT or SASL_SSL)",
        ),
        (
            {"BILLING_KAFKA_SSL_CAFILE": "/ca.pem"},
            "BILLING_KAFKA_SSL_CAFILE set, but BILLING_KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS"
            " (expected SSL or SASL_SSL)",
        ),
        (
            {"BILLING_KAFKA_SECURITY_PROTOCOL": "SSL", "BILLING_KAFKA_SSL_KEYFILE": "/client.key"},
            "BILLING_KAFKA_SSL_KEYFILE needs BILLING_KAFKA_SSL_CERTFILE (the client certificate)",
        ),
        ({"BILLING_TOPIC_PARTITIONS": "four"}, "BILLING_TOPIC_PARTITIONS='four': expected an integer"),
        ({"BILLING_TOPIC_PARTITIONS": "0"}, "BILLING_TOPIC_PARTITIONS=0: expected an integer of at least 1"),
        ({"BILLING_WORKER_CONSUMERS": "0"}, "BILLING_WORKER_CONSUMERS=0: expected an integer of at least 1"),
        (
            {"BILLING_TOPIC_RETENTION_MS": "0"},
            "BILLING_TOPIC_RETENTION_MS=0: expected milliseconds (> 0), or -1 for no time limit",
        ),
        (
            {"BILLING_TOPIC_AUTO_CREATE": "maybe"},
            "BILLING_TOPIC_AUTO_CREATE='maybe': expected true or false (or 1 or 0)",
        ),
        (
            {"BILLING_WORKER_METRICS_PORT": "70000"},
            "BILLING_WORKER_METRICS_PORT=70000: expected a port number (0-65535)",
        ),
        ({"BILLING_GAP_ALERT_SECONDS": "soon"}, "BILLING_GAP_ALERT_SECONDS='soon': expected a number"),
        ({"BILLING_LOG_FORMAT": "xml"}, "BILLING_LOG_FORMAT='xml': expected one of auto, json, console"),
        (
            {"BILLING_DATABASE_URL": "billing:pw@db/billing"},
            "BILLING_DATABASE_URL: expected a postgresql://user[:password]@host[:port]/database URL",
        ),
        (
            {"BILLING_DATABASE_URL": "postgresql://billing:pw@db:port/billing"},
            "BILLING_DATABASE_URL: the port is not a number",
        ),
        (
            {"BILLING_TOPIC": "invoice events"},
            "BILLING_TOPIC='invoice events': expected a Kafka topic name (1-249 of the characters A-Z a-z 0-9 . _ -)",
        ),
    ],
)
def test_a_bad_value_names_the_variable_and_what_it_accepts(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert str(raised.value) == message
    assert "pw" not in str(raised.value)


def test_empty_optional_values_mean_unset() -> None:
    settings = Settings.from_env({"BILLING_KAFKA_SSL_CAFILE": "", "BILLING_GROUP_INSTANCE_ID": ""})
    assert (settings.kafka_ssl_cafile, settings.group_instance_id) == (None, None)


def test_secrets_stay_out_of_the_repr() -> None:
    settings = Settings(
        database_url="postgresql://billing:db-secret@db/billing",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="billing",
        kafka_sasl_password="kafka-secret",
    )
    shown = repr(settings)
    assert "db-secret" not in shown and "kafka-secret" not in shown
    assert "postgresql://billing:***@db/billing" in shown


def test_each_consumer_of_a_worker_has_an_instance_id_of_its_own() -> None:
    static = Settings.from_env({"BILLING_GROUP_INSTANCE_ID": "worker-a", "BILLING_WORKER_CONSUMERS": "3"})
    ids = [consumer_settings(static, index).group_instance_id for index in range(3)]
    assert ids == ["worker-a-0", "worker-a-1", "worker-a-2"]
    alone = Settings.from_env({"BILLING_GROUP_INSTANCE_ID": "worker-a", "BILLING_WORKER_CONSUMERS": "1"})
    assert consumer_settings(alone, 0).group_instance_id == "worker-a"
    dynamic = Settings.from_env({})
    assert [consumer_settings(dynamic, i).group_instance_id for i in range(2)] == [None, None]
