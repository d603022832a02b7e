{{/* Carrier bridge: names, labels and env, namespaced under logistics-backbone.carrierBridge.* */}}

{{- define "logistics-backbone.carrierBridge.fullname" -}}
{{- include "logistics-backbone.componentName" (dict "root" . "component" "carrier-bridge") }}
{{- end }}

{{- define "logistics-backbone.carrierBridge.labels" -}}
{{- include "logistics-backbone.componentLabels" (dict "root" . "component" "carrier-bridge") }}
{{- end }}

{{- define "logistics-backbone.carrierBridge.selectorLabels" -}}
{{- include "logistics-backbone.componentSelectorLabels" (dict "root" . "component" "carrier-bridge") }}
{{- end }}

{{/* Consumer group id, fixed by the service's code; used by the KafkaUser ACLs and KEDA. */}}
{{- define "logistics-backbone.carrierBridge.group" -}}carrier_bridge{{- end }}

{{/* Its own env: health port, idempotency ledger, target system. */}}
{{- define "logistics-backbone.carrierBridge.env" -}}
- name: BACKBONE_CARRIER_BRIDGE_HEALTH_PORT
  value: {{ .Values.carrierBridge.healthPort | quote }}
{{ include "logistics-backbone.database.env" . }}
- name: BACKBONE_CARRIER_URL
  value: {{ .Values.carrierBridge.carrier.url | quote }}
- name: BACKBONE_CARRIER_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "logistics-backbone.secretName" (dict "root" . "existing" .Values.carrierBridge.carrier.existingSecret "purpose" "carrier") }}
      key: {{ .Values.carrierBridge.carrier.apiKeyKey }}
{{- end }}
