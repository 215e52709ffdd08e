"""A Kafka broker and PostgreSQL server of the fault tests' own (their own
folder and ports), so killing them never disturbs anything else."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from tests.services_under_test import REPO, stack

FAULTS_ENV = {
    "BILLING_STACK_DIR": str(REPO / ".stack" / "faults"),
    "BILLING_STACK_KAFKA_PORT": os.environ.get("BILLING_FAULTS_KAFKA_PORT", "19192"),
    "BILLING_STACK_KAFKA_CONTROLLER_PORT": os.environ.get("BILLING_FAULTS_KAFKA_CONTROLLER_PORT", "19193"),
    "BILLING_STACK_PG_PORT": os.environ.get("BILLING_FAULTS_PG_PORT", "15532"),
}
# Set by `make test` for the main stack; here they would make ours "external".
MAIN_STACK_ENV = ("BILLING_DATABASE_URL", "BILLING_KAFKA_BOOTSTRAP")


@contextlib.contextmanager
def private() -> Iterator[None]:
    """Run deploy.local calls against the private stack."""
    saved = {k: os.environ.get(k) for k in (*FAULTS_ENV, *MAIN_STACK_ENV)}
    os.environ.update(FAULTS_ENV)
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
