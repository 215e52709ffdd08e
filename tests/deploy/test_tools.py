"""The installer of the deployment tests' tools (tests/deploy/tools.py) says
what to do when it cannot install: the tests then fail with that message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.deploy import tools


@pytest.fixture
def empty_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No tool installed, and a PATH whose apt-get fails (no package lists)."""
    monkeypatch.setattr(tools, "TOOLS", tmp_path / "tools")
    monkeypatch.setattr(tools, "BIN", tmp_path / "tools" / "bin")
    fake = tmp_path / "path"
    fake.mkdir()
    for name in ("apt-get", "dpkg-deb"):
        script = fake / name
        script.write_text("#!/bin/sh\necho 'E: Unable to locate package prometheus' >&2\nexit 100\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:/usr/bin:/bin")
    return fake


def test_promtool_missing_as_a_normal_user_says_how_to_install_it(
    empty_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if any((Path(d) / "promtool").exists() for d in ("/usr/bin", "/bin")):
        pytest.skip("a system promtool is on the trimmed PATH")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(tools.ToolMissing, match=r"apt-get install -y prometheus"):
        tools.promtool()


def test_helm_without_go_says_what_is_needed(empty_tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if any((Path(d) / "go").exists() for d in ("/usr/bin", "/bin")):
        pytest.skip("a system Go is on the trimmed PATH")
    monkeypatch.setattr(tools, "GO_FALLBACKS", ())
    with pytest.raises(tools.ToolMissing, match=r"needs Go"):
        tools.helm()


def test_installed_tools_are_reused_without_rebuilding(helm_bin: Path, promtool_bin: Path) -> None:
    assert tools.helm() == helm_bin
    assert tools.promtool() == promtool_bin
    assert (helm_bin.parent / "helm.version").read_text() == tools.HELM_VERSION
