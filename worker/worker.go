package worker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/logstore"
)

// Config configures a Worker. Zero values mean the documented defaults.
type Config struct {
	// Config returns the current configuration (it may be reloaded): the
	// workspaces to consume for, and the definitions of their messages.
	Config func() *config.Config
	Store  *logstore.Store
	Queue  *queue.Queue
	// Deliverers by channel. The worker consumes exactly these channels;
	// each is wrapped in Metrics, Timeout and the breakers (in that order,
	// outermost first), then in Middleware, if any.
	Deliverers map[string]Deliverer
	Middleware []Middleware
	// Concurrency is the number of deliveries in flight per channel in
	// this worker, shared by all workspaces in turn. Default 32.
	Concurrency int
	// WorkspaceConcurrency caps one workspace's share of Concurrency.
	// Default Concurrency (turns are fair anyway: each waiting workspace
	// gets the next free slot in order).
	WorkspaceConcurrency int
	// EndpointConcurrency caps the deliveries in flight to one endpoint
	// of one workspace. Default Concurrency.
	EndpointConcurrency int
	// AckWait is the consumers' ack wait, and the lease of a delivery.
	// Default 30s.
	AckWait time.Duration
	// MaxAckPending caps unacknowledged messages per consumer (one per
	// workspace and channel). Default 10000.
	MaxAckPending int
	// Backoff between retries: Initial doubling to Max, with Jitter (0..1).
	BackoffInitial, BackoffMax time.Duration
	Jitter                     float64
	// RetryAfterMax caps a provider's Retry-After. Default 1h.
	RetryAfterMax time.Duration
	// Breaker settings: consecutive retryable Failures open it for OpenFor;
	// then HalfOpenRequests probes decide.
	BreakerFailures         int
	BreakerOpenFor          time.Duration
	BreakerHalfOpenRequests int
	// RecordRetryFor is how long a worker keeps retrying to record the
	// outcome of an attempt while Redis is unreachable, holding the
	// message, before it hands it back (and the message is sent again).
	// Default 1 minute.
	RecordRetryFor time.Duration
	// LagInterval is how often consumer lag is read for metrics and the
	// stall watchdog, and how often consumers are matched to the
	// configured workspaces. Default 5s.
	LagInterval time.Duration
	// PumpInterval is how often the retry pump looks for due retries.
	// Default 100ms.
	PumpInterval time.Duration
	// PumpLease is how long a pump holds the retries it claimed before
	// another may take them; well inside the duplicate window, so that a
	// retry republished after a pump died is dropped as a duplicate.
	// Default 15s.
	PumpLease time.Duration
	// ReconcileAfter is how long an entry must sit pending, untouched and
	// with no job anywhere, before the reconciler queues it again.
	// Default 1 minute.
	ReconcileAfter time.Duration
	// LedgerInterval is how often the log store's counters are
	// checkpointed outside Redis (rollback detection). Default 1s.
	LedgerInterval time.Duration
	Clock          clock.Clock
	Logger         *zap.Logger
	Registerer     prometheus.Registerer
	// WorkspaceLabels adds herald_worker_breaker_state, labelled with each
	// breaker's workspace and endpoint (metrics_workspace_labels). Off by
	// default: those values come from the workspaces' configurations and
	// would otherwise be on /metrics for anyone who can scrape it.
	WorkspaceLabels bool
}

// Worker consumes deliveries from JetStream and delivers them; its retry
// pump publishes retries when they fall due, its reconciler queues again
// what lost its job, and its ledger watches the log store for rollbacks.
type Worker struct {
	cfg        Config
	clock      clock.Clock
	log        *zap.Logger
	metrics    *metrics
	breakers   *Breakers
	limits     *endpointLimits
	deliverers map[string]Deliverer
	pools      map[string]chan struct{}
	id         string
	seq        atomic.Uint64

	pump       *pump
	reconciler *Reconciler
	ledger     *Ledger

	stopping atomic.Bool
	cancel   context.CancelFunc // cancels fetching and the background loops
	abort    context.CancelFunc // cancels in-flight deliveries
	inflight sync.WaitGroup
	loops    sync.WaitGroup

	mu        sync.Mutex
	consumers map[string]*wsConsumer // by channel + "/" + workspace
}

// New returns a Worker.
func New(cfg Config) (*Worker, error) {
	if cfg.Config == nil || cfg.Store == nil || cfg.Queue == nil || len(cfg.Deliverers) == 0 {
		return nil, errors.New("worker: Config, Store, Queue and at least one Deliverer are required")
	}
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 32)
	cfg.WorkspaceConcurrency = min(cmp.Or(cfg.WorkspaceConcurrency, cfg.Concurrency), cfg.Concurrency)
	cfg.EndpointConcurrency = cmp.Or(cfg.EndpointConcurrency, cfg.Concurrency)
	cfg.AckWait = cmp.Or(cfg.AckWait, 30*time.Second)
	cfg.MaxAckPending = cmp.Or(cfg.MaxAckPending, 10000)
	cfg.BackoffInitial = cmp.Or(cfg.BackoffInitial, time.Second)
	cfg.BackoffMax = cmp.Or(cfg.BackoffMax, 10*time.Minute)
	cfg.RetryAfterMax = cmp.Or(cfg.RetryAfterMax, time.Hour)
	cfg.BreakerFailures = cmp.Or(cfg.BreakerFailures, 5)
	cfg.BreakerOpenFor = cmp.Or(cfg.BreakerOpenFor, 30*time.Second)
	cfg.BreakerHalfOpenRequests = cmp.Or(cfg.BreakerHalfOpenRequests, 1)
	cfg.LagInterval = cmp.Or(cfg.LagInterval, 5*time.Second)
	cfg.RecordRetryFor = cmp.Or(cfg.RecordRetryFor, time.Minute)
	cfg.PumpInterval = cmp.Or(cfg.PumpInterval, 100*time.Millisecond)
	cfg.PumpLease = cmp.Or(cfg.PumpLease, 15*time.Second)
	cfg.ReconcileAfter = cmp.Or(cfg.ReconcileAfter, time.Minute)
	cfg.LedgerInterval = cmp.Or(cfg.LedgerInterval, time.Second)
	log := cmp.Or(cfg.Logger, zap.NewNop()).Named("worker")
	m, err := newMetrics(cfg.Registerer, cfg.WorkspaceLabels)
	if err != nil {
		return nil, err
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	w := &Worker{cfg: cfg, clock: clock.Or(cfg.Clock), log: log, metrics: m, id: hex.EncodeToString(rnd[:]),
		limits: newEndpointLimits(cfg.EndpointConcurrency), deliverers: map[string]Deliverer{}, pools: map[string]chan struct{}{},
		consumers: map[string]*wsConsumer{}}
	w.breakers = NewBreakers(BreakerSettings{
		Failures: cfg.BreakerFailures, OpenFor: cfg.BreakerOpenFor, HalfOpenRequests: cfg.BreakerHalfOpenRequests,
		RetryAfterMax: cfg.RetryAfterMax, Clock: cfg.Clock,
		OnState: func(ws, ch, endpoint string, from, to gobreaker.State) {
			if m.breakerState != nil {
				m.breakerState.WithLabelValues(ws, ch, endpoint).Set(float64(to))
			}
			if from == to {
				m.breakers.WithLabelValues(ch, to.String()).Inc() // a new breaker
				return
			}
			m.breakers.WithLabelValues(ch, from.String()).Dec()
			m.breakers.WithLabelValues(ch, to.String()).Inc()
			m.breakerTransitions.WithLabelValues(ch, to.String()).Inc()
			log.Warn("circuit breaker changed state", zap.String("workspace", ws), zap.String("channel", ch),
				zap.String("endpoint", endpoint), zap.String("from", from.String()), zap.String("to", to.String()))
		},
	})
	// No attempt outlives the ack wait, whatever a channel's own timeout.
	attemptBound := cfg.AckWait * 9 / 10
	for ch, d := range cfg.Deliverers {
		mw := append([]Middleware{m.wrap(ch), Timeout(attemptBound), w.breakers.Wrap(ch)}, cfg.Middleware...)
		w.deliverers[ch] = Chain(d, mw...)
		w.pools[ch] = make(chan struct{}, cfg.Concurrency)
	}
	w.ledger = &Ledger{Store: cfg.Store, Queue: cfg.Queue, Workspaces: w.workspaces, Interval: cfg.LedgerInterval,
		Clock: cfg.Clock, Logger: log.Named("ledger"), rollbacks: m.rollbacks}
	w.reconciler = &Reconciler{Store: cfg.Store, Queue: cfg.Queue, Workspaces: w.workspaces, After: cfg.ReconcileAfter,
		Clock: cfg.Clock, Logger: log.Named("reconciler"), reconciled: m.reconciled, withheld: m.reconcileWithheld}
	w.pump = &pump{w: w}
	return w, nil
}

// workspaces lists the configured workspaces.
func (w *Worker) workspaces() []string {
	var out []string
	for _, ws := range w.cfg.Config().Workspaces {
		out = append(out, ws.ID)
	}
	return out
}

// token names one delivery's lease: unique per worker and delivery.
func (w *Worker) token() string {
	return w.id + "-" + strconv.FormatUint(w.seq.Add(1), 10)
}

// Start creates the consumers of every configured workspace and starts
// consuming, the retry pump, the reconciler and the ledger. It returns
// once every consumer exists.
func (w *Worker) Start(ctx context.Context) error {
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	deliverCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel, w.abort = cancel, abort
	if err := w.syncConsumers(ctx, bgCtx, deliverCtx); err != nil {
		cancel()
		abort()
		return err
	}
	w.loops.Add(4)
	go func() {
		defer w.loops.Done()
		w.watch(bgCtx, deliverCtx)
	}()
	go func() {
		defer w.loops.Done()
		w.ledger.run(bgCtx)
	}()
	go func() {
		defer w.loops.Done()
		w.pump.run(bgCtx)
	}()
	go func() {
		defer w.loops.Done()
		w.reconciler.run(bgCtx)
	}()
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
		w.mu.Lock()
		cs := make([]*wsConsumer, 0, len(w.consumers))
		for _, c := range w.consumers {
			cs = append(cs, c)
		}
		w.mu.Unlock()
		for _, c := range cs {
			<-c.done
		}
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

// syncConsumers starts a consumer loop for every (channel, workspace) of
// the current config that has none, and stops those of workspaces no
// longer configured (their jobs wait in the stream until they return).
func (w *Worker) syncConsumers(ctx, bgCtx, deliverCtx context.Context) error {
	want := map[string]bool{}
	for _, ws := range w.workspaces() {
		for ch := range w.deliverers {
			key := ch + "/" + ws
			want[key] = true
			w.mu.Lock()
			_, ok := w.consumers[key]
			w.mu.Unlock()
			if ok {
				continue
			}
			c, err := w.startConsumer(ctx, bgCtx, deliverCtx, ch, ws)
			if err != nil {
				return err
			}
			w.mu.Lock()
			w.consumers[key] = c
			w.mu.Unlock()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, c := range w.consumers {
		if !want[key] {
			c.stop()
			delete(w.consumers, key)
		}
	}
	return nil
}

// watch keeps consumers matched to the config and reads their lag (the
// queue-lag metrics and the stall watchdog) every LagInterval, with one
// request for all of them.
func (w *Worker) watch(bgCtx, deliverCtx context.Context) {
	t := time.NewTicker(w.cfg.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-bgCtx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(bgCtx, 10*time.Second)
		if err := w.syncConsumers(sctx, bgCtx, deliverCtx); err != nil {
			w.log.Warn("could not create a consumer; retrying", zap.Error(err))
		}
		infos, err := w.cfg.Queue.Consumers(sctx)
		cancel()
		if err != nil {
			continue
		}
		pending, ackPending := map[string]float64{}, map[string]float64{}
		byName := map[string]*wsConsumer{}
		w.mu.Lock()
		for _, c := range w.consumers {
			byName[c.name] = c
		}
		w.mu.Unlock()
		for _, ci := range infos {
			c := byName[ci.Name]
			if c == nil {
				continue
			}
			pending[c.ch] += float64(ci.NumPending)
			ackPending[c.ch] += float64(ci.NumAckPending)
			c.checkStall(ci.NumPending)
		}
		for ch := range w.deliverers {
			w.metrics.pending.WithLabelValues(ch).Set(pending[ch])
			w.metrics.ackPending.WithLabelValues(ch).Set(ackPending[ch])
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
