package logstore

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"go.uber.org/zap"
)

//go:embed lua/lowmark.lua
var lowmarkLua string

var lowmarkScript = newScript(lowmarkLua)

// Trimmed reports what Trim removed.
type Trimmed struct {
	// Low is the new low-water mark: entries below it are past retention.
	Low int64
	// Segments is how many index segments were deleted whole.
	Segments int
	// Keys is how many keys were deleted or trimmed.
	Keys int
}

// Trim removes what retention has expired from a workspace's indexes.
// Entries and attempts expire by themselves (TTL); queries already ignore
// anything older than retention, so totals are exact before and after;
// Trim reclaims the memory: index segments entirely past retention are
// deleted, and process/campaign sets lose their expired members. It is
// safe to run concurrently and repeatedly.
func (s *Store) Trim(ctx context.Context, ws string) (Trimmed, error) {
	cutoff := s.clock.Now().Add(-s.retention).UnixMilli()
	res, err := lowmarkScript.Run(ctx, s.rdb, []string{s.keys.meta(ws)}, s.seg, s.keys.base(ws), cutoff).Int64Slice()
	if err != nil {
		return Trimmed{}, fmt.Errorf("logstore: trim: %w", err)
	}
	oldLow, low := res[0], res[1]
	t := Trimmed{Low: low}
	// Whole segments below the segment holding `low` can go. Start from
	// the segment of the previous mark; a crash between the mark and the
	// deletes leaves segments that the next run (from the older mark,
	// recorded in trimmedSeg) still removes.
	from, err := s.rdb.HGet(ctx, s.keys.meta(ws), "trimmed").Int64()
	if err != nil {
		from = oldLow / s.seg
	}
	for seg := from; seg < low/s.seg; seg++ {
		n, err := s.deleteSegment(ctx, ws, seg)
		if err != nil {
			return t, err
		}
		t.Keys += n
		t.Segments++
		if err := s.rdb.HSet(ctx, s.keys.meta(ws), "trimmed", seg+1).Err(); err != nil {
			return t, fmt.Errorf("logstore: trim: %w", err)
		}
	}
	n, err := s.trimSortedSets(ctx, ws, low)
	t.Keys += n
	return t, err
}

func (s *Store) deleteSegment(ctx context.Context, ws string, seg int64) (int, error) {
	keys := []string{s.keys.records(ws, seg)}
	found, err := s.scan(ctx, s.keys.bitmapPattern(ws, seg))
	if err != nil {
		return 0, fmt.Errorf("logstore: trim scan: %w", err)
	}
	keys = append(keys, found...)
	// One workspace's keys share a hash slot, so one DEL is valid on a cluster.
	n, err := s.rdb.Del(ctx, keys...).Result()
	if err != nil {
		return 0, fmt.Errorf("logstore: trim delete: %w", err)
	}
	return int(n), nil
}

// trimSortedSets drops members below low from the process and campaign
// sets (a long-running campaign's set would otherwise grow forever).
func (s *Store) trimSortedSets(ctx context.Context, ws string, low int64) (int, error) {
	if low == 0 {
		return 0, nil
	}
	n := 0
	sets, err := s.scan(ctx, s.keys.base(ws)+"z:*")
	if err != nil {
		return n, fmt.Errorf("logstore: trim scan: %w", err)
	}
	for _, key := range sets {
		removed, err := s.rdb.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(low, 10)).Result()
		if err != nil {
			return n, fmt.Errorf("logstore: trim sets: %w", err)
		}
		if removed > 0 {
			n++
		}
	}
	return n, nil
}

// scan lists the keys matching pattern. SCAN walks one server's keyspace,
// so on a Redis Cluster it runs on every master (a workspace's keys live
// on the master of its hash slot, which may move during a resharding).
func (s *Store) scan(ctx context.Context, pattern string) ([]string, error) {
	one := func(ctx context.Context, c redis.Cmdable) ([]string, error) {
		var out []string
		iter := c.Scan(ctx, 0, pattern, 500).Iterator()
		for iter.Next(ctx) {
			out = append(out, iter.Val())
		}
		return out, iter.Err()
	}
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return one(ctx, s.rdb)
	}
	var (
		mu  sync.Mutex
		out []string
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		keys, err := one(ctx, c)
		mu.Lock()
		out = append(out, keys...)
		mu.Unlock()
		return err
	})
	slices.Sort(out)
	return slices.Compact(out), err
}

// Janitor runs Trim for every workspace on an interval. Replicas share the
// work: a short Redis lock per workspace lets one of them trim it.
type Janitor struct {
	Store *Store
	// Workspaces lists the workspaces to trim (from the current config).
	Workspaces func() []string
	// Interval between runs. Default 10 minutes.
	Interval time.Duration
	Logger   *zap.Logger

	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs the janitor until Stop; the first run is one interval after start.
func (j *Janitor) Start(ctx context.Context) error {
	interval := cmp.Or(j.Interval, 10*time.Minute)
	log := cmp.Or(j.Logger, zap.NewNop())
	ctx, j.cancel = context.WithCancel(context.WithoutCancel(ctx))
	j.done = make(chan struct{})
	go func() {
		defer close(j.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for _, ws := range j.Workspaces() {
				ok, err := j.Store.TryLock(ctx, ws, "trim", interval/2)
				if err != nil || !ok {
					continue
				}
				tr, err := j.Store.Trim(ctx, ws)
				if err != nil {
					log.Warn("retention trim failed", zap.String("workspace", ws), zap.Error(err))
					continue
				}
				if tr.Segments > 0 || tr.Keys > 0 {
					log.Info("retention trim", zap.String("workspace", ws), zap.Int("segments", tr.Segments), zap.Int("keys", tr.Keys))
				}
			}
		}
	}()
	return nil
}

// Stop ends the janitor and waits for a run in progress.
func (j *Janitor) Stop(ctx context.Context) error {
	if j.cancel == nil {
		return nil
	}
	j.cancel()
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TryLock takes a short per-workspace lock named name; false when another
// process holds it. Locks are never released early: they expire, which
// also spaces out the work they guard.
func (s *Store) TryLock(ctx context.Context, ws, name string, ttl time.Duration) (bool, error) {
	return s.rdb.SetNX(ctx, s.keys.base(ws)+"lock:"+name, "1", max(ttl, time.Millisecond)).Result()
}
