package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/internal/reqid"
	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/worker/channel"
)

// delivery is one job being handled.
type delivery struct {
	msg    jetstream.Msg
	job    *queue.Job
	ch     string
	token  string
	base   *zap.Logger
	logger *zap.Logger
}

// log is the delivery's logger, made when first needed: most deliveries
// log nothing, and a zap logger With fields encodes them at once.
func (d *delivery) log() *zap.Logger {
	if d.logger == nil {
		j := d.job
		d.logger = d.base.With(zap.String("workspace", j.Workspace), zap.String("message_id", j.ID), zap.String("channel", d.ch), reqid.FieldOf(j.RequestID))
	}
	return d.logger
}

// handle delivers one job message and settles it. Before anything is sent
// the entry is claimed (logstore.Claim): a cancelled or settled message, a
// stale or second copy of a job, or one another worker is sending is
// acknowledged and dropped. After the attempt, its outcome is recorded —
// sent, failed, or the next attempt scheduled in the retry due set — and
// only then is the message acknowledged: a waiting retry holds neither a
// worker nor the consumer's window.
func (w *Worker) handle(ctx context.Context, ch string, msg jetstream.Msg) {
	j, err := queue.Decode(msg.Data())
	if err != nil {
		w.log.Error("undecodable job terminated", zap.String("channel", ch), zap.Error(err))
		_ = msg.TermWithReason("undecodable job")
		return
	}
	d := &delivery{msg: msg, job: j, ch: ch, token: w.token(), base: w.log}
	delivered := uint64(1)
	if meta, err := msg.Metadata(); err == nil {
		delivered = meta.NumDelivered
		if w.clock.Now().Sub(meta.Timestamp) > w.cfg.AckWait/2 {
			_ = msg.InProgress() // waited in the pull buffer; restart AckWait
		}
	}

	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	cl, err := w.cfg.Store.Claim(cctx, logstore.ClaimRecord{Workspace: j.Workspace, ID: j.ID, Generation: j.Generation,
		Attempt: j.Attempt, Token: d.token, Lease: w.cfg.AckWait})
	cancel()
	orphan := false
	switch {
	case err != nil:
		d.log().Warn("log store unreachable; job handed back", zap.Error(err))
		_ = msg.NakWithDelay(w.jittered(2 * time.Second))
		return
	case cl.Verdict == logstore.ClaimMissing:
		// The log store lost the entry (a Redis restarted empty, or from an
		// older snapshot): the send was accepted, so it is delivered,
		// though nothing can be recorded.
		w.metrics.orphans.WithLabelValues(ch).Inc()
		d.log().Warn("log entry missing; delivering the accepted job without a log")
		orphan = true
	case cl.Verdict == logstore.ClaimBusy:
		// Another delivery holds the lease: most often one finishing a
		// second copy of this job (then this one is stale in a moment),
		// rarely a worker that died mid-send (its lease runs out). Look
		// again soon, not only when the lease ends.
		_ = msg.NakWithDelay(min(cl.BusyFor, 500*time.Millisecond) + w.jittered(500*time.Millisecond))
		return
	case cl.Verdict != logstore.ClaimOK:
		w.metrics.duplicates.WithLabelValues(ch).Inc()
		_ = msg.Ack()
		return
	}

	m, err := w.message(j, cl.GenerationAttempts+1)
	if err != nil {
		w.settle(ctx, d, orphan, delivered, channel.Result{}, 0, err)
		return
	}
	dl := w.deliverers[ch]
	endpoint, err := dl.Endpoint(m)
	if err != nil {
		w.settle(ctx, d, orphan, delivered, channel.Result{}, 0, channel.Permanent(channel.CodeDelivery, "%v", err))
		return
	}
	limitKey := breakerKey(j.Workspace, ch, endpoint)
	ok, deferFor := w.limits.acquire(limitKey)
	if !ok {
		w.deferDelivery(ctx, d, orphan, deferFor)
		return
	}
	start := time.Now()
	defer func() { w.limits.release(limitKey, time.Since(start)) }()
	if cl.Attempts > 0 {
		// A retry: recipients earlier attempts settled are skipped, so
		// nobody gets the message twice because another failed.
		if m.Done, err = w.settledRecipients(ctx, j); err != nil {
			d.log().Warn("log store unreachable; job handed back", zap.Error(err))
			w.release(d)
			_ = msg.NakWithDelay(w.jittered(2 * time.Second))
			return
		}
	}
	m.Timestamp = w.clock.Now()
	res, err := dl.Deliver(ctx, m)
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		// Shutting down past the grace period: this attempt did not
		// finish. Hand it back without recording a failure.
		w.release(d)
		_ = msg.Nak()
		return
	}
	w.settle(ctx, d, orphan, delivered, res, elapsed, err)
}

// release gives a delivery's lease back without recording anything.
func (w *Worker) release(d *delivery) {
	cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = w.cfg.Store.Record(cctx, logstore.AttemptRecord{Workspace: d.job.Workspace, ID: d.job.ID, Generation: d.job.Generation,
		Outcome: logstore.OutcomeRelease, Token: d.token})
}

// deferDelivery puts a message whose endpoint is at its in-flight cap back
// in the due set, without an attempt, and acknowledges the job.
func (w *Worker) deferDelivery(ctx context.Context, d *delivery, orphan bool, after time.Duration) {
	j := d.job
	w.metrics.deferred.WithLabelValues(j.Channel).Inc()
	if orphan {
		_ = d.msg.NakWithDelay(after) // no entry to schedule against
		return
	}
	r, err := w.recordWithRetry(ctx, d, logstore.AttemptRecord{Workspace: j.Workspace, ID: j.ID, Generation: j.Generation,
		Outcome: logstore.OutcomeDefer, DeferFor: w.jittered(after), Token: d.token})
	if err != nil {
		d.log().Warn("could not defer; job handed back", zap.Error(err))
		_ = d.msg.NakWithDelay(after)
		return
	}
	if !r.Applied && r.Missing {
		_ = d.msg.NakWithDelay(after)
		return
	}
	_ = d.msg.Ack()
}

// settledRecipients collects the recipients that earlier attempts of this
// job's generation settled.
func (w *Worker) settledRecipients(ctx context.Context, j *queue.Job) (map[string]bool, error) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	atts, _, _, err := w.cfg.Store.Attempts(cctx, j.Workspace, j.ID, "", 1<<20)
	if err != nil {
		return nil, err
	}
	var out map[string]bool
	for _, a := range atts {
		if a.Generation != j.Generation {
			continue
		}
		for _, r := range a.Settled {
			if out == nil {
				out = map[string]bool{}
			}
			out[r] = true
		}
	}
	return out, nil
}

// message resolves a job against the current configuration.
func (w *Worker) message(j *queue.Job, attempt int) (*channel.Message, error) {
	cfg := w.cfg.Config()
	ws := cfg.Workspace(j.Workspace)
	prod := cfg.Product(j.Workspace, j.Product)
	def := cfg.Message(j.Workspace, j.Product, j.Notification)
	if ws == nil || prod == nil || def == nil || def.Channel(j.Channel) == nil {
		return nil, channel.Permanent(channel.CodeDelivery, "the %s message of %q for product %q is no longer configured", j.Channel, j.Notification, j.Product)
	}
	return &channel.Message{
		ID: j.ID, Workspace: j.Workspace, Channel: j.Channel, Product: prod, Env: j.Env,
		Notification: j.Notification, Definition: def, Providers: ws.Providers,
		Attempt: attempt, Input: j.Input,
	}, nil
}

// settle records the attempt and its outcome, then acknowledges the job:
// ack when sent or when the next attempt is scheduled in the due set, term
// when failed.
func (w *Worker) settle(ctx context.Context, d *delivery, orphan bool, delivered uint64, res channel.Result, elapsed time.Duration, derr error) {
	j := d.job
	a := logstore.Attempt{
		ResponseCode: res.StatusCode, ResponseContentType: res.ContentType, ResponseBody: string(res.Body),
		AttemptedAt: w.clock.Now().Add(-elapsed), DurationMs: elapsed.Milliseconds(), Settled: res.Done,
	}
	outcome := logstore.OutcomeSent
	var b logstore.Backoff
	var ce *channel.Error
	if derr != nil {
		ce = channel.Classify(derr)
		a.Error, a.ErrorCode = ce.Error(), ce.Code
		outcome = logstore.OutcomeFail
		if ce.Retryable {
			outcome = logstore.OutcomeRetry
			b = logstore.Backoff{Initial: w.cfg.BackoffInitial, Max: w.cfg.BackoffMax,
				Jitter: 1 + w.cfg.Jitter*(2*rand.Float64()-1), MinDelay: min(ce.RetryAfter, w.cfg.RetryAfterMax)}
		}
	}
	switch outcome {
	case logstore.OutcomeSent:
		a.Outcome = "sent"
	case logstore.OutcomeRetry:
		a.Outcome = "retry"
	default:
		a.Outcome = "failed"
	}

	r, err := w.recordWithRetry(ctx, d, logstore.AttemptRecord{Workspace: j.Workspace, ID: j.ID, Generation: j.Generation,
		Attempt: a, Outcome: outcome, MaxAttempts: j.Retries + 1, Backoff: b, Token: d.token})
	if err != nil {
		// Redis stayed unreachable: hand the job back. A successful send may
		// then be repeated (at-least-once), but no outcome is invented.
		d.log().Error("attempt not recorded; job handed back", zap.Error(err))
		_ = d.msg.NakWithDelay(w.jittered(10 * time.Second))
		return
	}
	switch {
	case r.Missing && outcome == logstore.OutcomeRetry && int(delivered) <= j.Retries:
		// No entry to schedule the retry against (orphan): JetStream holds it.
		_ = d.msg.NakWithDelay(b.MinDelay + w.jittered(w.cfg.BackoffInitial<<min(delivered-1, 10)))
	case !r.Applied:
		if r.Missing && !orphan {
			d.log().Warn("log entry vanished during delivery")
		}
		if !orphan {
			w.metrics.duplicates.WithLabelValues(j.Channel).Inc()
		}
		_ = d.msg.Ack()
	case r.Status == logstore.StatusSent:
		w.metrics.delivered.WithLabelValues(j.Channel, logstore.StatusSent).Inc()
		if c := d.log().Check(zap.DebugLevel, "delivered"); c != nil {
			c.Write(zap.Int("attempt", r.GenerationAttempts), zap.Duration("duration", elapsed))
		}
		_ = d.msg.Ack()
	case r.Status == logstore.StatusFailed:
		w.metrics.delivered.WithLabelValues(j.Channel, logstore.StatusFailed).Inc()
		d.log().Warn("delivery failed", zap.Int("attempts", r.GenerationAttempts), zap.String("error_code", a.ErrorCode), zap.String("error", a.Error))
		_ = d.msg.Term()
	default:
		if c := d.log().Check(zap.InfoLevel, "delivery will be retried"); c != nil && !errors.Is(derr, ErrCircuitOpen) {
			c.Write(zap.Int("attempt", r.GenerationAttempts), zap.Duration("in", r.RetryIn), zap.String("error_code", a.ErrorCode))
		}
		_ = d.msg.Ack()
	}
}

// recordWithRetry records an attempt (or a deferral), retrying while Redis
// is unreachable for up to RecordRetryFor (default 1 minute), because
// recording the outcome of a send that happened beats sending it again.
// The message is kept meanwhile: InProgress restarts its AckWait at every
// try. It gives up early when the worker's grace period ends (ctx).
func (w *Worker) recordWithRetry(ctx context.Context, d *delivery, rec logstore.AttemptRecord) (logstore.AttemptResult, error) {
	deadline := time.Now().Add(w.cfg.RecordRetryFor)
	wait := 50 * time.Millisecond
	rctx := context.WithoutCancel(ctx) // a write under way is never cut
	for {
		cctx, cancel := context.WithTimeout(rctx, 3*time.Second)
		r, err := w.cfg.Store.Record(cctx, rec)
		cancel()
		if err == nil {
			return r, nil
		}
		if time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			return r, fmt.Errorf("record attempt: %w", err)
		}
		_ = d.msg.InProgress()
		sleepCtx(ctx, wait)
		wait = min(2*wait, 2*time.Second, w.cfg.AckWait/3)
	}
}

// jittered returns d scaled by a random factor in [0.5, 1.5).
func (w *Worker) jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}
