package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/internal/cli"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCLI(t *testing.T) {
	rc := apptest.NewReceiver(t)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if strings.Contains(r.URL.Path, "broken") && n == 1 {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	env := func(k string) string {
		return map[string]string{"HERALD_URL": h.URL, "HERALD_KEY": apptest.KeyAcme}[k]
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cli.Run(context.Background(), args, &out, &errb, env)
		return code, out.String(), errb.String()
	}

	code, out, errOut := run("send", "callback", "--product", "shop", "--env", "prd", "--notification", "orders:confirmation",
		"--input", `{"params":{"id":"CLI-1"},"body":{"x":1}}`)
	require.Equal(t, 0, code, errOut)
	id := strings.Fields(out)[0]
	require.Equal(t, "pending", strings.Fields(out)[1])
	h.WaitStatus(id, "sent", 10*time.Second)

	code, out, errOut = run("send", "callback", "--product", "shop", "--env", "prd", "--notification", "orders:confirmation",
		"--input", `{"params":{"id":"broken-1"}}`, "--json")
	require.Equal(t, 0, code, errOut)
	var sent map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &sent))
	broken := sent["messageId"].(string)
	h.WaitStatus(broken, "failed", 10*time.Second)

	code, out, errOut = run("send", "all", "--product", "shop", "--env", "prd", "--event", "orders",
		"--input", `{"callback":{"params":{"id":"CLI-2"}}}`)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "callback\taccepted")

	// Bad input: the API's error, exit status 1; bad usage: 2.
	code, _, errOut = run("send", "callback", "--product", "shop", "--env", "prd", "--notification", "orders:confirmation", "--input", `{"params":{}}`)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "input.params.id")
	code, _, errOut = run("send", "callback", "--input", `{oops`)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "not valid JSON")
	code, _, _ = run("logs", "--status")
	require.Equal(t, 2, code)
	var errb bytes.Buffer
	require.Equal(t, 2, cli.Run(context.Background(), []string{"logs"}, &bytes.Buffer{}, &errb, func(string) string { return "" }))
	require.Contains(t, errb.String(), "HERALD_KEY")

	// logs: a table, filters, JSON lines, one message in full.
	code, out, errOut = run("logs", "--status", "failed")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "STATUS")
	require.Contains(t, out, broken)
	require.NotContains(t, out, id)
	code, out, _ = run("logs", "--json", "--limit", "2", "--since", "1h")
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	require.True(t, json.Valid([]byte(lines[0])))
	code, out, _ = run("logs", "show", broken)
	require.Equal(t, 0, code)
	require.Contains(t, out, "DELIVERY_ERROR")
	require.Contains(t, out, "404")

	// reprocess: the failed one, by id and by filter.
	code, out, _ = run("reprocess", "--failed", "--dry-run", "--env", "prd")
	require.Equal(t, 0, code)
	require.Contains(t, out, "matched 1, would reprocess (dry run) 1")
	code, out, errOut = run("reprocess", broken)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, broken+" reprocessing")
	h.WaitStatus(broken, "sent", 10*time.Second)
	code, _, errOut = run("reprocess", id, "01ZZZZZZZZZZZZZZZZZZZZZZZZ")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "01ZZZZZZZZZZZZZZZZZZZZZZZZ")

	// jobs: list, show, pause, resume, cancel.
	r := h.Do("POST", "/v1/notifications/dispatch", apptest.KeyAcme, map[string]any{"product": "shop", "env": "prd", "event": "orders",
		"input": map[string]any{"callback": map[string]any{"params": map[string]any{"id": "J"}}}, "schedule": map[string]any{"cron": "@daily", "tz": "Europe/Berlin"}})
	require.Equal(t, 201, r.Status, string(r.Body))
	job := r.JSON()["job_id"].(string)
	code, out, errOut = run("jobs")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, job)
	require.Contains(t, out, "cron @daily, Europe/Berlin")
	code, out, _ = run("jobs", "pause", job)
	require.Equal(t, 0, code)
	require.Contains(t, out, "paused")
	code, out, _ = run("jobs", "--status", "paused", "--json")
	require.Equal(t, 0, code)
	require.Contains(t, out, job)
	code, out, _ = run("jobs", "cancel", job)
	require.Equal(t, 0, code)
	require.Contains(t, out, "cancelled")
	code, _, errOut = run("jobs", "show", "job_nope")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "404")

	// --follow prints messages as they arrive, until cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	var follow syncBuffer
	done := make(chan int)
	go func() {
		done <- cli.Run(ctx, []string{"logs", "--follow", "--limit", "1"}, &follow, &bytes.Buffer{}, env)
	}()
	time.Sleep(300 * time.Millisecond)
	code, out, _ = run("send", "callback", "--product", "shop", "--env", "dev", "--notification", "orders:confirmation", "--input", `{"params":{"id":"FOLLOW"}}`)
	require.Equal(t, 0, code)
	newID := strings.Fields(out)[0]
	require.Eventually(t, func() bool { return strings.Contains(follow.String(), newID) }, 10*time.Second, 50*time.Millisecond)
	cancel()
	require.Equal(t, 0, <-done)
}
