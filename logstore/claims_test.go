package logstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/logstore"
)

func claimDelivery(t *testing.T, s *logstore.Store, id string, gen, attempt int, token string) logstore.ClaimResult {
	t.Helper()
	r, err := s.Claim(context.Background(), logstore.ClaimRecord{Workspace: "acme", ID: id, Generation: gen, Attempt: attempt, Token: token, Lease: 10 * time.Second})
	require.NoError(t, err)
	return r
}

func retryAttempt(clk *clock.Fake) logstore.Attempt {
	return logstore.Attempt{ResponseCode: 503, AttemptedAt: clk.Now(), ErrorCode: "DELIVERY_ERROR", Error: "HTTP 503", Outcome: "retry"}
}

// claim.lua: a delivery may send only while its entry is in flight, in
// its generation and attempt, and nobody else holds the lease.
func TestClaim(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	ne := newEntry("acme", clk)
	_, err := s.Create(ctx, ne)
	require.NoError(t, err)

	require.Equal(t, logstore.ClaimResult{Verdict: logstore.ClaimOK, Status: "pending"}, claimDelivery(t, s, ne.ID, 0, 0, "w1"))
	r := claimDelivery(t, s, ne.ID, 0, 0, "w2")
	require.Equal(t, logstore.ClaimBusy, r.Verdict, "another delivery holds the lease")
	require.Greater(t, r.BusyFor, 9*time.Second)
	require.Equal(t, logstore.ClaimOK, claimDelivery(t, s, ne.ID, 0, 0, "w1").Verdict, "the holder may claim again")
	require.Equal(t, logstore.ClaimStale, claimDelivery(t, s, ne.ID, 1, 0, "w1").Verdict, "another generation")

	// The attempt's record gives the lease back; the job of that attempt is
	// then stale (a second copy), the retry's job is good.
	_, err = s.Record(ctx, logstore.AttemptRecord{Workspace: "acme", ID: ne.ID, Attempt: retryAttempt(clk), Outcome: logstore.OutcomeRetry,
		MaxAttempts: 4, Backoff: logstore.Backoff{Initial: time.Second, Max: time.Minute}, Token: "w1"})
	require.NoError(t, err)
	require.Equal(t, logstore.ClaimStale, claimDelivery(t, s, ne.ID, 0, 0, "w2").Verdict, "attempt 0 was made")
	require.Equal(t, logstore.ClaimResult{Verdict: logstore.ClaimOK, Status: "pending", GenerationAttempts: 1, Attempts: 1}, claimDelivery(t, s, ne.ID, 0, 1, "w2"))
	require.Equal(t, logstore.ClaimOK, claimDelivery(t, s, ne.ID, 0, -1, "w2").Verdict, "a job of the older wire format is not checked for its attempt")

	// Cancelled: never sent.
	_, _, err = s.Transition(ctx, "acme", ne.ID, logstore.Change{To: logstore.StatusFailed, From: []string{"pending"}, SetError: true, ErrorCode: "CANCELLED"})
	require.NoError(t, err)
	require.Equal(t, logstore.ClaimResult{Verdict: logstore.ClaimSettled, Status: "failed"}, claimDelivery(t, s, ne.ID, 0, 1, "w3"))

	require.Equal(t, logstore.ClaimMissing, claimDelivery(t, s, newEntry("acme", clk).ID, 0, 0, "w1").Verdict)
}

// A producer that could not confirm its publish abandons the message only
// if no delivery has started; once a worker holds it, or an attempt was
// made, the answer is ErrTouched and nothing changes.
func TestTransitionUntouched(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	abandon := func(id string) error {
		_, _, err := s.Transition(ctx, "acme", id, logstore.Change{To: logstore.StatusFailed, From: []string{"pending"}, Untouched: true,
			SetError: true, ErrorCode: "UNAVAILABLE", ReleaseCache: "tag-" + id})
		return err
	}
	fresh := newEntry("acme", clk, func(e *logstore.NewEntry) { e.Cache = "tag-x" })
	fresh.CacheKey = "tag-" + fresh.ID
	_, err := s.Create(ctx, fresh)
	require.NoError(t, err)
	require.NoError(t, abandon(fresh.ID))
	e, err := s.Get(ctx, "acme", fresh.ID)
	require.NoError(t, err)
	require.Equal(t, "failed", e.Status)
	again := *fresh
	again.ID = newEntry("acme", clk).ID
	c, err := s.Create(ctx, &again)
	require.NoError(t, err)
	require.False(t, c.Deduplicated, "the abandoned message's cache tag was released")

	claimed := newEntry("acme", clk)
	_, err = s.Create(ctx, claimed)
	require.NoError(t, err)
	claimDelivery(t, s, claimed.ID, 0, 0, "w1")
	require.ErrorIs(t, abandon(claimed.ID), logstore.ErrTouched, "a worker holds it")
	// Handed back at shutdown (lease released, no attempt): abandoning is
	// safe again, and the job's next claim finds it failed.
	_, err = s.Record(ctx, logstore.AttemptRecord{Workspace: "acme", ID: claimed.ID, Outcome: logstore.OutcomeRelease, Token: "w1"})
	require.NoError(t, err)
	require.NoError(t, abandon(claimed.ID))
	require.Equal(t, logstore.ClaimSettled, claimDelivery(t, s, claimed.ID, 0, 0, "w2").Verdict)

	attempted := newEntry("acme", clk)
	_, err = s.Create(ctx, attempted)
	require.NoError(t, err)
	_, err = s.Record(ctx, logstore.AttemptRecord{Workspace: "acme", ID: attempted.ID, Attempt: retryAttempt(clk), Outcome: logstore.OutcomeRetry,
		MaxAttempts: 4, Backoff: logstore.Backoff{Initial: time.Second, Max: time.Minute}})
	require.NoError(t, err)
	require.ErrorIs(t, abandon(attempted.ID), logstore.ErrTouched, "an attempt was made")
	e, err = s.Get(ctx, "acme", attempted.ID)
	require.NoError(t, err)
	require.Equal(t, "pending", e.Status)
}

// A retry waits in the due set; the pump claims it when due (only once
// the ledger vouched for this Redis), leases it, and removes it once
// published — unless a worker already attempted it and scheduled the next.
func TestRetryDueSet(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	ne := newEntry("acme", clk)
	_, err := s.Create(ctx, ne)
	require.NoError(t, err)
	claimDelivery(t, s, ne.ID, 0, 0, "w1")
	r, err := s.Record(ctx, logstore.AttemptRecord{Workspace: "acme", ID: ne.ID, Attempt: retryAttempt(clk), Outcome: logstore.OutcomeRetry,
		MaxAttempts: 4, Backoff: logstore.Backoff{Initial: 2 * time.Second, Max: time.Minute}, Token: "w1"})
	require.NoError(t, err)
	require.Equal(t, 2*time.Second, r.RetryIn)
	inflight, err := s.InFlight(ctx, "acme", ne.ID)
	require.NoError(t, err)
	require.True(t, inflight, "waiting in the due set")
	n, err := s.RetriesDue(ctx, "acme")
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	next, err := s.NextRetry(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, clk.Now().Add(2*time.Second), next)

	_, err = s.ClaimRetries(ctx, "acme", clk.Now().Add(3*time.Second), 5*time.Second, 10)
	require.ErrorIs(t, err, logstore.ErrUnchecked, "nothing is handed out before the ledger looked")
	mustVouch(t, s, "acme")
	rc, err := s.ClaimRetries(ctx, "acme", clk.Now().Add(time.Second), 5*time.Second, 10)
	require.NoError(t, err)
	require.Empty(t, rc.Due, "not due yet")

	at := clk.Now().Add(3 * time.Second)
	rc, err = s.ClaimRetries(ctx, "acme", at, 5*time.Second, 10)
	require.NoError(t, err)
	require.Len(t, rc.Due, 1)
	d := rc.Due[0]
	require.Equal(t, ne.ID, d.ID)
	require.Equal(t, 1, d.GenerationAttempts)
	require.Equal(t, clk.Now().Add(2*time.Second), d.NextAttemptAt)
	require.JSONEq(t, `{"body":{"order":1}}`, string(d.Input))
	again, err := s.ClaimRetries(ctx, "acme", at, 5*time.Second, 10)
	require.NoError(t, err)
	require.Empty(t, again.Due, "leased: no other pump gets it")

	// A worker got the published job first and scheduled the next retry:
	// the pump's late "published" leaves that one alone.
	claimDelivery(t, s, ne.ID, 0, 1, "w2")
	_, err = s.Record(ctx, logstore.AttemptRecord{Workspace: "acme", ID: ne.ID, Attempt: retryAttempt(clk), Outcome: logstore.OutcomeRetry,
		MaxAttempts: 4, Backoff: logstore.Backoff{Initial: 2 * time.Second, Max: time.Minute}, Token: "w2"})
	require.NoError(t, err)
	require.NoError(t, s.RetriesPublished(ctx, "acme", rc.LeaseEnd, []string{ne.ID}, nil))
	n, err = s.RetriesDue(ctx, "acme")
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the next retry stays")

	rc, err = s.ClaimRetries(ctx, "acme", clk.Now().Add(time.Hour), 5*time.Second, 10)
	require.NoError(t, err)
	require.Len(t, rc.Due, 1)
	// Not published (JetStream unreachable): due again at once, for any pump.
	require.NoError(t, s.RetriesPublished(ctx, "acme", rc.LeaseEnd, nil, []string{ne.ID}))
	rc, err = s.ClaimRetries(ctx, "acme", clk.Now().Add(time.Hour), 5*time.Second, 10)
	require.NoError(t, err)
	require.Len(t, rc.Due, 1, "handed back, not held for the lease")
	require.NoError(t, s.RetriesPublished(ctx, "acme", rc.LeaseEnd, []string{ne.ID}, nil))
	n, err = s.RetriesDue(ctx, "acme")
	require.NoError(t, err)
	require.Zero(t, n)

	// A message cancelled while waiting leaves the due set at the next claim.
	claimDelivery(t, s, ne.ID, 0, 2, "w3")
	_, err = s.Record(ctx, logstore.AttemptRecord{Workspace: "acme", ID: ne.ID, Attempt: retryAttempt(clk), Outcome: logstore.OutcomeRetry,
		MaxAttempts: 4, Backoff: logstore.Backoff{Initial: 2 * time.Second, Max: time.Minute}, Token: "w3"})
	require.NoError(t, err)
	_, _, err = s.Transition(ctx, "acme", ne.ID, logstore.Change{To: "failed", From: []string{"pending"}, SetError: true, ErrorCode: "CANCELLED"})
	require.NoError(t, err)
	rc, err = s.ClaimRetries(ctx, "acme", clk.Now().Add(time.Hour), 5*time.Second, 10)
	require.NoError(t, err)
	require.Empty(t, rc.Due)
	n, err = s.RetriesDue(ctx, "acme")
	require.NoError(t, err)
	require.Zero(t, n)
}

// A deferral (endpoint at its cap) schedules the message again without an
// attempt, at a new due time, so its next job has a new message id.
func TestDefer(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	ne := newEntry("acme", clk)
	_, err := s.Create(ctx, ne)
	require.NoError(t, err)
	claimDelivery(t, s, ne.ID, 0, 0, "w1")
	r, err := s.Record(ctx, logstore.AttemptRecord{Workspace: "acme", ID: ne.ID, Outcome: logstore.OutcomeDefer, DeferFor: 300 * time.Millisecond, Token: "w1"})
	require.NoError(t, err)
	require.True(t, r.Applied)
	require.Zero(t, r.Attempts)
	e, err := s.Get(ctx, "acme", ne.ID)
	require.NoError(t, err)
	require.Zero(t, e.Attempts)
	require.Equal(t, clk.Now().Add(300*time.Millisecond), e.NextAttemptAt)
	require.Equal(t, logstore.ClaimOK, claimDelivery(t, s, ne.ID, 0, 0, "w2").Verdict, "lease given back, still attempt 0")
	mustVouch(t, s, "acme")
	rc, err := s.ClaimRetries(ctx, "acme", clk.Now().Add(time.Second), time.Second, 10)
	require.NoError(t, err)
	require.Len(t, rc.Due, 1)
	require.Zero(t, rc.Due[0].GenerationAttempts)
}

// A create that reaches Redis after its deadline writes nothing, so a
// producer that gave up on it can answer 503 knowing no entry appears.
func TestCreatePastDeadlineWritesNothing(t *testing.T) {
	r := startRedis(t)
	clk := clock.NewFake(t0)
	s := logstore.New(r.Client, logstore.Config{Clock: clk, CreateDeadline: -time.Second})
	ctx := context.Background()
	ne := newEntry("acme", clk)
	_, err := s.Create(ctx, ne)
	var ce *logstore.CreateError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.True(t, ce.Deadline.Before(time.Now()))
	_, err = s.Get(ctx, "acme", ne.ID)
	require.ErrorIs(t, err, logstore.ErrNotFound)
}

// The counters the ledger checkpoints only grow: creates bump seq, every
// record and transition bumps rec. After a detected rollback, retries that
// were already due then, of entries made before it, are taken out and
// reported instead of being sent again; later ones go ahead.
func TestCountersAndRollbackSuspects(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	c, err := s.Counters(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, logstore.Counters{RolledBackSeq: -1}, c)

	var ids []string
	for range 3 {
		ne := newEntry("acme", clk)
		_, err := s.Create(ctx, ne)
		require.NoError(t, err)
		ids = append(ids, ne.ID)
		_, err = s.Record(ctx, logstore.AttemptRecord{Workspace: "acme", ID: ne.ID, Attempt: retryAttempt(clk), Outcome: logstore.OutcomeRetry,
			MaxAttempts: 4, Backoff: logstore.Backoff{Initial: time.Second, Max: time.Minute}})
		require.NoError(t, err)
		clk.Advance(10 * time.Second)
	}
	_, _, err = s.Transition(ctx, "acme", ids[0], logstore.Change{SetError: true, ErrorCode: "X", From: []string{"pending"}})
	require.NoError(t, err)
	c, err = s.Counters(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, logstore.Counters{Seq: 3, Records: 4, RolledBackSeq: -1}, c)

	// A ledger check that read higher counters than Redis holds now (it
	// read them from the Redis before a restart from an older snapshot)
	// does not vouch for this one; a check that read these counters does.
	ok, err := s.Vouch(ctx, "acme", logstore.Counters{Seq: 4, Records: 4}, time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "counters went back since the check read them")
	vouched, err := s.Vouched(ctx, "acme")
	require.NoError(t, err)
	require.False(t, vouched)
	ok, err = s.Vouch(ctx, "acme", logstore.Counters{Seq: 3, Records: 3}, time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "counters at or above what the check read")
	vouched, err = s.Vouched(ctx, "acme")
	require.NoError(t, err)
	require.True(t, vouched)

	// Rollback detected "now", at seq 2: the first two entries' retries
	// (due before now) are suspects; the third entry (seq 2) is not.
	require.NoError(t, s.MarkRolledBack(ctx, "acme", 2, time.Time{}, clk.Now()))
	mustVouch(t, s, "acme")
	rc, err := s.ClaimRetries(ctx, "acme", clk.Now().Add(time.Hour), time.Second, 10)
	require.NoError(t, err)
	require.ElementsMatch(t, ids[:2], rc.Suspects)
	require.Len(t, rc.Due, 1)
	require.Equal(t, ids[2], rc.Due[0].ID)
	c, err = s.Counters(ctx, "acme")
	require.NoError(t, err)
	require.EqualValues(t, 2, c.RolledBackSeq)
	require.Equal(t, clk.Now().UnixMilli(), c.RolledBackAt.UnixMilli())
}

// mustVouch vouches for the Redis as the ledger would after a check.
func mustVouch(t *testing.T, s *logstore.Store, ws string) {
	t.Helper()
	ok, err := s.Vouch(context.Background(), ws, logstore.Counters{}, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
}
