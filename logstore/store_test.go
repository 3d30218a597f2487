package logstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/logstore"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newStore(t *testing.T) (*logstore.Store, *clock.Fake) {
	t.Helper()
	r := startRedis(t)
	clk := clock.NewFake(t0)
	return logstore.New(r.Client, logstore.Config{Clock: clk, Retention: 30 * 24 * time.Hour, AttemptsCap: 5, SegmentSize: 64}), clk
}

func newEntry(ws string, clk *clock.Fake, mods ...func(*logstore.NewEntry)) *logstore.NewEntry {
	e := &logstore.NewEntry{
		ID: ids.New(clk.Now()), Workspace: ws, ProductID: "prod_1", ProductTag: "shop", Env: "prd",
		NotificationTag: "orders", Notification: "orders:confirmation", Type: "callback",
		TriggeredBy: "api", Retries: 3, Input: json.RawMessage(`{"body":{"order":1}}`),
	}
	for _, m := range mods {
		m(e)
	}
	return e
}

func TestCreateGet(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	ne := newEntry("acme", clk, func(e *logstore.NewEntry) { e.Session = "user-session"; e.ProcessID = "prc_1" })
	c, err := s.Create(ctx, ne)
	require.NoError(t, err)
	require.False(t, c.Deduplicated)
	require.Equal(t, t0, c.CreatedAt)

	got, err := s.Get(ctx, "acme", ne.ID)
	require.NoError(t, err)
	require.Equal(t, logstore.StatusPending, got.Status)
	require.Equal(t, "acme", got.Workspace)
	require.Equal(t, "orders", got.NotificationTag)
	require.Equal(t, "orders:confirmation", got.Notification)
	require.Equal(t, "prc_1", got.ProcessID)
	require.Equal(t, "user-session", got.Session)
	require.Equal(t, 3, got.Retries)
	require.JSONEq(t, `{"body":{"order":1}}`, string(got.Input))

	// Workspace isolation: the same id in another workspace does not exist.
	_, err = s.Get(ctx, "other", ne.ID)
	require.ErrorIs(t, err, logstore.ErrNotFound)
	_, err = s.Get(ctx, "acme", "not-an-id")
	require.ErrorIs(t, err, logstore.ErrNotFound)

	// Creating the same id twice writes once.
	c2, err := s.Create(ctx, ne)
	require.NoError(t, err)
	require.Equal(t, c.Seq, c2.Seq)
	p, err := s.Query(ctx, logstore.Query{Workspace: "acme"})
	require.NoError(t, err)
	require.EqualValues(t, 1, p.Total)
}

func TestCacheDedupe(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	first := newEntry("acme", clk, func(e *logstore.NewEntry) { e.Cache = "order-1"; e.CacheWindow = time.Hour })
	c1, err := s.Create(ctx, first)
	require.NoError(t, err)
	second := newEntry("acme", clk, func(e *logstore.NewEntry) { e.Cache = "order-1"; e.CacheWindow = time.Hour })
	c2, err := s.Create(ctx, second)
	require.NoError(t, err)
	require.True(t, c2.Deduplicated)
	require.Equal(t, c1.ID, c2.ID)
	_, err = s.Get(ctx, "acme", second.ID)
	require.ErrorIs(t, err, logstore.ErrNotFound, "a deduplicated send writes nothing")

	// The same tag in another workspace is independent.
	c3, err := s.Create(ctx, newEntry("other", clk, func(e *logstore.NewEntry) { e.Cache = "order-1" }))
	require.NoError(t, err)
	require.False(t, c3.Deduplicated)

	// Releasing the tag (publish failure) lets the caller send again.
	_, _, err = s.Transition(ctx, "acme", c1.ID, logstore.Change{
		To: logstore.StatusFailed, From: []string{logstore.StatusPending}, SetError: true,
		ErrorCode: "UNAVAILABLE", Error: "queue unavailable", ReleaseCache: "order-1"})
	require.NoError(t, err)
	c4, err := s.Create(ctx, newEntry("acme", clk, func(e *logstore.NewEntry) { e.Cache = "order-1" }))
	require.NoError(t, err)
	require.False(t, c4.Deduplicated)
}

func TestRecordAttempt(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	ne := newEntry("acme", clk)
	_, err := s.Create(ctx, ne)
	require.NoError(t, err)

	att := func(code int, outcome logstore.Outcome) logstore.Attempt {
		return logstore.Attempt{ResponseCode: code, ResponseContentType: "text/plain", ResponseBody: "x", AttemptedAt: clk.Now(), DurationMs: 5, Outcome: string(outcome)}
	}
	next := logstore.Backoff{Initial: time.Second, Max: 3 * time.Second, Jitter: 1.1}
	pendingErr := func() int64 {
		p, err := s.Query(ctx, logstore.Query{Workspace: "acme", Undelivered: true, Status: "pending"})
		require.NoError(t, err)
		return p.Total
	}
	require.EqualValues(t, 0, pendingErr())
	r, err := s.RecordAttempt(ctx, "acme", ne.ID, 0, att(503, logstore.OutcomeRetry), logstore.OutcomeRetry, 3, next)
	require.NoError(t, err)
	require.Equal(t, logstore.AttemptResult{Status: "pending", Attempts: 1, GenerationAttempts: 1, Applied: true, RetryIn: 1100 * time.Millisecond}, r)
	e, err := s.Get(ctx, "acme", ne.ID)
	require.NoError(t, err)
	require.Equal(t, clk.Now().Add(1100*time.Millisecond), e.NextAttemptAt)
	require.EqualValues(t, 1, pendingErr(), "a message waiting for a retry is undelivered")

	// The second delay doubles; a Retry-After longer than it wins.
	next.MinDelay = 5 * time.Second
	r, err = s.RecordAttempt(ctx, "acme", ne.ID, 0, att(503, logstore.OutcomeRetry), logstore.OutcomeRetry, 3, next)
	require.NoError(t, err)
	require.Equal(t, "pending", r.Status)
	require.Equal(t, 5*time.Second, r.RetryIn)
	next.MinDelay = 0
	// The third attempt is the last of 3: a retryable failure now fails.
	a3 := att(503, logstore.OutcomeRetry)
	a3.ErrorCode, a3.Error = "DELIVERY_ERROR", "HTTP 503"
	a3.ResponseBody = `{"outcome":"retry"}` // the receiver's words are never rewritten
	r, err = s.RecordAttempt(ctx, "acme", ne.ID, 0, a3, logstore.OutcomeRetry, 3, next)
	require.NoError(t, err)
	require.Equal(t, logstore.AttemptResult{Status: "failed", Attempts: 3, GenerationAttempts: 3, Applied: true}, r)
	e, err = s.Get(ctx, "acme", ne.ID)
	require.NoError(t, err)
	require.Equal(t, "DELIVERY_ERROR", e.ErrorCode)
	require.Equal(t, "HTTP 503", e.Error)
	require.True(t, e.NextAttemptAt.IsZero(), "a failed entry has no next attempt")

	// Once final, a late attempt (a redelivery) writes nothing.
	r, err = s.RecordAttempt(ctx, "acme", ne.ID, 0, att(200, logstore.OutcomeSent), logstore.OutcomeSent, 3, logstore.Backoff{})
	require.NoError(t, err)
	require.False(t, r.Applied)
	require.Equal(t, "failed", r.Status)

	as, more, total, err := s.Attempts(ctx, "acme", ne.ID, "", 2)
	require.NoError(t, err)
	require.True(t, more)
	require.Equal(t, 3, total)
	require.Len(t, as, 2)
	rest, more, _, err := s.Attempts(ctx, "acme", ne.ID, as[1].ID, 2)
	require.NoError(t, err)
	require.False(t, more)
	require.Len(t, rest, 1)
	require.Equal(t, "DELIVERY_ERROR", rest[0].ErrorCode)
	require.Equal(t, "retry", as[0].Outcome, "another attempt followed")
	require.Equal(t, "failed", rest[0].Outcome, "the last attempt of a failed message is recorded as failed, not retry")
	require.Equal(t, 503, rest[0].ResponseCode, "the rest of the attempt is kept as the worker sent it")
	require.Equal(t, `{"outcome":"retry"}`, rest[0].ResponseBody)
	_, _, _, err = s.Attempts(ctx, "acme", ne.ID, "att_unknown", 2)
	require.ErrorIs(t, err, logstore.ErrBadCursor, "an after that is no attempt of the message")

	// Status indexes moved with the entry.
	for status, want := range map[string]int64{"pending": 0, "failed": 1} {
		p, err := s.Query(ctx, logstore.Query{Workspace: "acme", Status: status})
		require.NoError(t, err)
		require.Equal(t, want, p.Total, status)
	}

	undelivered := func() int64 {
		p, err := s.Query(ctx, logstore.Query{Workspace: "acme", Undelivered: true})
		require.NoError(t, err)
		return p.Total
	}
	require.EqualValues(t, 1, undelivered(), "failed is undelivered")

	// Reprocess starts a new generation; a stale delivery is refused.
	st, gen, err := s.Transition(ctx, "acme", ne.ID, logstore.Change{To: "reprocessing", From: []string{"failed", "sent"}, NewGeneration: true, TriggeredBy: "reprocess"})
	require.NoError(t, err)
	require.Equal(t, "reprocessing", st)
	require.Equal(t, 1, gen)
	r, err = s.RecordAttempt(ctx, "acme", ne.ID, 0, att(200, logstore.OutcomeSent), logstore.OutcomeSent, 3, logstore.Backoff{})
	require.NoError(t, err)
	require.True(t, r.Stale)
	r, err = s.RecordAttempt(ctx, "acme", ne.ID, 1, att(200, logstore.OutcomeSent), logstore.OutcomeSent, 3, logstore.Backoff{})
	require.NoError(t, err)
	require.Equal(t, "sent", r.Status)
	require.Equal(t, 4, r.Attempts)
	require.Equal(t, 1, r.GenerationAttempts, "retries restart with a new generation")
	e, err = s.Get(ctx, "acme", ne.ID)
	require.NoError(t, err)
	require.Equal(t, "reprocess", e.TriggeredBy)
	require.Equal(t, "api", e.FirstTriggeredBy)
	require.Empty(t, e.ErrorCode)
	require.EqualValues(t, 0, undelivered(), "sent is delivered")

	// Conflicting transition.
	_, _, err = s.Transition(ctx, "acme", ne.ID, logstore.Change{To: "failed", From: []string{"pending"}})
	require.ErrorIs(t, err, logstore.ErrConflict)
	_, _, err = s.Transition(ctx, "acme", ids.New(clk.Now()), logstore.Change{To: "failed", From: []string{"pending"}})
	require.ErrorIs(t, err, logstore.ErrNotFound)
}

func TestAttemptsCapAndBodyCut(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	ne := newEntry("acme", clk)
	_, err := s.Create(ctx, ne)
	require.NoError(t, err)
	big := make([]byte, 10000)
	for i := range big {
		big[i] = 'a'
	}
	for i := range 7 {
		_, err := s.RecordAttempt(ctx, "acme", ne.ID, 0, logstore.Attempt{ResponseCode: 500 + i, ResponseBody: string(big), AttemptedAt: clk.Now()}, logstore.OutcomeRetry, 100, logstore.Backoff{Initial: time.Hour, Max: 4 * time.Hour})
		require.NoError(t, err)
	}
	as, _, total, err := s.Attempts(ctx, "acme", ne.ID, "", 50)
	require.NoError(t, err)
	require.Equal(t, 5, total, "capped at AttemptsCap, newest kept")
	require.Equal(t, 502, as[0].ResponseCode)
	require.Len(t, as[0].ResponseBody, logstore.MaxResponseBody)
	e, err := s.Get(ctx, "acme", ne.ID)
	require.NoError(t, err)
	require.Equal(t, 7, e.Attempts, "the count keeps every attempt")
}

func TestQueryFiltersAndPaging(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	envs := []string{"dev", "stg", "prd"}
	types := []string{"email", "push", "sms", "callback"}
	var created []string
	// 300 entries, one per minute, crossing a segment-free but varied spread.
	for i := range 300 {
		clk.Advance(time.Minute)
		ne := newEntry("acme", clk, func(e *logstore.NewEntry) {
			e.Env = envs[i%3]
			e.Type = types[i%4]
			e.NotificationTag = fmt.Sprintf("n%d", i%5)
			e.ProductTag = []string{"shop", "blog"}[i%2]
			if i%10 == 0 {
				e.ProcessID = "prc_" + fmt.Sprint(i/20)
			}
			if i%7 == 0 {
				e.CampaignID = "job_a"
			}
		})
		_, err := s.Create(ctx, ne)
		require.NoError(t, err)
		created = append(created, ne.ID)
		if i%6 == 0 {
			_, err := s.RecordAttempt(ctx, "acme", ne.ID, 0, logstore.Attempt{AttemptedAt: clk.Now()}, logstore.OutcomeSent, 1, logstore.Backoff{})
			require.NoError(t, err)
		}
	}
	// expected computes the answer by brute force from the same rule.
	expected := func(match func(i int) bool, fromMin, toMin int) []string {
		var out []string
		for i := 299; i >= 0; i-- {
			if i+1 < fromMin || i+1 > toMin {
				continue
			}
			if match(i) {
				out = append(out, created[i])
			}
		}
		return out
	}
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	cases := []struct {
		name  string
		q     logstore.Query
		match func(i int) bool
		from  int
		to    int
	}{
		{"all", logstore.Query{}, func(i int) bool { return true }, 0, 1000},
		{"env", logstore.Query{Env: "prd"}, func(i int) bool { return i%3 == 2 }, 0, 1000},
		{"status sent", logstore.Query{Status: "sent"}, func(i int) bool { return i%6 == 0 }, 0, 1000},
		{"status pending", logstore.Query{Status: "pending"}, func(i int) bool { return i%6 != 0 }, 0, 1000},
		{"three filters", logstore.Query{Env: "dev", Type: "email", ProductTag: "shop"}, func(i int) bool { return i%3 == 0 && i%4 == 0 && i%2 == 0 }, 0, 1000},
		{"notification and type", logstore.Query{NotificationTag: "n3", Type: "sms"}, func(i int) bool { return i%5 == 3 && i%4 == 2 }, 0, 1000},
		{"date range", logstore.Query{Start: at(50), End: at(120)}, func(i int) bool { return true }, 50, 120},
		{"date range and env", logstore.Query{Start: at(50), End: at(120), Env: "stg"}, func(i int) bool { return i%3 == 1 }, 50, 120},
		{"campaign", logstore.Query{CampaignID: "job_a"}, func(i int) bool { return i%7 == 0 }, 0, 1000},
		{"campaign and env and range", logstore.Query{CampaignID: "job_a", Env: "dev", Start: at(100)}, func(i int) bool { return i%7 == 0 && i%3 == 0 }, 100, 1000},
		{"process", logstore.Query{ProcessID: "prc_3"}, func(i int) bool { return i%10 == 0 && i/20 == 3 }, 0, 1000},
		{"process and campaign", logstore.Query{ProcessID: "prc_7", CampaignID: "job_a"}, func(i int) bool { return i%10 == 0 && i/20 == 7 && i%7 == 0 }, 0, 1000},
		{"unknown value", logstore.Query{Env: "nope"}, func(i int) bool { return false }, 0, 1000},
		{"product id", logstore.Query{ProductID: "prod_1"}, func(i int) bool { return true }, 0, 1000},
		{"empty range", logstore.Query{Start: at(400)}, func(i int) bool { return false }, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := expected(tc.match, tc.from, tc.to)
			for _, limit := range []int{7, 50} {
				q := tc.q
				q.Workspace = "acme"
				q.Limit = limit
				// Cursor paging walks every match exactly once, newest first.
				var got []string
				for pages := 0; ; pages++ {
					require.Less(t, pages, 400)
					p, err := s.Query(ctx, q)
					require.NoError(t, err)
					require.EqualValues(t, len(want), p.Total)
					for _, e := range p.Entries {
						got = append(got, e.ID)
					}
					if !p.HasMore {
						require.Empty(t, p.NextCursor)
						break
					}
					q.Cursor = p.NextCursor
				}
				require.Equal(t, want, got)
				// Offset paging agrees.
				q.Cursor = ""
				q.Offset = limit
				p, err := s.Query(ctx, q)
				require.NoError(t, err)
				end := min(len(want), 2*limit)
				var ids []string
				for _, e := range p.Entries {
					ids = append(ids, e.ID)
				}
				if limit < len(want) {
					require.Equal(t, want[limit:end], ids)
				} else {
					require.Empty(t, ids)
				}
			}
		})
	}
	// Another workspace sees none of it.
	p, err := s.Query(ctx, logstore.Query{Workspace: "other"})
	require.NoError(t, err)
	require.Zero(t, p.Total)
	require.Empty(t, p.Entries)

	_, err = s.Query(ctx, logstore.Query{Workspace: "acme", Cursor: "!!"})
	require.ErrorIs(t, err, logstore.ErrBadCursor)
}

func TestQueryRetentionWindow(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	old := newEntry("acme", clk)
	_, err := s.Create(ctx, old)
	require.NoError(t, err)
	clk.Advance(20 * 24 * time.Hour)
	fresh := newEntry("acme", clk)
	_, err = s.Create(ctx, fresh)
	require.NoError(t, err)
	clk.Advance(15 * 24 * time.Hour) // old is now 35 days old, past the 30-day retention
	p, err := s.Query(ctx, logstore.Query{Workspace: "acme"})
	require.NoError(t, err)
	require.EqualValues(t, 1, p.Total)
	require.Equal(t, fresh.ID, p.Entries[0].ID)
	_, _, _, err = s.Attempts(ctx, "acme", old.ID, "", 10)
	require.ErrorIs(t, err, logstore.ErrRetentionExpired)
}

func TestTrimReclaimsExpiredSegments(t *testing.T) {
	r := startRedis(t)
	clk := clock.NewFake(t0)
	s := logstore.New(r.Client, logstore.Config{Clock: clk, Retention: 30 * 24 * time.Hour, SegmentSize: 64})
	ctx := context.Background()
	for range 150 {
		_, err := s.Create(ctx, newEntry("acme", clk, func(e *logstore.NewEntry) { e.CampaignID = "job_long" }))
		require.NoError(t, err)
	}
	clk.Advance(31 * 24 * time.Hour)
	for range 50 {
		_, err := s.Create(ctx, newEntry("acme", clk, func(e *logstore.NewEntry) { e.CampaignID = "job_long" }))
		require.NoError(t, err)
	}
	count := func(q logstore.Query) int64 {
		q.Workspace = "acme"
		p, err := s.Query(ctx, q)
		require.NoError(t, err)
		return p.Total
	}
	keysBefore, err := r.DBSize(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 50, count(logstore.Query{}), "expired entries are never counted")
	require.EqualValues(t, 50, count(logstore.Query{CampaignID: "job_long"}))

	tr, err := s.Trim(ctx, "acme")
	require.NoError(t, err)
	require.EqualValues(t, 150, tr.Low)
	require.Equal(t, 2, tr.Segments, "segments 0 and 1 (seq 0-127) are wholly expired; 2 is shared")
	keysAfter, err := r.DBSize(ctx)
	require.NoError(t, err)
	require.Less(t, keysAfter, keysBefore)
	n, err := r.Client.ZCard(ctx, "herald:{acme}:z:camp:job_long").Result()
	require.NoError(t, err)
	require.EqualValues(t, 50, n, "the campaign set lost its expired members")
	require.EqualValues(t, 50, count(logstore.Query{}))
	require.EqualValues(t, 50, count(logstore.Query{CampaignID: "job_long", Status: "pending"}))
	p, err := s.Query(ctx, logstore.Query{Workspace: "acme", Limit: 100})
	require.NoError(t, err)
	require.Len(t, p.Entries, 50)

	// Idempotent.
	tr, err = s.Trim(ctx, "acme")
	require.NoError(t, err)
	require.Zero(t, tr.Segments)
}

func TestJanitorTrimsOnInterval(t *testing.T) {
	r := startRedis(t)
	clk := clock.NewFake(t0)
	s := logstore.New(r.Client, logstore.Config{Clock: clk, Retention: 24 * time.Hour, SegmentSize: 64})
	ctx := context.Background()
	for range 130 {
		_, err := s.Create(ctx, newEntry("acme", clk))
		require.NoError(t, err)
	}
	clk.Advance(48 * time.Hour)
	j := &logstore.Janitor{Store: s, Workspaces: func() []string { return []string{"acme", "empty"} }, Interval: 20 * time.Millisecond}
	require.NoError(t, j.Start(ctx))
	require.Eventually(t, func() bool {
		n, _ := r.Client.Exists(ctx, "herald:{acme}:q:0", "herald:{acme}:q:1").Result()
		return n == 0
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, j.Stop(ctx))
	low, err := r.Client.HGet(ctx, "herald:{acme}:meta", "low").Int64()
	require.NoError(t, err)
	require.EqualValues(t, 130, low)
}

func TestPipelinedWritesSurviveScriptFlush(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	var es []*logstore.NewEntry
	for range 10 {
		es = append(es, newEntry("acme", clk))
	}
	created, errs := s.CreateMany(ctx, es)
	for i := range es {
		require.NoError(t, errs[i])
		require.Equal(t, es[i].ID, created[i].ID)
	}
	// Redis forgets every script: the pipelined path loads them again.
	require.NoError(t, s.FlushScriptsForTest(ctx))
	var recs []logstore.AttemptRecord
	for i, e := range es {
		out := logstore.OutcomeSent
		if i%2 == 1 {
			out = logstore.OutcomeFail
		}
		recs = append(recs, logstore.AttemptRecord{Workspace: "acme", ID: e.ID, Attempt: logstore.Attempt{AttemptedAt: clk.Now()}, Outcome: out, MaxAttempts: 1})
	}
	recs = append(recs, logstore.AttemptRecord{Workspace: "acme", ID: ids.New(clk.Now()), Outcome: logstore.OutcomeSent, MaxAttempts: 1})
	res, errs := s.RecordAttempts(ctx, recs)
	for i := range es {
		require.NoError(t, errs[i])
		require.True(t, res[i].Applied)
		require.Equal(t, map[bool]string{true: "failed", false: "sent"}[i%2 == 1], res[i].Status)
		require.Equal(t, 1, res[i].Attempts, "recorded exactly once")
	}
	require.True(t, res[10].Missing)
	p, err := s.Query(ctx, logstore.Query{Workspace: "acme", Status: "sent"})
	require.NoError(t, err)
	require.EqualValues(t, 5, p.Total)
}

// Query.InputLimit leaves out exactly the inputs longer than the limit,
// whatever the sizes around it, and says how long they were; every other
// field of the entry is whole. Errors are cut to MaxError when written.
func TestQueryInputLimit(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	const limit = 1000
	sizes := []int{0, 10, limit - 20, limit - 1, limit, limit + 1, 3 * limit, 20000, 200000}
	want := map[string]int{}
	for i, n := range sizes {
		pad := strings.Repeat("x", max(n-len(`{"body":""}`), 0))
		input := `{"body":"` + pad + `"}`
		ne := newEntry("acme", clk, func(e *logstore.NewEntry) {
			e.Input = json.RawMessage(input)
			e.Session = "sess"
			e.Cache = fmt.Sprintf("cache-%d", i)
		})
		_, err := s.Create(ctx, ne)
		require.NoError(t, err)
		want[ne.ID] = len(input)
		clk.Advance(time.Millisecond)
	}
	long := strings.Repeat("é", 3000)
	for id := range want {
		_, err := s.RecordAttempt(ctx, "acme", id, 0, logstore.Attempt{Error: long, AttemptedAt: clk.Now()}, logstore.OutcomeFail, 1, logstore.Backoff{})
		require.NoError(t, err)
	}
	for _, lim := range []int{0, limit} {
		p, err := s.Query(ctx, logstore.Query{Workspace: "acme", Limit: 50, InputLimit: lim})
		require.NoError(t, err)
		require.Len(t, p.Entries, len(sizes))
		for _, e := range p.Entries {
			full, err := s.Get(ctx, "acme", e.ID)
			require.NoError(t, err)
			require.Equal(t, full.Cache, e.Cache)
			require.Equal(t, "sess", e.Session)
			require.Equal(t, full.Status, e.Status)
			require.Equal(t, full.Error, e.Error)
			require.LessOrEqual(t, len(e.Error), logstore.MaxError)
			require.True(t, utf8.ValidString(e.Error))
			require.True(t, strings.HasSuffix(e.Error, "…"))
			if lim > 0 && want[e.ID] > lim {
				require.Nil(t, e.Input)
				require.Equal(t, want[e.ID], e.InputCut)
				continue
			}
			require.Zero(t, e.InputCut)
			require.Equal(t, string(full.Input), string(e.Input))
			require.Len(t, e.Input, want[e.ID])
		}
	}
	as, _, _, err := s.Attempts(ctx, "acme", p0(t, s).Entries[0].ID, "", 10)
	require.NoError(t, err)
	require.LessOrEqual(t, len(as[0].Error), logstore.MaxError)
}

func p0(t *testing.T, s *logstore.Store) *logstore.Page {
	p, err := s.Query(context.Background(), logstore.Query{Workspace: "acme", Limit: 1})
	require.NoError(t, err)
	return p
}
