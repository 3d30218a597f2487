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
	// Done are the recipients (addresses, device tokens, numbers) that
	// earlier attempts of this message settled: accepted by the provider
	// or refused for good. A retry skips them, so that nobody gets a
	// message twice because someone else's delivery failed.
	Done map[string]bool
}

// ProviderType is the type of the provider the message goes through
// ("smtp", "fcm", "twilio", ...; "webhook" for callbacks), a bounded
// label for metrics. Empty when the definition names no known provider.
func (m *Message) ProviderType() string {
	if m == nil || m.Definition == nil {
		return ""
	}
	var name string
	switch {
	case m.Channel == "callback" && m.Definition.Callback != nil:
		return "webhook"
	case m.Channel == "email" && m.Definition.Email != nil:
		name = m.Definition.Email.Provider
	case m.Channel == "push" && m.Definition.Push != nil:
		name = m.Definition.Push.Provider
	case m.Channel == "sms" && m.Definition.SMS != nil:
		name = m.Definition.SMS.Provider
	}
	if p, ok := m.Providers[name]; ok {
		return p.Type
	}
	return ""
}

// Result is what a provider answered.
type Result struct {
	StatusCode  int
	ContentType string
	// Body is the response body, at most MaxBody bytes of it. A channel
	// that sends to several recipients puts a JSON summary of each
	// recipient's outcome here instead.
	Body []byte
	// Done are the recipients this attempt settled (accepted, or refused
	// for good); the worker records them with the attempt and hands them
	// to the next attempt as Message.Done.
	Done []string
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

// InputError is a send's input that cannot be delivered with its
// definition, found at accept time: the producer answers 400 with Code
// ("invalid_argument", or TEMPLATE_ERROR when a template fails for the
// input) and Field.
type InputError struct {
	Code string
	// Field is the JSON path of the offending value, e.g.
	// "input.recipients[1]" or "input.subject".
	Field   string
	Message string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Message }

// Invalid returns an invalid_argument InputError.
func Invalid(field, format string, args ...any) *InputError {
	return &InputError{Code: "invalid_argument", Field: field, Message: fmt.Sprintf(format, args...)}
}

// TemplateError returns a TEMPLATE_ERROR InputError.
func TemplateError(field string, err error) *InputError {
	return &InputError{Code: CodeTemplate, Field: field, Message: "template failed for this input: " + err.Error()}
}
