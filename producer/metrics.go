package producer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/promx"
)

type metrics struct {
	accepted     *prometheus.CounterVec
	deduplicated *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	unavailable  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_producer_accepted_total",
			Help: "Sends accepted and queued, by channel and how they came in (api, nats, schedule, reprocess).",
		}, []string{"channel", "via"}),
		deduplicated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_producer_deduplicated_total",
			Help: "Sends answered with an earlier message because their cache tag was taken.",
		}, []string{"channel"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_producer_rejected_total",
			Help: "Sends refused for invalid input.",
		}, []string{"channel"}),
		unavailable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_producer_unavailable_total",
			Help: "Sends refused with 503 because Redis or JetStream was unreachable.",
		}),
	}
	m.accepted = promx.Must(reg, m.accepted)
	m.deduplicated = promx.Must(reg, m.deduplicated)
	m.rejected = promx.Must(reg, m.rejected)
	m.unavailable = promx.Must(reg, m.unavailable)
	return m, nil
}
