package api

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/logstore"
)

// LogEntry is the API shape of a log entry (API.md, "The send log").
type LogEntry struct {
	ID              string          `json:"_id"`
	WorkspaceID     string          `json:"workspace_id"`
	ProductID       *string         `json:"product_id"`
	ProductTag      string          `json:"product_tag"`
	Env             string          `json:"env"`
	NotificationTag string          `json:"notification_tag"`
	Notification    string          `json:"notification"`
	Input           json.RawMessage `json:"input"`
	Status          string          `json:"status"`
	Type            string          `json:"type"`
	ProcessID       *string         `json:"process_id"`
	CampaignID      *string         `json:"campaign_id"`
	TriggeredBy     string          `json:"triggered_by"`
	Error           *string         `json:"error"`
	ErrorCode       *string         `json:"error_code"`
	Retries         int             `json:"retries"`
	Attempts        int             `json:"attempts"`
	Session         *string         `json:"session"`
	Cache           *string         `json:"cache"`
	NextAttemptAt   *string         `json:"next_attempt_at"`
	ReprocessCount  int             `json:"reprocess_count"`
	CreatedAt       string          `json:"created_at"`
	UpdatedAt       string          `json:"updated_at"`
	// InputTruncated is set in lists when the input was longer than
	// ListInputBytes: input then holds only a marker (truncatedInput) and
	// GET /v1/messages/{id} has it in full.
	InputTruncated bool `json:"input_truncated,omitempty"`
}

// ListInputBytes is the largest input a list view (GET /v1/messages, the
// send-log search, GraphQL) shows in full. A longer one is replaced by a
// marker: inputs may be up to max_body_bytes each, and a page of 200 of
// them must not cost the process, Redis and the client hundreds of MB.
const ListInputBytes = 16 << 10

// truncatedInput is what a list shows instead of an input longer than
// ListInputBytes. It is still a JSON object, so clients typed after the
// seed (input: Record<string, unknown>) keep working; its one member is
// no channel's input field, so resending it by mistake (reprocessing from
// a list as the seed describes) is refused with a 400 naming it, never
// sent as an empty message.
type truncatedInput struct {
	Truncated struct {
		Bytes int    `json:"bytes"`
		Limit int    `json:"limit"`
		Full  string `json:"full"`
	} `json:"$truncated"`
}

// timeFormat is RFC 3339 in UTC with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toLogEntry(e *logstore.Entry) LogEntry {
	out := LogEntry{
		ID: e.ID, WorkspaceID: e.Workspace, ProductID: nullable(e.ProductID), ProductTag: e.ProductTag,
		Env: e.Env, NotificationTag: e.NotificationTag, Notification: e.Notification, Input: e.Input,
		Status: e.Status, Type: e.Type, ProcessID: nullable(e.ProcessID), CampaignID: nullable(e.CampaignID),
		TriggeredBy: e.TriggeredBy, Error: nullable(e.Error), ErrorCode: nullable(e.ErrorCode),
		Retries: e.Retries, Attempts: e.Attempts, Session: nullable(e.Session), Cache: nullable(e.Cache),
		ReprocessCount: e.Generation, CreatedAt: formatTime(e.CreatedAt), UpdatedAt: formatTime(e.UpdatedAt),
	}
	if !e.NextAttemptAt.IsZero() {
		t := formatTime(e.NextAttemptAt)
		out.NextAttemptAt = &t
	}
	if e.InputCut > 0 {
		var m truncatedInput
		m.Truncated.Bytes, m.Truncated.Limit, m.Truncated.Full = e.InputCut, ListInputBytes, "/v1/messages/"+url.PathEscape(e.ID)
		out.Input, _ = json.Marshal(m)
		out.InputTruncated = true
	}
	return out
}

type listResponse struct {
	Items      []LogEntry `json:"items"`
	Total      int64      `json:"total"`
	Page       int        `json:"page"`
	Limit      int        `json:"limit"`
	HasMore    bool       `json:"hasMore"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

const (
	defaultLimit = 20
	maxLimit     = 200
)

// messageFilters are the query parameters of GET /v1/messages.
var messageFilters = []string{"product_tag", "product_id", "env", "notification_tag", "status", "type",
	"process_id", "campaign_id", "start_date", "end_date", "page", "limit", "cursor"}

// parseMessageQuery reads the filters of GET /v1/messages. An unknown
// parameter is an error, not ignored: a misspelled filter must never
// silently widen a search.
func parseMessageQuery(v url.Values, ws string) (logstore.Query, int, error) {
	q := logstore.Query{Workspace: ws, Limit: defaultLimit}
	for name := range v {
		if !slices.Contains(messageFilters, name) {
			return q, 0, badRequest(cmp.Or(name, "query"), fmt.Sprintf("unknown query parameter %q (known: %s)", name, strings.Join(messageFilters, ", ")))
		}
		if len(v[name]) > 1 {
			return q, 0, badRequest(name, "given more than once")
		}
	}
	q.ProductTag, q.ProductID, q.Env = v.Get("product_tag"), v.Get("product_id"), v.Get("env")
	q.NotificationTag, q.ProcessID, q.CampaignID = v.Get("notification_tag"), v.Get("process_id"), v.Get("campaign_id")
	for _, f := range []struct{ name, val string }{
		{"product_tag", q.ProductTag}, {"product_id", q.ProductID}, {"env", q.Env},
		{"notification_tag", q.NotificationTag}, {"process_id", q.ProcessID}, {"campaign_id", q.CampaignID},
	} {
		if f.val != "" && !config.ValidTag(f.val) {
			return q, 0, badRequest(f.name, "want 1-64 letters, digits, '_', '.' or '-'")
		}
	}
	if s := v.Get("status"); s != "" {
		if !slices.Contains(logstore.Statuses, s) {
			return q, 0, badRequest("status", "want one of "+strings.Join(logstore.Statuses, ", "))
		}
		q.Status = s
	}
	if t := v.Get("type"); t != "" {
		if !slices.Contains(logstore.Types, t) {
			return q, 0, badRequest("type", "want one of "+strings.Join(logstore.Types, ", "))
		}
		q.Type = t
	}
	var err error
	if q.Start, err = parseTimeParam(v, "start_date"); err != nil {
		return q, 0, err
	}
	if q.End, err = parseTimeParam(v, "end_date"); err != nil {
		return q, 0, err
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.Start.After(q.End) {
		return q, 0, badRequest("start_date", "start_date is after end_date")
	}
	if q.Limit, err = clampLimit(v, "limit", defaultLimit, maxLimit); err != nil {
		return q, 0, err
	}
	page := 1
	if s := v.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1_000_000 {
			return q, 0, badRequest("page", "want a whole number from 1")
		}
		page = n
	}
	q.Cursor = v.Get("cursor")
	if q.Cursor == "" {
		q.Offset = (page - 1) * q.Limit
	}
	return q, page, nil
}

// parseTimeParam accepts RFC 3339 or Unix milliseconds.
func parseTimeParam(v url.Values, name string) (time.Time, error) {
	s := v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}, badRequest(name, err.Error())
	}
	return t, nil
}

// ParseTime parses an API time: RFC 3339, or Unix milliseconds.
func ParseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > 253402300799999 {
			return time.Time{}, fmt.Errorf("unix milliseconds out of range")
		}
		return time.UnixMilli(n).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 time (2024-01-31T12:00:00Z) or Unix milliseconds")
	}
	return t.UTC(), nil
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	q, page, err := parseMessageQuery(r.URL.Query(), p.Workspace)
	if err != nil {
		return err
	}
	q.InputLimit = ListInputBytes
	res, err := s.cfg.Store.Query(r.Context(), q)
	if err != nil {
		return err
	}
	out := listResponse{Items: make([]LogEntry, 0, len(res.Entries)), Total: res.Total, Page: page,
		Limit: q.Limit, HasMore: res.HasMore, NextCursor: res.NextCursor}
	for _, e := range res.Entries {
		out.Items = append(out.Items, toLogEntry(e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	e, err := s.cfg.Store.Get(r.Context(), p.Workspace, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toLogEntry(e))
	return nil
}

// AttemptView is the API shape of one delivery attempt, a Paddle
// notification log (seeds/paddle-notification-logs.txt): response_code,
// response_content_type and response_body are always present — 0, null and
// "" when the attempt got no HTTP answer (a transport error, an SMTP
// provider) — so clients typed after the seed never meet a missing field.
type AttemptView struct {
	ID                  string  `json:"id"`
	ResponseCode        int     `json:"response_code"`
	ResponseContentType *string `json:"response_content_type"`
	ResponseBody        string  `json:"response_body"`
	AttemptedAt         string  `json:"attempted_at"`
	DurationMs          int64   `json:"duration_ms"`
	Error               string  `json:"error,omitempty"`
	ErrorCode           string  `json:"error_code,omitempty"`
	// Outcome is sent, retry (another attempt followed or is due) or
	// failed (the message's last attempt, when it ended failed).
	Outcome    string `json:"outcome"`
	Generation int    `json:"reprocess_generation"`
	// SettledRecipients are the recipients this attempt settled (accepted
	// or refused for good); retries skip them.
	SettledRecipients []string `json:"settled_recipients,omitempty"`
}

type attemptsResponse struct {
	Data []AttemptView `json:"data"`
	Meta attemptsMeta  `json:"meta"`
}

type attemptsMeta struct {
	RequestID  string     `json:"request_id"`
	Pagination pagination `json:"pagination"`
}

type pagination struct {
	PerPage int `json:"per_page"`
	// Next is always set, as in Paddle's API: the absolute URL of this
	// request with after set to the last attempt of this page.
	Next           string `json:"next"`
	HasMore        bool   `json:"has_more"`
	EstimatedTotal int    `json:"estimated_total"`
}

const (
	defaultPerPage = 50
	maxPerPage     = 200
)

func (s *Server) listAttempts(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	v := r.URL.Query()
	for name, vals := range v {
		if name != "after" && name != "per_page" {
			return badRequest(cmp.Or(name, "query"), fmt.Sprintf("unknown query parameter %q (known: after, per_page)", name))
		}
		if len(vals) > 1 {
			return badRequest(name, "given more than once")
		}
	}
	perPage, err := clampLimit(v, "per_page", defaultPerPage, maxPerPage)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	after := v.Get("after")
	atts, more, total, err := s.cfg.Store.Attempts(r.Context(), p.Workspace, id, after, perPage)
	if errors.Is(err, logstore.ErrBadCursor) {
		return badRequest("after", fmt.Sprintf("%q is no attempt of this message; use meta.pagination.next of a previous page", after))
	}
	if err != nil {
		return err
	}
	out := attemptsResponse{Data: make([]AttemptView, 0, len(atts)), Meta: attemptsMeta{
		RequestID:  requestID(r.Context()),
		Pagination: pagination{PerPage: perPage, HasMore: more, EstimatedTotal: total},
	}}
	for _, a := range atts {
		out.Data = append(out.Data, AttemptView{ID: a.ID, ResponseCode: a.ResponseCode, ResponseContentType: nullable(a.ResponseContentType),
			ResponseBody: a.ResponseBody, AttemptedAt: formatTime(a.AttemptedAt), DurationMs: a.DurationMs, Error: a.Error,
			ErrorCode: a.ErrorCode, Outcome: a.Outcome, Generation: a.Generation, SettledRecipients: a.Settled})
	}
	// next keeps the request's own parameters and moves after to the end
	// of this page (where it was when the page is empty), so that
	// following it never skips or repeats an attempt, and polling it once
	// has_more is false shows the attempts made since.
	if len(atts) > 0 {
		v.Set("after", atts[len(atts)-1].ID)
	}
	u := url.URL{Scheme: requestScheme(r), Host: requestHost(r), Path: r.URL.Path, RawQuery: v.Encode()}
	out.Meta.Pagination.Next = u.String()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// clampLimit reads a page size: absent is def, a larger one than max is
// max (as Paddle does with per_page; the answer says which was used), a
// non-number or one below 1 is a 400 naming the parameter.
func clampLimit(v url.Values, name string, def, max int) (int, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(s, "-") {
			return max, nil // a huge number is still "more than the maximum"
		}
		return 0, badRequest(name, fmt.Sprintf("want a whole number from 1 (larger than %d is taken as %d)", max, max))
	}
	if n < 1 {
		return 0, badRequest(name, fmt.Sprintf("want a whole number from 1 (larger than %d is taken as %d)", max, max))
	}
	return min(n, max), nil
}

// requestScheme is the scheme the client used: X-Forwarded-Proto when a
// proxy in front of Herald set it, else whether this connection is TLS.
func requestScheme(r *http.Request) string {
	if p, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ","); p != "" {
		if p = strings.ToLower(strings.TrimSpace(p)); p == "http" || p == "https" {
			return p
		}
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// requestHost is the host the client addressed: X-Forwarded-Host (its
// first value) when a proxy set it, else the Host header. A value that is
// not a host[:port] is ignored.
func requestHost(r *http.Request) string {
	if h, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Host"), ","); validHost(strings.TrimSpace(h)) {
		return strings.TrimSpace(h)
	}
	if validHost(r.Host) {
		return r.Host
	}
	return "localhost"
}

var hostRe = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?$`)

func validHost(h string) bool { return hostRe.MatchString(h) }
