package natsx_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/internal/natsx"
)

// The embedded server starts with JetStream on, and Connect reaches it in
// process.
func TestEmbeddedConnect(t *testing.T) {
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{Listen: "127.0.0.1:-1", DataDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(ns.Shutdown)
	nc, err := natsx.Connect("", ns, "test", zap.NewNop())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	require.NoError(t, err)
}
