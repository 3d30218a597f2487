package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/logstore"
)

// pump publishes retries when they fall due. Every worker runs one; they
// share the work through leases (logstore.ClaimRetries, like the
// scheduler's claims), so two pumps never publish the same retry, and a
// pump that dies after publishing and before removing a retry from the
// due set only makes the next pump publish the same attempt again under
// the same message id — dropped by JetStream's duplicate window (the
// lease is well inside it), and past it by the worker's claim.
type pump struct {
	w *Worker
}

var errNotConnected = errors.New("not connected to NATS")

// pumpBatch is the most retries claimed per workspace per poll; a
// workspace that had more is polled again at once.
const pumpBatch = 256

// pumpPublishers bounds the publishes in flight per poll.
const pumpPublishers = 32

func (p *pump) run(ctx context.Context) {
	t := time.NewTicker(p.w.cfg.PumpInterval)
	defer t.Stop()
	var waiting int64
	countAt := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, ws := range p.w.workspaces() {
			for ctx.Err() == nil {
				n, err := p.once(ctx, ws)
				if err != nil || n < pumpBatch {
					break
				}
			}
		}
		if time.Since(countAt) > p.w.cfg.LagInterval {
			countAt, waiting = time.Now(), 0
			for _, ws := range p.w.workspaces() {
				if n, err := p.w.cfg.Store.RetriesDue(ctx, ws); err == nil {
					waiting += n
				}
			}
			p.w.metrics.retriesWaiting.Set(float64(waiting))
		}
	}
}

// once claims the due retries of one workspace and publishes them,
// returning how many it claimed.
func (p *pump) once(ctx context.Context, ws string) (int, error) {
	w := p.w
	if !w.cfg.Queue.Connected() {
		return 0, errNotConnected // leave the retries to a pump that can publish them
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	rc, err := w.cfg.Store.ClaimRetries(cctx, ws, w.clock.Now(), w.cfg.PumpLease, pumpBatch)
	cancel()
	if errors.Is(err, logstore.ErrUnchecked) {
		// Nothing is re-sent from a Redis the ledger has not looked at
		// since it came back; look now.
		w.ledger.check(ctx, ws)
		return 0, err
	}
	if err != nil {
		w.log.Debug("retry pump: claim failed", zap.String("workspace", ws), zap.Error(err))
		return 0, err
	}
	if len(rc.Suspects) > 0 {
		w.metrics.retriesWithheld.Add(float64(len(rc.Suspects)))
		w.log.Error("retries not sent again: they fell due in the time a restored Redis snapshot lost, so they may have been made already",
			zap.String("workspace", ws), zap.Strings("message_ids", rc.Suspects))
	}
	if len(rc.Due) == 0 {
		return 0, nil
	}
	var (
		mu                     sync.Mutex
		published, unpublished []string
		wg                     sync.WaitGroup
		sem                    = make(chan struct{}, pumpPublishers)
	)
	for _, e := range rc.Due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			stored, err := w.cfg.Queue.Publish(pctx, queue.ForEntry(e))
			cancel()
			if err != nil {
				w.log.Warn("retry not published; handed back to the due set", zap.String("workspace", ws), zap.String("message_id", e.ID), zap.Error(err))
				mu.Lock()
				unpublished = append(unpublished, e.ID)
				mu.Unlock()
				return
			}
			if stored {
				w.metrics.retriesPublished.Inc()
			}
			mu.Lock()
			published = append(published, e.ID)
			mu.Unlock()
		}()
	}
	wg.Wait()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.cfg.Store.RetriesPublished(dctx, ws, rc.LeaseEnd, published, unpublished); err != nil {
		w.log.Warn("published retries stay claimed until their lease ends", zap.String("workspace", ws), zap.Error(err))
	}
	return len(rc.Due), nil
}
