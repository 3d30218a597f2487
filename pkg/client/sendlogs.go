package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// SendLog is one send as a whole: its messages (one per channel), the
// unresolved template, when delivery started and where it went.
type SendLog struct {
	ID              string    `json:"_id"`
	CampaignID      *string   `json:"campaign_id"`
	Message         string    `json:"message"`
	TriggeredBy     string    `json:"triggeredBy"`
	StartDeliveryAt time.Time `json:"startDeliveryAt"`
	// Destinations is a count, or the list of recipients when asked for.
	Destinations json.RawMessage `json:"destinations"`
	ProductTag   string          `json:"product_tag"`
	Env          string          `json:"env"`
	Notification string          `json:"notification"`
	ProcessID    *string         `json:"process_id"`
	Messages     []struct {
		ID      string  `json:"_id"`
		Type    Channel `json:"type"`
		Status  string  `json:"status"`
		Message string  `json:"message"`
	} `json:"messages"`
}

// DestinationCount returns Destinations as a count (whichever form it has).
func (s *SendLog) DestinationCount() int {
	var n int
	if json.Unmarshal(s.Destinations, &n) == nil {
		return n
	}
	var list []string
	_ = json.Unmarshal(s.Destinations, &list)
	return len(list)
}

// DestinationList returns Destinations as a list (empty when counted).
func (s *SendLog) DestinationList() []string {
	var list []string
	_ = json.Unmarshal(s.Destinations, &list)
	return list
}

// sendLogEnvelope is the send-logs answer shape {"ok": ..., "data": ...}.
type sendLogEnvelope[T any] struct {
	OK   bool `json:"ok"`
	Data T    `json:"data"`
}

// GetSendLog returns one send log by send id (a process id or a message
// id); list asks for the destinations as a list instead of a count.
func (c *Client) GetSendLog(ctx context.Context, sendID string, list bool) (*SendLog, error) {
	v := url.Values{"group_destinations": {"count"}}
	if list {
		v.Set("group_destinations", "list")
	}
	var out sendLogEnvelope[SendLog]
	if _, err := c.do(ctx, http.MethodGet, "/v1/send-logs/"+url.PathEscape(sendID), v, nil, &out); err != nil {
		return nil, err
	}
	return &out.Data, nil
}

// SendLogSearch selects send logs: by campaigns and a startDeliveryAt
// range, Skip/Limit (Limit up to 1000).
type SendLogSearch struct {
	CampaignIDs []string
	From, To    time.Time
	Skip, Limit int
	// ListDestinations asks for the recipients instead of counts.
	ListDestinations bool
}

// SendLogResult is a page of send logs and the total matching.
type SendLogResult struct {
	Total    int64           `json:"total"`
	SendLogs []SendLog       `json:"send_logs"`
	Parsed   json.RawMessage `json:"parsed"`
}

// SearchSendLogs is POST /v1/send-logs/search.
func (c *Client) SearchSendLogs(ctx context.Context, s SendLogSearch) (*SendLogResult, error) {
	find := map[string]any{}
	if len(s.CampaignIDs) > 0 {
		find["campaign_id"] = s.CampaignIDs
	}
	at := map[string]string{}
	if !s.From.IsZero() {
		at["$gte"] = timeParam(s.From)
	}
	if !s.To.IsZero() {
		at["$lte"] = timeParam(s.To)
	}
	if len(at) > 0 {
		find["startDeliveryAt"] = at
	}
	opts := map[string]int{"skip": s.Skip}
	if s.Limit > 0 {
		opts["limit"] = s.Limit
	}
	body := map[string]any{"find": find, "options": opts}
	if s.ListDestinations {
		body["group_destinations"] = "list"
	}
	var out sendLogEnvelope[SendLogResult]
	if _, err := c.do(ctx, http.MethodPost, "/v1/send-logs/search", nil, body, &out); err != nil {
		return nil, err
	}
	return &out.Data, nil
}
