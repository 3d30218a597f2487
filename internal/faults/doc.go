// Package faults is Herald's fault suite: it builds the herald binary and
// runs it as separate OS processes — a producer and several workers —
// against a redis-server process and a JetStream server process (`herald
// dev nats`), with a loopback receiver that counts callbacks by message
// id, then kills, restarts and breaks those processes mid-run and checks
// that nothing accepted is lost.
//
// The suite is slow (minutes) and runs with `make test-faults`, which sets
// HERALD_FAULT_SUITE=1; `make test` skips it. The in-process fault tests
// of internal/app cover the same ground faster, without real processes.
package faults
