package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/internal/testutil"
)

func TestSchedulerRoleNeedsExternalNATS(t *testing.T) {
	p := filepath.Join(t.TempDir(), "herald.yaml")
	require.NoError(t, os.WriteFile(p, []byte("log: { level: error }\n"), 0o600))
	t.Setenv("HERALD_NATS_URL", "")
	var errb bytes.Buffer
	require.Equal(t, 1, run([]string{"scheduler", "--config", p}, io.Discard, &errb))
	require.Contains(t, errb.String(), "HERALD_NATS_URL")
	var out bytes.Buffer
	require.Equal(t, 0, run([]string{"help"}, &out, io.Discard))
	require.Contains(t, out.String(), "herald scheduler --config FILE")
}

// TestSchedulerBinaries runs the real binary: `herald serve` and two
// `herald scheduler` processes on one Redis and serve's JetStream; one
// scheduler is killed (SIGKILL) while the job runs. The job fires each of
// its slots once.
func TestSchedulerBinaries(t *testing.T) {
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
	yaml := strings.Replace(apptest.Config(rc.URL), "log: { level: warn }", "log: { level: info }\nshutdown_grace: 5s", 1) +
		"scheduler: { poll_interval: 20ms, lease: 1s }\n"
	require.NoError(t, os.WriteFile(cfgPath, []byte(yaml), 0o600))
	env := append(os.Environ(),
		"HERALD_REDIS_URL="+redis.URL, "HERALD_ALLOW_PRIVATE_NETWORKS=true",
		"TEST_HOOK_SECRET=whsec_dGVzdC1zZWNyZXQtZm9yLWhlcmFsZA==", "HERALD_HTTP_ADDR=127.0.0.1:0")

	start := func(role string, extra ...string) (*exec.Cmd, chan map[string]any) {
		cmd := exec.Command(bin, role, "--config", cfgPath)
		cmd.Env = append(append(env, "HERALD_DATA_DIR="+t.TempDir()), extra...)
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		lines := make(chan map[string]any, 1000)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				var m map[string]any
				if json.Unmarshal(sc.Bytes(), &m) == nil {
					select {
					case lines <- m:
					default:
					}
				}
			}
			close(lines)
		}()
		return cmd, lines
	}
	waitLog := func(lines chan map[string]any, msg, field string) string {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case m, ok := <-lines:
				require.True(t, ok, "process exited before logging %q", msg)
				if m["msg"] == msg {
					v, _ := m[field].(string)
					return v
				}
			case <-deadline:
				t.Fatalf("no %q log line", msg)
			}
		}
	}

	_, serveLog := start("serve")
	natsURL := waitLog(serveLog, "embedded JetStream started", "url")
	addr := waitLog(serveLog, "herald started", "http")
	doomed, doomedLog := start("scheduler", "HERALD_NATS_URL="+natsURL)
	waitLog(doomedLog, "scheduler started", "owner")
	_, otherLog := start("scheduler", "HERALD_NATS_URL="+natsURL)
	waitLog(otherLog, "scheduler started", "owner")

	h := &apptest.Herald{T: t, URL: "http://" + addr}
	const runs = 4
	r := h.Do("POST", "/v1/notifications/dispatch", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "notification": "orders:confirmation",
		"input":    map[string]any{"callback": map[string]any{"params": map[string]any{"id": "BIN-JOB"}}},
		"schedule": map[string]any{"every": 1000, "limit": runs},
	})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	id := r.JSON()["job_id"].(string)

	job := func() map[string]any {
		r := h.Do("GET", "/v1/jobs/"+id, apptest.KeyAcme, nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		return r.JSON()
	}
	require.Eventually(t, func() bool { return job()["runs"] == float64(1) }, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, doomed.Process.Kill())
	require.Eventually(t, func() bool { return job()["status"] == "completed" }, 30*time.Second, 20*time.Millisecond)
	require.EqualValues(t, runs, job()["runs"])
	q := h.Do("GET", "/v1/messages?campaign_id="+id, apptest.KeyAcme, nil)
	require.EqualValues(t, runs, q.JSON()["total"], string(q.Body))
	for _, it := range q.JSON()["items"].([]any) {
		h.WaitStatus(it.(map[string]any)["_id"].(string), "sent", 10*time.Second)
	}
	require.Equal(t, runs, rc.Count("/orders/BIN-JOB"))
}
