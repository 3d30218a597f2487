// Command readbench measures the producer's memory under the worst reads
// a read-only API key can make (BENCHMARKS.md, "Reads"): it starts
// redis-server, `herald dev nats`, `herald producer` and `herald worker`
// as processes, fills the log with sends whose inputs are close to
// max_body_bytes (their callbacks fail, so GraphQL lists them too), resets
// the producer's peak RSS, then runs every large read at once from many
// clients — full pages of GET /v1/messages, GraphQL (the 20 aliases of
// issue 14, refused, and the largest answers its cost limit allows, over
// inputs just small enough for lists to show in full), the send-log
// search at its largest, single entries in full, attempts — and
// reports the producer's peak RSS and Redis's peak memory against the
// Kubernetes memory limit (deploy/k8s/producer.yaml, 512 MiB).
//
//	go run ./internal/readbench            # this tree
//	go run ./internal/readbench -bin /tmp/herald-main   # another build, to compare
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/config"
)

var (
	bin       = flag.String("bin", "", "herald binary (default: build this tree)")
	entries   = flag.Int("entries", 250, "sends to fill the log with")
	inputSize = flag.Int("input", 1_000_000, "bytes of each send's input")
	listed    = flag.Int("listed", 20, "sends, made last, whose inputs lists show in full (just under 16 KiB): GraphQL's worst payloads")
	clients   = flag.Int("c", 8, "concurrent readers")
	duration  = flag.Duration("d", 20*time.Second, "how long the readers run")
	keep      = flag.Bool("keep", false, "keep the work directory")
)

// listedInput is the largest input lists show in full (api.ListInputBytes
// is 16 KiB), less room for the send's other fields.
const listedInput = 16_000

const (
	sendKey = "hk_readbench_send_00000000000000000000000000"
	readKey = "hk_readbench_read_00000000000000000000000000"
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "readbench:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "herald-readbench-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	if *bin == "" {
		*bin = filepath.Join(dir, "herald")
		build := exec.Command("go", "build", "-o", *bin, "./cmd/herald")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	// The receiver refuses every callback: the messages fail, and GraphQL's
	// undelivered list has them all.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"no such order"}`)
	}))

	redisPort, natsPort, httpPort := freePort(), freePort(), freePort()
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(os.Interrupt)
		}
		for _, p := range procs {
			_ = p.Wait()
		}
	}()
	rs := exec.Command("redis-server", "--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := rs.Start(); err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	procs = append(procs, rs)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(redisPort)})
	for range 100 {
		if rdb.Ping(context.Background()).Err() == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cfgPath := filepath.Join(dir, "herald.yaml")
	yaml := fmt.Sprintf(`
log: { level: warn }
delivery: { retries: 0, timeout: 5s }
workspaces:
  - id: acme
    keys:
      - { name: send, sha256: %q, scopes: [notifications:send, notifications:read] }
      - { name: read, sha256: %q, scopes: [notifications:read] }
    products:
      - tag: shop
        envs: [prd]
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                callback: { url: "http://%s/orders/{id}" }
`, config.HashKey(sendKey), config.HashKey(readKey), l.Addr())
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		return err
	}
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	env := []string{"HERALD_REDIS_URL=redis://127.0.0.1:" + strconv.Itoa(redisPort) + "/0", "HERALD_DATA_DIR=" + dir,
		"HERALD_ALLOW_PRIVATE_NETWORKS=true", "HERALD_NATS_URL=" + natsURL}
	ns, err := start(dir, nil, "dev", "nats", "--listen", "127.0.0.1:"+strconv.Itoa(natsPort), "--store-dir", dir)
	if err != nil {
		return err
	}
	procs = append(procs, ns)
	time.Sleep(time.Second)
	prod, err := start(dir, append(env, "HERALD_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort)), "producer", "--config", cfgPath)
	if err != nil {
		return err
	}
	procs = append(procs, prod)
	w, err := start(dir, append(env, "HERALD_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(freePort())), "worker", "--config", cfgPath)
	if err != nil {
		return err
	}
	procs = append(procs, w)
	url := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	if err := waitReady(url); err != nil {
		return err
	}
	fmt.Printf("# Producer memory under the largest reads of a read-only key\n\n")
	fmt.Printf("binary: %s; %d sends with %d-byte inputs, then %d with %d-byte inputs; %d concurrent readers for %s\n\n",
		*bin, *entries, *inputSize, *listed, listedInput, *clients, *duration)
	fmt.Printf("producer RSS at start: %d MB\n", rss(prod, "VmRSS"))

	// Fill.
	hc := &http.Client{Timeout: time.Minute}
	var ids []string
	var mu sync.Mutex
	var fillErr atomic.Value
	fill := func(from, n, size int) {
		pad := strings.Repeat("p", size-200)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for i := from; i < from+n; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				body := fmt.Sprintf(`{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"params":{"id":"o%d"},"body":{"pad":%q}}}`, i, pad)
				code, out, err := do(hc, "POST", url+"/v1/notifications/callback/send", sendKey, body)
				if err != nil || code != http.StatusAccepted {
					fillErr.Store(fmt.Errorf("send %d: %d %v %.200s", i, code, err, out))
					return
				}
				var r struct{ MessageID string }
				_ = json.Unmarshal(out, &r)
				mu.Lock()
				ids = append(ids, r.MessageID)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	fill(0, *entries, *inputSize)
	// Last, so that they are the newest: the first page of every list.
	fill(*entries, *listed, listedInput)
	if e, ok := fillErr.Load().(error); ok {
		return e
	}
	// Wait until every message failed (the receiver refuses them).
	for deadline := time.Now().Add(2 * time.Minute); ; {
		_, out, err := do(hc, "GET", url+"/v1/messages?status=failed&limit=1", readKey, "")
		var r struct{ Total int }
		if err == nil && json.Unmarshal(out, &r) == nil && r.Total == *entries+*listed {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the messages never all failed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Printf("producer peak RSS while accepting the sends: %d MB\n", rss(prod, "VmHWM"))
	fmt.Printf("Redis used memory after the fill: %d MB\n\n", redisMem(rdb, "used_memory")/1e6)
	// Peaks from here on are the reads'.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", prod.Process.Pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("reset the producer's peak RSS: %w", err)
	}
	_ = rdb.ConfigResetStat(context.Background()).Err()
	_ = rdb.Do(context.Background(), "MEMORY", "PURGE").Err()
	baseRedis := redisMem(rdb, "used_memory")

	// GraphQL: the 20 aliases of issue 14 (refused by the cost limit), and
	// the largest answers within it — as many aliases of the page as the
	// cost allows, and one page with its payload asked for under as many
	// aliases as it allows (cut at the answer limit).
	aliases := func(n int, sel string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf("a%d: undeliveredNotifications(limit: 10, filters: {}) { %s }", i, sel)
		}
		q, _ := json.Marshal(map[string]string{"query": "{ " + strings.Join(parts, " ") + " }"})
		return string(q)
	}
	payloads := make([]string, 8)
	for i := range payloads {
		payloads[i] = fmt.Sprintf("p%d: payload", i)
	}
	reads := []struct {
		name, method, path, body string
	}{
		{"GET /v1/messages?limit=200", "GET", "/v1/messages?limit=200", ""},
		{"GET /v1/messages?limit=200&page=2", "GET", "/v1/messages?limit=200&page=2&status=failed", ""},
		{"POST /graphql, 20 aliases x limit 10 (issue 14)", "POST", "/graphql", aliases(20, "totalCount cursor elements { notification { notificationId payload } error { code message } }")},
		{"POST /graphql, 4 aliases x 10 payloads (cost 884)", "POST", "/graphql", aliases(4, "elements { notification { payload } }")},
		{"POST /graphql, 8 aliases of payload x 10 (cost 921)", "POST", "/graphql", aliases(1, "elements { notification { "+strings.Join(payloads, " ")+" } }")},
		{"POST /v1/send-logs/search limit 1000", "POST", "/v1/send-logs/search", `{"options":{"limit":1000}}`},
		{"POST /v1/send-logs/search limit 1000, list", "POST", "/v1/send-logs/search", `{"options":{"limit":1000},"group_destinations":"list"}`},
		{"GET /v1/messages/{id} (one 1 MB input)", "GET", "", ""},
		{"GET /v1/messages/{id}/attempts?per_page=200", "GET", "attempts", ""},
	}
	type stat struct {
		n, maxBytes, errs int64
		maxDur            time.Duration
		// gqlCode is the code of the first GraphQL error seen ("ok": none).
		gqlCode string
	}
	stats := make([]stat, len(reads))
	var smu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var rwg sync.WaitGroup
	var peakRedis atomic.Int64
	go func() {
		for ctx.Err() == nil {
			if m := redisMem(rdb, "used_memory") - baseRedis; m > peakRedis.Load() {
				peakRedis.Store(m)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for c := range *clients {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for k := c; ctx.Err() == nil; k++ {
				i := k % len(reads)
				rd := reads[i]
				path := rd.path
				switch path {
				case "":
					path = "/v1/messages/" + ids[k%len(ids)]
				case "attempts":
					path = "/v1/messages/" + ids[k%len(ids)] + "/attempts?per_page=200"
				}
				t0 := time.Now()
				code, out, err := do(hc, rd.method, url+path, readKey, rd.body)
				d := time.Since(t0)
				smu.Lock()
				st := &stats[i]
				st.n++
				if err != nil || code != http.StatusOK {
					st.errs++
				}
				st.maxBytes = max(st.maxBytes, int64(len(out)))
				st.maxDur = max(st.maxDur, d)
				if rd.path == "/graphql" && st.gqlCode == "" && code == http.StatusOK {
					st.gqlCode = "ok"
					var g struct {
						Errors []struct {
							Extensions struct{ Code string }
						}
					}
					if json.Unmarshal(out, &g) == nil && len(g.Errors) > 0 {
						st.gqlCode = g.Errors[0].Extensions.Code
					}
				}
				smu.Unlock()
			}
		}()
	}
	rwg.Wait()
	fmt.Println("| read | requests | largest answer | slowest | HTTP errors | GraphQL |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	for i, rd := range reads {
		st := stats[i]
		fmt.Printf("| %s | %d | %.1f KB | %d ms | %d | %s |\n", rd.name, st.n, float64(st.maxBytes)/1e3, st.maxDur.Milliseconds(), st.errs, st.gqlCode)
	}
	peak := rss(prod, "VmHWM")
	fmt.Printf("\nproducer peak RSS during the reads: %d MB (Kubernetes limit 512 MiB = 537 MB)\n", peak)
	fmt.Printf("Redis memory above the data during the reads: peak %d MB (sampled every 20 ms)\n", peakRedis.Load()/1e6)
	if peak*1e6 >= 512<<20 {
		return fmt.Errorf("the producer's peak RSS (%d MB) passed the pod's memory limit", peak)
	}
	return nil
}

func do(hc *http.Client, method, url, key, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// rss reads a /proc/<pid>/status field in MB.
func rss(p *exec.Cmd, field string) int64 {
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Process.Pid))
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb * 1024 / 1e6
		}
	}
	return -1
}

func redisMem(r *redis.Client, field string) int64 {
	info, _ := r.Info(context.Background(), "memory").Result()
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			m, _ := strconv.ParseInt(v, 10, 64)
			return m
		}
	}
	return 0
}

func freePort() int {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func start(dir string, env []string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(*bin, args...)
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.log", args[0], time.Now().UnixNano())))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	return cmd, cmd.Start()
}

func waitReady(url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s never became ready", url)
}
