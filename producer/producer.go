package producer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/queue"
	"github.com/heraldhq/herald/internal/reqid"
	"github.com/heraldhq/herald/logstore"
)

// ErrUnavailable means the send could not be queued (JetStream or Redis
// unreachable). Nothing was queued without a log entry: the entry, if one
// was written, is marked failed with error code UNAVAILABLE.
var ErrUnavailable = errors.New("producer: unavailable")

// Validator checks a channel's input against its definition (and the
// workspace's providers) at accept time, so that a send that can never be
// delivered is refused before anything is written. It returns an
// *InvalidError.
type Validator func(ws *config.Workspace, def *config.Message, input json.RawMessage) error

// Config configures a Producer. Zero values mean the documented defaults.
type Config struct {
	// Config returns the current configuration (it may be reloaded).
	Config func() *config.Config
	Store  *logstore.Store
	Queue  *queue.Queue
	// Validators by channel; a channel without one cannot be sent on.
	Validators map[string]Validator
	// CacheWindow, when set, overrides the configured cache window
	// (cache_window, per workspace; default 24h).
	CacheWindow time.Duration
	// PublishTimeout bounds the JetStream publish. Default 5s.
	PublishTimeout time.Duration
	Clock          clock.Clock
	Logger         *zap.Logger
	Registerer     prometheus.Registerer
}

// Producer validates sends, writes their pending log entries and queues
// them on JetStream.
type Producer struct {
	cfg     Config
	clock   clock.Clock
	log     *zap.Logger
	metrics *metrics

	bg        sync.WaitGroup
	done      chan struct{}
	closeOnce sync.Once
}

// New returns a Producer.
func New(cfg Config) (*Producer, error) {
	if cfg.Config == nil || cfg.Store == nil || cfg.Queue == nil {
		return nil, errors.New("producer: Config, Store and Queue are required")
	}
	cfg.PublishTimeout = cmp.Or(cfg.PublishTimeout, 5*time.Second)
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Producer{cfg: cfg, clock: clock.Or(cfg.Clock), log: cmp.Or(cfg.Logger, zap.NewNop()), metrics: m, done: make(chan struct{})}, nil
}

// Via values for triggered_by.
const (
	ViaAPI       = "api"
	ViaNATS      = "nats"
	ViaSchedule  = "schedule"
	ViaReprocess = "reprocess"
)

// Sent is the outcome of an accepted send.
type Sent struct {
	Channel   string `json:"channel"`
	MessageID string `json:"messageId"`
	Status    string `json:"status"`
	// Deduplicated: the cache tag named an earlier send; nothing was sent.
	Deduplicated bool `json:"deduplicated,omitempty"`
}

const (
	maxCacheTag = 256
	maxRetries  = 100
)

// resolved is a validated send, ready to be written and queued.
type resolved struct {
	product     *config.Product
	def         *config.Message
	session     string
	retries     int
	cacheWindow time.Duration
}

// productEnv resolves a send's product and checks its env.
func productEnv(cfg *config.Config, ws, product, env string) (*config.Product, error) {
	if product == "" {
		return nil, invalid("product", "required")
	}
	prod := cfg.Product(ws, product)
	if prod == nil {
		return nil, invalid("product", "no product %q in this workspace", product)
	}
	if env == "" {
		return nil, invalid("env", "required")
	}
	if !prod.HasEnv(env) {
		return nil, invalid("env", "product %q has no env %q (envs: %s)", product, env, strings.Join(prod.Envs, ", "))
	}
	return prod, nil
}

// validate checks a send for one channel and resolves its definition.
func (p *Producer) validate(cfg *config.Config, ws, channel string, req *SendRequest) (*resolved, error) {
	if !slices.Contains(config.Channels, channel) {
		return nil, invalid("channel", "unknown channel %q (want email, push, sms or callback)", channel)
	}
	if _, ok := p.cfg.Validators[channel]; !ok {
		return nil, invalid("channel", "channel %q is not enabled on this server", channel)
	}
	prod, err := productEnv(cfg, ws, req.Product, req.Env)
	if err != nil {
		return nil, err
	}
	if req.Notification == "" {
		return nil, invalid("notification", "required, as notification_tag:message_tag")
	}
	nt, mt, ok := strings.Cut(req.Notification, ":")
	if !ok || nt == "" || mt == "" {
		return nil, invalid("notification", "want notification_tag:message_tag, got %q", req.Notification)
	}
	def := cfg.Message(ws, req.Product, req.Notification)
	if def == nil {
		return nil, invalid("notification", "no notification %q for product %q", req.Notification, req.Product)
	}
	if def.Channel(channel) == nil {
		return nil, invalid("notification", "notification %q has no %s message (it has: %s)", req.Notification, channel, strings.Join(def.Channels(), ", "))
	}
	r := &resolved{product: prod, def: def, retries: *cfg.Delivery.Retries, cacheWindow: cmp.Or(p.cfg.CacheWindow, cfg.CacheWindowFor(ws))}
	if req.Retries != nil {
		if *req.Retries < 0 || *req.Retries > maxRetries {
			return nil, invalid("retries", "must be between 0 and %d", maxRetries)
		}
		r.retries = *req.Retries
	}
	if len(req.Cache) > maxCacheTag {
		return nil, invalid("cache", "at most %d characters", maxCacheTag)
	}
	if req.Session != "" {
		// Only the tag is ever stored; the token never is.
		tag, err := checkSession(prod, req.Session, p.clock.Now())
		if err != nil {
			return nil, err
		}
		r.session = tag
	}
	if len(req.Input) == 0 || string(req.Input) == "null" {
		return nil, invalid("input", "required")
	}
	if err := p.cfg.Validators[channel](cfg.Workspace(ws), def, req.Input); err != nil {
		return nil, err
	}
	return r, nil
}

// Options are what internal callers (the scheduler, reprocessing, NATS
// ingest) set on a send beyond the request itself.
type Options struct {
	// Via is triggered_by: api, nats, schedule or reprocess. Default api.
	Via        string
	CampaignID string
	ProcessID  string
	// IDSeed makes message ids deterministic: the id of a channel's message
	// is ids.Derive(At, IDSeed+"/"+channel), so that two processes making
	// the same send (two scheduler replicas firing one slot) write one
	// entry and publish one job.
	IDSeed string
	At     time.Time
	// SessionTag is recorded as the messages' session when the request
	// names none: the tag of a session the caller verified earlier (the
	// scheduler checks a dispatch's session once, at dispatch, and keeps
	// only its tag; a token would have expired by a later fire anyway).
	SessionTag string

	// validateOnly makes SendMulti check and stop (ValidateMulti).
	validateOnly bool
}

// Send accepts one send on one channel for workspace ws: it validates,
// writes the pending entry, then publishes the job. It returns an
// *InvalidError for bad input and ErrUnavailable when the job could not be
// queued.
func (p *Producer) Send(ctx context.Context, ws, channel string, req *SendRequest, opts Options) (*Sent, error) {
	cfg := p.cfg.Config()
	r, err := p.validate(cfg, ws, channel, req)
	if err != nil {
		p.metrics.rejected.WithLabelValues(metricChannel(channel)).Inc()
		return nil, err
	}
	return p.accept(ctx, ws, channel, req, r, opts, req.Cache, true)
}

// metricChannel bounds the channel label to the known channels.
func metricChannel(ch string) string {
	if slices.Contains(config.Channels, ch) {
		return ch
	}
	return "unknown"
}

// accept writes and queues one validated message. head marks the first
// message of a send (the one its send log is indexed by).
//
// The outcome never depends on the caller staying: once the entry may be
// written, the write, the publish and, if need be, the abandon run to
// their end on a context detached from the caller's cancellation (each
// bounded by its own timeout), and the answer is what really happened. A
// 503 means the message will never be delivered; a 202 that it will.
func (p *Producer) accept(ctx context.Context, ws, channel string, req *SendRequest, r *resolved, opts Options, cacheKey string, head bool) (*Sent, error) {
	dctx := context.WithoutCancel(ctx)
	now := p.clock.Now()
	via := cmp.Or(opts.Via, ViaAPI)
	if r.session == "" {
		r.session = opts.SessionTag
	}
	id := ids.New(now)
	if opts.IDSeed != "" {
		id = ids.Derive(cmp.Or(opts.At, now), opts.IDSeed+"/"+channel)
	}
	nt, _, _ := strings.Cut(req.Notification, ":")
	ne := &logstore.NewEntry{
		ID: id, Workspace: ws, ProductID: r.product.ID, ProductTag: r.product.Tag, Env: req.Env,
		NotificationTag: nt, Notification: req.Notification, Type: channel, ProcessID: opts.ProcessID,
		CampaignID: opts.CampaignID, TriggeredBy: via, Session: r.session, Retries: r.retries,
		Input: req.Input, Cache: req.Cache, CacheKey: cacheKey, CacheWindow: r.cacheWindow, Head: head,
	}
	created, err := p.cfg.Store.Create(dctx, ne)
	if err != nil {
		p.log.Error("log entry not written; send refused", reqid.Field(ctx), zap.String("workspace", ws), zap.Error(err))
		p.metrics.unavailable.Inc()
		p.settleFailedCreate(dctx, ws, id, cacheKey, err)
		return nil, &UnavailableError{Dependency: DependencyLogStore, Err: err}
	}
	if created.Deduplicated {
		p.metrics.deduplicated.WithLabelValues(channel).Inc()
		status := logstore.StatusPending
		if e, err := p.cfg.Store.Get(dctx, ws, created.ID); err == nil {
			status = e.Status
		}
		return &Sent{Channel: channel, MessageID: created.ID, Status: status, Deduplicated: true}, nil
	}
	if created.Existed && created.Status != logstore.StatusPending {
		// Made and settled before (same deterministic id): nothing to queue.
		return &Sent{Channel: channel, MessageID: created.ID, Status: created.Status, Deduplicated: true}, nil
	}
	j := &queue.Job{Workspace: ws, ID: created.ID, Channel: channel, Product: req.Product, Env: req.Env,
		Notification: req.Notification, Retries: r.retries, Input: req.Input, RequestID: reqid.From(ctx)}
	if err := p.publish(dctx, j); err != nil {
		if created.Existed {
			// Made twice (two scheduler replicas firing one slot): the first
			// maker may have queued it and answered for it; this caller
			// retries the same send, it does not abandon the first's.
			p.metrics.unavailable.Inc()
			return nil, &UnavailableError{Dependency: DependencyQueue, Err: err}
		}
		status, err := p.abandon(dctx, j, cacheKey, err, "the delivery queue was unavailable; nothing was sent")
		if err != nil {
			return nil, err
		}
		p.metrics.accepted.WithLabelValues(channel, via).Inc()
		return &Sent{Channel: channel, MessageID: created.ID, Status: status}, nil
	}
	p.metrics.accepted.WithLabelValues(channel, via).Inc()
	return &Sent{Channel: channel, MessageID: created.ID, Status: logstore.StatusPending, Deduplicated: created.Existed}, nil
}

// publish puts a job on JetStream and waits for the stream's ack, for at
// most the publish timeout (trying again meanwhile: the same message id
// stores one copy). An error means the outcome is unknown.
func (p *Producer) publish(ctx context.Context, j *queue.Job) error {
	pctx, cancel := context.WithTimeout(ctx, p.cfg.PublishTimeout)
	defer cancel()
	_, err := p.cfg.Queue.Publish(pctx, j)
	return err
}

// abandon settles a message whose publish could not be confirmed: it
// marks the entry failed with UNAVAILABLE and releases its cache tag, but
// only if no worker has started on it (logstore's Untouched). Then nothing
// will ever send it — a job that reaches JetStream late finds the entry
// failed at its claim — and the caller gets 503. If a worker already has
// it, the job was stored after all: the caller gets its status and 202.
// If Redis cannot be reached either, the abandon is retried in the
// background and the cache tag stays taken meanwhile, so a client's retry
// with the same tag gets this message's id, never a second message.
func (p *Producer) abandon(ctx context.Context, j *queue.Job, cacheKey string, cause error, why string) (status string, err error) {
	from := logstore.StatusPending
	if j.Generation > 0 {
		from = logstore.StatusReprocessing
	}
	gen := j.Generation
	change := logstore.Change{
		To: logstore.StatusFailed, From: []string{from}, Generation: &gen, Untouched: true,
		SetError: true, ErrorCode: "UNAVAILABLE", Error: why, ReleaseCache: cacheKey,
	}
	refused := &UnavailableError{Dependency: DependencyQueue, Err: cause}
	log := p.log.With(zap.String("workspace", j.Workspace), zap.String("message_id", j.ID), reqid.FieldOf(j.RequestID))
	mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, _, terr := p.cfg.Store.Transition(mctx, j.Workspace, j.ID, change)
	cancel()
	switch {
	case terr == nil:
		log.Error("publish not confirmed; message abandoned (failed, UNAVAILABLE)", zap.Error(cause))
		p.metrics.unavailable.Inc()
		return "", refused
	case errors.Is(terr, logstore.ErrTouched) && st != logstore.StatusFailed:
		log.Warn("publish not confirmed, but a worker already has the message: accepted", zap.Error(cause))
		return st, nil
	case errors.Is(terr, logstore.ErrTouched), errors.Is(terr, logstore.ErrConflict), errors.Is(terr, logstore.ErrNotFound):
		// Cancelled meanwhile, or gone: it will not be delivered.
		p.metrics.unavailable.Inc()
		return "", refused
	}
	log.Error("publish not confirmed and the log store is unreachable; abandoning in the background", zap.Error(cause), zap.NamedError("store", terr))
	p.metrics.unavailable.Inc()
	p.abandonLater(j.Workspace, j.ID, change)
	return "", refused
}

// settleFailedCreate makes sure a create the caller is told failed leaves
// nothing behind: Redis applies no create after its deadline, so past it,
// an entry that was written (its answer lost) is abandoned, and none can
// appear later.
func (p *Producer) settleFailedCreate(ctx context.Context, ws, id, cacheKey string, err error) {
	var ce *logstore.CreateError
	if !errors.As(err, &ce) || ce.Unsent {
		return // refused before anything could be written
	}
	if wait := time.Until(ce.Deadline) + createSkew; wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.done:
			t.Stop()
		}
	}
	change := logstore.Change{To: logstore.StatusFailed, From: []string{logstore.StatusPending}, Untouched: true,
		SetError: true, ErrorCode: "UNAVAILABLE", Error: "the log store did not confirm the write; nothing was sent", ReleaseCache: cacheKey}
	mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, _, terr := p.cfg.Store.Transition(mctx, ws, id, change); terr != nil && !errors.Is(terr, logstore.ErrNotFound) {
		p.abandonLater(ws, id, change)
	}
}

// createSkew is how far Redis's clock may be ahead of ours when waiting
// out a create's deadline.
const createSkew = 250 * time.Millisecond

// abandonLater retries an abandon while Redis is unreachable.
func (p *Producer) abandonLater(ws, id string, change logstore.Change) {
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		// Inside half the reconciler's reconcile_after, which would
		// otherwise find the entry pending without a job and queue it.
		deadline := time.Now().Add(p.cfg.Config().Delivery.ReconcileAfter.D() / 2)
		wait := 100 * time.Millisecond
		for time.Now().Before(deadline) {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-p.done:
				t.Stop()
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _, err := p.cfg.Store.Transition(ctx, ws, id, change)
			cancel()
			if err == nil || errors.Is(err, logstore.ErrTouched) || errors.Is(err, logstore.ErrConflict) || errors.Is(err, logstore.ErrNotFound) {
				return
			}
			wait = min(2*wait, time.Second)
		}
		p.log.Error("could not abandon a message whose publish failed; the reconciler may queue it", zap.String("workspace", ws), zap.String("message_id", id))
	}()
}

// Close stops background abandons (they stop trying; the reconciler
// covers what they did not finish).
func (p *Producer) Close() {
	p.closeOnce.Do(func() { close(p.done) })
	p.bg.Wait()
}
