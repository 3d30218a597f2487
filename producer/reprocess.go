package producer

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/heraldhq/herald/internal/job"
	"github.com/heraldhq/herald/internal/reqid"
	"github.com/heraldhq/herald/logstore"
)

// Reprocess sends a failed or sent message again with its stored input,
// product, env and notification: the entry moves to reprocessing in a new
// generation (so a stale delivery of the old one cannot touch it), keeps
// its attempts, and a new job is published. Other statuses are
// logstore.ErrConflict; an unknown id is logstore.ErrNotFound.
func (p *Producer) Reprocess(ctx context.Context, ws, id string) (*Sent, error) {
	e, err := p.cfg.Store.Get(ctx, ws, id)
	if err != nil {
		return nil, err
	}
	_, gen, err := p.cfg.Store.Transition(ctx, ws, id, logstore.Change{
		To: logstore.StatusReprocessing, From: []string{logstore.StatusFailed, logstore.StatusSent},
		NewGeneration: true, TriggeredBy: ViaReprocess, SetError: true,
	})
	if err != nil {
		return nil, err
	}
	j := &job.Job{Workspace: ws, ID: id, Channel: e.Type, Generation: gen, Product: e.ProductTag, Env: e.Env,
		Notification: e.Notification, Retries: e.Retries, Input: e.Input, RequestID: reqid.From(ctx)}
	if err := p.publish(ctx, j, false); err != nil {
		p.metrics.unavailable.Inc()
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, _, terr := p.cfg.Store.Transition(mctx, ws, id, logstore.Change{
			To: logstore.StatusFailed, From: []string{logstore.StatusReprocessing}, Generation: &gen,
			SetError: true, ErrorCode: "UNAVAILABLE", Error: "reprocessing could not be queued; nothing was sent",
		}); terr != nil {
			p.log.Error("could not mark entry failed after reprocess publish failure", reqid.Field(ctx), zap.String("message_id", id), zap.Error(terr))
		}
		return nil, &UnavailableError{Dependency: DependencyQueue, Err: err}
	}
	p.metrics.accepted.WithLabelValues(e.Type, ViaReprocess).Inc()
	return &Sent{Channel: e.Type, MessageID: id, Status: logstore.StatusReprocessing}, nil
}
