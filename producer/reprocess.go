package producer

import (
	"context"

	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/internal/reqid"
	"github.com/heraldhq/herald/logstore"
)

// Reprocess sends a failed or sent message again with its stored input,
// product, env and notification: the entry moves to reprocessing in a new
// generation (so a stale delivery of the old one cannot touch it), keeps
// its attempts, and a new job is published. Other statuses are
// logstore.ErrConflict; an unknown id is logstore.ErrNotFound.
func (p *Producer) Reprocess(ctx context.Context, ws, id string) (*Sent, error) {
	// As with a send: once the entry may change, the caller leaving does
	// not decide the outcome.
	ctx = context.WithoutCancel(ctx)
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
	j := &queue.Job{Workspace: ws, ID: id, Channel: e.Type, Generation: gen, Product: e.ProductTag, Env: e.Env,
		Notification: e.Notification, Retries: e.Retries, Input: e.Input, RequestID: reqid.From(ctx)}
	if err := p.publish(ctx, j); err != nil {
		status, err := p.abandon(ctx, j, "", err, "reprocessing could not be queued; nothing was sent")
		if err != nil {
			return nil, err
		}
		return &Sent{Channel: e.Type, MessageID: id, Status: status}, nil
	}
	p.metrics.accepted.WithLabelValues(e.Type, ViaReprocess).Inc()
	return &Sent{Channel: e.Type, MessageID: id, Status: logstore.StatusReprocessing}, nil
}
