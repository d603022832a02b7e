{{/* WMS bridge: names, labels and env, namespaced under logistics-backbone.wmsBridge.* */}}

{{- define "logistics-backbone.wmsBridge.fullname" -}}
{{- include "logistics-backbone.componentName" (dict "root" . "component" "wms-bridge") }}
{{- end }}

{{- define "logistics-backbone.wmsBridge.labels" -}}
{{- include "logistics-backbone.componentLabels" (dict "root" . "component" "wms-bridge") }}
{{- end }}

{{- define "logistics-backbone.wmsBridge.selectorLabels" -}}
{{- include "logistics-backbone.componentSelectorLabels" (dict "root" . "component" "wms-bridge") }}
{{- end }}

{{/* Consumer group id, fixed by the service's code; used by the KafkaUser ACLs and KEDA. */}}
{{- define "logistics-backbone.wmsBridge.group" -}}wms_bridge{{- end }}

{{/* Its own env: health port, idempotency ledger, target system. */}}
{{- define "logistics-backbone.wmsBridge.env" -}}
- name: BACKBONE_WMS_BRIDGE_HEALTH_PORT
  value: {{ .Values.wmsBridge.healthPort | quote }}
{{ include "logistics-backbone.database.env" . }}
- name: BACKBONE_WMS_URL
  value: {{ .Values.wmsBridge.wms.url | quote }}
- name: BACKBONE_WMS_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "logistics-backbone.secretName" (dict "root" . "existing" .Values.wmsBridge.wms.existingSecret "purpose" "wms") }}
      key: {{ .Values.wmsBridge.wms.apiKeyKey }}
{{- end }}
