package worker

import (
	"cmp"
	"slices"
)

func sortStates(out []BreakerState) {
	slices.SortFunc(out, func(a, b BreakerState) int {
		return cmp.Or(cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Endpoint, b.Endpoint))
	})
}

// Breakers lists the circuit breakers this worker holds for workspace ws
// (endpoints it delivered to since it started), by channel and endpoint.
// Other workspaces' breakers are never included.
func (w *Worker) Breakers(ws string) []BreakerState { return w.breakers.States(ws) }
