// Package app wires Herald's parts into a running process for each role:
// serve (everything, with an embedded JetStream), producer (HTTP API and
// ingest), worker (deliveries), scheduler (firing dispatch jobs).
// cmd/herald only parses flags and calls it.
package app

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/internal/natsx"
	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/internal/redisx"
	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/producer"
	"github.com/heraldhq/herald/scheduler"
	"github.com/heraldhq/herald/worker"
	"github.com/heraldhq/herald/worker/channel"
	"github.com/heraldhq/herald/worker/channel/callback"
	"github.com/heraldhq/herald/worker/channel/email"
	"github.com/heraldhq/herald/worker/channel/push"
	"github.com/heraldhq/herald/worker/channel/sms"
)

// Role selects what a process runs.
type Role struct {
	API    bool
	Worker bool
	// Scheduler fires due dispatch jobs. Any number of processes may; each
	// slot fires once.
	Scheduler bool
}

// Roles of the herald subcommands.
var (
	RoleServe     = Role{API: true, Worker: true, Scheduler: true}
	RoleProducer  = Role{API: true}
	RoleWorker    = Role{Worker: true}
	RoleScheduler = Role{Scheduler: true}
)

// Options configure an App.
type Options struct {
	Config *config.Config
	Role   Role
	// Embedded runs an in-process JetStream server when Config.NATSURL is
	// empty (herald serve). Split roles always need an external NATS.
	Embedded bool
	Logger   *zap.Logger
	Clock    clock.Clock
	// Deliverers replaces the channel deliverers (tests wrap them).
	Deliverers map[string]worker.Deliverer
	// WrapDeliverer, when set, wraps each deliverer (tests use it to stop
	// a worker mid-delivery).
	WrapDeliverer func(channel string, d worker.Deliverer) worker.Deliverer
	// LagInterval overrides the worker's lag/stall check period.
	LagInterval time.Duration
	// ProviderTLS is the base TLS config of connections to providers
	// (SMTP, FCM, APNs, Expo, Twilio, HTTP SMS); tests add their CA.
	// Default: system roots.
	ProviderTLS *tls.Config
	// WrapSender, when set, wraps what the scheduler hands fires to (tests
	// use it to stop a replica mid-fire, benchmarks to time fires).
	WrapSender func(scheduler.Sender) scheduler.Sender
	// SchedulerOwner names this process's scheduler in its claims.
	SchedulerOwner string
	// KeepInterval is how often the JetStream layout is checked and
	// recreated when missing. Default 2s.
	KeepInterval time.Duration
}

// App is a running Herald process.
type App struct {
	opts     Options
	cfg      atomic.Pointer[config.Config]
	log      *zap.Logger
	registry *prometheus.Registry

	rdb redis.UniversalClient
	ns  *server.Server
	nc  *nats.Conn
	// ingestNC is the ingest subscription's own connection on an embedded
	// server with ingest users; nil when it shares nc.
	ingestNC *nats.Conn
	js       jetstream.JetStream
	queue    *queue.Queue
	stopKeep func()
	store    *logstore.Store
	producer *producer.Producer
	worker   *worker.Worker
	api      *api.Server
	http     *http.Server
	listener net.Listener
	pprof    *http.Server
	pprofL   net.Listener
	metrics  *http.Server
	metricsL net.Listener

	scheduler *scheduler.Scheduler

	deliverers map[string]worker.Deliverer
	janitor    *logstore.Janitor
	ingest     *producer.Ingest

	stopOnce sync.Once
	stopErr  error
}

// New checks the options; Start does the I/O.
func New(opts Options) (*App, error) {
	if opts.Config == nil {
		return nil, errors.New("app: no config")
	}
	if opts.Config.NATSURL == "" && !opts.Embedded {
		return nil, errors.New("this role needs an external NATS: set HERALD_NATS_URL (or nats_url); only `herald serve` embeds one")
	}
	a := &App{opts: opts, log: cmp.Or(opts.Logger, zap.NewNop()), registry: prometheus.NewRegistry()}
	a.cfg.Store(opts.Config)
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return a, nil
}

// Config returns the current configuration.
func (a *App) Config() *config.Config { return a.cfg.Load() }

// Reload swaps in a new configuration (already validated by config.Load).
// In-flight work keeps the definitions it resolved.
func (a *App) Reload(c *config.Config) { a.cfg.Store(c) }

// ReloadFile reads the config file at path again (SIGHUP), with getenv for
// HERALD_* overrides and the secrets it names, and swaps it in when it is
// valid. A file with problems is refused with every problem in the error
// and the running config stays. Deliveries in flight finish with the
// definitions and provider clients they started with; later ones use the
// new config, and a provider whose settings or secrets changed gets a new
// client (token caches rebuilt). Process settings (addresses, Redis, NATS,
// concurrency) need a restart.
func (a *App) ReloadFile(path string, getenv func(string) string) error {
	next, err := config.LoadWithEnv(path, getenv)
	if err != nil {
		return err
	}
	a.Reload(next)
	return nil
}

// Registry is the process's metrics registry.
func (a *App) Registry() *prometheus.Registry { return a.registry }

// Store is the log store (tests read it).
func (a *App) Store() *logstore.Store { return a.store }

// workspaceIDs lists the configured workspaces.
func (a *App) workspaceIDs() []string {
	var out []string
	for _, ws := range a.Config().Workspaces {
		out = append(out, ws.ID)
	}
	return out
}

// API is the HTTP API server (nil on a process without one).
func (a *App) API() *api.Server { return a.api }

// Producer accepts sends (nil on a worker-only process).
func (a *App) Producer() *producer.Producer { return a.producer }

// Scheduler manages dispatch jobs (nil on a worker-only process); it fires
// them on the serve and scheduler roles.
func (a *App) Scheduler() *scheduler.Scheduler { return a.scheduler }

// JetStream is the process's JetStream context.
func (a *App) JetStream() jetstream.JetStream { return a.js }

// Queue is the process's view of Herald's JetStream layout.
func (a *App) Queue() *queue.Queue { return a.queue }

// Worker is the worker (nil on a process without the worker role).
func (a *App) Worker() *worker.Worker { return a.worker }

// NATSURL is the client URL of the embedded server, or the configured one.
func (a *App) NATSURL() string {
	if a.ns != nil {
		return a.ns.ClientURL()
	}
	return a.Config().NATSURL
}

// Addr is the HTTP listen address (with the real port when ":0" was asked).
func (a *App) Addr() string {
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// Start connects to Redis and NATS, starts every part of the role and the
// HTTP listener. On error, whatever started is stopped again.
func (a *App) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = a.Stop(context.Background())
		}
	}()
	cfg := a.Config()
	if err := a.connectRedis(ctx, cfg); err != nil {
		return err
	}
	if err := a.connectNATS(ctx, cfg); err != nil {
		return err
	}
	a.store = logstore.New(a.rdb, logstore.Config{Prefix: cfg.KeyPrefix, Retention: cfg.Retention.D(), Clock: a.opts.Clock})

	guard := &netguard.Guard{AllowPrivate: cfg.AllowPrivateNetworks}
	deliverers := a.opts.Deliverers
	if deliverers == nil {
		timeout := cfg.Delivery.Timeout.D()
		deliverers = map[string]worker.Deliverer{
			"callback": callback.New(callback.Config{Guard: guard, Timeout: timeout}),
			"email":    email.New(email.Config{Timeout: timeout, TLSConfig: a.opts.ProviderTLS}),
			"push":     push.New(push.Config{Timeout: timeout, TLSConfig: a.opts.ProviderTLS}),
			"sms":      sms.New(sms.Config{Timeout: timeout, TLSConfig: a.opts.ProviderTLS}),
		}
	}
	a.deliverers = deliverers
	if a.opts.Role.API || a.opts.Role.Scheduler {
		a.producer, err = producer.New(producer.Config{
			Config: a.Config, Store: a.store, Queue: a.queue, Clock: a.opts.Clock,
			Validators: validators(), Logger: a.log.Named("producer"), Registerer: a.registry,
		})
		if err != nil {
			return err
		}
		if err := a.startScheduler(ctx, cfg); err != nil {
			return err
		}
	}
	if a.opts.Role.API {
		inc := a.nc
		if a.ns != nil && len(cfg.NATS.IngestUsers) > 0 {
			// Its own user: it can publish nothing but one reply to each
			// request it received (natsx.IngestUser).
			if a.ingestNC, err = natsx.ConnectIngest(cfg.NATSURL, a.ns, "herald-ingest", a.log); err != nil {
				return err
			}
			inc = a.ingestNC
		}
		a.ingest = &producer.Ingest{Producer: a.producer, Conn: inc, Config: a.Config, Dispatch: a.dispatchIngest,
			Logger: a.log.Named("ingest"), Registerer: a.registry}
		if err := a.ingest.Start(ctx); err != nil {
			return fmt.Errorf("nats ingest: %w", err)
		}
	}
	if a.opts.Role.Worker {
		if err := a.startWorker(ctx, cfg, deliverers); err != nil {
			return err
		}
		a.janitor = &logstore.Janitor{Store: a.store, Workspaces: a.workspaceIDs, Logger: a.log.Named("janitor")}
		if err := a.janitor.Start(ctx); err != nil {
			return err
		}
	}
	// Every role listens on http_addr: the API role serves the API, the
	// others only /healthz, /readyz and /metrics (probes, scraping).
	if err := a.startHTTP(cfg, !a.opts.Role.API); err != nil {
		return err
	}
	if err := a.startMetrics(cfg); err != nil {
		return err
	}
	return a.startPprof(cfg)
}

// validators check channel input at accept time: everything a delivery
// would refuse for the input itself, templates rendered included.
func validators() map[string]producer.Validator {
	return map[string]producer.Validator{
		"callback": func(_ *config.Workspace, def *config.Message, input json.RawMessage) error {
			_, err := callback.Prepare(def.Callback, input)
			return toInvalid(err)
		},
		"email": func(_ *config.Workspace, def *config.Message, input json.RawMessage) error {
			_, err := email.Prepare(def.Email, input)
			return toInvalid(err)
		},
		"push": func(_ *config.Workspace, def *config.Message, input json.RawMessage) error {
			_, err := push.Prepare(def.Push, input)
			return toInvalid(err)
		},
		"sms": func(ws *config.Workspace, def *config.Message, input json.RawMessage) error {
			s, err := sms.Prepare(def.SMS, input)
			if err != nil {
				return toInvalid(err)
			}
			// A generic provider's body template must render too.
			if p, ok := ws.Providers[def.SMS.Provider]; ok && p.Type == "http" {
				for _, to := range s.To {
					if _, err := sms.RenderProviderBody(p, s, to, ""); err != nil {
						return toInvalid(err)
					}
				}
			}
			return nil
		},
	}
}

// toInvalid maps a channel's refusal to the producer's 400.
func toInvalid(err error) error {
	if err == nil {
		return nil
	}
	var ie *channel.InputError
	var cie *callback.InputError
	switch {
	case errors.As(err, &ie):
		return &producer.InvalidError{Code: ie.Code, Field: ie.Field, Message: ie.Message}
	case errors.As(err, &cie):
		return &producer.InvalidError{Code: "invalid_argument", Field: cie.Field, Message: cie.Message}
	}
	return &producer.InvalidError{Code: "invalid_argument", Field: "input", Message: err.Error()}
}

// startScheduler makes the jobs service (the API's dispatch and jobs
// endpoints use it) and, on the roles that fire jobs, starts its loop.
func (a *App) startScheduler(ctx context.Context, cfg *config.Config) error {
	var sender scheduler.Sender = a.producer
	if a.opts.WrapSender != nil {
		sender = a.opts.WrapSender(sender)
	}
	s, err := scheduler.New(scheduler.Config{
		Store: a.store, Sender: sender, Workspaces: a.workspaceIDs,
		PollInterval: cfg.Scheduler.PollInterval.D(), Lease: cfg.Scheduler.Lease.D(), Concurrency: cfg.Scheduler.Concurrency,
		Owner: a.opts.SchedulerOwner, Clock: a.opts.Clock, Logger: a.log, Registerer: a.registry,
	})
	if err != nil {
		return err
	}
	a.scheduler = s
	if a.opts.Role.Scheduler {
		return s.Start(ctx)
	}
	return nil
}

func (a *App) startWorker(ctx context.Context, cfg *config.Config, deliverers map[string]worker.Deliverer) error {
	enabled := map[string]worker.Deliverer{}
	for ch, d := range deliverers {
		if len(cfg.Delivery.Channels) > 0 && !contains(cfg.Delivery.Channels, ch) {
			continue
		}
		if a.opts.WrapDeliverer != nil {
			d = a.opts.WrapDeliverer(ch, d)
		}
		enabled[ch] = d
	}
	w, err := worker.New(worker.Config{
		Config: a.Config, Store: a.store, Queue: a.queue, Deliverers: enabled,
		Concurrency: cfg.Delivery.Concurrency, WorkspaceConcurrency: cfg.Delivery.WorkspaceConcurrency, EndpointConcurrency: cfg.Delivery.EndpointConcurrency,
		AckWait: cfg.NATS.AckWait.D(), MaxAckPending: cfg.NATS.MaxAckPending,
		BackoffInitial: cfg.Delivery.BackoffInitial.D(), BackoffMax: cfg.Delivery.BackoffMax.D(), Jitter: *cfg.Delivery.Jitter,
		RetryAfterMax: cfg.Delivery.RetryAfterMax.D(), ReconcileAfter: cfg.Delivery.ReconcileAfter.D(),
		BreakerFailures: cfg.Breaker.Failures, BreakerOpenFor: cfg.Breaker.OpenFor.D(), BreakerHalfOpenRequests: cfg.Breaker.HalfOpenRequests,
		LagInterval: a.opts.LagInterval, Clock: a.opts.Clock, Logger: a.log, Registerer: a.registry,
		WorkspaceLabels: cfg.MetricsWorkspaceLabels,
	})
	if err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		return err
	}
	a.worker = w
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (a *App) startHTTP(cfg *config.Config, opsOnly bool) error {
	store := a.store
	if opsOnly {
		store = nil
	}
	// With metrics_addr, /metrics is served there only (startMetrics).
	var gatherer prometheus.Gatherer = a.registry
	if cfg.MetricsAddr != "" {
		gatherer = nil
	}
	a.api = api.New(api.Config{
		Config: a.Config, Producer: a.producer, Scheduler: a.scheduler, Store: store, MaxBodyBytes: cfg.MaxBodyBytes,
		Gatherer: gatherer, Registerer: a.registry, Logger: a.log, Clock: a.opts.Clock, OpsOnly: opsOnly,
		Breakers: a.breakerStates(),
		Checks: map[string]func(context.Context) error{
			"redis": func(ctx context.Context) error { return a.rdb.Ping(ctx).Err() },
			// Not ready while the stream is missing (a wiped store): every
			// role recreates it within seconds (queue.Keep).
			"nats": func(ctx context.Context) error {
				if !a.nc.IsConnected() {
					return fmt.Errorf("not connected (%s)", a.nc.Status())
				}
				return a.queue.Ready(ctx)
			},
		},
	})
	l, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (HERALD_HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	a.listener = l
	a.http = &http.Server{
		Handler:           a.api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(a.log.Named("http")),
	}
	go func() {
		if err := a.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", zap.Error(err))
		}
	}()
	a.log.Info("http listening", zap.String("addr", l.Addr().String()), zap.Bool("ops_only", opsOnly))
	return nil
}

func (a *App) connectRedis(ctx context.Context, cfg *config.Config) error {
	parsed, err := redisx.Parse(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("redis url (HERALD_REDIS_URL): %w", err)
	}
	redis.SetLogger(redisLogger{a.log.Named("redis")})
	a.rdb = parsed.NewClient(64)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.rdb.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("redis at %s is unreachable: %w (is redis-server running? set HERALD_REDIS_URL)", redisx.Redacted(cfg.RedisURL), err)
	}
	if parsed.IsCluster() {
		// Every node must answer before the first script runs on it.
		if err := a.rdb.(*redis.ClusterClient).ForEachShard(pctx, func(ctx context.Context, c *redis.Client) error {
			return c.Ping(ctx).Err()
		}); err != nil {
			return fmt.Errorf("redis cluster at %s: a node is unreachable: %w", redisx.Redacted(cfg.RedisURL), err)
		}
		a.log.Info("redis cluster", zap.String("url", redisx.Redacted(cfg.RedisURL)))
	}
	return nil
}

func (a *App) connectNATS(ctx context.Context, cfg *config.Config) error {
	if cfg.NATSURL == "" {
		var users []natsx.User
		for _, u := range cfg.NATS.IngestUsers {
			users = append(users, natsx.User{Name: u.User, Password: u.Password(), Workspace: u.Workspace})
		}
		ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{
			Listen: cfg.NATS.Listen, DataDir: cfg.DataDir, SyncInterval: cfg.NATS.SyncInterval, Users: users, Logger: a.log,
		})
		if err != nil {
			return err
		}
		a.ns = ns
		a.log.Info("embedded JetStream started", zap.String("url", ns.ClientURL()), zap.String("store", cfg.DataDir+"/nats"))
	}
	nc, err := natsx.Connect(cfg.NATSURL, a.ns, "herald", a.log)
	if err != nil {
		return err
	}
	a.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	a.js = js
	a.queue = queue.New(js, queue.Config{Replicas: cfg.NATS.StreamReplicas, DuplicateWindow: cfg.NATS.DuplicateWindow.D(), Logger: a.log.Named("queue")})
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := a.queue.Ensure(sctx); err != nil {
		return err
	}
	kctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	kept := make(chan struct{})
	a.stopKeep = func() { stop(); <-kept }
	go func() {
		defer close(kept)
		a.queue.Keep(kctx, cmp.Or(a.opts.KeepInterval, 2*time.Second))
	}()
	return nil
}

// Stop shuts down in order: readiness fails, the HTTP server stops
// accepting and finishes its requests, the scheduler hands back its claims
// and commits its fires in flight, the worker finishes or hands back its
// deliveries, then NATS and Redis close. ctx bounds the whole.
func (a *App) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		var errs []error
		if a.api != nil {
			a.api.SetDraining()
		}
		if a.http != nil {
			if err := a.http.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("http: %w", err))
			}
		}
		if a.ingest != nil {
			_ = a.ingest.Stop(ctx)
		}
		if a.ingestNC != nil {
			a.ingestNC.Close()
		}
		if a.scheduler != nil {
			if err := a.scheduler.Stop(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if a.pprof != nil {
			_ = a.pprof.Close()
		}
		if a.metrics != nil {
			_ = a.metrics.Close()
		}
		if a.worker != nil {
			if err := a.worker.Stop(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if a.janitor != nil {
			_ = a.janitor.Stop(ctx)
		}
		if a.producer != nil {
			a.producer.Close()
		}
		if a.stopKeep != nil {
			a.stopKeep()
		}
		for _, d := range a.deliverers {
			if c, ok := d.(interface{ Close() }); ok {
				c.Close() // idle keep-alive connections
			}
		}
		if a.nc != nil {
			_ = a.nc.Drain()
			deadline := time.Now().Add(5 * time.Second)
			for !a.nc.IsClosed() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			a.nc.Close()
		}
		if a.ns != nil {
			a.ns.Shutdown()
			a.ns.WaitForShutdown()
		}
		if a.store != nil {
			a.store.Close()
		}
		if a.rdb != nil {
			_ = a.rdb.Close()
		}
		a.stopErr = errors.Join(errs...)
	})
	return a.stopErr
}

// CloseNATSConnection drops the process's NATS connection at once, without
// draining, acking or nacking: what a killed process looks like to
// JetStream. Fault-injection tests use it.
func (a *App) CloseNATSConnection() {
	if a.nc != nil {
		a.nc.Close()
	}
	if a.ingestNC != nil {
		a.ingestNC.Close()
	}
}

// redisLogger sends go-redis's internal messages to zap at debug level; the
// errors that matter reach callers as errors.
type redisLogger struct{ l *zap.Logger }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	r.l.Debug(fmt.Sprintf(format, v...))
}

// dispatchIngest answers a dispatch published on NATS as the HTTP API
// would (201, or 200 for a cache hit; the error shapes of producer.Describe).
func (a *App) dispatchIngest(ctx context.Context, ws string, body []byte) (int, any) {
	if a.scheduler == nil {
		return http.StatusNotFound, map[string]producer.Error{"error": {Code: "not_found", Message: "this process does not schedule jobs"}}
	}
	j, err := a.scheduler.Dispatch(ctx, ws, body)
	if err != nil {
		if e, status, ok := producer.Describe(err); ok {
			return status, map[string]producer.Error{"error": e}
		}
		a.log.Error("nats dispatch failed", zap.String("workspace", ws), zap.Error(err))
		return http.StatusInternalServerError, map[string]producer.Error{"error": {Code: "internal", Message: "internal error"}}
	}
	resp := map[string]any{"job_id": j.ID, "status": j.Status, "next_run_at": nil}
	if !j.NextRunAt.IsZero() {
		resp["next_run_at"] = j.NextRunAt.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	if j.Deduplicated {
		resp["deduplicated"] = true
		return http.StatusOK, resp
	}
	return http.StatusCreated, resp
}
