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
	// Limit is at most 10 (default 10; more is taken as 10).
	Limit  int
	Cursor string
	// EventType is the notification tag.
	EventType string
	// From and To bound the creation time; either may be zero (open).
	From, To time.Time
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
	// Limit is the page size used (the limit asked for, at most 10).
	Limit int `json:"limit"`
}

const undeliveredQuery = `query($limit: Int, $cursor: String, $filters: UndeliveredNotificationsFiltersInput!) {
  undeliveredNotifications(limit: $limit, cursor: $cursor, filters: $filters) {
    totalCount cursor limit
    elements { notification { eventType creationDateTime notificationId payload channel status } error { code message } } } }`

// Open ends of a creation range (the schema's from and to are required).
var (
	openFrom = time.UnixMilli(0)
	openTo   = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)
)

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
	filters := map[string]any{}
	if q.EventType != "" {
		filters["eventType"] = q.EventType
	}
	if !q.From.IsZero() || !q.To.IsZero() {
		from, to := q.From, q.To
		if from.IsZero() {
			from = openFrom
		}
		if to.IsZero() {
			to = openTo
		}
		op := "INCLUSIVE"
		if q.Exclusive {
			op = "EXCLUSIVE"
		}
		filters["creationDateTime"] = map[string]any{"from": from.UTC().Format(time.RFC3339Nano), "to": to.UTC().Format(time.RFC3339Nano), "operator": op}
	}
	vars["filters"] = filters
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
