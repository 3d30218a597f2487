package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/logstore"
)

// Breaker is the state of one circuit breaker of a workspace.
type Breaker struct {
	Channel  string `json:"channel"`
	Endpoint string `json:"endpoint"`
	// State is closed, half-open or open.
	State string `json:"state"`
}

// overviewChannels are the delivery channels the overview reports.
var overviewChannels = []string{"email", "push", "sms", "callback"}

type channelQueue struct {
	Channel string `json:"channel"`
	// Pending counts the workspace's messages not yet delivered: queued,
	// or waiting for a retry.
	Pending int64 `json:"pending"`
	// Reprocessing counts messages queued again by a reprocess.
	Reprocessing int64 `json:"reprocessing"`
	// OldestPendingAt is when the oldest pending message was created;
	// LagSeconds is its age: how far this workspace's deliveries lag.
	OldestPendingAt *string `json:"oldest_pending_at"`
	LagSeconds      float64 `json:"lag_seconds"`
}

type overviewResponse struct {
	Workspace   string         `json:"workspace"`
	GeneratedAt string         `json:"generated_at"`
	Queues      []channelQueue `json:"queues"`
	// BreakersReported is false on a process without a worker (the
	// producer role): breakers live in the workers.
	BreakersReported bool      `json:"breakers_reported"`
	Breakers         []Breaker `json:"breakers"`
}

// overview reports, for the caller's workspace only, the queue lag per
// channel (from the log's status indexes) and the circuit breakers of this
// process's worker; it never shows another workspace's. (/metrics only
// counts breakers by channel and state unless metrics_workspace_labels.)
func (s *Server) overview(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	for name := range r.URL.Query() {
		return badRequest(name, fmt.Sprintf("unknown query parameter %q (this route takes none)", name))
	}
	now := s.clock.Now()
	out := overviewResponse{Workspace: p.Workspace, GeneratedAt: formatTime(now), Queues: []channelQueue{}, Breakers: []Breaker{}}
	for _, ch := range overviewChannels {
		q := channelQueue{Channel: ch}
		pending, err := s.cfg.Store.Query(r.Context(), logstore.Query{Workspace: p.Workspace, Type: ch, Status: logstore.StatusPending, Limit: 1})
		if err != nil {
			return err
		}
		q.Pending = pending.Total
		if pending.Total > 0 {
			// Newest first: the last offset is the oldest pending message.
			oldest, err := s.cfg.Store.Query(r.Context(), logstore.Query{Workspace: p.Workspace, Type: ch,
				Status: logstore.StatusPending, Offset: int(pending.Total - 1), Limit: 1})
			if err != nil {
				return err
			}
			if len(oldest.Entries) > 0 {
				at := oldest.Entries[0].CreatedAt
				q.OldestPendingAt = optTime(at)
				q.LagSeconds = max(0, now.Sub(at).Round(time.Millisecond).Seconds())
			}
		}
		rep, err := s.cfg.Store.Query(r.Context(), logstore.Query{Workspace: p.Workspace, Type: ch, Status: logstore.StatusReprocessing, Limit: 1})
		if err != nil {
			return err
		}
		q.Reprocessing = rep.Total
		out.Queues = append(out.Queues, q)
	}
	if s.cfg.Breakers != nil {
		out.BreakersReported = true
		out.Breakers = append(out.Breakers, s.cfg.Breakers(p.Workspace)...)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
