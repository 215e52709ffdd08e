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


# Set by `make test` for the main stack; a private stack's deploy.local calls
# must not see them (they would make its own servers "external").
MAIN_STACK_ENV = ("BILLING_DATABASE_URL", "BILLING_KAFKA_BOOTSTRAP")


@contextlib.contextmanager
def private_stack_env(env: dict[str, str]) -> Iterator[None]:
    """Run deploy.local calls against the stack of ``env`` (its own folder and
    ports), then restore the environment."""
    saved = {k: os.environ.get(k) for k in (*env, *MAIN_STACK_ENV)}
    os.environ.update(env)
    for name in MAIN_STACK_ENV:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
