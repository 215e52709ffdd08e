"""Certificates and credentials of the broker's optional SASL_SSL listener.

Made once per state folder with the ``openssl`` command, in ``kafka/tls``:
a private CA (``ca.pem``), the broker's key and certificate for 127.0.0.1 and
localhost in one PEM keystore (``broker-keystore.pem``, as Kafka's
``ssl.keystore.type=PEM`` reads it), a client key and certificate for mutual
TLS (``client.key``, ``client.pem``) and the SASL user's password
(``sasl.password``). The user authenticates with PLAIN or SCRAM-SHA-256/512;
``client_env`` gives the BILLING_* settings of a client.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from deploy.local.config import HOST, KAFKA_SASL_USER, Layout
from deploy.local.errors import StackError

CERT_DAYS = 30


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def broker_keystore(self) -> Path:
        return self.root / "broker-keystore.pem"

    @property
    def client_cert(self) -> Path:
        return self.root / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.root / "client.key"

    @property
    def password_file(self) -> Path:
        return self.root / "sasl.password"

    def password(self) -> str:
        return self.password_file.read_text().strip()


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise StackError("the SASL_SSL listener needs the 'openssl' command to make its certificates")
    result = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"openssl {args[0]} failed: {result.stderr.strip()[-500:]}")


def _signed(tls: TlsFiles, name: str, subject: str, extensions: str) -> tuple[Path, Path]:
    """A new key and a certificate signed by the CA: (key, certificate)."""
    key, csr, cert, ext = (tls.root / f"{name}{suffix}" for suffix in (".key", ".csr", ".pem", ".ext"))
    ext.write_text(extensions + "\n")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key.name, "-out", csr.name, "-subj", subject, cwd=tls.root
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        csr.name,
        "-CA",
        tls.ca.name,
        "-CAkey",
        tls.ca_key.name,
        "-CAcreateserial",
        "-out",
        cert.name,
        "-days",
        str(CERT_DAYS),
        "-sha256",
        "-extfile",
        ext.name,
        cwd=tls.root,
    )
    csr.unlink()
    ext.unlink()
    return key, cert


def ensure_tls(paths: Layout) -> TlsFiles:
    """The listener's files, made if missing (an interrupted run starts over)."""
    tls = TlsFiles(paths.kafka_tls)
    wanted = (tls.ca, tls.broker_keystore, tls.client_cert, tls.client_key, tls.password_file)
    if all(path.exists() for path in wanted):
        return tls
    shutil.rmtree(tls.root, ignore_errors=True)
    tls.root.mkdir(parents=True, mode=0o700)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        tls.ca_key.name,
        "-out",
        tls.ca.name,
        "-days",
        str(CERT_DAYS),
        "-subj",
        "/CN=billing local stack CA",
        cwd=tls.root,
    )
    broker_key, broker_cert = _signed(
        tls, "broker", f"/CN={HOST}", f"subjectAltName=IP:{HOST},DNS:localhost\nextendedKeyUsage=serverAuth"
    )
    # Kafka's PEM keystore: the (PKCS#8, unencrypted) key, then the chain.
    tls.broker_keystore.write_text(broker_key.read_text() + broker_cert.read_text() + tls.ca.read_text())
    _signed(tls, "client", f"/CN={KAFKA_SASL_USER}", "extendedKeyUsage=clientAuth")
    # Only characters that need no quoting in a JAAS line.
    tls.password_file.write_text(secrets.token_hex(16) + "\n")
    for path in tls.root.iterdir():
        os.chmod(path, 0o600)
    return tls


def client_env(paths: Layout, port: int, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
    """The BILLING_* settings of a client of the SASL_SSL listener (with the
    client certificate, which the listener requires with
    BILLING_STACK_KAFKA_SSL_CLIENT_AUTH=required)."""
    tls = TlsFiles(paths.kafka_tls)
    return {
        "BILLING_KAFKA_BOOTSTRAP": f"{HOST}:{port}",
        "BILLING_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "BILLING_KAFKA_SASL_MECHANISM": mechanism,
        "BILLING_KAFKA_SASL_USERNAME": KAFKA_SASL_USER,
        "BILLING_KAFKA_SASL_PASSWORD": tls.password(),
        "BILLING_KAFKA_SSL_CAFILE": str(tls.ca),
        "BILLING_KAFKA_SSL_CERTFILE": str(tls.client_cert),
        "BILLING_KAFKA_SSL_KEYFILE": str(tls.client_key),
    }
