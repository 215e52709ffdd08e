"""The container image recipe (deploy/Dockerfile, .dockerignore), without a
Docker engine: its rules read statically, then its builder step run for real
into a scratch folder (the same wheel, the same constrained install)."""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Stage:
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]


def stages() -> list[Stage]:
    """The Dockerfile's stages: (INSTRUCTION, arguments) with continuations joined."""
    logical: list[str] = []
    current = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    result: list[Stage] = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.search(r"\bAS\s+(\S+)\s*$", args, re.IGNORECASE)
            result.append(Stage(match.group(1) if match else str(len(result))))
        if result:
            result[-1].instructions.append((instruction, args.strip()))
    return result


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            env[key] = value
    return env


# the recipe's rules ----------------------------------------------------------


def test_builder_makes_a_wheel_and_installs_it_with_the_constraints() -> None:
    builder, runtime = stages()
    assert builder.name == "builder"
    copied = " ".join(builder.all("COPY"))
    assert "constraints.txt" in copied
    (run,) = builder.all("RUN")
    assert re.search(r"pip wheel .*--no-deps", run), run
    assert re.search(r"pip install (--constraint|-c) constraints\.txt ", run), run
    # The runtime stage takes the virtualenv only: no sources, no build tools.
    assert runtime.all("COPY") == ["--from=builder /opt/venv /opt/venv"]
    assert not any("pip" in args for args in runtime.all("RUN"))
    assert env_of(runtime)["PATH"].startswith("/opt/venv/bin:")


def test_image_runs_as_a_numeric_non_root_user() -> None:
    runtime = stages()[-1]
    users = runtime.all("USER")
    assert users, "no USER: the image would run as root"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and int(user) != 0, users[-1]
    assert not group or (group.isdigit() and int(group) != 0), users[-1]
    assert any(f"--uid {user}" in args for args in runtime.all("RUN")), "the user is not created"


def test_api_listens_on_all_addresses_in_the_image() -> None:
    runtime = stages()[-1]
    assert env_of(runtime)["BILLING_API_HOST"] == "0.0.0.0"
    assert runtime.all("ENTRYPOINT") == ['["billing"]']


def healthcheck_command() -> list[str]:
    (healthcheck,) = stages()[-1].all("HEALTHCHECK")
    _, _, exec_form = healthcheck.partition("CMD ")
    command: list[str] = json.loads(exec_form)
    return command


def test_healthcheck_asks_the_liveness_endpoint_with_python_alone() -> None:
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"]
    compile(command[2], "HEALTHCHECK", "exec")
    assert "/health/live" in command[2]
    instructions = " ".join(args for stage in stages() for _, args in stage.instructions)
    assert not re.search(r"\b(curl|wget)\b", instructions)


@pytest.fixture
def liveness_server() -> Iterator[int]:
    class Live(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health/live" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Live)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_passes_while_the_api_answers_and_fails_when_it_does_not(liveness_server: int) -> None:
    code = healthcheck_command()[2]
    env = dict(os.environ, BILLING_API_PORT=str(liveness_server))
    up = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=30)
    assert up.returncode == 0, up.stderr
    # A port nothing listens on: this server's, once it is closed, is unlikely to
    # be taken again at once; any connection error must fail the check.
    env["BILLING_API_PORT"] = "1"
    down = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=30)
    assert down.returncode != 0


# .dockerignore -------------------------------------------------------------


@dataclass
class Pattern:
    regex: re.Pattern[str]
    exclusion: bool
    literal_prefix: str


def compile_pattern(text: str) -> Pattern:
    """A .dockerignore line as Docker reads it (moby's patternmatcher)."""
    exclusion = text.startswith("!")
    text = os.path.normpath(text[1:].strip() if exclusion else text).lstrip("/")
    regex, i = "", 0
    while i < len(text):
        char = text[i]
        if char == "*" and text[i + 1 : i + 2] == "*":
            i += 1
            if text[i + 1 : i + 2] == "/":
                i += 1
                regex += "(.*/)?"
            else:
                regex += ".*"
        elif char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[":
            end = text.index("]", i)
            regex += text[i : end + 1]
            i = end
        elif char == "\\" and i + 1 < len(text):
            i += 1
            regex += re.escape(text[i])
        else:
            regex += re.escape(char)
        i += 1
    prefix = re.split(r"[*?\[\\]", text, maxsplit=1)[0]
    return Pattern(re.compile(f"^{regex}$"), exclusion, prefix)


def dockerignore_patterns() -> list[Pattern]:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    return [compile_pattern(line) for line in lines if line and not line.startswith("#")]


def ignored(path: str, patterns: list[Pattern]) -> bool:
    """Whether Docker leaves `path` (relative, /-separated) out of the context:
    the last pattern matching it or a parent folder decides."""
    parents = [path]
    parts = path.split("/")
    parents += ["/".join(parts[:n]) for n in range(1, len(parts))]
    matched = False
    for pattern in patterns:
        if pattern.exclusion != matched:
            continue
        if any(pattern.regex.match(p) for p in parents):
            matched = not pattern.exclusion
    return matched


def context_files(patterns: list[Pattern]) -> Iterator[Path]:
    """The files a build would send, skipping folders that no `!` line can reopen."""
    reopeners = [p.literal_prefix for p in patterns if p.exclusion]
    for folder, dirs, files in os.walk(ROOT):
        relative = Path(folder).relative_to(ROOT).as_posix()
        relative = "" if relative == "." else relative + "/"
        keep = []
        for d in dirs:
            path = relative + d
            if ignored(path, patterns) and not any(r.startswith(path + "/") or r == path for r in reopeners):
                continue
            keep.append(d)
        dirs[:] = keep
        for f in files:
            if not ignored(relative + f, patterns):
                yield Path(folder) / f


def test_dockerignore_patterns_behave_as_docker_reads_them() -> None:
    patterns = [compile_pattern(p) for p in ["*", "!services/", "**/__pycache__", ".venv"]]
    assert ignored("tests/x.py", patterns)
    assert not ignored("services/cli.py", patterns)
    assert ignored("services/api/__pycache__/app.pyc", patterns)
    assert ignored(".venv/bin/python", patterns)


def test_dockerignore_keeps_local_state_out_and_the_sources_in() -> None:
    patterns = dockerignore_patterns()
    for path in [
        ".stack/kafka/libs/kafka.jar",
        ".stack/postgres/data/base/1",
        ".venv/bin/python",
        ".venv/lib/python3.11/site-packages/litestar/app.py",
        "bench-report/index.html",
        ".git/HEAD",
        ".mypy_cache/3.11/services/cli.json",
        ".pytest_cache/v/cache/nodeids",
        ".ruff_cache/content",
        ".hypothesis/examples/x",
        "services/__pycache__/cli.cpython-311.pyc",
        "invoice_summaries.egg-info/PKG-INFO",
        "tests/conftest.py",
        ".env",
    ]:
        assert ignored(path, patterns), f"{path} would be in the build context"
    for source in ["pyproject.toml", "constraints.txt", "README.md"]:
        assert not ignored(source, patterns), f"{source} is needed by the build"
    for package in ["contracts", "projections", "services"]:
        for file in (ROOT / package).rglob("*"):
            relative = file.relative_to(ROOT).as_posix()
            if file.is_file() and "__pycache__" not in relative:
                assert not ignored(relative, patterns), f"{relative} is needed by the build"


def test_build_context_is_small() -> None:
    size = sum(f.stat().st_size for f in context_files(dockerignore_patterns()))
    assert size < 5_000_000, f"the build context is {size / 1e6:.1f} MB"


# the recipe, run -----------------------------------------------------------


def test_builder_recipe_installs_the_wheel_with_every_dependency_pinned(tmp_path: Path) -> None:
    """The builder stage's COPY and RUN lines, run here: its paths moved into a
    scratch folder, the same Python (the image's minor version is the venv's)."""
    builder = stages()[0]
    image = re.search(r"python:(\d+\.\d+)", DOCKERFILE.read_text())
    assert image is not None
    assert image.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}", "the image's Python differs"
    patterns = dockerignore_patterns()
    context = tmp_path / "src"
    for copy in builder.all("COPY"):
        *sources, _ = copy.split()
        for source in sources:
            for file in [ROOT / source] if (ROOT / source).is_file() else sorted((ROOT / source).rglob("*")):
                relative = file.relative_to(ROOT).as_posix()
                if file.is_file() and not ignored(relative, patterns):
                    (context / relative).parent.mkdir(parents=True, exist_ok=True)
                    (context / relative).write_bytes(file.read_bytes())
    venv, wheels, bin_dir = tmp_path / "venv", tmp_path / "wheels", tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    (run,) = builder.all("RUN")
    command = run.replace("/opt/venv", str(venv)).replace("/wheels", str(wheels))
    env = {**os.environ, **env_of(builder), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    # The pip cache is the machine's to share; the image keeps none.
    env.pop("PIP_NO_CACHE_DIR", None)
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run(["bash", "-c", command], cwd=context, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    constraints = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            constraints[re.sub(r"[-_.]+", "-", name).lower()] = version
    frozen = subprocess.run(
        [str(venv / "bin" / "pip"), "list", "--format=json", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {re.sub(r"[-_.]+", "-", p["name"]).lower(): p["version"] for p in json.loads(frozen.stdout)}
    installed.pop("invoice-summaries")
    for tool in ("pip", "setuptools", "wheel"):
        installed.pop(tool, None)
    floating = {name: version for name, version in installed.items() if constraints.get(name) != version}
    assert not floating, f"installed without a pin in constraints.txt: {floating}"
    assert {"litestar", "asyncpg", "aiokafka", "uvicorn"} <= installed.keys()

    # The installed package runs and carries its data files.
    help_text = subprocess.run(
        [str(venv / "bin" / "billing"), "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert help_text.returncode == 0, help_text.stderr
    assert "BILLING_API_HOST" in help_text.stdout
    site = next((venv / "lib").glob("python*/site-packages"))
    for data in ["projections/schema.sql", "services/migrations/0001_core.sql"]:
        assert (site / data).is_file(), f"{data} is missing from the wheel"
    assert list((site / "contracts" / "schemas").glob("*.json")), "the contract schemas are missing from the wheel"
