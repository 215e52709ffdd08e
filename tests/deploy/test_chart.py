"""The Helm chart (deploy/helm/invoice-summaries): `helm lint`, `helm template`
with the default, production-like and test values, every rendered object
validated against the Kubernetes JSON schemas (kubernetes-validate, strict)
of the oldest and newest Kubernetes the chart supports, and the custom
resources against tests/deploy/crds.py; then what the chart promises."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import CHART, OBSERVABILITY, ROOT
from tests.deploy.crds import SCHEMAS

try:
    from kubernetes_validate import utils as kubernetes_validate
except ImportError:  # pragma: no cover - reported by the test that needs it
    kubernetes_validate = None

Manifest = dict[str, Any]

HERE = Path(__file__).parent
VALUE_SETS: dict[str, list[Path]] = {
    "default": [],
    "production": [ROOT / "deploy" / "helm" / "values-production.yaml"],
    "inline-secrets": [HERE / "values-inline-secrets.yaml"],
    "static": [HERE / "values-static.yaml"],
}
# The oldest Kubernetes the chart supports (Chart.yaml's kubeVersion) and the
# newest the bundled schemas know.
OLDEST_KUBERNETES = "1.27.0"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def helm_env(tmp: Path) -> dict[str, str]:
    """helm with its caches and settings in a scratch folder, never the user's."""
    return dict(
        os.environ,
        HELM_CACHE_HOME=str(tmp / "cache"),
        HELM_CONFIG_HOME=str(tmp / "config"),
        HELM_DATA_HOME=str(tmp / "data"),
    )


def run_helm(helm: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, env=helm_env(tmp), timeout=120)


def value_args(files: list[Path], sets: dict[str, str] | None = None) -> list[str]:
    args = [arg for f in files for arg in ("--values", str(f))]
    for key, value in (sets or {}).items():
        args += ["--set", f"{key}={value}"]
    return args


@pytest.fixture(scope="session")
def helm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("helm")


@pytest.fixture(scope="session")
def render(helm_bin: Path, helm_home: Path) -> Any:
    @functools.cache
    def rendered(name: str, kube_version: str | None = None) -> list[Manifest]:
        args = ["template", "billing", str(CHART), "--namespace", "billing", *value_args(VALUE_SETS[name])]
        if kube_version:
            args += ["--kube-version", kube_version]
        result = run_helm(helm_bin, helm_home, *args)
        assert result.returncode == 0, f"helm template ({name}) failed:\n{result.stderr}"
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return rendered


def by_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def containers(manifest: Manifest) -> list[Manifest]:
    pod = manifest["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def env_of(container: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# helm lint -----------------------------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS)
def test_helm_lint_passes_strict(helm_bin: Path, helm_home: Path, values: str) -> None:
    result = run_helm(helm_bin, helm_home, "lint", "--strict", str(CHART), *value_args(VALUE_SETS[values]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


# schemas -------------------------------------------------------------------


def kubernetes_versions() -> list[str]:
    if kubernetes_validate is None:
        return [OLDEST_KUBERNETES]
    return [OLDEST_KUBERNETES, kubernetes_validate.latest_version()]


@pytest.mark.parametrize("kube_version", kubernetes_versions())
@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_rendered_object_matches_its_schema(render: Any, values: str, kube_version: str) -> None:
    if kubernetes_validate is None:
        pytest.fail(
            "kubernetes-validate (the Kubernetes JSON schemas) is not installed: it belongs to the dev extra, "
            "`make install` installs it",
            pytrace=False,
        )
    manifests = render(values, kube_version)
    assert manifests, "the chart rendered nothing"
    errors: list[str] = []
    for manifest in manifests:
        where = f"{manifest.get('kind')} {manifest.get('metadata', {}).get('name')}"
        custom = SCHEMAS.get((manifest["apiVersion"], manifest["kind"]))
        try:
            if custom is not None:
                jsonschema.Draft202012Validator(custom).validate(manifest)
            else:
                kubernetes_validate.validate(manifest, kube_version, strict=True)
        except jsonschema.ValidationError as error:
            path = ".".join(str(p) for p in error.absolute_path)
            errors.append(f"{where}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            errors.append(f"{where}: no schema: {error.message}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("values", VALUE_SETS)
def test_names_and_labels_are_valid_kubernetes_names(render: Any, values: str) -> None:
    for manifest in render(values):
        name = manifest["metadata"]["name"]
        limit = 63 if manifest["kind"] in {"Service", "Deployment", "Job"} else 253
        assert len(name) <= limit and DNS_SUBDOMAIN.match(name), name
        if manifest["kind"] == "Service":
            assert DNS_LABEL.match(name), name
        for value in manifest["metadata"].get("labels", {}).values():
            assert len(value) <= 63 and LABEL_VALUE.match(value), (name, value)


# what the chart promises ---------------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_container_has_resources_and_runs_unprivileged(render: Any, values: str) -> None:
    for manifest in render(values):
        if manifest["kind"] not in {"Deployment", "Job"}:
            continue
        pod = manifest["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in containers(manifest):
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), manifest["metadata"]["name"]
            assert "memory" in resources["limits"], manifest["metadata"]["name"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("values", ["default", "production"])
def test_api_listens_on_all_addresses_with_liveness_and_readiness_probes(render: Any, values: str) -> None:
    manifests = render(values)
    api = one(manifests, "Deployment", "billing-invoice-summaries-api")
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["api"]
    env = env_of(container)
    assert env["BILLING_API_HOST"] == "0.0.0.0"
    # One process per pod by default (values.yaml says why); never the node's core count.
    assert env["BILLING_API_WORKERS"] == "1"
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": int(env["BILLING_API_PORT"])}
    service = one(manifests, "Service", "billing-invoice-summaries-api")
    assert matches(service["spec"]["selector"], api["spec"]["template"]["metadata"]["labels"])
    assert service["spec"]["ports"][0]["targetPort"] == "http"


@pytest.mark.parametrize("values", ["default", "production"])
def test_api_scales_on_cpu_and_leaves_replicas_to_the_autoscaler(render: Any, values: str) -> None:
    manifests = render(values)
    api = one(manifests, "Deployment", "billing-invoice-summaries-api")
    assert "replicas" not in api["spec"]
    hpa = one(manifests, "HorizontalPodAutoscaler", "billing-invoice-summaries-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": api["metadata"]["name"],
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


@pytest.mark.parametrize(("values", "partitions"), [("default", 4), ("production", 12), ("inline-secrets", 6)])
def test_workers_scale_by_consumer_lag_up_to_the_partition_count(render: Any, values: str, partitions: int) -> None:
    manifests = render(values)
    worker = one(manifests, "Deployment", "billing-invoice-summaries-worker")
    assert "replicas" not in worker["spec"], "KEDA owns the worker replica count"
    config = one(manifests, "ConfigMap", "billing-invoice-summaries")["data"]
    scaled = one(manifests, "ScaledObject", "billing-invoice-summaries-worker")
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    consumers = int(next(e["value"] for e in container["env"] if e["name"] == "BILLING_WORKER_CONSUMERS"))
    assert partitions == int(config["BILLING_TOPIC_PARTITIONS"])
    # Every pod's consumers find partitions: at most partitions / consumers pods, rounded up.
    assert spec["maxReplicaCount"] == -(-partitions // consumers)
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert metadata["consumerGroup"] == config["BILLING_CONSUMER_GROUP"]
    assert metadata["topic"] == config["BILLING_TOPIC"]
    assert metadata["bootstrapServers"] == config["BILLING_KAFKA_BOOTSTRAP"]
    assert metadata["allowIdleConsumers"] == "false"
    assert not by_kind(manifests, "HorizontalPodAutoscaler") or all(
        h["spec"]["scaleTargetRef"]["name"] != worker["metadata"]["name"]
        for h in by_kind(manifests, "HorizontalPodAutoscaler")
    ), "KEDA makes the worker's HPA itself"


def test_lag_scaler_authenticates_like_the_workers(render: Any) -> None:
    manifests = render("production")
    spec = one(manifests, "ScaledObject", "billing-invoice-summaries-worker")["spec"]
    metadata = spec["triggers"][0]["metadata"]
    assert metadata["sasl"] == "scram_sha512"
    assert metadata["tls"] == "enable"
    auth = one(manifests, "TriggerAuthentication", spec["triggers"][0]["authenticationRef"]["name"])
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert refs == {
        "username": ("invoice-summaries-kafka", "username"),
        "password": ("invoice-summaries-kafka", "password"),
        "ca": ("invoice-summaries-kafka-tls", "ca.crt"),
    }
    worker = one(manifests, "Deployment", "billing-invoice-summaries-worker")
    env = env_of(worker["spec"]["template"]["spec"]["containers"][0])
    assert env["BILLING_KAFKA_SASL_USERNAME"] == {
        "secretKeyRef": {"name": "invoice-summaries-kafka", "key": "username"}
    }
    assert env["BILLING_KAFKA_SASL_PASSWORD"] == {
        "secretKeyRef": {"name": "invoice-summaries-kafka", "key": "password"}
    }
    assert env["BILLING_KAFKA_SSL_CAFILE"] == "/etc/billing/kafka-tls/ca.crt"
    assert "BILLING_KAFKA_SSL_CERTFILE" not in env, "no client certificate with SASL"


def test_inline_values_become_secrets_and_mutual_tls_files(render: Any) -> None:
    manifests = render("inline-secrets")
    secrets = {s["metadata"]["name"]: s for s in by_kind(manifests, "Secret")}
    assert secrets["billing-invoice-summaries-database"]["stringData"]["url"].startswith("postgresql://")
    assert set(secrets["billing-invoice-summaries-kafka-sasl"]["stringData"]) == {"username", "password"}
    assert set(secrets["billing-invoice-summaries-kafka-tls"]["stringData"]) == {"ca.crt", "tls.crt", "tls.key"}
    for name in ("billing-invoice-summaries-api", "billing-invoice-summaries-worker"):
        deployment = one(manifests, "Deployment", name)
        pod = deployment["spec"]["template"]["spec"]
        env = env_of(pod["containers"][0])
        assert env["BILLING_DATABASE_URL"] == {
            "secretKeyRef": {"name": "billing-invoice-summaries-database", "key": "url"}
        }
        assert env["BILLING_KAFKA_SSL_CERTFILE"] == "/etc/billing/kafka-tls/tls.crt"
        assert env["BILLING_KAFKA_SSL_KEYFILE"] == "/etc/billing/kafka-tls/tls.key"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["kafka-tls"]["secret"]["secretName"] == "billing-invoice-summaries-kafka-tls"
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert mounts["kafka-tls"] == "/etc/billing/kafka-tls"
    config = one(manifests, "ConfigMap", "billing-invoice-summaries")["data"]
    assert config["BILLING_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["BILLING_KAFKA_SASL_MECHANISM"] == "PLAIN"
    auth = one(manifests, "TriggerAuthentication", "billing-invoice-summaries-kafka")
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {"username", "password", "ca", "cert", "key"}


def hook_weight(manifest: Manifest) -> int | None:
    annotations = manifest["metadata"].get("annotations", {})
    if "helm.sh/hook" not in annotations:
        return None
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    return int(annotations.get("helm.sh/hook-weight", "0"))


@pytest.mark.parametrize("values", ["default", "production", "inline-secrets"])
def test_topics_then_migration_run_as_hooks_before_install_and_upgrade(render: Any, values: str) -> None:
    manifests = render(values)
    topics = one(manifests, "Job", "billing-invoice-summaries-topics")
    migrate = one(manifests, "Job", "billing-invoice-summaries-migrate")
    topics_weight, migrate_weight = hook_weight(topics), hook_weight(migrate)
    assert topics_weight is not None and migrate_weight is not None
    assert topics_weight < migrate_weight, "topics exist before the migration and the workers"
    secrets = {s["metadata"]["name"]: hook_weight(s) for s in by_kind(manifests, "Secret")}
    for job, args in ((topics, ["topics", "ensure"]), (migrate, ["migrate"])):
        annotations = job["metadata"]["annotations"]
        assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        (container,) = pod["containers"]
        assert container["args"] == args
        # A hook runs before the release's own objects exist: no ConfigMap, no
        # service account of the chart; its Secrets only if they are earlier hooks.
        assert "envFrom" not in container
        assert pod.get("serviceAccountName") not in {
            s["metadata"]["name"] for s in by_kind(manifests, "ServiceAccount")
        }
        env = env_of(container)
        config = one(manifests, "ConfigMap", "billing-invoice-summaries")["data"]
        assert {k: v for k, v in env.items() if k in config} == config, "hooks read the same settings as the pods"
        referenced = {v["secretKeyRef"]["name"] for v in env.values() if isinstance(v, dict) and "secretKeyRef" in v}
        referenced |= {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
        for name in referenced:
            if name in secrets:
                weight = secrets[name]
                assert weight is not None and weight < hook_weight(job), (
                    f"{name} is created after {job['metadata']['name']}"
                )


@pytest.mark.parametrize("values", ["default", "production"])
def test_disruption_budgets_cover_api_and_workers(render: Any, values: str) -> None:
    manifests = render(values)
    budgets = by_kind(manifests, "PodDisruptionBudget")
    for component in ("api", "worker"):
        deployment = one(manifests, "Deployment", f"billing-invoice-summaries-{component}")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets if matches(b["spec"]["selector"]["matchLabels"], labels)]
        assert len(covering) == 1, component


@pytest.mark.parametrize("values", ["default", "production"])
def test_network_policies_close_ingress_but_the_service_ports(render: Any, values: str) -> None:
    manifests = render(values)
    policies = by_kind(manifests, "NetworkPolicy")
    pods = {
        m["metadata"]["name"]: m["spec"]["template"]["metadata"]["labels"]
        for m in manifests
        if m["kind"] in {"Deployment", "Job"}
    }
    for name, labels in pods.items():
        selecting = [p for p in policies if matches(p["spec"]["podSelector"]["matchLabels"], labels)]
        assert any("Egress" in p["spec"]["policyTypes"] for p in selecting), name
        assert any("Ingress" in p["spec"]["policyTypes"] for p in selecting), name
        allowed = {port["port"] for p in selecting for rule in p["spec"].get("ingress", []) for port in rule["ports"]}
        expected = {"billing-invoice-summaries-api": {"http"}, "billing-invoice-summaries-worker": {"metrics"}}
        assert allowed == expected.get(name, set()), name
    egress_ports = {port["port"] for p in policies for rule in p["spec"].get("egress", []) for port in rule["ports"]}
    assert 53 in egress_ports


@pytest.mark.parametrize("values", VALUE_SETS)
def test_pods_roll_when_settings_change_and_reference_what_exists(render: Any, values: str) -> None:
    manifests = render(values)
    config_maps = {m["metadata"]["name"] for m in by_kind(manifests, "ConfigMap")}
    for manifest in by_kind(manifests, "Deployment"):
        assert {"checksum/config", "checksum/secrets"} <= manifest["spec"]["template"]["metadata"]["annotations"].keys()
        for container in containers(manifest):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
    for scaled in by_kind(manifests, "HorizontalPodAutoscaler") + by_kind(manifests, "ScaledObject"):
        target = scaled["spec"]["scaleTargetRef"]["name"]
        one(manifests, "Deployment", target)


@functools.cache
def known_settings() -> frozenset[str]:
    """The BILLING_* variables the code reads, as `billing --help` lists them."""
    billing = Path(sys.executable).with_name("billing")
    result = subprocess.run([str(billing), "--help"], capture_output=True, text=True, timeout=60, check=True)
    return frozenset(re.findall(r"BILLING_[A-Z0-9_]+", result.stdout))


@functools.cache
def known_commands() -> frozenset[str]:
    billing = Path(sys.executable).with_name("billing")
    result = subprocess.run([str(billing), "--help"], capture_output=True, text=True, timeout=60, check=True)
    commands = re.search(r"positional arguments:\n\s+command\n((?:\s{4}\S.*\n|\s{6,}.*\n)+)", result.stdout)
    assert commands, result.stdout
    return frozenset(re.findall(r"^\s{4}(\S+)", commands.group(1), re.MULTILINE))


@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_container_runs_a_billing_command(render: Any, values: str) -> None:
    for manifest in render(values):
        if manifest["kind"] in {"Deployment", "Job"}:
            for container in containers(manifest):
                assert "command" not in container, "the image's entrypoint is billing"
                assert container["args"][0] in known_commands(), container["args"]


@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_setting_the_chart_sets_is_one_the_code_reads(render: Any, values: str) -> None:
    names: set[str] = set()
    for manifest in render(values):
        if manifest["kind"] == "ConfigMap":
            names |= set(manifest["data"])
        if manifest["kind"] in {"Deployment", "Job"}:
            for container in containers(manifest):
                names |= set(env_of(container))
    unknown = {n for n in names if n.startswith("BILLING_")} - known_settings()
    assert not unknown, f"settings no process reads: {sorted(unknown)}"


# Stand-ins for what the pods read from Secrets.
SECRET_VALUES = {
    "BILLING_DATABASE_URL": "postgresql://billing:secret@db.example.internal:5432/billing",
    "BILLING_KAFKA_SASL_USERNAME": "billing",
    "BILLING_KAFKA_SASL_PASSWORD": "secret",
}


@pytest.mark.parametrize("values", VALUE_SETS)
def test_the_code_accepts_the_settings_of_every_container(render: Any, values: str) -> None:
    from services.settings import Settings

    manifests = render(values)
    config_maps = {m["metadata"]["name"]: m["data"] for m in by_kind(manifests, "ConfigMap")}
    for manifest in manifests:
        if manifest["kind"] not in {"Deployment", "Job"}:
            continue
        for container in containers(manifest):
            env: dict[str, str] = {}
            for source in container.get("envFrom", []):
                env |= config_maps[source["configMapRef"]["name"]]
            for name, value in env_of(container).items():
                env[name] = SECRET_VALUES[name] if isinstance(value, dict) and "secretKeyRef" in value else value
            settings = Settings.from_env(env)
            if container["args"] == ["api"]:
                assert settings.api_host == "0.0.0.0"
            if container["args"] == ["worker"]:
                assert getattr(settings, "worker_metrics_host", "0.0.0.0") == "0.0.0.0"


def test_custom_resource_schemas_are_valid_json_schemas() -> None:
    for schema in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_static_values_render_fixed_replicas_and_no_optional_objects(render: Any) -> None:
    manifests = render("static")
    kinds = {m["kind"] for m in manifests}
    assert kinds.isdisjoint({"HorizontalPodAutoscaler", "ScaledObject", "PodDisruptionBudget", "NetworkPolicy", "Job"})
    assert "ServiceAccount" not in kinds
    api = one(manifests, "Deployment", "billing-invoice-summaries-api")
    worker = one(manifests, "Deployment", "billing-invoice-summaries-worker")
    assert api["spec"]["replicas"] == 3
    assert worker["spec"]["replicas"] == 2
    assert "livenessProbe" not in worker["spec"]["template"]["spec"]["containers"][0]
    for deployment in (api, worker):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "billing"
        assert pod["containers"][0]["image"].endswith("@sha256:" + "0123456789abcdef" * 4)


def test_prometheus_rule_carries_the_alert_file(render: Any) -> None:
    manifests = render("production")
    rule = one(manifests, "PrometheusRule", "billing-invoice-summaries")
    alerts = yaml.safe_load((OBSERVABILITY / "alerts.yaml").read_text())
    rendered = rule["spec"]["groups"]
    assert [g["name"] for g in rendered] == [g["name"] for g in alerts["groups"]]
    for group, source in zip(rendered, alerts["groups"], strict=True):
        for got, want in zip(group["rules"], source["rules"], strict=True):
            assert got["expr"] == want["expr"]
            assert got["labels"] == {**want["labels"], "team": "billing"}
            base = "https://git.example.com/billing/invoice-summaries/blob/main/"
            assert got["annotations"] == {**want["annotations"], "runbook_url": base + want["annotations"]["runbook"]}
    monitors = {m["metadata"]["name"]: m for m in by_kind(manifests, "ServiceMonitor")}
    services = by_kind(manifests, "Service")
    for monitor in monitors.values():
        selected = [s for s in services if matches(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
        assert len(selected) == 1
        ports = {p["name"] for p in selected[0]["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports


def test_chart_alert_file_links_to_the_observability_rules() -> None:
    link = CHART / "files" / "alerts.yaml"
    assert link.is_symlink() and link.resolve() == (OBSERVABILITY / "alerts.yaml").resolve()


# values that must be refused -----------------------------------------------


def refusals() -> list[Any]:
    cases = {
        "database.existingSecret=db,database.url=postgresql://x@y/z": "not both",
        "worker.keda.maxReplicaCount=5": "more than the topic's 4 partitions",
        "kafka.securityProtocol=SASL_SSL": "needs kafka.sasl.mechanism",
        "kafka.sasl.mechanism=PLAIN": "uses no SASL",
        "kafka.tls.existingSecret=tls": "uses no TLS",
        "config.BILLING_API_HOST=127.0.0.1": "set by the chart",
        "api.config.LOG_LEVEL=debug": "does not match pattern '^BILLING_",
        "kafka.partitions=0": "kafka/partitions",
        "kafka.securityProtocol=TLS": "kafka/securityProtocol",
        "api.replica=3": "additional properties 'replica' not allowed",
    }
    return [pytest.param(sets, message, id=sets) for sets, message in cases.items()]


@pytest.mark.parametrize(("sets", "message"), refusals())
def test_contradictory_or_unknown_values_are_refused_with_a_reason(
    helm_bin: Path, helm_home: Path, sets: str, message: str
) -> None:
    result = run_helm(helm_bin, helm_home, "template", "billing", str(CHART), "--set", sets)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
