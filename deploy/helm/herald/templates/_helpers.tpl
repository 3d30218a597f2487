{{/* The release's full name: every object is <fullname>[-<role>]. */}}
{{- define "herald.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "herald.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one role: dict "root" $ "role" "worker". */}}
{{- define "herald.selectorLabels" -}}
app.kubernetes.io/name: {{ include "herald.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "herald.labels" -}}
{{ include "herald.selectorLabels" . }}
app.kubernetes.io/part-of: herald
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels every Herald pod carries whatever its role (the metrics Service selects them). */}}
{{- define "herald.podSelector" -}}
app.kubernetes.io/name: {{ include "herald.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: herald
{{- end -}}

{{- define "herald.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "herald.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The roles this release runs, as a list. */}}
{{- define "herald.roles" -}}
{{- if eq .Values.mode "serve" -}}
serve
{{- else -}}
producer worker scheduler
{{- end -}}
{{- end -}}

{{/* The role whose pods serve the API (the Service's target). */}}
{{- define "herald.apiRole" -}}
{{- if eq .Values.mode "serve" -}}serve{{- else -}}producer{{- end -}}
{{- end -}}

{{- define "herald.natsBundledName" -}}
{{- printf "%s-nats" (include "herald.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Client URLs of NATS: the external one, or every node of the bundled cluster. */}}
{{- define "herald.natsURL" -}}
{{- if .Values.bundledNats.enabled -}}
{{- $name := include "herald.natsBundledName" . -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.bundledNats.replicas) -}}
{{- $urls = append $urls (printf "nats://%s-%d.%s-headless.%s.svc:4222" $name $i $name $.Release.Namespace) -}}
{{- end -}}
{{- join "," $urls -}}
{{- else -}}
{{- .Values.externalNats.url -}}
{{- end -}}
{{- end -}}

{{/* host:port of NATS's monitoring endpoint behind its headless service (KEDA). */}}
{{- define "herald.natsMonitoring" -}}
{{- if .Values.bundledNats.enabled -}}
{{- $name := include "herald.natsBundledName" . -}}
{{- printf "%s-headless.%s.svc.%s:8222" $name .Release.Namespace .Values.clusterDomain -}}
{{- else -}}
{{- .Values.externalNats.monitoringEndpoint -}}
{{- end -}}
{{- end -}}

{{/* True when serve runs JetStream in its own process. */}}
{{- define "herald.embeddedNATS" -}}
{{- if and (eq .Values.mode "serve") (not .Values.bundledNats.enabled) (not .Values.externalNats.url) -}}true{{- end -}}
{{- end -}}

{{/* Refuse value combinations that would deploy something broken. */}}
{{- define "herald.validate" -}}
{{- if and (eq .Values.mode "split") (not .Values.bundledNats.enabled) (not .Values.externalNats.url) -}}
{{- fail "mode split needs NATS: set externalNats.url, or bundledNats.enabled=true for the bundled cluster" -}}
{{- end -}}
{{- if and .Values.bundledNats.enabled .Values.externalNats.url -}}
{{- fail "set externalNats.url or bundledNats.enabled, not both" -}}
{{- end -}}
{{- if and (include "herald.embeddedNATS" .) (gt (int .Values.serve.replicas) 1) -}}
{{- fail "serve with the embedded JetStream runs one replica: set externalNats.url or bundledNats.enabled to run more" -}}
{{- end -}}
{{- if and (not .Values.redis.url) (not .Values.redis.existingSecret.name) -}}
{{- fail "set redis.url or redis.existingSecret (name and key): Herald's log store is an external Redis" -}}
{{- end -}}
{{- if and .Values.redis.url .Values.redis.existingSecret.name -}}
{{- fail "set redis.url or redis.existingSecret, not both" -}}
{{- end -}}
{{- if and .Values.keda.enabled (ne .Values.mode "split") -}}
{{- fail "keda scales the worker Deployment: it needs mode split" -}}
{{- end -}}
{{- if and .Values.keda.enabled .Values.worker.autoscaling.enabled -}}
{{- fail "keda.enabled and worker.autoscaling.enabled both scale the workers: choose one" -}}
{{- end -}}
{{- if and .Values.keda.enabled (eq .Values.keda.trigger "nats-jetstream") (not (include "herald.natsMonitoring" .)) -}}
{{- fail "keda's nats-jetstream trigger needs externalNats.monitoringEndpoint (host:8222 behind NATS's headless service)" -}}
{{- end -}}
{{- if and .Values.keda.enabled (eq .Values.keda.trigger "prometheus") (not .Values.keda.prometheus.serverAddress) -}}
{{- fail "keda's prometheus trigger needs keda.prometheus.serverAddress" -}}
{{- end -}}
{{- if eq (int .Values.port) (int .Values.metricsPort) -}}
{{- fail "metricsPort must differ from port: /metrics has its own listener" -}}
{{- end -}}
{{- if and .Values.keda.enabled (eq .Values.keda.trigger "nats-jetstream") (not (include "herald.workspaceIDs" .)) -}}
{{- fail "keda's nats-jetstream trigger names one consumer per workspace and channel (herald-<channel>-<workspace>): list the workspaces in config.workspaces (or bootstrap.workspace), or use keda.trigger=prometheus" -}}
{{- end -}}
{{- if and .Values.bootstrap.workspace (not .Values.bootstrap.keySecret.name) -}}
{{- fail "bootstrap.workspace needs bootstrap.keySecret (name and key)" -}}
{{- end -}}
{{- end -}}

{{/*
The workspace ids Herald will have: config.workspaces and
bootstrap.workspace, space-separated, each once (workspace ids have no
spaces). Workers make one consumer per workspace and channel.
*/}}
{{- define "herald.workspaceIDs" -}}
{{- $ids := list -}}
{{- range .Values.config.workspaces -}}
{{- $ids = append $ids .id -}}
{{- end -}}
{{- with .Values.bootstrap.workspace -}}
{{- $ids = append $ids . -}}
{{- end -}}
{{- $ids | uniq | join " " -}}
{{- end -}}
