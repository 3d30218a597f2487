package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/internal/testutil"
)

func TestKeysCreate(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"keys", "create", "--workspace", "acme", "--scopes", "notifications:send,notifications:read", "--name", "ci"}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	key := regexp.MustCompile(`(?m)^key: (hk_\w+)$`).FindStringSubmatch(out.String())
	require.Len(t, key, 2, out.String())
	line := regexp.MustCompile(`- \{ name: ci, sha256: "([0-9a-f]{64})", scopes: \[notifications:send, notifications:read\] \}`).FindStringSubmatch(out.String())
	require.Len(t, line, 2, out.String())
	require.Equal(t, config.HashKey(key[1]), line[1])

	// The printed line is valid config that authenticates the printed key.
	yaml := "workspaces:\n  - id: acme\n    keys:\n    " + strings.TrimSpace(strings.Split(out.String(), "\n")[2]) + "\n"
	c, err := config.Parse([]byte(yaml), func(string) string { return "" })
	require.NoError(t, err, yaml)
	p, ok := c.Authenticate(key[1])
	require.True(t, ok)
	require.Equal(t, "acme", p.Workspace)

	for _, args := range [][]string{
		{"keys", "create", "--scopes", "notifications:send"},
		{"keys", "create", "--workspace", "acme", "--scopes", "nope"},
		{"keys"},
		{"nonsense"},
		{},
	} {
		errb.Reset()
		require.Equal(t, 2, run(args, io.Discard, &errb), args)
		require.NotEmpty(t, errb.String())
	}
}

func TestBadConfigExitsWithProblems(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(p, []byte("workspaces:\n  - id: acme\n    products:\n      - tag: app\n"), 0o600))
	var errb bytes.Buffer
	require.Equal(t, 1, run([]string{"serve", "--config", p}, io.Discard, &errb))
	require.Contains(t, errb.String(), "workspaces[0].products[0].envs: at least one env is required")
}

// TestServeBinary runs the real binary: it starts, delivers a callback,
// and on SIGTERM stops cleanly within the grace period; with Redis
// unreachable it refuses to start with a clear error.
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "herald")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	rc := apptest.NewReceiver(t)
	redis := testutil.StartRedis(t)
	cfgPath := filepath.Join(t.TempDir(), "herald.yaml")
	yaml := strings.Replace(apptest.Config(rc.URL), "log: { level: warn }", "log: { level: info }\nshutdown_grace: 5s", 1)
	require.NoError(t, os.WriteFile(cfgPath, []byte(yaml), 0o600))
	env := append(os.Environ(),
		"HERALD_REDIS_URL="+redis.URL, "HERALD_DATA_DIR="+t.TempDir(), "HERALD_ALLOW_PRIVATE_NETWORKS=true",
		"TEST_HOOK_SECRET=whsec_dGVzdC1zZWNyZXQtZm9yLWhlcmFsZA==", "HERALD_HTTP_ADDR=127.0.0.1:0")

	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	lines := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	var addr string
	for addr == "" {
		select {
		case m := <-lines:
			if m["msg"] == "herald started" {
				addr, _ = m["http"].(string)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("herald serve did not start")
		}
	}
	h := &apptest.Herald{T: t, URL: "http://" + addr}
	id := h.SendCallback("BIN-1", nil)
	h.WaitStatus(id, "sent", 10*time.Second)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "exit status 0 after SIGTERM")
	case <-time.After(10 * time.Second):
		t.Fatal("herald did not exit within the grace period")
	}
	var msgs []string
	for m := range lines {
		msgs = append(msgs, fmt.Sprint(m["msg"]))
	}
	require.Contains(t, msgs, "shutting down")
	require.Contains(t, msgs, "stopped")

	// Redis unreachable: a clear error and exit status 1.
	redis.Stop()
	var out bytes.Buffer
	cmd = exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Env = env
	cmd.Stderr = &out
	err = cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 1, ee.ExitCode())
	require.Contains(t, out.String(), "is unreachable")
	_, _ = http.Get("http://" + addr) // nothing listens any more
}
