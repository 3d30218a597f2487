package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Message is a send log entry (API.md LogEntry).
type Message struct {
	ID              string          `json:"_id"`
	WorkspaceID     string          `json:"workspace_id"`
	ProductID       *string         `json:"product_id"`
	ProductTag      string          `json:"product_tag"`
	Env             string          `json:"env"`
	NotificationTag string          `json:"notification_tag"`
	Notification    string          `json:"notification"`
	Input           json.RawMessage `json:"input"`
	// InputTruncated is set in lists when Input is only a marker of an
	// input longer than 16 KiB; Message(id) has it in full.
	InputTruncated bool       `json:"input_truncated"`
	Status         string     `json:"status"`
	Type           Channel    `json:"type"`
	ProcessID      *string    `json:"process_id"`
	CampaignID     *string    `json:"campaign_id"`
	TriggeredBy    string     `json:"triggered_by"`
	Error          *string    `json:"error"`
	ErrorCode      *string    `json:"error_code"`
	Retries        int        `json:"retries"`
	Attempts       int        `json:"attempts"`
	Session        *string    `json:"session"`
	Cache          *string    `json:"cache"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	ReprocessCount int        `json:"reprocess_count"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// Statuses of a message.
const (
	StatusPending      = "pending"
	StatusSent         = "sent"
	StatusFailed       = "failed"
	StatusReprocessing = "reprocessing"
)

// MessageFilter selects messages; empty fields do not filter.
type MessageFilter struct {
	ProductTag      string
	ProductID       string
	Env             string
	NotificationTag string
	Status          string
	Type            Channel
	ProcessID       string
	CampaignID      string
	Start, End      time.Time
}

func (f MessageFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"product_tag": f.ProductTag, "product_id": f.ProductID, "env": f.Env,
		"notification_tag": f.NotificationTag, "status": f.Status, "type": string(f.Type), "process_id": f.ProcessID,
		"campaign_id": f.CampaignID} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !f.Start.IsZero() {
		v.Set("start_date", timeParam(f.Start))
	}
	if !f.End.IsZero() {
		v.Set("end_date", timeParam(f.End))
	}
	return v
}

// MessageQuery is a page request of GET /v1/messages: Page (1-based) or
// Cursor, and Limit (default 20, max 200).
type MessageQuery struct {
	MessageFilter
	Page   int
	Limit  int
	Cursor string
}

// MessagePage is one page of messages, newest first.
type MessagePage struct {
	Items      []Message `json:"items"`
	Total      int64     `json:"total"`
	Page       int       `json:"page"`
	Limit      int       `json:"limit"`
	HasMore    bool      `json:"hasMore"`
	NextCursor string    `json:"next_cursor"`
}

// ListMessages returns one page of the send log.
func (c *Client) ListMessages(ctx context.Context, q MessageQuery) (*MessagePage, error) {
	v := q.values()
	if q.Page > 0 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	var out MessagePage
	if _, err := c.do(ctx, http.MethodGet, "/v1/messages", v, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Messages iterates over every message matching f, newest first, fetching
// pages of pageSize (default 200) by cursor; the cost of a page does not
// grow with depth. Stop by breaking out of the loop; an error ends it.
func (c *Client) Messages(ctx context.Context, f MessageFilter, pageSize int) iter.Seq2[*Message, error] {
	q := MessageQuery{MessageFilter: f, Limit: pageSize}
	if q.Limit <= 0 {
		q.Limit = 200
	}
	return paginate(func(cursor string) ([]Message, string, bool, error) {
		q.Cursor = cursor
		page, err := c.ListMessages(ctx, q)
		if err != nil {
			return nil, "", false, err
		}
		return page.Items, page.NextCursor, page.HasMore, nil
	})
}

// paginate iterates over every item of a cursor-paged list: fetch returns
// a page's items, the cursor of the next page and whether there is one.
func paginate[T any](fetch func(cursor string) (items []T, next string, more bool, err error)) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		cursor := ""
		for {
			items, next, more, err := fetch(cursor)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range items {
				if !yield(&items[i], nil) {
					return
				}
			}
			if !more || next == "" {
				return
			}
			cursor = next
		}
	}
}

// GetMessage returns one message; ErrNotFound when it is not in this
// workspace, ErrRetentionExpired when it is older than retention.
func (c *Client) GetMessage(ctx context.Context, id string) (*Message, error) {
	var out Message
	if _, err := c.do(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Attempt is one delivery attempt.
type Attempt struct {
	ID string `json:"id"`
	// ResponseCode is the HTTP status of the answer; 0 when there was none
	// (a transport error, a channel that is not HTTP).
	ResponseCode        *int      `json:"response_code"`
	ResponseContentType string    `json:"response_content_type"`
	ResponseBody        string    `json:"response_body"`
	AttemptedAt         time.Time `json:"attempted_at"`
	DurationMs          int64     `json:"duration_ms"`
	Error               string    `json:"error"`
	ErrorCode           string    `json:"error_code"`
	Outcome             string    `json:"outcome"`
	ReprocessGeneration int       `json:"reprocess_generation"`
}

// AttemptPage is one page of a message's attempts, oldest first.
type AttemptPage struct {
	Data []Attempt `json:"data"`
	Meta struct {
		RequestID  string `json:"request_id"`
		Pagination struct {
			PerPage int `json:"per_page"`
			// Next is always set: this request's URL with after moved to
			// the end of the page.
			Next           *string `json:"next"`
			HasMore        bool    `json:"has_more"`
			EstimatedTotal int     `json:"estimated_total"`
		} `json:"pagination"`
	} `json:"meta"`
}

// ListAttempts returns the attempts of a message after the attempt with id
// after (from the first when empty), perPage at a time (default 50, max 200).
func (c *Client) ListAttempts(ctx context.Context, messageID, after string, perPage int) (*AttemptPage, error) {
	v := url.Values{}
	if after != "" {
		v.Set("after", after)
	}
	if perPage > 0 {
		v.Set("per_page", strconv.Itoa(perPage))
	}
	var out AttemptPage
	if _, err := c.do(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(messageID)+"/attempts", v, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Attempts iterates over every attempt of a message, oldest first.
func (c *Client) Attempts(ctx context.Context, messageID string) iter.Seq2[*Attempt, error] {
	return func(yield func(*Attempt, error) bool) {
		after := ""
		for {
			page, err := c.ListAttempts(ctx, messageID, after, 200)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range page.Data {
				if !yield(&page.Data[i], nil) {
					return
				}
			}
			if !page.Meta.Pagination.HasMore || len(page.Data) == 0 {
				return
			}
			after = page.Data[len(page.Data)-1].ID
		}
	}
}

// ReprocessResult is the answer to a reprocess.
type ReprocessResult struct {
	MessageID string `json:"messageId"`
	Status    string `json:"status"`
}

// Reprocess sends a failed or sent message again with its stored input;
// ErrConflict for a message that is pending or reprocessing.
func (c *Client) Reprocess(ctx context.Context, messageID string) (*ReprocessResult, error) {
	var out ReprocessResult
	if _, err := c.do(ctx, http.MethodPost, "/v1/messages/"+url.PathEscape(messageID)+"/reprocess", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetStatus applies an allowed transition by hand (PATCH /v1/messages/{id}):
// StatusReprocessing from failed or sent, StatusFailed from pending or
// reprocessing (with an optional reason). Others are ErrConflict.
func (c *Client) SetStatus(ctx context.Context, messageID, status, reason string) (*Message, error) {
	body := map[string]string{"status": status}
	if reason != "" {
		body["reason"] = reason
	}
	var out Message
	if _, err := c.do(ctx, http.MethodPatch, "/v1/messages/"+url.PathEscape(messageID), nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// BulkReprocess selects the failed messages to reprocess in bulk.
type BulkReprocess struct {
	MessageFilter
	// DryRun only counts the matches.
	DryRun bool
	// IncludeStuckPending also requeues pending messages untouched for 15
	// minutes whose job is gone.
	IncludeStuckPending bool
}

// BulkResult is the answer to a bulk reprocess.
type BulkResult struct {
	Matched     int64 `json:"matched"`
	Reprocessed int64 `json:"reprocessed"`
	Skipped     int64 `json:"skipped"`
	Errors      int64 `json:"errors"`
}

// ReprocessMatching reprocesses every failed message matching the filter
// (POST /v1/messages/reprocess). The server streams through the matches,
// rate limited, and answers when done.
func (c *Client) ReprocessMatching(ctx context.Context, b BulkReprocess) (*BulkResult, error) {
	body := map[string]any{}
	for k, v := range b.values() {
		body[k] = v[0]
	}
	if b.DryRun {
		body["dry_run"] = true
	}
	if b.IncludeStuckPending {
		body["include_stuck_pending"] = true
	}
	var out BulkResult
	if _, err := c.do(ctx, http.MethodPost, "/v1/messages/reprocess", nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
