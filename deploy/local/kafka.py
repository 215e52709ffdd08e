"""The Kafka broker: a single KRaft node (broker + controller) from jars fetched once with Maven.

The jars are gathered by ``kafka/pom.xml`` (beside this module) into the state
folder; the broker logs through ``kafka/log4j2.xml``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path

from deploy.local.config import (
    HOST,
    KAFKA_SASL_USER,
    PACKAGE_DIR,
    Layout,
    kafka_controller_port,
    kafka_port,
    kafka_sasl_ssl_port,
    kafka_ssl_client_auth,
    layout,
)
from deploy.local.errors import StackError
from deploy.local.processes import (
    DEFAULT_STOP_TIMEOUT,
    ensure_port_free,
    failure,
    launch,
    log_size,
    open_log,
    owned_pid,
    pid_alive,
    run_logged,
    say,
    terminate,
    wait_for,
)
from deploy.local.tls import TlsFiles, ensure_tls

KAFKA_POM = PACKAGE_DIR / "kafka" / "pom.xml"
KAFKA_LOG4J2 = PACKAGE_DIR / "kafka" / "log4j2.xml"

# A fixed cluster id is fine: the storage is formatted once and never shared.
KAFKA_CLUSTER_ID = "78JMV18vV5OQe2uuDAxbew"
KAFKA_HEAP = ("-Xms256m", "-Xmx512m")
# The broker logs this once it serves requests (kafka.server.KafkaRaftServer).
KAFKA_STARTED_MARKER = b"Kafka Server started"


def kafka_pid() -> int | None:
    paths = layout()
    return owned_pid(paths.kafka_pid, str(paths.kafka_properties))


# --------------------------------------------------------------------------- jars, properties, storage


def _pom_hash() -> str:
    return hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()


def _kafka_libs_current(paths: Layout) -> bool:
    try:
        return paths.kafka_libs_marker.read_text().strip() == _pom_hash() and any(paths.kafka_libs.glob("*.jar"))
    except OSError:
        return False


def _fetch_kafka_jars(paths: Layout) -> None:
    """Gather the broker's jars with Maven (only when missing or the pom changed)."""
    if _kafka_libs_current(paths):
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Kafka jars are missing and 'mvn' is not on PATH; install Maven 3")
    why = "the pom changed" if paths.kafka_libs_marker.exists() else "first run only"
    say(f"fetching Kafka jars with Maven ({why})…")
    began = time.monotonic()
    staging = paths.kafka / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(KAFKA_POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    with paths.kafka_mvn_log.open("wb") as log:
        result = run_logged(command, log)
    jars = list(staging.glob("*.jar"))
    if result.returncode != 0 or not jars:
        raise failure("fetching Kafka jars failed", paths.kafka_mvn_log, f"mvn exited {result.returncode}")
    # Swap in the complete set at once so an interrupted fetch never looks finished.
    (staging / ".pom.sha256").write_text(_pom_hash() + "\n")
    shutil.rmtree(paths.kafka_libs, ignore_errors=True)
    staging.rename(paths.kafka_libs)
    say(f"fetched {len(jars)} Kafka jars in {time.monotonic() - began:.1f}s")


# Mechanisms of the SASL_SSL listener; SCRAM users are written at storage format time.
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


def _sasl_ssl_properties(tls: TlsFiles) -> list[str]:
    """The optional SASL_SSL listener: TLS from the PEM files of deploy/local/tls.py,
    PLAIN (users in the JAAS line) and SCRAM (users in the metadata log)."""
    listener = "listener.name.sasl_ssl"
    password = tls.password()
    return [
        f"{listener}.ssl.keystore.type=PEM",
        f"{listener}.ssl.keystore.location={tls.broker_keystore}",
        f"{listener}.ssl.truststore.type=PEM",
        f"{listener}.ssl.truststore.location={tls.ca}",
        f"{listener}.ssl.client.auth={kafka_ssl_client_auth()}",
        f"{listener}.sasl.enabled.mechanisms={','.join(SASL_MECHANISMS)}",
        f"{listener}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required"
        f' user_{KAFKA_SASL_USER}="{password}";',
        *(
            f"{listener}.{m.lower()}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
            for m in SCRAM_MECHANISMS
        ),
    ]


def _kafka_properties(paths: Layout) -> str:
    port, controller, sasl_ssl = kafka_port(), kafka_controller_port(), kafka_sasl_ssl_port()
    listeners = f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller}"
    advertised = f"PLAINTEXT://{HOST}:{port}"
    protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    secured: list[str] = []
    if sasl_ssl is not None:
        # A third listener for clients; the broker's own traffic stays on PLAINTEXT.
        listeners += f",SASL_SSL://{HOST}:{sasl_ssl}"
        advertised += f",SASL_SSL://{HOST}:{sasl_ssl}"
        protocols += ",SASL_SSL:SASL_SSL"
        secured = _sasl_ssl_properties(TlsFiles(paths.kafka_tls))
    return "\n".join(
        [
            "# Written by deploy/local/kafka.py on every start; edit that module instead.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{HOST}:{controller}",
            f"listeners={listeners}",
            f"advertised.listeners={advertised}",
            "controller.listener.names=CONTROLLER",
            f"listener.security.protocol.map={protocols}",
            "inter.broker.listener.name=PLAINTEXT",
            *secured,
            f"log.dirs={paths.kafka_data}",
            # Single node: every internal topic has exactly one replica.
            "offsets.topic.replication.factor=1",
            # Fewer __consumer_offsets partitions than the default 50: much faster start on small machines.
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            # Consumers in tests should not wait 3 s for a rebalance.
            "group.initial.rebalance.delay.ms=0",
            # After a kill -9 the new broker cannot register until the old registration's
            # session expires (default 9 s); a shorter session makes crash restarts quick.
            "broker.session.timeout.ms=4000",
            "broker.heartbeat.interval.ms=1000",
            "num.partitions=4",
            "auto.create.topics.enable=true",
            "",
        ]
    )


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is not None and candidate.is_file():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise StackError("'java' not found (set JAVA_HOME or put Java 17+ on PATH)")
    return found


def _kafka_java_command(paths: Layout, main_class: str) -> list[str]:
    return [
        _java(),
        f"-Dlog4j2.configurationFile={KAFKA_LOG4J2}",
        "-Djava.awt.headless=true",
        "-cp",
        f"{paths.kafka_libs}/*",  # java expands the wildcard itself
        main_class,
    ]


def _format_kafka_storage(paths: Layout) -> None:
    """Format the KRaft storage once; meta.properties marks a formatted directory."""
    if (paths.kafka_data / "meta.properties").exists():
        return
    say("formatting Kafka storage (first run only)…")
    command = _kafka_java_command(paths, "kafka.tools.StorageTool") + [
        "format",
        "-t",
        KAFKA_CLUSTER_ID,
        "-c",
        str(paths.kafka_properties),
    ]
    if kafka_sasl_ssl_port() is not None:
        # SCRAM credentials live in the metadata log: written when it is formatted.
        password = TlsFiles(paths.kafka_tls).password()
        for mechanism in SCRAM_MECHANISMS:
            command += ["--add-scram", f"{mechanism}=[name={KAFKA_SASL_USER},password={password}]"]
    with open_log(paths.kafka_log) as log:
        result = run_logged(command, log)
    if result.returncode != 0:
        raise failure("formatting Kafka storage failed", paths.kafka_log, f"exit code {result.returncode}")


# --------------------------------------------------------------------------- the metadata probe


def _kafka_request(sock: socket.socket, api_key: int, version: int, body: bytes) -> bytes:
    """One request/response with a non-flexible (v1 header) Kafka API."""
    client_id = b"deploy.local"
    correlation = 7
    payload = struct.pack(">hhih", api_key, version, correlation, len(client_id)) + client_id + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _recv_exact(sock, 4))[0]
    response = _recv_exact(sock, size)
    if struct.unpack_from(">i", response)[0] != correlation:
        raise OSError("unexpected correlation id")
    return response[4:]


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return bytes(data)


def kafka_metadata_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    """A real round trip: ApiVersions, then Metadata v4 must list at least one broker."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            versions = _kafka_request(sock, 18, 0, b"")
            error, count = struct.unpack_from(">hi", versions)
            if error != 0:
                return False
            ranges = {
                key: (low, high)
                for key, low, high in (struct.unpack_from(">hhh", versions, 6 + 6 * i) for i in range(count))
            }
            low, high = ranges.get(3, (0, -1))
            if not low <= 4 <= high:
                return True  # ApiVersions answered; this broker just cannot speak Metadata v4.
            # Metadata v4: no topics (empty array), allow_auto_topic_creation=false.
            metadata = _kafka_request(sock, 3, 4, struct.pack(">ib", 0, 0))
            _throttle, brokers = struct.unpack_from(">ii", metadata)
            return bool(brokers > 0)
    except (OSError, struct.error):
        return False


# --------------------------------------------------------------------------- start and stop


def _kafka_started_since(paths: Layout, offset: int) -> bool:
    try:
        with paths.kafka_log.open("rb") as log:
            log.seek(offset)
            return KAFKA_STARTED_MARKER in log.read()
    except OSError:
        return False


def kafka_begin(timeout: float) -> Callable[[], None]:
    """Launch Kafka unless it already runs; returns a function that waits until ready."""
    paths = layout()
    port = kafka_port()
    running = kafka_pid()
    if running is not None:
        if kafka_metadata_ok(HOST, port):
            say(f"kafka already running (pid {running}) on {HOST}:{port}")
            return lambda: None
        say(f"kafka process {running} exists but is not serving yet; waiting for it")
        return lambda: _kafka_wait(running, None, time.monotonic(), timeout)
    if paths.kafka_pid.exists():
        say(f"removing stale {paths.kafka_pid}")
        paths.kafka_pid.unlink()
    ensure_port_free(port, "Kafka", "BILLING_STACK_KAFKA_PORT")
    ensure_port_free(kafka_controller_port(), "Kafka controller", "BILLING_STACK_KAFKA_CONTROLLER_PORT")
    sasl_ssl = kafka_sasl_ssl_port()
    if sasl_ssl is not None:
        ensure_port_free(sasl_ssl, "Kafka SASL_SSL", "BILLING_STACK_KAFKA_SASL_SSL_PORT")
    paths.kafka.mkdir(parents=True, exist_ok=True)
    _fetch_kafka_jars(paths)
    if sasl_ssl is not None:
        ensure_tls(paths)
    paths.kafka_properties.write_text(_kafka_properties(paths))
    _format_kafka_storage(paths)
    began = time.monotonic()
    offset = log_size(paths.kafka_log)
    command = _kafka_java_command(paths, "kafka.Kafka")
    # Modest heap and exit on OOM rather than limp along; the main class goes last.
    command[1:1] = [*KAFKA_HEAP, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError"]
    command.append(str(paths.kafka_properties))
    pid = launch(command, paths.kafka_log, cwd=paths.kafka)
    paths.kafka_pid.write_text(f"{pid}\n")
    say(f"kafka starting (pid {pid})…")
    return lambda: _kafka_wait(pid, offset, began, timeout)


def _kafka_wait(pid: int, log_offset: int | None, began: float, timeout: float) -> None:
    paths = layout()
    port = kafka_port()

    def ready() -> bool:
        logged = log_offset is None or _kafka_started_since(paths, log_offset)
        return logged and kafka_metadata_ok(HOST, port)

    wait_for(ready, lambda: pid_alive(pid), timeout, "kafka did not start", paths.kafka_log)
    say(f"kafka ready on {HOST}:{port} in {time.monotonic() - began:.1f}s")


def kafka_stop(timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
    paths = layout()
    pid = kafka_pid()
    if pid is None:
        if paths.kafka_pid.exists():
            paths.kafka_pid.unlink()
        say("kafka was not running")
        return
    began = time.monotonic()
    say(f"stopping kafka (pid {pid})…")
    outcome = terminate(pid, timeout)
    paths.kafka_pid.unlink(missing_ok=True)
    say(f"kafka {outcome} in {time.monotonic() - began:.1f}s")
