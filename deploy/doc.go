// Package deploy holds no Go code for Herald itself: it is the deployment
// kit (Dockerfile, docker-compose.yml, Kubernetes manifests in k8s/, the
// KEDA ScaledObject, the Grafana dashboard in grafana/). Its test parses
// every YAML and JSON file here and checks them against the code: the
// roles, probes and ports the binary serves, the stream and consumer
// names KEDA scales on, the sample configurations, and the metric names
// the dashboard and the README use.
package deploy
