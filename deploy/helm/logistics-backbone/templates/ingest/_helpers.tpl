{{/* Ingest: names and labels, namespaced under logistics-backbone.ingest.* */}}

{{- define "logistics-backbone.ingest.fullname" -}}
{{- include "logistics-backbone.componentName" (dict "root" . "component" "ingest") }}
{{- end }}

{{- define "logistics-backbone.ingest.labels" -}}
{{- include "logistics-backbone.componentLabels" (dict "root" . "component" "ingest") }}
{{- end }}

{{- define "logistics-backbone.ingest.selectorLabels" -}}
{{- include "logistics-backbone.componentSelectorLabels" (dict "root" . "component" "ingest") }}
{{- end }}

{{/* The HTTP port (`BACKBONE_INGEST_PORT`); fixed so probes, Service and NetworkPolicy agree. */}}
{{- define "logistics-backbone.ingest.port" -}}8080{{- end }}

{{/* Partner webhook secrets, one file per partner id. */}}
{{- define "logistics-backbone.ingest.partnersSecret" -}}
{{- include "logistics-backbone.secretName" (dict "root" . "existing" .Values.ingest.partnersExistingSecret "purpose" "partners") }}
{{- end }}

{{- define "logistics-backbone.ingest.env" -}}
- name: BACKBONE_INGEST_PORT
  value: {{ include "logistics-backbone.ingest.port" . | quote }}
- name: BACKBONE_INGEST_TRUSTED_PROXY_HOPS
  value: {{ .Values.ingest.trustedProxyHops | quote }}
- name: BACKBONE_PARTNER_SECRETS_DIR
  value: /etc/backbone/partners
{{- end }}

{{- define "logistics-backbone.ingest.volumeMounts" -}}
- name: partners
  mountPath: /etc/backbone/partners
  readOnly: true
{{- end }}

{{- define "logistics-backbone.ingest.volumes" -}}
- name: partners
  secret:
    secretName: {{ include "logistics-backbone.ingest.partnersSecret" . }}
{{- end }}
