package natsx_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/natsx"
	"github.com/heraldhq/herald/internal/testutil"
)

func connect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

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
	t.Run("cluster", func(t *testing.T) {
		c := testutil.StartNATSCluster(t, 3)
		js := connect(t, c.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		require.NoError(t, natsx.EnsureStreams(ctx, js, natsx.StreamConfig{Replicas: 1, DuplicateWindow: 2 * time.Minute}))
		require.Equal(t, 1, replicas(t, js, natsx.StreamSend))
		require.NoError(t, natsx.EnsureStreams(ctx, js, natsx.StreamConfig{Replicas: 3, DuplicateWindow: 2 * time.Minute}), "R1 -> R3 on a running cluster")
		require.Equal(t, 3, replicas(t, js, natsx.StreamSend))
		require.Equal(t, 3, replicas(t, js, natsx.StreamDispatch))
		require.NoError(t, natsx.EnsureStreams(ctx, js, natsx.StreamConfig{Replicas: 3, DuplicateWindow: 2 * time.Minute}), "idempotent")
		err := natsx.EnsureStreams(ctx, js, natsx.StreamConfig{Replicas: 5, DuplicateWindow: 2 * time.Minute})
		require.Error(t, err, "five replicas on three servers")
		require.ErrorContains(t, err, "changing replicas from 3 to 5 (nats.stream_replicas) was refused")
		require.Equal(t, 3, replicas(t, js, natsx.StreamSend), "the stream is unchanged")
	})
	t.Run("single server", func(t *testing.T) {
		ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{Listen: "127.0.0.1:-1", DataDir: t.TempDir()})
		require.NoError(t, err)
		t.Cleanup(ns.Shutdown)
		js := connect(t, ns.ClientURL())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = natsx.EnsureStreams(ctx, js, natsx.StreamConfig{Replicas: 3, DuplicateWindow: 2 * time.Minute})
		require.ErrorContains(t, err, "3 replicas (nats.stream_replicas)")
		require.ErrorContains(t, err, "a single server supports only 1")
		require.NoError(t, natsx.EnsureStreams(ctx, js, natsx.StreamConfig{Replicas: 1, DuplicateWindow: 2 * time.Minute}))
		err = natsx.EnsureStreams(ctx, js, natsx.StreamConfig{Replicas: 3, DuplicateWindow: 2 * time.Minute})
		require.ErrorContains(t, err, "changing replicas from 1 to 3 (nats.stream_replicas) was refused")
	})
}
