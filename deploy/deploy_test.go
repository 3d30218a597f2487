package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/queue"
)

// docs parses every YAML document of a file.
func docs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err, path)
		if m != nil {
			out = append(out, m)
		}
	}
}

func files(t *testing.T, exts ...string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p == filepath.Join("helm", "herald", "templates") {
			return filepath.SkipDir // Go templates; helm_test.go renders them
		}
		if !d.IsDir() && slices.Contains(exts, filepath.Ext(p)) {
			out = append(out, p)
		}
		return nil
	}))
	return out
}

// Every YAML and JSON file under deploy/ parses.
func TestEveryFileParses(t *testing.T) {
	ymls := files(t, ".yaml", ".yml")
	require.GreaterOrEqual(t, len(ymls), 10)
	for _, p := range ymls {
		t.Run(p, func(t *testing.T) { require.NotEmpty(t, docs(t, p)) })
	}
	for _, p := range files(t, ".json") {
		t.Run(p, func(t *testing.T) {
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			var v any
			require.NoError(t, json.Unmarshal(data, &v))
		})
	}
}

func get(m any, path ...any) any {
	for _, k := range path {
		switch v := m.(type) {
		case map[string]any:
			m = v[k.(string)]
		case []any:
			i := k.(int)
			if i >= len(v) {
				return nil
			}
			m = v[i]
		default:
			return nil
		}
	}
	return m
}

// k8sObjects loads every manifest listed by a kustomization, by kind/name.
func k8sObjects(t *testing.T, dir string) map[string]map[string]any {
	t.Helper()
	k := docs(t, filepath.Join(dir, "kustomization.yaml"))[0]
	out := map[string]map[string]any{}
	for _, r := range k["resources"].([]any) {
		p := filepath.Join(dir, r.(string))
		_, err := os.Stat(p)
		require.NoError(t, err, "kustomization resource %s", r)
		for _, d := range docs(t, p) {
			require.NotEmpty(t, d["apiVersion"], p)
			name, _ := get(d, "metadata", "name").(string)
			require.NotEmpty(t, name, "%s: metadata.name", p)
			out[d["kind"].(string)+"/"+name] = d
		}
	}
	return out
}

// The Kubernetes manifests: one Deployment per role, running that role,
// with /readyz and /healthz probes on the port the binary listens on,
// requests and limits, non-root; a PodDisruptionBudget for each; KEDA
// scaling the workers on the lag of every channel's consumer; a sample
// configuration that Herald accepts.
func TestKubernetesManifests(t *testing.T) {
	objs := k8sObjects(t, "k8s")
	for _, role := range []string{"producer", "worker", "scheduler"} {
		t.Run(role, func(t *testing.T) {
			d := objs["Deployment/herald-"+role]
			require.NotNil(t, d, "Deployment herald-%s", role)
			labels := get(d, "spec", "selector", "matchLabels").(map[string]any)
			require.Equal(t, role, labels["app.kubernetes.io/component"])
			require.Equal(t, labels, get(d, "spec", "template", "metadata", "labels"))
			pod := get(d, "spec", "template", "spec")
			require.Equal(t, true, get(pod, "securityContext", "runAsNonRoot"))
			require.Greater(t, get(pod, "terminationGracePeriodSeconds").(int), 25, "longer than shutdown_grace")
			c := get(pod, "containers", 0)
			args := get(c, "args").([]any)
			require.Equal(t, role, args[0])
			require.Contains(t, args, "/etc/herald/herald.yaml")
			require.EqualValues(t, 8080, get(c, "ports", 0, "containerPort"))
			// /metrics on its own port (metrics_addr), which the Service does not expose.
			require.EqualValues(t, 9090, get(c, "ports", 1, "containerPort"))
			require.Equal(t, "9090", get(d, "spec", "template", "metadata", "annotations", "prometheus.io/port"))
			require.Equal(t, "/readyz", get(c, "readinessProbe", "httpGet", "path"))
			require.Equal(t, "/healthz", get(c, "livenessProbe", "httpGet", "path"))
			for _, kind := range []string{"requests", "limits"} {
				require.NotEmpty(t, get(c, "resources", kind, "cpu"), kind)
				require.NotEmpty(t, get(c, "resources", kind, "memory"), kind)
			}
			require.Equal(t, false, get(c, "securityContext", "allowPrivilegeEscalation"))
			require.Equal(t, true, get(c, "securityContext", "readOnlyRootFilesystem"))
			require.Equal(t, "herald-config", get(pod, "volumes", 0, "configMap", "name"))

			pdb := objs["PodDisruptionBudget/herald-"+role]
			require.NotNil(t, pdb, "a PodDisruptionBudget for %s", role)
			require.Equal(t, labels, get(pdb, "spec", "selector", "matchLabels"))
		})
	}
	require.NotNil(t, objs["Service/herald"])

	so := objs["ScaledObject/herald-worker"]
	require.NotNil(t, so)
	require.Equal(t, "herald-worker", get(so, "spec", "scaleTargetRef", "name"))
	var consumers []string
	for _, tr := range get(so, "spec", "triggers").([]any) {
		require.Equal(t, "nats-jetstream", get(tr, "type"))
		md := get(tr, "metadata")
		require.Equal(t, queue.StreamSend, get(md, "stream"))
		require.NotEmpty(t, get(md, "natsServerMonitoringEndpoint"))
		require.NotEmpty(t, get(md, "lagThreshold"))
		consumers = append(consumers, get(md, "consumer").(string))
	}
	// The sample configuration is one Herald accepts.
	cm := objs["ConfigMap/herald-config"]
	secret := objs["Secret/herald-secrets"]
	env := func(k string) string {
		if v, ok := get(secret, "stringData", k).(string); ok {
			return v
		}
		if v, ok := get(objs["ConfigMap/herald-env"], "data", k).(string); ok {
			return v
		}
		return ""
	}
	c, err := config.Parse([]byte(get(cm, "data", "herald.yaml").(string)), env)
	require.NoError(t, err)
	var want []string
	for _, ws := range c.Workspaces {
		for _, ch := range config.Channels {
			want = append(want, queue.ConsumerName(ch, ws.ID))
		}
	}
	require.ElementsMatch(t, want, consumers, "one trigger per consumer: per channel and workspace of the sample config")
	require.Equal(t, 3, c.NATS.StreamReplicas)
	require.Contains(t, c.NATSURL, "nats-0.nats-headless")

	deps := k8sObjects(t, "k8s/deps")
	require.EqualValues(t, 3, get(deps["StatefulSet/nats"], "spec", "replicas"))
	require.Contains(t, get(deps["ConfigMap/nats-config"], "data", "nats.conf"), "jetstream")
	require.Contains(t, get(deps["StatefulSet/redis"], "spec", "template", "spec", "containers", 0, "args"), "--appendonly")
}

// docker-compose: Redis with AOF, a 3-node NATS cluster with JetStream,
// a producer, two workers and a scheduler built from deploy/Dockerfile;
// the config it mounts is one Herald accepts.
func TestCompose(t *testing.T) {
	c := docs(t, "docker-compose.yml")[0]
	svcs := c["services"].(map[string]any)
	require.Contains(t, get(svcs, "redis", "command"), "--appendonly")
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		cmd := get(svcs, n, "command").([]any)
		require.Contains(t, cmd, "--js", n)
		require.Contains(t, cmd, "--routes", n)
		require.True(t, strings.HasPrefix(get(svcs, n, "image").(string), "nats:"), "the official nats image")
	}
	for role, names := range map[string][]string{"producer": {"producer"}, "worker": {"worker-1", "worker-2"}, "scheduler": {"scheduler"}} {
		for _, n := range names {
			require.Equal(t, role, get(svcs, n, "command", 0), n)
			require.Equal(t, "deploy/Dockerfile", get(svcs, n, "build", "dockerfile"), n)
			require.Contains(t, get(svcs, n, "environment", "HERALD_NATS_URL"), "nats-3:4222", n)
		}
	}
	env := func(k string) string {
		v, _ := get(svcs, "producer", "environment", k).(string)
		return v
	}
	cfg, err := config.LoadWithEnv("compose/herald.yaml", env)
	require.NoError(t, err)
	require.Equal(t, 3, cfg.NATS.StreamReplicas)
	require.NotNil(t, cfg.Workspace("demo"))
}

// The Dockerfile: multi-stage, a static binary (CGO off) of the Go version
// go.mod names, a distroless or scratch runtime, a non-root user, the
// herald binary as entrypoint.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	df := string(data)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)(?:\s+AS\s+(\S+))?`).FindAllStringSubmatch(df, -1)
	require.GreaterOrEqual(t, len(froms), 2, "multi-stage")
	require.Equal(t, "build", froms[0][2])
	gomod, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))[1]
	require.True(t, strings.HasPrefix(froms[0][1], "golang:"+goVer), "builder %s matches go %s", froms[0][1], goVer)
	runtime := froms[len(froms)-1][1]
	require.True(t, runtime == "scratch" || strings.Contains(runtime, "distroless/static"), runtime)
	require.Contains(t, df, "CGO_ENABLED=0")
	require.Contains(t, df, "COPY --from=build")
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	require.NotEmpty(t, user)
	last := user[len(user)-1][1]
	require.NotContains(t, []string{"root", "0", "0:0"}, last)
	require.Regexp(t, `(?m)^ENTRYPOINT \["/usr/local/bin/herald"\]`, df)
	require.Regexp(t, `(?m)^EXPOSE 8080`, df)
	_, err = os.Stat("../.dockerignore")
	require.NoError(t, err, "the build context (repository root) has a .dockerignore")
}

var (
	metricDef  = regexp.MustCompile(`Name:\s+"(herald_[a-z0-9_]+)"`)
	metricUse  = regexp.MustCompile(`\b(herald_[a-z0-9_]+?)(?:_bucket|_sum|_count)?\b`)
	readmeRow  = regexp.MustCompile("(?m)^\\| `(herald_[a-z0-9_]+)` \\|")
	stdMetrics = regexp.MustCompile(`^(go|process)_`)
)

// definedMetrics finds every metric the code registers.
func definedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	require.NoError(t, filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "deploy") {
			return filepath.SkipDir
		}
		if filepath.Ext(p) != ".go" || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range metricDef.FindAllStringSubmatch(string(data), -1) {
			out[m[1]] = true
		}
		return nil
	}))
	require.Greater(t, len(out), 10)
	return out
}

// Every metric the code registers is in the README's table, and the table
// and the Grafana dashboard name only metrics that exist.
func TestMetricsDocumentedAndCharted(t *testing.T) {
	defined := definedMetrics(t)
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	documented := map[string]bool{}
	for _, m := range readmeRow.FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}
	for m := range defined {
		require.True(t, documented[m], "metric %s is not in the README's Metrics table", m)
	}
	known := func(m string) bool { return defined[m] }
	for m := range documented {
		require.True(t, known(m), "the README documents %s, which no code registers", m)
	}
	dash, err := os.ReadFile("grafana/herald-dashboard.json")
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(dash, &d))
	charted := map[string]bool{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range metricUse.FindAllStringSubmatch(tg.Expr, -1) {
				name := m[1]
				require.True(t, known(name) || stdMetrics.MatchString(name), "panel %q uses %s, which no code registers", p.Title, name)
				charted[name] = true
			}
		}
	}
	for _, m := range []string{"herald_worker_queue_pending_messages", "herald_worker_breakers", "herald_worker_delivered_total", "herald_producer_accepted_total"} {
		require.True(t, charted[m], "the dashboard charts %s", m)
	}
}
