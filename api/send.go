package api

import (
	"net/http"
	"sort"

	"go.uber.org/zap"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/producer"
)

// sendResponse is the 202/200 body of a single-channel send.
type sendResponse struct {
	Success bool `json:"success"`
	*producer.Sent
}

func (s *Server) send(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	if s.cfg.Producer == nil {
		return errorf(http.StatusNotFound, "not_found", "", "this process does not accept sends")
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	req, err := producer.DecodeSend(body)
	if err != nil {
		return err
	}
	sent, err := s.cfg.Producer.Send(r.Context(), p.Workspace, r.PathValue("channel"), req, producer.Options{Via: producer.ViaAPI})
	if err != nil {
		return err
	}
	addLogFields(r.Context(), zap.String("message_id", sent.MessageID), zap.Bool("deduplicated", sent.Deduplicated))
	status := http.StatusAccepted
	if sent.Deduplicated {
		status = http.StatusOK
	}
	writeJSON(w, status, sendResponse{Success: true, Sent: sent})
	return nil
}

// multiResponse adds the error shape to a multi-channel send that no
// channel accepted.
type multiResponse struct {
	*producer.MultiResult
	Error *Error `json:"error,omitempty"`
}

func (s *Server) sendMulti(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	if s.cfg.Producer == nil {
		return errorf(http.StatusNotFound, "not_found", "", "this process does not accept sends")
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	req, err := producer.DecodeMulti(body)
	if err != nil {
		return err
	}
	res, err := s.cfg.Producer.SendMulti(r.Context(), p.Workspace, req, producer.Options{Via: producer.ViaAPI})
	if err != nil {
		return err
	}
	addLogFields(r.Context(), multiLogFields(res)...)
	if res.Success {
		writeJSON(w, http.StatusAccepted, multiResponse{MultiResult: res})
		return nil
	}
	// No channel accepted: 503 if any was refused for unavailability, else 400.
	status, out := http.StatusBadRequest, &Error{Code: "invalid_argument", Message: "no channel was accepted; see channels"}
	for _, cr := range res.Channels {
		if cr.Error != nil && cr.Error.Code == "unavailable" {
			status, out = http.StatusServiceUnavailable, &Error{Code: "unavailable", Message: cr.Error.Message}
		}
	}
	if len(res.Channels) == 1 {
		for _, cr := range res.Channels {
			if cr.Error != nil && status == http.StatusBadRequest {
				out = &Error{Code: cr.Error.Code, Message: cr.Error.Message, Field: cr.Error.Field}
			}
		}
	}
	writeJSON(w, status, multiResponse{MultiResult: res, Error: out})
	return nil
}

// multiLogFields are the process id and the message id of each accepted
// channel, for the request's log line.
func multiLogFields(res *producer.MultiResult) []zap.Field {
	var ids []string
	for ch, cr := range res.Channels {
		if cr.MessageID != "" {
			ids = append(ids, ch+":"+cr.MessageID)
		}
	}
	sort.Strings(ids)
	return []zap.Field{zap.String("process_id", res.ProcessID), zap.Strings("message_ids", ids)}
}
