package scheduler

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/promx"
)

type metrics struct {
	fires       *prometheus.CounterVec
	lateness    prometheus.Histogram
	claimed     prometheus.Counter
	claimErrors prometheus.Counter
	held        prometheus.Gauge
	dispatched  prometheus.Counter
}

// Fire outcomes (the outcome label of herald_scheduler_fires_total).
const (
	outcomeSent       = "sent"       // committed; at least one channel accepted
	outcomeFailed     = "failed"     // committed; nothing could be sent (the definition no longer resolves)
	outcomeRetry      = "retry"      // the producer was unavailable; handed back to fire again shortly
	outcomeSuperseded = "superseded" // another replica committed the slot first (this one's lease ran out)
	outcomeCommitErr  = "commit_error"
	outcomeSkipped    = "skipped" // paused or cancelled between an early claim and its slot
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		fires: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_scheduler_fires_total",
			Help: "Job slots fired by this replica, by outcome: sent, failed, retry, superseded, commit_error, skipped.",
		}, []string{"outcome"}),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_scheduler_lateness_seconds",
			Help:    "From a slot's time to the moment its sends were handed to the producer.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
		}),
		claimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_scheduler_claimed_total",
			Help: "Job slots claimed (leased) by this replica.",
		}),
		claimErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_scheduler_claim_errors_total",
			Help: "Polls of the due sets that failed (Redis unreachable).",
		}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_scheduler_held_jobs",
			Help: "Claims this replica holds: waiting for their slot, queued or firing.",
		}),
		dispatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_scheduler_dispatched_total",
			Help: "Jobs created through dispatch.",
		}),
	}
	m.fires = promx.Must(reg, m.fires)
	m.lateness = promx.Must(reg, m.lateness)
	m.claimed = promx.Must(reg, m.claimed)
	m.claimErrors = promx.Must(reg, m.claimErrors)
	m.held = promx.Must(reg, m.held)
	m.dispatched = promx.Must(reg, m.dispatched)
	return m
}
