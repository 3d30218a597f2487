package logstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Statuses of a log entry. The machine: pending -> sent | failed;
// sent | failed -> reprocessing -> sent | failed.
const (
	StatusPending      = "pending"
	StatusSent         = "sent"
	StatusFailed       = "failed"
	StatusReprocessing = "reprocessing"
)

// Statuses lists every status.
var Statuses = []string{StatusPending, StatusSent, StatusFailed, StatusReprocessing}

// Types of a log entry.
var Types = []string{"email", "push", "sms", "callback", "notification"}

// Sentinel errors callers branch on.
var (
	ErrNotFound         = errors.New("logstore: not found")
	ErrConflict         = errors.New("logstore: status does not allow this transition")
	ErrRetentionExpired = errors.New("logstore: past the retention window")
)

// Entry is one message's log entry.
type Entry struct {
	ID              string
	Workspace       string
	ProductID       string
	ProductTag      string
	Env             string
	NotificationTag string
	// Notification is the full "notification_tag:message_tag".
	Notification string
	Status       string
	Type         string
	ProcessID    string
	CampaignID   string
	TriggeredBy  string
	// FirstTriggeredBy is how the message first came in, once reprocessing
	// has replaced TriggeredBy.
	FirstTriggeredBy string
	Error            string
	ErrorCode        string
	Retries          int
	Attempts         int
	Session          string
	Cache            string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// NextAttemptAt is when a scheduled retry is due; zero when none is.
	NextAttemptAt time.Time
	// Generation counts reprocessings; a delivery carries the generation it
	// belongs to so that a stale redelivery cannot touch a newer one.
	Generation int
	Seq        int64
	Input      json.RawMessage
}

// header is the stored form of an Entry without its input. The short names
// keep entries small; the Lua scripts read and write them.
type header struct {
	ID   string `json:"id"`
	PID  string `json:"pid,omitempty"`
	PT   string `json:"pt"`
	Env  string `json:"env"`
	NT   string `json:"nt"`
	N    string `json:"n"`
	St   string `json:"st"`
	Ty   string `json:"ty"`
	Proc string `json:"proc,omitempty"`
	Camp string `json:"camp,omitempty"`
	TB   string `json:"tb"`
	OTB  string `json:"otb,omitempty"`
	Err  string `json:"err,omitempty"`
	EC   string `json:"ec,omitempty"`
	R    int    `json:"r"`
	A    int    `json:"a"`
	GA   int    `json:"ga,omitempty"`
	Ses  string `json:"ses,omitempty"`
	Ch   string `json:"cache,omitempty"`
	CA   int64  `json:"ca"`
	UA   int64  `json:"ua"`
	NA   int64  `json:"na,omitempty"`
	RP   int    `json:"rp,omitempty"`
	Seq  int64  `json:"seq"`
}

func decodeEntry(ws string, raw string) (*Entry, error) {
	hdr, input, ok := bytes.Cut([]byte(raw), []byte{'\n'})
	if !ok {
		return nil, fmt.Errorf("logstore: corrupt entry (no header separator)")
	}
	var h header
	if err := json.Unmarshal(hdr, &h); err != nil {
		return nil, fmt.Errorf("logstore: corrupt entry header: %w", err)
	}
	e := &Entry{
		ID: h.ID, Workspace: ws, ProductID: h.PID, ProductTag: h.PT, Env: h.Env,
		NotificationTag: h.NT, Notification: h.N, Status: h.St, Type: h.Ty,
		ProcessID: h.Proc, CampaignID: h.Camp, TriggeredBy: h.TB, FirstTriggeredBy: h.OTB,
		Error: h.Err, ErrorCode: h.EC, Retries: h.R, Attempts: h.A, Session: h.Ses, Cache: h.Ch,
		CreatedAt: time.UnixMilli(h.CA).UTC(), UpdatedAt: time.UnixMilli(h.UA).UTC(),
		Generation: h.RP, Seq: h.Seq, Input: json.RawMessage(input),
	}
	if h.NA > 0 {
		e.NextAttemptAt = time.UnixMilli(h.NA).UTC()
	}
	return e, nil
}

// Attempt is one delivery attempt of a message.
type Attempt struct {
	ID                  string    `json:"id"`
	Generation          int       `json:"generation,omitempty"`
	ResponseCode        int       `json:"response_code,omitempty"`
	ResponseContentType string    `json:"response_content_type,omitempty"`
	ResponseBody        string    `json:"response_body,omitempty"`
	AttemptedAt         time.Time `json:"attempted_at"`
	DurationMs          int64     `json:"duration_ms"`
	Error               string    `json:"error,omitempty"`
	ErrorCode           string    `json:"error_code,omitempty"`
	// Outcome is "sent", "retry" or "failed".
	Outcome string `json:"outcome"`
	// Settled are the recipients (addresses, device tokens, numbers) this
	// attempt settled: accepted, or refused for good. Later attempts of
	// the same generation skip them.
	Settled []string `json:"settled_recipients,omitempty"`
}

// MaxResponseBody is how much of a response body an attempt keeps.
const MaxResponseBody = 4096
