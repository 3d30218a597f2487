package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/producer"
	"github.com/heraldhq/herald/scheduler"
)

// Error is the body of every error response (API.md).
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// apiError is an error with its HTTP status, made by handlers.
type apiError struct {
	status int
	body   Error
	// retryAfter, when set, is sent as the Retry-After header.
	retryAfter string
}

func (e *apiError) Error() string { return e.body.Message }

func errorf(status int, code, field, msg string) *apiError {
	return &apiError{status: status, body: Error{Code: code, Message: msg, Field: field}}
}

func badRequest(field, msg string) *apiError {
	return errorf(http.StatusBadRequest, "invalid_argument", field, msg)
}

// toAPIError maps every error a part can return to its status and code:
// the one place where sentinels become HTTP.
func toAPIError(err error) *apiError {
	var ae *apiError
	var mbe *http.MaxBytesError
	if e, status, ok := producer.Describe(err); ok {
		return errorf(status, e.Code, e.Field, e.Message)
	}
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "payload_too_large", "", "request body is larger than the limit")
	case errors.Is(err, logstore.ErrNotFound):
		return errorf(http.StatusNotFound, "resource_not_found", "", "no such message in this workspace")
	case errors.Is(err, logstore.ErrRetentionExpired):
		return errorf(http.StatusGone, "retention_expired", "", "this message is older than the retention window and was deleted")
	case errors.Is(err, logstore.ErrConflict):
		return errorf(http.StatusConflict, "conflict", "status", err.Error())
	case errors.Is(err, logstore.ErrBadCursor):
		return badRequest("cursor", "not a cursor this server made; use next_cursor from a previous page")
	case errors.Is(err, scheduler.ErrJobNotFound):
		return errorf(http.StatusNotFound, "resource_not_found", "", "no such job in this workspace")
	case errors.Is(err, scheduler.ErrJobConflict):
		return errorf(http.StatusConflict, "conflict", "status", err.Error())
	}
	return errorf(http.StatusInternalServerError, "internal", "", "internal error")
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	if ae.status >= 500 {
		s.log.Error("request failed", zap.String("request_id", requestID(r.Context())), zap.Int("status", ae.status), zap.Error(err))
	}
	if ae.status == http.StatusServiceUnavailable && ae.retryAfter == "" {
		ae.retryAfter = "1"
	}
	if ae.retryAfter != "" {
		w.Header().Set("Retry-After", ae.retryAfter)
	}
	writeJSON(w, ae.status, map[string]Error{"error": ae.body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
