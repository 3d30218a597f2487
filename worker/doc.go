// Package worker consumes deliveries from JetStream and delivers them:
// one durable pull consumer per channel shared by every replica, bounded
// concurrency, a circuit breaker per (workspace, channel, endpoint) around
// each Deliverer, retries with exponential backoff and jitter handed back
// to JetStream as delayed naks, and every attempt and transition recorded
// in the log store in one Lua call before the message is settled.
package worker
