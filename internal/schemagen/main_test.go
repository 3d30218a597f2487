package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A miniature OpenAPI document with what the generator must translate:
// a kind found by its group-version-kind, a $ref to a shared definition,
// int-or-string, a quantity, a map, required and optional fields.
const swagger = `{"definitions": {
  "io.k8s.api.apps.v1.Deployment": {
    "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Deployment"}],
    "type": "object",
    "description": "dropped",
    "properties": {
      "apiVersion": {"type": "string"}, "kind": {"type": "string"},
      "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
      "spec": {"type": "object", "required": ["replicas"], "properties": {
        "replicas": {"type": "integer", "format": "int32"},
        "maxSurge": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
        "cpu": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}
      }}
    }
  },
  "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {"type": "object", "properties": {"name": {"type": "string"}}},
  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
  "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
  "io.k8s.api.core.v1.Unused": {"type": "object", "properties": {"x": {"type": "string"}}}
}}`

const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
spec:
  group: keda.sh
  names: { kind: ScaledObject }
  versions:
    - name: v1alpha1
      served: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: { type: string }
            kind: { type: string }
            metadata: { type: object }
            spec:
              type: object
              required: [scaleTargetRef]
              properties:
                scaleTargetRef: { type: object, properties: { name: { type: string } } }
                fallback: { x-kubernetes-int-or-string: true, anyOf: [{ type: integer }, { type: string }] }
                triggers: { type: array, items: { type: object, properties: { metadata: { type: object, additionalProperties: { type: string } } } } }
                raw: { type: object, x-kubernetes-preserve-unknown-fields: true, properties: { a: { type: string } } }
    - name: v1beta0
      served: false
      schema: { openAPIV3Schema: { type: object } }
`

func load(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	return m
}

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	sw, cr := filepath.Join(dir, "swagger.json"), filepath.Join(dir, "crd.yaml")
	require.NoError(t, os.WriteFile(sw, []byte(swagger), 0o644))
	require.NoError(t, os.WriteFile(cr, []byte(crd), 0o644))
	out := filepath.Join(dir, "out")
	kinds = []string{"apps/v1/Deployment"}
	require.NoError(t, run(sw, []string{cr}, out))

	d := load(t, filepath.Join(out, "deployment-apps-v1.json"))
	require.Equal(t, false, d["additionalProperties"], "closed")
	require.NotContains(t, d, "description")
	require.ElementsMatch(t, []any{"apiVersion", "kind"}, d["required"])
	props := d["properties"].(map[string]any)
	require.Equal(t, []any{"apps/v1"}, props["apiVersion"].(map[string]any)["enum"])
	spec := props["spec"].(map[string]any)
	require.Equal(t, []any{"object", "null"}, spec["type"], "optional: null allowed")
	sp := spec["properties"].(map[string]any)
	require.Equal(t, "integer", sp["replicas"].(map[string]any)["type"], "required: no null, no format")
	require.NotContains(t, sp["replicas"], "format")
	require.Contains(t, sp["maxSurge"].(map[string]any)["anyOf"].([]any)[0], "oneOf", "int-or-string takes both")
	require.Contains(t, sp["cpu"].(map[string]any)["anyOf"].([]any)[0], "oneOf", "a quantity takes both")
	labels := sp["labels"].(map[string]any)
	require.Equal(t, map[string]any{"type": "string"}, labels["additionalProperties"], "a map stays a map")
	defs := d["definitions"].(map[string]any)
	require.Contains(t, defs, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
	require.NotContains(t, defs, "io.k8s.api.core.v1.Unused", "only what the kind reaches")

	so := load(t, filepath.Join(out, "scaledobject-keda-v1alpha1.json"))
	require.Equal(t, false, so["additionalProperties"])
	sprops := so["properties"].(map[string]any)
	require.Equal(t, []any{"ScaledObject"}, sprops["kind"].(map[string]any)["enum"])
	require.Contains(t, so["definitions"], "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "metadata checked as a built-in kind's")
	ssp := sprops["spec"].(map[string]any)["properties"].(map[string]any)
	require.Equal(t, false, ssp["scaleTargetRef"].(map[string]any)["additionalProperties"], "required nested object closed")
	require.Contains(t, ssp["fallback"].(map[string]any)["anyOf"].([]any)[0], "oneOf")
	raw := ssp["raw"].(map[string]any)
	require.NotContains(t, raw, "additionalProperties", "preserve-unknown-fields stays open")
	_, err := os.Stat(filepath.Join(out, "scaledobject-keda-v1beta0.json"))
	require.True(t, os.IsNotExist(err), "versions not served are skipped")

	require.Error(t, run(sw, []string{sw}, out), "a file with no CRD is an error")
	kinds = []string{"apps/v1/Missing"}
	require.ErrorContains(t, run(sw, nil, out), "no definition for apps/v1/Missing")
}
