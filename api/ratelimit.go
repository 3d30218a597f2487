package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/logstore"
)

// RateStore is where the limits of every API replica meet (the log
// store's Redis): DebitRate records what a replica took from a key and
// answers the key's state across all of them.
type RateStore interface {
	DebitRate(ctx context.Context, d logstore.RateDebit) (time.Time, error)
}

// limiters enforce API keys' rate limits (GCRA, equivalent to a token
// bucket of rate_limit.burst tokens refilled at per_second).
//
// The decision is local and immediate — no round trip before a request is
// answered — on this replica's copy of the key's state; every admitted
// request is then debited in Redis in the background (batched, one round
// trip for many), and the answer, the key's state across every replica, is
// merged into the copy. So all replicas share one limit: a key gets its
// limit in total, not once per replica, give or take what the replicas
// admit within one Redis round trip of each other. Without Redis (down, or
// a process without a store) each replica limits on its own.
type limiters struct {
	mu     sync.Mutex
	m      map[string]*keyLimiter
	shared RateStore
	log    *zap.Logger
	clock  clock.Clock
	// syncs counts background debits in flight (tests wait on it).
	syncs sync.WaitGroup
}

type keyLimiter struct {
	conf config.RateLimit
	// tat is the GCRA theoretical arrival time: the key's bucket is full
	// again at tat; it may take cost c at t while tat' = max(tat, t) + c·T
	// stays within burst·T of t.
	tat time.Time
	// pending is taken here and not yet debited in the shared store;
	// syncing is set while a debit is in flight (debit).
	pending int
	syncing bool
}

func (l *limiters) now() time.Time {
	if l.clock == nil {
		return time.Now()
	}
	return l.clock.Now()
}

func interval(rl *config.RateLimit) time.Duration {
	return time.Duration(float64(time.Second) / rl.PerSecond)
}

// key returns p's limiter, nil for a key without a limit. A changed limit
// (reload) starts afresh; a rotated key has another id, so another bucket.
func (l *limiters) key(p *config.Principal) *keyLimiter {
	rl := p.RateLimit()
	if rl == nil {
		return nil
	}
	if l.m == nil {
		l.m = map[string]*keyLimiter{}
	}
	kl, ok := l.m[p.KeyID()]
	if !ok || kl.conf != *rl {
		kl = &keyLimiter{conf: *rl}
		l.m[p.KeyID()] = kl
	}
	return kl
}

// allow takes cost requests from p's bucket at now. When the bucket cannot
// cover them it returns how long until it could.
func (l *limiters) allow(p *config.Principal, cost int, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	kl := l.key(p)
	if kl == nil {
		l.mu.Unlock()
		return 0, true
	}
	t := interval(&kl.conf)
	tat := kl.tat
	if tat.Before(now) {
		tat = now
	}
	tat = tat.Add(time.Duration(cost) * t)
	if over := tat.Sub(now) - time.Duration(kl.conf.Burst)*t; over > 0 {
		l.mu.Unlock()
		return over, false
	}
	kl.tat = tat
	l.mu.Unlock()
	l.debit(p, cost, now)
	return 0, true
}

// charge takes cost more from p's bucket, whatever is left in it: the
// part of a request's cost known only once it was answered (its size).
// The key's next requests wait for it.
func (l *limiters) charge(p *config.Principal, cost int, now time.Time) {
	if cost <= 0 {
		return
	}
	l.mu.Lock()
	kl := l.key(p)
	if kl == nil {
		l.mu.Unlock()
		return
	}
	if kl.tat.Before(now) {
		kl.tat = now
	}
	kl.tat = kl.tat.Add(time.Duration(cost) * interval(&kl.conf))
	l.mu.Unlock()
	l.debit(p, cost, now)
}

// debit records cost in the shared store in the background and merges the
// key's shared state into this replica's copy. At most one debit per key
// is in flight: what is taken meanwhile is added up and sent with the next
// one, so a busy key costs Redis one call per round trip, not one per
// request.
func (l *limiters) debit(p *config.Principal, cost int, now time.Time) {
	if l.shared == nil {
		return
	}
	l.mu.Lock()
	kl := l.key(p)
	if kl == nil {
		l.mu.Unlock()
		return
	}
	kl.pending += cost
	if kl.syncing {
		l.mu.Unlock()
		return
	}
	kl.syncing = true
	l.mu.Unlock()
	rl := *p.RateLimit()
	// The limit is part of the shared key: a reload that changes it starts
	// a fresh bucket on every replica, as it does here.
	key := fmt.Sprintf("%.32s:%g:%d", p.KeyID(), rl.PerSecond, rl.Burst)
	l.syncs.Add(1)
	go func() {
		defer l.syncs.Done()
		for {
			l.mu.Lock()
			n := kl.pending
			kl.pending = 0
			if n == 0 {
				kl.syncing = false
				l.mu.Unlock()
				return
			}
			l.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			tat, err := l.shared.DebitRate(ctx, logstore.RateDebit{Workspace: p.Workspace, Key: key, Interval: interval(&rl), Cost: n, Now: now})
			cancel()
			if err != nil && l.log != nil {
				l.log.Debug("shared rate limit unavailable; limiting on this replica alone", zap.Error(err))
			}
			l.mu.Lock()
			// max: this copy may hold debits the answer does not include
			// yet, and the answer holds other replicas' this copy lacks.
			if err == nil && tat.After(kl.tat) {
				kl.tat = tat
			}
			l.mu.Unlock()
			now = l.now()
		}
	}()
}

// Sizes of a request's cost: one unit, plus one for every costUnitBytes
// of its answer past the first. A page of 200 large entries then weighs
// like the dozens of small requests it replaces, whatever the route.
const costUnitBytes = 64 << 10

// answerCost is the cost beyond the first unit of an answer of n bytes.
func answerCost(n int64) int {
	if n <= costUnitBytes {
		return 0
	}
	return int((n - 1) / costUnitBytes)
}

// rateLimited is the 429 for a key over its limit, with Retry-After in
// whole seconds (at least 1).
func rateLimited(p *config.Principal, wait time.Duration) *apiError {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	e := errorf(http.StatusTooManyRequests, "rate_limited", "",
		fmt.Sprintf("API key %q is over its rate limit of %g requests per second (burst %d); retry after %d s",
			p.KeyName, p.RateLimit().PerSecond, p.RateLimit().Burst, secs))
	e.retryAfter = strconv.Itoa(secs)
	return e
}
