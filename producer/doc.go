// Package producer accepts sends: it validates and normalises a request,
// resolves its notification definition, deduplicates on the cache tag,
// writes the pending log entry and only then publishes the job to
// JetStream (subject herald.send.<channel>, Nats-Msg-Id = the message id),
// answering the caller after the stream's ack. A send that cannot be
// queued is marked failed with UNAVAILABLE: nothing vanishes silently.
package producer
