// Package promx holds Prometheus helpers shared by the parts.
package promx

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg (a nil reg registers nothing) and returns
// the collector to use: c, or the identical collector registered before
// (two workers in one process share their metrics).
func Register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// Must is Register for collectors created at start-up, where a clash is a
// programming error.
func Must[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	out, err := Register(reg, c)
	if err != nil {
		panic(err)
	}
	return out
}
