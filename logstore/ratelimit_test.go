package logstore_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/logstore"
)

// Property: the shared limit's TAT follows the GCRA model exactly, for any
// sequence of debits and clock steps, per key and per workspace.
func TestDebitRateModel(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	type key struct{ ws, id string }
	keys := []key{{"acme", "k1"}, {"acme", "k2"}, {"globex", "k1"}}
	model := map[key]int64{}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for range 2000 {
		now = now.Add(time.Duration(rng.IntN(5000)) * time.Microsecond)
		k := keys[rng.IntN(len(keys))]
		interval := time.Duration(1+rng.IntN(20000)) * time.Microsecond
		cost := rng.IntN(5)
		got, err := s.DebitRate(ctx, logstore.RateDebit{Workspace: k.ws, Key: k.id, Interval: interval, Cost: cost, Now: now})
		require.NoError(t, err)
		tat := max(model[k], now.UnixMicro()) + int64(cost)*interval.Microseconds()
		model[k] = tat
		require.Equal(t, tat, got.UnixMicro())
	}
	// Concurrent debits through the batcher add up.
	start := time.Now()
	done := make(chan time.Time, 100)
	for range 100 {
		go func() {
			tat, err := s.DebitRate(ctx, logstore.RateDebit{Workspace: "acme", Key: "burst", Interval: time.Millisecond, Cost: 1, Now: start})
			require.NoError(t, err)
			done <- tat
		}()
	}
	var last time.Time
	for range 100 {
		if tat := <-done; tat.After(last) {
			last = tat
		}
	}
	require.Equal(t, start.Add(100*time.Millisecond).UnixMicro(), last.UnixMicro())
}

// BenchmarkDebitRate is the round trip of one background debit (the API
// sends at most one per key at a time, carrying everything taken meanwhile).
func BenchmarkDebitRate(b *testing.B) {
	r := testutil.StartRedis(b)
	s := logstore.New(r.Client, logstore.Config{})
	b.Cleanup(s.Close)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.DebitRate(ctx, logstore.RateDebit{Workspace: "acme", Key: "k", Interval: time.Microsecond, Cost: 1, Now: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}
