"""The command-line tools the deployment tests need, installed on first use
into .stack/tools/bin (git-ignored) and reused afterwards.

- helm: built from its Go module with `go install` (about 5 minutes on two
  cores the first time; Go's build cache makes a rebuild take seconds).
- promtool: extracted from Debian's `prometheus` package (`apt-get download`,
  no daemon installed); one already on PATH is used as it is.

Every install is idempotent and serialised with a lock file, so parallel test
runs share one build. `python -m tests.deploy.tools` installs both ahead of
the tests and prints their paths.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".stack" / "tools"
BIN = TOOLS / "bin"

HELM_VERSION = "v3.22.0"
HELM_MODULE = "helm.sh/helm/v3"
# The Kubernetes version helm assumes without a cluster (`helm template`,
# `helm lint` deprecation checks): that of the client-go its release builds on.
HELM_KUBE_MINOR = "37"


# Where Go's own installer puts it, for shells whose PATH lacks it.
GO_FALLBACKS = ("/usr/local/go/bin/go", str(Path.home() / "go" / "bin" / "go"))


class ToolMissing(RuntimeError):
    """A tool that is neither installed nor installable here; the message says what to do."""


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    TOOLS.mkdir(parents=True, exist_ok=True)
    with open(TOOLS / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _stamped(binary: Path, version: str) -> bool:
    stamp = binary.with_name(binary.name + ".version")
    return binary.is_file() and os.access(binary, os.X_OK) and stamp.is_file() and stamp.read_text() == version


def _stamp(binary: Path, version: str) -> None:
    binary.with_name(binary.name + ".version").write_text(version)


def helm() -> Path:
    """Path of the pinned helm, built with `go install` when missing."""
    binary = BIN / "helm"
    if _stamped(binary, HELM_VERSION):
        return binary
    with _locked("helm"):
        if _stamped(binary, HELM_VERSION):
            return binary
        go = shutil.which("go") or next((g for g in GO_FALLBACKS if os.access(g, os.X_OK)), None)
        if go is None:
            raise ToolMissing(
                f"helm {HELM_VERSION} is built from its Go module and needs Go (>= 1.26) on PATH: "
                f"install Go, or put a helm binary at {binary} and write {HELM_VERSION} into {binary}.version"
            )
        BIN.mkdir(parents=True, exist_ok=True)
        ldflags = " ".join(
            [
                "-s -w",
                f"-X {HELM_MODULE}/internal/version.version={HELM_VERSION}",
                f"-X {HELM_MODULE}/pkg/chartutil.k8sVersionMajor=1",
                f"-X {HELM_MODULE}/pkg/chartutil.k8sVersionMinor={HELM_KUBE_MINOR}",
                f"-X {HELM_MODULE}/pkg/lint/rules.k8sVersionMajor=1",
                f"-X {HELM_MODULE}/pkg/lint/rules.k8sVersionMinor={HELM_KUBE_MINOR}",
            ]
        )
        env = dict(os.environ, GOBIN=str(BIN), GOFLAGS="-buildvcs=false")
        print(f"building helm {HELM_VERSION} with go install (once; minutes on a cold cache)", file=sys.stderr)
        command = ["nice", "-n", "10", go, "install", "-ldflags", ldflags]
        result = subprocess.run(
            [*command, f"{HELM_MODULE}/cmd/helm@{HELM_VERSION}"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ToolMissing(f"go install of helm {HELM_VERSION} failed:\n{result.stderr[-4000:]}")
        _stamp(binary, HELM_VERSION)
        return binary


def _promtool_works(path: str | Path) -> bool:
    try:
        result = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return False
    return result.returncode == 0


def promtool() -> Path:
    """promtool from PATH, else from Debian's prometheus package, extracted into .stack/tools/bin."""
    on_path = shutil.which("promtool")
    if on_path and _promtool_works(on_path):
        return Path(on_path)
    binary = BIN / "promtool"
    if binary.is_file() and _promtool_works(binary):
        return binary
    with _locked("promtool"):
        if binary.is_file() and _promtool_works(binary):
            return binary
        if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
            raise ToolMissing(
                "promtool is missing and this is no Debian system to take it from: "
                "put promtool (from a Prometheus release) on PATH"
            )
        BIN.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=TOOLS) as work:
            download = ["apt-get", "download", "prometheus"]
            result = subprocess.run(download, cwd=work, capture_output=True, text=True, check=False)
            if result.returncode != 0 and os.geteuid() == 0:
                # No package lists yet (a fresh machine): fetch them and retry.
                subprocess.run(["apt-get", "update"], capture_output=True, text=True, check=False)
                result = subprocess.run(download, cwd=work, capture_output=True, text=True, check=False)
            packages = list(Path(work).glob("prometheus_*.deb"))
            if result.returncode != 0 or not packages:
                hint = (
                    "run `apt-get update` and retry"
                    if os.geteuid() == 0
                    else "as root run `apt-get update && apt-get install -y prometheus` (Debian's package "
                    "brings promtool), or put promtool on PATH"
                )
                raise ToolMissing(
                    f"promtool is missing and `apt-get download prometheus` failed: {hint}\n{result.stderr[-2000:]}"
                )
            unpacked = Path(work) / "unpacked"
            subprocess.run(["dpkg-deb", "-x", str(packages[0]), str(unpacked)], check=True, capture_output=True)
            shutil.copy2(unpacked / "usr" / "bin" / "promtool", binary)
        if not _promtool_works(binary):
            raise ToolMissing(f"{binary} was extracted from Debian's prometheus package but does not run")
        return binary


def main() -> int:
    try:
        for name, install in (("helm", helm), ("promtool", promtool)):
            print(f"{name}: {install()}")
    except ToolMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
