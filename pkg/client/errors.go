package client

import (
	"errors"
	"fmt"
	"time"
)

// Error is an error answered by the API: its HTTP status, the API's error
// code (API.md), message and offending field.
type Error struct {
	StatusCode int
	Code       string
	Message    string
	Field      string
	RequestID  string
	// RetryAfter is the server's hint on 429 and 503.
	RetryAfter time.Duration
	raw        []byte
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("herald: %d %s: %s: %s", e.StatusCode, e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("herald: %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// Body is the raw response body of the error.
func (e *Error) Body() []byte { return e.raw }

// Is matches the sentinels by error code, so errors.Is(err, ErrNotFound)
// works on any *Error.
func (e *Error) Is(target error) bool {
	s, ok := target.(*sentinel)
	if !ok {
		return false
	}
	for _, c := range s.codes {
		if c == e.Code {
			return true
		}
	}
	return false
}

type sentinel struct {
	msg   string
	codes []string
}

func (s *sentinel) Error() string { return s.msg }

// Sentinels for errors.Is, one per API error code.
var (
	ErrInvalidArgument  error = &sentinel{"herald: invalid argument", []string{"invalid_argument", "TEMPLATE_ERROR"}}
	ErrUnauthenticated  error = &sentinel{"herald: unauthenticated", []string{"unauthenticated"}}
	ErrPermissionDenied error = &sentinel{"herald: permission denied", []string{"permission_denied"}}
	ErrNotFound         error = &sentinel{"herald: not found", []string{"not_found", "resource_not_found"}}
	ErrRetentionExpired error = &sentinel{"herald: retention expired", []string{"retention_expired"}}
	ErrPayloadTooLarge  error = &sentinel{"herald: payload too large", []string{"payload_too_large"}}
	ErrConflict         error = &sentinel{"herald: conflict", []string{"conflict"}}
	ErrRateLimited      error = &sentinel{"herald: rate limited", []string{"rate_limited"}}
	ErrUnavailable      error = &sentinel{"herald: unavailable", []string{"unavailable"}}
)

// IsRetryable reports whether an error is worth retrying later: the server
// was unavailable or rate-limited the call, or it never answered.
func IsRetryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return errors.Is(e, ErrUnavailable) || errors.Is(e, ErrRateLimited) || e.StatusCode >= 500
	}
	return err != nil
}
