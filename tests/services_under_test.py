"""Where the integration tests find a real Kafka broker and PostgreSQL server.

In order: BILLING_DATABASE_URL + BILLING_KAFKA_BOOTSTRAP if both are given;
containers (testcontainers) where a Docker engine answers; otherwise the local
stack (the deploy.local package), started if it is not running.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from deploy import local as stack

REPO = Path(__file__).resolve().parent.parent


def docker_engine_available() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:  # noqa: BLE001 - no engine, no socket, no package: all mean "no"
        return False


@contextlib.contextmanager
def containers() -> Iterator[dict[str, str]]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with (
        PostgresContainer("postgres:17", driver=None) as pg,
        KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka,
    ):
        yield {
            "BILLING_DATABASE_URL": pg.get_connection_url(),
            "BILLING_KAFKA_BOOTSTRAP": kafka.get_bootstrap_server(),
        }


@contextlib.contextmanager
def real_services() -> Iterator[dict[str, str]]:
    given = {k: os.environ.get(k, "") for k in ("BILLING_DATABASE_URL", "BILLING_KAFKA_BOOTSTRAP")}
    if all(given.values()):
        yield given
    elif os.environ.get("BILLING_TEST_CONTAINERS") == "1" or (
        os.environ.get("BILLING_TEST_CONTAINERS") != "0" and docker_engine_available()
    ):
        with containers() as env:
            yield env
    else:
        yield stack.start()
