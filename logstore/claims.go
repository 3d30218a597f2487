package logstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claims, retries and the ledger: what the worker asks Redis around a
// send (docs/ARCHITECTURE.md, "The retry path").

// ClaimRecord asks to start one delivery (claim.lua).
type ClaimRecord struct {
	Workspace, ID string
	Generation    int
	// Attempt is the number of attempts of the generation the job was
	// published for; -1 when unknown (a job of an older wire format).
	Attempt int
	// Token names this delivery's lease.
	Token string
	Lease time.Duration
}

// Claim verdicts.
const (
	ClaimOK      = "ok"
	ClaimMissing = "missing"
	ClaimSettled = "settled"
	ClaimStale   = "stale"
	ClaimBusy    = "busy"
)

// ClaimResult is what Claim found.
type ClaimResult struct {
	// Verdict is one of the Claim* constants; only ClaimOK may send.
	Verdict string
	Status  string
	// GenerationAttempts and Attempts are the entry's counts (ClaimOK).
	GenerationAttempts, Attempts int
	// BusyFor is how long another delivery's lease still runs (ClaimBusy).
	BusyFor time.Duration
}

// Claim checks, before a send, that the message is still to be delivered
// in this generation and attempt, and takes the delivery's lease for
// r.Lease: a cancelled message, a stale or second copy of a job, or one
// another worker is sending is not sent. Concurrent calls share pipelines.
func (s *Store) Claim(ctx context.Context, r ClaimRecord) (ClaimResult, error) {
	s.claims.start(2)
	return s.claims.do(ctx, r)
}

// ClaimMany is Claim for many deliveries: one script call per workspace,
// all in one round trip.
func (s *Store) ClaimMany(ctx context.Context, recs []ClaimRecord) ([]ClaimResult, []error) {
	out, errs := make([]ClaimResult, len(recs)), make([]error, len(recs))
	groups := map[string][]int{}
	var order []string
	for i, r := range recs {
		if _, ok := groups[r.Workspace]; !ok {
			order = append(order, r.Workspace)
		}
		groups[r.Workspace] = append(groups[r.Workspace], i)
	}
	calls := make([]scriptCall, 0, len(order))
	for _, ws := range order {
		idx := groups[ws]
		args := make([]any, 0, 2+4*len(idx))
		args = append(args, s.keys.base(ws), recs[idx[0]].Lease.Milliseconds())
		for _, i := range idx {
			r := recs[i]
			args = append(args, r.ID, r.Generation, r.Attempt, r.Token)
		}
		calls = append(calls, scriptCall{keys: []string{s.keys.meta(ws)}, args: args})
	}
	for g, cmd := range s.pipeline(ctx, claimScript, calls) {
		idx := groups[order[g]]
		res, err := cmd.Slice()
		if err == nil && len(res) != 4*len(idx) {
			err = fmt.Errorf("answer of %d values for %d claims", len(res), len(idx))
		}
		for k, i := range idx {
			if err != nil {
				errs[i] = fmt.Errorf("logstore: claim: %w", err)
				continue
			}
			v := res[4*k : 4*k+4]
			r := ClaimResult{Verdict: v[0].(string), Status: v[1].(string)}
			switch r.Verdict {
			case ClaimOK:
				r.GenerationAttempts, r.Attempts = int(v[2].(int64)), int(v[3].(int64))
			case ClaimBusy:
				r.BusyFor = time.Duration(v[2].(int64)) * time.Millisecond
			}
			out[i] = r
		}
	}
	return out, errs
}

// ErrUnchecked is ClaimRetries refusing to hand out retries of a Redis the
// ledger has not checked recently (see ledger.go).
var ErrUnchecked = errors.New("logstore: the ledger has not checked this Redis recently")

// RetryClaim is a batch of claimed retries.
type RetryClaim struct {
	// Due are the entries whose next attempt is due, as they are now.
	Due []*Entry
	// LeaseEnd identifies the claim (RetriesPublished).
	LeaseEnd int64
	// Suspects are messages whose retry may already have been made in the
	// time a restored Redis snapshot lost: taken out of the due set, not
	// sent again.
	Suspects []string
}

// ClaimRetries leases up to limit retries of workspace ws that are due by
// now, for lease: no other pump sees them until it runs out.
func (s *Store) ClaimRetries(ctx context.Context, ws string, now time.Time, lease time.Duration, limit int) (RetryClaim, error) {
	var rc RetryClaim
	res, err := retryClaimScript.Run(ctx, s.rdb, []string{s.keys.retryDue(ws), s.keys.ledger(ws), s.keys.meta(ws)},
		s.keys.base(ws), now.UnixMilli(), lease.Milliseconds(), limit).Slice()
	if err != nil {
		return rc, fmt.Errorf("logstore: claim retries: %w", err)
	}
	if res[0].(string) == "unchecked" {
		return rc, ErrUnchecked
	}
	rc.LeaseEnd, _ = strconv.ParseInt(res[1].(string), 10, 64)
	claimed, _ := res[2].([]any)
	for i := 0; i+1 < len(claimed); i += 2 {
		raw := claimed[i+1].(string)
		e, err := decodeEntry(ws, raw)
		if err != nil {
			return rc, err
		}
		rc.Due = append(rc.Due, e)
	}
	for _, v := range res[3].([]any) {
		rc.Suspects = append(rc.Suspects, v.(string))
	}
	return rc, nil
}

// RetriesPublished settles a pump's claim: the published retries leave
// the due set, and those it could not publish (unpublished) are due again
// at once for any pump — each only if it is still the claim's (leaseEnd):
// one a worker attempted and rescheduled meanwhile stays as it is.
func (s *Store) RetriesPublished(ctx context.Context, ws string, leaseEnd int64, published, unpublished []string) error {
	if len(published)+len(unpublished) == 0 {
		return nil
	}
	args := make([]any, 0, 1+2*(len(published)+len(unpublished)))
	args = append(args, leaseEnd)
	for _, id := range published {
		args = append(args, id, "")
	}
	now := s.clock.Now().UnixMilli()
	for _, id := range unpublished {
		args = append(args, id, now)
	}
	if err := retryDoneScript.Run(ctx, s.rdb, []string{s.keys.retryDue(ws)}, args...).Err(); err != nil {
		return fmt.Errorf("logstore: retries published: %w", err)
	}
	return nil
}

// InFlight reports whether a message's delivery is under way somewhere the
// reconciler cannot see on JetStream: a lease held (a worker is sending)
// or a retry in the due set.
func (s *Store) InFlight(ctx context.Context, ws, id string) (bool, error) {
	pipe := s.rdb.Pipeline()
	lease := pipe.Exists(ctx, s.keys.lease(ws, id))
	due := pipe.ZScore(ctx, s.keys.retryDue(ws), id)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("logstore: in flight: %w", err)
	}
	return lease.Val() > 0 || due.Err() == nil, nil
}

// RetriesDue counts a workspace's messages waiting for their next attempt.
func (s *Store) RetriesDue(ctx context.Context, ws string) (int64, error) {
	return s.rdb.ZCard(ctx, s.keys.retryDue(ws)).Result()
}

// NextRetry is when the earliest waiting retry of ws is due (zero: none):
// the pump sleeps until then instead of polling an empty set.
func (s *Store) NextRetry(ctx context.Context, ws string) (time.Time, error) {
	z, err := s.rdb.ZRangeWithScores(ctx, s.keys.retryDue(ws), 0, 0).Result()
	if err != nil || len(z) == 0 {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(z[0].Score)).UTC(), nil
}
