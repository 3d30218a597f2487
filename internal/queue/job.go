package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Version of the job wire format. Version 3 added Attempt and Due; a
// version 2 job (published before an upgrade) still decodes, with
// Attempt -1: "unknown", so the worker's claim does not check it.
const Version = 3

// Job is one delivery of one message on one channel: everything a worker
// needs to make the attempt, so that a first delivery reads nothing but
// its claim.
type Job struct {
	V int `json:"v"`
	// Workspace and ID name the log entry.
	Workspace string `json:"ws"`
	ID        string `json:"id"`
	Channel   string `json:"ch"`
	// Generation is the entry's reprocess count when this job was made.
	Generation int `json:"gen,omitempty"`
	// Attempt is how many attempts of this generation the entry had when
	// the job was published: 0 for a new send, n for the retry after the
	// n-th attempt. A job is valid for exactly one attempt; the worker's
	// claim drops a job whose attempt was already made (a second copy).
	Attempt int `json:"a"`
	// Due is when this attempt was scheduled (Unix ms; 0 for a first
	// attempt). It tells two publishes of the same attempt apart when a
	// message is deferred without an attempt (its endpoint was at its
	// in-flight cap), so that the duplicate window never drops the new one.
	Due          int64  `json:"due,omitempty"`
	Product      string `json:"p"`
	Env          string `json:"e"`
	Notification string `json:"n"`
	// Retries after the first attempt.
	Retries int             `json:"r"`
	Input   json.RawMessage `json:"in"`
	// RequestID is the id of the API request that made (or reprocessed)
	// the message, logged with its deliveries. Empty for other sources.
	RequestID string `json:"rid,omitempty"`
}

// MsgID is the JetStream de-duplication id of a job: the same attempt of
// the same message published twice inside the duplicate window (a
// producer's retry after a lost ack, two retry pumps, the reconciler) is
// stored once. Every publisher derives it from the entry's state, so they
// all agree.
func (j *Job) MsgID() string {
	return j.Workspace + "." + j.ID + "." + strconv.Itoa(j.Generation) + "." + strconv.Itoa(j.Attempt) + "." + strconv.FormatInt(j.Due, 10)
}

// Encode returns the wire form: the job's fields as JSON, a newline, and
// the input as received. The input is neither re-encoded when publishing
// nor decoded when consuming: it only passes through.
func (j *Job) Encode() ([]byte, error) {
	j.V = Version
	in := j.Input
	j.Input = nil
	head, err := json.Marshal(j)
	j.Input = in
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(head)+1+len(in))
	out = append(append(append(out, head...), '\n'), in...)
	return out, nil
}

// Decode parses the wire form.
func Decode(b []byte) (*Job, error) {
	head, in, framed := bytes.Cut(b, []byte{'\n'})
	j := Job{Attempt: -1}
	if err := json.Unmarshal(head, &j); err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	if framed {
		j.Input = json.RawMessage(in)
	}
	if (j.V != Version && j.V != 2) || j.Workspace == "" || j.ID == "" || j.Channel == "" || (!framed && j.Input == nil) {
		return nil, fmt.Errorf("job: not a version %d job", Version)
	}
	if j.V == 2 {
		j.Attempt = -1
	} else if j.Attempt < 0 {
		return nil, fmt.Errorf("job: negative attempt")
	}
	return &j, nil
}
