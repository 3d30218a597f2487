package config

import (
	"crypto/rsa"
	"time"
)

// Config is the whole of a Herald process's configuration: the file named by
// --config, overridden by HERALD_* environment variables. A zero value field
// means "use the documented default"; Load fills defaults before validation.
type Config struct {
	// HTTPAddr is the API listen address (HERALD_HTTP_ADDR). Default ":8080".
	HTTPAddr string `yaml:"http_addr"`
	// RedisURL is the log store (HERALD_REDIS_URL). Default redis://127.0.0.1:6379/0.
	RedisURL string `yaml:"redis_url"`
	// NATSURL is an external NATS server (HERALD_NATS_URL). Empty: the
	// process embeds a JetStream server under DataDir/nats.
	NATSURL string `yaml:"nats_url"`
	// DataDir holds local state of the embedded server (HERALD_DATA_DIR). Default ./data.
	DataDir string `yaml:"data_dir"`
	// AllowPrivateNetworks lets callbacks reach loopback, private and
	// link-local addresses (HERALD_ALLOW_PRIVATE_NETWORKS). Default false.
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
	// ShutdownGrace bounds how long SIGTERM waits for in-flight work. Default 25s.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// MaxBodyBytes is the largest accepted request body. Default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Retention is how long log entries and attempts are kept. Default 90 days.
	Retention Duration `yaml:"retention"`
	// KeyPrefix is prepended to every Redis key. Default "herald".
	KeyPrefix string `yaml:"key_prefix"`
	// CacheWindow is how long a send's cache tag deduplicates: the same tag
	// within it answers the first message. A workspace may set its own.
	// Default 24h.
	CacheWindow Duration `yaml:"cache_window"`
	// PprofAddr, when set, serves net/http/pprof on this separate address
	// (HERALD_PPROF_ADDR), e.g. 127.0.0.1:6060. Default empty: off. Keep it
	// on loopback or a private port: profiles reveal internals.
	PprofAddr string `yaml:"pprof_addr"`
	// MetricsAddr, when set, serves /metrics on this separate address
	// (HERALD_METRICS_ADDR), e.g. :9090, and no longer on http_addr: the
	// API's port can then be public while scraping stays on a private one.
	// Default empty: /metrics on http_addr.
	MetricsAddr string `yaml:"metrics_addr"`
	// MetricsWorkspaceLabels adds metrics labelled with values taken from
	// the workspaces' configurations (herald_worker_breaker_state's
	// workspace and endpoint). Default false: no metric carries a value a
	// workspace chose, so /metrics names no tenant and no endpoint.
	MetricsWorkspaceLabels bool `yaml:"metrics_workspace_labels"`

	Log      LogConfig      `yaml:"log"`
	NATS     NATSConfig     `yaml:"nats"`
	Delivery DeliveryConfig `yaml:"delivery"`
	Breaker  BreakerConfig  `yaml:"breaker"`
	// Scheduler tunes dispatch jobs' firing (config/scheduler.go).
	Scheduler SchedulerConfig `yaml:"scheduler"`

	Workspaces []Workspace `yaml:"workspaces"`

	// Bootstrap, from HERALD_BOOTSTRAP_WORKSPACE and HERALD_BOOTSTRAP_KEY,
	// is applied by Load; kept so that a reload applies it again.
	bootstrapWorkspace string
	bootstrapKey       string

	index *index
}

// LogConfig selects the zap logger.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is json or console. Default json.
	Format string `yaml:"format"`
}

// NATSConfig tunes JetStream.
type NATSConfig struct {
	// Listen is the client address of the embedded server. Default
	// 127.0.0.1:4222; "-1" as port picks a free one.
	Listen string `yaml:"listen"`
	// StreamReplicas is the replica count of Herald's streams. Default 1.
	StreamReplicas int `yaml:"stream_replicas"`
	// SyncInterval is how often the embedded server fsyncs stream files.
	// "always" fsyncs every write (safest, slowest). Default 2m, the
	// nats-server default: a power failure can lose acknowledged writes
	// from that window; a process crash cannot.
	SyncInterval string `yaml:"sync_interval"`
	// AckWait is how long a worker may hold a message before JetStream
	// redelivers it. Default 30s.
	AckWait Duration `yaml:"ack_wait"`
	// MaxAckPending caps unacknowledged messages per consumer. Default 10000.
	MaxAckPending int `yaml:"max_ack_pending"`
	// DuplicateWindow is the stream's Nats-Msg-Id dedupe window. Default 2m.
	DuplicateWindow Duration `yaml:"duplicate_window"`
	// IngestUsers are the NATS users of the embedded server that other
	// services publish sends with. Each gets an account of its own that
	// imports only its workspace's herald.in.<workspace>.> service from
	// Herald's account: it can send as its workspace and receive the
	// replies to its own requests, and sees nothing else. With none, the
	// embedded server has no authentication (it listens on loopback by
	// default). An external NATS is configured on its own side (README).
	IngestUsers []IngestUser `yaml:"ingest_users"`
}

// IngestUser is a NATS user allowed to publish sends for one workspace.
type IngestUser struct {
	User        string `yaml:"user"`
	PasswordEnv string `yaml:"password_env"`
	Workspace   string `yaml:"workspace"`

	password string
}

// Password is the user's password, read from PasswordEnv at load time.
func (u *IngestUser) Password() string { return u.password }

// DeliveryConfig tunes workers.
type DeliveryConfig struct {
	// Retries after the first attempt when a send names none. Default 3.
	Retries *int `yaml:"retries"`
	// BackoffInitial is the delay before the first retry. Default 1s.
	BackoffInitial Duration `yaml:"backoff_initial"`
	// BackoffMax caps the delay between retries. Default 10m.
	BackoffMax Duration `yaml:"backoff_max"`
	// Jitter is the random fraction (0..1) applied to each delay. Default 0.2.
	Jitter *float64 `yaml:"jitter"`
	// Timeout bounds one delivery attempt. Default 10s.
	Timeout Duration `yaml:"timeout"`
	// Concurrency is the number of deliveries in flight per channel per worker. Default 32.
	Concurrency int `yaml:"concurrency"`
	// WorkspaceConcurrency caps one workspace's deliveries in flight per
	// channel per worker (each workspace has its own queue; the slots are
	// shared in turn). Default: concurrency.
	WorkspaceConcurrency int `yaml:"workspace_concurrency"`
	// EndpointConcurrency caps the deliveries in flight to one endpoint of
	// one workspace per worker; more wait in the retry due set, holding
	// nothing. Default: concurrency.
	EndpointConcurrency int `yaml:"endpoint_concurrency"`
	// RetryAfterMax caps how long a provider's Retry-After delays a
	// message (and its endpoint). Default 1h.
	RetryAfterMax Duration `yaml:"retry_after_max"`
	// Channels limits which channels this worker consumes. Default: all.
	Channels []string `yaml:"channels"`
	// ReconcileAfter is how long an entry may sit pending or reprocessing,
	// untouched and with no job on JetStream, no worker on it and no retry
	// waiting, before the reconciler publishes its job again. Default 1m.
	ReconcileAfter Duration `yaml:"reconcile_after"`
	// ReprocessRate caps how many messages a bulk reprocess queues per
	// second. Default 1000.
	ReprocessRate int `yaml:"reprocess_rate"`
}

// BreakerConfig tunes the circuit breaker kept per (workspace, endpoint).
type BreakerConfig struct {
	// Failures is the number of consecutive retryable failures that opens
	// the breaker. Default 5.
	Failures int `yaml:"failures"`
	// OpenFor is how long an open breaker refuses before letting a probe
	// through (half-open). Default 30s.
	OpenFor Duration `yaml:"open_for"`
	// HalfOpenRequests is how many probes a half-open breaker lets through. Default 1.
	HalfOpenRequests int `yaml:"half_open_requests"`
}

// Workspace is a tenant: its keys, products and providers.
type Workspace struct {
	ID        string              `yaml:"id"`
	Keys      []Key               `yaml:"keys"`
	Products  []Product           `yaml:"products"`
	Providers map[string]Provider `yaml:"providers"`
	// CacheWindow overrides the top-level cache_window for this workspace.
	CacheWindow Duration `yaml:"cache_window"`
}

// Key is an API key, stored only as the hex SHA-256 of the key.
type Key struct {
	Name   string   `yaml:"name"`
	SHA256 string   `yaml:"sha256"`
	Scopes []string `yaml:"scopes"`
	// RateLimit, when set, caps this key's requests, shared by every API
	// replica through Redis. Default: unlimited.
	RateLimit *RateLimit `yaml:"rate_limit"`
}

// RateLimit is a token bucket: PerSecond requests a second on average,
// bursts of up to Burst. Over it, requests answer 429 rate_limited with
// Retry-After.
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"`
	// Burst defaults to PerSecond rounded up (at least 1).
	Burst int `yaml:"burst"`
}

// Product is one application of a workspace.
type Product struct {
	Tag           string         `yaml:"tag"`
	ID            string         `yaml:"id"`
	Envs          []string       `yaml:"envs"`
	Notifications []Notification `yaml:"notifications"`
	// Sessions verify a send's "session_tag:jwt". A product without any
	// records the tag of a session unverified (the token is dropped); a
	// product with some refuses unknown tags and tokens that do not verify.
	Sessions []Session `yaml:"sessions"`
}

// Notification groups the message definitions of one event.
type Notification struct {
	Tag      string    `yaml:"tag"`
	Messages []Message `yaml:"messages"`
}

// Message is a message definition: what each channel sends for
// notification_tag:message_tag.
type Message struct {
	Tag      string       `yaml:"tag"`
	Email    *EmailDef    `yaml:"email"`
	Push     *PushDef     `yaml:"push"`
	SMS      *SMSDef      `yaml:"sms"`
	Callback *CallbackDef `yaml:"callback"`
}

// EmailDef: Subject is a text template over the input's `subject` map;
// Template (HTML, html/template) and Text (plain, text/template) are over
// the input's `template` map. Without Text, the plain part is derived from
// the HTML.
type EmailDef struct {
	Provider string `yaml:"provider"`
	From     string `yaml:"from"`
	Subject  string `yaml:"subject"`
	Template string `yaml:"template"`
	Text     string `yaml:"text"`

	subject, html, text *Template
}

// SubjectTemplate, HTMLTemplate and TextTemplate are the compiled
// templates (nil before the config is loaded).
func (e *EmailDef) SubjectTemplate() *Template { return e.subject }

// HTMLTemplate is the compiled Template.
func (e *EmailDef) HTMLTemplate() *Template { return e.html }

// TextTemplate is the compiled Text.
func (e *EmailDef) TextTemplate() *Template { return e.text }

// PushDef: templates over the input's `title` and `body` maps.
type PushDef struct {
	Provider string `yaml:"provider"`
	Title    string `yaml:"title"`
	Body     string `yaml:"body"`

	title, body *Template
}

// TitleTemplate is the compiled Title.
func (p *PushDef) TitleTemplate() *Template { return p.title }

// BodyTemplate is the compiled Body.
func (p *PushDef) BodyTemplate() *Template { return p.body }

// SMSDef: a template over the input's `body` map.
type SMSDef struct {
	Provider string `yaml:"provider"`
	Body     string `yaml:"body"`

	body *Template
}

// BodyTemplate is the compiled Body.
func (s *SMSDef) BodyTemplate() *Template { return s.body }

// CallbackDef is an HTTP callback: URL with {name} segments filled from the
// input's params.
type CallbackDef struct {
	URL    string `yaml:"url"`
	Method string `yaml:"method"`
	// SecretEnv names the environment variable holding the Standard
	// Webhooks signing secret; empty means unsigned.
	SecretEnv string            `yaml:"secret_env"`
	Headers   map[string]string `yaml:"headers"`
	// Timeout overrides delivery.timeout for this callback.
	Timeout Duration `yaml:"timeout"`

	secret []byte
	// checked is set when config validation accepted URL, with its
	// placeholders in params.
	checked bool
	params  []string
}

// Secret is the signing secret read from SecretEnv at load time.
func (c *CallbackDef) Secret() []byte { return c.secret }

// URLParams returns the {name} placeholders of the URL template, checked
// (CheckCallbackURL). A definition from a loaded config was checked at load
// time, so every send reuses that answer instead of parsing the template.
func (c *CallbackDef) URLParams() ([]string, error) {
	if c.checked {
		return c.params, nil
	}
	if err := CheckCallbackURL(c.URL); err != nil {
		return nil, err
	}
	return CallbackParams(c.URL), nil
}

// Provider is a delivery provider. Type selects which fields apply; secrets
// are only ever named by environment variable (*_env).
type Provider struct {
	Type string `yaml:"type"`
	// BaseURL overrides the provider's API address (tests, proxies, regions).
	BaseURL string `yaml:"base_url"`

	// smtp (username_env/password_env also give the http type basic auth)
	Host        string `yaml:"host"`
	Port        int    `yaml:"port"`
	TLS         string `yaml:"tls"`
	Auth        string `yaml:"auth"`
	UsernameEnv string `yaml:"username_env"`
	PasswordEnv string `yaml:"password_env"`

	// fcm
	CredentialsFileEnv string `yaml:"credentials_file_env"`
	ProjectID          string `yaml:"project_id"`

	// apns
	KeyFileEnv string `yaml:"key_file_env"`
	KeyID      string `yaml:"key_id"`
	TeamID     string `yaml:"team_id"`
	Topic      string `yaml:"topic"`

	// expo (and the http type: sent as a Bearer token)
	AccessTokenEnv string `yaml:"access_token_env"`

	// twilio
	AccountSIDEnv string `yaml:"account_sid_env"`
	AuthTokenEnv  string `yaml:"auth_token_env"`
	From          string `yaml:"from"`

	// http sms: Body is a text template over {To, From, Body, MessageID}
	// with the json function, e.g. {"to": {{json .To}}, "text": {{json .Body}}}.
	URL     string            `yaml:"url"`
	Method  string            `yaml:"method"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`

	// secrets holds the values of the *_env variables, read at load.
	secrets map[string]string
	body    *Template
}

// Secret returns the value read at load time from the environment
// variable named by the provider's field (e.g. "password_env"), or "".
// Secrets never appear in errors or logs.
func (p Provider) Secret(field string) string { return p.secrets[field] }

// BodyTemplate is the compiled Body of an http provider.
func (p Provider) BodyTemplate() *Template { return p.body }

// Session verifies the JWT of a send's session "tag:jwt". HS256SecretEnv
// names the variable holding the shared secret; RS256PublicKeyEnv the one
// holding a PEM public key. One of them is required; with both, the
// token's alg picks. Issuer and Audience, when set, must match.
type Session struct {
	Tag               string `yaml:"tag"`
	HS256SecretEnv    string `yaml:"hs256_secret_env"`
	RS256PublicKeyEnv string `yaml:"rs256_public_key_env"`
	Issuer            string `yaml:"issuer"`
	Audience          string `yaml:"audience"`

	hsKey []byte
	rsKey *rsa.PublicKey
}

// HS256Key is the shared secret (nil when not configured).
func (s *Session) HS256Key() []byte { return s.hsKey }

// RS256Key is the public key (nil when not configured).
func (s *Session) RS256Key() *rsa.PublicKey { return s.rsKey }

// SessionFor returns the product's session of that tag, or nil.
func (p *Product) SessionFor(tag string) *Session {
	for i := range p.Sessions {
		if p.Sessions[i].Tag == tag {
			return &p.Sessions[i]
		}
	}
	return nil
}

// Duration is a time.Duration written as "30s", "1h30m" or "90d" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
