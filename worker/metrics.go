package worker

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/promx"
	"github.com/heraldhq/herald/worker/channel"
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
	deferred           *prometheus.CounterVec
	orphans            *prometheus.CounterVec
	retriesPublished   prometheus.Counter
	retriesWithheld    prometheus.Counter
	retriesWaiting     prometheus.Gauge
	reconciled         *prometheus.CounterVec
	reconcileWithheld  prometheus.Gauge
	rollbacks          prometheus.Counter
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
			Help: "Delivery attempts by provider type and result: sent, retry (a retryable failure), failed (a permanent one), circuit_open (refused by an open breaker or an endpoint's Retry-After, no request made).",
		}, []string{"channel", "provider", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_worker_attempt_duration_seconds",
			Help:    "Duration of one delivery attempt, provider round trip included, by provider type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"channel", "provider"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_worker_redeliveries_suppressed_total",
			Help: "Jobs acknowledged without sending because their claim failed: the entry settled (sent, failed, cancelled), another generation, or that attempt already made.",
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
			Help: "Messages delivered to workers and not yet settled (consumer num_ack_pending). Waiting retries are not here: they are in herald_worker_retries_waiting.",
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
	m.deferred = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_worker_deferred_total",
		Help: "Messages put back in the retry due set without an attempt because their endpoint was at its in-flight cap.",
	}, []string{"channel"})
	m.orphans = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_worker_orphan_jobs_total",
		Help: "Jobs whose log entry was missing (the log store lost it): delivered anyway, nothing recorded.",
	}, []string{"channel"})
	m.retriesPublished = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_worker_retries_published_total",
		Help: "Retries the pump published to JetStream when they fell due (stored, not duplicates).",
	})
	m.retriesWithheld = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_worker_retries_withheld_total",
		Help: "Retries not re-sent because a restored Redis snapshot may have lost their outcome.",
	})
	m.retriesWaiting = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "herald_worker_retries_waiting",
		Help: "Messages waiting in the retry due sets for their next attempt (all workspaces).",
	})
	m.reconciled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_producer_reconciled_total",
		Help: "Jobs the reconciler published again for entries that had none, counted only when JetStream stored them (not a duplicate).",
	}, []string{"channel"})
	m.reconcileWithheld = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "herald_worker_reconcile_withheld",
		Help: "Entries without a job the reconciler's last pass over the workspaces did not publish again: older than a detected rollback of Redis, or than JetStream's duplicate window (their outcome may be lost).",
	})
	m.rollbacks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_worker_log_store_rollbacks_total",
		Help: "Times the ledger found Redis behind its checkpoint (restored from an older snapshot, or writes lost).",
	})
	m.deferred = promx.Must(reg, m.deferred)
	m.orphans = promx.Must(reg, m.orphans)
	m.retriesPublished = promx.Must(reg, m.retriesPublished)
	m.retriesWithheld = promx.Must(reg, m.retriesWithheld)
	m.retriesWaiting = promx.Must(reg, m.retriesWaiting)
	m.reconciled = promx.Must(reg, m.reconciled)
	m.reconcileWithheld = promx.Must(reg, m.reconcileWithheld)
	m.rollbacks = promx.Must(reg, m.rollbacks)
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

// wrap is the metrics middleware of channel ch: every attempt's duration
// and result, by provider type (a bounded label whatever the config names).
func (m *metrics) wrap(ch string) Middleware {
	return func(next Deliverer) Deliverer {
		return deliverFunc{next, func(ctx context.Context, msg *channel.Message) (channel.Result, error) {
			start := time.Now()
			res, err := next.Deliver(ctx, msg)
			provider := providerLabel(msg)
			result := "sent"
			switch ce := channel.Classify(err); {
			case err == nil:
			case errors.Is(err, ErrCircuitOpen):
				result = "circuit_open"
			case errors.Is(err, context.Canceled) && ctx.Err() != nil:
				return res, err // shutting down: not an attempt
			case ce.Retryable:
				result = "retry"
			default:
				result = "failed"
			}
			if result != "circuit_open" {
				m.duration.WithLabelValues(ch, provider).Observe(time.Since(start).Seconds())
			}
			m.attempts.WithLabelValues(ch, provider, result).Inc()
			return res, err
		}}
	}
}

// providerLabel is the provider type of a message for metrics.
func providerLabel(m *channel.Message) string {
	if t := m.ProviderType(); t != "" {
		return t
	}
	return "unknown"
}
