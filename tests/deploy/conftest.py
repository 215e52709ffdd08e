"""Fixtures of the deployment tests: the tools they run (installed on first use,
tests/deploy/tools.py) and the repository paths they check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.deploy import tools

ROOT = tools.ROOT
CHART = ROOT / "deploy" / "helm" / "invoice-summaries"
OBSERVABILITY = ROOT / "deploy" / "observability"


def _installed(install: Callable[[], Path]) -> Path:
    try:
        return install()
    except tools.ToolMissing as error:
        # A missing tool is a failure with the reason, never a skip.
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    return _installed(tools.helm)


@pytest.fixture(scope="session")
def promtool_bin() -> Path:
    return _installed(tools.promtool)
