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
	status, out := producer.MultiStatus(res)
	writeJSON(w, status, out)
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
