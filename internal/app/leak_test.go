package app_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/internal/apptest"
)

// A stopped process leaves no goroutine behind: the worker, janitor,
// reconciler, ingest, HTTP server, NATS connection and embedded server all
// end with Stop.
func TestStopLeavesNoGoroutines(t *testing.T) {
	rc := apptest.NewReceiver(t)
	opts := []goleak.Option{
		goleak.IgnoreCurrent(),
		// The shared receiver and the test's own HTTP client keep-alives.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	}
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), NoLogger: true})
	h.WaitStatus(h.SendCallback("LEAK-1", nil), "sent", 10*time.Second)
	if err := h.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	h.Redis.Stop()
	goleak.VerifyNone(t, opts...)
}
