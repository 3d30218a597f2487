package api

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/producer"
)

// patchRequest is the body of PATCH /v1/messages/{id}.
type patchRequest struct {
	Status string `json:"status"`
	// Reason is recorded as the error of a message marked failed.
	Reason string `json:"reason"`
}

// patchMessage applies an allowed status transition:
//
//   - "reprocessing" from failed or sent: sends the message again (as
//     POST /v1/messages/{id}/reprocess does);
//   - "failed" from pending or reprocessing: no further attempts are made
//     (error_code CANCELLED); an attempt already under way may still land.
//
// Any other transition is 409 conflict.
func (s *Server) patchMessage(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	var req patchRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	switch req.Status {
	case logstore.StatusReprocessing:
		if err := s.reprocessOne(r, p, id); err != nil {
			return err
		}
	case logstore.StatusFailed:
		reason := "marked failed by key " + p.KeyName
		if req.Reason != "" {
			reason += ": " + truncate(req.Reason, 500)
		}
		if _, _, err := s.cfg.Store.Transition(r.Context(), p.Workspace, id, logstore.Change{
			To: logstore.StatusFailed, From: []string{logstore.StatusPending, logstore.StatusReprocessing},
			SetError: true, ErrorCode: "CANCELLED", Error: reason,
		}); err != nil {
			return err
		}
	case logstore.StatusPending, logstore.StatusSent:
		e, err := s.cfg.Store.Get(r.Context(), p.Workspace, id)
		if err != nil {
			return err
		}
		return errorf(http.StatusConflict, "conflict", "status", "a message cannot be moved from "+e.Status+" to "+req.Status+" by hand; allowed: failed|sent -> reprocessing, pending|reprocessing -> failed")
	case "":
		return badRequest("status", "required")
	default:
		return badRequest("status", "want reprocessing or failed")
	}
	e, err := s.cfg.Store.Get(r.Context(), p.Workspace, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toLogEntry(e))
	return nil
}

func (s *Server) reprocessOne(r *http.Request, p *config.Principal, id string) error {
	if s.cfg.Producer == nil {
		return errorf(http.StatusNotFound, "not_found", "", "this process does not accept sends")
	}
	_, err := s.cfg.Producer.Reprocess(r.Context(), p.Workspace, id)
	return err
}

// reprocess is POST /v1/messages/{id}/reprocess.
func (s *Server) reprocess(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	id := r.PathValue("id")
	if err := s.reprocessOne(r, p, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"messageId": id, "status": logstore.StatusReprocessing})
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// decodeJSON decodes a body strictly with the producer's rules (unknown
// fields and wrong types name their field).
func decodeJSON(body []byte, v any) error { return producer.DecodeStrict(body, v) }

// bulkRequest is the body of POST /v1/messages/reprocess: the filters of
// GET /v1/messages (as JSON strings) and what to do.
type bulkRequest struct {
	ProductTag      string `json:"product_tag"`
	ProductID       string `json:"product_id"`
	Env             string `json:"env"`
	NotificationTag string `json:"notification_tag"`
	Status          string `json:"status"`
	Type            string `json:"type"`
	ProcessID       string `json:"process_id"`
	CampaignID      string `json:"campaign_id"`
	StartDate       any    `json:"start_date"`
	EndDate         any    `json:"end_date"`
	DryRun          bool   `json:"dry_run"`
	// IncludeStuckPending also requeues pending messages untouched for 15
	// minutes whose job is gone.
	IncludeStuckPending bool `json:"include_stuck_pending"`
}

// reprocessBulk is POST /v1/messages/reprocess: every failed message
// matching the filters is reprocessed, streamed page by page and rate
// limited; dry_run only counts them.
func (s *Server) reprocessBulk(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	if s.cfg.Producer == nil {
		return errorf(http.StatusNotFound, "not_found", "", "this process does not accept sends")
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	var req bulkRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	v := url.Values{}
	for name, val := range map[string]string{"product_tag": req.ProductTag, "product_id": req.ProductID, "env": req.Env,
		"notification_tag": req.NotificationTag, "type": req.Type, "process_id": req.ProcessID, "campaign_id": req.CampaignID} {
		if val != "" {
			v.Set(name, val)
		}
	}
	for name, val := range map[string]any{"start_date": req.StartDate, "end_date": req.EndDate} {
		switch t := val.(type) {
		case nil:
		case string:
			v.Set(name, t)
		case float64:
			v.Set(name, strconv.FormatInt(int64(t), 10))
		default:
			return badRequest(name, "want an RFC 3339 time or Unix milliseconds")
		}
	}
	if req.Status != "" && req.Status != logstore.StatusFailed {
		return badRequest("status", "only failed messages are reprocessed in bulk (include_stuck_pending adds stuck pending ones)")
	}
	q, _, err := parseMessageQuery(v, p.Workspace)
	if err != nil {
		return err
	}
	// A long run must not hit the server's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(30 * time.Minute))
	cfg := s.cfg.Config()
	res, err := s.cfg.Producer.ReprocessMatching(r.Context(), q, producer.BulkOptions{
		DryRun: req.DryRun, IncludeStuckPending: req.IncludeStuckPending, Rate: cfg.Delivery.ReprocessRate,
	})
	if err != nil && res.Reprocessed == 0 {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
