{{/*
Kafka helpers: topic data generated from topics.yaml (files/topics.json) and each component's
connection env and volumes (existing Secrets, or the component's own Strimzi KafkaUser).
*/}}

{{/* ---- topics (files/topics.json, generated from topics.yaml by `backbone topics render`) ---- */}}

{{/* The generated topic data as a dict. */}}
{{- define "logistics-backbone.topicsData" -}}
{{- .Files.Get "files/topics.json" | required "files/topics.json is missing: run `backbone topics render`" }}
{{- end }}

{{/*
Topic names of a list of roles, as a JSON list; an unknown role fails the render.
Usage: include "logistics-backbone.topicNames" (dict "root" $ "roles" .Values.x.topics.reads) | fromJsonArray
*/}}
{{- define "logistics-backbone.topicNames" -}}
{{- $topics := (include "logistics-backbone.topicsData" .root | fromJson).topics }}
{{- $names := list }}
{{- range $role := .roles }}
{{- $found := "" }}
{{- range $topics }}
{{- if eq .role $role }}{{ $found = .name }}{{ end }}
{{- end }}
{{- if not $found }}
{{- fail (printf "topic role %q is not declared in topics.yaml (files/topics.json)" $role) }}
{{- end }}
{{- $names = append $names $found }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{/* Largest partition count among the topics of a list of roles: more consumers than that sit idle. */}}
{{- define "logistics-backbone.maxPartitions" -}}
{{- $topics := (include "logistics-backbone.topicsData" .root | fromJson).topics }}
{{- $max := 0 }}
{{- range $role := .roles }}
{{- range $topics }}
{{- if and (eq .role $role) (gt (int .partitions) $max) }}{{ $max = int .partitions }}{{ end }}
{{- end }}
{{- end }}
{{- $max }}
{{- end }}

{{/* ---- Kafka connection ---- */}}

{{/* True ("true") when this component authenticates with its own Strimzi KafkaUser. */}}
{{- define "logistics-backbone.kafka.usesKafkaUser" -}}
{{- if and .root.Values.strimzi.users.enabled (ne .component "setup") }}true{{ end }}
{{- end }}

{{/* Effective SASL mechanism of a component ("" when none). */}}
{{- define "logistics-backbone.kafka.saslMechanism" -}}
{{- $v := .root.Values }}
{{- if include "logistics-backbone.kafka.usesKafkaUser" . }}
{{- if eq $v.strimzi.users.authentication "scram-sha-512" }}SCRAM-SHA-512{{ end }}
{{- else if hasPrefix "SASL_" $v.kafka.securityProtocol }}
{{- required "kafka.saslMechanism is required when kafka.securityProtocol is SASL_*" $v.kafka.saslMechanism }}
{{- end }}
{{- end }}

{{/* Checks that the security protocol fits the Strimzi user authentication. */}}
{{- define "logistics-backbone.kafka.validate" -}}
{{- $v := .Values }}
{{- if $v.strimzi.users.enabled }}
{{- if and (eq $v.strimzi.users.authentication "scram-sha-512") (not (hasPrefix "SASL_" $v.kafka.securityProtocol)) }}
{{- fail "strimzi.users.authentication=scram-sha-512 needs kafka.securityProtocol SASL_SSL or SASL_PLAINTEXT" }}
{{- end }}
{{- if and (eq $v.strimzi.users.authentication "tls") (ne $v.kafka.securityProtocol "SSL") }}
{{- fail "strimzi.users.authentication=tls needs kafka.securityProtocol SSL" }}
{{- end }}
{{- end }}
{{- if and $v.setup.applyTopics $v.strimzi.topics.enabled }}
{{- fail "setup.applyTopics and strimzi.topics.enabled both manage topics: enable only one" }}
{{- end }}
{{- end }}

{{/*
Kafka env of one component: bootstrap servers, protocol, SASL and TLS file locations.
Usage: include "logistics-backbone.kafka.env" (dict "root" $ "component" "ingest")
*/}}
{{- define "logistics-backbone.kafka.env" -}}
{{- $v := .root.Values }}
{{- $secret := include "logistics-backbone.secretName" (dict "root" .root "existing" $v.kafka.existingSecret "purpose" "kafka") }}
{{- $mechanism := include "logistics-backbone.kafka.saslMechanism" . }}
{{- $user := include "logistics-backbone.kafka.usesKafkaUser" . -}}
- name: KAFKA_BOOTSTRAP_SERVERS
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $v.kafka.bootstrapServersKey }}
- name: BACKBONE_KAFKA_SECURITY_PROTOCOL
  value: {{ $v.kafka.securityProtocol | quote }}
{{- if $mechanism }}
- name: BACKBONE_KAFKA_SASL_MECHANISM
  value: {{ $mechanism | quote }}
{{- if $user }}
{{- /* Strimzi's User Operator writes the password into a Secret named after the KafkaUser. */}}
- name: BACKBONE_KAFKA_SASL_USERNAME
  value: {{ include "logistics-backbone.componentName" . | quote }}
- name: BACKBONE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "logistics-backbone.componentName" . }}
      key: password
{{- else }}
- name: BACKBONE_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $v.kafka.saslUsernameKey }}
- name: BACKBONE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $v.kafka.saslPasswordKey }}
{{- end }}
{{- end }}
{{- if $v.kafka.tls.caExistingSecret }}
- name: BACKBONE_KAFKA_SSL_CA_LOCATION
  value: /etc/backbone/kafka-ca/{{ $v.kafka.tls.caKey }}
{{- end }}
{{- if and $user (eq $v.strimzi.users.authentication "tls") }}
- name: BACKBONE_KAFKA_SSL_CERTIFICATE_LOCATION
  value: /etc/backbone/kafka-user/user.crt
- name: BACKBONE_KAFKA_SSL_KEY_LOCATION
  value: /etc/backbone/kafka-user/user.key
{{- end }}
{{- end }}

{{/* Volumes for the broker CA and (tls users) the client certificate. */}}
{{- define "logistics-backbone.kafka.volumes" -}}
{{- $v := .root.Values }}
{{- if $v.kafka.tls.caExistingSecret }}
- name: kafka-ca
  secret:
    secretName: {{ $v.kafka.tls.caExistingSecret }}
    items:
      - key: {{ $v.kafka.tls.caKey }}
        path: {{ $v.kafka.tls.caKey }}
{{- end }}
{{- if and (include "logistics-backbone.kafka.usesKafkaUser" .) (eq $v.strimzi.users.authentication "tls") }}
- name: kafka-user
  secret:
    secretName: {{ include "logistics-backbone.componentName" . }}
    items:
      - key: user.crt
        path: user.crt
      - key: user.key
        path: user.key
{{- end }}
{{- end }}

{{- define "logistics-backbone.kafka.volumeMounts" -}}
{{- $v := .root.Values }}
{{- if $v.kafka.tls.caExistingSecret }}
- name: kafka-ca
  mountPath: /etc/backbone/kafka-ca
  readOnly: true
{{- end }}
{{- if and (include "logistics-backbone.kafka.usesKafkaUser" .) (eq $v.strimzi.users.authentication "tls") }}
- name: kafka-user
  mountPath: /etc/backbone/kafka-user
  readOnly: true
{{- end }}
{{- end }}
