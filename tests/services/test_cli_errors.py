"""Operational errors: one line on stderr naming what to fix, and the exit
code `billing --help` and the README document. No traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import EXIT_CODES
from tests.conftest import free_port

README = Path(__file__).resolve().parents[2] / "README.md"


def billing(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
    environ.update({"BILLING_LOG_FORMAT": "json", **env})
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=environ, capture_output=True, text=True, timeout=60
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_help_documents_the_exit_codes() -> None:
    shown = billing("--help").stdout
    for code, meaning in EXIT_CODES:
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning)}$", shown, re.MULTILINE), (code, shown)


def test_the_readme_documents_the_same_exit_codes() -> None:
    operations = README.read_text().split("## Operations", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| `(\d+)` \|", operations, re.MULTILINE)}
    assert documented == {code for code, _ in EXIT_CODES}


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"BILLING_KAFKA_SECURITY_PROTOCOL": "TLS"},
            "billing keys: BILLING_KAFKA_SECURITY_PROTOCOL='TLS': expected one of PLAINTEXT, SSL, SASL_PLAINTEXT,"
            " SASL_SSL",
        ),
        ({"BILLING_API_PORT": "eighty"}, "billing keys: BILLING_API_PORT='eighty': expected an integer"),
        (
            {"BILLING_KAFKA_SASL_MECHANISM": "OAUTHBEARER"},
            "billing keys: BILLING_KAFKA_SASL_MECHANISM='OAUTHBEARER': expected one of PLAIN, SCRAM-SHA-256,"
            " SCRAM-SHA-512",
        ),
        (
            {"BILLING_DATABASE_URL": "mysql://billing@db/billing"},
            "billing keys: BILLING_DATABASE_URL: expected a postgresql://user[:password]@host[:port]/database URL",
        ),
        (
            {"BILLING_DATABASE_URL": "postgresql://billing:pw@127.0.0.1:fifteen/billing"},
            "billing keys: BILLING_DATABASE_URL: the port is not a number",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable_and_exit_3(env: dict[str, str], says: str) -> None:
    result = billing("keys", "list", **env)
    assert result.returncode == 3
    assert one_line(result) == says


def test_a_tls_file_that_does_not_exist_is_a_bad_setting(tmp_path: Path) -> None:
    result = billing(
        "topics",
        "check",
        BILLING_KAFKA_SECURITY_PROTOCOL="SSL",
        BILLING_KAFKA_SSL_CAFILE=str(tmp_path / "ca.pem"),
    )
    assert result.returncode == 3
    assert (
        one_line(result) == f"billing topics: BILLING_KAFKA_SSL_CAFILE={tmp_path / 'ca.pem'}: the file does not exist"
    )


@pytest.mark.parametrize(
    "command", [("keys", "list"), ("status",), ("versions",), ("quarantine", "list"), ("migrate",)]
)
def test_an_unreachable_database_is_one_line_and_exit_4(command: tuple[str, ...]) -> None:
    port = free_port()  # closed again: nothing listens there
    result = billing(*command, BILLING_DATABASE_URL=f"postgresql://billing:pw@127.0.0.1:{port}/billing")
    assert result.returncode == 4
    line = one_line(result)
    assert line.startswith(
        f"billing {command[0]}: cannot reach the database at postgresql://billing:***@127.0.0.1:{port}/billing"
        " (BILLING_DATABASE_URL): "
    ), line


@pytest.mark.integration
def test_a_database_that_does_not_exist_is_one_line_and_exit_4(service_env: dict[str, str]) -> None:
    url = service_env["BILLING_DATABASE_URL"].rsplit("/", 1)[0] + "/no_such_database"
    result = billing("keys", "list", BILLING_DATABASE_URL=url)
    assert result.returncode == 4
    assert one_line(result).endswith('refused the connection: database "no_such_database" does not exist')


@pytest.mark.parametrize("command", [("topics", "check"), ("topics", "ensure"), ("worker",)])
def test_an_unreachable_broker_is_one_line_and_exit_5(command: tuple[str, ...]) -> None:
    port = free_port()
    result = billing(*command, BILLING_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}", BILLING_WORKER_METRICS_PORT="0")
    assert result.returncode == 5
    line = one_line(result)
    assert line.startswith(
        f"billing {command[0]}: cannot connect to Kafka at 127.0.0.1:{port} (PLAINTEXT; BILLING_KAFKA_BOOTSTRAP,"
        " BILLING_KAFKA_SECURITY_*): "
    ), line
    assert "refused" in line.lower()


def test_bad_arguments_exit_2() -> None:
    assert billing("quarantine", "list", "--limit", "none").returncode == 2
    assert billing("topics").returncode == 2
