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

// Ledger notices that Redis went back in time. Every Interval, one worker
// per workspace (a short Redis lock) compares the log store's counters —
// entries created, outcomes and transitions recorded; they only grow
// while Redis keeps what it acknowledged — with the checkpoint it keeps
// outside Redis, in a JetStream key-value bucket. Counters below the
// checkpoint mean Redis lost acknowledged writes (restored from an older
// RDB snapshot, or an AOF that lost its last second): the outcome of
// deliveries made in the lost time is unknown, so the workspace is marked
// (logstore.MarkRolledBack) and nothing re-sends its older entries on its
// own — neither the reconciler, nor the retry pump for retries that fell
// due in the lost time.
//
// Each check also vouches for the Redis (logstore.Vouch, a key with a
// TTL of a few intervals): the pump and the reconciler act only on a
// vouched Redis, and a restored snapshot comes back without a live mark,
// so nothing is re-sent from it before a check has run.
type Ledger struct {
	Store      *logstore.Store
	Queue      *queue.Queue
	Workspaces func() []string
	Interval   time.Duration
	Clock      clock.Clock
	Logger     *zap.Logger

	rollbacks prometheus.Counter
}

func (l *Ledger) run(ctx context.Context) {
	l.Interval = cmp.Or(l.Interval, time.Second)
	t := time.NewTicker(l.Interval)
	defer t.Stop()
	for {
		for _, ws := range l.Workspaces() {
			l.check(ctx, ws)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check runs one check of a workspace, unless another worker holds it.
func (l *Ledger) check(ctx context.Context, ws string) {
	interval := cmp.Or(l.Interval, time.Second)
	if !l.Queue.Connected() {
		return // cannot read the checkpoint: leave the check to a worker that can
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if ok, err := l.Store.TryLock(cctx, ws, "ledger", interval/2); err != nil || !ok {
		return
	}
	if err := l.CheckOnce(cctx, ws); err != nil {
		cmp.Or(l.Logger, zap.NewNop()).Warn("ledger check failed", zap.String("workspace", ws), zap.Error(err))
	}
}

// CheckOnce compares a workspace's counters with its checkpoint, marks a
// rollback, moves the checkpoint and vouches for the Redis.
func (l *Ledger) CheckOnce(ctx context.Context, ws string) error {
	interval := cmp.Or(l.Interval, time.Second)
	now := clock.Or(l.Clock).Now()
	c, err := l.Store.Counters(ctx, ws)
	if err != nil {
		return err
	}
	last, prev, found, err := l.Queue.LoadCheckpoint(ctx, ws)
	if err != nil {
		return err
	}
	if found && (c.Seq < last.Seq || c.Records < last.Records) {
		// Redis is behind a checkpoint it had reached: it lost writes. It
		// went back to some time after the previous checkpoint (if Redis
		// is not behind that one too), which bounds what may be lost.
		from := time.Time{}
		if prev != nil && c.Seq >= prev.Seq && c.Records >= prev.Records {
			from = prev.At
		}
		if err := l.Store.MarkRolledBack(ctx, ws, c.Seq, from, now); err != nil {
			return err
		}
		if l.rollbacks != nil {
			l.rollbacks.Inc()
		}
		cmp.Or(l.Logger, zap.NewNop()).Error("the log store is behind its checkpoint: Redis lost acknowledged writes (restored from an older snapshot?). "+
			"Messages made before now are not re-sent automatically; reprocess them once their state is known",
			zap.String("workspace", ws), zap.Int64("seq", c.Seq), zap.Int64("checkpoint_seq", last.Seq),
			zap.Int64("records", c.Records), zap.Int64("checkpoint_records", last.Records), zap.Time("checkpoint_at", last.At))
	}
	if !found || c.Seq != last.Seq || c.Records != last.Records {
		if err := l.Queue.SaveCheckpoint(ctx, ws, queue.Checkpoint{Seq: c.Seq, Records: c.Records, At: now}); err != nil {
			return err
		}
	}
	ok, err := l.Store.Vouch(ctx, ws, c, 3*interval)
	if err == nil && !ok {
		// Redis went back while this check ran (read from the Redis before
		// a restart, vouching on the one after): the next check compares
		// the restored counters and marks the rollback.
		cmp.Or(l.Logger, zap.NewNop()).Warn("the log store's counters went back during a ledger check; not vouching for it", zap.String("workspace", ws))
	}
	return err
}
