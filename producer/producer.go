package producer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/job"
	"github.com/heraldhq/herald/internal/natsx"
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
	JS     jetstream.JetStream
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
}

// New returns a Producer.
func New(cfg Config) (*Producer, error) {
	if cfg.Config == nil || cfg.Store == nil || cfg.JS == nil {
		return nil, errors.New("producer: Config, Store and JS are required")
	}
	cfg.PublishTimeout = cmp.Or(cfg.PublishTimeout, 5*time.Second)
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Producer{cfg: cfg, clock: clock.Or(cfg.Clock), log: cmp.Or(cfg.Logger, zap.NewNop()), metrics: m}, nil
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
func (p *Producer) accept(ctx context.Context, ws, channel string, req *SendRequest, r *resolved, opts Options, cacheKey string, head bool) (*Sent, error) {
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
	created, err := p.cfg.Store.Create(ctx, ne)
	if err != nil {
		p.log.Error("log entry not written; send refused", reqid.Field(ctx), zap.String("workspace", ws), zap.Error(err))
		p.metrics.unavailable.Inc()
		return nil, &UnavailableError{Dependency: DependencyLogStore, Err: err}
	}
	if created.Deduplicated {
		p.metrics.deduplicated.WithLabelValues(channel).Inc()
		status := logstore.StatusPending
		if e, err := p.cfg.Store.Get(ctx, ws, created.ID); err == nil {
			status = e.Status
		}
		return &Sent{Channel: channel, MessageID: created.ID, Status: status, Deduplicated: true}, nil
	}
	if created.Existed && created.Status != logstore.StatusPending {
		// Made and settled before (same deterministic id): nothing to queue.
		return &Sent{Channel: channel, MessageID: created.ID, Status: created.Status, Deduplicated: true}, nil
	}
	j := &job.Job{Workspace: ws, ID: created.ID, Channel: channel, Product: req.Product, Env: req.Env,
		Notification: req.Notification, Retries: r.retries, Input: req.Input, RequestID: reqid.From(ctx)}
	// A job for an entry that already existed may have been published by
	// its first maker: JetStream's duplicate window drops a second copy,
	// and the republished mark makes the worker check the entry first.
	if err := p.publish(ctx, j, created.Existed); err != nil {
		p.log.Error("publish failed; entry marked failed", reqid.Field(ctx), zap.String("workspace", ws), zap.String("message_id", created.ID), zap.Error(err))
		p.metrics.unavailable.Inc()
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, _, terr := p.cfg.Store.Transition(mctx, ws, created.ID, logstore.Change{
			To: logstore.StatusFailed, From: []string{logstore.StatusPending}, SetError: true,
			ErrorCode: "UNAVAILABLE", Error: "the delivery queue was unavailable; nothing was sent", ReleaseCache: cacheKey,
		}); terr != nil {
			// The reconciler republishes entries left pending.
			p.log.Error("could not mark entry failed after publish failure", reqid.Field(ctx), zap.String("message_id", created.ID), zap.Error(terr))
		}
		return nil, &UnavailableError{Dependency: DependencyQueue, Err: err}
	}
	p.metrics.accepted.WithLabelValues(channel, via).Inc()
	return &Sent{Channel: channel, MessageID: created.ID, Status: logstore.StatusPending, Deduplicated: created.Existed}, nil
}

// publish puts a job on JetStream and waits for the stream's ack.
func (p *Producer) publish(ctx context.Context, j *job.Job, republished bool) error {
	return publishJob(ctx, p.cfg.JS, j, republished, p.cfg.PublishTimeout)
}

// publishJob publishes a job on its subject with its de-duplication id.
// republished marks a job that may already have been published, so the
// worker checks the entry before delivering it.
func publishJob(ctx context.Context, js jetstream.JetStream, j *job.Job, republished bool, timeout time.Duration) error {
	data, err := j.Encode()
	if err != nil {
		return err
	}
	msg := nats.NewMsg(natsx.JobSubject(j.Channel, j.Workspace, j.ID))
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, j.MsgID())
	if republished {
		msg.Header.Set(job.HeaderRepublished, "1")
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = js.PublishMsg(pctx, msg)
	return err
}
