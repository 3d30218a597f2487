// Command schemagen generates the offline JSON Schemas under
// deploy/helm/schemas from the Kubernetes OpenAPI document and the CRDs of
// KEDA and the Prometheus Operator; see main.go for how to run it.
package main
