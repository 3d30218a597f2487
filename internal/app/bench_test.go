package app_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/logstore"
)

// BenchmarkCallbackEndToEnd sends b.N callbacks through the HTTP API from 32
// concurrent clients against `serve` (embedded JetStream, real
// redis-server, loopback receiver) and waits until every one is sent. It
// reports accepted/s (the API side) and delivered/s (accept to last sent).
func BenchmarkCallbackEndToEnd(b *testing.B) {
	rc := apptest.NewReceiver(b)
	h := apptest.Start(b, apptest.Options{YAML: apptest.Config(rc.URL), NoLogger: true})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	body := []byte(`{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"params":{"id":"b"},"body":{"order":"b","items":[1,2,3]}}}`)
	var next, failed atomic.Int64
	store := logstore.New(h.Redis.Client, logstore.Config{})
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				req, _ := http.NewRequest("POST", h.URL+"/v1/notifications/callback/send", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+apptest.KeyAcme)
				resp, err := client.Do(req)
				if err != nil || resp.StatusCode != http.StatusAccepted {
					failed.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	accepted := time.Since(start)
	for {
		p, err := store.Query(context.Background(), logstore.Query{Workspace: "acme", Status: "sent", Limit: 1})
		if err == nil && p.Total >= int64(b.N) {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("only %d of %d sent", p.Total, b.N)
		}
		time.Sleep(5 * time.Millisecond)
	}
	delivered := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d sends refused", failed.Load())
	}
	if got := len(rc.Requests()); got != b.N {
		b.Fatalf("receiver got %d, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
	b.ReportMetric(float64(b.N)/delivered.Seconds(), "delivered/s")
}
