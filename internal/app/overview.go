package app

import (
	"github.com/heraldhq/herald/api"
)

// breakerStates is what GET /v1/overview reports of this process's
// worker's circuit breakers, one workspace at a time; nil when the process
// runs no worker (the producer role), where the API says so.
func (a *App) breakerStates() func(workspace string) []api.Breaker {
	w := a.worker
	if w == nil {
		return nil
	}
	return func(ws string) []api.Breaker {
		var out []api.Breaker
		for _, b := range w.Breakers(ws) {
			out = append(out, api.Breaker{Channel: b.Channel, Endpoint: b.Endpoint, State: b.State})
		}
		return out
	}
}
