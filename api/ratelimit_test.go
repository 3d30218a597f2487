package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/logstore"
)

const limitedKey = "hk_rate_limited_key_000000000000000000000000"

func limitedConfig(t *testing.T, limit string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
workspaces:
  - id: acme
    keys:
      - { name: limited, sha256: %q, scopes: [notifications:read], rate_limit: %s }
`, config.HashKey(limitedKey), limit)), func(string) string { return "" })
	require.NoError(t, err)
	return cfg
}

// replicas are API servers sharing one Redis, on one (frozen) clock.
func replicas(t *testing.T, n int, rdb redis.UniversalClient, cfg *config.Config, clk clock.Clock) []*Server {
	t.Helper()
	var out []*Server
	for range n {
		store := logstore.New(rdb, logstore.Config{Clock: clk})
		t.Cleanup(store.Close)
		out = append(out, New(Config{Config: func() *config.Config { return cfg }, Store: store, Clock: clk}))
	}
	return out
}

func get(s *Server, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", path, nil)
	r.Header.Set("Authorization", "Bearer "+limitedKey)
	s.Handler().ServeHTTP(w, r)
	return w
}

// Three replicas share one limit through Redis. On a frozen clock a key
// with burst 10 gets 10 requests in all, give or take one per other
// replica (a replica learns the others' debits with the answer to its
// own), never 10 per replica; refills are shared the same way.
func TestRateLimitSharedByReplicas(t *testing.T) {
	r := testutil.StartRedis(t)
	clk := clock.NewFake(time.Now())
	servers := replicas(t, 3, r.Client, limitedConfig(t, "{ per_second: 1, burst: 10 }"), clk)
	round := func(n int) int {
		admitted := 0
		for i := range n {
			s := servers[i%len(servers)]
			if get(s, "/v1/messages").Code == http.StatusOK {
				admitted++
			}
			s.limits.syncs.Wait() // the background debit landed
		}
		return admitted
	}
	admitted := round(60)
	require.GreaterOrEqual(t, admitted, 10)
	require.LessOrEqual(t, admitted, 10+2, "the burst, shared by the replicas (unshared: 30)")
	for _, s := range servers {
		w := get(s, "/v1/messages")
		require.Equal(t, http.StatusTooManyRequests, w.Code, "every replica knows the key is over its limit")
		secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
		require.NoError(t, err)
		require.GreaterOrEqual(t, secs, 1)
	}

	// Time refills the one shared bucket: after 30 s it is full again, 10
	// requests over all replicas.
	clk.Advance(30 * time.Second)
	admitted = round(90)
	require.GreaterOrEqual(t, admitted, 10)
	require.LessOrEqual(t, admitted, 10+2)
	s, err := r.Client.Keys(t.Context(), "herald:{acme}:rl:*").Result()
	require.NoError(t, err)
	require.Len(t, s, 1, "one shared bucket for the key")
}

// Without Redis the limit still holds, per replica.
func TestRateLimitWithoutRedis(t *testing.T) {
	r := testutil.StartRedis(t)
	clk := clock.NewFake(time.Now())
	s := replicas(t, 1, r.Client, limitedConfig(t, "{ per_second: 1, burst: 3 }"), clk)[0]
	r.Client.Close() // every shared debit fails from now on
	codes := ""
	for range 5 {
		codes += fmt.Sprint(get(s, "/v1/me").Code, " ")
		s.limits.syncs.Wait()
	}
	require.Equal(t, "200 200 200 429 429 ", codes)
}

// A large answer costs more than a small one: one unit per 64 KiB past the
// first, charged once it was written, so the key's next requests wait.
func TestRateLimitCountsAnswerSize(t *testing.T) {
	r := testutil.StartRedis(t)
	clk := clock.NewFake(time.Now())
	s := replicas(t, 1, r.Client, limitedConfig(t, "{ per_second: 1, burst: 10 }"), clk)[0]
	for i := range 200 {
		_, err := s.cfg.Store.Create(t.Context(), &logstore.NewEntry{
			ID: ids.New(clk.Now().Add(time.Duration(i) * time.Millisecond)), Workspace: "acme", ProductTag: "shop", Env: "prd",
			NotificationTag: "orders", Notification: "orders:x", Type: "callback", TriggeredBy: "api",
			Input: json.RawMessage(`{"body":"` + strings.Repeat("x", 1000) + `"}`),
		})
		require.NoError(t, err)
	}
	w := get(s, "/v1/messages?limit=200")
	require.Equal(t, http.StatusOK, w.Code)
	extra := answerCost(int64(w.Body.Len()))
	require.GreaterOrEqual(t, extra, 2, "a %d-byte answer", w.Body.Len())
	s.limits.syncs.Wait()
	admitted := 0
	for range 20 {
		if get(s, "/v1/messages?limit=1").Code == http.StatusOK {
			admitted++
		}
	}
	require.Equal(t, 10-1-extra, admitted)
}

func TestAnswerCost(t *testing.T) {
	for n, want := range map[int64]int{0: 0, 1: 0, costUnitBytes: 0, costUnitBytes + 1: 1, 2 * costUnitBytes: 1, 2*costUnitBytes + 1: 2, 4 << 20: 63} {
		require.Equal(t, want, answerCost(n), "%d bytes", n)
	}
}

// Property: the local GCRA admits exactly what a token bucket of burst
// tokens refilled at per_second would, for any sequence of requests,
// charges and clock steps.
func FuzzLimiterIsATokenBucket(f *testing.F) {
	f.Add([]byte{1, 1, 1, 1, 1, 200, 1, 1}, uint8(3), uint8(2))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(1), uint8(5))
	f.Fuzz(func(t *testing.T, ops []byte, burst, perSecond uint8) {
		b, ps := int(burst%20)+1, float64(perSecond%10)+1
		cfg := limitedConfig(t, fmt.Sprintf("{ per_second: %g, burst: %d }", ps, b))
		p, ok := cfg.Authenticate(limitedKey)
		require.True(t, ok)
		var l limiters
		now := time.Unix(1_700_000_000, 0)
		tokens, last := float64(b), now
		for _, op := range ops {
			// Each op: a clock step (low bits), then a request or a charge.
			now = now.Add(time.Duration(op&0x1f) * 37 * time.Millisecond)
			tokens = min(float64(b), tokens+now.Sub(last).Seconds()*ps)
			last = now
			if op&0x80 != 0 {
				cost := int(op>>5) & 3
				l.charge(p, cost, now)
				tokens -= float64(cost)
				continue
			}
			_, got := l.allow(p, 1, now)
			// Within a hair of exactly one token the two may round apart
			// (the interval is whole nanoseconds).
			if want := tokens >= 1; want != got && math.Abs(tokens-1) > 1e-3 {
				t.Fatalf("allow = %v with %.6f tokens", got, tokens)
			}
			if got {
				tokens--
			}
		}
	})
}

// BenchmarkRateLimitedRequest measures what a shared limit adds to a
// request: none of it waits for Redis (the debit runs after the decision).
// Compare limit=none, limit=local (no store) and limit=shared.
func BenchmarkRateLimitedRequest(b *testing.B) {
	r := testutil.StartRedis(b)
	for _, mode := range []string{"none", "local", "shared"} {
		b.Run("limit="+mode, func(b *testing.B) {
			limit := "{ per_second: 1000000000, burst: 1000000000 }"
			if mode == "none" {
				limit = "null"
			}
			cfg, err := config.Parse([]byte(fmt.Sprintf(`
workspaces:
  - id: acme
    keys:
      - { name: limited, sha256: %q, scopes: [notifications:read], rate_limit: %s }
`, config.HashKey(limitedKey), limit)), func(string) string { return "" })
			require.NoError(b, err)
			c := Config{Config: func() *config.Config { return cfg }}
			if mode == "shared" {
				store := logstore.New(r.Client, logstore.Config{})
				b.Cleanup(store.Close)
				c.Store = store
			}
			s := New(c)
			b.ResetTimer()
			for b.Loop() {
				if w := get(s, "/v1/me"); w.Code != http.StatusOK {
					b.Fatal(w.Code, w.Body.String())
				}
			}
			b.StopTimer()
			s.limits.syncs.Wait()
		})
	}
}
