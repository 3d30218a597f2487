package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// UndeliveredQuery selects undelivered notifications: failed ones, and ones
// waiting for a retry or held by an open breaker.
type UndeliveredQuery struct {
	// Limit is at most 10 (default 10).
	Limit  int
	Cursor string
	// EventType is the notification tag.
	EventType string
	From, To  time.Time
	// Exclusive leaves From and To themselves out of the range.
	Exclusive bool
}

// Undelivered is one undelivered notification and why.
type Undelivered struct {
	Notification struct {
		EventType        string          `json:"eventType"`
		CreationDateTime time.Time       `json:"creationDateTime"`
		NotificationID   string          `json:"notificationId"`
		Payload          json.RawMessage `json:"payload"`
		Channel          Channel         `json:"channel"`
		Status           string          `json:"status"`
	} `json:"notification"`
	Error struct {
		// Code: DELIVERY_ERROR, SECRET_EXPIRED, INVALID_RECIPIENT,
		// TEMPLATE_ERROR, CIRCUIT_OPEN or TIMEOUT.
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// UndeliveredPage is a page of undelivered notifications, newest first;
// Cursor is empty on the last page.
type UndeliveredPage struct {
	TotalCount int           `json:"totalCount"`
	Cursor     string        `json:"cursor"`
	Elements   []Undelivered `json:"elements"`
}

const undeliveredQuery = `query($limit: Int, $cursor: String, $event: String, $from: DateTime, $to: DateTime, $op: RangeOperator) {
  undeliveredNotifications(limit: $limit, cursor: $cursor, filters: {eventType: $event, creationDateTime: {from: $from, to: $to, operator: $op}}) {
    totalCount cursor
    elements { notification { eventType creationDateTime notificationId payload channel status } error { code message } } } }`

// GraphQLError is an error of a GraphQL answer.
type GraphQLError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func (e *GraphQLError) Error() string { return "herald graphql: " + e.Message }

// ListUndelivered queries undeliveredNotifications over POST /graphql.
func (c *Client) ListUndelivered(ctx context.Context, q UndeliveredQuery) (*UndeliveredPage, error) {
	vars := map[string]any{}
	if q.Limit > 0 {
		vars["limit"] = q.Limit
	}
	if q.Cursor != "" {
		vars["cursor"] = q.Cursor
	}
	if q.EventType != "" {
		vars["event"] = q.EventType
	}
	if !q.From.IsZero() {
		vars["from"] = timeParam(q.From)
	}
	if !q.To.IsZero() {
		vars["to"] = timeParam(q.To)
	}
	if q.Exclusive {
		vars["op"] = "EXCLUSIVE"
	}
	var out struct {
		Data *struct {
			UndeliveredNotifications *UndeliveredPage `json:"undeliveredNotifications"`
		} `json:"data"`
		Errors []*GraphQLError `json:"errors"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/graphql", nil, map[string]any{"query": undeliveredQuery, "variables": vars}, &out); err != nil {
		return nil, err
	}
	if len(out.Errors) > 0 {
		return nil, out.Errors[0]
	}
	if out.Data == nil || out.Data.UndeliveredNotifications == nil {
		return nil, fmt.Errorf("herald graphql: empty answer")
	}
	return out.Data.UndeliveredNotifications, nil
}
