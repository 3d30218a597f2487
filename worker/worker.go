package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/internal/natsx"
	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/worker/channel"
)

// Deliverer sends one message on one channel. Implementations live in
// worker/channel/...; resilience (breakers, retries, metrics) wraps them here.
type Deliverer interface {
	// Endpoint names the provider endpoint m goes to (scheme and host):
	// the key of its circuit breaker.
	Endpoint(m *channel.Message) (string, error)
	// Deliver makes one attempt. A failure is a *channel.Error (an
	// unclassified error is retryable).
	Deliver(ctx context.Context, m *channel.Message) (channel.Result, error)
}

// Config configures a Worker. Zero values mean the documented defaults.
type Config struct {
	// Config returns the current configuration (it may be reloaded).
	Config func() *config.Config
	Store  *logstore.Store
	JS     jetstream.JetStream
	// Deliverers by channel. The worker consumes exactly these channels.
	Deliverers map[string]Deliverer
	// Concurrency is the number of deliveries in flight per channel. Default 32.
	Concurrency int
	// AckWait is the consumers' ack wait. Default 30s.
	AckWait time.Duration
	// MaxAckPending caps unacknowledged messages per consumer. Default 10000.
	MaxAckPending int
	// Backoff between retries: Initial doubling to Max, with Jitter (0..1).
	BackoffInitial, BackoffMax time.Duration
	Jitter                     float64
	// Breaker settings: consecutive retryable Failures open it for OpenFor;
	// then HalfOpenRequests probes decide.
	BreakerFailures         int
	BreakerOpenFor          time.Duration
	BreakerHalfOpenRequests int
	// LateJob: a job stored in the stream more than LateJob after its
	// message was created (the time in its id) is checked against its
	// entry before delivery: the producer may have given up on publishing
	// it (its publish timeout is 5 s) and answered 503. Default 2s.
	LateJob time.Duration
	// RecordRetryFor is how long a worker keeps retrying to record the
	// outcome of an attempt while Redis is unreachable, holding the
	// message, before it hands it back (and the message is sent again).
	// Default 1 minute.
	RecordRetryFor time.Duration
	// LagInterval is how often consumer lag is read for metrics and the
	// stall watchdog. Default 5s.
	LagInterval time.Duration
	Clock       clock.Clock
	Logger      *zap.Logger
	Registerer  prometheus.Registerer
	// WorkspaceLabels adds herald_worker_breaker_state, labelled with each
	// breaker's workspace and endpoint (metrics_workspace_labels). Off by
	// default: those values come from the workspaces' configurations and
	// would otherwise be on /metrics for anyone who can scrape it.
	WorkspaceLabels bool
}

// Worker consumes deliveries from JetStream and delivers them.
type Worker struct {
	cfg      Config
	clock    clock.Clock
	log      *zap.Logger
	metrics  *metrics
	breakers *breakers

	stopping atomic.Bool
	// verifyUntil (unix ns): until then every delivery checks its entry
	// first, first deliveries included (VerifyDeliveriesFor).
	verifyUntil atomic.Int64
	cancel      context.CancelFunc // cancels fetching
	abort       context.CancelFunc // cancels in-flight deliveries
	inflight    sync.WaitGroup
	loops       sync.WaitGroup
}

// ConsumerName is the durable consumer of a channel, shared by every worker
// replica so that each delivery goes to one of them.
func ConsumerName(ch string) string { return "herald-" + ch }

// New returns a Worker.
func New(cfg Config) (*Worker, error) {
	if cfg.Config == nil || cfg.Store == nil || cfg.JS == nil || len(cfg.Deliverers) == 0 {
		return nil, errors.New("worker: Config, Store, JS and at least one Deliverer are required")
	}
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 32)
	cfg.AckWait = cmp.Or(cfg.AckWait, 30*time.Second)
	cfg.MaxAckPending = cmp.Or(cfg.MaxAckPending, 10000)
	cfg.BackoffInitial = cmp.Or(cfg.BackoffInitial, time.Second)
	cfg.BackoffMax = cmp.Or(cfg.BackoffMax, 10*time.Minute)
	cfg.BreakerFailures = cmp.Or(cfg.BreakerFailures, 5)
	cfg.BreakerOpenFor = cmp.Or(cfg.BreakerOpenFor, 30*time.Second)
	cfg.BreakerHalfOpenRequests = cmp.Or(cfg.BreakerHalfOpenRequests, 1)
	cfg.LagInterval = cmp.Or(cfg.LagInterval, 5*time.Second)
	cfg.RecordRetryFor = cmp.Or(cfg.RecordRetryFor, time.Minute)
	cfg.LateJob = cmp.Or(cfg.LateJob, 2*time.Second)
	log := cmp.Or(cfg.Logger, zap.NewNop()).Named("worker")
	m, err := newMetrics(cfg.Registerer, cfg.WorkspaceLabels)
	if err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, clock: clock.Or(cfg.Clock), log: log, metrics: m}
	w.breakers = newBreakers(cfg, m, log)
	return w, nil
}

// VerifyDeliveriesFor makes every delivery of the next d check its log
// entry before sending, first deliveries included (normally only
// redeliveries do). A JetStream server that crashed (kill -9, OOM) loses
// the consumer state it had not written yet, so messages it had already
// delivered — and the worker sent — come back with NumDelivered 1 after
// its restart: without the check they are sent twice (the fault suite saw
// 20-30 per restart at 1,000 messages/s). The app calls this when its
// NATS connection is re-established. The check is one Redis read per
// delivery, so it is not on all the time (it cost about a third of the
// end-to-end throughput in BenchmarkCallbackEndToEnd). A worker that
// starts after a server crash it did not see (both on a node that died)
// is not covered: those redeliveries may be sent twice (at least once).
func (w *Worker) VerifyDeliveriesFor(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := w.verifyUntil.Load()
		if cur >= until || w.verifyUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// verifying reports whether deliveries check their entry first.
func (w *Worker) verifying() bool { return time.Now().UnixNano() < w.verifyUntil.Load() }

// VerifyWindow is how long deliveries are verified after a (re)connection:
// the messages a crashed server forgot are redelivered at once, ahead of
// the backlog, so two ack waits and a minute cover them.
func (w *Worker) VerifyWindow() time.Duration { return 2*w.cfg.AckWait + time.Minute }

// Start creates (or updates) the durable consumers and starts consuming.
// It returns once every consumer exists.
func (w *Worker) Start(ctx context.Context) error {
	fetchCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	deliverCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel, w.abort = cancel, abort
	for ch := range w.cfg.Deliverers {
		cons, err := w.ensureConsumer(ctx, ch)
		if err != nil {
			cancel()
			abort()
			return err
		}
		w.loops.Add(1)
		go func() {
			defer w.loops.Done()
			w.consume(fetchCtx, deliverCtx, ch, cons)
		}()
	}
	return nil
}

// Stop stops fetching, hands buffered messages back to JetStream, and
// waits for in-flight deliveries until ctx is done; those still running
// then are cancelled and handed back too (redelivered later, to this or
// another worker). Nothing is lost either way.
func (w *Worker) Stop(ctx context.Context) error {
	if w.cancel == nil || !w.stopping.CompareAndSwap(false, true) {
		return nil
	}
	w.cancel()
	done := make(chan struct{})
	go func() {
		w.loops.Wait()
		w.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		w.abort()
		return nil
	case <-ctx.Done():
		w.abort()
		<-done
		return fmt.Errorf("worker: grace period over; unfinished deliveries handed back: %w", ctx.Err())
	}
}

func (w *Worker) ensureConsumer(ctx context.Context, ch string) (jetstream.Consumer, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := w.cfg.JS.CreateOrUpdateConsumer(cctx, natsx.StreamSend, jetstream.ConsumerConfig{
		Durable:       ConsumerName(ch),
		Description:   "Herald " + ch + " deliveries",
		FilterSubject: natsx.ChannelFilter(ch),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.AckWait,
		// Attempts are counted in the log entry, not by JetStream: an open
		// breaker hands messages back without using up their retries.
		MaxDeliver:    -1,
		MaxAckPending: w.cfg.MaxAckPending,
	})
	if err != nil {
		return nil, fmt.Errorf("worker: consumer for %s: %w", ch, err)
	}
	return cons, nil
}

// consume runs one channel's pull loop. The iterator is recreated whenever
// it fails (consumer deleted, heartbeats missed, connection replaced), and
// the watchdog recreates it when messages wait but none arrive: a worker
// never silently stops consuming.
func (w *Worker) consume(fetchCtx, deliverCtx context.Context, ch string, cons jetstream.Consumer) {
	slots := make(chan struct{}, w.cfg.Concurrency)
	var received atomic.Int64
	stallCheck := make(chan struct{}, 1)
	go w.watchLag(fetchCtx, ch, cons, &received, slots, stallCheck)
	backoff := 100 * time.Millisecond
	for fetchCtx.Err() == nil {
		if cons == nil {
			var err error
			if cons, err = w.ensureConsumer(fetchCtx, ch); err != nil {
				w.log.Warn("consumer unavailable; retrying", zap.String("channel", ch), zap.Error(err))
				sleepCtx(fetchCtx, backoff)
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
		}
		// A small pull buffer: a buffered message must not outlive AckWait
		// before its delivery starts (nats.go issue 1929).
		it, err := cons.Messages(jetstream.PullMaxMessages(w.cfg.Concurrency), jetstream.PullHeartbeat(5*time.Second))
		if err != nil {
			w.log.Warn("consumer iterator failed; recreating consumer", zap.String("channel", ch), zap.Error(err))
			w.metrics.restarts.WithLabelValues(ch).Inc()
			cons = nil
			sleepCtx(fetchCtx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		stop := context.AfterFunc(fetchCtx, it.Drain)
		restart := make(chan struct{})
		go func() {
			select {
			case <-stallCheck:
				w.log.Warn("messages are waiting but none arrive; restarting the consumer", zap.String("channel", ch))
				it.Stop()
			case <-restart:
			}
		}()
		err = w.pull(fetchCtx, deliverCtx, ch, it, slots, &received)
		close(restart)
		stop()
		if fetchCtx.Err() != nil {
			break
		}
		w.log.Warn("consumer iterator stopped; recreating", zap.String("channel", ch), zap.Error(err))
		w.metrics.restarts.WithLabelValues(ch).Inc()
		it.Stop()
		cons = nil
		backoff = 100 * time.Millisecond
		sleepCtx(fetchCtx, backoff)
	}
}

// pull takes messages while a delivery slot is free. It returns when the
// iterator ends; during shutdown (drain) the messages still buffered are
// handed straight back.
func (w *Worker) pull(fetchCtx, deliverCtx context.Context, ch string, it jetstream.MessagesContext, slots chan struct{}, received *atomic.Int64) error {
	for {
		select {
		case slots <- struct{}{}:
		case <-fetchCtx.Done():
			// Release nothing: the drain below hands buffered messages back.
		}
		msg, err := it.Next()
		if err != nil {
			if fetchCtx.Err() == nil {
				<-slots
			}
			return err
		}
		received.Add(1)
		if fetchCtx.Err() != nil {
			_ = msg.Nak()
			continue
		}
		w.inflight.Add(1)
		w.metrics.inflight.WithLabelValues(ch).Inc()
		go func() {
			defer func() {
				w.metrics.inflight.WithLabelValues(ch).Dec()
				<-slots
				w.inflight.Done()
			}()
			w.handle(deliverCtx, ch, msg)
		}()
	}
}

// watchLag reports the consumer's lag and flags a stall: messages pending
// for two checks in a row, free slots, yet nothing received.
func (w *Worker) watchLag(ctx context.Context, ch string, cons jetstream.Consumer, received *atomic.Int64, slots chan struct{}, stall chan<- struct{}) {
	t := time.NewTicker(w.cfg.LagInterval)
	defer t.Stop()
	last, idle := received.Load(), 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ci, err := cons.Info(ictx) // by durable name: valid across re-creation
		cancel()
		if err != nil {
			continue
		}
		w.metrics.pending.WithLabelValues(ch).Set(float64(ci.NumPending))
		w.metrics.ackPending.WithLabelValues(ch).Set(float64(ci.NumAckPending))
		now := received.Load()
		if ci.NumPending > 0 && now == last && len(slots) < cap(slots) {
			idle++
		} else {
			idle = 0
		}
		last = now
		if idle >= 2 {
			idle = 0
			select {
			case stall <- struct{}{}:
			default:
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
