package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/worker/channel"
)

// Deliverer sends one message on one channel. Implementations live in
// worker/channel/...; resilience wraps them here (Middleware).
type Deliverer interface {
	// Endpoint names the provider endpoint m goes to (scheme and host):
	// the key of its circuit breaker and its in-flight cap.
	Endpoint(m *channel.Message) (string, error)
	// Deliver makes one attempt. A failure is a *channel.Error (an
	// unclassified error is retryable).
	Deliver(ctx context.Context, m *channel.Message) (channel.Result, error)
}

// Middleware wraps a Deliverer with one concern (a breaker, a timeout,
// metrics), keeping its Endpoint.
type Middleware func(Deliverer) Deliverer

// Chain applies middleware so that the first listed is the outermost.
func Chain(d Deliverer, mw ...Middleware) Deliverer {
	for i := len(mw) - 1; i >= 0; i-- {
		d = mw[i](d)
	}
	return d
}

// deliverFunc is a Deliverer made of an Endpoint and a Deliver function.
type deliverFunc struct {
	inner   Deliverer
	deliver func(ctx context.Context, m *channel.Message) (channel.Result, error)
}

func (d deliverFunc) Endpoint(m *channel.Message) (string, error) { return d.inner.Endpoint(m) }

func (d deliverFunc) Deliver(ctx context.Context, m *channel.Message) (channel.Result, error) {
	return d.deliver(ctx, m)
}

// Timeout bounds every attempt at d, whatever the channel's own timeouts:
// no delivery holds a worker longer. An attempt cut by it is a retryable
// TIMEOUT.
func Timeout(d time.Duration) Middleware {
	return func(next Deliverer) Deliverer {
		return deliverFunc{next, func(ctx context.Context, m *channel.Message) (channel.Result, error) {
			tctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			res, err := next.Deliver(tctx, m)
			if err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
				return res, channel.Retryable(channel.CodeTimeout, 0, "no answer within %s: %v", d, err)
			}
			return res, err
		}}
	}
}

// BreakerSettings configure Breaker.
type BreakerSettings struct {
	// Failures consecutive retryable failures open a breaker for OpenFor;
	// then HalfOpenRequests probes decide.
	Failures         int
	OpenFor          time.Duration
	HalfOpenRequests int
	// RetryAfterMax caps how long an endpoint's Retry-After holds its
	// messages back.
	RetryAfterMax time.Duration
	Clock         clock.Clock
	// OnState is told every state change (metrics, logs).
	OnState func(ws, ch, endpoint string, from, to gobreaker.State)
}

// Breakers is a circuit breaker per (workspace, channel, endpoint), and
// the Retry-After an endpoint asked for: one tenant's failing or
// throttling endpoint never stops another's deliveries, and a refused
// attempt costs nothing (no request, no waiting: it is recorded as an
// attempt with CIRCUIT_OPEN and goes back to the retry due set).
type Breakers struct {
	cfg BreakerSettings

	mu sync.Mutex
	m  map[string]*breaker
}

// breaker is one circuit breaker and what it guards.
type breaker struct {
	ws, ch, endpoint string
	cb               *gobreaker.CircuitBreaker[channel.Result]
	// until is when the endpoint's latest Retry-After ends.
	until time.Time
}

// NewBreakers returns an empty breaker registry.
func NewBreakers(cfg BreakerSettings) *Breakers {
	cfg.Clock = clock.Or(cfg.Clock)
	return &Breakers{cfg: cfg, m: map[string]*breaker{}}
}

func breakerKey(ws, ch, endpoint string) string { return ws + "|" + ch + "|" + endpoint }

func (b *Breakers) get(ws, ch, endpoint string) *breaker {
	key := breakerKey(ws, ch, endpoint)
	b.mu.Lock()
	defer b.mu.Unlock()
	if br, ok := b.m[key]; ok {
		return br
	}
	failures := uint32(max(b.cfg.Failures, 1))
	br := &breaker{ws: ws, ch: ch, endpoint: endpoint}
	br.cb = gobreaker.NewCircuitBreaker[channel.Result](gobreaker.Settings{
		Name:        key,
		MaxRequests: uint32(max(b.cfg.HalfOpenRequests, 1)),
		Timeout:     b.cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// A permanent failure (a 4xx, a bad recipient) proves the endpoint
		// is up: only retryable failures count against it.
		IsSuccessful: func(err error) bool { return err == nil || !channel.Classify(err).Retryable },
		IsExcluded:   func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if b.cfg.OnState != nil {
				b.cfg.OnState(ws, ch, endpoint, from, to)
			}
		},
	})
	b.m[key] = br
	if b.cfg.OnState != nil {
		b.cfg.OnState(ws, ch, endpoint, gobreaker.StateClosed, gobreaker.StateClosed)
	}
	return br
}

// ErrCircuitOpen marks an attempt refused without a request.
var ErrCircuitOpen = errors.New("not attempted")

// Wrap is the breaker middleware of channel ch.
func (b *Breakers) Wrap(ch string) Middleware {
	return func(next Deliverer) Deliverer {
		return deliverFunc{next, func(ctx context.Context, m *channel.Message) (channel.Result, error) {
			endpoint, err := next.Endpoint(m)
			if err != nil {
				return channel.Result{}, channel.Permanent(channel.CodeDelivery, "%v", err)
			}
			br := b.get(m.Workspace, ch, endpoint)
			now := b.cfg.Clock.Now()
			b.mu.Lock()
			until := br.until
			b.mu.Unlock()
			if wait := until.Sub(now); wait > 0 {
				return channel.Result{}, &channel.Error{Code: channel.CodeCircuitOpen, Retryable: true, RetryAfter: wait,
					Err: fmt.Errorf("%w: %s asked to wait until %s (Retry-After)", ErrCircuitOpen, endpoint, until.UTC().Format(time.RFC3339))}
			}
			res, err := br.cb.Execute(func() (channel.Result, error) { return next.Deliver(ctx, m) })
			if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
				return res, &channel.Error{Code: channel.CodeCircuitOpen, Retryable: true,
					Err: fmt.Errorf("%w: circuit open for %s after repeated failures", ErrCircuitOpen, endpoint)}
			}
			if ce := channel.Classify(err); err != nil && ce.Retryable && ce.RetryAfter > 0 {
				wait := ce.RetryAfter
				if b.cfg.RetryAfterMax > 0 {
					wait = min(wait, b.cfg.RetryAfterMax)
				}
				b.mu.Lock()
				if u := now.Add(wait); u.After(br.until) {
					br.until = u
				}
				b.mu.Unlock()
			}
			return res, err
		}}
	}
}

// BreakerState is the state of one circuit breaker of a workspace.
type BreakerState struct {
	Channel  string
	Endpoint string
	// State is closed, half-open or open.
	State string
}

// States lists the breakers of workspace ws (endpoints delivered to since
// start), by channel and endpoint. Other workspaces' are never included.
func (b *Breakers) States(ws string) []BreakerState {
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
		// change calls back.)
		out = append(out, BreakerState{Channel: br.ch, Endpoint: br.endpoint, State: br.cb.State().String()})
	}
	sortStates(out)
	return out
}
