package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/logstore"
)

// The Kubernetes version the chart is rendered for and validated against
// (the schemas in helm/schemas are of this release).
const kubeVersion = "1.36.0"

const (
	chartDir      = "helm/herald"
	schemaPattern = "helm/schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json"
	alertRules    = "helm/herald/files/herald-alerts.yaml"
	alertTests    = "prometheus/herald-alerts.test.yaml"
)

// tool finds an external checker: $HERALD_<NAME> (what `make test` sets to
// the pinned version it installs in .tools/), then the pinned install
// itself, then PATH. Missing, the test is skipped on a workstation and
// fails in CI, where `make test` must have installed it.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p := os.Getenv("HERALD_" + strings.ToUpper(name)); p != "" {
		return p
	}
	if m, _ := filepath.Glob(filepath.Join("..", ".tools", name+"-*", name)); len(m) > 0 {
		abs, err := filepath.Abs(m[len(m)-1])
		require.NoError(t, err)
		return abs
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed (make test installs helm and kubeconform with go install; deploy/local/setup.sh installs promtool)", name)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func run(t *testing.T, stdin []byte, env []string, bin string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return out.Bytes(), nil
}

// helm runs Helm with its cache, config and data in a temporary directory,
// so no repository index or plugin of the machine is used.
type helm struct {
	bin string
	env []string
}

func newHelm(t *testing.T) helm {
	dir := t.TempDir()
	return helm{bin: tool(t, "helm"), env: []string{
		"HELM_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"HELM_DATA_HOME=" + filepath.Join(dir, "data"),
	}}
}

func (h helm) template(t *testing.T, valueFiles []string, set ...string) ([]byte, error) {
	args := []string{"template", "rel", chartDir, "--namespace", "herald", "--kube-version", kubeVersion}
	for _, f := range valueFiles {
		args = append(args, "-f", f)
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return run(t, nil, h.env, h.bin, args...)
}

// kubeconform validates manifests strictly against the offline schemas:
// unknown fields and wrong types fail, and so does a kind with no schema.
func kubeconform(t *testing.T, manifests []byte, files ...string) {
	t.Helper()
	args := []string{"-strict", "-summary", "-kubernetes-version", kubeVersion, "-schema-location", schemaPattern}
	var stdin []byte
	if len(files) == 0 {
		stdin = manifests
		args = append(args, "-")
	} else {
		args = append(args, files...)
	}
	out, err := run(t, stdin, nil, tool(t, "kubeconform"), args...)
	require.NoError(t, err)
	require.Regexp(t, `Invalid: 0, Errors: 0, Skipped: 0`, string(out))
	require.NotRegexp(t, `Valid: 0,`, string(out))
}

func parseManifests(t *testing.T, data []byte) map[string]map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	out := map[string]map[string]any{}
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		if m == nil {
			continue
		}
		key := m["kind"].(string) + "/" + get(m, "metadata", "name").(string)
		require.NotContains(t, out, key, "rendered twice")
		out[key] = m
	}
}

func ofKind(objs map[string]map[string]any, kind string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for k, v := range objs {
		if strings.HasPrefix(k, kind+"/") {
			out[strings.TrimPrefix(k, kind+"/")] = v
		}
	}
	return out
}

func list(v any) []any { l, _ := v.([]any); return l }

// definedEnv is every HERALD_* variable the binary reads: the config
// package's Env* constants and what cmd/herald reads itself.
func definedEnv(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, p := range []string{"../config/load.go", "../cmd/herald/main.go"} {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`"(HERALD_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(data), -1) {
			out[m[1]] = true
		}
	}
	require.True(t, out[config.EnvRedisURL] && out[config.EnvNATSURL], "found the config's variables")
	return out
}

// servedPaths is every GET route a listener's code registers: api/server.go
// for http_addr, internal/app/pprof.go for metrics_addr.
func servedPaths(t *testing.T, file string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`"GET (/[a-z]+)"`).FindAllStringSubmatch(string(data), -1) {
		out[m[1]] = true
	}
	require.NotEmpty(t, out, "found the routes of %s", file)
	return out
}

var roles = []string{"serve", "producer", "worker", "scheduler"}

// renderedEnv resolves a container's environment the way the kubelet
// would, with every Secret reference standing for a non-empty value.
func renderedEnv(t *testing.T, c any) map[string]string {
	env := map[string]string{}
	for _, e := range list(get(c, "env")) {
		name := get(e, "name").(string)
		require.NotContains(t, env, name, "variable %s set twice", name)
		if v, ok := get(e, "value").(string); ok {
			env[name] = v
			continue
		}
		ref := get(e, "valueFrom", "secretKeyRef")
		require.NotNil(t, ref, "%s: a value or a Secret reference", name)
		require.NotEmpty(t, get(ref, "name"), name)
		require.NotEmpty(t, get(ref, "key"), name)
		env[name] = "secret-" + strings.ToLower(name) + "-0123456789abcdef0123456789abcdef"
		if name == config.EnvRedisURL {
			env[name] = "redis://:secret@redis.example:6379/0"
		}
	}
	return env
}

// The chart, rendered with each value set of ci/, lints cleanly, validates
// strictly against the Kubernetes schemas and those of the KEDA and
// Prometheus Operator CRDs, and agrees with the code: the roles the binary
// has, the HERALD_* variables it reads, the routes it serves, the stream
// and consumers workers use, the metrics it exports, and a configuration
// it accepts with the environment the Deployments give it.
func TestHelmChart(t *testing.T) {
	h := newHelm(t)
	sets, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(sets), 5)
	envs, metrics := definedEnv(t), definedMetrics(t)
	paths, metricsPaths := servedPaths(t, "../api/server.go"), servedPaths(t, "../internal/app/pprof.go")
	require.True(t, paths["/readyz"] && paths["/healthz"], "the probes' routes: %v", paths)
	require.True(t, metricsPaths["/metrics"], "the metrics listener's route: %v", metricsPaths)
	rules, err := os.ReadFile(alertRules)
	require.NoError(t, err)

	for _, set := range sets {
		name := strings.TrimSuffix(filepath.Base(set), "-values.yaml")
		t.Run(name, func(t *testing.T) {
			_, err := run(t, nil, h.env, h.bin, "lint", chartDir, "--strict", "--kube-version", kubeVersion, "-f", set)
			require.NoError(t, err)
			out, err := h.template(t, []string{set})
			require.NoError(t, err)
			kubeconform(t, out)
			objs := parseManifests(t, out)

			deps := ofKind(objs, "Deployment")
			var running []string
			for dn, d := range deps {
				pod := get(d, "spec", "template", "spec")
				podLabels := get(d, "spec", "template", "metadata", "labels").(map[string]any)
				for k, v := range get(d, "spec", "selector", "matchLabels").(map[string]any) {
					require.Equal(t, v, podLabels[k], "%s: the selector matches its pods", dn)
				}
				c := get(pod, "containers", 0)
				args := list(get(c, "args"))
				role := args[0].(string)
				require.Contains(t, roles, role, "%s runs a role the binary has", dn)
				require.Equal(t, "herald-"+role, strings.TrimPrefix(dn, "rel-"), "named after its role")
				running = append(running, role)

				// The config file is where the volume puts it.
				cfgPath := args[slices.Index(args, "--config")+1].(string)
				var mountDir string
				for _, m := range list(get(c, "volumeMounts")) {
					if get(m, "name") == "config" {
						mountDir = get(m, "mountPath").(string)
					}
				}
				require.Equal(t, filepath.Join(mountDir, "herald.yaml"), cfgPath)
				watch, err := time.ParseDuration(args[slices.Index(args, "--watch-config")+1].(string))
				require.NoError(t, err)
				require.Positive(t, watch)

				env := renderedEnv(t, c)
				for k := range env {
					if strings.HasPrefix(k, "HERALD_") {
						require.True(t, envs[k], "%s sets %s, which Herald does not read", dn, k)
					}
				}
				// The ports it listens on are the ports probed and scraped:
				// http_addr for the probes, metrics_addr for /metrics.
				_, port, err := splitPort(env[config.EnvHTTPAddr])
				require.NoError(t, err)
				require.Equal(t, "http", get(c, "ports", 0, "name"))
				require.EqualValues(t, port, get(c, "ports", 0, "containerPort"))
				_, mport, err := splitPort(env[config.EnvMetricsAddr])
				require.NoError(t, err, "%s serves /metrics apart from the API", dn)
				require.NotEqual(t, port, mport)
				require.Equal(t, "metrics", get(c, "ports", 1, "name"))
				require.EqualValues(t, mport, get(c, "ports", 1, "containerPort"))
				if ann := get(d, "spec", "template", "metadata", "annotations", "prometheus.io/port"); ann != nil {
					require.Equal(t, strconv.Itoa(mport), ann, "%s: annotation-based scraping finds the metrics port", dn)
					require.True(t, metricsPaths[get(d, "spec", "template", "metadata", "annotations", "prometheus.io/path").(string)])
				}
				for probe, path := range map[string]string{"startupProbe": "/readyz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
					require.Equal(t, path, get(c, probe, "httpGet", "path"), "%s %s", dn, probe)
					require.True(t, paths[path], "%s probes %s, which the server does not serve", dn, path)
					require.Equal(t, "http", get(c, probe, "httpGet", "port"))
				}
				require.Equal(t, true, get(pod, "securityContext", "runAsNonRoot"))
				require.Equal(t, true, get(c, "securityContext", "readOnlyRootFilesystem"))
				for _, kind := range []string{"requests", "limits"} {
					require.NotEmpty(t, get(c, "resources", kind, "cpu"), "%s %s", dn, kind)
					require.NotEmpty(t, get(c, "resources", kind, "memory"), "%s %s", dn, kind)
				}

				// The ConfigMap holds a configuration Herald accepts with
				// exactly this environment: every *_env is wired to a Secret.
				vol := get(pod, "volumes", 0)
				require.Equal(t, "config", get(vol, "name"))
				cm := objs["ConfigMap/"+get(vol, "configMap", "name").(string)]
				require.NotNil(t, cm, "%s mounts a ConfigMap the chart renders", dn)
				cfg, err := config.Parse([]byte(get(cm, "data", "herald.yaml").(string)), func(k string) string { return env[k] })
				require.NoError(t, err, "%s: Herald refuses the config", dn)
				require.Greater(t, time.Duration(get(pod, "terminationGracePeriodSeconds").(int))*time.Second, cfg.ShutdownGrace.D(),
					"%s: SIGTERM gets shutdown_grace before the kill", dn)
				if role != "serve" || cfg.NATSURL != "" {
					require.NotEmpty(t, cfg.NATSURL, "%s: split roles need an external NATS", dn)
					for _, u := range strings.Split(cfg.NATSURL, ",") {
						_, err := url.Parse(u)
						require.NoError(t, err)
					}
				}
				if ss := ofKind(objs, "StatefulSet"); len(ss) > 0 {
					checkBundledNATS(t, objs, ss, cfg)
				}
			}
			slices.Sort(running)
			if slices.Contains(running, "serve") {
				require.Equal(t, []string{"serve"}, running)
			} else {
				require.Equal(t, []string{"producer", "scheduler", "worker"}, running)
			}

			// Every Service, PDB and autoscaler points at pods or a
			// Deployment of this release.
			for sn, s := range ofKind(objs, "Service") {
				require.True(t, selectsSome(objs, get(s, "spec", "selector").(map[string]any)), "Service %s selects no pod", sn)
				for _, p := range list(get(s, "spec", "ports")) {
					target := get(p, "targetPort")
					if target == nil {
						target = get(p, "port")
					}
					require.True(t, namedPort(objs, get(s, "spec", "selector").(map[string]any), target), "Service %s port %v", sn, target)
				}
			}
			api := objs["Service/rel-herald"]
			require.NotNil(t, api, "the API Service")
			apiRole := get(api, "spec", "selector", "app.kubernetes.io/component")
			require.Contains(t, []any{"producer", "serve"}, apiRole)
			for _, p := range list(get(api, "spec", "ports")) {
				require.Equal(t, "http", get(p, "targetPort"), "the API Service exposes the API only, not /metrics")
			}
			for pn, p := range ofKind(objs, "PodDisruptionBudget") {
				require.True(t, selectsSome(objs, get(p, "spec", "selector", "matchLabels").(map[string]any)), "PDB %s", pn)
			}
			for hn, hpa := range ofKind(objs, "HorizontalPodAutoscaler") {
				target := get(hpa, "spec", "scaleTargetRef", "name").(string)
				require.NotNil(t, deps[target], "HPA %s scales %s", hn, target)
				require.Nil(t, get(deps[target], "spec", "replicas"), "an autoscaled Deployment leaves replicas to it")
			}

			for _, so := range ofKind(objs, "ScaledObject") {
				checkScaledObject(t, so, deps, metrics)
			}
			for sn, sm := range ofKind(objs, "ServiceMonitor") {
				var svc map[string]any
				for _, s := range ofKind(objs, "Service") {
					if matches(get(sm, "spec", "selector", "matchLabels").(map[string]any), get(s, "metadata", "labels").(map[string]any)) {
						require.Nil(t, svc, "ServiceMonitor %s selects one Service", sn)
						svc = s
					}
				}
				require.NotNil(t, svc, "ServiceMonitor %s selects a Service", sn)
				// That Service reaches every Herald pod, workers and schedulers included.
				for dn, d := range deps {
					require.True(t, matches(get(svc, "spec", "selector").(map[string]any), get(d, "spec", "template", "metadata", "labels").(map[string]any)), "the metrics Service misses %s", dn)
				}
				ep := get(sm, "spec", "endpoints", 0)
				require.True(t, metricsPaths[get(ep, "path").(string)], "scrapes a path the metrics listener serves")
				require.Equal(t, get(svc, "spec", "ports", 0, "name"), get(ep, "port"))
				require.Equal(t, "metrics", get(svc, "spec", "ports", 0, "targetPort"), "the metrics Service reaches the metrics port")
			}
			for _, pr := range ofKind(objs, "PrometheusRule") {
				var want map[string]any
				require.NoError(t, yaml.Unmarshal(rules, &want))
				require.Equal(t, want["groups"], get(pr, "spec", "groups"), "the PrometheusRule carries the alert rules unchanged")
			}
		})
	}
}

func splitPort(addr string) (string, int, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", 0, fmt.Errorf("no port in %q", addr)
	}
	p, err := strconv.Atoi(addr[i+1:])
	return addr[:i], p, err
}

func matches(selector, labels map[string]any) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

func podTemplates(objs map[string]map[string]any) []any {
	var out []any
	for k, o := range objs {
		if strings.HasPrefix(k, "Deployment/") || strings.HasPrefix(k, "StatefulSet/") {
			out = append(out, get(o, "spec", "template"))
		}
	}
	return out
}

func selectsSome(objs map[string]map[string]any, selector map[string]any) bool {
	for _, p := range podTemplates(objs) {
		if matches(selector, get(p, "metadata", "labels").(map[string]any)) {
			return true
		}
	}
	return false
}

// namedPort: every pod the selector picks has a container port of that name.
func namedPort(objs map[string]map[string]any, selector map[string]any, port any) bool {
	found := false
	for _, p := range podTemplates(objs) {
		if !matches(selector, get(p, "metadata", "labels").(map[string]any)) {
			continue
		}
		has := false
		for _, c := range list(get(p, "spec", "containers")) {
			for _, cp := range list(get(c, "ports")) {
				if get(cp, "name") == port || get(cp, "containerPort") == port {
					has = true
				}
			}
		}
		if !has {
			return false
		}
		found = true
	}
	return found
}

// checkScaledObject: KEDA scales the worker Deployment on the consumers
// workers really use (stream HERALD_SEND, herald-<channel>-<workspace>), or
// on the lag metric workers really export.
func checkScaledObject(t *testing.T, so map[string]any, deps map[string]map[string]any, metrics map[string]bool) {
	target := get(so, "spec", "scaleTargetRef", "name").(string)
	require.Equal(t, "rel-herald-worker", target)
	require.NotNil(t, deps[target])
	require.Nil(t, get(deps[target], "spec", "replicas"), "KEDA owns the worker count")
	require.GreaterOrEqual(t, get(so, "spec", "minReplicaCount").(int), 1, "retries due later need a worker")
	triggers := list(get(so, "spec", "triggers"))
	require.NotEmpty(t, triggers)
	for _, tr := range triggers {
		md := get(tr, "metadata")
		switch get(tr, "type") {
		case "nats-jetstream":
			require.Equal(t, queue.StreamSend, get(md, "stream"))
			consumer := get(md, "consumer").(string)
			var known bool
			for _, ch := range config.Channels {
				ws, ok := strings.CutPrefix(consumer, "herald-"+ch+"-")
				known = known || (ok && config.ValidWorkspace(ws) && queue.ConsumerName(ch, ws) == consumer)
			}
			require.True(t, known, "consumer %s is not one workers create", consumer)
			_, _, err := splitPort(get(md, "natsServerMonitoringEndpoint").(string))
			require.NoError(t, err)
		case "prometheus":
			q := get(md, "query").(string)
			used := metricUse.FindAllStringSubmatch(q, -1)
			require.NotEmpty(t, used, q)
			for _, m := range used {
				require.True(t, metrics[m[1]], "KEDA queries %s, which no code registers", m[1])
			}
			require.Contains(t, q, "herald_worker_queue_pending_messages")
			ch := regexp.MustCompile(`channel="([a-z]+)"`).FindStringSubmatch(q)
			require.NotNil(t, ch, q)
			require.Contains(t, config.Channels, ch[1])
		default:
			t.Fatalf("unexpected trigger type %v", get(tr, "type"))
		}
	}
}

// checkBundledNATS: Herald's NATS URL names every server of the bundled
// StatefulSet through its headless Service, and the streams' replicas fit
// the cluster.
func checkBundledNATS(t *testing.T, objs map[string]map[string]any, ss map[string]map[string]any, cfg *config.Config) {
	require.Len(t, ss, 1)
	for name, s := range ss {
		n := get(s, "spec", "replicas").(int)
		headless := get(s, "spec", "serviceName").(string)
		svc := objs["Service/"+headless]
		require.NotNil(t, svc, "the headless Service %s", headless)
		require.Equal(t, "None", get(svc, "spec", "clusterIP"))
		urls := strings.Split(cfg.NATSURL, ",")
		require.Len(t, urls, n, "Herald knows every server")
		for i, u := range urls {
			require.True(t, strings.HasPrefix(u, fmt.Sprintf("nats://%s-%d.%s.", name, i, headless)), u)
		}
		require.LessOrEqual(t, cfg.NATS.StreamReplicas, n)
		conf := get(objs["ConfigMap/"+name+"-config"], "data", "nats.conf").(string)
		require.Contains(t, conf, "jetstream")
		require.Contains(t, conf, "server_name: $POD_NAME", "KEDA finds a consumer's leader by server name")
	}
}

// Values that would deploy something broken are refused at render time,
// by values.schema.json or the chart's own checks, with a message that
// says what to set.
func TestHelmChartRefusesBrokenValues(t *testing.T) {
	h := newHelm(t)
	serve := filepath.Join(chartDir, "ci", "serve-values.yaml")
	split := filepath.Join(chartDir, "ci", "split-keda-values.yaml")
	for _, tc := range []struct {
		name   string
		values string
		set    []string
		want   string
	}{
		{"defaults: no Redis, no NATS", "", nil, "mode split needs NATS"},
		{"no Redis", "", []string{"externalNats.url=nats://n:4222"}, "set redis.url or redis.existingSecret"},
		{"unknown mode", serve, []string{"mode=all"}, "/mode"},
		{"misspelt key", serve, []string{"worker.replica=3"}, "additional properties 'replica' not allowed"},
		{"address in the config", serve, []string{"config.redis_url=redis://x:6379"}, "/config"},
		{"metrics on the API's port", serve, []string{"metricsPort=8080"}, "metricsPort must differ from port"},
		{"embedded JetStream twice", serve, []string{"serve.replicas=2"}, "serve with the embedded JetStream runs one replica"},
		{"KEDA in serve mode", serve, []string{"keda.enabled=true"}, "keda scales the worker Deployment"},
		{"KEDA and a CPU HPA", split, []string{"worker.autoscaling.enabled=true"}, "choose one"},
		{"KEDA without a NATS monitoring endpoint", split, []string{"externalNats.monitoringEndpoint="}, "externalNats.monitoringEndpoint"},
		{"KEDA to scale to zero", split, []string{"keda.minReplicas=0"}, "/keda/minReplicas"},
		{"unknown channel", split, []string{"keda.channels={callback,fax}"}, "/keda/channels"},
		{"KEDA's consumers with no workspace", split, []string{"config.workspaces=null"}, "one consumer per workspace and channel"},
		{"both NATS", split, []string{"bundledNats.enabled=true"}, "not both"},
		{"an even NATS cluster", split, []string{"externalNats.url=", "bundledNats.enabled=true", "bundledNats.replicas=2"}, "/bundledNats/replicas"},
		{"a key instead of its hash", serve, []string{"config.workspaces[0].keys[0].sha256=hk_live_secret"}, "sha256"},
		{"a secret without its key", serve, []string{"secretEnv.ACME_HOOK_SECRET.key="}, "/secretEnv/ACME_HOOK_SECRET/key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var files []string
			if tc.values != "" {
				files = append(files, tc.values)
			}
			out, err := h.template(t, files, tc.set...)
			require.Error(t, err, "rendered:\n%s", out)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// The kustomize manifests of deploy/k8s and deploy/k8s/deps validate
// against the same schemas as the chart.
func TestKubernetesManifestsValidate(t *testing.T) {
	var paths []string
	for _, dir := range []string{"k8s", "k8s/deps"} {
		k := docs(t, filepath.Join(dir, "kustomization.yaml"))[0]
		for _, r := range list(k["resources"]) {
			paths = append(paths, filepath.Join(dir, r.(string)))
		}
	}
	kubeconform(t, nil, paths...)
}

// metricLabels maps every metric the code registers to its label names.
func metricLabels(t *testing.T) map[string][]string {
	t.Helper()
	def := regexp.MustCompile(`Name:\s+"(herald_[a-z0-9_]+)",\s*\n\s*Help:\s+"(?:[^"\\]|\\.)*",\s*\n(?:\s*Buckets:[^\n]*\n)?\s*\}\)?(?:,\s*\[\]string\{([^}]*)\})?`)
	out := map[string][]string{}
	require.NoError(t, filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "deploy" || d.Name() == ".tools") {
			return filepath.SkipDir
		}
		if filepath.Ext(p) != ".go" || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range def.FindAllStringSubmatch(string(data), -1) {
			var labels []string
			for _, l := range strings.Split(m[2], ",") {
				if l = strings.Trim(strings.TrimSpace(l), `"`); l != "" {
					labels = append(labels, l)
				}
			}
			out[m[1]] = labels
		}
		return nil
	}))
	for m := range definedMetrics(t) {
		require.Contains(t, out, m, "metricLabels did not parse the definition of %s", m)
	}
	return out
}

// codeStrings is every string literal of the server's code.
func codeStrings(t *testing.T) map[string]bool {
	t.Helper()
	lit := regexp.MustCompile(`"([a-z][a-z_-]*)"`)
	out := map[string]bool{}
	require.NoError(t, filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "deploy" || d.Name() == ".tools") {
			return filepath.SkipDir
		}
		if filepath.Ext(p) != ".go" || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllStringSubmatch(string(data), -1) {
			out[m[1]] = true
		}
		return nil
	}))
	return out
}

var (
	selectorRe = regexp.MustCompile(`\b(herald_[a-z0-9_]+)\{([^}]*)\}`)
	matcherRe  = regexp.MustCompile(`([a-zA-Z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	wordsRe    = regexp.MustCompile(`^[a-z][a-z_-]*(\|[a-z][a-z_-]*)*$`)
)

// The alert rules are valid (promtool check rules), fire as their unit
// tests say (promtool test rules), and name only what Herald exports:
// metric names the code registers, label names those metrics carry, and
// label values the code produces (status="failed", outcome="circuit_open").
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	out, err := run(t, nil, nil, promtool, "check", "rules", alertRules)
	require.NoError(t, err)
	require.Contains(t, string(out), "SUCCESS")
	out, err = run(t, nil, nil, promtool, "test", "rules", alertTests)
	require.NoError(t, err)
	require.Contains(t, string(out), "SUCCESS")

	// deploy/prometheus/herald-alerts.yaml is the same file for those
	// who load rule files without Helm.
	linked, err := os.ReadFile("prometheus/herald-alerts.yaml")
	require.NoError(t, err)
	rules, err := os.ReadFile(alertRules)
	require.NoError(t, err)
	require.Equal(t, rules, linked)

	var f struct {
		Groups []struct {
			Rules []struct {
				Alert  string
				Expr   string
				Labels map[string]string
			}
		}
	}
	require.NoError(t, yaml.Unmarshal(rules, &f))
	labels, literals := metricLabels(t), codeStrings(t)
	// The breaker's "to" label is gobreaker's name for the state entered.
	for _, st := range []gobreaker.State{gobreaker.StateClosed, gobreaker.StateHalfOpen, gobreaker.StateOpen} {
		literals[st.String()] = true
	}
	alerts := map[string]bool{}
	var tested bytes.Buffer
	tests, err := os.ReadFile(alertTests)
	require.NoError(t, err)
	tested.Write(tests)
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert)
			require.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], r.Alert)
			alerts[r.Alert] = true
			require.Contains(t, tested.String(), "alertname: "+r.Alert, "%s has a unit test", r.Alert)
			used := metricUse.FindAllStringSubmatch(r.Expr, -1)
			require.NotEmpty(t, used, r.Alert)
			for _, m := range used {
				require.Contains(t, labels, m[1], "%s uses %s, which no code registers", r.Alert, m[1])
			}
			for _, sel := range selectorRe.FindAllStringSubmatch(r.Expr, -1) {
				metric := strings.TrimSuffix(sel[1], "_bucket")
				for _, m := range matcherRe.FindAllStringSubmatch(sel[2], -1) {
					label, value := m[1], m[3]
					if label == "le" {
						continue
					}
					require.Contains(t, labels[metric], label, "%s: %s has no label %s", r.Alert, metric, label)
					if wordsRe.MatchString(value) {
						for _, v := range strings.Split(value, "|") {
							require.True(t, literals[v], "%s: %s{%s=%q}: no code produces %q", r.Alert, metric, label, value, v)
						}
					}
					if label == "status" {
						for _, v := range strings.Split(value, "|") {
							require.Contains(t, logstore.Statuses, v)
						}
					}
				}
			}
		}
	}
	for _, want := range []string{"HeraldDeliveryFailureRatioHigh", "HeraldQueueLagHigh", "HeraldBreakerOpen", "HeraldReconcilerRepublished", "HeraldSchedulerLate"} {
		require.True(t, alerts[want], "an alert for %s", want)
	}
}
