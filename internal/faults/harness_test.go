package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/internal/testutil"
)

// heraldBin is the binary built once by TestMain.
var heraldBin string

func TestMain(m *testing.M) {
	if os.Getenv("HERALD_FAULT_SUITE") == "" {
		fmt.Println("fault suite skipped: run `make test-faults` (HERALD_FAULT_SUITE=1)")
		os.Exit(0)
	}
	if bin := os.Getenv("HERALD_FAULT_BIN"); bin != "" {
		// A prebuilt binary: to run the suite against another version
		// (a scenario that must fail on the version before a fix).
		heraldBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "herald-faults-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	heraldBin = filepath.Join(dir, "herald")
	build := exec.Command("go", "build", "-o", heraldBin, "github.com/heraldhq/herald/cmd/herald")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build herald: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const (
	apiKey     = "hk_fault_suite_all_scopes_0000000000000000"
	globexKey  = "hk_fault_suite_globex_key_000000000000000"
	hookSecret = "whsec_ZmF1bHQtc3VpdGUtc2lnbmluZy1zZWNyZXQ="
)

// proc is one OS process of the suite. Its output goes to a file that is
// printed (the tail) when the test fails.
type proc struct {
	t    *testing.T
	name string
	bin  string
	args []string
	env  []string
	logf string

	mu  sync.Mutex
	cmd *exec.Cmd
}

func newProc(t *testing.T, dir, name, bin string, args, env []string) *proc {
	p := &proc{t: t, name: name, bin: bin, args: args, env: env, logf: filepath.Join(dir, name+".log")}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			p.printTail(60)
		}
	})
	return p
}

func (p *proc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(p.t, err)
	fmt.Fprintf(f, "=== start %s at %s\n", p.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	// The child dies with the test binary, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(p.t, cmd.Start(), p.name)
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
	}()
}

// cpu is the CPU time (user + system) the process has used so far, read
// from /proc: for the test's report, never for an assertion.
func (p *proc) cpu() time.Duration {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (in parentheses, may hold spaces).
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100) // USER_HZ
}

// rss is the process's peak resident memory (VmHWM), from /proc.
func (p *proc) rss() int64 {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// kill is kill -9.
func (p *proc) kill() {
	p.mu.Lock()
	cmd := p.cmd
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	for range 500 { // reaped by the goroutine of start
		if cmd.ProcessState != nil || syscall.Kill(cmd.Process.Pid, 0) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signal sends sig to the running process.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

func (p *proc) printTail(n int) {
	data, err := os.ReadFile(p.logf)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	p.t.Logf("--- last %d lines of %s (%s):\n%s", len(lines), p.name, p.logf, strings.Join(lines, "\n"))
}

// logContains reports whether the process's output has s.
func (p *proc) logContains(s string) bool {
	data, _ := os.ReadFile(p.logf)
	return bytes.Contains(data, []byte(s))
}

// env is one running system: redis-server, a JetStream server, a
// producer, workers and the receiver.
type env struct {
	t        *testing.T
	dir      string
	rc       *receiver
	redis    *proc
	redisURL string
	redisDir string
	rdb      *redis.Client
	nats     *proc
	natsURL  string
	producer *proc
	prodURL  string
	workers  []*proc
	wURLs    []string
	cfgPath  string
	client   *http.Client
	nworkers int
	opts     envOptions
}

type envOptions struct {
	workers int
	// yaml tweaks the config (delivery, breaker settings).
	delivery string
	breaker  string
	// producerNATS, when set, is the NATS URL the producer uses (a proxy).
	producerNATS func(natsURL string) string
	// producerArgs are appended to the producer's command line.
	producerArgs []string
	// nats tweaks the config's nats settings (default "{ ack_wait: 5s }").
	nats string
	// globexPath, when set, adds workspace globex (key globexKey) whose
	// callback goes to the receiver at this path.
	globexPath string
	// redisArgs replace the persistence flags of redis-server (default:
	// an append-only file, fsync every second, no RDB snapshots).
	redisArgs []string
}

// writeConfig (re)writes the suite's config file with these API keys.
func (e *env) writeConfig(keyHashes ...string) {
	e.t.Helper()
	tmp := e.cfgPath + ".tmp"
	require.NoError(e.t, os.WriteFile(tmp, []byte(e.configYAML(e.opts.delivery, e.opts.breaker, keyHashes...)), 0o600))
	require.NoError(e.t, os.Rename(tmp, e.cfgPath)) // atomic, as a ConfigMap update
}

// configYAML is the suite's config file.
func (e *env) configYAML(delivery, breaker string, keyHashes ...string) string {
	keys := ""
	for i, h := range keyHashes {
		keys += fmt.Sprintf("      - { name: key%d, sha256: %q, scopes: [notifications:send, notifications:read, notifications:reprocess] }\n", i, h)
	}
	natsYAML := e.opts.nats
	if natsYAML == "" {
		natsYAML = "{ ack_wait: 5s }"
	}
	globex := ""
	if e.opts.globexPath != "" {
		globex = fmt.Sprintf(`
  - id: globex
    keys:
      - { name: globex, sha256: %q, scopes: [notifications:send, notifications:read, notifications:reprocess] }
    products:
      - tag: shop
        envs: [prd]
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                callback: { url: "%s%s" }
`, config.HashKey(globexKey), e.rc.url, e.opts.globexPath)
	}
	return fmt.Sprintf(`
log: { level: info, format: json }
nats: %s
delivery: %s
breaker: %s
workspaces:
  - id: acme
    keys:
%s    products:
      - tag: shop
        envs: [prd]
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                callback: { url: "%s/hook", secret_env: HOOK_SECRET }
`, natsYAML, delivery, breaker, keys, e.rc.url) + globex
}

func startEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), nworkers: o.workers, opts: o,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	e.rc = startReceiver(t)

	// redis-server with an append-only file: a kill -9 loses nothing it
	// acknowledged (the AOF is written before replies are sent; fsync
	// every second only matters for a power failure).
	rport := testutil.FreePort(t)
	rdir := filepath.Join(e.dir, "redis")
	require.NoError(t, os.MkdirAll(rdir, 0o755))
	e.redisURL = "redis://127.0.0.1:" + strconv.Itoa(rport) + "/0"
	persistence := o.redisArgs
	if persistence == nil {
		persistence = []string{"--save", "", "--appendonly", "yes", "--appendfsync", "everysec"}
	}
	e.redisDir = rdir
	e.redis = newProc(t, e.dir, "redis", mustLook(t, "redis-server"), append([]string{
		"--port", strconv.Itoa(rport), "--bind", "127.0.0.1", "--dir", rdir, "--daemonize", "no",
	}, persistence...), nil)
	e.startRedis()
	e.rdb = redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(rport)})
	t.Cleanup(func() { _ = e.rdb.Close() })

	nport := testutil.FreePort(t)
	e.natsURL = "nats://127.0.0.1:" + strconv.Itoa(nport)
	e.nats = newProc(t, e.dir, "nats", heraldBin, []string{"dev", "nats", "--listen", "127.0.0.1:" + strconv.Itoa(nport),
		"--store-dir", filepath.Join(e.dir, "nats")}, nil)
	e.startNATS()

	if o.delivery == "" {
		o.delivery = "{ retries: 10, backoff_initial: 100ms, backoff_max: 1s, timeout: 2s, concurrency: 32, reconcile_after: 15s }"
	}
	if o.breaker == "" {
		o.breaker = "{ failures: 20, open_for: 2s }"
	}
	e.opts = o
	e.cfgPath = filepath.Join(e.dir, "herald.yaml")
	e.writeConfig(config.HashKey(apiKey))

	pport := testutil.FreePort(t)
	e.prodURL = "http://127.0.0.1:" + strconv.Itoa(pport)
	penv := e.heraldEnv(pport)
	if o.producerNATS != nil {
		penv = append(penv, config.EnvNATSURL+"="+o.producerNATS(e.natsURL))
	}
	e.producer = newProc(t, e.dir, "producer", heraldBin, append([]string{"producer", "--config", e.cfgPath}, o.producerArgs...), penv)
	e.producer.start()
	e.waitReady(e.prodURL, e.producer)
	for i := range o.workers {
		e.addWorker(i)
	}
	return e
}

func mustLook(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	require.NoError(t, err, "%s is not installed (make setup installs redis-server)", name)
	return p
}

func (e *env) heraldEnv(httpPort int) []string {
	return []string{
		config.EnvRedisURL + "=" + e.redisURL, config.EnvNATSURL + "=" + e.natsURL,
		config.EnvHTTPAddr + "=127.0.0.1:" + strconv.Itoa(httpPort), config.EnvAllowPrivate + "=true",
		"HOOK_SECRET=" + hookSecret, config.EnvDataDir + "=" + filepath.Join(e.dir, "data"),
	}
}

func (e *env) addWorker(i int) {
	port := testutil.FreePort(e.t)
	w := newProc(e.t, e.dir, fmt.Sprintf("worker%d", i), heraldBin, []string{"worker", "--config", e.cfgPath}, e.heraldEnv(port))
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	if i < len(e.workers) {
		e.workers[i], e.wURLs[i] = w, url
	} else {
		e.workers = append(e.workers, w)
		e.wURLs = append(e.wURLs, url)
	}
	w.start()
	e.waitReady(url, w)
}

// restartWorker starts worker i again (a new process, a new port), as a
// Deployment would after a pod died.
func (e *env) restartWorker(i int) { e.addWorker(i) }

func (e *env) startRedis() {
	e.redis.start()
	addr := strings.TrimSuffix(strings.TrimPrefix(e.redisURL, "redis://"), "/0")
	waitFor(e.t, 20*time.Second, "redis-server to answer", func() bool {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		return c.Ping(ctx).Err() == nil
	})
}

func (e *env) startNATS() {
	e.nats.start()
	waitFor(e.t, 30*time.Second, "the JetStream server to answer", func() bool {
		nc, err := nats.Connect(e.natsURL, nats.Timeout(500*time.Millisecond))
		if err != nil {
			return false
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = js.AccountInfo(ctx)
		return err == nil
	})
}

func (e *env) waitReady(url string, p *proc) {
	e.t.Helper()
	waitFor(e.t, 60*time.Second, p.name+" to be ready", func() bool {
		resp, err := e.client.Get(url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sendResult is the outcome of one logical send.
type sendResult struct {
	// id is the message id the send was finally accepted under.
	id    string
	tries int
}

// sendAll makes n logical sends with c concurrent clients. Each send
// carries a cache tag and is retried on 503 or a connection error until
// it is accepted (202, or 200 deduplicated onto an earlier try), as a
// careful client would. onAccepted is called after each acceptance.
func (e *env) sendAll(ctx context.Context, n, c int, onAccepted func(done int)) []sendResult {
	e.t.Helper()
	out := make([]sendResult, n)
	var next, done atomic.Int64
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				out[i] = e.sendOne(ctx, i)
				if out[i].id != "" {
					d := int(done.Add(1))
					if onAccepted != nil {
						onAccepted(d)
					}
				}
			}
		}()
	}
	wg.Wait()
	return out
}

func (e *env) sendOne(ctx context.Context, i int) sendResult {
	var res sendResult
	body, _ := json.Marshal(map[string]any{
		"product": "shop", "env": "prd", "notification": "orders:confirmation",
		"cache": "order-" + strconv.Itoa(i), "input": map[string]any{"body": map[string]any{"order": i}},
	})
	wait := 50 * time.Millisecond
	for ctx.Err() == nil {
		res.tries++
		status, resp, err := e.post(ctx, "/v1/notifications/callback/send", body)
		switch {
		case err == nil && (status == http.StatusAccepted || status == http.StatusOK):
			res.id, _ = resp["messageId"].(string)
			return res
		case err == nil && status == http.StatusServiceUnavailable:
			// Refused: retried with the same cache tag. A refused try
			// whose entry was written is marked failed UNAVAILABLE;
			// checkNoneLost verifies nothing was delivered for it.
		case err == nil:
			e.t.Errorf("send %d: unexpected %d %v", i, status, resp)
			return res
		}
		time.Sleep(wait + time.Duration(rand.Int64N(int64(wait))))
		wait = min(2*wait, time.Second)
	}
	return res
}

func (e *env) post(ctx context.Context, path string, body []byte) (int, map[string]any, error) {
	return e.do(ctx, e.client, "POST", apiKey, path, body)
}

// do makes one API request with key through client.
func (e *env) do(ctx context.Context, client *http.Client, method, key, path string, body []byte) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, method, e.prodURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &m)
	return resp.StatusCode, m, nil
}

func (e *env) get(path string, out any) int {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.prodURL+path, nil)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := e.client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// total is the number of log entries with a status.
func (e *env) total(status string) int {
	var page struct {
		Total int `json:"total"`
	}
	if e.get("/v1/messages?limit=1&status="+status, &page) != http.StatusOK {
		return -1
	}
	return page.Total
}

// entries pages through every entry with a status.
func (e *env) entries(status string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	cursor := ""
	for {
		var page struct {
			Items      []map[string]any `json:"items"`
			NextCursor string           `json:"next_cursor"`
			HasMore    bool             `json:"hasMore"`
		}
		path := "/v1/messages?limit=200&status=" + status
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		require.Equal(e.t, http.StatusOK, e.get(path, &page))
		out = append(out, page.Items...)
		if !page.HasMore || page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

// metrics reads one process's /metrics.
func (e *env) metrics(url string) string {
	resp, err := e.client.Get(url + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

// streamLastSeq is the last sequence number of HERALD_SEND: it moves only
// when a job is published.
func (e *env) streamLastSeq() uint64 {
	e.t.Helper()
	nc, err := nats.Connect(e.natsURL)
	require.NoError(e.t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(e.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, queue.StreamSend)
	require.NoError(e.t, err)
	return s.CachedInfo().State.LastSeq
}

// checkNoneLost waits until every accepted send is sent and none is
// pending, then checks the receiver got each accepted message, and that
// nothing was delivered for a try Herald answered 503 (its entry says
// nothing was sent). It returns the number of duplicate deliveries
// (at-least-once: a worker killed between the provider's answer and the
// record of it sends again).
func (e *env) checkNoneLost(results []sendResult, within time.Duration) (dups int) {
	t := e.t
	t.Helper()
	var accepted []string
	for i, r := range results {
		require.NotEmpty(t, r.id, "send %d was never accepted", i)
		accepted = append(accepted, r.id)
	}
	waitFor(t, within, "every accepted message to reach sent", func() bool {
		return e.total("pending") == 0 && e.total("sent") >= len(accepted)
	})
	sent := map[string]bool{}
	for _, en := range e.entries("sent") {
		sent[en["_id"].(string)] = true
	}
	var missing []string
	for _, id := range accepted {
		if !sent[id] {
			missing = append(missing, id)
		}
		if e.rc.count(id) == 0 {
			t.Errorf("message %s is sent but the receiver never got it", id)
		}
	}
	require.Empty(t, missing, "accepted messages that are not sent")
	for _, en := range e.entries("failed") {
		id := en["_id"].(string)
		if en["error_code"] == "UNAVAILABLE" {
			require.Zero(t, e.rc.count(id), "message %s was refused with 503 (entry: %v) but delivered", id, en["error"])
			continue
		}
		t.Errorf("unexpected failed entry %s: %v %v (attempts %v)", id, en["error_code"], en["error"], en["attempts"])
	}
	for _, id := range accepted {
		if n := e.rc.count(id); n > 1 {
			dups += n - 1
		}
	}
	return dups
}

// receiver is the loopback endpoint of every callback. It counts requests
// by message id (the Standard Webhooks webhook-id header) and can fail on
// purpose: 500s and timeouts.
type receiver struct {
	url  string
	srv  *http.Server
	mu   sync.Mutex
	byID map[string]int
	// byOrder counts 2xx answers by the "order" of the body: one logical
	// send, whatever message id it got.
	byOrder map[string]int
	// byPath counts every request by path (/throttle, /dead).
	byPath map[string]int
	total  atomic.Int64
	// failing: 0 answer 200; 1 alternate 500 and a stall past the
	// delivery timeout.
	failing atomic.Int32
	failed  atomic.Int64 // requests answered while failing
}

func startReceiver(t *testing.T) *receiver {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rc := &receiver{url: "http://" + l.Addr().String(), byID: map[string]int{}, byOrder: map[string]int{}, byPath: map[string]int{}}
	rc.srv = &http.Server{Handler: http.HandlerFunc(rc.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = rc.srv.Serve(l) }()
	t.Cleanup(func() { _ = rc.srv.Close() })
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	rc.mu.Lock()
	rc.byPath[r.URL.Path]++
	rc.mu.Unlock()
	switch r.URL.Path {
	case "/throttle":
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	case "/dead":
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	n := rc.total.Add(1)
	if rc.failing.Load() == 1 {
		rc.failed.Add(1)
		if n%2 == 0 {
			// A timeout: hold the request past the delivery timeout.
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var body struct {
		Order json.Number `json:"order"`
	}
	_ = json.Unmarshal(data, &body)
	rc.mu.Lock()
	rc.byID[id]++
	if body.Order != "" {
		rc.byOrder[body.Order.String()]++
	}
	rc.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
}

// count is how many 2xx answers the receiver gave for a message id.
func (rc *receiver) count(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.byID[id]
}

// orders returns how many times each order (logical send) was delivered.
func (rc *receiver) orders() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int, len(rc.byOrder))
	for k, v := range rc.byOrder {
		out[k] = v
	}
	return out
}

// requests is how many requests a path got.
func (rc *receiver) requests(path string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.byPath[path]
}

// delivered is the number of distinct messages answered 2xx.
func (rc *receiver) delivered() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.byID)
}

// scanLines calls fn for each line of a process log.
func scanLines(path string, fn func(string)) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fn(sc.Text())
	}
}

func jsonDecode(r *http.Response, v any) error {
	defer r.Body.Close()
	return json.NewDecoder(r.Body).Decode(v)
}

// logSummary counts the warnings and errors of every Herald process by
// message, for the test's report.
func (e *env) logSummary() string {
	counts := map[string]int{}
	for _, p := range append(append([]*proc{e.producer}, e.workers...), e.nats) {
		scanLines(p.logf, func(line string) {
			var l struct{ Level, Msg, Logger string }
			if json.Unmarshal([]byte(line), &l) != nil || (l.Level != "warn" && l.Level != "error") {
				return
			}
			counts[p.name[:min(len(p.name), 6)]+" "+l.Level+" "+l.Logger+": "+l.Msg]++
		})
	}
	var out []string
	for k, n := range counts {
		out = append(out, fmt.Sprintf("  %5d  %s", n, k))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
