package worker

import (
	"context"
	"errors"
	"sync"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/worker/channel"
)

// breakers keeps one circuit breaker per (workspace, channel, endpoint):
// one tenant's failing endpoint never stops another tenant's deliveries.
type breakers struct {
	cfg     Config
	metrics *metrics
	log     *zap.Logger

	mu sync.Mutex
	m  map[string]*gobreaker.CircuitBreaker[channel.Result]
	// noted holds, per breaker, the messages already marked CIRCUIT_OPEN
	// since it last closed: a message handed back again and again while
	// the endpoint stays down (open, failed half-open probes, open again)
	// is written to Redis once, not at every pass.
	noted map[string]map[string]struct{}
}

// maxNoted bounds the messages remembered per open breaker; past it the
// note is simply written again.
const maxNoted = 100_000

func newBreakers(cfg Config, m *metrics, log *zap.Logger) *breakers {
	return &breakers{cfg: cfg, metrics: m, log: log, m: map[string]*gobreaker.CircuitBreaker[channel.Result]{},
		noted: map[string]map[string]struct{}{}}
}

func breakerKey(ws, ch, endpoint string) string { return ws + "|" + ch + "|" + endpoint }

// firstNote reports whether message id has not been marked CIRCUIT_OPEN
// since the breaker of (ws, ch, endpoint) opened, and remembers it.
func (b *breakers) firstNote(ws, ch, endpoint, id string) bool {
	key := breakerKey(ws, ch, endpoint)
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := b.noted[key]
	if ids == nil {
		ids = map[string]struct{}{}
		b.noted[key] = ids
	}
	if _, ok := ids[id]; ok {
		return false
	}
	if len(ids) < maxNoted {
		ids[id] = struct{}{}
	}
	return true
}

func (b *breakers) get(ws, ch, endpoint string) *gobreaker.CircuitBreaker[channel.Result] {
	key := breakerKey(ws, ch, endpoint)
	b.mu.Lock()
	defer b.mu.Unlock()
	if cb, ok := b.m[key]; ok {
		return cb
	}
	failures := uint32(b.cfg.BreakerFailures)
	cb := gobreaker.NewCircuitBreaker[channel.Result](gobreaker.Settings{
		Name:        key,
		MaxRequests: uint32(b.cfg.BreakerHalfOpenRequests),
		Timeout:     b.cfg.BreakerOpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// A permanent failure (a 4xx, a bad recipient) proves the endpoint
		// is up: only retryable failures count against it.
		IsSuccessful: func(err error) bool { return err == nil || !channel.Classify(err).Retryable },
		IsExcluded: func(err error) bool {
			return errors.Is(err, context.Canceled)
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateClosed {
				// The outage is over: a later one notes its messages again.
				// (Called under gobreaker's lock, never under b.mu.)
				b.mu.Lock()
				delete(b.noted, key)
				b.mu.Unlock()
			}
			b.metrics.breakerState.WithLabelValues(ws, ch, endpoint).Set(float64(to))
			b.metrics.breakerTransitions.WithLabelValues(ch, to.String()).Inc()
			b.log.Warn("circuit breaker changed state", zap.String("workspace", ws), zap.String("channel", ch),
				zap.String("endpoint", endpoint), zap.String("from", from.String()), zap.String("to", to.String()))
		},
	})
	b.metrics.breakerState.WithLabelValues(ws, ch, endpoint).Set(float64(gobreaker.StateClosed))
	b.m[key] = cb
	return cb
}
