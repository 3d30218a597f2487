package worker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/promx"
)

type metrics struct {
	delivered          *prometheus.CounterVec
	attempts           *prometheus.CounterVec
	duration           *prometheus.HistogramVec
	duplicates         *prometheus.CounterVec
	inflight           *prometheus.GaugeVec
	pending            *prometheus.GaugeVec
	ackPending         *prometheus.GaugeVec
	restarts           *prometheus.CounterVec
	breakers           *prometheus.GaugeVec
	breakerTransitions *prometheus.CounterVec
	// breakerState has workspace and endpoint labels, values the workspaces'
	// configurations choose: nil unless the operator enables them
	// (metrics_workspace_labels).
	breakerState *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, workspaceLabels bool) (*metrics, error) {
	m := &metrics{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_worker_delivered_total",
			Help: "Messages that reached a final status (sent or failed), by channel.",
		}, []string{"channel", "status"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_worker_attempts_total",
			Help: "Delivery attempts by provider type and outcome: sent, retry, failed, or circuit_open (handed back without an attempt).",
		}, []string{"channel", "provider", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_worker_attempt_duration_seconds",
			Help:    "Duration of one delivery attempt, provider round trip included, by provider type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"channel", "provider"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_worker_redeliveries_suppressed_total",
			Help: "Redelivered jobs acknowledged without sending because their entry was already settled.",
		}, []string{"channel"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_worker_inflight_deliveries",
			Help: "Deliveries in progress in this worker.",
		}, []string{"channel"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_worker_queue_pending_messages",
			Help: "Queue lag: messages in the stream not yet delivered to any worker (consumer num_pending).",
		}, []string{"channel"}),
		ackPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_worker_queue_ack_pending_messages",
			Help: "Messages delivered to workers and not yet settled, waiting retries included (consumer num_ack_pending).",
		}, []string{"channel"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_worker_consumer_restarts_total",
			Help: "Times a channel's consumer iterator was recreated (failure or stall).",
		}, []string{"channel"}),
		breakers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_worker_breakers",
			Help: "Circuit breakers this worker holds, by channel and state (closed, half-open, open).",
		}, []string{"channel", "state"}),
		breakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_worker_breaker_transitions_total",
			Help: "Circuit breaker state changes, by the state entered.",
		}, []string{"channel", "to"}),
	}
	m.delivered = promx.Must(reg, m.delivered)
	m.attempts = promx.Must(reg, m.attempts)
	m.duration = promx.Must(reg, m.duration)
	m.duplicates = promx.Must(reg, m.duplicates)
	m.inflight = promx.Must(reg, m.inflight)
	m.pending = promx.Must(reg, m.pending)
	m.ackPending = promx.Must(reg, m.ackPending)
	m.restarts = promx.Must(reg, m.restarts)
	m.breakers = promx.Must(reg, m.breakers)
	m.breakerTransitions = promx.Must(reg, m.breakerTransitions)
	if workspaceLabels {
		m.breakerState = promx.Must(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_worker_breaker_state",
			Help: "Circuit breaker state per workspace and endpoint: 0 closed, 1 half-open, 2 open (metrics_workspace_labels).",
		}, []string{"workspace", "channel", "endpoint"}))
	}
	return m, nil
}
