package scheduler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/producer"
)

// Sentinel errors the API maps to status codes.
var (
	// ErrJobNotFound: no such job in the caller's workspace.
	ErrJobNotFound = errors.New("scheduler: no such job")
	// ErrJobConflict: the job's status does not allow the change (it has
	// completed or was cancelled).
	ErrJobConflict = errors.New("scheduler: the job's status does not allow this")
)

// DispatchRequest is the body of POST /v1/notifications/dispatch.
type DispatchRequest struct {
	Product string `json:"product"`
	Env     string `json:"env"`
	// Notification is "notification_tag:message_tag"; Event the
	// notification tag alone (each channel then uses the notification's
	// first message defining it). One of them is required; given both,
	// they must agree.
	Notification string          `json:"notification"`
	Event        string          `json:"event"`
	Input        json.RawMessage `json:"input"`
	Schedule     json.RawMessage `json:"schedule"`
	Retries      *int            `json:"retries"`
	// Session is "session_tag:token"; only the tag is kept.
	Session string `json:"session"`
	// Cache makes the dispatch idempotent: the same tag inside its window
	// answers the job made first, and makes no second job.
	Cache string `json:"cache"`
}

// sendDef is what each fire sends: the dispatch without its schedule, as
// stored in the job (never a session token).
type sendDef struct {
	Product      string              `json:"product"`
	Env          string              `json:"env"`
	Notification string              `json:"notification,omitempty"`
	Event        string              `json:"event,omitempty"`
	Input        producer.MultiInput `json:"input"`
	Retries      *int                `json:"retries,omitempty"`
	Session      string              `json:"session,omitempty"`
}

// event is what the producer resolves: the full notification if given.
func (d *sendDef) event() string {
	if d.Notification != "" {
		return d.Notification
	}
	return d.Event
}

// request is the send of one fire. The session was checked at dispatch;
// only its tag is kept, and goes to the producer as Options.SessionTag.
func (d *sendDef) request() *producer.MultiRequest {
	return &producer.MultiRequest{Product: d.Product, Env: d.Env, Event: d.event(), Input: d.Input, Retries: d.Retries}
}

// Job is a dispatch job as callers see it.
type Job struct {
	ID        string
	Workspace string
	// Status: queued (not fired yet), active, paused, completed, cancelled.
	Status string
	Runs   int
	// NextRunAt is when it fires next; zero unless queued or active.
	NextRunAt time.Time
	// LastRunAt is the slot of the latest fire; zero before the first.
	LastRunAt     time.Time
	LastError     string
	LastProcessID string
	Schedule      *Schedule
	Product       string
	Env           string
	Notification  string
	Event         string
	Input         producer.MultiInput
	Retries       *int
	Session       string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Deduplicated: the dispatch's cache tag named this earlier job.
	Deduplicated bool
}

// decodeDispatch reads a dispatch body strictly; every problem is a
// *producer.InvalidError naming the field. It never panics.
func decodeDispatch(body []byte) (*DispatchRequest, *Schedule, *sendDef, error) {
	var req DispatchRequest
	if err := producer.DecodeStrict(body, &req); err != nil {
		return nil, nil, nil, err
	}
	sched, err := ParseSchedule(req.Schedule)
	if err != nil {
		return nil, nil, nil, err
	}
	def := &sendDef{Product: req.Product, Env: req.Env, Notification: strings.TrimSpace(req.Notification),
		Event: strings.TrimSpace(req.Event), Retries: req.Retries}
	if in := bytes.TrimSpace(req.Input); len(in) == 0 || string(in) == "null" {
		return nil, nil, nil, invalid("input", "required: push_notification, email, sms and/or callback inputs")
	}
	if err := producer.DecodeStrict(req.Input, &def.Input); err != nil {
		return nil, nil, nil, reroot(err, "input")
	}
	switch {
	case def.Notification == "" && def.Event == "":
		return nil, nil, nil, invalid("notification", "required: notification_tag:message_tag (or event: the notification tag)")
	case def.Notification != "":
		nt, mt, ok := strings.Cut(def.Notification, ":")
		if !ok || nt == "" || mt == "" {
			return nil, nil, nil, invalid("notification", "want notification_tag:message_tag, got %q", def.Notification)
		}
		if def.Event != "" && def.Event != nt && def.Event != def.Notification {
			return nil, nil, nil, invalid("event", "event %q does not match notification %q", def.Event, def.Notification)
		}
	}
	if req.Session != "" {
		def.Session, _, _ = strings.Cut(req.Session, ":")
	}
	return &req, sched, def, nil
}

// Dispatch validates a dispatch body for workspace ws — the schedule, and
// the sends exactly as the producer will check them at each fire — and
// creates the job, due at its first slot. Bad input is a
// *producer.InvalidError naming the field.
func (s *Scheduler) Dispatch(ctx context.Context, ws string, body []byte) (*Job, error) {
	req, sched, def, err := decodeDispatch(body)
	if err != nil {
		return nil, err
	}
	check := def.request()
	check.Session, check.Cache = req.Session, req.Cache
	if err := s.cfg.Sender.ValidateMulti(ws, check); err != nil {
		var inv *producer.InvalidError
		if errors.As(err, &inv) && inv.Field == "event" && def.Notification != "" {
			out := *inv
			out.Field = "notification"
			return nil, &out
		}
		return nil, err
	}
	now := s.clock.Now()
	first := sched.start(now)
	if first.IsZero() {
		if !sched.EndDate.IsZero() {
			return nil, invalid("schedule.endDate", "no slot of this schedule falls between now (or start_at) and endDate")
		}
		return nil, invalid("schedule.cron", "the expression matches no date in the next five years")
	}
	schedJSON, err := sched.encode()
	if err != nil {
		return nil, err
	}
	defJSON, err := json.Marshal(def)
	if err != nil {
		return nil, err
	}
	nj := &logstore.NewJob{
		ID: "job_" + ids.New(now), Workspace: ws, Schedule: schedJSON, Send: defJSON, Next: first,
		Limit: sched.Limit, EndDate: sched.EndDate, Cache: req.Cache, CacheWindow: s.cfg.CacheWindow,
	}
	id, dedup, err := s.cfg.Store.CreateJob(ctx, nj)
	if err != nil {
		return nil, err
	}
	j, err := s.Job(ctx, ws, id)
	if err != nil {
		return nil, err
	}
	j.Deduplicated = dedup
	if !dedup {
		s.m.dispatched.Inc()
	}
	return j, nil
}

// Job returns one job of workspace ws.
func (s *Scheduler) Job(ctx context.Context, ws, id string) (*Job, error) {
	sj, err := s.cfg.Store.Job(ctx, ws, id)
	if err != nil {
		return nil, jobError(err)
	}
	return toJob(sj)
}

func jobError(err error) error {
	switch {
	case errors.Is(err, logstore.ErrNotFound):
		return ErrJobNotFound
	case errors.Is(err, logstore.ErrJobConflict):
		return fmt.Errorf("%w (%v)", ErrJobConflict, err)
	}
	return err
}

func toJob(sj *logstore.Job) (*Job, error) {
	sched, err := decodeSchedule(sj.Schedule)
	if err != nil {
		return nil, err
	}
	var def sendDef
	if err := json.Unmarshal(sj.Send, &def); err != nil {
		return nil, fmt.Errorf("scheduler: corrupt job %s: %w", sj.ID, err)
	}
	j := &Job{
		ID: sj.ID, Workspace: sj.Workspace, Status: sj.Status, Runs: sj.Runs, LastRunAt: sj.Last,
		LastError: sj.LastError, LastProcessID: sj.LastProcessID, Schedule: sched,
		Product: def.Product, Env: def.Env, Notification: def.Notification, Event: def.Event, Input: def.Input,
		Retries: def.Retries, Session: def.Session, CreatedAt: sj.CreatedAt, UpdatedAt: sj.UpdatedAt,
	}
	if sj.Status == logstore.JobQueued || sj.Status == logstore.JobActive {
		j.NextRunAt = sj.Next
	}
	return j, nil
}

// ListQuery selects jobs of one workspace, newest first.
type ListQuery struct {
	Status string
	Cursor string
	// Limit is the page size: default 20, at most 200.
	Limit int
}

// JobList is one page of jobs.
type JobList struct {
	Jobs       []*Job
	Total      int64
	Limit      int
	HasMore    bool
	NextCursor string
}

// Jobs lists the jobs of workspace ws.
func (s *Scheduler) Jobs(ctx context.Context, ws string, q ListQuery) (*JobList, error) {
	if q.Status != "" && !slices.Contains(logstore.JobStatuses, q.Status) {
		return nil, invalid("status", "want one of %s", strings.Join(logstore.JobStatuses, ", "))
	}
	if q.Limit == 0 {
		q.Limit = 20
	}
	if q.Limit < 1 || q.Limit > 200 {
		return nil, invalid("limit", "want a whole number from 1 to 200")
	}
	p, err := s.cfg.Store.Jobs(ctx, logstore.JobQuery{Workspace: ws, Status: q.Status, Cursor: q.Cursor, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	out := &JobList{Total: p.Total, Limit: q.Limit, HasMore: p.HasMore, NextCursor: p.NextCursor, Jobs: make([]*Job, 0, len(p.Jobs))}
	for _, sj := range p.Jobs {
		j, err := toJob(sj)
		if err != nil {
			return nil, err
		}
		out.Jobs = append(out.Jobs, j)
	}
	return out, nil
}

// Pause stops a queued or active job from firing until Resume; a fire
// already under way completes. Pausing a paused job changes nothing.
func (s *Scheduler) Pause(ctx context.Context, ws, id string) (*Job, error) {
	sj, err := s.cfg.Store.PauseJob(ctx, ws, id)
	if err != nil {
		return nil, jobError(err)
	}
	return toJob(sj)
}

// Resume makes a paused job due again: at its next slot if that is still
// ahead, else at the first slot from now — slots missed while paused are
// not fired (a one-shot job that never fired fires at once). Resuming a
// running job changes nothing.
func (s *Scheduler) Resume(ctx context.Context, ws, id string) (*Job, error) {
	sj, err := s.cfg.Store.Job(ctx, ws, id)
	if err != nil {
		return nil, jobError(err)
	}
	sched, err := decodeSchedule(sj.Schedule)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC().Truncate(time.Millisecond)
	at := sched.Next(now.Add(-time.Millisecond))
	if sched.Cron == "" && sched.Every == 0 && sj.Runs == 0 {
		at = sched.bound(now) // a one-shot that never fired: now
		if sched.StartAt.After(now) {
			at = sched.StartAt
		}
	}
	sj, err = s.cfg.Store.ResumeJob(ctx, ws, id, at)
	if err != nil {
		return nil, jobError(err)
	}
	return toJob(sj)
}

// Cancel stops a job for good (DELETE /v1/jobs/{id}); it stays readable,
// as cancelled, for the retention window. Cancelling twice changes nothing.
func (s *Scheduler) Cancel(ctx context.Context, ws, id string) (*Job, error) {
	sj, err := s.cfg.Store.CancelJob(ctx, ws, id)
	if err != nil {
		return nil, jobError(err)
	}
	return toJob(sj)
}
