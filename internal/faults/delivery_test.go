package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/queue"
)

// The delivery core's scenarios (issue 13): each reproduces an observation
// that broke the log or stalled delivery, with real processes.

// metricValue sums a metric's samples in a /metrics text (0 when absent).
func metricValue(text, name string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{[^}]*\})? ([0-9.e+-]+)$`)
	total := 0.0
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		total += v
	}
	return total
}

// workersMetric sums a metric over every worker.
func (e *env) workersMetric(name string) float64 {
	total := 0.0
	for _, u := range e.wURLs {
		total += metricValue(e.metrics(u), name)
	}
	return total
}

// entriesAs pages through a workspace's entries with a status, with key.
func (e *env) entriesAs(key, status string) []map[string]any {
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
		code, body, err := e.do(context.Background(), e.client, "GET", key, path, nil)
		require.NoError(e.t, err)
		require.Equal(e.t, http.StatusOK, code)
		raw, _ := json.Marshal(body)
		require.NoError(e.t, json.Unmarshal(raw, &page))
		out = append(out, page.Items...)
		if !page.HasMore || page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

// totalAs is the number of a workspace's entries with a status.
func (e *env) totalAs(key, status string) int {
	code, body, err := e.do(context.Background(), e.client, "GET", key, "/v1/messages?limit=1&status="+status, nil)
	if err != nil || code != http.StatusOK {
		return -1
	}
	n, _ := body["total"].(float64)
	return int(n)
}

func sendBody(order int, cache string) []byte {
	b, _ := json.Marshal(map[string]any{"product": "shop", "env": "prd", "notification": "orders:confirmation",
		"cache": cache, "input": map[string]any{"body": map[string]any{"order": order}}})
	return b
}

// checkExactlyOnce waits until no entry is pending, then checks that each
// of the n logical sends (orders 0..n-1) reached the receiver exactly once,
// that the log says sent for exactly the messages delivered, and that no
// entry the log calls failed was delivered.
func (e *env) checkExactlyOnce(n int, within time.Duration) {
	t := e.t
	t.Helper()
	waitFor(t, within, "no entry left pending", func() bool { return e.total("pending") == 0 && e.rc.delivered() >= n })
	orders := e.rc.orders()
	var missing, twice []string
	for i := range n {
		switch c := orders[strconv.Itoa(i)]; {
		case c == 0:
			missing = append(missing, strconv.Itoa(i))
		case c > 1:
			twice = append(twice, fmt.Sprintf("%d (x%d)", i, c))
		}
	}
	require.Empty(t, missing, "logical sends never delivered")
	require.Empty(t, twice, "logical sends delivered more than once (a second message for a retried cache tag)")
	sent := e.entries("sent")
	require.Len(t, sent, n, "the log says sent for exactly the messages delivered")
	for _, en := range sent {
		require.Equal(t, 1, e.rc.count(en["_id"].(string)), "sent entry %s reached the receiver once", en["_id"])
	}
	for _, en := range e.entries("failed") {
		id := en["_id"].(string)
		require.Zero(t, e.rc.count(id), "entry %s says failed (%v: %v) but was delivered", id, en["error_code"], en["error"])
	}
}

// Clients that hang up during the accept, as impatient clients do (1-5 ms
// timeouts), retrying with the same cache tag as the README advises, while
// the producer's link to JetStream pauses for 1.3 s every 2 s (so publishes
// outlive the clients): each logical send is delivered exactly once, the
// log agrees with the receiver, nothing stays pending. (Before: entries
// left pending with no job, "failed / nothing was sent" entries that were
// delivered, and a second message under a new id for retried tags.)
func TestClientHangUpsDuringAcceptHTTP(t *testing.T) {
	start := time.Now()
	var px *proxy
	e := startEnv(t, envOptions{workers: 2,
		delivery: "{ retries: 10, backoff_initial: 100ms, backoff_max: 1s, timeout: 2s, concurrency: 32, reconcile_after: 10m }",
		nats:     "{ ack_wait: 5s, duplicate_window: 20m }",
		producerNATS: func(natsURL string) string {
			px = startProxy(t, strings.TrimPrefix(natsURL, "nats://"))
			return "nats://" + px.addr
		}})
	const n = 600
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	stopPauses := pauseLink(ctx, px, 1300*time.Millisecond, 2*time.Second)
	var hungUp, tries atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				body := sendBody(i, "hang-"+strconv.Itoa(i))
				for try := 0; ctx.Err() == nil; try++ {
					tries.Add(1)
					timeout := time.Duration(1+rand.IntN(5)) * time.Millisecond
					if try >= 4 {
						timeout = 400 * time.Millisecond
					}
					if try >= 8 {
						timeout = 10 * time.Second
					}
					client := &http.Client{Timeout: timeout}
					code, _, err := e.do(ctx, client, "POST", apiKey, "/v1/notifications/callback/send", body)
					client.CloseIdleConnections()
					if err != nil {
						hungUp.Add(1)
						continue
					}
					if code == http.StatusAccepted || code == http.StatusOK {
						break
					}
					time.Sleep(20 * time.Millisecond) // 503: retried with the same tag
				}
			}
		}()
	}
	wg.Wait()
	stopPauses()
	t.Logf("%d logical sends, %d requests, %d abandoned by the client mid-request", n, tries.Load(), hungUp.Load())
	require.Positive(t, hungUp.Load(), "clients did hang up")
	e.checkExactlyOnce(n, time.Minute)
	t.Logf("unavailable entries (refused, never delivered): %d; %s\n%s", len(e.entries("failed")), time.Since(start).Round(time.Millisecond), e.logSummary())
}

// pauseLink holds the proxy's link for hold every period until stopped.
func pauseLink(ctx context.Context, px *proxy, hold, period time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			sleepFor(ctx, period-hold)
			px.held.Store(true)
			sleepFor(ctx, hold)
			px.held.Store(false)
		}
	}()
	return func() { cancel(); <-done; px.held.Store(false) }
}

func sleepFor(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// The same on NATS ingest: requesters that give up after 1-5 ms (no one
// reads the reply) and retry with the same cache tag, 64 at once: each
// logical send is delivered exactly once and nothing stays pending.
// (Before: under load the ingest's own timeout answered 503 while the
// entry was written, delivered minutes later by the reconciler.)
func TestClientHangUpsDuringAcceptNATS(t *testing.T) {
	start := time.Now()
	e := startEnv(t, envOptions{workers: 2,
		delivery: "{ retries: 10, backoff_initial: 100ms, backoff_max: 1s, timeout: 2s, concurrency: 32, reconcile_after: 10m }",
		nats:     "{ ack_wait: 5s, duplicate_window: 20m }"})
	nc, err := nats.Connect(e.natsURL)
	require.NoError(t, err)
	defer nc.Close()
	const n = 2000
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var gaveUp, busy, tries atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				body := sendBody(i, "nats-"+strconv.Itoa(i))
				for try := 0; ctx.Err() == nil; try++ {
					tries.Add(1)
					timeout := time.Duration(1+rand.IntN(5)) * time.Millisecond
					if try >= 4 {
						timeout = 5 * time.Second
					}
					m, err := nc.Request("herald.in.acme.send.callback", body, timeout)
					if err != nil {
						gaveUp.Add(1)
						continue
					}
					st, _ := strconv.Atoi(m.Header.Get("Herald-Status"))
					if st == http.StatusAccepted || st == http.StatusOK {
						break
					}
					if st == http.StatusTooManyRequests {
						busy.Add(1)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d logical sends, %d requests, %d given up by the requester, %d refused at capacity (429)", n, tries.Load(), gaveUp.Load(), busy.Load())
	require.Positive(t, gaveUp.Load(), "requesters did give up")
	e.checkExactlyOnce(n, time.Minute)

	// A burst: 20,000 requests published at once, answers collected on one
	// inbox. Past its bound the ingest refuses at once (429) instead of
	// taking them all on: every 202 is delivered once, nothing refused is,
	// and no entry is left behind pending.
	const burst = 20000
	inbox := nats.NewInbox()
	var mu sync.Mutex
	statuses := map[int]int{}
	acceptedOrders := map[string]bool{}
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		st, _ := strconv.Atoi(m.Header.Get("Herald-Status"))
		var body struct {
			MessageID string `json:"messageId"`
		}
		_ = json.Unmarshal(m.Data, &body)
		mu.Lock()
		statuses[st]++
		if st == http.StatusAccepted {
			acceptedOrders[body.MessageID] = true
		}
		mu.Unlock()
	})
	require.NoError(t, err)
	require.NoError(t, sub.SetPendingLimits(-1, -1))
	rss0 := e.producer.rss()
	for i := range burst {
		msg := nats.NewMsg("herald.in.acme.send.callback")
		msg.Reply = inbox
		msg.Data = sendBody(600000+i, "")
		require.NoError(t, nc.PublishMsg(msg))
	}
	require.NoError(t, nc.Flush())
	waitFor(t, 2*time.Minute, "an answer to every request of the burst", func() bool {
		mu.Lock()
		defer mu.Unlock()
		total := 0
		for _, c := range statuses {
			total += c
		}
		return total == burst
	})
	mu.Lock()
	accepted := statuses[http.StatusAccepted]
	t.Logf("burst of %d: answers by status %v; producer peak RSS %d MB (%d MB before)", burst, statuses, e.producer.rss()>>20, rss0>>20)
	mu.Unlock()
	require.Positive(t, statuses[http.StatusTooManyRequests], "past its bound the ingest refused")
	waitFor(t, time.Minute, "the burst's accepted messages delivered, none left pending", func() bool {
		return e.total("pending") == 0 && e.total("sent") == n+accepted
	})
	for id := range acceptedOrders {
		require.Equal(t, 1, e.rc.count(id))
	}
	t.Logf("%s\n%s", time.Since(start).Round(time.Millisecond), e.logSummary())
}

// One workspace whose endpoint answers 429 with Retry-After: 3600, with
// ten times more messages queued than the consumer's max_ack_pending,
// while another workspace sends: the other delivers everything, the
// throttled one's messages wait for their next attempt an hour away in
// Redis, holding nothing, and its endpoint gets a handful of requests.
// (Before: the waiting messages stayed ack-pending and filled the shared
// consumer's window: nobody's messages moved for hours.)
func TestThrottledWorkspaceDoesNotStallAnother(t *testing.T) {
	start := time.Now()
	e := startEnv(t, envOptions{workers: 2, globexPath: "/throttle", nats: "{ ack_wait: 5s, max_ack_pending: 100 }",
		breaker: "{ failures: 5, open_for: 2s }"})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const throttled, normal = 1000, 3000
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < throttled; i = int(next.Add(1)) - 1 {
				code, resp, err := e.do(ctx, e.client, "POST", globexKey, "/v1/notifications/callback/send", sendBody(100000+i, ""))
				require.NoError(t, err)
				require.Equal(t, http.StatusAccepted, code, "%v", resp)
			}
		}()
	}
	wg.Wait()
	waitFor(t, time.Minute, "every throttled message attempted once", func() bool {
		pending := e.entriesAs(globexKey, "pending")
		for _, en := range pending {
			if en["attempts"].(float64) < 1 {
				return false
			}
		}
		return len(pending) == throttled
	})
	waitFor(t, 30*time.Second, "herald_worker_retries_waiting to show them waiting in Redis", func() bool {
		return metricValue(e.metrics(e.wURLs[0]), "herald_worker_retries_waiting") == throttled
	})
	sendStart := time.Now()
	results := e.sendAll(ctx, normal, 32, nil)
	dups := e.checkNoneLost(results, 2*time.Minute)
	took := time.Since(sendStart)
	require.Zero(t, dups)
	for _, en := range e.entriesAs(globexKey, "pending") {
		at, err := time.Parse(time.RFC3339Nano, en["next_attempt_at"].(string))
		require.NoError(t, err)
		require.Greater(t, time.Until(at), 50*time.Minute, "the next attempt honours Retry-After: %v", en)
		require.EqualValues(t, 1, en["attempts"])
	}
	reqs := e.rc.requests("/throttle")
	t.Logf("the other workspace: %d sent in %s (%.0f/s) while %d throttled messages wait; /throttle got %d requests; ack pending now %v; %s\n%s",
		normal, took.Round(time.Millisecond), float64(normal)/took.Seconds(), throttled, reqs,
		e.workersMetric("herald_worker_queue_ack_pending_messages"), time.Since(start).Round(time.Millisecond), e.logSummary())
	require.LessOrEqual(t, reqs, 2*(32+5), "after the first 429s the endpoint is left alone until its Retry-After")
}

// An endpoint that answers 500 to everything, 2,000 messages: they follow
// their retry schedule (1 + 3 retries, 1 s doubling) and are all failed in
// about the sum of the backoffs, the endpoint gets a bounded number of
// requests (the breaker opened: later attempts are recorded as
// CIRCUIT_OPEN without a request), and the workers are idle in between:
// their CPU is reported. (Before: no message failed in 60 s, more than 2 h
// to settle, and two workers spent a third of the machine handing
// messages back to an open breaker.)
func TestDeadEndpointFailsOnSchedule(t *testing.T) {
	e := startEnv(t, envOptions{workers: 2, globexPath: "/dead",
		delivery: "{ retries: 3, backoff_initial: 1s, backoff_max: 8s, timeout: 2s, concurrency: 32, reconcile_after: 15s }",
		breaker:  "{ failures: 5, open_for: 30s }"})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const n = 2000
	cpu0 := []time.Duration{e.workers[0].cpu(), e.workers[1].cpu()}
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				code, resp, err := e.do(ctx, e.client, "POST", globexKey, "/v1/notifications/callback/send", sendBody(200000+i, ""))
				require.NoError(t, err)
				require.Equal(t, http.StatusAccepted, code, "%v", resp)
			}
		}()
	}
	wg.Wait()
	sent := time.Since(start)
	// 1 s + 2 s + 4 s of backoff (±20 % jitter) after each first attempt.
	waitFor(t, 2*time.Minute, "every message of the dead endpoint failed", func() bool { return e.totalAs(globexKey, "failed") == n })
	settled := time.Since(start)
	cpu1 := []time.Duration{e.workers[0].cpu(), e.workers[1].cpu()}
	sleepFor(ctx, 5*time.Second)
	cpu2 := []time.Duration{e.workers[0].cpu(), e.workers[1].cpu()}
	for _, en := range e.entriesAs(globexKey, "failed") {
		require.EqualValues(t, 4, en["attempts"], "1 + 3 retries: %v", en)
	}
	reqs := e.rc.requests("/dead")
	busy := cpu1[0] - cpu0[0] + cpu1[1] - cpu0[1]
	idle := cpu2[0] - cpu1[0] + cpu2[1] - cpu1[1]
	t.Logf("%d messages accepted in %s, all failed after %s (backoff sum 7 s); /dead got %d requests; "+
		"workers' CPU: %s over the %s run (%.1f%% of one core, %.0f µs per attempt), %s over the next 5 s idle; %d attempts recorded\n%s",
		n, sent.Round(time.Millisecond), settled.Round(time.Millisecond), reqs, busy, settled.Round(time.Millisecond),
		100*busy.Seconds()/settled.Seconds(), float64(busy.Microseconds())/float64(4*n), idle,
		int(e.workersMetric("herald_worker_attempts_total")), e.logSummary())
	require.LessOrEqual(t, reqs, 2*(32+5+2), "the breakers bound the requests (in flight when they opened, plus probes)")
}

// Cancelled means not sent: 200 queued messages marked failed with PATCH
// before any worker runs are never delivered; a message sent after them
// is. (Before: all 200 were delivered, the log saying cancelled with 0
// attempts.)
func TestCancelQueuedMessages(t *testing.T) {
	e := startEnv(t, envOptions{workers: 0})
	ctx := context.Background()
	var ids []string
	for i := range 200 {
		code, resp, err := e.post(ctx, "/v1/notifications/callback/send", sendBody(300000+i, ""))
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, code)
		ids = append(ids, resp["messageId"].(string))
	}
	for _, id := range ids {
		code, resp, err := e.do(ctx, e.client, "PATCH", apiKey, "/v1/messages/"+id, []byte(`{"status":"failed","reason":"changed my mind"}`))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "%v", resp)
	}
	e.addWorker(0)
	code, resp, err := e.post(ctx, "/v1/notifications/callback/send", sendBody(1, ""))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, code)
	after := resp["messageId"].(string)
	waitFor(t, 30*time.Second, "the message sent after to be delivered", func() bool { return e.rc.count(after) == 1 })
	waitFor(t, 30*time.Second, "every cancelled job consumed", func() bool {
		return e.workersMetric("herald_worker_redeliveries_suppressed_total") >= 200
	})
	for _, id := range ids {
		require.Zero(t, e.rc.count(id), "cancelled message %s was delivered", id)
	}
	for _, en := range e.entries("failed") {
		require.Equal(t, "CANCELLED", en["error_code"])
		require.EqualValues(t, 0, en["attempts"])
	}
	require.Len(t, e.entries("failed"), 200)
}

// The JetStream store wiped and the server restarted mid-run: the roles
// recreate the streams and consumers by themselves, /readyz says the
// stream is missing until they have (reported: it is a short window),
// sends are accepted again, and every accepted message is delivered — the
// jobs lost with the store are queued again by the reconciler. (Before:
// every send answered 503 indefinitely while /readyz was green.)
func TestJetStreamStoreWiped(t *testing.T) {
	start := time.Now()
	e := startEnv(t, envOptions{workers: 2})
	const n = 4000
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var sawMissing atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for e.rc.delivered() < n/3 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		e.nats.kill()
		require.NoError(t, os.RemoveAll(filepath.Join(e.dir, "nats")))
		t.Logf("JetStream killed and its store wiped at %d deliveries", e.rc.delivered())
		time.Sleep(2 * time.Second)
		e.startNATS()
		t.Logf("JetStream back, empty")
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			green := 0
			for _, u := range append([]string{e.prodURL}, e.wURLs...) {
				resp, err := e.client.Get(u + "/readyz")
				if err != nil {
					continue
				}
				var body map[string]any
				_ = jsonDecode(resp, &body)
				if resp.StatusCode == http.StatusOK {
					green++
				} else if strings.Contains(fmt.Sprint(body["checks"]), "missing") {
					sawMissing.Add(1)
				}
			}
			if green == 1+len(e.wURLs) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("the roles never became ready again")
	}()
	results := e.sendAll(ctx, n, 32, nil)
	wg.Wait()
	dups := e.checkNoneLost(results, 3*time.Minute)
	report(t, e, results, dups, start)
	t.Logf("/readyz answers naming the missing stream: %d", sawMissing.Load())
	require.True(t, e.producer.logContains("JetStream layout was missing; recreated it") || anyLog(e.workers, "JetStream layout was missing; recreated it"))

	// A backlog lost with the store: 500 accepted while no worker runs,
	// then the store wiped again. The reconciler (worker role) queues each
	// again once, and counts exactly those.
	for _, w := range e.workers {
		w.kill()
	}
	var backlog []string
	for i := range 500 {
		code, resp, err := e.post(ctx, "/v1/notifications/callback/send", sendBody(500000+i, ""))
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, code, "%v", resp)
		backlog = append(backlog, resp["messageId"].(string))
	}
	e.nats.kill()
	require.NoError(t, os.RemoveAll(filepath.Join(e.dir, "nats")))
	e.startNATS()
	e.restartWorker(0)
	e.restartWorker(1)
	for _, id := range backlog {
		waitFor(t, 2*time.Minute, "the lost backlog to be delivered", func() bool { return e.rc.count(id) >= 1 })
	}
	for _, id := range backlog {
		require.Equal(t, 1, e.rc.count(id), "delivered once")
	}
	require.EqualValues(t, len(backlog), e.workersMetric("herald_producer_reconciled_total"), "the reconciler counts the jobs JetStream stored")
}

func anyLog(ps []*proc, s string) bool {
	for _, p := range ps {
		if p.logContains(s) {
			return true
		}
	}
	return false
}

// Redis restored from an older RDB snapshot after everything was
// delivered (and JetStream restarted, so that its duplicate window does not
// hide what follows): the entries pending at the snapshot (their jobs
// delivered since) are not sent again — the ledger notices the counters went back
// and the reconciler withholds them — and sends work after the restore.
// (Before: the reconciler republished them: 264 duplicates in one run, and
// its metric also counted the republishes JetStream dropped as duplicates.)
func TestRedisRestoredFromSnapshot(t *testing.T) {
	start := time.Now()
	e := startEnv(t, envOptions{workers: 2, redisArgs: []string{"--save", "", "--appendonly", "no"}})
	const n = 3000
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var snapPending int
	var snapAt time.Time
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for e.rc.delivered() < n/3 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		require.NoError(t, e.rdb.Save(ctx).Err())
		snapAt = time.Now()
		snapPending = e.total("pending")
		t.Logf("RDB snapshot at %d deliveries (about %d pending)", e.rc.delivered(), snapPending)
	}()
	results := e.sendAll(ctx, n, 32, nil)
	wg.Wait()
	dups := e.checkNoneLost(results, 3*time.Minute)
	require.Zero(t, dups)
	before := e.rc.total.Load()
	// The ledger detects a restore from a snapshot older than its last
	// checkpoint (every second); a snapshot newer than that is its blind
	// spot (docs/ARCHITECTURE.md, "Durability"). On an idle machine the
	// 3,000 sends finish within a second of the snapshot, so wait until a
	// checkpoint covers every entry, and until the ledger's vouch saved in
	// the snapshot (3 s TTL) has expired, before going back in time.
	waitForCheckpoint(t, e, "acme", 30*time.Second)
	sleepFor(ctx, time.Until(snapAt.Add(4*time.Second)))

	// JetStream restarts too (store kept): it rebuilds its duplicate window
	// from the messages it still holds, and the delivered jobs are gone, so
	// it no longer remembers their ids. (Otherwise the window would hide
	// a re-send for its first 2 minutes, not prevent it.)
	e.nats.kill()
	e.startNATS()
	e.redis.kill()
	e.startRedis() // loads the snapshot: the log goes back in time
	t.Logf("redis-server restarted from the snapshot: %d entries pending again", e.total("pending"))
	// Past reconcile_after (15 s) and several reconciler runs (every 3 s):
	// the time in which the reconciler used to send them again.
	sleepFor(ctx, 25*time.Second)
	require.Equal(t, before, e.rc.total.Load(), "nothing was sent again after the restore")
	require.GreaterOrEqual(t, e.workersMetric("herald_worker_log_store_rollbacks_total"), 1.0, "the ledger noticed the rollback")
	if snapPending > 0 {
		require.Positive(t, e.workersMetric("herald_worker_reconcile_withheld"), "the reconciler withheld the entries pending at the snapshot")
	}
	for i := range n {
		require.LessOrEqual(t, e.rc.orders()[strconv.Itoa(i)], 1, "order %d delivered twice", i)
	}
	// Sends after the restore are delivered.
	var after []string
	for i := range 50 {
		code, resp, err := e.post(ctx, "/v1/notifications/callback/send", sendBody(400000+i, ""))
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, code, "%v", resp)
		after = append(after, resp["messageId"].(string))
	}
	for _, id := range after {
		waitFor(t, 30*time.Second, "a send after the restore to be delivered", func() bool { return e.rc.count(id) == 1 })
	}
	t.Logf("withheld by the reconciler: %v; republished: %v; %s\n%s", e.workersMetric("herald_worker_reconcile_withheld"),
		e.workersMetric("herald_producer_reconciled_total"), time.Since(start).Round(time.Millisecond), e.logSummary())
}

// The durability contract of each Redis persistence mode, measured: Redis
// is killed with SIGKILL a third of the way through 3,000 sends and
// started again 2 s later from whatever it persisted. In every mode no
// accepted send is lost and none is delivered twice; what differs is how
// much of the log survives (docs/ARCHITECTURE.md, "Durability"). A process
// kill loses nothing an append-only file was given (the OS has it), so
// AOF everysec and always only differ on a power failure, which this
// cannot show; the append-only file is the suite's default, measured by
// TestRedisRestartMidRun (nothing lost, nothing sent twice).
func TestRedisPersistenceModes(t *testing.T) {
	modes := []struct {
		name string
		args []string
	}{
		{"none", []string{"--save", "", "--appendonly", "no"}},
		{"rdb every 1s", []string{"--save", "1 1", "--appendonly", "no"}},
	}
	var rows []string
	for _, m := range modes {
		t.Run(strings.ReplaceAll(m.name, " ", "_"), func(t *testing.T) {
			start := time.Now()
			e := startEnv(t, envOptions{workers: 2, redisArgs: m.args})
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
				e.redis.kill()
				time.Sleep(2 * time.Second)
				e.startRedis()
			}()
			results := e.sendAll(ctx, n, 32, nil)
			wg.Wait()
			// Every accepted send reaches the receiver, whatever the log.
			for i, r := range results {
				require.NotEmpty(t, r.id, "send %d never accepted", i)
			}
			waitFor(t, 2*time.Minute, "every logical send delivered", func() bool {
				o := e.rc.orders()
				for i := range n {
					if o[strconv.Itoa(i)] == 0 {
						return false
					}
				}
				return true
			})
			sleepFor(ctx, 20*time.Second) // past reconcile_after: nothing more is sent
			dups, inLog, pending, missing := 0, 0, 0, 0
			for i, c := range e.rc.orders() {
				if c > 1 {
					dups += c - 1
					t.Logf("order %s delivered %d times", i, c)
				}
			}
			sent := map[string]bool{}
			for _, en := range e.entries("sent") {
				sent[en["_id"].(string)] = true
			}
			for _, r := range results {
				code := e.get("/v1/messages/"+r.id, nil)
				switch {
				case sent[r.id]:
					inLog++
				case code == http.StatusNotFound:
					missing++
				default:
					pending++
				}
			}
			row := fmt.Sprintf("| %s | %d | 0 | %d | %d (%.1f%%) | %d | %d | %v | %v | %v |", m.name, n, dups, inLog, 100*float64(inLog)/n, pending, missing,
				e.workersMetric("herald_worker_orphan_jobs_total"), e.workersMetric("herald_worker_reconcile_withheld"),
				e.workersMetric("herald_worker_log_store_rollbacks_total"))
			rows = append(rows, row)
			t.Logf("%s; %s\n%s", row, time.Since(start).Round(time.Millisecond), e.logSummary())
			require.Zero(t, dups, "a message delivered twice")
		})
	}
	t.Logf("\n| Redis persistence | accepted | lost | delivered twice | log says sent | log says pending | not in the log | delivered without a log entry | withheld by the reconciler | rollbacks detected |\n"+
		"| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n%s", strings.Join(rows, "\n"))
}

// waitForCheckpoint waits until the ledger's checkpoint of ws (JetStream
// KV) has reached the log store's entry counter in Redis.
func waitForCheckpoint(t *testing.T, e *env, ws string, within time.Duration) {
	t.Helper()
	nc, err := nats.Connect(e.natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	var seq int64
	waitFor(t, within, "the ledger's checkpoint to cover every entry", func() bool {
		kv, err := js.KeyValue(ctx, queue.LedgerBucket)
		if err != nil {
			return false
		}
		cur, err := kv.Get(ctx, ws)
		if err != nil {
			return false
		}
		f := strings.Fields(string(cur.Value()))
		if len(f) != 3 {
			return false
		}
		cp, _ := strconv.ParseInt(f[0], 10, 64)
		seq, _ = e.rdb.HGet(ctx, "herald:{"+ws+"}:meta", "seq").Int64()
		return seq > 0 && cp >= seq
	})
}
