package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Schedule is when a dispatch fires: once at StartAt, or repeatedly by
// Cron (5 fields, 6 with seconds, or @daily-style descriptors) or Every,
// in the IANA zone TZ, until Limit runs or EndDate.
type Schedule struct {
	StartAt *time.Time `json:"start_at,omitempty"`
	Cron    string     `json:"cron,omitempty"`
	// Every is the interval; sent in milliseconds.
	Every   time.Duration `json:"-"`
	Limit   int           `json:"limit,omitempty"`
	EndDate *time.Time    `json:"endDate,omitempty"`
	TZ      string        `json:"tz,omitempty"`
}

func (s Schedule) wire() map[string]any {
	m := map[string]any{}
	if s.StartAt != nil {
		m["start_at"] = timeParam(*s.StartAt)
	}
	if s.Cron != "" {
		m["cron"] = s.Cron
	}
	if s.Every > 0 {
		m["every"] = s.Every.Milliseconds()
	}
	if s.Limit > 0 {
		m["limit"] = s.Limit
	}
	if s.EndDate != nil {
		m["endDate"] = timeParam(*s.EndDate)
	}
	if s.TZ != "" {
		m["tz"] = s.TZ
	}
	return m
}

// DispatchRequest schedules sends: each fire is a multi-channel send of
// Input, with campaign_id = the job id.
type DispatchRequest struct {
	Product      string
	Env          string
	Notification string
	Event        string
	Input        MultiInput
	Schedule     Schedule
	Retries      *int
	Session      string
	Cache        string
}

// DispatchResult is the answer to a dispatch.
type DispatchResult struct {
	JobID        string     `json:"job_id"`
	Status       string     `json:"status"`
	NextRunAt    *time.Time `json:"next_run_at"`
	Deduplicated bool       `json:"deduplicated"`
}

// Dispatch creates a scheduled job (POST /v1/notifications/dispatch).
func (c *Client) Dispatch(ctx context.Context, req DispatchRequest) (*DispatchResult, error) {
	body := map[string]any{"product": req.Product, "env": req.Env, "input": req.Input, "schedule": req.Schedule.wire()}
	for k, v := range map[string]string{"notification": req.Notification, "event": req.Event, "session": req.Session, "cache": req.Cache} {
		if v != "" {
			body[k] = v
		}
	}
	if req.Retries != nil {
		body["retries"] = *req.Retries
	}
	var out DispatchResult
	if _, err := c.do(ctx, http.MethodPost, "/v1/notifications/dispatch", nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Job is a dispatch job.
type Job struct {
	JobID         string     `json:"job_id"`
	Status        string     `json:"status"`
	Runs          int        `json:"runs"`
	NextRunAt     *time.Time `json:"next_run_at"`
	LastRunAt     *time.Time `json:"last_run_at"`
	LastError     *string    `json:"last_error"`
	LastProcessID *string    `json:"last_process_id"`
	Schedule      struct {
		StartAt *time.Time `json:"start_at"`
		Cron    *string    `json:"cron"`
		Every   *int64     `json:"every"`
		Limit   *int       `json:"limit"`
		EndDate *time.Time `json:"endDate"`
		TZ      string     `json:"tz"`
	} `json:"schedule"`
	Product      string     `json:"product"`
	Env          string     `json:"env"`
	Notification *string    `json:"notification"`
	Event        *string    `json:"event"`
	Input        MultiInput `json:"input"`
	Retries      *int       `json:"retries"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// Job statuses.
const (
	JobQueued    = "queued"
	JobActive    = "active"
	JobPaused    = "paused"
	JobCompleted = "completed"
	JobCancelled = "cancelled"
)

// JobPage is a page of jobs.
type JobPage struct {
	Items      []Job  `json:"items"`
	HasMore    bool   `json:"hasMore"`
	NextCursor string `json:"next_cursor"`
	Total      int64  `json:"total"`
}

// ListJobs returns a page of jobs, optionally of one status.
func (c *Client) ListJobs(ctx context.Context, status, cursor string, limit int) (*JobPage, error) {
	v := url.Values{}
	if status != "" {
		v.Set("status", status)
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out JobPage
	if _, err := c.do(ctx, http.MethodGet, "/v1/jobs", v, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Jobs iterates over every job (of a status, when given).
func (c *Client) Jobs(ctx context.Context, status string) iter.Seq2[*Job, error] {
	return paginate(func(cursor string) ([]Job, string, bool, error) {
		page, err := c.ListJobs(ctx, status, cursor, 100)
		if err != nil {
			return nil, "", false, err
		}
		return page.Items, page.NextCursor, page.HasMore, nil
	})
}

// GetJob returns one job.
func (c *Client) GetJob(ctx context.Context, id string) (*Job, error) {
	return c.jobCall(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id))
}

// PauseJob pauses a job: no fires until it is resumed.
func (c *Client) PauseJob(ctx context.Context, id string) (*Job, error) {
	return c.jobCall(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/pause")
}

// ResumeJob resumes a paused job.
func (c *Client) ResumeJob(ctx context.Context, id string) (*Job, error) {
	return c.jobCall(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/resume")
}

// CancelJob cancels a job for good (DELETE /v1/jobs/{id}).
func (c *Client) CancelJob(ctx context.Context, id string) (*Job, error) {
	return c.jobCall(ctx, http.MethodDelete, "/v1/jobs/"+url.PathEscape(id))
}

func (c *Client) jobCall(ctx context.Context, method, path string) (*Job, error) {
	var out Job
	if _, err := c.do(ctx, method, path, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
