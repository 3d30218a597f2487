// Package testutil starts the real things tests run against: a redis-server
// on a free port and an embedded nats-server with JetStream.
package testutil

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server started for one test.
type Redis struct {
	Addr   string
	URL    string
	Client *redis.Client
	cmd    *exec.Cmd
}

// StartRedis starts a redis-server on a free loopback port, with no
// persistence, for the duration of the test. With HERALD_TEST_REDIS_URL set,
// it uses that server instead and flushes its database first.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	if u := os.Getenv("HERALD_TEST_REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			t.Fatalf("HERALD_TEST_REDIS_URL: %v", err)
		}
		c := redis.NewClient(opt)
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("flush %s: %v", u, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return &Redis{Addr: opt.Addr, URL: u, Client: c}
	}
	r, err := LaunchRedis(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Client.Close()
		r.Stop()
	})
	return r
}

// LaunchRedis starts a redis-server on a free loopback port with its files
// in dir, for callers without a testing.TB (TestMain); they Stop it.
func LaunchRedis(dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not installed (make setup installs it): %w", err)
	}
	var last error
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
			"--logfile", filepath.Join(dir, "redis.log"))
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start redis-server: %w", err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		c := redis.NewClient(&redis.Options{Addr: addr})
		if err := waitPing(c, 5*time.Second); err != nil {
			last = err
			_ = c.Close()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			continue
		}
		return &Redis{Addr: addr, URL: "redis://" + addr + "/0", Client: c, cmd: cmd}, nil
	}
	return nil, fmt.Errorf("redis-server did not start: %w", last)
}

// Stop kills the server (for fault tests); Cleanup calls it too.
func (r *Redis) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

func waitPing(c *redis.Client, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG after %s: %w", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort returns a TCP port free on loopback at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
