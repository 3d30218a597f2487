package producer

import "fmt"

// Dependencies an UnavailableError names.
const (
	DependencyLogStore = "log store"
	DependencyQueue    = "queue"
)

// UnavailableError is a send refused because a dependency did not answer:
// the log store (Redis), before anything was written, or the queue
// (JetStream), after the entry was written and then marked failed with
// UNAVAILABLE. It matches ErrUnavailable with errors.Is.
type UnavailableError struct {
	Dependency string
	Err        error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%v: %s: %v", ErrUnavailable, e.Dependency, e.Err)
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Err }

// Message is the sentence an API caller gets: what was down and what it
// means for the send.
func (e *UnavailableError) Message() string {
	if e.Dependency == DependencyLogStore {
		return "the log store (Redis) is unreachable: the send was not accepted and nothing was queued; retry later (with the same cache tag to stay idempotent)"
	}
	return "the delivery queue (NATS JetStream) is unreachable: the send was not accepted and nothing will be sent (its log entry is marked failed with UNAVAILABLE); retry later"
}
