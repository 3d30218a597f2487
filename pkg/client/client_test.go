package client_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/pkg/client"
)

func failing(path string) bool { return strings.HasPrefix(path, "/orders/fail-") }

func TestNew(t *testing.T) {
	_, err := client.New("ftp://x", "k")
	require.Error(t, err)
	_, err = client.New("http://127.0.0.1:1", "")
	require.Error(t, err)
}

func TestErrorsMatchCodes(t *testing.T) {
	ctx := context.Background()
	bad := mustClient("hk_nope")
	_, err := bad.ListMessages(ctx, client.MessageQuery{})
	require.ErrorIs(t, err, client.ErrUnauthenticated)
	read := mustClient(apptest.KeyAcmeRead)
	_, err = read.Send(ctx, client.Callback, client.SendRequest{Product: "shop", Env: "prd", Notification: "orders:confirmation"})
	require.ErrorIs(t, err, client.ErrPermissionDenied)
	var apiErr *client.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusForbidden, apiErr.StatusCode)
	require.NotEmpty(t, apiErr.RequestID)

	c := mustClient(apptest.KeyAcme)
	_, err = c.GetMessage(ctx, ids.New(time.Now().Add(-200*24*time.Hour)))
	require.ErrorIs(t, err, client.ErrRetentionExpired)
	_, err = c.Send(ctx, client.Callback, client.SendRequest{Product: "shop", Env: "prd", Notification: "orders:confirmation",
		Input: client.CallbackInput{Params: map[string]any{"id": "x"}, Body: strings.Repeat("a", 2<<20)}})
	require.ErrorIs(t, err, client.ErrPayloadTooLarge)
	page, err := c.ListMessages(ctx, client.MessageQuery{Limit: 500})
	require.NoError(t, err)
	require.Equal(t, 200, page.Limit, "a limit above the maximum is clamped, and the page says so")
	_, err = c.ListMessages(ctx, client.MessageQuery{MessageFilter: client.MessageFilter{Env: "not an env"}})
	require.ErrorIs(t, err, client.ErrInvalidArgument)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "env", apiErr.Field)
	require.False(t, client.IsRetryable(err))
}

func TestSendMultiAndSendLogs(t *testing.T) {
	ctx := context.Background()
	c := mustClient(apptest.KeyAcme)
	res, err := c.SendMulti(ctx, client.MultiSendRequest{Product: "shop", Env: "prd", Event: "orders",
		Input: client.MultiInput{Callback: &client.CallbackInput{Params: map[string]any{"id": "MS-1"}}}})
	require.NoError(t, err)
	require.True(t, res.Success)
	cb := res.Channels[client.Callback]
	require.True(t, cb.Success)
	waitFor(c, cb.MessageID)

	sl, err := c.GetSendLog(ctx, res.ProcessID, true)
	require.NoError(t, err)
	require.Equal(t, res.ProcessID, sl.ID)
	require.Equal(t, []string{server.Receiver.URL + "/orders/MS-1"}, sl.DestinationList())
	require.Equal(t, 1, sl.DestinationCount())
	require.Equal(t, "api", sl.TriggeredBy)
	found, err := c.SearchSendLogs(ctx, client.SendLogSearch{From: time.Now().Add(-time.Hour), Limit: 1000})
	require.NoError(t, err)
	require.GreaterOrEqual(t, found.Total, int64(1))
	_, err = c.GetSendLog(ctx, "prc_"+ids.New(time.Now()), false)
	require.ErrorIs(t, err, client.ErrNotFound)

	// Nothing acceptable: the error, and the per-channel results too.
	res, err = c.SendMulti(ctx, client.MultiSendRequest{Product: "shop", Env: "prd", Event: "orders",
		Input: client.MultiInput{Callback: &client.CallbackInput{}}})
	require.ErrorIs(t, err, client.ErrInvalidArgument)
	require.NotNil(t, res)
	require.False(t, res.Channels[client.Callback].Success)
	require.Equal(t, "input.callback.params.id", res.Channels[client.Callback].Error.Field)
}

func TestFixingFailures(t *testing.T) {
	ctx := context.Background()
	c := mustClient(apptest.KeyAcme)
	healthy := make(chan struct{})
	server.Receiver.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		select {
		case <-healthy:
		default:
			if failing(r.URL.Path) {
				w.WriteHeader(http.StatusNotFound)
			}
		}
	})
	t.Cleanup(func() { server.Receiver.SetRespond(nil) })
	var failed []string
	for _, id := range []string{"fail-1", "fail-2", "fail-3"} {
		res, err := c.Send(ctx, client.Callback, client.SendRequest{Product: "shop", Env: "prd", Notification: "orders:confirmation",
			Input: client.CallbackInput{Params: map[string]any{"id": id}}})
		require.NoError(t, err)
		require.Equal(t, client.StatusFailed, waitFor(c, res.MessageID).Status)
		failed = append(failed, res.MessageID)
	}
	m, err := c.GetMessage(ctx, failed[0])
	require.NoError(t, err)
	require.Equal(t, "DELIVERY_ERROR", *m.ErrorCode)

	var atts []*client.Attempt
	for a, err := range c.Attempts(ctx, failed[0]) {
		require.NoError(t, err)
		atts = append(atts, a)
	}
	require.Len(t, atts, 1)
	require.Equal(t, 404, *atts[0].ResponseCode)

	page, err := c.ListUndelivered(ctx, client.UndeliveredQuery{Limit: 2, EventType: "orders"})
	require.NoError(t, err)
	require.GreaterOrEqual(t, page.TotalCount, 3)
	require.Len(t, page.Elements, 2)
	require.NotEmpty(t, page.Cursor)
	require.Equal(t, "DELIVERY_ERROR", page.Elements[0].Error.Code)
	page, err = c.ListUndelivered(ctx, client.UndeliveredQuery{Limit: 11, From: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	require.Equal(t, 10, page.Limit, "more than 10 is taken as 10")
	require.GreaterOrEqual(t, page.TotalCount, 3)
	_, err = c.ListUndelivered(ctx, client.UndeliveredQuery{EventType: "not a tag"})
	var gqlErr *client.GraphQLError
	require.ErrorAs(t, err, &gqlErr)
	require.Equal(t, "filters.eventType", gqlErr.Extensions["field"])

	_, err = c.SetStatus(ctx, failed[0], client.StatusSent, "")
	require.ErrorIs(t, err, client.ErrConflict)

	dry, err := c.ReprocessMatching(ctx, client.BulkReprocess{MessageFilter: client.MessageFilter{Env: "prd", Start: time.Now().Add(-time.Minute)}, DryRun: true})
	require.NoError(t, err)
	require.GreaterOrEqual(t, dry.Matched, int64(3))
	require.Zero(t, dry.Reprocessed)

	close(healthy)
	r, err := c.Reprocess(ctx, failed[0])
	require.NoError(t, err)
	require.Equal(t, client.StatusReprocessing, r.Status)
	require.Equal(t, client.StatusSent, waitFor(c, failed[0]).Status)
	_, err = c.Reprocess(ctx, failed[0])
	require.NoError(t, err, "a sent message may be sent again")
	waitFor(c, failed[0])

	bulk, err := c.ReprocessMatching(ctx, client.BulkReprocess{MessageFilter: client.MessageFilter{Env: "prd", Start: time.Now().Add(-time.Minute)}})
	require.NoError(t, err)
	require.GreaterOrEqual(t, bulk.Reprocessed, int64(2))
	for _, id := range failed {
		m := waitFor(c, id)
		require.Equal(t, client.StatusSent, m.Status)
		require.Equal(t, "reprocess", m.TriggeredBy)
	}
	mm, err := c.SetStatus(ctx, failed[1], client.StatusReprocessing, "")
	require.NoError(t, err)
	require.Contains(t, []string{client.StatusReprocessing, client.StatusSent}, mm.Status)
}

func TestJobs(t *testing.T) {
	ctx := context.Background()
	c := mustClient(apptest.KeyAcme)
	var ids []string
	for range 3 {
		job, err := c.Dispatch(ctx, client.DispatchRequest{Product: "shop", Env: "prd", Event: "orders",
			Input:    client.MultiInput{Callback: &client.CallbackInput{Params: map[string]any{"id": "jobs"}}},
			Schedule: client.Schedule{Every: time.Hour, Limit: 5}})
		require.NoError(t, err)
		require.NotNil(t, job.NextRunAt)
		ids = append(ids, job.JobID)
	}
	_, err := c.Dispatch(ctx, client.DispatchRequest{Product: "shop", Env: "prd", Event: "orders",
		Input: client.MultiInput{Callback: &client.CallbackInput{Params: map[string]any{"id": "x"}}}, Schedule: client.Schedule{Every: time.Millisecond}})
	var apiErr *client.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "schedule.every", apiErr.Field)
	_, err = c.PauseJob(ctx, ids[0])
	require.NoError(t, err)
	var seen []string
	for j, err := range c.Jobs(ctx, client.JobPaused) {
		require.NoError(t, err)
		seen = append(seen, j.JobID)
	}
	require.Contains(t, seen, ids[0])
	require.NotContains(t, seen, ids[1])
	j, err := c.GetJob(ctx, ids[1])
	require.NoError(t, err)
	require.Equal(t, int64(3600000), *j.Schedule.Every)
	_, err = mustClient(apptest.KeyGlobex).GetJob(ctx, ids[1])
	require.ErrorIs(t, err, client.ErrNotFound)
}
