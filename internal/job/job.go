// Package job is the wire form of one delivery on JetStream, shared by the
// producer that publishes it and the worker that consumes it.
package job

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Version of the wire format.
const Version = 2

// Headers Herald sets on a job message besides Nats-Msg-Id.
const (
	// HeaderRepublished marks a job the reconciler published again; the
	// worker then checks the entry before delivering.
	HeaderRepublished = "Herald-Republished"
)

// Job is one message to deliver on one channel.
type Job struct {
	V int `json:"v"`
	// Workspace and ID name the log entry.
	Workspace string `json:"ws"`
	ID        string `json:"id"`
	Channel   string `json:"ch"`
	// Generation is the entry's reprocess count when this job was made.
	Generation   int    `json:"gen,omitempty"`
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

// MsgID is the JetStream de-duplication id of a job: publishing the same
// delivery twice inside the duplicate window stores it once.
func (j *Job) MsgID() string {
	return j.Workspace + "." + j.ID + "." + strconv.Itoa(j.Generation)
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
	var j Job
	if err := json.Unmarshal(head, &j); err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	if framed {
		j.Input = json.RawMessage(in)
	}
	if j.V != Version || j.Workspace == "" || j.ID == "" || j.Channel == "" || (!framed && j.Input == nil) {
		return nil, fmt.Errorf("job: not a version %d job", Version)
	}
	return &j, nil
}
