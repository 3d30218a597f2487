package worker

import (
	"sync"
	"time"
)

// endpointLimits caps the deliveries in flight per (workspace, channel,
// endpoint) in this worker, so that one slow endpoint cannot occupy every
// slot of its workspace. A message over the cap is not held: it goes back
// to the retry due set for about the time the endpoint needs to work
// through the messages already ahead of it (its recent attempt duration
// times how many were deferred, divided by the cap), without an attempt.
type endpointLimits struct {
	cap int

	mu sync.Mutex
	m  map[string]*endpointLoad
}

type endpointLoad struct {
	inflight int
	// deferred counts messages sent back since the endpoint was last
	// below its cap with none waiting.
	deferred int
	// latency is a moving average of its attempts' durations.
	latency time.Duration
}

func newEndpointLimits(cap int) *endpointLimits {
	return &endpointLimits{cap: cap, m: map[string]*endpointLoad{}}
}

// acquire takes a slot for key, or reports how long to defer the message.
func (l *endpointLimits) acquire(key string) (ok bool, deferFor time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil {
		e = &endpointLoad{}
		l.m[key] = e
	}
	if e.inflight < l.cap {
		e.inflight++
		return true, 0
	}
	e.deferred++
	lat := max(e.latency, 10*time.Millisecond)
	wait := lat * time.Duration((e.deferred+l.cap-1)/l.cap)
	return false, min(max(wait, 20*time.Millisecond), time.Minute)
}

// release gives the slot back, with how long the attempt took.
func (l *endpointLimits) release(key string, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil {
		return
	}
	e.inflight--
	if e.latency == 0 {
		e.latency = took
	} else {
		e.latency = (7*e.latency + took) / 8
	}
	if e.inflight == 0 {
		if e.deferred == 0 {
			delete(l.m, key) // bounded by what is in flight, not by history
			return
		}
		e.deferred = 0
	}
}
