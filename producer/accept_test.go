package producer

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/logstore"
)

func acceptEnv(t *testing.T) (*Producer, *logstore.Store, *queue.Queue) {
	t.Helper()
	r := testutil.StartRedis(t)
	ns := testutil.StartNATS(t)
	_, js := testutil.JetStream(t, ns.ClientURL())
	cfg, err := config.Parse([]byte(`
workspaces:
  - id: acme
    products:
      - tag: shop
        envs: [prd]
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                callback: { url: "https://hooks.example.com/x" }
`), func(string) string { return "" })
	require.NoError(t, err)
	store := logstore.New(r.Client, logstore.Config{})
	t.Cleanup(store.Close)
	q := queue.New(js, queue.Config{})
	require.NoError(t, q.Ensure(context.Background()))
	p, err := New(Config{Config: func() *config.Config { return cfg }, Store: store, Queue: q,
		Validators: map[string]Validator{"callback": func(*config.Workspace, *config.Message, json.RawMessage) error { return nil }}})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p, store, q
}

func sendReq(cache string) *SendRequest {
	return &SendRequest{Product: "shop", Env: "prd", Notification: "orders:confirmation", Cache: cache, Input: json.RawMessage(`{"body":{}}`)}
}

// A caller that hangs up does not decide the outcome: with its context
// already cancelled, the send is still written and queued, and the answer
// is the real one.
func TestAcceptDetachedFromCaller(t *testing.T) {
	p, store, q := acceptEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sent, err := p.Send(ctx, "acme", "callback", sendReq("c-1"), Options{})
	require.NoError(t, err)
	require.Equal(t, "pending", sent.Status)
	has, err := q.HasJob(context.Background(), "callback", "acme", sent.MessageID)
	require.NoError(t, err)
	require.True(t, has, "the job was published although the caller had left")
	again, err := p.Send(context.Background(), "acme", "callback", sendReq("c-1"), Options{})
	require.NoError(t, err)
	require.True(t, again.Deduplicated)
	require.Equal(t, sent.MessageID, again.MessageID, "a retry with the same cache tag gets the same message")
	e, err := store.Get(context.Background(), "acme", sent.MessageID)
	require.NoError(t, err)
	require.Equal(t, "pending", e.Status)
}

// A publish whose outcome is unknown abandons the message only if no
// worker has it: then 503, the entry failed with UNAVAILABLE and the cache
// tag released; if a worker holds it (the job did reach JetStream), the
// answer is the message's status, accepted.
func TestAbandonUnknownPublish(t *testing.T) {
	p, store, _ := acceptEnv(t)
	ctx := context.Background()
	mk := func(id, cache string) *queue.Job {
		_, err := store.Create(ctx, &logstore.NewEntry{ID: id, Workspace: "acme", ProductTag: "shop", Env: "prd", NotificationTag: "orders",
			Notification: "orders:confirmation", Type: "callback", TriggeredBy: "api", Retries: 3, Input: json.RawMessage(`{}`), Cache: cache, CacheKey: cache})
		require.NoError(t, err)
		return &queue.Job{Workspace: "acme", ID: id, Channel: "callback"}
	}
	cause := errors.New("publish timed out")

	j := mk("01M8C63J0XKDYK4VJMMCXFBSZD", "tag-a")
	_, err := p.abandon(ctx, j, "tag-a", cause, "nothing was sent")
	var ue *UnavailableError
	require.ErrorAs(t, err, &ue)
	e, err := store.Get(ctx, "acme", j.ID)
	require.NoError(t, err)
	require.Equal(t, "failed", e.Status)
	require.Equal(t, "UNAVAILABLE", e.ErrorCode)
	sent, err := p.Send(ctx, "acme", "callback", sendReq("tag-a"), Options{})
	require.NoError(t, err)
	require.False(t, sent.Deduplicated, "the abandoned send's tag was released: a retry is a new message")

	j = mk("01M8C63J0XKDYK4VJMMCXFBSZE", "tag-b")
	cl, err := store.Claim(ctx, logstore.ClaimRecord{Workspace: "acme", ID: j.ID, Attempt: 0, Token: "w", Lease: time.Minute})
	require.NoError(t, err)
	require.Equal(t, logstore.ClaimOK, cl.Verdict)
	status, err := p.abandon(ctx, j, "tag-b", cause, "nothing was sent")
	require.NoError(t, err, "a worker has it: accepted")
	require.Equal(t, "pending", status)
	e, err = store.Get(ctx, "acme", j.ID)
	require.NoError(t, err)
	require.Equal(t, "pending", e.Status)
}
