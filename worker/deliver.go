package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/job"
	"github.com/heraldhq/herald/internal/reqid"
	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/worker/channel"
)

// handle delivers one job message and settles it: ack when sent (or when
// there is nothing left to do), term when failed, nak with the backoff
// delay when a retry is due. Every attempt is recorded before the message
// is settled, so an attempt is never lost and never repeated silently.
func (w *Worker) handle(ctx context.Context, ch string, msg jetstream.Msg) {
	j, err := job.Decode(msg.Data())
	if err != nil {
		w.log.Error("undecodable job terminated", zap.String("channel", ch), zap.Error(err))
		_ = msg.TermWithReason("undecodable job")
		return
	}
	log := w.log.With(zap.String("workspace", j.Workspace), zap.String("message_id", j.ID), zap.String("channel", ch), reqid.FieldOf(j.RequestID))
	delivered, late := uint64(1), false
	if meta, err := msg.Metadata(); err == nil {
		delivered = meta.NumDelivered
		if w.clock.Now().Sub(meta.Timestamp) > w.cfg.AckWait/2 {
			_ = msg.InProgress() // waited in the pull buffer; restart AckWait
		}
		// A job stored long after its message was made may be one the
		// producer gave up on (publish timed out over a partitioned link:
		// the caller got 503 and the entry says failed, nothing sent), its
		// bytes arriving late. Message ids carry their creation time.
		if made, ok := ids.Time(j.ID); ok && meta.Timestamp.Sub(made) > w.cfg.LateJob {
			late = true
		}
	}

	// A redelivery may follow a delivery whose outcome was recorded but
	// whose ack was lost (or a worker that died after sending): check the
	// entry first, so the receiver never gets a message twice for that.
	// So does any delivery shortly after a reconnection to JetStream,
	// whose server may have lost the record of earlier deliveries, and a
	// late job (above; reprocessed messages, whose ids are old, included).
	var settled map[string]bool
	if delivered > 1 || late || msg.Headers().Get(job.HeaderRepublished) != "" || w.verifying() {
		e, err := w.cfg.Store.Get(ctx, j.Workspace, j.ID)
		switch {
		case errors.Is(err, logstore.ErrNotFound), errors.Is(err, logstore.ErrRetentionExpired):
			log.Warn("job for a missing log entry dropped")
			_ = msg.Ack()
			return
		case err != nil:
			log.Warn("log store unreachable; job handed back", zap.Error(err))
			_ = msg.NakWithDelay(w.jittered(5 * time.Second))
			return
		case e.Generation != j.Generation || (e.Status != logstore.StatusPending && e.Status != logstore.StatusReprocessing):
			w.metrics.duplicates.WithLabelValues(ch).Inc()
			_ = msg.Ack()
			return
		}
		if e.Attempts > 0 {
			// A retry: recipients earlier attempts settled are skipped, so
			// nobody gets the message twice because another failed.
			if settled, err = w.settledRecipients(ctx, j); err != nil {
				log.Warn("log store unreachable; job handed back", zap.Error(err))
				_ = msg.NakWithDelay(w.jittered(5 * time.Second))
				return
			}
		}
	}

	m, err := w.message(j, int(delivered))
	if err != nil {
		w.settle(ctx, msg, j, log, "unknown", time.Now(), 0, channel.Result{}, err)
		return
	}
	m.Done = settled
	provider := providerLabel(m)
	d := w.cfg.Deliverers[ch]
	endpoint, err := d.Endpoint(m)
	if err != nil {
		w.settle(ctx, msg, j, log, provider, time.Now(), 0, channel.Result{}, channel.Permanent(channel.CodeDelivery, "%v", err))
		return
	}
	br := w.breakers.get(j.Workspace, ch, endpoint)
	start := time.Now()
	m.Timestamp = w.clock.Now()
	res, err := br.Execute(func() (channel.Result, error) { return d.Deliver(ctx, m) })
	elapsed := time.Since(start)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		w.circuitOpen(ctx, msg, j, log, provider, endpoint)
		return
	}
	if ctx.Err() != nil {
		// Shutting down past the grace period: this attempt did not
		// finish. Hand it back without recording a failure.
		_ = msg.Nak()
		return
	}
	w.metrics.duration.WithLabelValues(ch, provider).Observe(elapsed.Seconds())
	w.settle(ctx, msg, j, log, provider, start, elapsed, res, err)
}

// providerLabel is the provider type of a message for metrics: one of a
// fixed set, so the label stays bounded whatever the config names.
func providerLabel(m *channel.Message) string {
	if t := m.ProviderType(); t != "" {
		return t
	}
	return "unknown"
}

// settledRecipients collects the recipients that earlier attempts of this
// job's generation settled.
func (w *Worker) settledRecipients(ctx context.Context, j *job.Job) (map[string]bool, error) {
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
func (w *Worker) message(j *job.Job, attempt int) (*channel.Message, error) {
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

// settle records the attempt and its outcome, then acks, terms or naks.
func (w *Worker) settle(ctx context.Context, msg jetstream.Msg, j *job.Job, log *zap.Logger, provider string, start time.Time, elapsed time.Duration, res channel.Result, derr error) {
	a := logstore.Attempt{
		ResponseCode: res.StatusCode, ResponseContentType: res.ContentType, ResponseBody: string(res.Body),
		AttemptedAt: w.clock.Now().Add(-elapsed), DurationMs: elapsed.Milliseconds(), Settled: res.Done,
	}
	outcome := logstore.OutcomeSent
	var b logstore.Backoff
	if derr != nil {
		ce := channel.Classify(derr)
		a.Error, a.ErrorCode = ce.Error(), ce.Code
		outcome = logstore.OutcomeFail
		if ce.Retryable {
			outcome = logstore.OutcomeRetry
			b = logstore.Backoff{Initial: w.cfg.BackoffInitial, Max: w.cfg.BackoffMax,
				Jitter: 1 + w.cfg.Jitter*(2*rand.Float64()-1), MinDelay: ce.RetryAfter}
		}
	}
	a.Outcome = map[logstore.Outcome]string{logstore.OutcomeSent: "sent", logstore.OutcomeRetry: "retry", logstore.OutcomeFail: "failed"}[outcome]

	r, err := w.recordWithRetry(ctx, msg, j, a, outcome, b)
	if err != nil {
		// Redis stayed unreachable: hand the job back. A successful send may
		// then be repeated (at-least-once), but no outcome is invented.
		log.Error("attempt not recorded; job handed back", zap.Error(err))
		_ = msg.NakWithDelay(w.jittered(10 * time.Second))
		return
	}
	switch {
	case !r.Applied:
		if r.Missing {
			log.Warn("log entry vanished during delivery")
		}
		w.metrics.duplicates.WithLabelValues(j.Channel).Inc()
		_ = msg.Ack()
	case r.Status == logstore.StatusSent:
		w.metrics.attempts.WithLabelValues(j.Channel, provider, "sent").Inc()
		w.metrics.delivered.WithLabelValues(j.Channel, logstore.StatusSent).Inc()
		if ce := log.Check(zap.DebugLevel, "delivered"); ce != nil {
			ce.Write(zap.String("provider", provider), zap.Int("attempt", r.GenerationAttempts), zap.Duration("duration", elapsed))
		}
		_ = msg.Ack()
	case r.Status == logstore.StatusFailed:
		w.metrics.attempts.WithLabelValues(j.Channel, provider, "failed").Inc()
		w.metrics.delivered.WithLabelValues(j.Channel, logstore.StatusFailed).Inc()
		log.Warn("delivery failed", zap.Int("attempts", r.GenerationAttempts), zap.String("error_code", a.ErrorCode), zap.String("error", a.Error))
		_ = msg.Term()
	default:
		w.metrics.attempts.WithLabelValues(j.Channel, provider, "retry").Inc()
		log.Info("delivery will be retried", zap.Int("attempt", r.GenerationAttempts), zap.Duration("in", r.RetryIn), zap.String("error_code", a.ErrorCode))
		_ = msg.NakWithDelay(r.RetryIn)
	}
}

// recordWithRetry records an attempt, retrying while Redis is unreachable
// for up to RecordRetryFor (default 1 minute), because recording the
// outcome of a send that happened beats sending it again. The message is
// kept meanwhile: InProgress restarts its AckWait at every try. It gives up
// early when the worker's grace period ends (ctx).
func (w *Worker) recordWithRetry(ctx context.Context, msg jetstream.Msg, j *job.Job, a logstore.Attempt, outcome logstore.Outcome, b logstore.Backoff) (logstore.AttemptResult, error) {
	deadline := time.Now().Add(w.cfg.RecordRetryFor)
	wait := 50 * time.Millisecond
	rctx := context.WithoutCancel(ctx) // a write under way is never cut
	for {
		cctx, cancel := context.WithTimeout(rctx, 3*time.Second)
		r, err := w.cfg.Store.RecordAttempt(cctx, j.Workspace, j.ID, j.Generation, a, outcome, j.Retries+1, b)
		cancel()
		if err == nil {
			return r, nil
		}
		if time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			return r, fmt.Errorf("record attempt: %w", err)
		}
		_ = msg.InProgress()
		sleepCtx(ctx, wait)
		wait = min(2*wait, 2*time.Second, w.cfg.AckWait/3)
	}
}

// circuitOpen hands a job back without an attempt while the endpoint's
// breaker is open, noting CIRCUIT_OPEN on the entry (once per message
// while the breaker stays open: the fault suite saw each waiting message
// handed back four times in an 8 s outage with open_for 2s).
func (w *Worker) circuitOpen(ctx context.Context, msg jetstream.Msg, j *job.Job, log *zap.Logger, provider, endpoint string) {
	w.metrics.attempts.WithLabelValues(j.Channel, provider, "circuit_open").Inc()
	delay := w.cfg.BreakerOpenFor/2 + w.jittered(w.cfg.BreakerOpenFor/2)
	if !w.breakers.firstNote(j.Workspace, j.Channel, endpoint, j.ID) {
		_ = msg.NakWithDelay(delay)
		return
	}
	gen := j.Generation
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	_, _, err := w.cfg.Store.Transition(cctx, j.Workspace, j.ID, logstore.Change{
		From: []string{logstore.StatusPending, logstore.StatusReprocessing}, Generation: &gen,
		SetError: true, ErrorCode: channel.CodeCircuitOpen,
		Error: fmt.Sprintf("circuit open for %s after repeated failures; delivery postponed", endpoint),
	})
	if err != nil && !errors.Is(err, logstore.ErrConflict) {
		log.Warn("could not note CIRCUIT_OPEN", zap.Error(err))
	}
	_ = msg.NakWithDelay(delay)
}

// jittered returns d scaled by a random factor in [0.5, 1.5).
func (w *Worker) jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}
