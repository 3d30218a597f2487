package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/internal/testutil"
)

// On a three-node JetStream cluster with stream_replicas: 3, the stream
// has three replicas; when its leader's node dies, a new leader is
// elected, sends are still accepted (a client retries the 503s of the
// election) and everything is delivered, without restarting Herald.
func TestNATSClusterR3SurvivesANode(t *testing.T) {
	c := testutil.StartNATSCluster(t, 3)
	rc := apptest.NewReceiver(t)
	yaml := strings.Replace(apptest.Config(rc.URL), `nats: { listen: "127.0.0.1:-1", ack_wait: 2s }`,
		`nats: { ack_wait: 2s, stream_replicas: 3 }`, 1)
	env := map[string]string{"HERALD_NATS_URL": c.URL}
	prod := apptest.Start(t, apptest.Options{YAML: yaml, Role: app.RoleProducer, Env: env,
		AppOpts: func(o *app.Options) { o.Embedded = false }})
	apptest.Start(t, apptest.Options{YAML: yaml, Role: app.RoleWorker, Env: env, Redis: prod.Redis,
		AppOpts: func(o *app.Options) { o.Embedded = false }})

	ctx := context.Background()
	s, err := prod.App.JetStream().Stream(ctx, queue.StreamSend)
	require.NoError(t, err)
	si, err := s.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, si.Config.Replicas)
	require.NotNil(t, si.Cluster)
	require.Len(t, si.Cluster.Replicas, 2, "a leader and two followers")

	var ids []string
	for i := range 20 {
		ids = append(ids, prod.SendCallback(fmt.Sprintf("before-%d", i), nil))
	}
	for _, id := range ids {
		prod.WaitStatus(id, "sent", 15*time.Second)
	}

	leader := c.Server(si.Cluster.Leader)
	require.NotNil(t, leader, "leader %q", si.Cluster.Leader)
	leader.Shutdown()
	leader.WaitForShutdown()
	t.Logf("stream leader %s stopped", si.Cluster.Leader)

	// Sends go on: a 503 while the remaining two elect a leader is retried,
	// as a client would (the cache tag keeps the retry idempotent).
	var after []string
	for i := range 50 {
		body := map[string]any{
			"product": "shop", "env": "prd", "notification": "orders:confirmation", "cache": fmt.Sprintf("after-%d", i),
			"input": map[string]any{"params": map[string]any{"id": fmt.Sprintf("after-%d", i)}},
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := prod.Do("POST", "/v1/notifications/callback/send", apptest.KeyAcme, body)
			if r.Status == http.StatusAccepted || r.Status == http.StatusOK {
				after = append(after, r.JSON()["messageId"].(string))
				break
			}
			require.Equal(t, http.StatusServiceUnavailable, r.Status, string(r.Body))
			require.True(t, time.Now().Before(deadline), "sends are accepted again after the election")
			time.Sleep(100 * time.Millisecond)
		}
	}
	for i, id := range after {
		prod.WaitStatus(id, "sent", 30*time.Second)
		require.GreaterOrEqual(t, rc.Count(fmt.Sprintf("/orders/after-%d", i)), 1)
	}
	si, err = s.Info(ctx)
	require.NoError(t, err)
	require.NotEqual(t, leader.Name(), si.Cluster.Leader, "a new leader")
}
