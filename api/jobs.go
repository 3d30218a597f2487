package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/producer"
	"github.com/heraldhq/herald/scheduler"
)

// dispatchResponse is the 201 (or, for a cache hit, 200) body of a dispatch.
type dispatchResponse struct {
	JobID        string  `json:"job_id"`
	Status       string  `json:"status"`
	NextRunAt    *string `json:"next_run_at"`
	Deduplicated bool    `json:"deduplicated,omitempty"`
}

// JobView is the API shape of a dispatch job (API.md, GET /v1/jobs/{job_id}).
type JobView struct {
	JobID         string              `json:"job_id"`
	Status        string              `json:"status"`
	Runs          int                 `json:"runs"`
	NextRunAt     *string             `json:"next_run_at"`
	LastRunAt     *string             `json:"last_run_at"`
	LastError     *string             `json:"last_error"`
	LastProcessID *string             `json:"last_process_id"`
	Schedule      ScheduleView        `json:"schedule"`
	Product       string              `json:"product"`
	Env           string              `json:"env"`
	Notification  *string             `json:"notification"`
	Event         *string             `json:"event"`
	Input         producer.MultiInput `json:"input"`
	Retries       *int                `json:"retries"`
	Session       *string             `json:"session"`
	CreatedAt     string              `json:"created_at"`
	UpdatedAt     string              `json:"updated_at"`
}

// ScheduleView is a job's schedule, in the names of the dispatch body.
type ScheduleView struct {
	StartAt *string `json:"start_at"`
	Cron    *string `json:"cron"`
	Every   *int64  `json:"every"`
	Limit   *int    `json:"limit"`
	EndDate *string `json:"endDate"`
	TZ      string  `json:"tz"`
}

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := formatTime(t)
	return &s
}

func toJobView(j *scheduler.Job) JobView {
	v := JobView{
		JobID: j.ID, Status: j.Status, Runs: j.Runs, NextRunAt: optTime(j.NextRunAt), LastRunAt: optTime(j.LastRunAt),
		LastError: nullable(j.LastError), LastProcessID: nullable(j.LastProcessID),
		Product: j.Product, Env: j.Env, Notification: nullable(j.Notification), Event: nullable(j.Event),
		Input: j.Input, Retries: j.Retries, Session: nullable(j.Session),
		CreatedAt: formatTime(j.CreatedAt), UpdatedAt: formatTime(j.UpdatedAt),
	}
	s := j.Schedule
	v.Schedule = ScheduleView{StartAt: optTime(s.StartAt), Cron: nullable(s.Cron), EndDate: optTime(s.EndDate), TZ: s.TZ}
	if v.Schedule.TZ == "" {
		v.Schedule.TZ = "UTC"
	}
	if s.Every > 0 {
		ms := s.Every.Milliseconds()
		v.Schedule.Every = &ms
	}
	if s.Limit > 0 {
		n := s.Limit
		v.Schedule.Limit = &n
	}
	return v
}

func (s *Server) jobs() (*scheduler.Scheduler, error) {
	if s.cfg.Scheduler == nil {
		return nil, errorf(http.StatusNotFound, "not_found", "", "this process does not manage jobs")
	}
	return s.cfg.Scheduler, nil
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	sc, err := s.jobs()
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	j, err := sc.Dispatch(r.Context(), p.Workspace, body)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if j.Deduplicated {
		status = http.StatusOK
	}
	writeJSON(w, status, dispatchResponse{JobID: j.ID, Status: j.Status, NextRunAt: optTime(j.NextRunAt), Deduplicated: j.Deduplicated})
	return nil
}

type jobListResponse struct {
	Items      []JobView `json:"items"`
	Total      int64     `json:"total"`
	Limit      int       `json:"limit"`
	HasMore    bool      `json:"hasMore"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

var jobListParams = []string{"status", "limit", "cursor"}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	sc, err := s.jobs()
	if err != nil {
		return err
	}
	v := r.URL.Query()
	for name := range v {
		if !slices.Contains(jobListParams, name) {
			return badRequest(name, fmt.Sprintf("unknown query parameter %q (known: %s)", name, strings.Join(jobListParams, ", ")))
		}
		if len(v[name]) > 1 {
			return badRequest(name, "given more than once")
		}
	}
	q := scheduler.ListQuery{Status: v.Get("status"), Cursor: v.Get("cursor")}
	if q.Limit, err = clampLimit(v, "limit", 0, maxLimit); err != nil { // 0: the scheduler's default
		return err
	}
	list, err := sc.Jobs(r.Context(), p.Workspace, q)
	if err != nil {
		return err
	}
	out := jobListResponse{Items: make([]JobView, 0, len(list.Jobs)), Total: list.Total, Limit: list.Limit,
		HasMore: list.HasMore, NextCursor: list.NextCursor}
	for _, j := range list.Jobs {
		out.Items = append(out.Items, toJobView(j))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	return s.jobAction(w, r, p, (*scheduler.Scheduler).Job)
}

func (s *Server) pauseJob(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	return s.jobAction(w, r, p, (*scheduler.Scheduler).Pause)
}

func (s *Server) resumeJob(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	return s.jobAction(w, r, p, (*scheduler.Scheduler).Resume)
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	return s.jobAction(w, r, p, (*scheduler.Scheduler).Cancel)
}

// jobAction runs one of the per-job calls and answers the job afterwards.
func (s *Server) jobAction(w http.ResponseWriter, r *http.Request, p *config.Principal,
	act func(*scheduler.Scheduler, context.Context, string, string) (*scheduler.Job, error)) error {
	sc, err := s.jobs()
	if err != nil {
		return err
	}
	j, err := act(sc, r.Context(), p.Workspace, r.PathValue("job_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toJobView(j))
	return nil
}
