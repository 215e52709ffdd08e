"""Where the local stack lives and answers: the state folder and its paths (``Layout``), ports, addresses.

Everything is read from the environment on every call, so tests can point
``BILLING_STACK_DIR`` and the ``BILLING_STACK_*_PORT`` variables elsewhere
after importing (see tests/faults/private_stack.py).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from deploy.local.errors import StackError

COMPONENTS: tuple[str, ...] = ("kafka", "postgres")

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent.parent

HOST = "127.0.0.1"
DEFAULT_KAFKA_PORT = 19092
DEFAULT_KAFKA_CONTROLLER_PORT = 19093
DEFAULT_PG_PORT = 15432

PG_SUPERUSER = "billing"
PG_DATABASE = "billing"

# The optional SASL_SSL listener (BILLING_STACK_KAFKA_SASL_SSL_PORT): its one
# user, and whether it asks clients for a certificate.
KAFKA_SASL_USER = "billing"
SSL_CLIENT_AUTH = ("none", "requested", "required")


@dataclasses.dataclass(frozen=True)
class Layout:
    """Paths inside the state folder."""

    root: Path

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def kafka(self) -> Path:
        return self.root / "kafka"

    @property
    def kafka_libs(self) -> Path:
        return self.kafka / "libs"

    @property
    def kafka_libs_marker(self) -> Path:
        return self.kafka_libs / ".pom.sha256"

    @property
    def kafka_data(self) -> Path:
        return self.kafka / "data"

    @property
    def kafka_properties(self) -> Path:
        return self.kafka / "server.properties"

    @property
    def kafka_log(self) -> Path:
        return self.kafka / "kafka.log"

    @property
    def kafka_pid(self) -> Path:
        return self.kafka / "kafka.pid"

    @property
    def kafka_mvn_log(self) -> Path:
        return self.kafka / "mvn.log"

    @property
    def kafka_tls(self) -> Path:
        """Certificates and the SASL password of the SASL_SSL listener."""
        return self.kafka / "tls"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def pg_data(self) -> Path:
        return self.postgres / "data"

    @property
    def pg_socket_dir(self) -> Path:
        return self.postgres / "run"

    @property
    def pg_log(self) -> Path:
        return self.postgres / "postgres.log"

    @property
    def pg_pid(self) -> Path:
        # Written by the postmaster itself; its first line is the pid.
        return self.pg_data / "postmaster.pid"


def layout() -> Layout:
    """The state folder: ``$BILLING_STACK_DIR``, or ``<repo>/.stack``."""
    configured = os.environ.get("BILLING_STACK_DIR")
    root = Path(configured).expanduser() if configured else REPO_ROOT / ".stack"
    return Layout(root.resolve())


def select_components(requested: Sequence[str]) -> tuple[str, ...]:
    """The requested components, validated, in a fixed order; all of them when none is named."""
    if isinstance(requested, str):  # start("kafka") is an easy mistake to make
        requested = (requested,)
    unknown = sorted(set(requested) - set(COMPONENTS))
    if unknown:
        raise StackError(f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}")
    # Keep a fixed order (and drop duplicates) whatever the caller passed.
    return tuple(c for c in COMPONENTS if c in requested) if requested else COMPONENTS


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise StackError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise StackError(f"{name}={port} is outside 1..65535")
    return port


def kafka_port() -> int:
    return _env_port("BILLING_STACK_KAFKA_PORT", DEFAULT_KAFKA_PORT)


def kafka_controller_port() -> int:
    return _env_port("BILLING_STACK_KAFKA_CONTROLLER_PORT", DEFAULT_KAFKA_CONTROLLER_PORT)


def kafka_sasl_ssl_port() -> int | None:
    """The port of the broker's SASL_SSL listener, or None (the default: no such listener)."""
    if not os.environ.get("BILLING_STACK_KAFKA_SASL_SSL_PORT"):
        return None
    return _env_port("BILLING_STACK_KAFKA_SASL_SSL_PORT", 0)


def kafka_ssl_client_auth() -> str:
    """Whether the SASL_SSL listener asks clients for a certificate (mutual TLS)."""
    value = os.environ.get("BILLING_STACK_KAFKA_SSL_CLIENT_AUTH") or "none"
    if value not in SSL_CLIENT_AUTH:
        raise StackError(f"BILLING_STACK_KAFKA_SSL_CLIENT_AUTH={value!r}: expected one of {', '.join(SSL_CLIENT_AUTH)}")
    return value


def pg_port() -> int:
    return _env_port("BILLING_STACK_PG_PORT", DEFAULT_PG_PORT)


def local_address(component: str) -> str:
    """Where this stack serves a component (whether or not it is running)."""
    if component == "kafka":
        return f"{HOST}:{kafka_port()}"
    return f"postgresql://{PG_SUPERUSER}@{HOST}:{pg_port()}/{PG_DATABASE}"


def external(component: str) -> str | None:
    """The externally provided address of a component, if it is not managed here.

    A value equal to this stack's own address is not external: that is what
    a shell holds after ``eval "$(python -m deploy.local env)"``, and stop/start
    must still manage the local servers then."""
    variable = "BILLING_KAFKA_BOOTSTRAP" if component == "kafka" else "BILLING_DATABASE_URL"
    value = os.environ.get(variable)
    return value if value and value != local_address(component) else None


def database_url() -> str:
    return external("postgres") or local_address("postgres")


def kafka_bootstrap() -> str:
    return external("kafka") or local_address("kafka")


def env_mapping() -> dict[str, str]:
    return {"BILLING_DATABASE_URL": database_url(), "BILLING_KAFKA_BOOTSTRAP": kafka_bootstrap()}
