{{/* Odoo sink: names, labels and env, namespaced under logistics-backbone.odooSink.* */}}

{{- define "logistics-backbone.odooSink.fullname" -}}
{{- include "logistics-backbone.componentName" (dict "root" . "component" "odoo-sink") }}
{{- end }}

{{- define "logistics-backbone.odooSink.labels" -}}
{{- include "logistics-backbone.componentLabels" (dict "root" . "component" "odoo-sink") }}
{{- end }}

{{- define "logistics-backbone.odooSink.selectorLabels" -}}
{{- include "logistics-backbone.componentSelectorLabels" (dict "root" . "component" "odoo-sink") }}
{{- end }}

{{/* Consumer group id, fixed by the service's code; used by the KafkaUser ACLs and KEDA. */}}
{{- define "logistics-backbone.odooSink.group" -}}odoo_sink{{- end }}

{{/* Its own env: health port, idempotency ledger, target system. */}}
{{- define "logistics-backbone.odooSink.env" -}}
- name: BACKBONE_ODOO_SINK_HEALTH_PORT
  value: {{ .Values.odooSink.healthPort | quote }}
{{ include "logistics-backbone.database.env" . }}
- name: BACKBONE_ODOO_URL
  value: {{ .Values.odooSink.odoo.url | quote }}
- name: BACKBONE_ODOO_DB
  value: {{ .Values.odooSink.odoo.database | quote }}
- name: BACKBONE_ODOO_LOGIN
  value: {{ .Values.odooSink.odoo.login | quote }}
- name: BACKBONE_ODOO_PROTOCOL
  value: {{ .Values.odooSink.odoo.protocol | quote }}
- name: BACKBONE_ODOO_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "logistics-backbone.secretName" (dict "root" . "existing" .Values.odooSink.odoo.existingSecret "purpose" "odoo") }}
      key: {{ .Values.odooSink.odoo.apiKeyKey }}
{{- end }}
