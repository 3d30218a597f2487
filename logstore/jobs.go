package logstore

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/ids"
)

// Dispatch jobs: the scheduler's state. A job is a hash; the due sorted set
// of its workspace orders the live ones by the slot they fire next, and a
// claim leases a job by moving its score to the end of the lease. Key
// layout in keys.go, the design in docs/ARCHITECTURE.md ("Scheduler").

var (
	//go:embed lua/job_create.lua
	jobCreateLua string
	//go:embed lua/job_claim.lua
	jobClaimLua string
	//go:embed lua/job_commit.lua
	jobCommitLua string
	//go:embed lua/job_release.lua
	jobReleaseLua string
	//go:embed lua/job_state.lua
	jobStateLua string
)

var (
	jobCreateScript  = redis.NewScript(jobCreateLua)
	jobClaimScript   = redis.NewScript(jobClaimLua)
	jobCommitScript  = redis.NewScript(jobCommitLua)
	jobReleaseScript = redis.NewScript(jobReleaseLua)
	jobStateScript   = redis.NewScript(jobStateLua)
)

// Job statuses: queued (never fired yet) -> active (fired, more to come)
// -> completed (limit, endDate or the last slot reached); queued|active <->
// paused; queued|active|paused -> cancelled.
const (
	JobQueued    = "queued"
	JobActive    = "active"
	JobPaused    = "paused"
	JobCompleted = "completed"
	JobCancelled = "cancelled"
)

// JobStatuses lists every job status.
var JobStatuses = []string{JobQueued, JobActive, JobPaused, JobCompleted, JobCancelled}

// ErrJobConflict is a pause, resume or cancel the job's status does not
// allow (a finished job).
var ErrJobConflict = errors.New("logstore: the job's status does not allow this")

// NewJob is what CreateJob writes.
type NewJob struct {
	ID        string
	Workspace string
	// Schedule and Send are stored as given (the scheduler's encodings).
	Schedule json.RawMessage
	Send     json.RawMessage
	// Next is the first slot.
	Next time.Time
	// Limit is the most fires (0: no limit); EndDate the last moment a slot
	// may have (zero: none). Commits check both atomically.
	Limit   int
	EndDate time.Time
	// Cache, when set, makes a second CreateJob with the same tag inside
	// CacheWindow (default 24h) answer the first job instead.
	Cache       string
	CacheWindow time.Duration
}

// Job is a stored dispatch job.
type Job struct {
	ID        string
	Workspace string
	Status    string
	Schedule  json.RawMessage
	Send      json.RawMessage
	Runs      int
	// Next is the slot the job fires next; zero when none (finished). For a
	// paused job it is the slot it would have fired next.
	Next time.Time
	// Last is the slot of the latest fire; zero before the first.
	Last    time.Time
	Limit   int
	EndDate time.Time
	// LastError is what went wrong in the latest fire, if anything.
	LastError string
	// LastProcessID is the process id of the latest fire.
	LastProcessID string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// CreateJob writes a new job in status queued, due at nj.Next. With a cache
// tag that names a live job, it writes nothing and returns that job's id
// and deduplicated = true.
func (s *Store) CreateJob(ctx context.Context, nj *NewJob) (id string, deduplicated bool, err error) {
	cacheKey := ""
	if nj.Cache != "" {
		cacheKey = s.keys.jobCache(nj.Workspace, nj.Cache)
	}
	end := int64(0)
	if !nj.EndDate.IsZero() {
		end = nj.EndDate.UnixMilli()
	}
	keys := []string{s.keys.job(nj.Workspace, nj.ID), s.keys.jobsDue(nj.Workspace)}
	if cacheKey != "" {
		keys = append(keys, cacheKey) // absent, never "": an empty key is another Cluster slot
	}
	res, err := jobCreateScript.Run(ctx, s.rdb, keys,
		s.keys.base(nj.Workspace), nj.ID, s.clock.Now().UnixMilli(), cmp.Or(nj.CacheWindow, 24*time.Hour).Milliseconds(),
		nj.Next.UnixMilli(), nj.Limit, end, []byte(nj.Schedule), []byte(nj.Send)).Slice()
	if err != nil {
		return "", false, fmt.Errorf("logstore: create job: %w", err)
	}
	return res[1].(string), res[0].(int64) == 0, nil
}

var jobFields = []string{"st", "sched", "send", "runs", "next", "last", "limit", "end", "err", "pid", "ca", "ua"}

// Job returns one job of a workspace; a job of another workspace, an
// unknown or expired one is ErrNotFound.
func (s *Store) Job(ctx context.Context, ws, id string) (*Job, error) {
	if !ValidJobID(id) {
		return nil, ErrNotFound
	}
	vals, err := s.rdb.HMGet(ctx, s.keys.job(ws, id), jobFields...).Result()
	if err != nil {
		return nil, fmt.Errorf("logstore: job: %w", err)
	}
	return decodeJob(ws, id, vals)
}

// JobStatus returns a job's status alone; ErrNotFound when it is gone.
func (s *Store) JobStatus(ctx context.Context, ws, id string) (string, error) {
	st, err := s.rdb.HGet(ctx, s.keys.job(ws, id), "st").Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("logstore: job status: %w", err)
	}
	return st, nil
}

// ValidJobID reports whether s has the form of a job id: "job_" and a ULID.
func ValidJobID(s string) bool {
	rest, ok := strings.CutPrefix(s, "job_")
	return ok && ids.Valid(rest)
}

func decodeJob(ws, id string, vals []any) (*Job, error) {
	str := func(i int) string {
		s, _ := vals[i].(string)
		return s
	}
	if str(0) == "" {
		return nil, ErrNotFound
	}
	j := &Job{ID: id, Workspace: ws, Status: str(0), Schedule: json.RawMessage(str(1)), Send: json.RawMessage(str(2)),
		LastError: str(8), LastProcessID: str(9)}
	j.Runs, _ = strconv.Atoi(str(3))
	j.Limit, _ = strconv.Atoi(str(6))
	j.Next = msTime(str(4))
	j.Last = msTime(str(5))
	j.EndDate = msTime(str(7))
	j.CreatedAt = msTime(str(10))
	j.UpdatedAt = msTime(str(11))
	return j, nil
}

// msTime parses Unix milliseconds; empty, "0" or garbage is the zero time.
func msTime(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// JobQuery selects jobs of one workspace, newest first.
type JobQuery struct {
	Workspace string
	// Status filters; empty lists every status.
	Status string
	// Cursor continues after a previous page (its NextCursor).
	Cursor string
	Limit  int
}

// JobPage is one page of jobs.
type JobPage struct {
	Jobs []*Job
	// Total counts every job matching the status filter.
	Total      int64
	HasMore    bool
	NextCursor string
}

// Jobs lists jobs newest first. Finished jobs are listed until they expire
// (the retention window after they finished).
func (s *Store) Jobs(ctx context.Context, q JobQuery) (*JobPage, error) {
	limit := cmp.Or(q.Limit, 20)
	idx := s.keys.jobsIndex(q.Workspace, cmp.Or(q.Status, "all"))
	start := "+"
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || !ValidJobID(string(b)) {
			return nil, ErrBadCursor
		}
		start = "(" + string(b)
	}
	page := &JobPage{}
	for len(page.Jobs) < limit {
		want := limit - len(page.Jobs)
		members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: idx, Start: start, Stop: "-", ByLex: true, Rev: true, Count: int64(want + 1)}).Result()
		if err != nil {
			return nil, fmt.Errorf("logstore: jobs: %w", err)
		}
		if len(members) == 0 {
			break
		}
		more := len(members) > want
		if more {
			members = members[:want]
		}
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(members))
		for i, id := range members {
			cmds[i] = pipe.HMGet(ctx, s.keys.job(q.Workspace, id), jobFields...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("logstore: jobs: %w", err)
		}
		var gone []any
		for i, c := range cmds {
			j, err := decodeJob(q.Workspace, members[i], c.Val())
			if err != nil {
				// Expired between the index read and now; forget it.
				gone = append(gone, members[i])
				continue
			}
			if q.Status != "" && j.Status != q.Status {
				continue // moved since the index read
			}
			page.Jobs = append(page.Jobs, j)
		}
		if len(gone) > 0 {
			_ = s.rdb.ZRem(ctx, idx, gone...).Err()
		}
		start = "(" + members[len(members)-1]
		if !more {
			page.HasMore = false
			break
		}
		page.HasMore = true
	}
	if page.HasMore && len(page.Jobs) > 0 {
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(page.Jobs[len(page.Jobs)-1].ID))
	}
	n, err := s.rdb.ZCard(ctx, idx).Result()
	if err != nil {
		return nil, fmt.Errorf("logstore: jobs: %w", err)
	}
	page.Total = n
	return page, nil
}

// Claim is a job a scheduler replica holds a lease on, to fire Slot.
type Claim struct {
	Workspace string
	JobID     string
	Slot      time.Time
	Runs      int
	Schedule  json.RawMessage
	Send      json.RawMessage
}

// ClaimRequest asks for the due jobs of some workspaces.
type ClaimRequest struct {
	Workspaces []string
	// Now is the replica's time; Horizon the latest slot to claim (Now plus
	// a look-ahead, so that a slot can fire on time rather than at the
	// next poll).
	Now, Horizon time.Time
	// Lease is how long the claim holds after max(slot, now).
	Lease time.Duration
	// Limit is the most jobs to claim per workspace.
	Limit int
	// Owner names the replica.
	Owner string
}

// ClaimJobs leases due jobs of every workspace in one round trip. full
// lists the workspaces that had at least Limit due jobs (more may wait).
func (s *Store) ClaimJobs(ctx context.Context, r ClaimRequest) (claims []Claim, full []string, err error) {
	if len(r.Workspaces) == 0 || r.Limit <= 0 {
		return nil, nil, nil
	}
	run := func() ([]*redis.Cmd, error) {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(r.Workspaces))
		for i, ws := range r.Workspaces {
			cmds[i] = jobClaimScript.EvalSha(ctx, pipe, []string{s.keys.jobsDue(ws)},
				s.keys.base(ws), r.Now.UnixMilli(), r.Horizon.UnixMilli(), r.Lease.Milliseconds(), r.Limit, r.Owner)
		}
		_, err := pipe.Exec(ctx)
		return cmds, err
	}
	cmds, err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := jobClaimScript.Load(ctx, s.rdb).Err(); err != nil {
			return nil, nil, fmt.Errorf("logstore: claim jobs: load script: %w", err)
		}
		cmds, err = run()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("logstore: claim jobs: %w", err)
	}
	for i, c := range cmds {
		vals, err := c.Slice()
		if err != nil {
			return nil, nil, fmt.Errorf("logstore: claim jobs: %w", err)
		}
		n := 0
		for k := 0; k+4 < len(vals); k += 5 {
			id, _ := vals[k].(string)
			slot, _ := vals[k+1].(string)
			runs, _ := vals[k+2].(string)
			sched, _ := vals[k+3].(string)
			send, _ := vals[k+4].(string)
			c := Claim{Workspace: r.Workspaces[i], JobID: id, Slot: msTime(slot), Schedule: json.RawMessage(sched), Send: json.RawMessage(send)}
			c.Runs, _ = strconv.Atoi(runs)
			claims = append(claims, c)
			n++
		}
		if n >= r.Limit {
			full = append(full, r.Workspaces[i])
		}
	}
	return claims, full, nil
}

// Fire is one firing of a job: the record kept for the send log.
type Fire struct {
	JobID string `json:"job_id"`
	// Slot is when the fire was due (the send log's startDeliveryAt).
	Slot time.Time `json:"slot"`
	// ProcessID is shared by the fire's messages (one per channel).
	ProcessID string `json:"process_id"`
	// Messages maps channel to message id, for the channels accepted.
	Messages map[string]string `json:"messages,omitempty"`
	// FiredAt is when the replica handed the sends to the producer.
	FiredAt time.Time `json:"fired_at"`
	// Error says why the fire sent nothing on some or all channels.
	Error string `json:"error,omitempty"`
}

// CommitResult is what CommitFire did.
type CommitResult struct {
	// Committed is false when the slot had been committed already (another
	// replica took over an expired lease and got there first) or the job
	// is gone; nothing was written then.
	Committed bool
	Status    string
	Runs      int
}

// CommitFire records that a job fired f.Slot and moves it on to next (zero:
// no slot left), in one atomic step; limit and endDate are checked there,
// and the job becomes completed when either is reached.
func (s *Store) CommitFire(ctx context.Context, ws string, f *Fire, next time.Time) (CommitResult, error) {
	rec, err := json.Marshal(f)
	if err != nil {
		return CommitResult{}, fmt.Errorf("logstore: encode fire: %w", err)
	}
	nextMs := int64(-1)
	if !next.IsZero() {
		nextMs = next.UnixMilli()
	}
	res, err := jobCommitScript.Run(ctx, s.rdb, []string{s.keys.job(ws, f.JobID), s.keys.jobsDue(ws)},
		s.keys.base(ws), f.JobID, f.Slot.UnixMilli(), nextMs, s.clock.Now().UnixMilli(), s.retention.Milliseconds(),
		f.ProcessID, rec, f.Error).Slice()
	if err != nil {
		return CommitResult{}, fmt.Errorf("logstore: commit fire: %w", err)
	}
	switch res[0].(string) {
	case "missing":
		return CommitResult{}, nil
	case "stale":
		return CommitResult{Status: res[1].(string)}, nil
	}
	return CommitResult{Committed: true, Status: res[1].(string), Runs: int(res[2].(int64))}, nil
}

// ReleaseClaim hands a claimed job back, due again at at, if the claim is
// still owner's for slot. It reports whether it was.
func (s *Store) ReleaseClaim(ctx context.Context, ws, jobID string, slot time.Time, owner string, at time.Time) (bool, error) {
	n, err := jobReleaseScript.Run(ctx, s.rdb, []string{s.keys.job(ws, jobID), s.keys.jobsDue(ws)},
		jobID, strconv.FormatInt(slot.UnixMilli(), 10), owner, at.UnixMilli()).Int()
	if err != nil {
		return false, fmt.Errorf("logstore: release claim: %w", err)
	}
	return n == 1, nil
}

// PauseJob, ResumeJob and CancelJob change a job's status (job_state.lua
// has the rules) and return the job afterwards. resumeAt is the first slot
// from now, used when the job's stored next slot has passed (zero: none).
func (s *Store) PauseJob(ctx context.Context, ws, id string) (*Job, error) {
	return s.jobState(ctx, ws, id, "pause", time.Time{})
}

// ResumeJob: see PauseJob.
func (s *Store) ResumeJob(ctx context.Context, ws, id string, resumeAt time.Time) (*Job, error) {
	return s.jobState(ctx, ws, id, "resume", resumeAt)
}

// CancelJob: see PauseJob.
func (s *Store) CancelJob(ctx context.Context, ws, id string) (*Job, error) {
	return s.jobState(ctx, ws, id, "cancel", time.Time{})
}

func (s *Store) jobState(ctx context.Context, ws, id, op string, resumeAt time.Time) (*Job, error) {
	if !ValidJobID(id) {
		return nil, ErrNotFound
	}
	at := int64(-1)
	if !resumeAt.IsZero() {
		at = resumeAt.UnixMilli()
	}
	res, err := jobStateScript.Run(ctx, s.rdb, []string{s.keys.job(ws, id), s.keys.jobsDue(ws)},
		s.keys.base(ws), id, op, s.clock.Now().UnixMilli(), at, s.retention.Milliseconds()).Slice()
	if err != nil {
		return nil, fmt.Errorf("logstore: %s job: %w", op, err)
	}
	switch res[0].(string) {
	case "missing":
		return nil, ErrNotFound
	case "conflict":
		return nil, fmt.Errorf("%w: job is %s", ErrJobConflict, res[1].(string))
	}
	return s.Job(ctx, ws, id)
}

// FireQuery selects fire records of one workspace, by slot, oldest first.
type FireQuery struct {
	Workspace string
	// JobID limits to one job's fires; empty: every job's.
	JobID string
	// From and To bound the slot, both inclusive; zero is open.
	From, To time.Time
	Offset   int
	Limit    int
}

// Fires returns fire records (the send log's raw material) and how many
// match in all. A record past retention is gone.
func (s *Store) Fires(ctx context.Context, q FireQuery) ([]*Fire, int64, error) {
	key := s.keys.fires(q.Workspace)
	if q.JobID != "" {
		key = s.keys.jobFires(q.Workspace, q.JobID)
	}
	min, max := "-inf", "+inf"
	if !q.From.IsZero() {
		min = strconv.FormatInt(q.From.UnixMilli(), 10)
	}
	if !q.To.IsZero() {
		max = strconv.FormatInt(q.To.UnixMilli(), 10)
	}
	total, err := s.rdb.ZCount(ctx, key, min, max).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("logstore: fires: %w", err)
	}
	pids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: min, Stop: max, ByScore: true,
		Offset: int64(q.Offset), Count: int64(cmp.Or(q.Limit, 100))}).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("logstore: fires: %w", err)
	}
	if len(pids) == 0 {
		return nil, total, nil
	}
	keys := make([]string, len(pids))
	for i, p := range pids {
		keys[i] = s.keys.fire(q.Workspace, p)
	}
	raws, err := s.mget(ctx, keys)
	if err != nil {
		return nil, 0, err
	}
	out := make([]*Fire, 0, len(raws))
	for _, r := range raws {
		if r == "" {
			continue
		}
		var f Fire
		if err := json.Unmarshal([]byte(r), &f); err != nil {
			return nil, 0, fmt.Errorf("logstore: corrupt fire record: %w", err)
		}
		out = append(out, &f)
	}
	return out, total, nil
}

// FireRecord returns the fire whose process id is processID.
func (s *Store) FireRecord(ctx context.Context, ws, processID string) (*Fire, error) {
	raw, err := s.rdb.Get(ctx, s.keys.fire(ws, processID)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("logstore: fire: %w", err)
	}
	var f Fire
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return nil, fmt.Errorf("logstore: corrupt fire record: %w", err)
	}
	return &f, nil
}

// mget reads string keys of one workspace (one hash slot) in one round
// trip; a missing key reads as "".
func (s *Store) mget(ctx context.Context, keys []string) ([]string, error) {
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("logstore: mget: %w", err)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i], _ = v.(string)
	}
	return out, nil
}
