{{/*
KEDA autoscaling of one Kafka consumer on its consumer-group lag: one `kafka` trigger per topic the
service reads (KEDA scales on the highest), replicas capped at the largest partition count of those
topics since extra consumers would sit idle. Broker credentials are not repeated here: the
TriggerAuthentication reads them from the target container's own env (KEDA resolves secretKeyRef).
Usage: include "logistics-backbone.keda" (dict "root" $ "component" "odoo-sink" "name" <workload>
         "kind" "Deployment" "group" "odoo_sink" "values" .Values.odooSink)
*/}}
{{- define "logistics-backbone.keda" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $k := .values.keda }}
{{- $names := include "logistics-backbone.topicNames" (dict "root" $root "roles" .values.topics.reads) | fromJsonArray }}
{{- if not $names }}
{{- fail (printf "%s.keda needs at least one topic in topics.reads" .component) }}
{{- end }}
{{- $cap := include "logistics-backbone.maxPartitions" (dict "root" $root "roles" .values.topics.reads) | int }}
{{- $max := min (int $k.maxReplicaCount) $cap }}
{{- if gt (int $k.minReplicaCount) $max }}
{{- fail (printf "%s.keda.minReplicaCount (%d) is above the partition cap (%d)" .component (int $k.minReplicaCount) $max) }}
{{- end }}
{{- $mechanism := include "logistics-backbone.kafka.saslMechanism" . }}
{{- $sasl := dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512" }}
{{- if and $mechanism (not (hasKey $sasl $mechanism)) }}
{{- fail (printf "KEDA's Kafka scaler is wired for PLAIN and SCRAM only, not %s" $mechanism) }}
{{- end }}
{{- $tls := has $v.kafka.securityProtocol (list "SSL" "SASL_SSL") }}
{{- $tlsUser := and (include "logistics-backbone.kafka.usesKafkaUser" .) (eq $v.strimzi.users.authentication "tls") }}
{{- $auth := or $mechanism $v.kafka.tls.caExistingSecret $tlsUser }}
{{- $name := include "logistics-backbone.componentName" . }}
{{- if $auth }}
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "logistics-backbone.componentLabels" . | nindent 4 }}
  {{- with include "logistics-backbone.annotations" $root }}{{ . | nindent 2 }}{{ end }}
spec:
  {{- if $mechanism }}
  env:
    - parameter: username
      name: BACKBONE_KAFKA_SASL_USERNAME
      containerName: {{ .component }}
    - parameter: password
      name: BACKBONE_KAFKA_SASL_PASSWORD
      containerName: {{ .component }}
  {{- end }}
  {{- if or $v.kafka.tls.caExistingSecret $tlsUser }}
  secretTargetRef:
    {{- if $v.kafka.tls.caExistingSecret }}
    - parameter: ca
      name: {{ $v.kafka.tls.caExistingSecret }}
      key: {{ $v.kafka.tls.caKey }}
    {{- end }}
    {{- if $tlsUser }}
    - parameter: cert
      name: {{ $name }}
      key: user.crt
    - parameter: key
      name: {{ $name }}
      key: user.key
    {{- end }}
  {{- end }}
---
{{- end }}
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "logistics-backbone.componentLabels" . | nindent 4 }}
  {{- with include "logistics-backbone.annotations" $root }}{{ . | nindent 2 }}{{ end }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: {{ .kind }}
    name: {{ .name }}
    envSourceContainerName: {{ .component }}
  pollingInterval: {{ $k.pollingInterval }}
  cooldownPeriod: {{ $k.cooldownPeriod }}
  minReplicaCount: {{ $k.minReplicaCount }}
  maxReplicaCount: {{ $max }}
  triggers:
    {{- range $topic := $names }}
    - type: kafka
      name: {{ printf "lag-%s" $topic | replace "_" "-" | replace "." "-" | trunc 63 | trimSuffix "-" }}
      metadata:
        bootstrapServersFromEnv: KAFKA_BOOTSTRAP_SERVERS
        consumerGroup: {{ $.group | quote }}
        topic: {{ $topic | quote }}
        lagThreshold: {{ $k.lagThreshold | toString | quote }}
        activationLagThreshold: {{ $k.activationLagThreshold | toString | quote }}
        offsetResetPolicy: {{ $k.offsetResetPolicy | quote }}
        {{- if $mechanism }}
        sasl: {{ get $sasl $mechanism | quote }}
        {{- end }}
        tls: {{ ternary "enable" "disable" $tls | quote }}
      {{- if $auth }}
      authenticationRef:
        name: {{ $name }}
      {{- end }}
    {{- end }}
{{- end }}
