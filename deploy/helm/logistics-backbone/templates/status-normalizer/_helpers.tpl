{{/* Status normalizer: names and labels, namespaced under logistics-backbone.statusNormalizer.* */}}

{{/*
Cut at 52, not 63: the StatefulSet controller adds an 11-character revision hash to a label
built from this name, and label values stop at 63.
*/}}
{{- define "logistics-backbone.statusNormalizer.fullname" -}}
{{- include "logistics-backbone.componentName" (dict "root" . "component" "status-normalizer") | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "logistics-backbone.statusNormalizer.headlessName" -}}
{{- printf "%s-headless" (include "logistics-backbone.statusNormalizer.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "logistics-backbone.statusNormalizer.labels" -}}
{{- include "logistics-backbone.componentLabels" (dict "root" . "component" "status-normalizer") }}
{{- end }}

{{- define "logistics-backbone.statusNormalizer.selectorLabels" -}}
{{- include "logistics-backbone.componentSelectorLabels" (dict "root" . "component" "status-normalizer") }}
{{- end }}

{{/* Faust's web server (health, readiness, metrics) listens on 6066. */}}
{{- define "logistics-backbone.statusNormalizer.port" -}}6066{{- end }}

{{/*
Faust app id = consumer group id = prefix of its changelog and repartition topics, so the ACLs and
KEDA follow it when a rebuild runs under a new id.
*/}}
{{- define "logistics-backbone.statusNormalizer.group" -}}{{ .Values.statusNormalizer.appId }}{{- end }}

{{- define "logistics-backbone.statusNormalizer.dataDir" -}}/var/lib/backbone/normalizer{{- end }}

{{- define "logistics-backbone.statusNormalizer.env" -}}
{{- /* Faust's web server binds 127.0.0.1 by default, out of the kubelet's reach. */ -}}
- name: BACKBONE_NORMALIZER_WEB_HOST
  value: "0.0.0.0"
- name: BACKBONE_NORMALIZER_WEB_PORT
  value: {{ include "logistics-backbone.statusNormalizer.port" . | quote }}
- name: BACKBONE_NORMALIZER_APP_ID
  value: {{ include "logistics-backbone.statusNormalizer.group" . | quote }}
- name: BACKBONE_NORMALIZER_DATADIR
  value: {{ include "logistics-backbone.statusNormalizer.dataDir" . }}
{{- end }}

{{- define "logistics-backbone.statusNormalizer.volumeMounts" -}}
- name: data
  mountPath: {{ include "logistics-backbone.statusNormalizer.dataDir" . }}
{{- end }}

{{/* Without persistence the state lives in an emptyDir and is rebuilt from the changelog topics. */}}
{{- define "logistics-backbone.statusNormalizer.volumes" -}}
{{- if not .Values.statusNormalizer.persistence.enabled }}
- name: data
  emptyDir: {}
{{- end }}
{{- end }}
