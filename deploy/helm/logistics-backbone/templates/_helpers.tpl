{{/*
Shared helpers. The first five are the `helm create` ones, kept as they are so the chart reads like
any other; the rest are the backbone's own: component names, image, Secret names, common env.
Kafka helpers are in _kafka.tpl, the shared pod template, PDB and NetworkPolicy in _pod.tpl, KEDA in
_keda.tpl; per-service helpers live in each service's folder (templates/<service>/_helpers.tpl).
*/}}

{{/* Chart name. */}}
{{- define "logistics-backbone.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Default fully qualified app name, cut at 63 characters (the DNS label limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "logistics-backbone.fullname" -}}
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

{{/* Chart name and version as used by the chart label. */}}
{{- define "logistics-backbone.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "logistics-backbone.labels" -}}
helm.sh/chart: {{ include "logistics-backbone.chart" . }}
{{ include "logistics-backbone.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "logistics-backbone.name" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels. */}}
{{- define "logistics-backbone.selectorLabels" -}}
app.kubernetes.io/name: {{ include "logistics-backbone.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Name of the service account to use. */}}
{{- define "logistics-backbone.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "logistics-backbone.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* commonAnnotations as a metadata block (empty when there are none). */}}
{{- define "logistics-backbone.annotations" -}}
{{- with .Values.commonAnnotations -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* ---- components ---- */}}

{{/*
Resource name of one component: <fullname>-<component>, cut at 63.
Usage: include "logistics-backbone.componentName" (dict "root" $ "component" "ingest")
*/}}
{{- define "logistics-backbone.componentName" -}}
{{- printf "%s-%s" (include "logistics-backbone.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of one component: common labels plus app.kubernetes.io/component. */}}
{{- define "logistics-backbone.componentLabels" -}}
{{ include "logistics-backbone.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Selector labels of one component (distinct per component, stable across upgrades). */}}
{{- define "logistics-backbone.componentSelectorLabels" -}}
{{ include "logistics-backbone.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Image reference: registry/repository:tag or @digest; the tag defaults to the appVersion. */}}
{{- define "logistics-backbone.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.registry }}
{{- $repo = printf "%s/%s" .Values.image.registry .Values.image.repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Name of a Secret the chart reads but never creates: the configured one, or <fullname>-<purpose>.
Usage: include "logistics-backbone.secretName" (dict "root" $ "existing" .Values.kafka.existingSecret "purpose" "kafka")
*/}}
{{- define "logistics-backbone.secretName" -}}
{{- if .existing }}
{{- .existing }}
{{- else }}
{{- printf "%s-%s" (include "logistics-backbone.fullname" .root) .purpose | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* ---- other connections ---- */}}

{{- define "logistics-backbone.schemaRegistry.env" -}}
- name: SCHEMA_REGISTRY_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "logistics-backbone.secretName" (dict "root" . "existing" .Values.schemaRegistry.existingSecret "purpose" "schema-registry") }}
      key: {{ .Values.schemaRegistry.urlKey }}
{{- end }}

{{- define "logistics-backbone.database.env" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "logistics-backbone.secretName" (dict "root" . "existing" .Values.database.existingSecret "purpose" "database") }}
      key: {{ .Values.database.urlKey }}
{{- end }}

{{/*
Env every service gets: log level, OpenTelemetry, Kafka, schema registry.
Usage: include "logistics-backbone.commonEnv" (dict "root" $ "component" "ingest" "service" "ingest" "values" .Values.ingest)
*/}}
{{- define "logistics-backbone.commonEnv" -}}
- name: BACKBONE_LOG_LEVEL
  value: {{ default .root.Values.logLevel .values.logLevel | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ .service | quote }}
{{- with .root.Values.telemetry.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .root.Values.telemetry.sampleRatio | toString | quote }}
{{ include "logistics-backbone.kafka.env" . }}
{{ include "logistics-backbone.schemaRegistry.env" .root }}
{{- end }}
