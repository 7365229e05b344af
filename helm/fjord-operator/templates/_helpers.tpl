{{/*
Names and labels shared by every template.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "fjord-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name alone when it already contains the chart name.
Truncated to 63 characters because some Kubernetes name fields are limited to that.
*/}}
{{- define "fjord-operator.fullname" -}}
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

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "fjord-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Kubernetes' recommended labels, on every object. */}}
{{- define "fjord-operator.labels" -}}
helm.sh/chart: {{ include "fjord-operator.chart" . }}
{{ include "fjord-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ include "fjord-operator.imageTag" . | trunc 63 | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: fjord
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the operator pods; never change them between releases. */}}
{{- define "fjord-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fjord-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* ServiceAccount the operator runs as. */}}
{{- define "fjord-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fjord-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image tag: image.tag, else the chart's appVersion. */}}
{{- define "fjord-operator.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/* Full image reference. */}}
{{- define "fjord-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "fjord-operator.imageTag" .) }}
{{- end }}

{{/* Name of the leader-election Lease. */}}
{{- define "fjord-operator.leaseName" -}}
{{- default (include "fjord-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
Permissions on the objects the operator manages, shared by the ClusterRole (all namespaces)
and the per-namespace Roles (watchNamespaces). Server-side apply needs create as well as
patch, because applying an object that does not exist yet creates it.
*/}}
{{- define "fjord-operator.managedRules" -}}
- apiGroups: ["fjord.dev"]
  resources: ["clusters", "topics"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["fjord.dev"]
  resources: ["clusters/status", "topics/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["fjord.dev"]
  resources: ["clusters/finalizers", "topics/finalizers"]
  verbs: ["update"]
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["get", "list", "watch", "create", "patch", "update"]
- apiGroups: [""]
  resources: ["services", "configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "update"]
# Pods are deleted one at a time during a rolling upgrade (the StatefulSet uses OnDelete).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "update"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.rbac.serviceMonitors }}
- apiGroups: ["monitoring.coreos.com"]
  resources: ["servicemonitors"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
{{- end }}
{{- end }}
