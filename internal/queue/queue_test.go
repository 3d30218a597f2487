package queue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/internal/testutil"
)

func replicas(t *testing.T, js jetstream.JetStream, name string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	require.NoError(t, err)
	return s.CachedInfo().Config.Replicas
}

// nats.stream_replicas is applied when the streams are created and when
// it changes on existing streams (a cluster moves them to more peers, and
// back); a single server refuses more than one replica with an error
// naming the setting.
func TestStreamReplicas(t *testing.T) {
	cfg := func(n int) queue.Config { return queue.Config{Replicas: n, DuplicateWindow: 2 * time.Minute} }
	t.Run("cluster", func(t *testing.T) {
		c := testutil.StartNATSCluster(t, 3)
		_, js := testutil.JetStream(t, c.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		require.NoError(t, queue.New(js, cfg(1)).Ensure(ctx))
		require.Equal(t, 1, replicas(t, js, queue.StreamSend))
		require.NoError(t, queue.New(js, cfg(3)).Ensure(ctx), "R1 -> R3 on a running cluster")
		require.Equal(t, 3, replicas(t, js, queue.StreamSend))
		require.Equal(t, 3, replicas(t, js, queue.StreamDispatch))
		require.NoError(t, queue.New(js, cfg(3)).Ensure(ctx), "idempotent")
		err := queue.New(js, cfg(5)).Ensure(ctx)
		require.Error(t, err, "five replicas on three servers")
		require.ErrorContains(t, err, "changing replicas from 3 to 5 (nats.stream_replicas) was refused")
		require.Equal(t, 3, replicas(t, js, queue.StreamSend), "the stream is unchanged")
	})
	t.Run("single server", func(t *testing.T) {
		ns := testutil.StartNATS(t)
		_, js := testutil.JetStream(t, ns.ClientURL())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := queue.New(js, cfg(3)).Ensure(ctx)
		require.ErrorContains(t, err, "3 replicas (nats.stream_replicas)")
		require.ErrorContains(t, err, "a single server supports only 1")
		require.NoError(t, queue.New(js, cfg(1)).Ensure(ctx))
		err = queue.New(js, cfg(3)).Ensure(ctx)
		require.ErrorContains(t, err, "changing replicas from 1 to 3 (nats.stream_replicas) was refused")
	})
}

func testJob(id string) *queue.Job {
	return &queue.Job{Workspace: "acme", ID: id, Channel: "callback", Product: "shop", Env: "prd",
		Notification: "orders:confirmation", Input: json.RawMessage(`{"body":{}}`)}
}

func streamMsgs(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), queue.StreamSend)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

// Publish reports whether JetStream stored the job (the ack's duplicate
// flag): the same attempt published twice is stored once, and the next
// attempt of the same message is a new job.
func TestPublishReportsStored(t *testing.T) {
	ns := testutil.StartNATS(t)
	_, js := testutil.JetStream(t, ns.ClientURL())
	ctx := context.Background()
	q := queue.New(js, queue.Config{})
	require.NoError(t, q.Ensure(ctx))

	j := testJob("01M8C63J0XKDYK4VJMMCXFBSZD")
	stored, err := q.Publish(ctx, j)
	require.NoError(t, err)
	require.True(t, stored)
	stored, err = q.Publish(ctx, j)
	require.NoError(t, err)
	require.False(t, stored, "a second publish of the same attempt is a duplicate")
	require.EqualValues(t, 1, streamMsgs(t, js))

	has, err := q.HasJob(ctx, "callback", "acme", j.ID)
	require.NoError(t, err)
	require.True(t, has)
	has, err = q.HasJob(ctx, "callback", "acme", "01M8C63J0XKDYK4VJMMCXFBSZE")
	require.NoError(t, err)
	require.False(t, has)

	j.Attempt, j.Due = 1, time.Now().UnixMilli()
	stored, err = q.Publish(ctx, j)
	require.NoError(t, err)
	require.True(t, stored, "the retry is another job")
	j.Due++
	stored, err = q.Publish(ctx, j)
	require.NoError(t, err)
	require.True(t, stored, "a deferral (same attempt, new due time) is another job")
}

// A stream deleted under a running process (a wiped store, an operator's
// mistake) is recreated by the next publish, which then succeeds; /readyz's
// check fails while it is missing; a consumer can be made again.
func TestPublishHealsMissingStream(t *testing.T) {
	ns := testutil.StartNATS(t)
	_, js := testutil.JetStream(t, ns.ClientURL())
	ctx := context.Background()
	q := queue.New(js, queue.Config{})
	require.NoError(t, q.Ensure(ctx))
	require.NoError(t, q.Ready(ctx))

	require.NoError(t, js.DeleteStream(ctx, queue.StreamSend))
	require.ErrorContains(t, q.Ready(ctx), "missing")
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stored, err := q.Publish(pctx, testJob("01M8C63J0XKDYK4VJMMCXFBSZD"))
	require.NoError(t, err)
	require.True(t, stored)
	require.NoError(t, q.Ready(ctx))
	require.EqualValues(t, 1, streamMsgs(t, js))

	require.NoError(t, js.DeleteStream(ctx, queue.StreamSend))
	cons, err := q.Consumer(ctx, queue.ConsumerSpec{Channel: "callback", Workspace: "acme", AckWait: time.Second, MaxAckPending: 10})
	require.NoError(t, err, "a consumer of a missing stream recreates the stream")
	require.Equal(t, "herald-callback-acme", cons.CachedInfo().Name)
}

// Keep recreates a deleted stream by itself, with no publish to find it.
func TestKeepHealsIdleRole(t *testing.T) {
	ns := testutil.StartNATS(t)
	_, js := testutil.JetStream(t, ns.ClientURL())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := queue.New(js, queue.Config{})
	require.NoError(t, q.Ensure(ctx))
	go q.Keep(ctx, 50*time.Millisecond)
	require.NoError(t, js.DeleteStream(ctx, queue.StreamSend))
	require.NoError(t, js.DeleteKeyValue(ctx, queue.LedgerBucket))
	require.Eventually(t, func() bool {
		_, _, _, err := q.LoadCheckpoint(ctx, "acme")
		return q.Ready(ctx) == nil && err == nil
	}, 10*time.Second, 20*time.Millisecond)
}

// Per-workspace consumers replace the per-channel consumer of earlier
// versions, whose filter overlaps theirs (a work-queue stream allows one
// consumer per subject): it is retired, and the messages it had not
// delivered go to the workspace's consumer.
func TestConsumerRetiresLegacyConsumer(t *testing.T) {
	ns := testutil.StartNATS(t)
	_, js := testutil.JetStream(t, ns.ClientURL())
	ctx := context.Background()
	q := queue.New(js, queue.Config{})
	require.NoError(t, q.Ensure(ctx))
	_, err := js.CreateOrUpdateConsumer(ctx, queue.StreamSend, jetstream.ConsumerConfig{
		Durable: "herald-callback", FilterSubject: "herald.send.callback.>", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	_, err = q.Publish(ctx, testJob("01M8C63J0XKDYK4VJMMCXFBSZD"))
	require.NoError(t, err)

	cons, err := q.Consumer(ctx, queue.ConsumerSpec{Channel: "callback", Workspace: "acme", AckWait: time.Second, MaxAckPending: 10})
	require.NoError(t, err)
	_, err = js.Consumer(ctx, queue.StreamSend, "herald-callback")
	require.ErrorIs(t, err, jetstream.ErrConsumerNotFound)
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	require.NoError(t, err)
	n := 0
	for m := range batch.Messages() {
		j, err := queue.Decode(m.Data())
		require.NoError(t, err)
		require.Equal(t, "01M8C63J0XKDYK4VJMMCXFBSZD", j.ID)
		n++
	}
	require.Equal(t, 1, n)

	infos, err := q.Consumers(ctx)
	require.NoError(t, err)
	require.Len(t, infos, 1)
	require.Equal(t, "herald-callback-acme", infos[0].Name)
}

func TestCheckpointRoundTrip(t *testing.T) {
	ns := testutil.StartNATS(t)
	_, js := testutil.JetStream(t, ns.ClientURL())
	ctx := context.Background()
	q := queue.New(js, queue.Config{})
	require.NoError(t, q.Ensure(ctx))
	_, _, ok, err := q.LoadCheckpoint(ctx, "acme")
	require.NoError(t, err)
	require.False(t, ok)
	at := time.UnixMilli(time.Now().UnixMilli())
	require.NoError(t, q.SaveCheckpoint(ctx, "acme", queue.Checkpoint{Seq: 12, Records: 34, At: at}))
	c, prev, ok, err := q.LoadCheckpoint(ctx, "acme")
	require.NoError(t, err)
	require.True(t, ok)
	require.Nil(t, prev)
	require.Equal(t, queue.Checkpoint{Seq: 12, Records: 34, At: at}, c)
	for i := range 3 {
		require.NoError(t, q.SaveCheckpoint(ctx, "acme", queue.Checkpoint{Seq: 20 + int64(i), Records: 40, At: at.Add(time.Second)}))
	}
	c, prev, ok, err = q.LoadCheckpoint(ctx, "acme")
	require.NoError(t, err)
	require.True(t, ok)
	require.EqualValues(t, 22, c.Seq)
	require.NotNil(t, prev)
	require.EqualValues(t, 21, prev.Seq, "the one before, kept by the bucket's history")

	// A read that cannot complete is an error, never "no checkpoint yet":
	// the ledger would save a rolled-back Redis's counters over it.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	_, _, ok, err = q.LoadCheckpoint(gone, "acme")
	require.Error(t, err)
	require.False(t, ok)
	ns.Shutdown()
	short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	_, _, _, err = q.LoadCheckpoint(short, "acme")
	require.Error(t, err, "JetStream down: an error, not found=false")
}
