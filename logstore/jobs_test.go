package logstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/logstore"
)

func newJob(ws string, clk *clock.Fake, next time.Time, mods ...func(*logstore.NewJob)) *logstore.NewJob {
	j := &logstore.NewJob{
		ID: "job_" + ids.New(clk.Now()), Workspace: ws, Next: next,
		Schedule: json.RawMessage(`{"every":60000}`), Send: json.RawMessage(`{"product":"shop"}`),
	}
	for _, m := range mods {
		m(j)
	}
	return j
}

func claim(t *testing.T, s *logstore.Store, now time.Time, owner string, ws ...string) []logstore.Claim {
	t.Helper()
	cs, _, err := s.ClaimJobs(context.Background(), logstore.ClaimRequest{
		Workspaces: ws, Now: now, Horizon: now, Lease: 5 * time.Second, Limit: 100, Owner: owner,
	})
	require.NoError(t, err)
	return cs
}

func fire(jobID string, slot time.Time) *logstore.Fire {
	return &logstore.Fire{JobID: jobID, Slot: slot, ProcessID: "prc_" + ids.Derive(slot, jobID), FiredAt: slot,
		Messages: map[string]string{"callback": ids.Derive(slot, jobID+"/callback")}}
}

func TestJobCreateGetAndCache(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	nj := newJob("acme", clk, t0.Add(time.Minute), func(j *logstore.NewJob) { j.Cache = "campaign-1"; j.Limit = 3 })
	id, dedup, err := s.CreateJob(ctx, nj)
	require.NoError(t, err)
	require.False(t, dedup)
	require.Equal(t, nj.ID, id)

	j, err := s.Job(ctx, "acme", id)
	require.NoError(t, err)
	require.Equal(t, logstore.JobQueued, j.Status)
	require.Equal(t, t0.Add(time.Minute), j.Next)
	require.True(t, j.Last.IsZero())
	require.Equal(t, 3, j.Limit)
	require.Equal(t, t0, j.CreatedAt)
	require.JSONEq(t, `{"every":60000}`, string(j.Schedule))

	// The same cache tag answers the first job and writes nothing.
	again := newJob("acme", clk, t0.Add(time.Minute), func(j *logstore.NewJob) { j.Cache = "campaign-1" })
	id2, dedup, err := s.CreateJob(ctx, again)
	require.NoError(t, err)
	require.True(t, dedup)
	require.Equal(t, id, id2)
	_, err = s.Job(ctx, "acme", again.ID)
	require.ErrorIs(t, err, logstore.ErrNotFound)

	// Workspace isolation and malformed ids.
	_, err = s.Job(ctx, "globex", id)
	require.ErrorIs(t, err, logstore.ErrNotFound)
	_, err = s.Job(ctx, "acme", "job_nope")
	require.ErrorIs(t, err, logstore.ErrNotFound)
}

func TestJobClaimLeaseCommit(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	slot := t0.Add(time.Minute)
	nj := newJob("acme", clk, slot)
	_, _, err := s.CreateJob(ctx, nj)
	require.NoError(t, err)

	require.Empty(t, claim(t, s, slot.Add(-time.Millisecond), "a", "acme"), "not due yet")
	cs := claim(t, s, slot, "a", "acme")
	require.Len(t, cs, 1)
	require.Equal(t, nj.ID, cs[0].JobID)
	require.Equal(t, slot, cs[0].Slot)
	require.Equal(t, "acme", cs[0].Workspace)
	require.JSONEq(t, `{"product":"shop"}`, string(cs[0].Send))

	// Leased: no one else sees it until the lease runs out ...
	require.Empty(t, claim(t, s, slot.Add(4*time.Second), "b", "acme"))
	// ... then the next claim gets the same slot.
	cs = claim(t, s, slot.Add(5*time.Second), "b", "acme")
	require.Len(t, cs, 1)
	require.Equal(t, slot, cs[0].Slot)

	// The first owner can no longer release it; the second can.
	ok, err := s.ReleaseClaim(ctx, "acme", nj.ID, slot, "a", slot)
	require.NoError(t, err)
	require.False(t, ok)

	// Both replicas commit the slot: it counts once.
	next := slot.Add(time.Minute)
	r, err := s.CommitFire(ctx, "acme", fire(nj.ID, slot), next)
	require.NoError(t, err)
	require.True(t, r.Committed)
	require.Equal(t, logstore.JobActive, r.Status)
	require.Equal(t, 1, r.Runs)
	r, err = s.CommitFire(ctx, "acme", fire(nj.ID, slot), next.Add(time.Second))
	require.NoError(t, err)
	require.False(t, r.Committed)

	j, err := s.Job(ctx, "acme", nj.ID)
	require.NoError(t, err)
	require.Equal(t, 1, j.Runs)
	require.Equal(t, slot, j.Last)
	require.Equal(t, next, j.Next)
	require.Equal(t, logstore.JobActive, j.Status)

	// Due again at the next slot, not before.
	require.Empty(t, claim(t, s, next.Add(-time.Millisecond), "a", "acme"))
	require.Len(t, claim(t, s, next, "a", "acme"), 1)

	// The fire record is there for the send log.
	fs, total, err := s.Fires(ctx, logstore.FireQuery{Workspace: "acme", JobID: nj.ID})
	require.NoError(t, err)
	require.EqualValues(t, 1, total)
	require.Equal(t, slot, fs[0].Slot.UTC())
	require.Equal(t, nj.ID, fs[0].JobID)
	f, err := s.FireRecord(ctx, "acme", fs[0].ProcessID)
	require.NoError(t, err)
	require.Equal(t, fs[0].Messages, f.Messages)
	_, total, err = s.Fires(ctx, logstore.FireQuery{Workspace: "acme", From: slot.Add(time.Millisecond)})
	require.NoError(t, err)
	require.EqualValues(t, 0, total)
}

func TestJobReleaseMakesDueAgain(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	slot := t0
	nj := newJob("acme", clk, slot)
	_, _, err := s.CreateJob(ctx, nj)
	require.NoError(t, err)
	require.Len(t, claim(t, s, slot, "a", "acme"), 1)
	ok, err := s.ReleaseClaim(ctx, "acme", nj.ID, slot, "a", slot.Add(time.Second))
	require.NoError(t, err)
	require.True(t, ok)
	require.Empty(t, claim(t, s, slot.Add(999*time.Millisecond), "b", "acme"))
	cs := claim(t, s, slot.Add(time.Second), "b", "acme")
	require.Len(t, cs, 1)
	require.Equal(t, slot, cs[0].Slot)
}

func TestJobCompletesOnLimitEndDateOrLastSlot(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	cases := []struct {
		name  string
		mod   func(*logstore.NewJob)
		fires int
		next  func(i int) time.Time
	}{
		{"limit", func(j *logstore.NewJob) { j.Limit = 2 }, 2, func(i int) time.Time { return t0.Add(time.Duration(i+1) * time.Minute) }},
		{"endDate", func(j *logstore.NewJob) { j.EndDate = t0.Add(90 * time.Second) }, 2, func(i int) time.Time { return t0.Add(time.Duration(i+1) * time.Minute) }},
		{"last slot", func(*logstore.NewJob) {}, 1, func(int) time.Time { return time.Time{} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nj := newJob("acme", clk, t0, tc.mod)
			_, _, err := s.CreateJob(ctx, nj)
			require.NoError(t, err)
			for i := range tc.fires {
				slot := t0.Add(time.Duration(i) * time.Minute)
				r, err := s.CommitFire(ctx, "acme", fire(nj.ID, slot), tc.next(i))
				require.NoError(t, err)
				require.True(t, r.Committed)
				want := logstore.JobActive
				if i == tc.fires-1 {
					want = logstore.JobCompleted
				}
				require.Equal(t, want, r.Status, "fire %d", i)
			}
			j, err := s.Job(ctx, "acme", nj.ID)
			require.NoError(t, err)
			require.Equal(t, logstore.JobCompleted, j.Status)
			require.True(t, j.Next.IsZero())
			require.Equal(t, tc.fires, j.Runs)
		})
	}
	// Completed jobs are never claimed.
	require.Empty(t, claim(t, s, t0.Add(time.Hour), "a", "acme"))
}

func TestJobPauseResumeCancel(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	nj := newJob("acme", clk, t0.Add(time.Minute))
	_, _, err := s.CreateJob(ctx, nj)
	require.NoError(t, err)

	j, err := s.PauseJob(ctx, "acme", nj.ID)
	require.NoError(t, err)
	require.Equal(t, logstore.JobPaused, j.Status)
	_, err = s.PauseJob(ctx, "acme", nj.ID)
	require.NoError(t, err, "pausing twice is harmless")
	require.Empty(t, claim(t, s, t0.Add(time.Hour), "a", "acme"), "paused jobs do not fire")

	// Resumed while its next slot is still ahead: that slot stands.
	j, err = s.ResumeJob(ctx, "acme", nj.ID, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, logstore.JobQueued, j.Status, "never fired: queued")
	require.Equal(t, t0.Add(time.Minute), j.Next)

	// Resumed after its next slot passed: the first slot from now.
	_, err = s.PauseJob(ctx, "acme", nj.ID)
	require.NoError(t, err)
	clk.Set(t0.Add(10 * time.Minute))
	j, err = s.ResumeJob(ctx, "acme", nj.ID, t0.Add(11*time.Minute))
	require.NoError(t, err)
	require.Equal(t, t0.Add(11*time.Minute), j.Next)
	require.Empty(t, claim(t, s, t0.Add(10*time.Minute), "a", "acme"))
	require.Len(t, claim(t, s, t0.Add(11*time.Minute), "a", "acme"), 1)

	j, err = s.CancelJob(ctx, "acme", nj.ID)
	require.NoError(t, err)
	require.Equal(t, logstore.JobCancelled, j.Status)
	_, err = s.CancelJob(ctx, "acme", nj.ID)
	require.NoError(t, err)
	_, err = s.ResumeJob(ctx, "acme", nj.ID, t0.Add(time.Hour))
	require.ErrorIs(t, err, logstore.ErrJobConflict)
	_, err = s.PauseJob(ctx, "acme", nj.ID)
	require.ErrorIs(t, err, logstore.ErrJobConflict)
	require.Empty(t, claim(t, s, t0.Add(time.Hour), "a", "acme"))

	// A fire under way when the job was cancelled still counts, and the
	// job stays cancelled.
	r, err := s.CommitFire(ctx, "acme", fire(nj.ID, t0.Add(11*time.Minute)), t0.Add(12*time.Minute))
	require.NoError(t, err)
	require.True(t, r.Committed)
	require.Equal(t, logstore.JobCancelled, r.Status)
	require.Empty(t, claim(t, s, t0.Add(time.Hour), "a", "acme"))

	_, err = s.PauseJob(ctx, "globex", nj.ID)
	require.ErrorIs(t, err, logstore.ErrNotFound)
}

func TestJobsListByStatusWithCursor(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	var made []string
	for i := range 25 {
		clk.Advance(time.Millisecond)
		nj := newJob("acme", clk, t0.Add(time.Hour))
		_, _, err := s.CreateJob(ctx, nj)
		require.NoError(t, err)
		made = append(made, nj.ID)
		if i%5 == 0 {
			_, err := s.PauseJob(ctx, "acme", nj.ID)
			require.NoError(t, err)
		}
	}
	_, _, err := s.CreateJob(ctx, newJob("globex", clk, t0))
	require.NoError(t, err)

	var got []string
	cursor := ""
	for {
		p, err := s.Jobs(ctx, logstore.JobQuery{Workspace: "acme", Cursor: cursor, Limit: 10})
		require.NoError(t, err)
		require.EqualValues(t, 25, p.Total)
		for _, j := range p.Jobs {
			got = append(got, j.ID)
		}
		if !p.HasMore {
			require.Empty(t, p.NextCursor)
			break
		}
		cursor = p.NextCursor
	}
	require.Len(t, got, 25)
	for i := range got {
		require.Equal(t, made[len(made)-1-i], got[i], "newest first")
	}

	p, err := s.Jobs(ctx, logstore.JobQuery{Workspace: "acme", Status: logstore.JobPaused, Limit: 3})
	require.NoError(t, err)
	require.EqualValues(t, 5, p.Total)
	require.Len(t, p.Jobs, 3)
	require.True(t, p.HasMore)
	for _, j := range p.Jobs {
		require.Equal(t, logstore.JobPaused, j.Status)
	}
	p, err = s.Jobs(ctx, logstore.JobQuery{Workspace: "acme", Status: logstore.JobPaused, Limit: 3, Cursor: p.NextCursor})
	require.NoError(t, err)
	require.Len(t, p.Jobs, 2)
	require.False(t, p.HasMore)

	_, err = s.Jobs(ctx, logstore.JobQuery{Workspace: "acme", Cursor: "!!"})
	require.ErrorIs(t, err, logstore.ErrBadCursor)
}

func TestClaimAcrossWorkspacesReportsFull(t *testing.T) {
	r := startRedis(t)
	rdb := r.Client
	clk := clock.NewFake(t0)
	s := logstore.New(rdb, logstore.Config{Clock: clk})
	ctx := context.Background()
	for i := range 5 {
		_, _, err := s.CreateJob(ctx, newJob("acme", clk, t0.Add(time.Duration(i)*time.Millisecond)))
		require.NoError(t, err)
	}
	_, _, err := s.CreateJob(ctx, newJob("globex", clk, t0))
	require.NoError(t, err)
	cs, full, err := s.ClaimJobs(ctx, logstore.ClaimRequest{Workspaces: []string{"acme", "globex", "empty"},
		Now: t0, Horizon: t0.Add(time.Second), Lease: time.Second, Limit: 3, Owner: "a"})
	require.NoError(t, err)
	require.Len(t, cs, 4)
	require.Equal(t, []string{"acme"}, full)
	var wss []string
	for _, c := range cs {
		wss = append(wss, c.Workspace)
	}
	require.Equal(t, []string{"acme", "acme", "acme", "globex"}, wss)

	// After a SCRIPT FLUSH (a Redis restart) claims still work.
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	cs, _, err = s.ClaimJobs(ctx, logstore.ClaimRequest{Workspaces: []string{"acme"},
		Now: t0, Horizon: t0.Add(10 * time.Millisecond), Lease: time.Second, Limit: 10, Owner: "a"})
	require.NoError(t, err)
	require.Len(t, cs, 2)
}
