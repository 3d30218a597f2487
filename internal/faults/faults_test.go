package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/testutil"
)

// report prints what a scenario measured.
func report(t *testing.T, e *env, results []sendResult, dups int, start time.Time) {
	tries := 0
	for _, r := range results {
		tries += r.tries
	}
	t.Logf("%d sends accepted after %d tries; %d duplicate deliveries (at least once); %s\nwarnings and errors logged:\n%s",
		len(results), tries, dups, time.Since(start).Round(time.Millisecond), e.logSummary())
}

// kill -9 of worker processes in the middle of a 20,000-message run: every
// accepted message ends sent and reaches the receiver. JetStream redelivers
// what a dead worker held after ack_wait; the redelivery checks the entry
// first, so a message already recorded as sent is not sent again.
func TestKillWorkersMidRun(t *testing.T) {
	start := time.Now()
	e := startEnv(t, envOptions{workers: 3})
	const n = 20000
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	killed := make(chan string, 8)
	// Kills follow deliveries, not sends: the workers are mid-delivery.
	go func() {
		for _, at := range []struct {
			delivered int
			do        func()
		}{
			{n / 5, func() { e.workers[0].kill(); killed <- "worker0" }},
			{n / 5 * 2, func() { e.workers[1].kill(); killed <- "worker1"; e.restartWorker(0) }},
			{n / 5 * 3, func() { e.workers[2].kill(); killed <- "worker2"; e.restartWorker(1) }},
		} {
			for e.rc.delivered() < at.delivered && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			if ctx.Err() != nil {
				return
			}
			at.do()
		}
		close(killed)
	}()
	results := e.sendAll(ctx, n, 32, nil)
	for w := range killed {
		t.Logf("killed %s with SIGKILL", w)
	}
	dups := e.checkNoneLost(results, 3*time.Minute)
	report(t, e, results, dups, start)
	for _, r := range results {
		require.Equal(t, 1, r.tries, "no send was refused: only workers died")
	}
}

// kill -9 of the JetStream server mid-run and a restart on the same port
// and store a few seconds later: sends are refused with 503 while it is
// down (and retried by the client with the same cache tag), nothing
// accepted is lost, nothing refused is delivered, and the producer and
// workers recover without a restart.
func TestNATSRestartMidRun(t *testing.T) {
	e, dups := restartMidRun(t, "JetStream server", func(e *env) { e.nats.kill() }, func(e *env) { e.startNATS() })
	// The restarted server forgot some deliveries it made; the workers
	// check entries after a reconnection, so none is sent twice.
	require.Zero(t, dups, "deliveries repeated after the JetStream restart")
	for _, w := range append(e.workers, e.producer) {
		require.True(t, w.logContains("nats reconnected"), "%s reconnected by itself", w.name)
	}
}

// restartMidRun sends 5,000 messages while a dependency is killed a third
// of the way through and started again 3 s later, checks that none is lost
// and returns the environment and how many deliveries were repeated.
func restartMidRun(t *testing.T, what string, kill, restart func(*env)) (*env, int) {
	start := time.Now()
	e := startEnv(t, envOptions{workers: 2})
	const n = 5000
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for e.rc.delivered() < n/3 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		kill(e)
		t.Logf("%s killed at %d deliveries", what, e.rc.delivered())
		time.Sleep(3 * time.Second)
		restart(e)
		t.Logf("%s back", what)
	}()
	results := e.sendAll(ctx, n, 32, nil)
	wg.Wait()
	dups := e.checkNoneLost(results, 3*time.Minute)
	report(t, e, results, dups, start)
	return e, dups
}

// kill -9 of redis-server mid-run and a restart from its append-only file:
// sends are refused with 503 while it is down, workers keep the outcome of
// deliveries in flight and record it when Redis is back, nothing accepted
// is lost and nothing refused is delivered, without restarting Herald.
func TestRedisRestartMidRun(t *testing.T) {
	e, dups := restartMidRun(t, "redis-server", func(e *env) { e.redis.kill() }, func(e *env) { e.startRedis() })
	// Workers hold the outcome of deliveries made while Redis was down
	// and record it when it is back: none is sent twice.
	require.Zero(t, dups, "deliveries repeated after the Redis restart")
	for _, u := range append(append([]string(nil), e.wURLs...), e.prodURL) {
		resp, err := e.client.Get(u + "/readyz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s is ready again", u)
	}
}

// The producer alone is cut off from JetStream for longer than its publish
// timeout, without a disconnection (a partition: bytes wait, then arrive
// late). Sends time out and are refused with 503, their entries marked
// failed with UNAVAILABLE — yet their jobs reach the stream when the link
// heals. The workers (never disconnected) must not deliver those: a job
// stored long after its message was created is checked against its entry
// first. Nothing accepted is lost.
func TestProducerPartitionedFromNATS(t *testing.T) {
	start := time.Now()
	var px *proxy
	e := startEnv(t, envOptions{workers: 2, producerNATS: func(natsURL string) string {
		px = startProxy(t, strings.TrimPrefix(natsURL, "nats://"))
		return "nats://" + px.addr
	}})
	const n = 3000
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for e.rc.delivered() < n/3 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		px.held.Store(true)
		t.Logf("producer's link to JetStream held at %d deliveries", e.rc.delivered())
		time.Sleep(8 * time.Second) // past the 5 s publish timeout, short of the 10 s ping
		px.held.Store(false)
		t.Logf("link released")
	}()
	results := e.sendAll(ctx, n, 32, nil)
	wg.Wait()
	dups := e.checkNoneLost(results, 3*time.Minute)
	report(t, e, results, dups, start)
	refused := 0
	for _, en := range e.entries("failed") {
		if en["error_code"] == "UNAVAILABLE" {
			refused++
		}
	}
	require.Positive(t, refused, "some sends timed out during the partition")
	require.Zero(t, dups)
}

var breakerOpen = regexp.MustCompile(`herald_worker_breakers\{channel="callback",state="open"\} [1-9]`)

// The receiver answers 500s and stalls past the delivery timeout for a
// while: each worker's breaker for the endpoint opens (visible in its
// /metrics), the requests during the outage stay bounded by the breakers
// (no retry storm: a few per worker per open_for, not one per message per
// retry), and everything is delivered after the receiver recovers.
func TestReceiverOutageOpensBreaker(t *testing.T) {
	start := time.Now()
	const (
		workers     = 2
		concurrency = 16
		failures    = 5
		openFor     = 2 * time.Second
		outage      = 8 * time.Second
		n           = 3000
	)
	e := startEnv(t, envOptions{workers: workers,
		delivery: fmt.Sprintf("{ retries: 20, backoff_initial: 100ms, backoff_max: 1s, timeout: 1s, concurrency: %d }", concurrency),
		breaker:  fmt.Sprintf("{ failures: %d, open_for: %s }", failures, openFor)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	results := make(chan []sendResult, 1)
	go func() { results <- e.sendAll(ctx, n, 16, nil) }()

	waitFor(t, time.Minute, "some deliveries before the outage", func() bool { return e.rc.delivered() >= n/10 })
	e.rc.failing.Store(1)
	outageStart := time.Now()
	sawOpen := make([]bool, workers)
	for time.Since(outageStart) < outage {
		for i, u := range e.wURLs {
			if breakerOpen.MatchString(e.metrics(u)) {
				sawOpen[i] = true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.rc.failing.Store(0)
	during := e.rc.failed.Load()
	for i := range sawOpen {
		require.True(t, sawOpen[i], "worker %d's breaker opened (herald_worker_breakers{state=\"open\"} in its /metrics)", i)
	}
	// Before a breaker opens, the deliveries already in flight fail too
	// (up to concurrency per worker, the failures that trip it among
	// them); then one probe per open_for per worker (half-open), and the
	// probes' failures reopen it. Twice that leaves room for a probe that
	// overlaps a trip; a storm would be thousands (messages x retries).
	probes := int(outage/openFor) + 1
	bound := int64(2 * workers * (concurrency + failures + probes))
	t.Logf("requests during the %s outage: %d (bound %d; %d messages were waiting)", outage, during, bound, n-e.rc.delivered())
	require.LessOrEqual(t, during, bound, "no retry storm while the receiver was down")

	res := <-results
	dups := e.checkNoneLost(res, 3*time.Minute)
	report(t, e, res, dups, start)
	handedBack := 0
	for _, u := range e.wURLs {
		m := e.metrics(u)
		require.Contains(t, m, `herald_worker_breaker_transitions_total{channel="callback",to="open"}`)
		c := regexp.MustCompile(`herald_worker_attempts_total\{channel="callback",outcome="circuit_open",provider="webhook"\} (\d+)`).FindStringSubmatch(m)
		require.NotNil(t, c, "messages were handed back while the breaker was open")
		n, _ := strconv.Atoi(c[1])
		handedBack += n
	}
	t.Logf("attempts refused by open breakers (recorded as CIRCUIT_OPEN, no request made): %d", handedBack)
}

// Redis down when a send arrives: 503 with code unavailable and a message
// that says why, nothing published to JetStream (no job without its log
// entry), /readyz says redis; once redis-server is back, the same process
// accepts sends again.
func TestRedisDownOnSendProcesses(t *testing.T) {
	e := startEnv(t, envOptions{workers: 1})
	body := []byte(`{"product":"shop","env":"prd","notification":"orders:confirmation","cache":"down-1","input":{"body":{"x":1}}}`)
	status, resp, err := e.post(context.Background(), "/v1/notifications/callback/send", body)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, status, "%v", resp)
	first := resp["messageId"].(string)
	waitFor(t, 30*time.Second, "the first send to be delivered", func() bool { return e.rc.count(first) == 1 })

	before := e.streamLastSeq()
	e.redis.kill()
	for i := range 5 {
		status, resp, err = e.post(context.Background(), "/v1/notifications/callback/send",
			[]byte(strings.Replace(string(body), "down-1", "down-"+strconv.Itoa(i+2), 1)))
		require.NoError(t, err)
		require.Equal(t, http.StatusServiceUnavailable, status, "%v", resp)
		eb := resp["error"].(map[string]any)
		require.Equal(t, "unavailable", eb["code"])
		require.Contains(t, eb["message"], "log store")
	}
	require.Equal(t, before, e.streamLastSeq(), "no job was published without its log entry")
	r, err := e.client.Get(e.prodURL + "/readyz")
	require.NoError(t, err)
	var ready map[string]any
	require.NoError(t, jsonDecode(r, &ready))
	require.Equal(t, http.StatusServiceUnavailable, r.StatusCode)
	require.NotEqual(t, "ok", ready["checks"].(map[string]any)["redis"])

	e.startRedis()
	waitFor(t, 30*time.Second, "the producer to accept sends again", func() bool {
		status, resp, err = e.post(context.Background(), "/v1/notifications/callback/send",
			[]byte(strings.Replace(string(body), "down-1", "after", 1)))
		return err == nil && status == http.StatusAccepted
	})
	after := resp["messageId"].(string)
	waitFor(t, 30*time.Second, "the send after the outage to be delivered", func() bool { return e.rc.count(after) == 1 })
	waitFor(t, 30*time.Second, "no entry left pending", func() bool { return e.total("pending") == 0 })
}

// Keys on real processes: a key removed from the file stops working when
// the producer gets SIGHUP, and a new one works, without a restart; a
// second producer running with --watch-config picks up a file change by
// itself (a ConfigMap mounted in Kubernetes, where nothing sends SIGHUP).
func TestKeyRotationOnRunningProcesses(t *testing.T) {
	e := startEnv(t, envOptions{workers: 1})
	const newKey = "hk_fault_suite_rotated_key_00000000000000"
	send := func(url, key string) int {
		req, err := http.NewRequest("POST", url+"/v1/notifications/callback/send",
			strings.NewReader(`{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"body":{}}}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := e.client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusAccepted, send(e.prodURL, apiKey))
	require.Equal(t, http.StatusUnauthorized, send(e.prodURL, newKey))

	// A second producer watching the file.
	port := testutil.FreePort(t)
	watcher := newProc(t, e.dir, "producer-watch", heraldBin, []string{"producer", "--config", e.cfgPath, "--watch-config", "200ms"}, e.heraldEnv(port))
	watcher.start()
	wURL := "http://127.0.0.1:" + strconv.Itoa(port)
	e.waitReady(wURL, watcher)

	e.writeConfig(config.HashKey(newKey)) // the old key removed, a new one added
	waitFor(t, 10*time.Second, "the watching producer to reload", func() bool {
		return send(wURL, apiKey) == http.StatusUnauthorized
	})
	require.Equal(t, http.StatusAccepted, send(wURL, newKey))
	require.True(t, watcher.logContains("config reloaded"))

	// The first producer has not reloaded yet: SIGHUP does it.
	require.Equal(t, http.StatusAccepted, send(e.prodURL, apiKey))
	e.producer.signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "SIGHUP's reload", func() bool {
		return send(e.prodURL, apiKey) == http.StatusUnauthorized
	})
	require.Equal(t, http.StatusAccepted, send(e.prodURL, newKey))

	// A broken file is refused; the running keys stay.
	require.NoError(t, os.WriteFile(e.cfgPath, []byte("workspaces: [ {id: acme, keys: [ {name: x} ] } ]\n"), 0o600))
	e.producer.signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the refusal to be logged", func() bool {
		return e.producer.logContains("config reload refused")
	})
	require.Equal(t, http.StatusAccepted, send(e.prodURL, newKey))
	waitFor(t, 10*time.Second, "the watcher to refuse it too", func() bool {
		return watcher.logContains("config reload refused")
	})
	require.Equal(t, http.StatusAccepted, send(wURL, newKey))
}
