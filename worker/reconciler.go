package worker

import (
	"cmp"
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/logstore"
)

// Reconciler finds entries left pending or reprocessing with nothing to
// deliver them — a producer that died between writing the entry and
// publishing, a stream that lost its data — and publishes their job again.
// An entry qualifies when nothing has happened to it for After, JetStream
// holds no job for it, no worker holds its lease and no retry waits in the
// due set.
//
// It does not re-send what may have been delivered. An entry pending with
// no job is either one whose job never reached JetStream (a producer that
// died) or one whose job was delivered and whose outcome Redis lost (a
// restored snapshot); only JetStream can tell them apart, through its
// duplicate window: a republish under the job's own message id is dropped
// if the job was stored. So the reconciler republishes only entries whose
// last publish is inside the duplicate window (minus a margin) — or older
// ones when the stream itself was recreated since (a wiped store: their
// jobs went with it) — acts only on a Redis the ledger vouched for, and
// never on entries older than a rollback the ledger detected (JetStream
// may have restarted and forgotten ids it had). It counts only jobs
// JetStream stored: a republish the duplicate window dropped was not a
// lost job.
type Reconciler struct {
	Store      *logstore.Store
	Queue      *queue.Queue
	Workspaces func() []string
	// After is how long an entry must sit untouched. Default 1 minute.
	After time.Duration
	// Interval between runs. Default After/5, at least 1s, at most 1m.
	Interval time.Duration
	Clock    clock.Clock
	Logger   *zap.Logger

	reconciled *prometheus.CounterVec
	withheld   prometheus.Gauge
	// lastWithheld is each workspace's count in its last run (run loop only).
	lastWithheld map[string]int
}

// maxExamined bounds the entries one run looks at per workspace.
const maxExamined = 10000

// windowMargin keeps the reconciler clear of the end of the duplicate
// window: a republish must reach JetStream while it still remembers.
const windowMargin = 15 * time.Second

// lastPublish is when the entry's current job was last published, as far
// as the entry tells: its last change, or its retry's due time.
func lastPublish(e *logstore.Entry) time.Time {
	if e.NextAttemptAt.After(e.UpdatedAt) {
		return e.NextAttemptAt
	}
	return e.UpdatedAt
}

func (r *Reconciler) run(ctx context.Context) {
	r.After = cmp.Or(r.After, time.Minute)
	r.Interval = cmp.Or(r.Interval, min(max(r.After/5, time.Second), time.Minute))
	r.Logger = cmp.Or(r.Logger, zap.NewNop())
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r.lastWithheld == nil {
			r.lastWithheld = map[string]int{}
		}
		total := 0
		for _, ws := range r.Workspaces() {
			if ok, err := r.Store.TryLock(ctx, ws, "reconcile", r.Interval/2); err != nil || !ok {
				total += r.lastWithheld[ws]
				continue
			}
			n, withheld, err := r.run1(ctx, ws)
			r.lastWithheld[ws] = withheld
			total += withheld
			if err != nil {
				r.Logger.Warn("reconcile failed", zap.String("workspace", ws), zap.Error(err))
			} else if n > 0 {
				r.Logger.Warn("queued again the jobs of entries that had none", zap.String("workspace", ws), zap.Int("count", n))
			}
		}
		if r.withheld != nil {
			r.withheld.Set(float64(total))
		}
	}
}

// RunOnce checks one workspace and returns how many jobs JetStream stored
// for it.
func (r *Reconciler) RunOnce(ctx context.Context, ws string) (int, error) {
	n, _, err := r.run1(ctx, ws)
	return n, err
}

// run1 is RunOnce, also returning how many entries it withheld.
func (r *Reconciler) run1(ctx context.Context, ws string) (n, withheld int, err error) {
	if vouched, err := r.Store.Vouched(ctx, ws); err != nil || !vouched {
		return 0, 0, err // the ledger has not looked at this Redis yet
	}
	counters, err := r.Store.Counters(ctx, ws)
	if err != nil {
		return 0, 0, err
	}
	now := clock.Or(r.Clock).Now()
	cutoff := now.Add(-cmp.Or(r.After, time.Minute))
	// Older than this, JetStream no longer remembers the job's id.
	horizon := now.Add(-(r.Queue.DuplicateWindow() - windowMargin))
	created, err := r.Queue.StreamCreated(ctx)
	if err != nil {
		return 0, 0, err
	}
	examined := 0
	for _, status := range []string{logstore.StatusPending, logstore.StatusReprocessing} {
		q := logstore.Query{Workspace: ws, Status: status, End: cutoff, Limit: 200}
		for examined < maxExamined {
			page, err := r.Store.Query(ctx, q)
			if err != nil {
				return n, withheld, err
			}
			for _, e := range page.Entries {
				examined++
				if e.UpdatedAt.After(cutoff) || e.NextAttemptAt.After(cutoff) {
					continue // touched recently, or a retry is scheduled
				}
				if has, err := r.Queue.HasJob(ctx, e.Type, ws, e.ID); err != nil || has {
					if err != nil {
						return n, withheld, err
					}
					continue // its job is queued, or being delivered
				}
				if busy, err := r.Store.InFlight(ctx, ws, e.ID); err != nil || busy {
					if err != nil {
						return n, withheld, err
					}
					continue // a worker holds it, or a retry waits
				}
				if counters.RolledBackSeq >= 0 && e.Seq < counters.RolledBackSeq {
					withheld++
					continue
				}
				if last := lastPublish(e); last.Before(horizon) && !created.After(last) {
					withheld++ // too old to tell whether its job was delivered
					continue
				}
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				stored, err := r.Queue.Publish(pctx, queue.ForEntry(e))
				cancel()
				if err != nil {
					return n, withheld, err
				}
				if stored {
					if r.reconciled != nil {
						r.reconciled.WithLabelValues(e.Type).Inc()
					}
					n++
				}
			}
			if !page.HasMore {
				break
			}
			q.Cursor = page.NextCursor
		}
	}
	if withheld > 0 && counters.RolledBackSeq < 0 {
		cmp.Or(r.Logger, zap.NewNop()).Warn("entries without a job not queued again: their last publish is older than JetStream's duplicate window, "+
			"so it can no longer tell whether they were delivered; reprocess them (POST /v1/messages/reprocess with include_stuck_pending) if they were not",
			zap.String("workspace", ws), zap.Int("count", withheld))
	} else if withheld > 0 {
		cmp.Or(r.Logger, zap.NewNop()).Error("entries without a job not queued again: they predate a detected rollback of the log store, so they may have been delivered; "+
			"reprocess them (POST /v1/messages/reprocess with include_stuck_pending) once you know",
			zap.String("workspace", ws), zap.Int("count", withheld))
	}
	return n, withheld, nil
}
