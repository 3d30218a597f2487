// Command benchrun measures the whole pipeline (make bench): it starts
// redis-server, Herald (all-in-one, and split into a producer and two
// workers as separate processes) and a loopback receiver, sends N callbacks
// through the HTTP API (and through NATS ingest), and reports accept rate
// and latency, accept-to-sent latency from the log, drain rate, Redis
// memory per message, Herald RSS and CPU, against a baseline of the same
// receiver hit directly. It exits non-zero if any message is lost.
//
//	go run ./internal/benchrun -n 100000
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/pkg/client"
)

var (
	n           = flag.Int("n", 100000, "messages per run")
	concurrency = flag.Int("c", 64, "concurrent senders")
	modes       = flag.String("modes", "serve,split", "comma-separated: serve (all-in-one), split (producer + 2 workers)")
	vias        = flag.String("via", "http,nats", "comma-separated: http, nats")
	bin         = flag.String("bin", "", "herald binary (default: build one)")
	latency     = flag.Bool("latency", true, "also measure latency at fixed offered rates")
	keep        = flag.Bool("keep", false, "keep the work directory")
	profile     = flag.String("profile", "", "write a CPU profile of the serve process during the serve/http run to this file")
)

const key = "hk_bench_key_000000000000000000000000000000"

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "herald-bench-")
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
	rc := newReceiver()
	defer rc.srv.Close()

	fmt.Printf("# Herald end to end, %d messages, %d concurrent senders\n\n", *n, *concurrency)
	fmt.Printf("machine: %d CPUs (%s); everything on this machine\n\n", cpuCount(), cpuModel())

	base := baseline(rc)
	fmt.Printf("baseline: the receiver hit directly by %d Go clients: %.0f requests/s\n\n", *concurrency, base)

	fmt.Println("| mode | via | accepted/s | accept p50 | accept p99 | accept→sent p50 | accept→sent p99 | delivered/s | vs bare | receiver got | Redis B/msg | Herald RSS (peak) | Herald CPU |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	lost := false
	var lat []string
	for _, mode := range strings.Split(*modes, ",") {
		for _, via := range strings.Split(*vias, ",") {
			if mode == "split" && via == "nats" {
				continue // ingest users live on serve's embedded server
			}
			res, err := runOnce(dir, rc, mode, via)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", mode, via, err)
			}
			lost = lost || res.lost
			fmt.Printf("| %s | %s | %.0f | %s | %s | %s | %s | %.0f | %.2f | %d/%d distinct | %.0f | %s | %s |\n",
				mode, via, res.acceptRate, ms(res.acceptP50), ms(res.acceptP99), ms(res.sentP50), ms(res.sentP99),
				res.drainRate, res.drainRate/base, res.distinct, *n, res.redisPerMsg, res.rss, res.cpu)
			lat = append(lat, res.latencyRows...)
		}
	}
	if len(lat) > 0 {
		fmt.Println("\n| mode | offered | accept p50 | accept p99 | accept→sent p50 | accept→sent p99 |")
		fmt.Println("| --- | --- | --- | --- | --- | --- |")
		for _, r := range lat {
			fmt.Println(r)
		}
	}
	if lost {
		return errors.New("messages were lost or duplicated (see the receiver column)")
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// receiver counts callbacks by message id (the last path segment).
type receiver struct {
	srv   *http.Server
	url   string
	mu    sync.Mutex
	seen  map[string]int
	total atomic.Int64
}

func newReceiver() *receiver {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	rc := &receiver{url: "http://" + l.Addr().String(), seen: map[string]int{}}
	rc.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		if id != "bare" {
			rc.mu.Lock()
			rc.seen[id]++
			rc.mu.Unlock()
		}
		rc.total.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})}
	go rc.srv.Serve(l)
	return rc
}

func (rc *receiver) reset() {
	rc.mu.Lock()
	rc.seen = map[string]int{}
	rc.mu.Unlock()
	rc.total.Store(0)
}

func (rc *receiver) counts() (distinct, dup int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, c := range rc.seen {
		distinct++
		if c > 1 {
			dup += c - 1
		}
	}
	return
}

// baseline is the receiver's rate under a plain Go loop with the same
// concurrency: what the machine does without Herald in between.
func baseline(rc *receiver) float64 {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}
	body := []byte(`{"order":"bare","items":[1,2,3]}`)
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*n) {
				resp, err := hc.Post(rc.url+"/hooks/bare", "application/json", bytes.NewReader(body))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	rate := float64(*n) / time.Since(start).Seconds()
	rc.reset()
	return rate
}

type result struct {
	acceptRate           float64
	acceptP50, acceptP99 time.Duration
	sentP50, sentP99     time.Duration
	drainRate            float64
	distinct             int
	lost                 bool
	redisPerMsg          float64
	rss, cpu             string
	latencyRows          []string
}

// cluster is one Herald deployment under test.
type cluster struct {
	procs   []*exec.Cmd
	httpURL string
	natsURL string
	redis   *redis.Client
}

func (c *cluster) stop() {
	for _, p := range c.procs {
		_ = p.Process.Signal(os.Interrupt)
	}
	for _, p := range c.procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = p.Process.Kill()
		}
	}
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

func deploy(dir, mode string, rc *receiver) (*cluster, error) {
	runDir, err := os.MkdirTemp(dir, mode+"-")
	if err != nil {
		return nil, err
	}
	redisPort := freePort()
	rs := exec.Command("redis-server", "--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", runDir)
	if err := rs.Start(); err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	c := &cluster{procs: []*exec.Cmd{rs}}
	c.redis = redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(redisPort)})
	for range 100 {
		if c.redis.Ping(context.Background()).Err() == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	natsPort, httpPort := freePort(), freePort()
	pprofPort = freePort()
	cfgPath := filepath.Join(runDir, "herald.yaml")
	yaml := fmt.Sprintf(`
log: { level: warn }
nats:
  listen: "127.0.0.1:%d"
  ingest_users: [{ user: bench, password_env: BENCH_NATS_PASSWORD, workspace: bench }]
delivery: { concurrency: 128, retries: 3, backoff_initial: 100ms }
breaker: { failures: 1000 }
workspaces:
  - id: bench
    keys: [{ name: bench, sha256: %q, scopes: [notifications:send, notifications:read] }]
    products:
      - tag: shop
        envs: [prd]
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                callback: { url: "%s/hooks/{id}" }
`, natsPort, config.HashKey(key), rc.url)
	if mode == "split" {
		yaml = strings.Replace(yaml, "  ingest_users:", "  ingest_users: []\n  #", 1)
	}
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	env := []string{"HERALD_REDIS_URL=redis://127.0.0.1:" + strconv.Itoa(redisPort) + "/0", "HERALD_DATA_DIR=" + runDir,
		"HERALD_ALLOW_PRIVATE_NETWORKS=true", "BENCH_NATS_PASSWORD=bench-pw"}
	c.httpURL = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	switch mode {
	case "serve":
		p, err := start(runDir, append(env, "HERALD_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort), "HERALD_PPROF_ADDR=127.0.0.1:"+strconv.Itoa(pprofPort)), "serve", "--config", cfgPath)
		if err != nil {
			return c, err
		}
		c.procs = append(c.procs, p)
		c.natsURL = fmt.Sprintf("nats://bench:bench-pw@127.0.0.1:%d", natsPort)
	case "split":
		ns, err := start(runDir, nil, "dev", "nats", "--listen", "127.0.0.1:"+strconv.Itoa(natsPort), "--store-dir", runDir)
		if err != nil {
			return c, err
		}
		c.procs = append(c.procs, ns)
		c.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
		env = append(env, "HERALD_NATS_URL="+c.natsURL)
		time.Sleep(time.Second)
		p, err := start(runDir, append(env, "HERALD_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort)), "producer", "--config", cfgPath)
		if err != nil {
			return c, err
		}
		c.procs = append(c.procs, p)
		for range 2 {
			w, err := start(runDir, append(env, "HERALD_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(freePort())), "worker", "--config", cfgPath)
			if err != nil {
				return c, err
			}
			c.procs = append(c.procs, w)
		}
	default:
		return c, fmt.Errorf("unknown mode %q", mode)
	}
	return c, waitReady(c.httpURL)
}

// heraldProcs are the Herald processes of a cluster (not redis or nats).
func (c *cluster) heraldProcs() []*exec.Cmd {
	var out []*exec.Cmd
	for _, p := range c.procs {
		if filepath.Base(p.Path) == filepath.Base(*bin) && p.Args[1] != "dev" {
			out = append(out, p)
		}
	}
	return out
}

func procStats(ps []*exec.Cmd) (rss string, cpu time.Duration) {
	var parts []string
	for _, p := range ps {
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Process.Pid))
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.Atoi(strings.Fields(v)[0])
				parts = append(parts, fmt.Sprintf("%s %d MB", p.Args[1], kb/1024))
			}
		}
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Process.Pid))
		f := strings.Fields(string(stat))
		if len(f) > 15 {
			u, _ := strconv.Atoi(f[13])
			s, _ := strconv.Atoi(f[14])
			cpu += time.Duration(u+s) * 10 * time.Millisecond // USER_HZ = 100
		}
	}
	return strings.Join(parts, ", "), cpu
}

func usedMemory(r *redis.Client) int64 {
	info, _ := r.Info(context.Background(), "memory").Result()
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			m, _ := strconv.ParseInt(v, 10, 64)
			return m
		}
	}
	return 0
}

// sender sends message i and returns when it was accepted.
type sender func(i int) error

func httpSender(url string) sender {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency * 2}, Timeout: 30 * time.Second}
	return func(i int) error {
		body := fmt.Sprintf(`{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"params":{"id":"m%d"},"body":{"order":"m%d","items":[1,2,3],"note":"benchmark"}}}`, i, i)
		req, _ := http.NewRequest("POST", url+"/v1/notifications/callback/send", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}

func natsSender(url string) (sender, func(), error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, nil, err
	}
	return func(i int) error {
		body := fmt.Sprintf(`{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"params":{"id":"m%d"},"body":{"order":"m%d","items":[1,2,3],"note":"benchmark"}}}`, i, i)
		msg, err := nc.Request("herald.in.bench.send.callback", []byte(body), 30*time.Second)
		if err != nil {
			return err
		}
		if s := msg.Header.Get("Herald-Status"); s != "202" {
			return fmt.Errorf("status %s: %s", s, msg.Data)
		}
		return nil
	}, nc.Close, nil
}

// send sends count messages numbered from first, from the concurrent
// senders; rate > 0 paces them open-loop at that many per second.
func send(s sender, first, count int, rate float64) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, count)
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= count {
					return
				}
				if rate > 0 {
					if d := time.Until(start.Add(time.Duration(float64(k) / rate * float64(time.Second)))); d > 0 {
						time.Sleep(d)
					}
				}
				t0 := time.Now()
				if err := s(first + k); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				lat[k] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if f := failed.Load(); f > 0 {
		return lat, took, fmt.Errorf("%d sends refused, first: %v", f, firstErr.Load())
	}
	return lat, took, nil
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// sentLatencies reads accept→sent (updated_at - created_at) of every sent
// message from the log, and the time the last one was sent.
func sentLatencies(url string, count int, since time.Time) ([]time.Duration, time.Time, error) {
	c, err := client.New(url, key)
	if err != nil {
		return nil, time.Time{}, err
	}
	var out []time.Duration
	var last time.Time
	for m, err := range c.Messages(context.Background(), client.MessageFilter{Status: client.StatusSent, Start: since}, 200) {
		if err != nil {
			return nil, last, err
		}
		out = append(out, m.UpdatedAt.Sub(m.CreatedAt))
		if m.UpdatedAt.After(last) {
			last = m.UpdatedAt
		}
	}
	return out, last, nil
}

func waitSent(url string, want int, since time.Time) error {
	c, _ := client.New(url, key)
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		p, err := c.ListMessages(context.Background(), client.MessageQuery{MessageFilter: client.MessageFilter{Status: client.StatusSent, Start: since}, Limit: 1})
		if err == nil && p.Total >= int64(want) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not every message was sent within 10 minutes")
}

var (
	offset    atomic.Int64
	pprofPort int
)

// cpuProfile fetches a CPU profile of the serve process while fn runs.
func cpuProfile(seconds int, fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", pprofPort, seconds))
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			return
		}
		_, _ = io.Copy(f, resp.Body)
		f.Close()
	}()
	fn()
	<-done
}

func runOnce(dir string, rc *receiver, mode, via string) (*result, error) {
	c, err := deploy(dir, mode, rc)
	if err != nil {
		if c != nil {
			c.stop()
		}
		return nil, err
	}
	defer c.stop()
	rc.reset()
	s := httpSender(c.httpURL)
	if via == "nats" {
		if mode == "split" {
			return nil, fmt.Errorf("nats ingest is measured on serve (its embedded server has the ingest users)")
		}
		ns, closeNC, err := natsSender(c.natsURL)
		if err != nil {
			return nil, err
		}
		defer closeNC()
		s = ns
	}
	mem0 := usedMemory(c.redis)
	_, cpu0 := procStats(c.heraldProcs())
	first := int(offset.Add(int64(*n)*10)) - *n*10
	since := time.Now().Add(-time.Second)
	var lat []time.Duration
	var took time.Duration
	run := func() { lat, took, err = send(s, first, *n, 0) }
	if *profile != "" && mode == "serve" && via == "http" {
		cpuProfile(10, run)
	} else {
		run()
	}
	if err != nil {
		return nil, err
	}
	res := &result{acceptRate: float64(*n) / took.Seconds(), acceptP50: pct(lat, .5), acceptP99: pct(lat, .99)}
	if err := waitSent(c.httpURL, *n, since); err != nil {
		return nil, err
	}
	sent, last, err := sentLatencies(c.httpURL, *n, since)
	if err != nil {
		return nil, err
	}
	res.sentP50, res.sentP99 = pct(sent, .5), pct(sent, .99)
	res.drainRate = float64(*n) / last.Sub(since.Add(time.Second)).Seconds()
	distinct, dup := rc.counts()
	res.distinct = distinct
	res.lost = distinct != *n || dup != 0 || len(sent) != *n
	res.redisPerMsg = float64(usedMemory(c.redis)-mem0) / float64(*n)
	var cpu1 time.Duration
	res.rss, cpu1 = procStats(c.heraldProcs())
	res.cpu = fmt.Sprintf("%.1f s (%.0f µs/msg)", (cpu1 - cpu0).Seconds(), float64((cpu1-cpu0).Microseconds())/float64(*n))

	if *latency && via == "http" {
		for _, rate := range []float64{2000, 5000} {
			count := int(rate * 10) // ten seconds
			rc.reset()
			since := time.Now().Add(-time.Second)
			first := int(offset.Add(int64(count)*10)) - count*10
			lat, _, err := send(s, first, count, rate)
			if err != nil {
				return nil, err
			}
			if err := waitSent(c.httpURL, count, since); err != nil {
				return nil, err
			}
			sent, _, err := sentLatencies(c.httpURL, count, since)
			if err != nil {
				return nil, err
			}
			res.latencyRows = append(res.latencyRows, fmt.Sprintf("| %s | %.0f msg/s for 10 s | %s | %s | %s | %s |", mode, rate,
				ms(pct(lat, .5)), ms(pct(lat, .99)), ms(pct(sent, .5)), ms(pct(sent, .99))))
		}
	}
	return res, nil
}

func cpuCount() int {
	data, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(data), "processor\t:")
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "model name\t: "); ok {
			return v
		}
	}
	return "unknown CPU"
}
