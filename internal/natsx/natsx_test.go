package natsx_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/internal/natsx"
	"github.com/heraldhq/herald/internal/queue"
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

// Adding the first ingest user moves Herald into its own account; the
// streams of the embedded server move with it (and back when the last user
// is removed), so queued jobs survive the change.
func TestEmbeddedStreamsFollowHeraldsAccount(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	users := []natsx.User{{Name: "acme-svc", Password: "pw", Workspace: "acme"}}
	start := func(users []natsx.User) (*nats.Conn, jetstream.JetStream, func()) {
		ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{Listen: "127.0.0.1:-1", DataDir: dir, Users: users})
		require.NoError(t, err)
		nc, err := natsx.Connect("", ns, "test", zap.NewNop())
		require.NoError(t, err)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		return nc, js, func() { nc.Close(); ns.Shutdown(); ns.WaitForShutdown() }
	}
	msgs := func(js jetstream.JetStream) uint64 {
		s, err := js.Stream(ctx, queue.StreamSend)
		require.NoError(t, err)
		return s.CachedInfo().State.Msgs
	}

	_, js, stop := start(nil)
	require.NoError(t, queue.New(js, queue.Config{}).Ensure(ctx))
	_, err := js.Publish(ctx, queue.Subject("callback", "acme", "01J00000000000000000000000"), []byte("job"))
	require.NoError(t, err)
	stop()

	nc, js, stop := start(users)
	require.True(t, nc.AuthRequired())
	require.EqualValues(t, 1, msgs(js), "the queued job moved to the HERALD account")
	_, err = nats.Connect(nc.ConnectedUrl(), nats.UserInfo(natsx.InternalUser, "guess"))
	require.Error(t, err)
	stop()

	_, js, stop = start(nil)
	defer stop()
	require.EqualValues(t, 1, msgs(js), "and back to the global account")
}

// The ingest connection may publish only replies to requests it got: a
// publish anywhere else is refused by the server.
func TestEmbeddedIngestUserPublishesOnlyReplies(t *testing.T) {
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{Listen: "127.0.0.1:-1", DataDir: t.TempDir(),
		Users: []natsx.User{{Name: "acme-svc", Password: "pw", Workspace: "acme"}}})
	require.NoError(t, err)
	t.Cleanup(ns.Shutdown)
	errs := make(chan error, 10)
	in, err := natsx.ConnectIngest("", ns, "ingest", zap.NewNop())
	require.NoError(t, err)
	defer in.Close()
	in.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err })
	_, err = in.Subscribe("herald.in.*.send", func(m *nats.Msg) {
		_ = m.Respond([]byte("ok"))
		_ = m.Respond([]byte("twice")) // one reply per request
		_ = in.Publish(queue.Subject("callback", "acme", "x"), []byte("forged"))
	})
	require.NoError(t, err)
	require.NoError(t, in.Flush())

	internal, err := natsx.Connect("", ns, "spy", zap.NewNop())
	require.NoError(t, err)
	defer internal.Close()
	jobs, err := internal.SubscribeSync("herald.send.>")
	require.NoError(t, err)
	require.NoError(t, internal.Flush())

	svc, err := nats.Connect(ns.ClientURL(), nats.UserInfo("acme-svc", "pw"))
	require.NoError(t, err)
	defer svc.Close()
	inbox := nats.NewInbox()
	replies, err := svc.SubscribeSync(inbox)
	require.NoError(t, err)
	require.NoError(t, svc.PublishRequest("herald.in.acme.send", inbox, []byte("{}")))
	m, err := replies.NextMsg(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "ok", string(m.Data))
	select {
	case err := <-errs:
		require.ErrorContains(t, err, "Permissions Violation")
	case <-time.After(5 * time.Second):
		t.Fatal("the forged publish was not refused")
	}
	_, err = replies.NextMsg(200 * time.Millisecond)
	require.ErrorIs(t, err, nats.ErrTimeout, "a second reply is refused")
	_, err = jobs.NextMsg(200 * time.Millisecond)
	require.ErrorIs(t, err, nats.ErrTimeout, "no job was written")
}
