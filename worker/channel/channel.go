// Package channel holds what every delivery channel shares: the message a
// worker hands to a deliverer, the result it gets back and the error
// classification (retryable or permanent, with an error code). Channel
// implementations live in the sub-packages and know nothing of Redis or
// NATS.
package channel

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/config"
)

// Message is one delivery of one message on one channel.
type Message struct {
	ID        string
	Workspace string
	Channel   string
	Product   *config.Product
	Env       string
	// Notification is "notification_tag:message_tag".
	Notification string
	// Definition is the message definition the send resolved to.
	Definition *config.Message
	// Providers are the workspace's providers, by name.
	Providers map[string]config.Provider
	// Attempt is the 1-based number of this attempt.
	Attempt int
	// Timestamp is when this attempt started.
	Timestamp time.Time
	// Input is the channel input of the send, as received.
	Input json.RawMessage
}

// Result is what a provider answered.
type Result struct {
	StatusCode  int
	ContentType string
	// Body is the response body, at most MaxBody bytes of it.
	Body []byte
}

// MaxBody is how much of a response body a deliverer reads and keeps.
const MaxBody = 4096

// Error codes of failed deliveries (API.md, undeliveredNotifications).
const (
	CodeDelivery         = "DELIVERY_ERROR"
	CodeSecretExpired    = "SECRET_EXPIRED"
	CodeInvalidRecipient = "INVALID_RECIPIENT"
	CodeTemplate         = "TEMPLATE_ERROR"
	CodeCircuitOpen      = "CIRCUIT_OPEN"
	CodeTimeout          = "TIMEOUT"
	CodeUnavailable      = "UNAVAILABLE"
)

// Error is a classified delivery failure.
type Error struct {
	// Code is one of the Code* constants.
	Code string
	// Retryable failures are tried again while retries remain; others
	// fail the message at once.
	Retryable bool
	// RetryAfter is the provider's requested delay (Retry-After), if any.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string { return e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Permanent returns a failure that is not retried.
func Permanent(code string, format string, args ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// Retryable returns a failure that is tried again, after at least after
// when after is positive.
func Retryable(code string, after time.Duration, format string, args ...any) *Error {
	return &Error{Code: code, Retryable: true, RetryAfter: after, Err: fmt.Errorf(format, args...)}
}

// Classify returns err as an *Error; an unclassified error is a retryable
// DELIVERY_ERROR.
func Classify(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeDelivery, Retryable: true, Err: err}
}
