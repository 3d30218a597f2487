package apptest

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/testutil"
)

// Launched is a Herald process started without a testing.TB (from a
// TestMain, for Example tests): the caller calls Stop.
type Launched struct {
	App      *app.App
	URL      string
	Receiver *Receiver
	redis    *testutil.Redis
	dir      string
}

// Launch starts a redis-server, a receiver and `serve` with the test
// configuration.
func Launch() (*Launched, error) {
	dir, err := os.MkdirTemp("", "herald-launch-")
	if err != nil {
		return nil, err
	}
	l := &Launched{dir: dir, Receiver: newReceiver()}
	if l.redis, err = testutil.LaunchRedis(dir); err != nil {
		l.Stop()
		return nil, err
	}
	cfg, err := config.Parse([]byte(Config(l.Receiver.URL)), Env(map[string]string{
		config.EnvRedisURL: l.redis.URL, config.EnvDataDir: dir,
	}))
	if err != nil {
		l.Stop()
		return nil, err
	}
	a, err := app.New(app.Options{Config: cfg, Role: app.RoleServe, Embedded: true})
	if err != nil {
		l.Stop()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		l.Stop()
		return nil, fmt.Errorf("start herald: %w", err)
	}
	l.App, l.URL = a, "http://"+a.Addr()
	return l, nil
}

// Stop stops everything Launch started.
func (l *Launched) Stop() {
	if l.App != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = l.App.Stop(ctx)
		cancel()
	}
	if l.redis != nil {
		_ = l.redis.Client.Close()
		l.redis.Stop()
	}
	if l.Receiver != nil {
		l.Receiver.Close()
	}
	_ = os.RemoveAll(l.dir)
}
