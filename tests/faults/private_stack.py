"""A Kafka broker and PostgreSQL server of the fault tests' own (their own
folder and ports), so killing them never disturbs anything else."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from deploy import local as stack
from tests.services_under_test import REPO, private_stack_env

FAULTS_ENV = {
    "BILLING_STACK_DIR": str(REPO / ".stack" / "faults"),
    "BILLING_STACK_KAFKA_PORT": os.environ.get("BILLING_FAULTS_KAFKA_PORT", "19192"),
    "BILLING_STACK_KAFKA_CONTROLLER_PORT": os.environ.get("BILLING_FAULTS_KAFKA_CONTROLLER_PORT", "19193"),
    "BILLING_STACK_PG_PORT": os.environ.get("BILLING_FAULTS_PG_PORT", "15532"),
}


@contextlib.contextmanager
def private() -> Iterator[None]:
    """Run deploy.local calls against the private stack."""
    with private_stack_env(FAULTS_ENV):
        yield


def start() -> dict[str, str]:
    with private():
        return stack.start()


def kill_kafka() -> None:
    import signal

    with private():
        stack.kill("kafka", signal.SIGKILL, wait=10)


def start_kafka() -> None:
    with private():
        stack.start(["kafka"])


def stop_postgres(mode: str) -> None:
    with private():
        stack.postgres_stop(mode)


def start_postgres() -> None:
    with private():
        stack.start(["postgres"])


def stop() -> None:
    with private():
        stack.stop()
