package scheduler_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/producer"
	"github.com/heraldhq/herald/scheduler"
)

// timingSender records, for every fire in the measuring window, how late
// it was handed to the producer and how late the producer had accepted it
// (entry written, job published and acknowledged by JetStream).
type timingSender struct {
	scheduler.Sender
	from, to         time.Time
	mu               sync.Mutex
	handed, accepted []time.Duration
	all              atomic.Int64
}

func (s *timingSender) SendMulti(ctx context.Context, ws string, req *producer.MultiRequest, opts producer.Options) (*producer.MultiResult, error) {
	start := time.Now()
	s.all.Add(1)
	res, err := s.Sender.SendMulti(ctx, ws, req, opts)
	if !opts.At.Before(s.from) && opts.At.Before(s.to) {
		done := time.Now()
		s.mu.Lock()
		s.handed = append(s.handed, start.Sub(opts.At))
		s.accepted = append(s.accepted, done.Sub(opts.At))
		s.mu.Unlock()
	}
	return res, err
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisInfo sums fields of one INFO section of redis-server.
func redisInfo(b *testing.B, h *apptest.Herald, section string, fields ...string) float64 {
	info, err := h.Redis.Client.Info(context.Background(), section).Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && slices.Contains(fields, k) {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return total
}

// redisCPU is redis-server's CPU time so far.
func redisCPU(b *testing.B, h *apptest.Herald) time.Duration {
	return time.Duration(redisInfo(b, h, "cpu", "used_cpu_sys", "used_cpu_user") * float64(time.Second))
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(int(float64(len(d))*q), len(d)-1)]
}

// BenchmarkSchedulerSteadyState keeps 100,000 active jobs (HERALD_BENCH_JOBS)
// firing every 100 s (HERALD_BENCH_EVERY_S), their slots spread evenly, so
// 1,000 fires per second reach the producer; one `herald scheduler`
// process in this test (scheduler, producer, embedded JetStream) against
// a real redis-server. After a warm-up it measures for 30 s
// (HERALD_BENCH_SECONDS): fire lateness (slot to hand-off to the producer,
// and slot to the producer's acceptance) at p50/p99/max, fires per second,
// and CPU in cores of this process and of redis-server.
// HERALD_BENCH_CONCURRENCY overrides scheduler.concurrency (default 64).
// Ignores b.N: run it with -benchtime 1x.
func BenchmarkSchedulerSteadyState(b *testing.B) {
	jobs := envInt("HERALD_BENCH_JOBS", 100_000)
	every := time.Duration(envInt("HERALD_BENCH_EVERY_S", 100)) * time.Second
	window := time.Duration(envInt("HERALD_BENCH_SECONDS", 30)) * time.Second
	warmup := 10 * time.Second

	yaml := apptest.Config("http://127.0.0.1:9")
	if n := envInt("HERALD_BENCH_CONCURRENCY", 0); n > 0 {
		yaml += fmt.Sprintf("scheduler: { concurrency: %d }\n", n)
	}
	ts := &timingSender{}
	h := apptest.Start(b, apptest.Options{
		YAML: yaml, Role: app.RoleScheduler, NoLogger: true,
		AppOpts: func(o *app.Options) {
			o.WrapSender = func(s scheduler.Sender) scheduler.Sender { ts.Sender = s; return ts }
		},
	})
	sc := h.App.Scheduler()

	// Slots start once every job exists: creating 100,000 takes a while.
	mem0 := redisInfo(b, h, "memory", "used_memory")
	created := time.Now()
	base := created.Add(time.Duration(jobs/2000+10) * time.Second).Truncate(time.Second)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(jobs); i = next.Add(1) - 1 {
				start := base.Add(time.Duration(i) * every / time.Duration(jobs))
				body := fmt.Sprintf(`{"product":"shop","env":"prd","notification":"orders:confirmation",`+
					`"input":{"callback":{"params":{"id":"B%d"},"body":{"n":%d}}},"schedule":{"every":%d,"start_at":%d}}`,
					i, i, every.Milliseconds(), start.UnixMilli())
				if _, err := sc.Dispatch(context.Background(), "acme", []byte(body)); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d jobs created in %s; first slots at %s", jobs, time.Since(created).Round(time.Millisecond), base.Format(time.TimeOnly))
	bytesPerJob := (redisInfo(b, h, "memory", "used_memory") - mem0) / float64(jobs)
	if time.Now().After(base) {
		b.Fatalf("creating the jobs took past the first slot; raise the head start")
	}

	ts.from = base.Add(warmup)
	ts.to = ts.from.Add(window)
	time.Sleep(time.Until(ts.from))
	b.ResetTimer()
	cpu0, redis0, wall0 := cpuTime(), redisCPU(b, h), time.Now()
	time.Sleep(time.Until(ts.to))
	cpu1, redis1, wall1 := cpuTime(), redisCPU(b, h), time.Now()
	// Let the window's last fires finish.
	time.Sleep(2 * time.Second)
	b.StopTimer()

	ts.mu.Lock()
	handed, accepted := slices.Clone(ts.handed), slices.Clone(ts.accepted)
	ts.mu.Unlock()
	slices.Sort(handed)
	slices.Sort(accepted)
	wantFires := int(int64(window) * int64(jobs) / int64(every))
	if len(handed) < wantFires*99/100 {
		b.Fatalf("only %d of %d expected fires in the window", len(handed), wantFires)
	}
	elapsed := wall1.Sub(wall0).Seconds()
	b.ReportMetric(float64(len(handed))/window.Seconds(), "fires/s")
	b.ReportMetric(float64(quantile(handed, .50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(quantile(handed, .99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(handed[len(handed)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(quantile(accepted, .50).Microseconds())/1000, "accepted-p50-ms")
	b.ReportMetric(float64(quantile(accepted, .99).Microseconds())/1000, "accepted-p99-ms")
	b.ReportMetric((cpu1-cpu0).Seconds()/elapsed, "cpu-herald-cores")
	b.ReportMetric((redis1-redis0).Seconds()/elapsed, "cpu-redis-cores")
	b.ReportMetric(float64(jobs), "jobs")
	b.ReportMetric(bytesPerJob, "redis-bytes/job")
}
