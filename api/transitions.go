package api

import (
	"net/http"

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
