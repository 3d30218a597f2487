package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/queue"
	tu "github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/worker"
	"github.com/heraldhq/herald/worker/channel"
)

// fake is the test's deliverer: the endpoint is the input's "ep", and
// each endpoint answers as its behaviour says. It counts requests (calls
// that reached it: a refused attempt never does) by message and endpoint.
type fake struct {
	mu       sync.Mutex
	behave   map[string]func(ctx context.Context, m *channel.Message) (channel.Result, error)
	byMsg    map[string]int
	byEP     map[string]int
	inflight map[string]int
	maxIn    map[string]int
}

func newFake() *fake {
	return &fake{behave: map[string]func(context.Context, *channel.Message) (channel.Result, error){},
		byMsg: map[string]int{}, byEP: map[string]int{}, inflight: map[string]int{}, maxIn: map[string]int{}}
}

func endpointOf(m *channel.Message) string {
	var in struct {
		EP string `json:"ep"`
	}
	_ = json.Unmarshal(m.Input, &in)
	return "https://" + in.EP
}

func (f *fake) on(ep string, fn func(ctx context.Context, m *channel.Message) (channel.Result, error)) {
	f.mu.Lock()
	f.behave["https://"+ep] = fn
	f.mu.Unlock()
}

func (f *fake) Endpoint(m *channel.Message) (string, error) { return endpointOf(m), nil }

func (f *fake) Deliver(ctx context.Context, m *channel.Message) (channel.Result, error) {
	ep := endpointOf(m)
	f.mu.Lock()
	f.byMsg[m.ID]++
	f.byEP[ep]++
	f.inflight[ep]++
	f.maxIn[ep] = max(f.maxIn[ep], f.inflight[ep])
	fn := f.behave[ep]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight[ep]--
		f.mu.Unlock()
	}()
	if fn == nil {
		return channel.Result{StatusCode: 200}, nil
	}
	return fn(ctx, m)
}

func (f *fake) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byMsg[id]
}

func (f *fake) requests(ep string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byEP["https://"+ep]
}

func (f *fake) peak(ep string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxIn["https://"+ep]
}

const yaml = `
workspaces:
  - id: acme
    products:
      - tag: shop
        envs: [prd]
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                callback: { url: "https://hooks.example.com/x" }
  - id: globex
    products:
      - tag: shop
        envs: [prd]
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                callback: { url: "https://hooks.example.com/x" }
`

// env is one worker's world: a real redis-server, an embedded JetStream,
// the log store and the queue, and a fake deliverer.
type env struct {
	t     *testing.T
	store *logstore.Store
	q     *queue.Queue
	fake  *fake
	cfg   *config.Config
	reg   *prometheus.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	r := tu.StartRedis(t)
	ns := tu.StartNATS(t)
	_, js := tu.JetStream(t, ns.ClientURL())
	cfg, err := config.Parse([]byte(yaml), func(string) string { return "" })
	require.NoError(t, err)
	e := &env{t: t, store: logstore.New(r.Client, logstore.Config{}), q: queue.New(js, queue.Config{}), fake: newFake(), cfg: cfg}
	t.Cleanup(e.store.Close)
	require.NoError(t, e.q.Ensure(context.Background()))
	return e
}

// start runs a worker with test-sized settings, changed by mod.
func (e *env) start(mod func(*worker.Config)) *worker.Worker {
	e.t.Helper()
	e.reg = prometheus.NewRegistry()
	c := worker.Config{
		Config: func() *config.Config { return e.cfg }, Store: e.store, Queue: e.q,
		Deliverers: map[string]worker.Deliverer{"callback": e.fake}, Concurrency: 8, AckWait: 5 * time.Second,
		BackoffInitial: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		BreakerFailures: 1000, BreakerOpenFor: time.Second, LagInterval: 200 * time.Millisecond,
		PumpInterval: 20 * time.Millisecond, LedgerInterval: 200 * time.Millisecond, ReconcileAfter: time.Hour,
		Registerer: e.reg,
	}
	if mod != nil {
		mod(&c)
	}
	w, err := worker.New(c)
	require.NoError(e.t, err)
	require.NoError(e.t, w.Start(context.Background()))
	e.t.Cleanup(func() { _ = w.Stop(context.Background()) })
	return w
}

// send writes a pending entry and publishes its job, as the producer does.
func (e *env) send(ws, ep string, retries int) string {
	e.t.Helper()
	ctx := context.Background()
	id := ids.New(time.Now())
	input := json.RawMessage(fmt.Sprintf(`{"ep":%q}`, ep))
	_, err := e.store.Create(ctx, &logstore.NewEntry{ID: id, Workspace: ws, ProductTag: "shop", Env: "prd", NotificationTag: "orders",
		Notification: "orders:confirmation", Type: "callback", TriggeredBy: "api", Retries: retries, Input: input, Head: true})
	require.NoError(e.t, err)
	_, err = e.q.Publish(ctx, &queue.Job{Workspace: ws, ID: id, Channel: "callback", Product: "shop", Env: "prd",
		Notification: "orders:confirmation", Retries: retries, Input: input})
	require.NoError(e.t, err)
	return id
}

func (e *env) entry(ws, id string) *logstore.Entry {
	e.t.Helper()
	en, err := e.store.Get(context.Background(), ws, id)
	require.NoError(e.t, err)
	return en
}

func (e *env) waitStatus(ws string, ids []string, status string, within time.Duration) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		for _, id := range ids {
			if en, err := e.store.Get(context.Background(), ws, id); err != nil || en.Status != status {
				return false
			}
		}
		return true
	}, within, 10*time.Millisecond, "every message %s", status)
}

func (e *env) metric(name string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	require.NoError(e.t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				total += m.GetCounter().GetValue()
			case m.Gauge != nil:
				total += m.GetGauge().GetValue()
			}
		}
	}
	return total
}

func (e *env) ackPending(ws string) int {
	e.t.Helper()
	infos, err := e.q.Consumers(context.Background())
	require.NoError(e.t, err)
	for _, ci := range infos {
		if ci.Name == queue.ConsumerName("callback", ws) {
			return ci.NumAckPending
		}
	}
	return -1
}

func TestDeliversEachOnce(t *testing.T) {
	e := newEnv(t)
	e.start(nil)
	var ids []string
	for i := range 50 {
		ids = append(ids, e.send([]string{"acme", "globex"}[i%2], "ok.example", 3))
	}
	for i, id := range ids {
		e.waitStatus([]string{"acme", "globex"}[i%2], []string{id}, "sent", 10*time.Second)
	}
	for i, id := range ids {
		require.Equal(t, 1, e.fake.count(id))
		require.Equal(t, 1, e.entry([]string{"acme", "globex"}[i%2], id).Attempts)
	}
}

// Waiting is not holding: a workspace whose endpoint answers 429 with
// Retry-After: 3600, with more messages than the consumer's window, does
// not slow another workspace down. Its messages are attempted once each
// (most refused without a request: the endpoint asked to wait), wait in
// Redis with their next attempt an hour away, and hold no JetStream
// window and no worker.
func TestThrottledWorkspaceDoesNotStallAnother(t *testing.T) {
	e := newEnv(t)
	e.fake.on("throttled.example", func(context.Context, *channel.Message) (channel.Result, error) {
		return channel.Result{StatusCode: 429}, channel.Retryable(channel.CodeDelivery, time.Hour, "HTTP 429")
	})
	e.start(func(c *worker.Config) { c.MaxAckPending = 10; c.RetryAfterMax = 2 * time.Hour })
	var throttled []string
	for range 60 {
		throttled = append(throttled, e.send("acme", "throttled.example", 5))
	}
	require.Eventually(t, func() bool {
		for _, id := range throttled {
			if e.entry("acme", id).Attempts != 1 {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond, "each throttled message attempted once")
	var fine []string
	for range 30 {
		fine = append(fine, e.send("globex", "ok.example", 3))
	}
	e.waitStatus("globex", fine, "sent", 10*time.Second)
	for _, id := range throttled {
		en := e.entry("acme", id)
		require.Equal(t, "pending", en.Status)
		require.WithinDuration(t, time.Now().Add(time.Hour), en.NextAttemptAt, 2*time.Minute, "the next attempt honours Retry-After")
	}
	require.LessOrEqual(t, e.fake.requests("throttled.example"), 8, "after the first 429s the endpoint is left alone until its Retry-After")
	require.Eventually(t, func() bool { return e.ackPending("acme") == 0 }, 5*time.Second, 20*time.Millisecond, "nothing of the throttled workspace holds the consumer's window")
	require.Eventually(t, func() bool { return e.metric("herald_worker_retries_waiting") == 60 }, 5*time.Second, 20*time.Millisecond)
}

// A dead endpoint's messages follow their retry schedule and reach failed
// in about the sum of their backoffs, with requests bounded by the
// breaker: while it is open, scheduled attempts are recorded without a
// request (CIRCUIT_OPEN).
func TestDeadEndpointFailsOnSchedule(t *testing.T) {
	e := newEnv(t)
	e.fake.on("dead.example", func(context.Context, *channel.Message) (channel.Result, error) {
		return channel.Result{StatusCode: 500}, channel.Retryable(channel.CodeDelivery, 0, "HTTP 500")
	})
	e.start(func(c *worker.Config) { c.BreakerFailures = 5; c.BreakerOpenFor = time.Hour })
	var ids []string
	for range 100 {
		ids = append(ids, e.send("acme", "dead.example", 3))
	}
	e.waitStatus("acme", ids, "failed", 30*time.Second)
	for _, id := range ids {
		en := e.entry("acme", id)
		require.Equal(t, 4, en.Attempts, "1 + 3 retries, each recorded")
	}
	require.LessOrEqual(t, e.fake.requests("dead.example"), 5+8, "the breaker opened after 5 failures (plus those in flight)")
	atts, _, _, err := e.store.Attempts(context.Background(), "acme", ids[len(ids)-1], "", 10)
	require.NoError(t, err)
	require.Equal(t, channel.CodeCircuitOpen, atts[len(atts)-1].ErrorCode)
	require.Zero(t, e.ackPending("acme"))
}

// Cancelled means not sent: queued messages marked failed before any
// worker saw them are dropped at their claim.
func TestCancelQueuedMessages(t *testing.T) {
	e := newEnv(t)
	var cancelled []string
	for range 30 {
		cancelled = append(cancelled, e.send("acme", "ok.example", 3))
	}
	kept := e.send("acme", "ok.example", 3)
	for _, id := range cancelled {
		_, _, err := e.store.Transition(context.Background(), "acme", id, logstore.Change{To: logstore.StatusFailed,
			From: []string{logstore.StatusPending, logstore.StatusReprocessing}, SetError: true, ErrorCode: "CANCELLED", Error: "cancelled by test"})
		require.NoError(t, err)
	}
	e.start(nil)
	e.waitStatus("acme", []string{kept}, "sent", 10*time.Second)
	require.Eventually(t, func() bool { return e.metric("herald_worker_redeliveries_suppressed_total") == 30 }, 5*time.Second, 10*time.Millisecond)
	for _, id := range cancelled {
		require.Zero(t, e.fake.count(id), "a cancelled message is never sent")
		require.Equal(t, "failed", e.entry("acme", id).Status)
	}
}

// Two copies of the same attempt in the stream (a republish after the
// duplicate window) make one delivery.
func TestSecondCopyOfAJobIsDropped(t *testing.T) {
	e := newEnv(t)
	id := e.send("acme", "ok.example", 3)
	_, err := e.q.Publish(context.Background(), &queue.Job{Workspace: "acme", ID: id, Channel: "callback", Product: "shop", Env: "prd",
		Notification: "orders:confirmation", Retries: 3, Due: 1, Input: json.RawMessage(`{"ep":"ok.example"}`)})
	require.NoError(t, err)
	e.start(nil)
	e.waitStatus("acme", []string{id}, "sent", 10*time.Second)
	require.Eventually(t, func() bool { return e.metric("herald_worker_redeliveries_suppressed_total") == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, e.fake.count(id))
}

// A slow endpoint is held to its in-flight cap; the workspace's other
// endpoints go on meanwhile, and the slow one's extra messages wait in the
// due set (deferred, no attempt), then are all delivered.
func TestEndpointCap(t *testing.T) {
	e := newEnv(t)
	gate := make(chan struct{})
	e.fake.on("slow.example", func(ctx context.Context, _ *channel.Message) (channel.Result, error) {
		select {
		case <-gate:
		case <-ctx.Done():
			return channel.Result{}, ctx.Err()
		}
		return channel.Result{StatusCode: 200}, nil
	})
	e.start(func(c *worker.Config) { c.EndpointConcurrency = 2 })
	var slow, fast []string
	for range 10 {
		slow = append(slow, e.send("acme", "slow.example", 3))
	}
	for range 10 {
		fast = append(fast, e.send("acme", "fast.example", 3))
	}
	e.waitStatus("acme", fast, "sent", 10*time.Second)
	require.Equal(t, 2, e.fake.peak("slow.example"))
	require.Positive(t, e.metric("herald_worker_deferred_total"))
	close(gate)
	e.waitStatus("acme", slow, "sent", 20*time.Second)
	for _, id := range slow {
		require.Equal(t, 1, e.fake.count(id))
		require.Equal(t, 1, e.entry("acme", id).Attempts, "deferrals are not attempts")
	}
	require.Equal(t, 2, e.fake.peak("slow.example"))
}

// A workspace is held to its share of the slots: with a slow endpoint
// taking all it may, another workspace still delivers.
func TestWorkspaceShare(t *testing.T) {
	e := newEnv(t)
	gate := make(chan struct{})
	defer close(gate)
	var slowCalls atomic.Int64
	e.fake.on("slow.example", func(ctx context.Context, _ *channel.Message) (channel.Result, error) {
		slowCalls.Add(1)
		select {
		case <-gate:
		case <-ctx.Done():
		}
		return channel.Result{StatusCode: 200}, nil
	})
	e.start(func(c *worker.Config) { c.Concurrency = 4; c.WorkspaceConcurrency = 3 })
	for range 20 {
		e.send("acme", "slow.example", 3)
	}
	require.Eventually(t, func() bool { return slowCalls.Load() == 3 }, 5*time.Second, 10*time.Millisecond)
	var fine []string
	for range 20 {
		fine = append(fine, e.send("globex", "ok.example", 3))
	}
	e.waitStatus("globex", fine, "sent", 10*time.Second)
	require.EqualValues(t, 3, slowCalls.Load(), "acme never held more than its share")
}

// Retries are published by the pumps of several workers exactly once per
// attempt: every attempt is recorded once and sent once.
func TestRetriesWithTwoWorkers(t *testing.T) {
	e := newEnv(t)
	var calls sync.Map
	e.fake.on("flaky.example", func(_ context.Context, m *channel.Message) (channel.Result, error) {
		n, _ := calls.LoadOrStore(m.ID, new(atomic.Int64))
		if n.(*atomic.Int64).Add(1) < 3 {
			return channel.Result{StatusCode: 503}, channel.Retryable(channel.CodeDelivery, 0, "HTTP 503")
		}
		return channel.Result{StatusCode: 200}, nil
	})
	e.start(nil)
	e.start(nil)
	var ids []string
	for range 40 {
		ids = append(ids, e.send("acme", "flaky.example", 5))
	}
	e.waitStatus("acme", ids, "sent", 20*time.Second)
	for _, id := range ids {
		require.Equal(t, 3, e.fake.count(id), "two failures then a success, each attempt sent once")
		require.Equal(t, 3, e.entry("acme", id).Attempts)
	}
	n, err := e.store.RetriesDue(context.Background(), "acme")
	require.NoError(t, err)
	require.Zero(t, n)
}

// The stream deleted under a running worker (a wiped store, an operator's
// mistake) is recreated, and the worker consumes again.
func TestStreamDeletedUnderWorker(t *testing.T) {
	e := newEnv(t)
	e.start(nil)
	first := e.send("acme", "ok.example", 3)
	e.waitStatus("acme", []string{first}, "sent", 10*time.Second)
	require.NoError(t, e.q.JetStream().DeleteStream(context.Background(), queue.StreamSend))
	var sent []string
	for range 5 {
		sent = append(sent, e.send("acme", "ok.example", 3)) // the publish recreates the stream
	}
	e.waitStatus("acme", sent, "sent", 30*time.Second)
}

// A job whose entry the log store lost (a Redis restarted empty) is still
// delivered: the send was accepted.
func TestOrphanJobDelivered(t *testing.T) {
	e := newEnv(t)
	id := ids.New(time.Now())
	_, err := e.q.Publish(context.Background(), &queue.Job{Workspace: "acme", ID: id, Channel: "callback", Product: "shop", Env: "prd",
		Notification: "orders:confirmation", Retries: 3, Input: json.RawMessage(`{"ep":"ok.example"}`)})
	require.NoError(t, err)
	e.start(nil)
	require.Eventually(t, func() bool { return e.fake.count(id) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return e.metric("herald_worker_orphan_jobs_total") == 1 }, 5*time.Second, 10*time.Millisecond)
}

// Stop past its grace hands an unfinished delivery back: no attempt is
// recorded, the lease is released, and the next worker delivers it.
func TestStopHandsBack(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{}, 1)
	e.fake.on("hang.example", func(ctx context.Context, _ *channel.Message) (channel.Result, error) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return channel.Result{}, ctx.Err()
	})
	w := e.start(nil)
	id := e.send("acme", "hang.example", 3)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.Error(t, w.Stop(ctx))
	en := e.entry("acme", id)
	require.Equal(t, "pending", en.Status)
	require.Zero(t, en.Attempts)
	e.fake.on("hang.example", nil)
	e.start(nil)
	e.waitStatus("acme", []string{id}, "sent", 15*time.Second)
}

// The ledger: counters below the checkpoint kept outside Redis (a Redis
// restored from an older snapshot) mark the workspace; the reconciler then
// does not queue again the entries made before, whose jobs may have been
// delivered in the time Redis lost; newer ones it does.
func TestLedgerDetectsRollback(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := ids.New(time.Now().Add(-time.Hour))
	_, err := e.store.Create(ctx, &logstore.NewEntry{ID: old, Workspace: "acme", ProductTag: "shop", Env: "prd", NotificationTag: "orders",
		Notification: "orders:confirmation", Type: "callback", TriggeredBy: "api", Retries: 3, Input: json.RawMessage(`{"ep":"ok.example"}`)})
	require.NoError(t, err)
	l := &worker.Ledger{Store: e.store, Queue: e.q, Interval: time.Second}
	require.NoError(t, l.CheckOnce(ctx, "acme"))
	c, err := e.store.Counters(ctx, "acme")
	require.NoError(t, err)
	require.EqualValues(t, -1, c.RolledBackSeq, "nothing lost")

	// The checkpoint is ahead of Redis, as after a restore.
	require.NoError(t, e.q.SaveCheckpoint(ctx, "acme", queue.Checkpoint{Seq: 500, Records: 900, At: time.Now()}))
	require.NoError(t, l.CheckOnce(ctx, "acme"))
	c, err = e.store.Counters(ctx, "acme")
	require.NoError(t, err)
	require.EqualValues(t, 1, c.RolledBackSeq)
	last, _, _, err := e.q.LoadCheckpoint(ctx, "acme")
	require.NoError(t, err)
	require.EqualValues(t, 1, last.Seq, "the checkpoint follows Redis from there")

	fresh := ids.New(time.Now().Add(-time.Hour))
	_, err = e.store.Create(ctx, &logstore.NewEntry{ID: fresh, Workspace: "acme", ProductTag: "shop", Env: "prd", NotificationTag: "orders",
		Notification: "orders:confirmation", Type: "callback", TriggeredBy: "api", Retries: 3, Input: json.RawMessage(`{"ep":"ok.example"}`)})
	require.NoError(t, err)
	r := &worker.Reconciler{Store: e.store, Queue: e.q, After: time.Millisecond}
	time.Sleep(5 * time.Millisecond)
	n, err := r.RunOnce(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, 1, n, "only the entry made after the rollback")
	require.True(t, mustHas(t, e.q, fresh))
	require.False(t, mustHas(t, e.q, old), "the older one may have been delivered: withheld")
	n, err = r.RunOnce(ctx, "acme")
	require.NoError(t, err)
	require.Zero(t, n, "its job is queued now")
}

func mustHas(t *testing.T, q *queue.Queue, id string) bool {
	t.Helper()
	has, err := q.HasJob(context.Background(), "callback", "acme", id)
	require.NoError(t, err)
	return has
}

func TestMiddlewareOrder(t *testing.T) {
	var order []string
	mk := func(name string) worker.Middleware {
		return func(next worker.Deliverer) worker.Deliverer {
			return deliverTrace{next, func() { order = append(order, name) }}
		}
	}
	d := worker.Chain(newFake(), mk("outer"), mk("inner"))
	_, err := d.Deliver(context.Background(), &channel.Message{ID: "x", Input: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.Equal(t, "outer,inner", strings.Join(order, ","))
}

type deliverTrace struct {
	worker.Deliverer
	before func()
}

func (d deliverTrace) Deliver(ctx context.Context, m *channel.Message) (channel.Result, error) {
	d.before()
	return d.Deliverer.Deliver(ctx, m)
}

// The timeout middleware cuts an attempt and calls it a retryable TIMEOUT;
// the breaker middleware refuses while an endpoint's Retry-After runs.
func TestTimeoutAndRetryAfterMiddleware(t *testing.T) {
	f := newFake()
	f.on("hang.example", func(ctx context.Context, _ *channel.Message) (channel.Result, error) {
		<-ctx.Done()
		return channel.Result{}, ctx.Err()
	})
	f.on("busy.example", func(context.Context, *channel.Message) (channel.Result, error) {
		return channel.Result{StatusCode: 429}, channel.Retryable(channel.CodeDelivery, time.Minute, "HTTP 429")
	})
	d := worker.Timeout(20 * time.Millisecond)(f)
	_, err := d.Deliver(context.Background(), &channel.Message{ID: "a", Input: json.RawMessage(`{"ep":"hang.example"}`)})
	ce := channel.Classify(err)
	require.Equal(t, channel.CodeTimeout, ce.Code)
	require.True(t, ce.Retryable)

	b := worker.NewBreakers(worker.BreakerSettings{Failures: 100, OpenFor: time.Second, RetryAfterMax: 30 * time.Second})
	d = b.Wrap("callback")(f)
	m := &channel.Message{ID: "b", Workspace: "acme", Input: json.RawMessage(`{"ep":"busy.example"}`)}
	_, err = d.Deliver(context.Background(), m)
	require.Equal(t, channel.CodeDelivery, channel.Classify(err).Code, "the 429 itself")
	_, err = d.Deliver(context.Background(), m)
	require.ErrorIs(t, err, worker.ErrCircuitOpen, "then refused while its Retry-After runs")
	ce = channel.Classify(err)
	require.Equal(t, channel.CodeCircuitOpen, ce.Code)
	require.InDelta(t, 30*time.Second, ce.RetryAfter, float64(time.Second), "capped at RetryAfterMax")
	require.Equal(t, 1, f.requests("busy.example"))
	_, err = d.Deliver(context.Background(), &channel.Message{ID: "c", Workspace: "globex", Input: json.RawMessage(`{"ep":"busy.example"}`)})
	require.NotErrorIs(t, err, worker.ErrCircuitOpen, "another workspace's breaker is its own")
}
