package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/internal/promx"
	"github.com/heraldhq/herald/internal/reqid"
	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/producer"
	"github.com/heraldhq/herald/scheduler"
)

// Config configures the HTTP API. Zero values mean the documented defaults.
type Config struct {
	// Config returns the current configuration (keys, workspaces).
	Config func() *config.Config
	// Producer accepts sends; nil on a role that does not accept them.
	Producer *producer.Producer
	Store    *logstore.Store
	// Scheduler manages dispatch jobs; nil on a role without the API.
	Scheduler *scheduler.Scheduler
	// Breakers lists a workspace's circuit breakers for GET /v1/overview;
	// nil on a process without a worker.
	Breakers func(workspace string) []Breaker
	// Checks are the readiness checks by name (e.g. "redis", "nats").
	Checks map[string]func(context.Context) error
	// MaxBodyBytes is the largest accepted body. Default 1 MiB.
	MaxBodyBytes int64
	Gatherer     prometheus.Gatherer
	Registerer   prometheus.Registerer
	Logger       *zap.Logger
	Clock        clock.Clock
	// OpsOnly serves only /healthz, /readyz and /metrics: the HTTP
	// listener of roles without the API (worker, scheduler), for probes
	// and scraping.
	OpsOnly bool
}

// Server is the HTTP API.
type Server struct {
	cfg      Config
	log      *zap.Logger
	clock    clock.Clock
	mux      *http.ServeMux
	draining atomic.Bool
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// routeList is every "METHOD /pattern" served, for the OpenAPI test.
	routeList   []string
	openapiJSON []byte
	limits      limiters
	// sendLogBudget is maxSendLogBytes (smaller in tests).
	sendLogBudget int
	// gqlAnswerBudget is gqlMaxAnswerBytes (smaller in tests).
	gqlAnswerBudget int
}

// New returns the API server.
func New(cfg Config) *Server {
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, 1<<20)
	s := &Server{cfg: cfg, log: cmp.Or(cfg.Logger, zap.NewNop()).Named("api"), clock: clock.Or(cfg.Clock), mux: http.NewServeMux(),
		sendLogBudget: maxSendLogBytes}
	s.requests = promx.Must(cfg.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_api_requests_total",
		Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"}))
	s.latency = promx.Must(cfg.Registerer, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "herald_api_request_duration_seconds",
		Help:    "HTTP request duration by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"}))
	var err error
	if s.openapiJSON, err = OpenAPIJSON(); err != nil {
		panic(err) // the embedded document is checked by tests
	}
	s.limits.log, s.limits.clock = s.log, s.clock
	if cfg.Store != nil {
		s.limits.shared = cfg.Store
	}
	s.routes()
	return s
}

// Handler returns the root handler.
func (s *Server) Handler() http.Handler { return s.mux }

// SetDraining makes /readyz answer 503 so load balancers stop sending
// traffic while the process shuts down.
func (s *Server) SetDraining() { s.draining.Store(true) }

func (s *Server) routes() {
	if s.cfg.OpsOnly {
		s.opsRoutes()
		return
	}
	s.handle("POST /v1/notifications/send", config.ScopeSend, s.sendMulti)
	s.handle("POST /v1/notifications/{channel}/send", config.ScopeSend, s.send)
	s.handle("POST /v1/notifications/dispatch", config.ScopeJobsWrite, s.dispatch)
	s.handle("GET /v1/jobs", config.ScopeJobsRead, s.listJobs)
	s.handle("GET /v1/jobs/{job_id}", config.ScopeJobsRead, s.getJob)
	s.handle("POST /v1/jobs/{job_id}/pause", config.ScopeJobsWrite, s.pauseJob)
	s.handle("POST /v1/jobs/{job_id}/resume", config.ScopeJobsWrite, s.resumeJob)
	s.handle("DELETE /v1/jobs/{job_id}", config.ScopeJobsWrite, s.cancelJob)
	s.handle("GET /v1/messages", config.ScopeRead, s.listMessages)
	s.handle("GET /v1/messages/{id}", config.ScopeRead, s.getMessage)
	s.handle("GET /v1/messages/{id}/attempts", config.ScopeRead, s.listAttempts)
	s.handle("PATCH /v1/messages/{id}", config.ScopeReprocess, s.patchMessage)
	s.handle("GET /v1/send-logs/{send_id}", config.ScopeRead, s.getSendLog)
	s.handle("POST /v1/send-logs/search", config.ScopeRead, s.searchSendLogs)
	if s.cfg.Store != nil {
		s.handle("POST /graphql", config.ScopeRead, s.graphqlHandler)
		s.handle("GET /graphql", config.ScopeRead, s.graphqlHandler)
	}
	s.handle("POST /v1/messages/{id}/reprocess", config.ScopeReprocess, s.reprocess)
	s.handle("POST /v1/messages/reprocess", config.ScopeReprocess, s.reprocessBulk)
	s.handle("GET /v1/me", "", s.me)
	s.handle("GET /v1/overview", config.ScopeRead, s.overview)
	s.mountConsole()
	s.handleOpen("GET /openapi.json", s.openapi)
	s.opsRoutes()
}

// opsRoutes are the unauthenticated operations endpoints every role serves.
func (s *Server) opsRoutes() {
	s.handleOpen("GET /healthz", s.healthz)
	s.handleOpen("GET /readyz", s.readyz)
	if s.cfg.Gatherer != nil {
		s.handleOpen("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.instrument("unmatched", func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, r, errorf(http.StatusNotFound, "not_found", "", "no route "+r.Method+" "+r.URL.Path))
		})(w, r)
	})
}

// handlerFunc is a handler that returns its error for writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *config.Principal) error

// Routes lists every "METHOD /pattern" the server answers.
func (s *Server) Routes() []string { return slices.Clone(s.routeList) }

func (s *Server) handle(pattern, scope string, h handlerFunc) {
	s.routeList = append(s.routeList, pattern)
	_, route, _ := strings.Cut(pattern, " ")
	s.mux.HandleFunc(pattern, s.instrument(route, func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r, scope)
		if err == nil {
			addLogFields(r.Context(), zap.String("workspace", p.Workspace), zap.String("key", p.KeyName))
			if wait, ok := s.limits.allow(p, 1, s.clock.Now()); !ok {
				err = rateLimited(p, wait)
			} else {
				// Once answered, the request's size counts too: a large
				// answer costs what the small requests it replaces would.
				defer func() {
					if rec, ok := w.(*statusRecorder); ok {
						s.limits.charge(p, answerCost(rec.bytes), s.clock.Now())
					}
				}()
			}
		}
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			ae := toAPIError(err)
			if ae.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
			}
			if ae.retryAfter != "" {
				w.Header().Set("Retry-After", ae.retryAfter)
			}
			if strings.HasPrefix(route, "/v1/send-logs") {
				writeSendLogError(w, err) // the send-logs envelope: {"ok": false, "error": ...}
				return
			}
			s.writeError(w, r, err)
		}
	}))
}

func (s *Server) handleOpen(pattern string, h http.HandlerFunc) {
	s.routeList = append(s.routeList, pattern)
	_, route, _ := strings.Cut(pattern, " ")
	s.mux.HandleFunc(pattern, s.instrument(route, h))
}

// instrument adds the request id, the access log and the metrics.
func (s *Server) instrument(route string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !requestIDRe.MatchString(id) {
			id = newUUID()
		}
		w.Header().Set("X-Request-Id", id)
		info := &requestInfo{}
		ctx := reqid.With(context.WithValue(r.Context(), requestInfoKey{}, info), id)
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h(rec, r)
		d := time.Since(start)
		s.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		s.latency.WithLabelValues(route).Observe(d.Seconds())
		if route != "/healthz" && route != "/readyz" && route != "/metrics" {
			fields := []zap.Field{zap.String("request_id", id), zap.String("method", r.Method),
				zap.String("route", route), zap.Int("status", rec.status), zap.Duration("duration", d)}
			if pid := r.PathValue("id"); pid != "" && !info.has("message_id") {
				fields = append(fields, zap.String("message_id", pid))
			}
			if sid := r.PathValue("send_id"); sid != "" {
				fields = append(fields, zap.String("send_id", sid))
			}
			s.log.Info("request", append(fields, info.fields()...)...)
		}
	}
}

// requestInfo collects what a handler learns that the request's log line
// should carry (the message ids a send made, its workspace).
type requestInfo struct {
	mu sync.Mutex
	f  []zap.Field
}

type requestInfoKey struct{}

// addLogFields adds fields to the request's log line.
func addLogFields(ctx context.Context, f ...zap.Field) {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.mu.Lock()
		info.f = append(info.f, f...)
		info.mu.Unlock()
	}
}

func (i *requestInfo) fields() []zap.Field {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.f
}

func (i *requestInfo) has(key string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, f := range i.f {
		if f.Key == key {
			return true
		}
	}
	return false
}

var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9._\-]{8,64}$`)

func requestID(ctx context.Context) string { return reqid.From(ctx) }

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	// bytes counts the body written (a request's cost, ratelimit.go).
	bytes int64
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// readBody reads a request body up to the limit: a larger one is a 413
// before any of it is used.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, &http.MaxBytesError{Limit: s.cfg.MaxBodyBytes}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return nil, err
	}
	// Every body is JSON; one that is not UTF-8 is refused before it is
	// decoded, stored or echoed in an error.
	if err := producer.CheckUTF8(body); err != nil {
		return nil, err
	}
	return body, nil
}
