package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/config"
)

// limiters holds one token bucket per API key that has a rate_limit. A
// key's bucket is keyed by the key's id (its hash), so a rotated key starts
// a fresh bucket and a reload that changes a limit applies at once. Each
// API process counts its own requests: with N producer replicas behind a
// load balancer a key gets up to N times its limit (README, "Keys").
type limiters struct {
	mu sync.Mutex
	m  map[string]*keyLimiter
}

type keyLimiter struct {
	conf config.RateLimit
	lim  *rate.Limiter
}

// allow takes one request from p's bucket at now. When the bucket is
// empty it returns how long until a request would be allowed.
func (l *limiters) allow(p *config.Principal, now time.Time) (time.Duration, bool) {
	rl := p.RateLimit()
	if rl == nil {
		return 0, true
	}
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*keyLimiter{}
	}
	kl, ok := l.m[p.KeyID()]
	if !ok || kl.conf != *rl {
		kl = &keyLimiter{conf: *rl, lim: rate.NewLimiter(rate.Limit(rl.PerSecond), rl.Burst)}
		l.m[p.KeyID()] = kl
	}
	l.mu.Unlock()
	r := kl.lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Second, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
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
