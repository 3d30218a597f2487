package logstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/logstore"
)

// stepClock advances by a fixed step on every reading: entries created
// through it are spread evenly over a period.
type stepClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

func (c *stepClock) set(t time.Time, step time.Duration) {
	c.mu.Lock()
	c.now, c.step = t, step
	c.mu.Unlock()
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkLogStoreMillion loads HERALD_BENCH_ENTRIES entries (default
// 1,000,000) with a realistic spread (5 products, 3 envs, 20 notification
// tags, 4 types, 30 days; statuses ~90% sent, 5% failed, 4% pending, 1%
// reprocessing; 200-byte inputs), then reports the write rates, the Redis
// memory per entry and p50/p99 of every query shape. Run it alone:
//
//	go test ./logstore/ -run '^$' -bench LogStoreMillion -benchtime 1x
func BenchmarkLogStoreMillion(b *testing.B) {
	n := envInt("HERALD_BENCH_ENTRIES", 1_000_000)
	r := testutil.StartRedis(b)
	ctx := context.Background()
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	clk := &stepClock{}
	const batch = 1000
	// A batch of creates reads the clock once (one script call), so the
	// clock steps per batch: batches spread evenly over the 30 days.
	clk.set(start, 30*24*time.Hour/time.Duration((n+batch-1)/batch))
	s := logstore.New(r.Client, logstore.Config{Clock: clk, Retention: 90 * 24 * time.Hour})
	usedMemory := func() int64 {
		info, err := r.Client.Info(ctx, "memory").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				m, _ := strconv.ParseInt(v, 10, 64)
				return m
			}
		}
		b.Fatal("no used_memory")
		return 0
	}
	base := `{"params":{"id":"ORD-0000123"},"body":{"order_id":"ORD-0000123","customer":"c-00042","total":123.45,"currency":"EUR","note":"`
	input := []byte(base + strings.Repeat("x", 200-len(base)-3) + `"}}`)
	if len(input) != 200 {
		b.Fatalf("input is %d bytes", len(input))
	}
	types := []string{"email", "push", "sms", "callback"}
	envs := []string{"dev", "stg", "prd"}
	mem0 := usedMemory()

	// evalCost reads the Redis-side cost of one script call since the last
	// reset: the ceiling of what one redis-server can do, whatever the
	// client side.
	evalCost := func() float64 {
		info, err := r.Client.Info(ctx, "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "cmdstat_evalsha:"); ok {
				for _, f := range strings.Split(v, ",") {
					if u, ok := strings.CutPrefix(f, "usec_per_call="); ok {
						x, _ := strconv.ParseFloat(u, 64)
						return x
					}
				}
			}
		}
		return 0
	}
	evalCalls := func() int64 {
		info, _ := r.Client.Info(ctx, "commandstats").Result()
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "cmdstat_evalsha:calls="); ok {
				n, _ := strconv.ParseInt(v[:strings.IndexByte(v, ',')], 10, 64)
				return n
			}
		}
		return 1
	}
	r.Client.ConfigResetStat(ctx)

	// Load: pipelined creates in time order (one client, so that created_at
	// follows the spread), batches of 1000.
	idsBySeq := make([]string, n)
	loadStart := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= n {
					return
				}
				hi := min(lo+batch, n)
				es := make([]*logstore.NewEntry, 0, hi-lo)
				for i := lo; i < hi; i++ {
					p := rng.IntN(5)
					e := &logstore.NewEntry{
						ID: ids.New(start.Add(time.Duration(i) * 30 * 24 * time.Hour / time.Duration(n))), Workspace: "acme",
						ProductTag: fmt.Sprintf("product-%d", p), ProductID: fmt.Sprintf("prod_%d", p),
						Env: envs[rng.IntN(3)], NotificationTag: fmt.Sprintf("notif-%d", rng.IntN(20)),
						Type: types[rng.IntN(4)], TriggeredBy: "api", Retries: 3, Input: input, Head: true,
					}
					e.Notification = e.NotificationTag + ":default"
					if i%10 < 2 { // 20% in two-message processes
						e.ProcessID = fmt.Sprintf("prc_%d", i/2)
					}
					if i%10 == 3 { // 10% in one of 100 campaigns
						e.CampaignID = fmt.Sprintf("camp_%d", rng.IntN(100))
					}
					es = append(es, e)
				}
				_, errs := s.CreateMany(ctx, es)
				for k, err := range errs {
					if err != nil {
						b.Error(err)
						return
					}
					idsBySeq[lo+k] = es[k].ID
				}
			}
		}()
	}
	wg.Wait()
	loadDur := time.Since(loadStart)
	mem1 := usedMemory()
	createCost := evalCost() * float64(evalCalls()) / float64(n)
	r.Client.ConfigResetStat(ctx)
	clk.set(start.Add(30*24*time.Hour), 0)

	// Transitions through the pipelined write path: 90% sent, 5% failed,
	// 1% failed then reprocessing, 4% left pending.
	transStart := time.Now()
	next.Store(0)
	var transitions atomic.Int64
	var reprocess []string
	var rmu sync.Mutex
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= n {
					return
				}
				hi := min(lo+batch, n)
				recs := make([]logstore.AttemptRecord, 0, hi-lo)
				for i := lo; i < hi; i++ {
					a := logstore.Attempt{ResponseCode: 200, ResponseContentType: "application/json", ResponseBody: `{"ok":true}`, AttemptedAt: start, DurationMs: 12}
					out := logstore.OutcomeSent
					switch m := i % 100; {
					case m < 90:
					case m < 96:
						out = logstore.OutcomeFail
						a.ResponseCode, a.ResponseBody, a.ErrorCode, a.Error = 404, `{"error":"no such hook"}`, "DELIVERY_ERROR", "HTTP 404 Not Found"
						if m == 95 {
							rmu.Lock()
							reprocess = append(reprocess, idsBySeq[i])
							rmu.Unlock()
						}
					default:
						continue
					}
					recs = append(recs, logstore.AttemptRecord{Workspace: "acme", ID: idsBySeq[i], Attempt: a, Outcome: out, MaxAttempts: 4})
				}
				_, errs := s.RecordAttempts(ctx, recs)
				for _, err := range errs {
					if err != nil {
						b.Error(err)
						return
					}
				}
				transitions.Add(int64(len(recs)))
			}
		}()
	}
	wg.Wait()
	transDur := time.Since(transStart)
	attemptCost := evalCost() * float64(evalCalls()) / float64(transitions.Load())
	for _, id := range reprocess {
		if _, _, err := s.Transition(ctx, "acme", id, logstore.Change{To: "reprocessing", From: []string{"failed"}, NewGeneration: true, TriggeredBy: "reprocess"}); err != nil {
			b.Fatal(err)
		}
	}
	mem2 := usedMemory()

	// Queries. The clock stands at the end of the 30 days.
	clk.set(start.Add(30*24*time.Hour), 0)
	rng := rand.New(rand.NewPCG(1, 2))
	deep := func(q logstore.Query) string {
		q.Offset, q.Limit = 10_000, 1
		p, err := s.Query(ctx, q)
		if err != nil || p.NextCursor == "" {
			b.Fatalf("deep cursor: %v", err)
		}
		return p.NextCursor
	}
	deepAll := deep(logstore.Query{Workspace: "acme"})
	deepSent := deep(logstore.Query{Workspace: "acme", Status: "sent"})
	shapes := []struct {
		name string
		q    func() logstore.Query
	}{
		{"no filter", func() logstore.Query { return logstore.Query{} }},
		{"status=failed", func() logstore.Query { return logstore.Query{Status: "failed"} }},
		{"status=sent", func() logstore.Query { return logstore.Query{Status: "sent"} }},
		{"type", func() logstore.Query { return logstore.Query{Type: types[rng.IntN(4)]} }},
		{"env", func() logstore.Query { return logstore.Query{Env: envs[rng.IntN(3)]} }},
		{"product_tag", func() logstore.Query { return logstore.Query{ProductTag: fmt.Sprintf("product-%d", rng.IntN(5))} }},
		{"product_id", func() logstore.Query { return logstore.Query{ProductID: fmt.Sprintf("prod_%d", rng.IntN(5))} }},
		{"notification_tag", func() logstore.Query { return logstore.Query{NotificationTag: fmt.Sprintf("notif-%d", rng.IntN(20))} }},
		{"process_id", func() logstore.Query { return logstore.Query{ProcessID: fmt.Sprintf("prc_%d", rng.IntN(n/2)/5*5)} }},
		{"campaign_id", func() logstore.Query { return logstore.Query{CampaignID: fmt.Sprintf("camp_%d", rng.IntN(100))} }},
		{"campaign_id+status=failed", func() logstore.Query {
			return logstore.Query{CampaignID: fmt.Sprintf("camp_%d", rng.IntN(100)), Status: "failed"}
		}},
		{"env+type+status", func() logstore.Query {
			return logstore.Query{Env: envs[rng.IntN(3)], Type: types[rng.IntN(4)], Status: "sent"}
		}},
		{"date range (1 hour)", func() logstore.Query {
			t := start.Add(time.Duration(rng.IntN(29*24)) * time.Hour)
			return logstore.Query{Start: t, End: t.Add(time.Hour)}
		}},
		{"date range (1 day) + 3 filters", func() logstore.Query {
			t := start.Add(time.Duration(rng.IntN(29)) * 24 * time.Hour)
			return logstore.Query{Start: t, End: t.Add(24 * time.Hour), Env: "prd", Type: "email", NotificationTag: fmt.Sprintf("notif-%d", rng.IntN(20))}
		}},
		{"10,000 deep by cursor", func() logstore.Query { return logstore.Query{Cursor: deepAll} }},
		{"10,000 deep by cursor, status=sent", func() logstore.Query { return logstore.Query{Cursor: deepSent, Status: "sent"} }},
		{"page 500 by offset", func() logstore.Query { return logstore.Query{Offset: 499 * 20} }},
		{"undelivered (GraphQL)", func() logstore.Query { return logstore.Query{Undelivered: true, Limit: 10} }},
		{"send logs of a campaign", func() logstore.Query {
			return logstore.Query{CampaignID: fmt.Sprintf("camp_%d", rng.IntN(100)), Heads: true, Limit: 100}
		}},
	}
	const runs = 300
	type row struct {
		name     string
		p50, p99 time.Duration
		total    int64
	}
	var rows []row
	b.ResetTimer()
	for _, sh := range shapes {
		var lat []time.Duration
		var total int64
		for range runs {
			q := sh.q()
			q.Workspace = "acme"
			if q.Limit == 0 {
				q.Limit = 20
			}
			t0 := time.Now()
			p, err := s.Query(ctx, q)
			lat = append(lat, time.Since(t0))
			if err != nil {
				b.Fatalf("%s: %v", sh.name, err)
			}
			total = p.Total
		}
		slices.Sort(lat)
		rows = append(rows, row{sh.name, lat[len(lat)/2], lat[len(lat)*99/100], total})
	}
	b.StopTimer()

	perEntry := float64(mem1-mem0) / float64(n)
	fmt.Printf("\nlog store, %d entries (redis-server on loopback; latency measured at the Go client, %d runs per shape, limit 20, exact totals)\n\n", n, runs)
	fmt.Printf("| measure | value |\n| --- | --- |\n")
	fmt.Printf("| load (pipelined creates, 1 client) | %.0f entries/s (Redis time per create: %.1f µs) |\n", float64(n)/loadDur.Seconds(), createCost)
	fmt.Printf("| status transitions (pipelined attempt+transition, 4 clients) | %.0f /s (Redis time per transition: %.1f µs, a ceiling of %.0f /s) |\n",
		float64(transitions.Load())/transDur.Seconds(), attemptCost, 1e6/attemptCost)
	fmt.Printf("| Redis memory per entry, entry + indexes | %.0f B (%.0f B beyond the 200-byte input) |\n", perEntry, perEntry-200)
	fmt.Printf("| Redis memory per entry, with one attempt each | %.0f B |\n", float64(mem2-mem0)/float64(n))
	fmt.Printf("\n| query | p50 | p99 | total |\n| --- | --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %d |\n", r.name, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.total)
	}
	b.ReportMetric(perEntry-200, "B/entry-beyond-input")
	b.ReportMetric(float64(transitions.Load())/transDur.Seconds(), "transitions/s")
}
