package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/internal/ids"
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
	cpu0, rcpu0 := processCPU(), redisCPU(h)
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
					_, _ = io.Copy(io.Discard, resp.Body) // drained, so the connection is reused
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
	// CPU per message is steadier than rates on a shared machine: the
	// bench process (Herald, JetStream, receiver and load generator) and
	// redis-server separately.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "µs-cpu/msg")
	b.ReportMetric(float64((redisCPU(h)-rcpu0).Microseconds())/float64(b.N), "µs-redis-cpu/msg")
	if stats, err := h.Redis.Client.Info(context.Background(), "commandstats").Result(); err == nil {
		b.Logf("redis commands for %d messages:\n%s", b.N, stats)
	}
}

// BenchmarkBulkReprocess reprocesses HERALD_BENCH_BULK failed messages
// (default 100,000) in one POST /v1/messages/reprocess on a producer (the
// jobs queue up on JetStream) and reports the rate and the peak Go heap
// while it runs: the matches are streamed a page at a time, so the heap
// does not grow with their number.
//
//	go test ./internal/app/ -run '^$' -bench BulkReprocess -benchtime 1x
func BenchmarkBulkReprocess(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("HERALD_BENCH_BULK")); err == nil && v > 0 {
		n = v
	}
	rc := apptest.NewReceiver(b)
	yaml := strings.Replace(apptest.Config(rc.URL), "retries: 3", "retries: 3\n  reprocess_rate: 1000000", 1)
	h := apptest.Start(b, apptest.Options{YAML: yaml, Role: app.RoleProducer, NoLogger: true})
	store := logstore.New(h.Redis.Client, logstore.Config{})
	ctx := context.Background()
	for lo := 0; lo < n; lo += 1000 {
		var es []*logstore.NewEntry
		var recs []logstore.AttemptRecord
		for i := lo; i < min(lo+1000, n); i++ {
			id := ids.New(time.Now())
			es = append(es, &logstore.NewEntry{ID: id, Workspace: "acme", ProductTag: "shop", ProductID: "prod_shop", Env: "prd",
				NotificationTag: "orders", Notification: "orders:confirmation", Type: "callback", TriggeredBy: "api", Retries: 0,
				Input: json.RawMessage(fmt.Sprintf(`{"params":{"id":"bulk-%d"}}`, i)), Head: true})
			recs = append(recs, logstore.AttemptRecord{Workspace: "acme", ID: id, Outcome: logstore.OutcomeFail, MaxAttempts: 1,
				Attempt: logstore.Attempt{ResponseCode: 404, ErrorCode: "DELIVERY_ERROR", Error: "HTTP 404"}})
		}
		if _, errs := store.CreateMany(ctx, es); errs[0] != nil {
			b.Fatal(errs[0])
		}
		if _, errs := store.RecordAttempts(ctx, recs); errs[0] != nil {
			b.Fatal(errs[0])
		}
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	b.ResetTimer()
	start := time.Now()
	r := h.Do("POST", "/v1/messages/reprocess", apptest.KeyAcme, `{}`)
	took := time.Since(start)
	b.StopTimer()
	close(stop)
	if r.Status != 200 || r.JSON()["reprocessed"] != float64(n) {
		b.Fatalf("%d %s", r.Status, r.Body)
	}
	b.ReportMetric(float64(n)/took.Seconds(), "reprocessed/s")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(before.HeapInuse)/(1<<20), "heap-before-MB")
}

// processCPU is the user+system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is the CPU time the test's redis-server has used.
func redisCPU(h *apptest.Herald) time.Duration {
	info, _ := h.Redis.Client.Info(context.Background(), "cpu").Result()
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				f, _ := strconv.ParseFloat(v, 64)
				total += f
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}
