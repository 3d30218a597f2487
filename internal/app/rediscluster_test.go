package app_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/internal/testutil"
)

// Herald on a Redis Cluster of three masters (redis_url redis+cluster://):
// sends of two workspaces (on different slots), deliveries, queries with
// filters and cursors, transitions and reprocessing, a multi-channel send
// (process sets), send logs, GraphQL and the janitor's trim all work; each
// workspace's keys live on one master.
func TestRedisClusterEndToEnd(t *testing.T) {
	rcl := testutil.StartRedisCluster(t)
	rc := apptest.NewReceiver(t)
	var failing atomic.Bool
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if failing.Load() && r.URL.Path == "/orders/RC-F" {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), Env: map[string]string{"HERALD_REDIS_URL": rcl.URL}})

	var acme []string
	for _, id := range []string{"RC-1", "RC-2", "RC-3"} {
		acme = append(acme, h.SendCallback(id, map[string]any{"cache": "c-" + id}))
	}
	for _, id := range acme {
		h.WaitStatus(id, "sent", 15*time.Second)
	}
	r := h.Do("POST", "/v1/notifications/callback/send", apptest.KeyGlobex, map[string]any{
		"product": "shop", "env": "prd", "notification": "orders:confirmation", "input": map[string]any{"params": map[string]any{"id": "G-1"}}})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	globex := r.JSON()["messageId"].(string)
	require.Eventually(t, func() bool {
		return h.Message(apptest.KeyGlobex, globex)["status"] == "sent"
	}, 15*time.Second, 20*time.Millisecond)

	// Deduplication by cache tag (the cache key is one of the script's keys).
	r = h.Do("POST", "/v1/notifications/callback/send", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "notification": "orders:confirmation", "cache": "c-RC-1",
		"input": map[string]any{"params": map[string]any{"id": "RC-1"}}})
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, acme[0], r.JSON()["messageId"])

	// Queries: totals, filters, a cursor; isolation.
	q := h.Do("GET", "/v1/messages?status=sent&type=callback&limit=2", apptest.KeyAcme, nil).JSON()
	require.EqualValues(t, 3, q["total"])
	require.Len(t, q["items"], 2)
	next := h.Do("GET", "/v1/messages?status=sent&type=callback&limit=2&cursor="+q["next_cursor"].(string), apptest.KeyAcme, nil).JSON()
	require.Len(t, next["items"], 1)
	require.EqualValues(t, 1, h.Do("GET", "/v1/messages", apptest.KeyGlobex, nil).JSON()["total"])

	// A failure, a transition by hand and a reprocess.
	failing.Store(true)
	failed := h.SendCallback("RC-F", nil)
	h.WaitStatus(failed, "failed", 15*time.Second)
	failing.Store(false)
	r = h.Do("PATCH", "/v1/messages/"+failed, apptest.KeyAcme, map[string]any{"status": "reprocessing"})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	e := h.WaitStatus(failed, "sent", 15*time.Second)
	require.EqualValues(t, 2, e["attempts"])
	require.EqualValues(t, 1, e["reprocess_count"])
	r = h.Do("PATCH", "/v1/messages/"+acme[1], apptest.KeyAcme, map[string]any{"status": "failed"})
	require.Equal(t, http.StatusConflict, r.Status, "sent -> failed is refused")

	// A multi-channel send: its process set, its send log.
	r = h.Do("POST", "/v1/notifications/send", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "event": "orders",
		"input": map[string]any{"callback": map[string]any{"params": map[string]any{"id": "RC-M"}}}})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	pid := r.JSON()["process_id"].(string)
	mid := r.JSON()["channels"].(map[string]any)["callback"].(map[string]any)["messageId"].(string)
	h.WaitStatus(mid, "sent", 15*time.Second)
	require.EqualValues(t, 1, h.Do("GET", "/v1/messages?process_id="+pid, apptest.KeyAcme, nil).JSON()["total"])
	sl := h.Do("GET", "/v1/send-logs/"+pid, apptest.KeyAcme, nil)
	require.Equal(t, http.StatusOK, sl.Status, string(sl.Body))
	gq := h.Do("POST", "/graphql", apptest.KeyAcme, map[string]any{"query": `{ undeliveredNotifications(limit: 5, filters: {}) { totalCount } }`})
	require.Equal(t, http.StatusOK, gq.Status, string(gq.Body))
	require.NotContains(t, string(gq.Body), `"errors"`)

	// The janitor's trim runs on the cluster client (nothing expired yet).
	_, err := h.App.Store().Trim(context.Background(), "acme")
	require.NoError(t, err)

	// Every key of a workspace is on one master.
	ctx := context.Background()
	var perMasterMu sync.Mutex // ForEachMaster runs concurrently
	perMaster := map[string]map[string]int{}
	require.NoError(t, rcl.Client.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		keys, err := c.Keys(ctx, "herald:*").Result()
		if err != nil {
			return err
		}
		m := map[string]int{}
		for _, k := range keys {
			m[k[:len("herald:{acme}")]]++
		}
		perMasterMu.Lock()
		perMaster[c.Options().Addr] = m
		perMasterMu.Unlock()
		return nil
	}))
	holders := map[string]int{}
	for _, m := range perMaster {
		for ws := range m {
			holders[ws]++
		}
	}
	for ws, n := range holders {
		require.Equal(t, 1, n, "%s keys on %d masters", ws, n)
	}
	require.Equal(t, http.StatusOK, h.Do("GET", "/readyz", "", nil).Status)
}
