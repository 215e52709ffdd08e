"""Alert rules and dashboard (deploy/observability): promtool checks and unit
tests the rules, every runbook link leads to a section that exists, and every
metric the rules and the dashboard query is one the code exports."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import OBSERVABILITY, ROOT

ALERTS = OBSERVABILITY / "alerts.yaml"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
HERE = Path(__file__).parent
# Where the code defines its metrics (prometheus_client Counter, Gauge,
# Histogram, Summary, or a custom collector's *MetricFamily), whatever module
# holds them.
METRIC_SOURCES = ("services", "projections", "contracts")
PROMQL_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
}


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=120)


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


# promtool ------------------------------------------------------------------


def test_alert_rules_pass_promtool_check(promtool_bin: Path) -> None:
    result = run(promtool_bin, "check", "rules", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_alert_rules_pass_their_unit_tests(promtool_bin: Path) -> None:
    result = run(promtool_bin, "test", "rules", "alerts_test.yaml", cwd=HERE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_dashboard_queries_are_valid_promql(promtool_bin: Path, tmp_path: Path) -> None:
    """promtool parses rule files only: the queries go in as recording rules,
    with Grafana's variables replaced by what they stand for."""
    rules = [
        {
            "record": f"dashboard:query_{i}",
            "expr": expr.replace("$__rate_interval", "5m").replace("$namespace", ".*"),
        }
        for i, expr in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(promtool_bin, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


# what the rules cover ------------------------------------------------------


def test_the_alerts_cover_lag_gaps_held_cap_quarantine_errors_latency_and_readiness() -> None:
    uses = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    needed = {
        "BillingConsumerLagHigh": "billing_partition_lag_events",
        "BillingConsumerLagSecondsHigh": "billing_worker_lag_seconds",
        "BillingHeldGapsOpen": "billing_held_gaps_open",
        "BillingHeldEventsNearCap": "billing_held_events_max_tenant_ratio",
        "BillingQuarantineRateHigh": 'outcome="quarantined"',
        "BillingApiErrorRateHigh": 'status_code=~"5.."',
        "BillingApiLatencyHigh": "histogram_quantile(0.99",
        "BillingApiNotReady": 'path="/health/ready"',
    }
    for alert, fragment in needed.items():
        assert alert in uses, f"no alert {alert}"
        assert fragment in uses[alert], f"{alert} does not use {fragment}"


def github_anchors(markdown: str) -> set[str]:
    """The anchors a Markdown renderer (GitHub's rule) gives the headings."""
    anchors = set()
    for line in markdown.splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            text = re.sub(r"[`*_]", "", match.group(1)).strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_has_a_severity_a_summary_and_a_runbook_section(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"]
    assert rule["annotations"]["description"]
    path, _, anchor = rule["annotations"]["runbook"].partition("#")
    document = ROOT / path
    assert path in {"docs/runbook.md", "docs/deployment.md"}, path
    assert document.is_file(), f"{path} does not exist"
    assert anchor in github_anchors(document.read_text()), f"{path} has no section #{anchor}"


def test_links_of_the_deployment_guide_lead_to_files_and_sections_that_exist() -> None:
    guide = ROOT / "docs" / "deployment.md"
    text = guide.read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links
    for link in links:
        if link.startswith(("http://", "https://")):
            continue
        path, _, anchor = link.partition("#")
        target = (guide.parent / path).resolve() if path else guide
        assert target.is_file(), link
        if anchor:
            assert anchor in github_anchors(target.read_text()), link


# metric names --------------------------------------------------------------


def exported_metrics() -> dict[str, str]:
    """Every series name the code's prometheus_client metrics export -> kind.
    A custom collector's metric family counts when its name is a string
    constant of the module (e.g. a class attribute ``NAME = "..."``)."""
    kinds = {"Counter": "counter", "Gauge": "gauge", "Histogram": "histogram", "Summary": "summary"}
    kinds |= {f"{name}MetricFamily": kind for name, kind in kinds.items()}
    found: dict[str, str] = {}
    for package in METRIC_SOURCES:
        for source in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(source.read_text(), str(source))
            local: dict[str, str] = {}
            modules: set[str] = set()
            constants: dict[str, str] = {}
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module in {"prometheus_client", "prometheus_client.core"}:
                    for alias in node.names:
                        if alias.name in kinds:
                            local[alias.asname or alias.name] = kinds[alias.name]
                elif (
                    isinstance(node, ast.Assign)
                    and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str)
                ):
                    constants[node.targets[0].id] = node.value.value
                elif isinstance(node, ast.Import):
                    modules |= {a.asname or a.name for a in node.names if a.name == "prometheus_client"}
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                kind = None
                if isinstance(func, ast.Name):
                    kind = local.get(func.id)
                elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules:
                    kind = kinds.get(func.attr)
                name_arg = (
                    node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
                )
                if isinstance(name_arg, ast.Name | ast.Attribute):
                    named = constants.get(name_arg.id if isinstance(name_arg, ast.Name) else name_arg.attr)
                    name_arg = ast.Constant(named) if named is not None else name_arg
                if kind and isinstance(name_arg, ast.Constant) and isinstance(name_arg.value, str):
                    found[name_arg.value] = kind
    return found


def series_names(name: str, kind: str) -> set[str]:
    """The names prometheus_client exposes for one metric."""
    if kind == "counter":
        base = name.removesuffix("_total")
        return {base + "_total", base + "_created"}
    if kind == "histogram":
        return {name + suffix for suffix in ("_bucket", "_count", "_sum", "_created")}
    if kind == "summary":
        return {name, name + "_count", name + "_sum", name + "_created"}
    return {name}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if not call and word.lower() not in PROMQL_KEYWORDS:
            names.add(word)
    return names


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (path, le) (rate(a_bucket{path!~"/x|y"}[5m]))) > 1 '
        'and on (path) sum by (path) (rate(b_count{q="c_total"}[$__rate_interval])) > 0.1 or vector(0) - c:rec'
    )
    assert metric_names(expr) == {"a_bucket", "b_count", "c:rec"}


def test_every_metric_the_alerts_and_dashboard_query_is_exported_by_the_code() -> None:
    defined = exported_metrics()
    assert "billing_partition_lag_events" in defined, "the metric definitions were not found"
    exported = {series for name, kind in defined.items() for series in series_names(name, kind)}
    used: dict[str, set[str]] = {}
    for rule in alert_rules():
        for name in metric_names(rule["expr"]):
            used.setdefault(name, set()).add(f"alert {rule['alert']}")
    for expr in dashboard_queries():
        for name in metric_names(expr):
            used.setdefault(name, set()).add("dashboard")
    missing = {name: sorted(where) for name, where in used.items() if name not in exported}
    assert not missing, f"metrics the code does not export: {missing}"


# dashboard -----------------------------------------------------------------


def test_dashboard_is_an_importable_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "invoice-summaries"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert 'namespace=~"$namespace"' in target["expr"], (panel["title"], target["expr"])
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("lag", "quarantined", "held", "batch", "latency", "readiness"):
        assert topic in titles, f"no panel about {topic}"
