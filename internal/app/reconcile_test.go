package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/worker"
)

// A publish lost on purpose (the entry is written, the job never queued, as
// when a producer dies between the two) is found and republished; a
// message whose job is merely queued is left alone.
func TestReconcilerRepublishesLostJobs(t *testing.T) {
	rc := apptest.NewReceiver(t)
	prod := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), Role: app.RoleProducer})
	ctx := context.Background()
	queued := prod.SendCallback("REC-queued", nil) // no worker yet: its job waits in the stream

	store := logstore.New(prod.Redis.Client, logstore.Config{})
	lost := ids.New(time.Now())
	_, err := store.Create(ctx, &logstore.NewEntry{ID: lost, Workspace: "acme", ProductID: "prod_shop", ProductTag: "shop",
		Env: "prd", NotificationTag: "orders", Notification: "orders:confirmation", Type: "callback", TriggeredBy: "api",
		Retries: 3, Input: json.RawMessage(`{"params":{"id":"REC-lost"}}`), Head: true})
	require.NoError(t, err)

	r := &worker.Reconciler{Store: store, Queue: prod.App.Queue(), After: 300 * time.Millisecond}
	n, err := r.RunOnce(ctx, "acme")
	require.NoError(t, err)
	require.Zero(t, n, "nothing is done on a Redis the ledger has not vouched for")
	vouched, err := store.Vouch(ctx, "acme", logstore.Counters{}, time.Minute)
	require.NoError(t, err)
	require.True(t, vouched)
	n, err = r.RunOnce(ctx, "acme")
	require.NoError(t, err)
	require.Zero(t, n, "nothing is old enough yet")
	time.Sleep(400 * time.Millisecond)
	n, err = r.RunOnce(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, 1, n, "only the lost one: the queued one has its job")
	n, err = r.RunOnce(ctx, "acme")
	require.NoError(t, err)
	require.Zero(t, n, "now it has a job too")
	st, err := prod.App.JetStream().Stream(ctx, queue.StreamSend)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, info.State.Msgs)

	// A worker delivers both, each once.
	yaml := strings.Replace(apptest.Config(rc.URL), "retries: 3", "retries: 3\n  reconcile_after: 1s", 1)
	apptest.Start(t, apptest.Options{YAML: yaml, Role: app.RoleWorker, Redis: prod.Redis,
		Env:     map[string]string{"HERALD_NATS_URL": prod.App.NATSURL()},
		AppOpts: func(o *app.Options) { o.Embedded = false }})
	prod.WaitStatus(queued, "sent", 10*time.Second)
	prod.WaitStatus(lost, "sent", 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // the worker's own reconciler has run by now
	require.Equal(t, 1, rc.Count("/orders/REC-lost"))
	require.Equal(t, 1, rc.Count("/orders/REC-queued"))
}
