package logstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
	// ErrTouched: a Change with Untouched found a delivery under way or done.
	ErrTouched = errors.New("logstore: a delivery of this message has started")
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
	// GenerationAttempts counts the attempts of this generation (retries
	// are counted against it; a job names the attempt it is for).
	GenerationAttempts int
	Seq                int64
	Input              json.RawMessage
	// InputCut is the length in bytes of an input a query left out
	// (Query.InputLimit); Input is then nil. Zero: Input is whole.
	InputCut int
	// Destinations counts who the message goes to (recipients, device
	// tokens, one callback); 0 for entries written before it was kept.
	Destinations int
}

// destinationCount counts the destinations of an input of channel typ:
// one callback URL, else the recipients or device tokens (decoding only
// those members; the input was validated already).
func destinationCount(typ string, input json.RawMessage) int {
	if typ == "callback" {
		return 1
	}
	var in struct {
		Recipients   []json.RawMessage `json:"recipients"`
		DeviceTokens []json.RawMessage `json:"device_tokens"`
	}
	_ = json.Unmarshal(input, &in)
	return len(in.Recipients) + len(in.DeviceTokens)
}

// An entry is stored as one string of three lines:
//
//	<state line>\n<header JSON>\n<input JSON>
//
// The state line is what transitions change, as "|"-separated fields
//
//	1|seq|created_ms|updated_ms|status|attempts|generation attempts|generation|next_attempt_ms|triggered_by|first_triggered_by|error_code|error
//
// (the error, last, may contain "|"; it never contains a newline), so that
// the Lua scripts rewrite one short line instead of decoding and encoding
// JSON. The header JSON is written once, at creation; the input is kept as
// received.

// header is the immutable part of an entry, with short names.
type header struct {
	ID   string `json:"id"`
	PID  string `json:"pid,omitempty"`
	PT   string `json:"pt"`
	Env  string `json:"env"`
	NT   string `json:"nt"`
	N    string `json:"n"`
	Ty   string `json:"ty"`
	Proc string `json:"proc,omitempty"`
	Camp string `json:"camp,omitempty"`
	R    int    `json:"r"`
	Ses  string `json:"ses,omitempty"`
	Ch   string `json:"cache,omitempty"`
	// DN is the number of destinations (recipients, device tokens; one
	// for a callback), so that a send log's count needs no input.
	DN int `json:"dn,omitempty"`
}

const stateFields = 13

// MaxError is how much of an error message an entry and an attempt keep.
// Errors quote what failed (a URL built from the input, a provider's
// answer), so without a bound one send could make every page of the log
// that lists it as large as its input.
const MaxError = 1024

// cutError cuts an error message to MaxError bytes on a rune boundary.
func cutError(s string) string {
	if len(s) <= MaxError {
		return s
	}
	cut := MaxError - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// oneLine keeps a value that goes into the state line on one line.
func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }

func decodeEntry(ws string, raw string) (*Entry, error) {
	line, rest, ok := strings.Cut(raw, "\n")
	hdr, input, ok2 := strings.Cut(rest, "\n")
	f := strings.SplitN(line, "|", stateFields)
	if !ok || !ok2 || len(f) != stateFields || f[0] != "1" {
		return nil, fmt.Errorf("logstore: corrupt entry")
	}
	var h header
	if err := json.Unmarshal([]byte(hdr), &h); err != nil {
		return nil, fmt.Errorf("logstore: corrupt entry header: %w", err)
	}
	num := func(s string) int64 {
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	e := &Entry{
		ID: h.ID, Workspace: ws, ProductID: h.PID, ProductTag: h.PT, Env: h.Env,
		NotificationTag: h.NT, Notification: h.N, Type: h.Ty, ProcessID: h.Proc, CampaignID: h.Camp,
		Retries: h.R, Session: h.Ses, Cache: h.Ch, Input: json.RawMessage(input), Destinations: h.DN,
		Seq: num(f[1]), CreatedAt: time.UnixMilli(num(f[2])).UTC(), UpdatedAt: time.UnixMilli(num(f[3])).UTC(),
		Status: f[4], Attempts: int(num(f[5])), GenerationAttempts: int(num(f[6])), Generation: int(num(f[7])),
		TriggeredBy: f[9], FirstTriggeredBy: f[10], ErrorCode: f[11], Error: f[12],
	}
	if na := num(f[8]); na > 0 {
		e.NextAttemptAt = time.UnixMilli(na).UTC()
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
