package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/worker"
	"github.com/heraldhq/herald/worker/channel"
)

// deliverFunc adapts a function to worker.Deliverer, keeping Endpoint.
type deliverFunc struct {
	worker.Deliverer
	fn func(ctx context.Context, m *channel.Message) (channel.Result, error)
}

func (d deliverFunc) Deliver(ctx context.Context, m *channel.Message) (channel.Result, error) {
	return d.fn(ctx, m)
}

// split starts a producer with the embedded JetStream, and returns it with
// a function starting worker processes against it.
func split(t *testing.T, rc *apptest.Receiver) (*apptest.Herald, func(wrap func(worker.Deliverer) worker.Deliverer) *apptest.Herald) {
	prod := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), Role: app.RoleProducer})
	startWorker := func(wrap func(worker.Deliverer) worker.Deliverer) *apptest.Herald {
		return apptest.Start(t, apptest.Options{
			YAML: apptest.Config(rc.URL), Role: app.RoleWorker, Redis: prod.Redis,
			Env: map[string]string{"HERALD_NATS_URL": prod.App.NATSURL()},
			AppOpts: func(o *app.Options) {
				o.Embedded = false
				if wrap != nil {
					o.WrapDeliverer = func(_ string, d worker.Deliverer) worker.Deliverer { return wrap(d) }
				}
			},
		})
	}
	return prod, startWorker
}

// A worker dies after pulling a message and before delivering it: JetStream
// redelivers it after AckWait to another worker, and the receiver gets it once.
func TestWorkerDiesBeforeDelivering(t *testing.T) {
	rc := apptest.NewReceiver(t)
	prod, startWorker := split(t, rc)
	pulled := make(chan struct{})
	dead := make(chan struct{})
	var once sync.Once
	a := startWorker(func(d worker.Deliverer) worker.Deliverer {
		return deliverFunc{d, func(ctx context.Context, m *channel.Message) (channel.Result, error) {
			once.Do(func() { close(pulled) })
			<-dead // a dead process records nothing: hangs until the test ends
			return channel.Result{}, ctx.Err()
		}}
	})
	t.Cleanup(func() { close(dead) }) // before the worker's own Stop
	id := prod.SendCallback("K-1", nil)
	<-pulled
	a.App.CloseNATSConnection() // killed: no ack, no nak
	startWorker(nil)
	e := prod.WaitStatus(id, "sent", 15*time.Second)
	require.EqualValues(t, 1, e["attempts"])
	require.Equal(t, 1, rc.Count("/orders/K-1"))
}

// A worker dies after sending and recording the outcome but before its ack
// reaches JetStream: the redelivery finds the entry sent and is acked
// without sending again. Exactly one request, exactly one sent entry.
func TestWorkerDiesBeforeAck(t *testing.T) {
	rc := apptest.NewReceiver(t)
	prod, startWorker := split(t, rc)
	var a *apptest.Herald
	ready := make(chan struct{})
	a = startWorker(func(d worker.Deliverer) worker.Deliverer {
		return deliverFunc{d, func(ctx context.Context, m *channel.Message) (channel.Result, error) {
			res, err := d.Deliver(ctx, m)
			<-ready
			a.App.CloseNATSConnection() // the ack that follows is lost
			return res, err
		}}
	})
	close(ready)
	id := prod.SendCallback("K-2", nil)
	prod.WaitStatus(id, "sent", 10*time.Second)
	b := startWorker(nil)
	require.Eventually(t, func() bool {
		return strings.Contains(registryText(t, b.App), `herald_worker_redeliveries_suppressed_total{channel="callback"} 1`)
	}, 15*time.Second, 20*time.Millisecond, "the redelivery never reached the second worker")
	require.Equal(t, 1, rc.Count("/orders/K-2"))
	p, err := prod.App.Store().Query(context.Background(), logstore.Query{Workspace: "acme", Status: "sent"})
	require.NoError(t, err)
	require.EqualValues(t, 1, p.Total)
	e := prod.Message(apptest.KeyAcme, id)
	require.EqualValues(t, 1, e["attempts"])
}

// registryText renders a process's metrics as /metrics would.
func registryText(t *testing.T, a *app.App) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(a.Registry(), promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// Queued messages survive a restart of the embedded JetStream, and a retry
// scheduled before the restart still happens after it.
func TestRestartKeepsQueuedMessages(t *testing.T) {
	rc := apptest.NewReceiver(t)
	dataDir := t.TempDir()
	s1 := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), Role: app.RoleProducer, DataDir: dataDir})
	var ids []string
	for i := range 20 {
		ids = append(ids, s1.SendCallback(fmt.Sprintf("Q-%d", i), nil))
	}
	require.NoError(t, s1.Stop(5*time.Second))
	require.Zero(t, len(rc.Requests()), "nothing consumed before the restart")

	// Second life: a worker delivers; one message gets a 503 and a retry is
	// scheduled, then the process stops during the backoff.
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if r.URL.Path == "/orders/Q-0" && n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	yaml := strings.Replace(apptest.Config(rc.URL), "backoff_initial: 20ms", "backoff_initial: 1500ms", 1)
	yaml = strings.Replace(yaml, "backoff_max: 200ms", "backoff_max: 2s", 1)
	s2 := apptest.Start(t, apptest.Options{YAML: yaml, Redis: s1.Redis, DataDir: dataDir})
	for _, id := range ids[1:] {
		s2.WaitStatus(id, "sent", 15*time.Second)
	}
	e := s2.WaitStatus(ids[0], "pending", 5*time.Second)
	require.Eventually(t, func() bool { return rc.Count("/orders/Q-0") == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		e = s2.Message(apptest.KeyAcme, ids[0])
		return e["next_attempt_at"] != nil
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, s2.Stop(5*time.Second))

	s3 := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), Redis: s1.Redis, DataDir: dataDir})
	e = s3.WaitStatus(ids[0], "sent", 15*time.Second)
	require.EqualValues(t, 2, e["attempts"])
	for i := range 20 {
		require.Equal(t, map[bool]int{true: 2, false: 1}[i == 0], rc.Count(fmt.Sprintf("/orders/Q-%d", i)))
	}
}

// SIGTERM path: Stop lets an in-flight delivery finish inside the grace
// period; one that cannot finish is handed back, not failed, and is
// delivered after the restart.
func TestGracefulStop(t *testing.T) {
	rc := apptest.NewReceiver(t)
	started := make(chan string, 4)
	release := make(chan struct{})
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		started <- r.URL.Path
		if r.URL.Path == "/orders/G-2" && n == 1 {
			<-release
		} else {
			time.Sleep(300 * time.Millisecond)
		}
	})
	t.Cleanup(func() { close(release) })
	dataDir := t.TempDir()
	s1 := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), DataDir: dataDir})
	id1 := s1.SendCallback("G-1", nil)
	require.Equal(t, "/orders/G-1", <-started)
	require.NoError(t, s1.Stop(5*time.Second), "an in-flight delivery finishes within the grace period")
	e, err := logstore.New(s1.Redis.Client, logstore.Config{}).Get(context.Background(), "acme", id1)
	require.NoError(t, err)
	require.Equal(t, "sent", e.Status)

	s2 := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), DataDir: dataDir, Redis: s1.Redis})
	id2 := s2.SendCallback("G-2", nil)
	require.Equal(t, "/orders/G-2", <-started)
	require.Error(t, s2.Stop(200*time.Millisecond), "the grace period ran out")
	e, err = logstore.New(s1.Redis.Client, logstore.Config{}).Get(context.Background(), "acme", id2)
	require.NoError(t, err)
	require.Equal(t, "pending", e.Status, "an unfinished delivery is handed back, not failed")
	require.Zero(t, e.Attempts)

	s3 := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), DataDir: dataDir, Redis: s1.Redis})
	s3.WaitStatus(id2, "sent", 15*time.Second)
}

// A consumer deleted under a running worker (an operator's mistake, or
// nats.go issue 1972) is recreated: the worker keeps consuming.
func TestConsumerDeletedIsRecreated(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	h.WaitStatus(h.SendCallback("C-1", nil), "sent", 10*time.Second)
	ctx := context.Background()
	require.NoError(t, h.App.JetStream().DeleteConsumer(ctx, queue.StreamSend, queue.ConsumerName("callback", "acme")))
	h.WaitStatus(h.SendCallback("C-2", nil), "sent", 20*time.Second)
	require.Contains(t, metrics(t, h), `herald_worker_consumer_restarts_total{channel="callback"}`)
}

func TestRedisUnreachableAtStart(t *testing.T) {
	rc := apptest.NewReceiver(t)
	cfg := apptest.Config(rc.URL)
	h := apptest.Start(t, apptest.Options{YAML: cfg})
	h.Redis.Stop()
	a, err := app.New(app.Options{Config: h.App.Config(), Role: app.RoleServe, Embedded: true})
	require.NoError(t, err)
	err = a.Start(context.Background())
	require.Error(t, err)
	require.Contains(t, err.Error(), "unreachable")
	require.Contains(t, err.Error(), "HERALD_REDIS_URL")
}

// Redis down when a send arrives: 503 with a clear error, and no job is
// queued without its log entry.
func TestRedisDownOnSend(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), Role: app.RoleProducer})
	h.Redis.Stop()
	r := h.Do("POST", "/v1/notifications/callback/send", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "notification": "orders:confirmation", "input": map[string]any{"params": map[string]any{"id": "X"}},
	})
	require.Equal(t, http.StatusServiceUnavailable, r.Status, string(r.Body))
	require.Equal(t, "unavailable", r.JSON()["error"].(map[string]any)["code"])
	require.Equal(t, "1", r.Header.Get("Retry-After"))
	info, err := h.App.JetStream().Stream(context.Background(), queue.StreamSend)
	require.NoError(t, err)
	si, err := info.Info(context.Background())
	require.NoError(t, err)
	require.Zero(t, si.State.Msgs, "no job without a log entry")
	r = h.Do("GET", "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.Status)
}

// The stream lost under running processes (a wiped JetStream store): the
// API's /readyz fails while it is missing, the next send recreates it and
// is accepted (not 503 for ever), and a role with no traffic recreates it
// by itself.
func TestStreamLostIsRecreated(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), AppOpts: func(o *app.Options) { o.KeepInterval = time.Hour }})
	h.WaitStatus(h.SendCallback("L-1", nil), "sent", 10*time.Second)
	ctx := context.Background()
	require.NoError(t, h.App.JetStream().DeleteStream(ctx, queue.StreamSend))
	r := h.Do("GET", "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.Status)
	require.Contains(t, string(r.Body), "stream HERALD_SEND is missing")
	h.WaitStatus(h.SendCallback("L-2", nil), "sent", 20*time.Second)
	require.Equal(t, http.StatusOK, h.Do("GET", "/readyz", "", nil).Status)

	idle := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), Role: app.RoleProducer,
		AppOpts: func(o *app.Options) { o.KeepInterval = 50 * time.Millisecond }})
	require.NoError(t, idle.App.JetStream().DeleteStream(ctx, queue.StreamSend))
	require.Eventually(t, func() bool { return idle.Do("GET", "/readyz", "", nil).Status == http.StatusOK }, 10*time.Second, 20*time.Millisecond,
		"an idle role recreates the stream by itself")
}
