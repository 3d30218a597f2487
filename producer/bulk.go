package producer

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/logstore"
)

// BulkOptions tune ReprocessMatching.
type BulkOptions struct {
	// DryRun only counts what would be reprocessed.
	DryRun bool
	// IncludeStuckPending also takes pending entries untouched for
	// StuckAfter whose job is gone from JetStream, and queues them again.
	IncludeStuckPending bool
	StuckAfter          time.Duration
	// Rate is the most messages queued per second. Default 1000.
	Rate int
	// Concurrency is how many are queued at once. Default 8.
	Concurrency int
}

// BulkResult is what ReprocessMatching did.
type BulkResult struct {
	Matched     int64 `json:"matched"`
	Reprocessed int64 `json:"reprocessed"`
	// Skipped counts stuck-pending candidates whose job turned out to be
	// still queued: they were left alone.
	Skipped int64 `json:"skipped,omitempty"`
	// Errors counts matches that could not be reprocessed (changed status
	// meanwhile, or the queue was unavailable).
	Errors int64 `json:"errors,omitempty"`
}

var errSkip = errors.New("skip")

const bulkPage = 500

// ReprocessMatching reprocesses every failed entry matching q (its Status
// is ignored), streaming through the matches one page at a time so memory
// stays bounded whatever their number, at most opts.Rate per second.
func (p *Producer) ReprocessMatching(ctx context.Context, q logstore.Query, opts BulkOptions) (BulkResult, error) {
	var res BulkResult
	q.Status, q.Cursor, q.Offset, q.Limit = logstore.StatusFailed, "", 0, bulkPage
	// Pages carry ids, not inputs (a page of 500 inputs of up to 1 MiB
	// each): Reprocess reads its entry, the stuck path reads one at a time.
	q.InputLimit = 1
	limiter := rate.NewLimiter(rate.Limit(cmp.Or(opts.Rate, 1000)), cmp.Or(opts.Rate, 1000)/10+1)
	count := func(q logstore.Query) (int64, error) {
		q.Limit = 1
		page, err := p.cfg.Store.Query(ctx, q)
		if err != nil {
			return 0, err
		}
		return page.Total, nil
	}
	var err error
	if res.Matched, err = count(q); err != nil {
		return res, err
	}
	var stuck logstore.Query
	if opts.IncludeStuckPending {
		stuck = q
		stuck.Status = logstore.StatusPending
		cutoff := p.clock.Now().Add(-cmp.Or(opts.StuckAfter, 15*time.Minute))
		if stuck.End.IsZero() || stuck.End.After(cutoff) {
			stuck.End = cutoff
		}
		n, err := count(stuck)
		if err != nil {
			return res, err
		}
		res.Matched += n
	}
	if opts.DryRun || res.Matched == 0 {
		return res, nil
	}
	var reprocessed, failed, skipped atomic.Int64
	work := func(each func(context.Context, *logstore.Entry) error, q logstore.Query) error {
		sem := make(chan struct{}, cmp.Or(opts.Concurrency, 8))
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			page, err := p.cfg.Store.Query(ctx, q)
			if err != nil {
				return err
			}
			for _, e := range page.Entries {
				if err := limiter.Wait(ctx); err != nil {
					return err
				}
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					if err := each(ctx, e); errors.Is(err, errSkip) {
						skipped.Add(1)
						return
					} else if err != nil {
						failed.Add(1)
						return
					}
					reprocessed.Add(1)
				}()
			}
			if !page.HasMore {
				return nil
			}
			q.Cursor = page.NextCursor
		}
	}
	err = work(func(ctx context.Context, e *logstore.Entry) error {
		_, err := p.Reprocess(ctx, e.Workspace, e.ID)
		return err
	}, q)
	if err == nil && opts.IncludeStuckPending {
		stuck.Cursor, stuck.Limit = "", bulkPage
		err = work(func(ctx context.Context, e *logstore.Entry) error {
			if busy, err := p.inFlight(ctx, e); err != nil || busy {
				return cmp.Or(err, errSkip) // its job is still queued, being sent, or waiting for a retry
			}
			if e.InputCut > 0 {
				full, err := p.cfg.Store.Get(ctx, e.Workspace, e.ID)
				if err != nil {
					return err
				}
				e = full
			}
			return p.publish(ctx, queue.ForEntry(e))
		}, stuck)
	}
	res.Reprocessed, res.Errors, res.Skipped = reprocessed.Load(), failed.Load(), skipped.Load()
	if err != nil {
		p.log.Warn("bulk reprocess stopped early", zap.String("workspace", q.Workspace), zap.Int64("reprocessed", res.Reprocessed), zap.Error(err))
	}
	return res, err
}

// inFlight reports whether a message's delivery is under way: a job on
// JetStream, a worker's lease, or a retry waiting in the due set.
func (p *Producer) inFlight(ctx context.Context, e *logstore.Entry) (bool, error) {
	if has, err := p.cfg.Queue.HasJob(ctx, e.Type, e.Workspace, e.ID); err != nil || has {
		return has, err
	}
	return p.cfg.Store.InFlight(ctx, e.Workspace, e.ID)
}
