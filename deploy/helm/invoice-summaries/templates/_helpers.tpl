{{/* Names, labels and the pieces every pod shares. */}}

{{- define "invoice-summaries.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<chart>, or the release name alone when it already holds the chart's name. */}}
{{- define "invoice-summaries.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "invoice-summaries.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "invoice-summaries.labels" -}}
helm.sh/chart: {{ include "invoice-summaries.chart" . }}
{{ include "invoice-summaries.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: invoice-summaries
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "invoice-summaries.selectorLabels" -}}
app.kubernetes.io/name: {{ include "invoice-summaries.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component: include with (dict "ctx" $ "component" "api"). */}}
{{- define "invoice-summaries.componentLabels" -}}
{{ include "invoice-summaries.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "invoice-summaries.componentSelector" -}}
{{ include "invoice-summaries.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "invoice-summaries.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "invoice-summaries.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "invoice-summaries.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Secrets: the one named in values, else the one the chart creates (or expects). */}}
{{- define "invoice-summaries.databaseSecret" -}}
{{- default (printf "%s-database" (include "invoice-summaries.fullname" .)) .Values.database.existingSecret }}
{{- end }}

{{- define "invoice-summaries.kafkaSaslSecret" -}}
{{- default (printf "%s-kafka-sasl" (include "invoice-summaries.fullname" .)) .Values.kafka.sasl.existingSecret }}
{{- end }}

{{- define "invoice-summaries.kafkaTlsSecret" -}}
{{- default (printf "%s-kafka-tls" (include "invoice-summaries.fullname" .)) .Values.kafka.tls.existingSecret }}
{{- end }}

{{- define "invoice-summaries.kafkaSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}true{{- end }}
{{- end }}

{{- define "invoice-summaries.kafkaTls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") }}true{{- end }}
{{- end }}

{{/* Whether a TLS Secret is mounted: one is named, or the chart creates one. */}}
{{- define "invoice-summaries.kafkaTlsMounted" -}}
{{- if and (include "invoice-summaries.kafkaTls" .) (or .Values.kafka.tls.existingSecret .Values.kafka.tls.ca .Values.kafka.tls.cert) }}true{{- end }}
{{- end }}

{{- define "invoice-summaries.kafkaTlsDir" -}}/etc/billing/kafka-tls{{- end }}

{{/*
The non-secret settings every process reads, as a YAML map: the ConfigMap of
the Deployments, and inline env of the hook Jobs (they run before the
ConfigMap exists).
*/}}
{{- define "invoice-summaries.settings" -}}
{{- $v := .Values }}
BILLING_KAFKA_BOOTSTRAP: {{ $v.kafka.bootstrap | quote }}
BILLING_TOPIC: {{ $v.kafka.topic | quote }}
BILLING_DLQ_TOPIC: {{ $v.kafka.dlqTopic | quote }}
BILLING_CONSUMER_GROUP: {{ $v.kafka.consumerGroup | quote }}
BILLING_TOPIC_PARTITIONS: {{ $v.kafka.partitions | int | quote }}
BILLING_TOPIC_REPLICATION_FACTOR: {{ $v.kafka.topics.replicationFactor | int | quote }}
BILLING_TOPIC_RETENTION_MS: {{ $v.kafka.topics.retentionMs | int64 | quote }}
BILLING_TOPIC_AUTO_CREATE: {{ $v.kafka.topics.workerAutoCreate | toString | quote }}
BILLING_KAFKA_SECURITY_PROTOCOL: {{ $v.kafka.securityProtocol | quote }}
{{- with $v.kafka.sasl.mechanism }}
BILLING_KAFKA_SASL_MECHANISM: {{ . | quote }}
{{- end }}
{{- range $name, $value := $v.config }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{- define "invoice-summaries.settingsEnv" -}}
{{- range $name, $value := include "invoice-summaries.settings" . | fromYaml }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/*
The environment every container gets: the shared ConfigMap, the database URL
and the Kafka credentials from Secrets, the component's own settings.
Include with (dict "ctx" $ "extra" .Values.api.config).
*/}}
{{- define "invoice-summaries.env" -}}
{{- $ctx := .ctx }}
{{- $v := $ctx.Values }}
- name: BILLING_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "invoice-summaries.databaseSecret" $ctx }}
      key: {{ $v.database.secretKey }}
{{- if include "invoice-summaries.kafkaSasl" $ctx }}
- name: BILLING_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "invoice-summaries.kafkaSaslSecret" $ctx }}
      key: {{ $v.kafka.sasl.usernameKey }}
- name: BILLING_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "invoice-summaries.kafkaSaslSecret" $ctx }}
      key: {{ $v.kafka.sasl.passwordKey }}
{{- end }}
{{- if include "invoice-summaries.kafkaTlsMounted" $ctx }}
{{- $dir := include "invoice-summaries.kafkaTlsDir" $ctx }}
{{- if or $v.kafka.tls.ca (and $v.kafka.tls.existingSecret $v.kafka.tls.caKey) }}
- name: BILLING_KAFKA_SSL_CAFILE
  value: {{ printf "%s/%s" $dir (default "ca.crt" $v.kafka.tls.caKey) | quote }}
{{- end }}
{{- if or $v.kafka.tls.cert (and $v.kafka.tls.existingSecret $v.kafka.tls.certKey) }}
- name: BILLING_KAFKA_SSL_CERTFILE
  value: {{ printf "%s/%s" $dir (default "tls.crt" $v.kafka.tls.certKey) | quote }}
- name: BILLING_KAFKA_SSL_KEYFILE
  value: {{ printf "%s/%s" $dir (default "tls.key" $v.kafka.tls.keyKey) | quote }}
{{- end }}
{{- end }}
{{- range $name, $value := .extra }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The Kafka TLS volume (pod level) and its mount (container level). */}}
{{- define "invoice-summaries.tlsVolume" -}}
{{- if include "invoice-summaries.kafkaTlsMounted" . }}
- name: kafka-tls
  secret:
    secretName: {{ include "invoice-summaries.kafkaTlsSecret" . }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "invoice-summaries.tlsMount" -}}
{{- if include "invoice-summaries.kafkaTlsMounted" . }}
- name: kafka-tls
  mountPath: {{ include "invoice-summaries.kafkaTlsDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Pod annotations that roll the pods when their settings or secrets change. */}}
{{- define "invoice-summaries.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secrets: {{ include (print .Template.BasePath "/secrets.yaml") . | sha256sum }}
{{- end }}

{{/* KEDA's names for the SASL mechanisms. */}}
{{- define "invoice-summaries.kedaSasl" -}}
{{- $m := .Values.kafka.sasl.mechanism }}
{{- if eq $m "PLAIN" }}plaintext
{{- else if eq $m "SCRAM-SHA-256" }}scram_sha256
{{- else if eq $m "SCRAM-SHA-512" }}scram_sha512
{{- else }}{{ fail (printf "kafka.securityProtocol %s needs kafka.sasl.mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)" .Values.kafka.securityProtocol) }}
{{- end }}
{{- end }}

{{/* Refuse contradictory values early, with a message that names them. */}}
{{- define "invoice-summaries.validate" -}}
{{- $v := .Values }}
{{- if and $v.database.existingSecret $v.database.url }}
{{- fail "set database.existingSecret or database.url, not both" }}
{{- end }}
{{- if and $v.kafka.sasl.existingSecret (or $v.kafka.sasl.username $v.kafka.sasl.password) }}
{{- fail "set kafka.sasl.existingSecret or kafka.sasl.username/password, not both" }}
{{- end }}
{{- if and $v.kafka.tls.existingSecret (or $v.kafka.tls.ca $v.kafka.tls.cert $v.kafka.tls.key) }}
{{- fail "set kafka.tls.existingSecret or kafka.tls.ca/cert/key, not both" }}
{{- end }}
{{- if and (include "invoice-summaries.kafkaSasl" .) (not $v.kafka.sasl.mechanism) }}
{{- fail (printf "kafka.securityProtocol %s needs kafka.sasl.mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)" $v.kafka.securityProtocol) }}
{{- end }}
{{- if and (not (include "invoice-summaries.kafkaSasl" .)) $v.kafka.sasl.mechanism }}
{{- fail (printf "kafka.sasl.mechanism is set but kafka.securityProtocol %s uses no SASL" $v.kafka.securityProtocol) }}
{{- end }}
{{- if and (or $v.kafka.tls.existingSecret $v.kafka.tls.ca $v.kafka.tls.cert) (not (include "invoice-summaries.kafkaTls" .)) }}
{{- fail (printf "kafka.tls is set but kafka.securityProtocol %s uses no TLS" $v.kafka.securityProtocol) }}
{{- end }}
{{- if ne (empty $v.kafka.tls.cert) (empty $v.kafka.tls.key) }}
{{- fail "kafka.tls.cert and kafka.tls.key go together" }}
{{- end }}
{{- if ne (empty $v.kafka.tls.certKey) (empty $v.kafka.tls.keyKey) }}
{{- fail "kafka.tls.certKey and kafka.tls.keyKey go together" }}
{{- end }}
{{- $managed := list "BILLING_DATABASE_URL" "BILLING_KAFKA_BOOTSTRAP" "BILLING_TOPIC" "BILLING_DLQ_TOPIC" "BILLING_CONSUMER_GROUP" "BILLING_TOPIC_PARTITIONS" "BILLING_TOPIC_REPLICATION_FACTOR" "BILLING_TOPIC_RETENTION_MS" "BILLING_TOPIC_AUTO_CREATE" "BILLING_KAFKA_SECURITY_PROTOCOL" "BILLING_KAFKA_SASL_MECHANISM" "BILLING_KAFKA_SASL_USERNAME" "BILLING_KAFKA_SASL_PASSWORD" "BILLING_KAFKA_SSL_CAFILE" "BILLING_KAFKA_SSL_CERTFILE" "BILLING_KAFKA_SSL_KEYFILE" "BILLING_API_HOST" "BILLING_API_PORT" "BILLING_API_WORKERS" "BILLING_WORKER_METRICS_HOST" "BILLING_WORKER_METRICS_PORT" "BILLING_WORKER_CONSUMERS" }}
{{- range $section, $config := dict "config" $v.config "api.config" $v.api.config "worker.config" $v.worker.config }}
{{- range $name, $_ := $config }}
{{- if has $name $managed }}
{{- fail (printf "%s.%s is set by the chart from its own values (see values.yaml): set those instead" $section $name) }}
{{- end }}
{{- if not (hasPrefix "BILLING_" $name) }}
{{- fail (printf "%s.%s: only BILLING_* settings belong here (extraEnv takes any variable)" $section $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- $pods := include "invoice-summaries.workerPods" $v | int }}
{{- $max := default $pods $v.worker.keda.maxReplicaCount | int }}
{{- if gt $max $pods }}
{{- fail (printf "worker.keda.maxReplicaCount %d is more than the topic's %d partitions take at %d consumers a pod (%d): the extra workers would idle" $max (int $v.kafka.partitions) (int $v.worker.consumers) $pods) }}
{{- end }}
{{- if gt (int $v.worker.keda.minReplicaCount) $max }}
{{- fail "worker.keda.minReplicaCount is more than maxReplicaCount" }}
{{- end }}
{{- end }}

{{- define "invoice-summaries.secretHook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: "-10"
helm.sh/hook-delete-policy: before-hook-creation
{{- end }}

{{/* A hook Job running one `billing` command: include with (dict "ctx" $ "command" (list "migrate") "component" "migrate" "weight" 0 "job" .Values.migration). */}}
{{- define "invoice-summaries.hookJob" -}}
{{- $ctx := .ctx }}
{{- $v := $ctx.Values }}
{{- $component := dict "ctx" $ctx "component" .component }}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "invoice-summaries.fullname" $ctx }}-{{ .component }}
  labels:
    {{- include "invoice-summaries.componentLabels" $component | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: {{ .weight | quote }}
    # A failed job stays for its logs until the next attempt.
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ .job.backoffLimit }}
  activeDeadlineSeconds: {{ .job.activeDeadlineSeconds }}
  ttlSecondsAfterFinished: {{ .job.ttlSecondsAfterFinished }}
  template:
    metadata:
      labels:
        {{- include "invoice-summaries.componentLabels" $component | nindent 8 }}
    spec:
      restartPolicy: Never
      {{- /* The chart's service account is created with the release, after the hooks. */}}
      {{- if not $v.serviceAccount.create }}
      serviceAccountName: {{ include "invoice-summaries.serviceAccountName" $ctx }}
      {{- end }}
      automountServiceAccountToken: false
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $v.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .component }}
          image: {{ include "invoice-summaries.image" $ctx | quote }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          args: {{ toJson .command }}
          env:
            {{- include "invoice-summaries.settingsEnv" $ctx | trim | nindent 12 }}
            {{- include "invoice-summaries.env" (dict "ctx" $ctx "extra" dict) | trim | nindent 12 }}
          resources:
            {{- toYaml .job.resources | nindent 12 }}
          securityContext:
            {{- toYaml $v.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with include "invoice-summaries.tlsMount" $ctx | trim }}
            {{- . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 16Mi
        {{- with include "invoice-summaries.tlsVolume" $ctx | trim }}
        {{- . | nindent 8 }}
        {{- end }}
{{- end }}

{{/* The most worker pods with work: the partitions over the consumers of a pod, rounded up. */}}
{{- define "invoice-summaries.workerPods" -}}
{{- $consumers := int .worker.consumers }}
{{- div (add (int .kafka.partitions) (sub $consumers 1)) $consumers }}
{{- end }}
