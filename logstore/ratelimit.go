package logstore

import (
	"context"
	_ "embed"
	"fmt"
	"time"
)

//go:embed lua/ratelimit.lua
var rateLimitLua string

var rateLimitScript = newScript(rateLimitLua)

// RateDebit takes Cost requests from an API key's shared rate limit.
type RateDebit struct {
	Workspace string
	// Key identifies the API key (config.Principal.KeyID).
	Key string
	// Interval is the time one request is worth: 1s / per_second.
	Interval time.Duration
	Cost     int
	Now      time.Time
}

// DebitRate records a debit against a key's limit, shared by every API
// replica, and returns the limit's state afterwards: the theoretical
// arrival time (GCRA) — the key may take n more requests at t while
// TAT - t + n*Interval stays within its burst. Concurrent calls share
// pipelines, so a debit costs one round trip at most, and much less under
// load.
func (s *Store) DebitRate(ctx context.Context, d RateDebit) (time.Time, error) {
	s.rates.start(1)
	return s.rates.do(ctx, d)
}

// DebitRates is DebitRate for many debits in one pipelined round trip.
func (s *Store) DebitRates(ctx context.Context, ds []RateDebit) ([]time.Time, []error) {
	out, errs := make([]time.Time, len(ds)), make([]error, len(ds))
	calls := make([]scriptCall, len(ds))
	for i, d := range ds {
		calls[i] = scriptCall{keys: []string{s.keys.rate(d.Workspace, d.Key)},
			args: []any{d.Now.UnixMicro(), max(d.Interval.Microseconds(), 1), max(d.Cost, 0)}}
	}
	for i, cmd := range s.pipeline(ctx, rateLimitScript, calls) {
		tat, err := cmd.Int64()
		if err != nil {
			errs[i] = fmt.Errorf("logstore: rate limit: %w", err)
			continue
		}
		out[i] = time.UnixMicro(tat)
	}
	return out, errs
}
