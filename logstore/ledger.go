package logstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The log store's side of the ledger (worker.Ledger, docs/ARCHITECTURE.md
// "Durability"): counters that only ever grow while Redis keeps what it
// acknowledged, so that a Redis restored from an older snapshot shows up
// as counters below the checkpoint kept outside Redis.

// Counters of a workspace.
type Counters struct {
	// Seq is the next sequence number (entries created); Records the
	// outcomes and transitions recorded.
	Seq, Records int64
	// RolledBackSeq is the sequence number at which a rollback of this
	// Redis was last detected: entries below it may have lost their
	// outcome, so nothing re-sends them on its own. -1: none detected.
	RolledBackSeq int64
	// RolledBackFrom and RolledBackAt bound when the lost writes happened:
	// after the last checkpoint Redis still satisfies (zero: unknown),
	// before the detection.
	RolledBackFrom, RolledBackAt time.Time
}

// Counters reads the workspace's counters.
func (s *Store) Counters(ctx context.Context, ws string) (Counters, error) {
	v, err := s.rdb.HMGet(ctx, s.keys.meta(ws), "seq", "rec", "rb", "rbt", "rbf").Result()
	if err != nil {
		return Counters{}, fmt.Errorf("logstore: counters: %w", err)
	}
	num := func(x any, def int64) int64 {
		if str, ok := x.(string); ok {
			if n, err := strconv.ParseInt(str, 10, 64); err == nil {
				return n
			}
		}
		return def
	}
	c := Counters{Seq: num(v[0], 0), Records: num(v[1], 0), RolledBackSeq: num(v[2], -1)}
	if at := num(v[3], 0); at > 0 {
		c.RolledBackAt = time.UnixMilli(at).UTC()
	}
	if from := num(v[4], 0); from > 0 {
		c.RolledBackFrom = time.UnixMilli(from).UTC()
	}
	return c, nil
}

// MarkRolledBack records that the ledger found this Redis behind its
// checkpoint: entries with a sequence number below seq are not re-sent by
// the reconciler, and retries that fell due between from (zero: any time)
// and at are not re-sent by the pump (retry_claim.lua): they may have been
// made in the time Redis lost.
func (s *Store) MarkRolledBack(ctx context.Context, ws string, seq int64, from, at time.Time) error {
	f := int64(0)
	if !from.IsZero() {
		f = from.UnixMilli()
	}
	if err := s.rdb.HSet(ctx, s.keys.meta(ws), "rb", seq, "rbt", at.UnixMilli(), "rbf", f).Err(); err != nil {
		return fmt.Errorf("logstore: mark rolled back: %w", err)
	}
	return nil
}

//go:embed lua/vouch.lua
var vouchLua string

var vouchScript = redis.NewScript(vouchLua)

// Vouch marks this Redis as checked by the ledger for ttl, provided its
// counters are still at least seen (what the check compared with its
// checkpoint); it reports false, vouching for nothing, when they went
// back in between — the Redis was replaced by an older snapshot while the
// check ran. The mark has a TTL so that a snapshot restored later (its
// expiry passed) comes back without it: nothing re-sends from it until
// the ledger looked again.
func (s *Store) Vouch(ctx context.Context, ws string, seen Counters, ttl time.Duration) (bool, error) {
	n, err := vouchScript.Run(ctx, s.rdb, []string{s.keys.meta(ws), s.keys.ledger(ws)},
		seen.Seq, seen.Records, max(ttl.Milliseconds(), 1)).Int()
	if err != nil {
		return false, fmt.Errorf("logstore: vouch: %w", err)
	}
	return n == 1, nil
}

// Vouched reports whether the ledger checked this Redis within its TTL.
func (s *Store) Vouched(ctx context.Context, ws string) (bool, error) {
	err := s.rdb.Get(ctx, s.keys.ledger(ws)).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return err == nil, err
}
