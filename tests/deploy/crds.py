"""JSON Schemas of the custom resources the chart renders, for the objects the
Kubernetes schemas do not cover: KEDA's ScaledObject and TriggerAuthentication
(keda.sh/v1alpha1, KEDA 2.x) and the Prometheus Operator's ServiceMonitor and
PrometheusRule (monitoring.coreos.com/v1).

Written after the CRDs' OpenAPI schemas, stricter than them: a CRD keeps an
unknown field silently (the API server prunes it), so here every object lists
its fields and rejects others, and the Kafka trigger's metadata is limited to
the keys KEDA's Kafka scaler reads. A field the chart starts to use is added
here on purpose, after checking it in the CRD.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
NAME: Schema = {"type": "string", "minLength": 1}
INT32: Schema = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
STRING_MAP: Schema = {"type": "object", "additionalProperties": STRING}
# Prometheus Operator's duration format.
DURATION: Schema = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}


def strict(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


METADATA = strict(
    {"name": NAME, "namespace": NAME, "labels": STRING_MAP, "annotations": STRING_MAP},
    required=("name",),
)
LABEL_SELECTOR = strict(
    {
        "matchLabels": STRING_MAP,
        "matchExpressions": {
            "type": "array",
            "items": strict(
                {"key": NAME, "operator": NAME, "values": {"type": "array", "items": STRING}},
                required=("key", "operator"),
            ),
        },
    }
)


def resource(api_version: str, kind: str, spec: Schema) -> Schema:
    return strict(
        {"apiVersion": {"const": api_version}, "kind": {"const": kind}, "metadata": METADATA, "spec": spec},
        required=("apiVersion", "kind", "metadata", "spec"),
    )


# KEDA ---------------------------------------------------------------------

SCALING_RULES = strict(
    {
        "policies": {
            "type": "array",
            "items": strict(
                {"type": {"enum": ["Pods", "Percent"]}, "value": INT32, "periodSeconds": INT32},
                required=("type", "value", "periodSeconds"),
            ),
        },
        "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
        "stabilizationWindowSeconds": {**INT32, "minimum": 0, "maximum": 3600},
    }
)

# The metadata keys of KEDA's Kafka scaler (pkg/scalers/kafka_scaler.go); every
# value is a string.
KAFKA_TRIGGER_METADATA = strict(
    {
        "bootstrapServers": NAME,
        "bootstrapServersFromEnv": NAME,
        "consumerGroup": NAME,
        "consumerGroupFromEnv": NAME,
        "topic": NAME,
        "topicFromEnv": NAME,
        "partitionLimitation": STRING,
        "lagThreshold": {"type": "string", "pattern": "^[1-9][0-9]*$"},
        "activationLagThreshold": {"type": "string", "pattern": "^[0-9]+$"},
        "offsetResetPolicy": {"enum": ["latest", "earliest"]},
        "allowIdleConsumers": {"enum": ["true", "false"]},
        "excludePersistentLag": {"enum": ["true", "false"]},
        "scaleToZeroOnInvalidOffset": {"enum": ["true", "false"]},
        "limitToPartitionsWithLag": {"enum": ["true", "false"]},
        "ensureEvenDistributionOfPartitions": {"enum": ["true", "false"]},
        "version": STRING,
        "tls": {"enum": ["enable", "disable"]},
        "unsafeSsl": {"enum": ["true", "false"]},
        "sasl": {"enum": ["none", "plaintext", "scram_sha256", "scram_sha512", "oauthbearer", "gssapi"]},
    },
    required=("bootstrapServers", "consumerGroup"),
)

SCALED_OBJECT = resource(
    "keda.sh/v1alpha1",
    "ScaledObject",
    strict(
        {
            "scaleTargetRef": strict(
                {"apiVersion": NAME, "kind": NAME, "name": NAME, "envSourceContainerName": NAME},
                required=("name",),
            ),
            "pollingInterval": {**INT32, "minimum": 1},
            "cooldownPeriod": {**INT32, "minimum": 0},
            "initialCooldownPeriod": {**INT32, "minimum": 0},
            "idleReplicaCount": {**INT32, "minimum": 0},
            "minReplicaCount": {**INT32, "minimum": 0},
            "maxReplicaCount": {**INT32, "minimum": 1},
            "fallback": strict(
                {
                    "failureThreshold": {**INT32, "minimum": 0},
                    "replicas": {**INT32, "minimum": 0},
                    "behavior": {
                        "enum": [
                            "static",
                            "currentReplicas",
                            "currentReplicasIfHigher",
                            "currentReplicasIfLower",
                        ]
                    },
                },
                required=("failureThreshold", "replicas"),
            ),
            "advanced": strict(
                {
                    "restoreToOriginalReplicaCount": {"type": "boolean"},
                    "horizontalPodAutoscalerConfig": strict(
                        {
                            "name": NAME,
                            "behavior": strict({"scaleUp": SCALING_RULES, "scaleDown": SCALING_RULES}),
                        }
                    ),
                }
            ),
            "triggers": {
                "type": "array",
                "minItems": 1,
                "items": {
                    # Only Kafka triggers are rendered; their metadata is checked key by key.
                    **strict(
                        {
                            "type": {"const": "kafka"},
                            "name": NAME,
                            "metricType": {"enum": ["AverageValue", "Value"]},
                            "useCachedMetrics": {"type": "boolean"},
                            "metadata": KAFKA_TRIGGER_METADATA,
                            "authenticationRef": strict(
                                {
                                    "name": NAME,
                                    "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]},
                                },
                                required=("name",),
                            ),
                        },
                        required=("type", "metadata"),
                    ),
                },
            },
        },
        required=("scaleTargetRef", "triggers"),
    ),
)

TRIGGER_AUTHENTICATION = resource(
    "keda.sh/v1alpha1",
    "TriggerAuthentication",
    strict(
        {
            "secretTargetRef": {
                "type": "array",
                "minItems": 1,
                "items": strict(
                    {
                        # The Kafka scaler's authentication parameters.
                        "parameter": {
                            "enum": ["sasl", "username", "password", "tls", "ca", "cert", "key", "keyPassword"]
                        },
                        "name": NAME,
                        "key": NAME,
                    },
                    required=("parameter", "name", "key"),
                ),
            }
        },
        required=("secretTargetRef",),
    ),
)

# Prometheus Operator ------------------------------------------------------

ENDPOINT = strict(
    {
        "port": NAME,
        "targetPort": {"type": ["string", "integer"]},
        "path": {"type": "string", "pattern": "^/"},
        "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
        "interval": DURATION,
        "scrapeTimeout": DURATION,
        "honorLabels": {"type": "boolean"},
        "relabelings": {"type": "array", "items": {"type": "object"}},
        "metricRelabelings": {"type": "array", "items": {"type": "object"}},
    }
)

SERVICE_MONITOR = resource(
    "monitoring.coreos.com/v1",
    "ServiceMonitor",
    strict(
        {
            "selector": LABEL_SELECTOR,
            "namespaceSelector": strict({"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": NAME}}),
            "endpoints": {"type": "array", "minItems": 1, "items": ENDPOINT},
            "jobLabel": NAME,
            "targetLabels": {"type": "array", "items": NAME},
            "podTargetLabels": {"type": "array", "items": NAME},
            "sampleLimit": {"type": "integer", "minimum": 0},
        },
        required=("selector", "endpoints"),
    ),
)

RULE = {
    **strict(
        {
            "alert": NAME,
            "record": NAME,
            "expr": {"type": ["string", "integer"], "minLength": 1},
            "for": DURATION,
            "keep_firing_for": DURATION,
            "labels": STRING_MAP,
            "annotations": STRING_MAP,
        },
        required=("expr",),
    ),
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
}

PROMETHEUS_RULE = resource(
    "monitoring.coreos.com/v1",
    "PrometheusRule",
    strict(
        {
            "groups": {
                "type": "array",
                "items": strict(
                    {
                        "name": NAME,
                        "interval": DURATION,
                        "limit": {"type": "integer", "minimum": 0},
                        "rules": {"type": "array", "items": RULE},
                    },
                    required=("name", "rules"),
                ),
            }
        },
        required=("groups",),
    ),
)

SCHEMAS: dict[tuple[str, str], Schema] = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TRIGGER_AUTHENTICATION,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
}
