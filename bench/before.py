"""Another commit's code, for the ingest benchmark's before/after comparison:
its tree materialised with ``git archive`` into a temporary folder (the
repository and its work tree are left alone), run with this virtualenv from
that folder (``PYTHONPATH`` and the working directory), against its own
database migrated by that code.

The default is the commit before the timelines were added (``3958b8f``, "Every
invoice's figures along business time…"): the same ingest path without them.
Without git, or in a clone that lacks the commit (a shallow one), the
comparison cannot be made, and the report says so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from bench.lab import REPO

DEFAULT_REV = "3958b8f^"
NONE = "none"


class Tree(NamedTuple):
    path: Path
    rev: str  # as asked for
    commit: str  # abbreviated hash

    @property
    def label(self) -> str:
        return self.commit if self.rev == self.commit else f"{self.commit} = {self.rev}"


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False, timeout=120)


def materialise(rev: str, into: Path) -> Tree | str:
    """The tree of ``rev`` in the empty folder ``into``, or why it cannot be had."""
    if shutil.which("git") is None:
        return "git is not installed"
    if _git("rev-parse", "--git-dir").returncode != 0:
        return f"{REPO} is not a git checkout"
    found = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if found.returncode != 0:
        shallow = _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"
        return f"revision {rev} is not in this clone" + (" (a shallow clone: fetch its history)" if shallow else "")
    commit = found.stdout.strip()
    short = _git("rev-parse", "--short", commit).stdout.strip() or commit[:7]
    with subprocess.Popen(["git", "-C", str(REPO), "archive", "--format=tar", commit], stdout=subprocess.PIPE) as git:
        untar = subprocess.run(["tar", "-x", "-C", str(into)], stdin=git.stdout, capture_output=True, check=False)
    if git.returncode != 0 or untar.returncode != 0:
        return f"git archive {short} failed: {untar.stderr.decode(errors='replace').strip()[-300:]}"
    if not (into / "services" / "cli.py").is_file():
        return f"commit {short} has no services/cli.py"
    problem = imports_from(into)
    if problem:
        return problem
    return Tree(into, rev, short)


def imports_from(tree: Path) -> str | None:
    """None when Python run as Lab.spawn runs it imports the service's
    packages from ``tree`` (not from an installed copy); else what it imports."""
    probe = "import projections, services.cli; print(projections.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        return f"the code of {tree} does not import: {done.stderr.strip()[-300:]}"
    imported = Path(done.stdout.strip()).resolve()
    if not imported.is_relative_to(tree.resolve()):
        return f"Python imports the service from {imported}, not from {tree}"
    return None
