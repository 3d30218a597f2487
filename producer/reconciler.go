package producer

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/internal/job"
	"github.com/heraldhq/herald/internal/natsx"
	"github.com/heraldhq/herald/internal/promx"
	"github.com/heraldhq/herald/logstore"
)

// Reconciler finds entries left pending or reprocessing with no job on
// JetStream — a producer that died between writing the entry and
// publishing, or a stream that lost data — and publishes their job again.
// An entry qualifies when nothing has happened to it for After, no retry
// is scheduled, and JetStream holds no message on its job subject.
type Reconciler struct {
	Store *logstore.Store
	JS    jetstream.JetStream
	// Workspaces lists the workspaces to check (from the current config).
	Workspaces func() []string
	// After is how long an entry must sit untouched. Default 5 minutes.
	After time.Duration
	// Interval between runs. Default After/5, at least 1s, at most 1m.
	Interval   time.Duration
	Clock      clock.Clock
	Logger     *zap.Logger
	Registerer prometheus.Registerer

	republished *prometheus.CounterVec
	cancel      context.CancelFunc
	done        chan struct{}
}

// maxExamined bounds the entries one run looks at per workspace.
const maxExamined = 10000

// Start runs the reconciler until Stop.
func (r *Reconciler) Start(ctx context.Context) error {
	r.After = cmp.Or(r.After, 5*time.Minute)
	r.Interval = cmp.Or(r.Interval, min(max(r.After/5, time.Second), time.Minute))
	r.Logger = cmp.Or(r.Logger, zap.NewNop())
	r.republished = promx.Must(r.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_producer_reconciled_total",
		Help: "Jobs published again by the reconciler for entries that had none on JetStream.",
	}, []string{"channel"}))
	ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		t := time.NewTicker(r.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for _, ws := range r.Workspaces() {
				if ok, err := r.Store.TryLock(ctx, ws, "reconcile", r.Interval/2); err != nil || !ok {
					continue
				}
				if n, err := r.RunOnce(ctx, ws); err != nil {
					r.Logger.Warn("reconcile failed", zap.String("workspace", ws), zap.Error(err))
				} else if n > 0 {
					r.Logger.Warn("republished jobs of stuck entries", zap.String("workspace", ws), zap.Int("count", n))
				}
			}
		}
	}()
	return nil
}

// Stop ends the reconciler.
func (r *Reconciler) Stop(ctx context.Context) error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RunOnce checks one workspace and returns how many jobs it republished.
func (r *Reconciler) RunOnce(ctx context.Context, ws string) (int, error) {
	if r.republished == nil {
		r.republished = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_producer_reconciled_total"}, []string{"channel"})
	}
	cutoff := clock.Or(r.Clock).Now().Add(-cmp.Or(r.After, 5*time.Minute))
	stream, err := r.JS.Stream(ctx, natsx.StreamSend)
	if err != nil {
		return 0, err
	}
	n, examined := 0, 0
	for _, status := range []string{logstore.StatusPending, logstore.StatusReprocessing} {
		q := logstore.Query{Workspace: ws, Status: status, End: cutoff, Limit: 200}
		for examined < maxExamined {
			page, err := r.Store.Query(ctx, q)
			if err != nil {
				return n, err
			}
			for _, e := range page.Entries {
				examined++
				if e.UpdatedAt.After(cutoff) || e.NextAttemptAt.After(cutoff) {
					continue // touched recently, or a retry is scheduled
				}
				_, err := stream.GetLastMsgForSubject(ctx, natsx.JobSubject(e.Type, ws, e.ID))
				if err == nil {
					continue // its job is queued (a backlog, or waiting for a retry)
				}
				if !errors.Is(err, jetstream.ErrMsgNotFound) {
					return n, err
				}
				j := &job.Job{Workspace: ws, ID: e.ID, Channel: e.Type, Generation: e.Generation, Product: e.ProductTag,
					Env: e.Env, Notification: e.Notification, Retries: e.Retries, Input: e.Input}
				if err := publishJob(ctx, r.JS, j, true, 5*time.Second); err != nil {
					return n, err
				}
				r.republished.WithLabelValues(e.Type).Inc()
				n++
			}
			if !page.HasMore {
				break
			}
			q.Cursor = page.NextCursor
		}
	}
	return n, nil
}
