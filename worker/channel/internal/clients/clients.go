// Package clients keeps one provider client (token cache, parsed keys) per
// (workspace, provider name), rebuilt when the provider's settings or
// secrets change: after a config reload a changed provider gets a fresh
// client, an unchanged one keeps its warm token, and deliveries already
// running finish with the client they started with.
package clients

import (
	"sync"

	"github.com/heraldhq/herald/config"
)

// Cache is safe for concurrent use.
type Cache[C any] struct {
	build func(config.Provider) (C, error)

	mu sync.Mutex
	m  map[string]entry[C]
}

type entry[C any] struct {
	fingerprint string
	client      C
}

// New returns a cache that makes clients with build.
func New[C any](build func(config.Provider) (C, error)) *Cache[C] {
	return &Cache[C]{build: build, m: map[string]entry[C]{}}
}

// Get returns the client of provider name in workspace ws for the
// settings p, building it when there is none or p changed. A build error
// is returned and nothing is cached, so a fixed file is picked up by the
// next attempt.
func (c *Cache[C]) Get(ws, name string, p config.Provider) (C, error) {
	key := ws + "\x00" + name
	fp := p.Fingerprint()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok && e.fingerprint == fp {
		return e.client, nil
	}
	cl, err := c.build(p)
	if err != nil {
		var zero C
		return zero, err
	}
	c.m[key] = entry[C]{fingerprint: fp, client: cl}
	return cl, nil
}

// Len is the number of cached clients.
func (c *Cache[C]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
