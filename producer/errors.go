package producer

import (
	"errors"
	"net/http"
)

// Describe maps an error of Send, SendMulti or Reprocess to the API's
// status and error body (API.md). ok is false for errors that are not the
// producer's; transports (HTTP, NATS ingest) share this one mapping.
func Describe(err error) (e Error, status int, ok bool) {
	var inv *InvalidError
	var unauth *UnauthenticatedError
	switch {
	case errors.As(err, &inv):
		return Error{Code: inv.Code, Field: inv.Field, Message: inv.Message}, http.StatusBadRequest, true
	case errors.As(err, &unauth):
		return Error{Code: "unauthenticated", Field: unauth.Field, Message: unauth.Message}, http.StatusUnauthorized, true
	case errors.Is(err, ErrUnavailable):
		msg := "the send could not be queued right now; retry later"
		var ue *UnavailableError
		if errors.As(err, &ue) {
			msg = ue.Message()
		}
		return Error{Code: "unavailable", Message: msg}, http.StatusServiceUnavailable, true
	}
	return Error{}, 0, false
}
