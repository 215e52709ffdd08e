"""A Kafka broker of its own with a SASL_SSL listener (PLAIN and SCRAM, mutual
TLS required), started by deploy.local in a temporary state folder on free
ports, so the shared stack is never touched. The certificates and the SASL
password are made by deploy/local/tls.py (openssl) when the broker starts."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from deploy import local as stack
from tests.conftest import free_port
from tests.services_under_test import private_stack_env


def missing_tools() -> list[str]:
    return [tool for tool in ("java", "openssl") if shutil.which(tool) is None]


@contextlib.contextmanager
def secured_broker(root: Path) -> Iterator[dict[str, str]]:
    """Start the broker under ``root``; yields the BILLING_* settings of a
    client of its SASL_SSL listener (SCRAM-SHA-512, client certificate)."""
    main_libs = stack.layout().kafka_libs  # read before switching to the private stack
    sasl_port = free_port()
    env = {
        "BILLING_STACK_DIR": str(root),
        "BILLING_STACK_KAFKA_PORT": str(free_port()),
        "BILLING_STACK_KAFKA_CONTROLLER_PORT": str(free_port()),
        "BILLING_STACK_KAFKA_SASL_SSL_PORT": str(sasl_port),
        "BILLING_STACK_KAFKA_SSL_CLIENT_AUTH": "required",
    }
    if any(main_libs.glob("*.jar")):
        # The jars the main stack fetched, instead of a second Maven fetch.
        (root / "kafka").mkdir(parents=True, exist_ok=True)
        (root / "kafka" / "libs").symlink_to(main_libs, target_is_directory=True)
    with private_stack_env(env):
        stack.start(["kafka"])
        client = stack.kafka_sasl_ssl_env(stack.layout(), sasl_port)
    try:
        yield client
    finally:
        with private_stack_env(env):
            stack.stop(["kafka"])
