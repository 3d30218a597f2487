package worker

import (
	"cmp"
	"context"
	"errors"
	"slices"
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
	m  map[string]*breaker
	// noted holds, per breaker, the messages already marked CIRCUIT_OPEN
	// since it last closed: a message handed back again and again while
	// the endpoint stays down (open, failed half-open probes, open again)
	// is written to Redis once, not at every pass.
	noted map[string]map[string]struct{}
}

// breaker is one circuit breaker and what it guards.
type breaker struct {
	ws, ch, endpoint string
	cb               *gobreaker.CircuitBreaker[channel.Result]
}

// maxNoted bounds the messages remembered per open breaker; past it the
// note is simply written again.
const maxNoted = 100_000

func newBreakers(cfg Config, m *metrics, log *zap.Logger) *breakers {
	return &breakers{cfg: cfg, metrics: m, log: log, m: map[string]*breaker{}, noted: map[string]map[string]struct{}{}}
}

// BreakerState is the state of one circuit breaker of a workspace.
type BreakerState struct {
	Channel  string
	Endpoint string
	// State is closed, half-open or open.
	State string
}

// Breakers lists the circuit breakers this worker holds for workspace ws
// (endpoints it delivered to since it started), by channel and endpoint.
// Other workspaces' breakers are never included.
func (w *Worker) Breakers(ws string) []BreakerState {
	b := w.breakers
	b.mu.Lock()
	var list []*breaker
	for _, br := range b.m {
		if br.ws == ws {
			list = append(list, br)
		}
	}
	b.mu.Unlock()
	out := make([]BreakerState, 0, len(list))
	for _, br := range list {
		// State() may move an open breaker whose timeout passed to
		// half-open, as the next delivery would. (Not under b.mu: a state
		// change calls back into b.)
		out = append(out, BreakerState{Channel: br.ch, Endpoint: br.endpoint, State: br.cb.State().String()})
	}
	slices.SortFunc(out, func(a, b BreakerState) int {
		return cmp.Or(cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Endpoint, b.Endpoint))
	})
	return out
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
	if br, ok := b.m[key]; ok {
		return br.cb
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
			b.metrics.breakers.WithLabelValues(ch, from.String()).Dec()
			b.metrics.breakers.WithLabelValues(ch, to.String()).Inc()
			if b.metrics.breakerState != nil {
				b.metrics.breakerState.WithLabelValues(ws, ch, endpoint).Set(float64(to))
			}
			b.metrics.breakerTransitions.WithLabelValues(ch, to.String()).Inc()
			b.log.Warn("circuit breaker changed state", zap.String("workspace", ws), zap.String("channel", ch),
				zap.String("endpoint", endpoint), zap.String("from", from.String()), zap.String("to", to.String()))
		},
	})
	b.metrics.breakers.WithLabelValues(ch, gobreaker.StateClosed.String()).Inc()
	if b.metrics.breakerState != nil {
		b.metrics.breakerState.WithLabelValues(ws, ch, endpoint).Set(float64(gobreaker.StateClosed))
	}
	b.m[key] = &breaker{ws: ws, ch: ch, endpoint: endpoint, cb: cb}
	return cb
}
