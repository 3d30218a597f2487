// Command schemagen writes the JSON Schemas that kubeconform validates
// Herald's Helm chart and manifests against, so `make test` needs no network:
// kubeconform's default schema location is a public repository this
// project's machines cannot reach.
//
//	go run ./internal/schemagen -swagger swagger.json \
//	    -crd keda.sh_scaledobjects.yaml -crd monitoring.coreos.com_servicemonitors.yaml ... \
//	    -out deploy/helm/schemas
//
// Inputs: the Kubernetes OpenAPI v2 document (swagger.json of a release
// branch) and CustomResourceDefinition files. Output: one standalone,
// strict schema per kind, named as kubeconform's template
// `{{ .ResourceKind }}{{ .KindSuffix }}.json` expects (deployment-apps-v1.json,
// scaledobject-keda-v1alpha1.json). Standalone: each file carries the
// definitions it uses under "definitions", so no file refers to another.
// Strict: an object with declared properties refuses any other property,
// so a misspelt field in a template fails the test instead of being
// silently dropped by the API server.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// kinds lists the built-in kinds the chart, deploy/k8s and the bundled NATS
// render. A kind missing here makes kubeconform fail (the test never
// ignores a missing schema), which is the reminder to add it.
var kinds = []string{
	"v1/ConfigMap", "v1/Secret", "v1/Service", "v1/ServiceAccount", "v1/Namespace",
	"v1/PersistentVolumeClaim", "v1/Pod",
	"apps/v1/Deployment", "apps/v1/StatefulSet",
	"policy/v1/PodDisruptionBudget",
	"autoscaling/v2/HorizontalPodAutoscaler",
}

type strs []string

func (s *strs) String() string     { return strings.Join(*s, ",") }
func (s *strs) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	swagger := flag.String("swagger", "", "Kubernetes OpenAPI v2 document (swagger.json)")
	out := flag.String("out", "", "output directory")
	var crds strs
	flag.Var(&crds, "crd", "CustomResourceDefinition YAML file (repeatable)")
	flag.Parse()
	if *swagger == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*swagger, crds, *out); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

func run(swaggerPath string, crds []string, out string) error {
	data, err := os.ReadFile(swaggerPath)
	if err != nil {
		return err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", swaggerPath, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	g := &gen{defs: doc.Definitions}
	for _, k := range kinds {
		name, gvk, err := g.find(k)
		if err != nil {
			return err
		}
		s := g.standalone(name, gvk)
		if err := write(out, gvk, s); err != nil {
			return err
		}
	}
	for _, p := range crds {
		if err := g.crd(p, out); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

type gvk struct{ group, version, kind string }

func (k gvk) apiVersion() string {
	if k.group == "" {
		return k.version
	}
	return k.group + "/" + k.version
}

// file is kubeconform's name for the kind: lower-case kind, then the
// group's first label and the version.
func (k gvk) file() string {
	suffix := ""
	if k.group != "" {
		suffix = "-" + strings.ToLower(strings.Split(k.group, ".")[0])
	}
	return strings.ToLower(k.kind) + suffix + "-" + strings.ToLower(k.version) + ".json"
}

type gen struct {
	defs map[string]map[string]any
}

func (g *gen) find(apiKind string) (string, gvk, error) {
	i := strings.LastIndex(apiKind, "/")
	av, kind := apiKind[:i], apiKind[i+1:]
	want := gvk{kind: kind, version: av}
	if j := strings.LastIndex(av, "/"); j >= 0 {
		want.group, want.version = av[:j], av[j+1:]
	}
	for name, d := range g.defs {
		list, _ := d["x-kubernetes-group-version-kind"].([]any)
		for _, e := range list {
			m, _ := e.(map[string]any)
			if m["group"] == want.group && m["version"] == want.version && m["kind"] == want.kind {
				return name, want, nil
			}
		}
	}
	return "", want, fmt.Errorf("no definition for %s in the OpenAPI document", apiKind)
}

// standalone is the schema of one definition with every definition it
// reaches copied under "definitions".
func (g *gen) standalone(name string, k gvk) map[string]any {
	used := map[string]bool{}
	root := g.convert(g.defs[name], used)
	pinKind(root, k)
	defs := map[string]any{}
	for len(defs) < len(used) {
		for n := range used {
			if _, ok := defs[n]; !ok {
				defs[n] = g.convert(g.defs[n], used)
			}
		}
	}
	delete(defs, name)
	if len(defs) > 0 {
		root["definitions"] = defs
	}
	return root
}

// pinKind makes apiVersion and kind required and fixed: kubeconform picks
// the file by them, and a document with neither is not a resource.
func pinKind(root map[string]any, k gvk) {
	props, _ := root["properties"].(map[string]any)
	if props == nil {
		return
	}
	props["apiVersion"] = map[string]any{"type": "string", "enum": []any{k.apiVersion()}}
	props["kind"] = map[string]any{"type": "string", "enum": []any{k.kind}}
	req, _ := root["required"].([]any)
	for _, f := range []string{"apiVersion", "kind"} {
		if !containsAny(req, f) {
			req = append(req, f)
		}
	}
	root["required"] = req
}

func containsAny(list []any, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

const defPrefix = "#/definitions/"

// convert turns one OpenAPI v2 schema into JSON Schema draft 4 (what
// kubeconform compiles by default): descriptions and formats dropped
// (descriptions only make the files large; formats such as int32 are not
// JSON Schema's), int-or-string and quantities accepting both forms as the
// API server does, optional fields accepting null as the API server does,
// and objects with properties closed.
func (g *gen) convert(s map[string]any, used map[string]bool) map[string]any {
	if s == nil {
		return map[string]any{}
	}
	if ref, ok := s["$ref"].(string); ok {
		n := strings.TrimPrefix(ref, defPrefix)
		switch n {
		case "io.k8s.apimachinery.pkg.api.resource.Quantity":
			return stringOrNumber()
		case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
			return stringOrInteger()
		}
		used[n] = true
		return map[string]any{"$ref": defPrefix + n}
	}
	if s["format"] == "int-or-string" {
		return stringOrInteger()
	}
	out := map[string]any{}
	for k, v := range s {
		switch k {
		case "description", "format", "x-kubernetes-group-version-kind", "x-kubernetes-patch-merge-key",
			"x-kubernetes-patch-strategy", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
			"x-kubernetes-map-type", "x-kubernetes-unions":
		case "properties":
			props := map[string]any{}
			req, _ := s["required"].([]any)
			for pn, pv := range v.(map[string]any) {
				ps := g.convert(pv.(map[string]any), used)
				if !containsAny(req, pn) {
					ps = nullable(ps)
				}
				props[pn] = ps
			}
			out[k] = props
		case "items":
			out[k] = g.convert(v.(map[string]any), used)
		case "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				out[k] = g.convert(m, used)
			} else {
				out[k] = v
			}
		default:
			out[k] = v
		}
	}
	closeObject(out)
	return out
}

func closeObject(s map[string]any) {
	if _, ok := s["properties"]; !ok {
		return
	}
	if _, ok := s["additionalProperties"]; ok {
		return
	}
	if s["x-kubernetes-preserve-unknown-fields"] == true {
		return
	}
	s["additionalProperties"] = false
}

func stringOrNumber() map[string]any {
	return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
}

func stringOrInteger() map[string]any {
	return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
}

// nullable lets a field be null: the API server treats an optional field
// set to null as absent, and Helm renders an empty value as null.
func nullable(s map[string]any) map[string]any {
	switch t := s["type"].(type) {
	case string:
		s["type"] = []any{t, "null"}
		return s
	case []any:
		if !containsAny(t, "null") {
			s["type"] = append(t, "null")
		}
		return s
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

// crd writes one schema per version a CustomResourceDefinition serves, its
// metadata checked as the built-in kinds' is.
func (g *gen) crd(path, out string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	n := 0
	for {
		var c struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Group string `yaml:"group"`
				Names struct {
					Kind string `yaml:"kind"`
				} `yaml:"names"`
				Versions []struct {
					Name   string `yaml:"name"`
					Served bool   `yaml:"served"`
					Schema struct {
						OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
					} `yaml:"schema"`
				} `yaml:"versions"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&c); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		if c.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range c.Spec.Versions {
			if !v.Served || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			k := gvk{group: c.Spec.Group, version: v.Name, kind: c.Spec.Names.Kind}
			used := map[string]bool{}
			root := convertCRD(v.Schema.OpenAPIV3Schema)
			if props, ok := root["properties"].(map[string]any); ok {
				props["metadata"] = nullable(map[string]any{"$ref": defPrefix + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"})
				used["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"] = true
			}
			pinKind(root, k)
			defs := map[string]any{}
			for len(defs) < len(used) {
				for dn := range used {
					if _, ok := defs[dn]; !ok {
						defs[dn] = g.convert(g.defs[dn], used)
					}
				}
			}
			root["definitions"] = defs
			if err := write(out, k, root); err != nil {
				return err
			}
			n++
		}
	}
	if n == 0 {
		return errors.New("no served version with a schema")
	}
	return nil
}

// convertCRD closes a CRD's structural schema (controller-gen leaves
// objects open unless told otherwise, yet the API server prunes unknown
// fields: closing them reports what would be pruned) and maps its
// Kubernetes extensions to plain JSON Schema.
func convertCRD(s map[string]any) map[string]any {
	if s["x-kubernetes-int-or-string"] == true {
		return stringOrInteger()
	}
	out := map[string]any{}
	req, _ := s["required"].([]any)
	for k, v := range s {
		switch k {
		case "description", "format", "x-kubernetes-validations", "x-kubernetes-list-type",
			"x-kubernetes-list-map-keys", "x-kubernetes-map-type", "nullable":
		case "properties":
			props := map[string]any{}
			for pn, pv := range v.(map[string]any) {
				ps := convertCRD(pv.(map[string]any))
				if !containsAny(req, pn) {
					ps = nullable(ps)
				}
				props[pn] = ps
			}
			out[k] = props
		case "items":
			out[k] = convertCRD(v.(map[string]any))
		case "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				out[k] = convertCRD(m)
			} else {
				out[k] = v
			}
		case "anyOf", "allOf", "oneOf":
			var list []any
			for _, e := range v.([]any) {
				list = append(list, convertCRD(e.(map[string]any)))
			}
			out[k] = list
		default:
			out[k] = v
		}
	}
	closeObject(out)
	if s["nullable"] == true {
		out = nullable(out)
	}
	return out
}

func write(dir string, k gvk, s map[string]any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, k.file()), buf.Bytes(), 0o644)
}
