{{/* Pod template, probes, PodDisruptionBudget and NetworkPolicy shared by every service. */}}

{{/* ---- pods ---- */}}

{{/*
One HTTP probe. Usage: include "logistics-backbone.probe" (dict "probe" .Values.ingest.livenessProbe "path" "/healthz" "port" "http")
*/}}
{{- define "logistics-backbone.probe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
successThreshold: {{ .probe.successThreshold }}
{{- end }}

{{/*
Pod template shared by every service. Arguments:
  root, component, values (the service's values), args (container args), port (name, number),
  env / volumes / volumeMounts (YAML lists as strings, may be empty).
The root filesystem is read-only, so /tmp is an emptyDir.
*/}}
{{- define "logistics-backbone.podTemplate" -}}
{{- $root := .root }}
{{- $values := .values -}}
metadata:
  labels:
    {{- include "logistics-backbone.componentLabels" . | nindent 4 }}
    {{- with $values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "logistics-backbone.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $root.Values.serviceAccount.automount }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ .component }}
      image: {{ include "logistics-backbone.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args:
        {{- toYaml .args | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      ports:
        - name: {{ .port.name }}
          containerPort: {{ .port.number }}
          protocol: TCP
      env:
        {{- include "logistics-backbone.commonEnv" . | nindent 8 }}
        {{- with (default "" .env | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if $values.startupProbe }}
      {{- if $values.startupProbe.enabled }}
      startupProbe:
        {{- include "logistics-backbone.probe" (dict "probe" $values.startupProbe "path" "/healthz" "port" .port.name) | nindent 8 }}
      {{- end }}
      {{- end }}
      {{- if $values.livenessProbe.enabled }}
      livenessProbe:
        {{- include "logistics-backbone.probe" (dict "probe" $values.livenessProbe "path" "/healthz" "port" .port.name) | nindent 8 }}
      {{- end }}
      {{- if $values.readinessProbe.enabled }}
      readinessProbe:
        {{- include "logistics-backbone.probe" (dict "probe" $values.readinessProbe "path" "/readyz" "port" .port.name) | nindent 8 }}
      {{- end }}
      resources:
        {{- toYaml $values.resources | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- with (include "logistics-backbone.kafka.volumeMounts" . | trim) }}{{ . | nindent 8 }}{{ end }}
        {{- with (default "" .volumeMounts | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir: {}
    {{- with (include "logistics-backbone.kafka.volumes" . | trim) }}{{ . | nindent 4 }}{{ end }}
    {{- with (default "" .volumes | trim) }}
    {{- . | nindent 4 }}
    {{- end }}
  {{- with $values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
PodDisruptionBudget of one component. maxUnavailable 1 unless the values say otherwise.
Usage: include "logistics-backbone.pdb" (dict "root" $ "component" "ingest" "values" .Values.ingest)
*/}}
{{- define "logistics-backbone.pdb" -}}
{{- if .values.pdb.create }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "logistics-backbone.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "logistics-backbone.componentLabels" . | nindent 4 }}
  {{- with include "logistics-backbone.annotations" .root }}{{ . | nindent 2 }}{{ end }}
spec:
  {{- if not (kindIs "invalid" .values.pdb.minAvailable) }}
  minAvailable: {{ .values.pdb.minAvailable }}
  {{- else if not (kindIs "invalid" .values.pdb.maxUnavailable) }}
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  {{- else }}
  maxUnavailable: 1
  {{- end }}
  selector:
    matchLabels:
      {{- include "logistics-backbone.componentSelectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/*
NetworkPolicy of one component: its port from anywhere (allowExternal) or from labelled clients and
chosen namespaces; egress open (allowExternalEgress) or limited to DNS, the release and extraEgress.
Usage: include "logistics-backbone.networkPolicy" (dict "root" $ "component" "ingest" "ports" (list 8080))
*/}}
{{- define "logistics-backbone.networkPolicy" -}}
{{- $np := .root.Values.networkPolicy }}
{{- if $np.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "logistics-backbone.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "logistics-backbone.componentLabels" . | nindent 4 }}
  {{- with include "logistics-backbone.annotations" .root }}{{ . | nindent 2 }}{{ end }}
spec:
  podSelector:
    matchLabels:
      {{- include "logistics-backbone.componentSelectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  ingress:
    - ports:
        {{- range .ports }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
      {{- if not $np.allowExternal }}
      from:
        - podSelector:
            matchLabels:
              {{ include "logistics-backbone.fullname" .root }}-client: "true"
        - podSelector:
            matchLabels:
              {{- include "logistics-backbone.selectorLabels" .root | nindent 14 }}
        {{- if $np.ingressNSMatchLabels }}
        - namespaceSelector:
            matchLabels:
              {{- toYaml $np.ingressNSMatchLabels | nindent 14 }}
          {{- with $np.ingressNSPodMatchLabels }}
          podSelector:
            matchLabels:
              {{- toYaml . | nindent 14 }}
          {{- end }}
        {{- end }}
      {{- end }}
    {{- with $np.extraIngress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  egress:
    {{- if $np.allowExternalEgress }}
    - {}
    {{- else }}
    - ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
    - to:
        - podSelector:
            matchLabels:
              {{- include "logistics-backbone.selectorLabels" .root | nindent 14 }}
    {{- with $np.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- end }}
{{- end }}
{{- end }}
