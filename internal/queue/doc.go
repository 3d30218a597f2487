// Package queue is Herald's JetStream contract, in one place: the streams
// and their subjects, the per-workspace durable consumers, the wire form
// of a job and its de-duplication id (Nats-Msg-Id), publishing with its
// real outcome (stored, or already there), and healing the layout when
// the server lost it. The producer, the worker, the retry pump and the
// reconciler all go through it; none of them builds a subject or a
// message id itself.
package queue
