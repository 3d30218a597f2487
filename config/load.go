package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults, documented on the fields of Config.
const (
	DefaultHTTPAddr       = ":8080"
	DefaultRedisURL       = "redis://127.0.0.1:6379/0"
	DefaultDataDir        = "./data"
	DefaultMaxBodyBytes   = 1 << 20
	DefaultRetention      = 90 * 24 * time.Hour
	DefaultShutdownGrace  = 25 * time.Second
	DefaultKeyPrefix      = "herald"
	DefaultNATSListen     = "127.0.0.1:4222"
	DefaultAckWait        = 30 * time.Second
	DefaultMaxAckPending  = 10000
	DefaultDupWindow      = 2 * time.Minute
	DefaultSyncInterval   = "2m"
	DefaultRetries        = 3
	DefaultBackoffInitial = time.Second
	DefaultBackoffMax     = 10 * time.Minute
	DefaultJitter         = 0.2
	DefaultTimeout        = 10 * time.Second
	DefaultConcurrency    = 32
	DefaultBreakerFails   = 5
	DefaultBreakerOpenFor = 30 * time.Second
	DefaultCacheWindow    = 24 * time.Hour
)

// Environment variables that override the file (API.md, "Running and configuration").
const (
	EnvHTTPAddr           = "HERALD_HTTP_ADDR"
	EnvRedisURL           = "HERALD_REDIS_URL"
	EnvNATSURL            = "HERALD_NATS_URL"
	EnvDataDir            = "HERALD_DATA_DIR"
	EnvBootstrapWorkspace = "HERALD_BOOTSTRAP_WORKSPACE"
	EnvBootstrapKey       = "HERALD_BOOTSTRAP_KEY"
	EnvAllowPrivate       = "HERALD_ALLOW_PRIVATE_NETWORKS"
	EnvPprofAddr          = "HERALD_PPROF_ADDR"
	EnvMetricsAddr        = "HERALD_METRICS_ADDR"
)

// Load reads the YAML file at path (empty path: no file, defaults only),
// applies HERALD_* overrides from the environment, fills defaults and
// validates. Every problem is reported, each with its path.
func Load(path string) (*Config, error) {
	return LoadWithEnv(path, os.Getenv)
}

// LoadWithEnv is Load with an injected environment lookup.
func LoadWithEnv(path string, getenv func(string) string) (*Config, error) {
	var data []byte
	if path != "" {
		var err error
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	return Parse(data, getenv)
}

// Parse decodes YAML bytes and finishes the Config as Load does.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	c := &Config{}
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil {
			return nil, fmt.Errorf("config: %s", cleanYAMLError(err))
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return nil, err
	}
	c.applyDefaults()
	if err := c.finish(getenv); err != nil {
		return nil, err
	}
	return c, nil
}

func cleanYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return err.Error()
}

func (c *Config) applyEnv(getenv func(string) string) error {
	if v := getenv(EnvHTTPAddr); v != "" {
		c.HTTPAddr = v
	}
	if v := getenv(EnvRedisURL); v != "" {
		c.RedisURL = v
	}
	if v := getenv(EnvNATSURL); v != "" {
		c.NATSURL = v
	}
	if v := getenv(EnvDataDir); v != "" {
		c.DataDir = v
	}
	if v := getenv(EnvPprofAddr); v != "" {
		c.PprofAddr = v
	}
	if v := getenv(EnvMetricsAddr); v != "" {
		c.MetricsAddr = v
	}
	if v := getenv(EnvAllowPrivate); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("config: %s=%q: want true or false", EnvAllowPrivate, v)
		}
		c.AllowPrivateNetworks = b
	}
	c.bootstrapWorkspace = strings.TrimSpace(getenv(EnvBootstrapWorkspace))
	c.bootstrapKey = strings.TrimSpace(getenv(EnvBootstrapKey))
	if (c.bootstrapWorkspace == "") != (c.bootstrapKey == "") {
		return fmt.Errorf("config: %s and %s must be set together", EnvBootstrapWorkspace, EnvBootstrapKey)
	}
	if c.bootstrapWorkspace != "" {
		c.applyBootstrap()
	}
	return nil
}

// applyBootstrap makes the bootstrap workspace exist and gives the bootstrap
// key every scope in it.
func (c *Config) applyBootstrap() {
	key := Key{Name: "bootstrap", SHA256: HashKey(c.bootstrapKey), Scopes: append([]string(nil), AllScopes...)}
	for i := range c.Workspaces {
		if c.Workspaces[i].ID == c.bootstrapWorkspace {
			c.Workspaces[i].Keys = append(c.Workspaces[i].Keys, key)
			return
		}
	}
	c.Workspaces = append(c.Workspaces, Workspace{ID: c.bootstrapWorkspace, Keys: []Key{key}})
}

func (c *Config) applyDefaults() {
	c.HTTPAddr = cmp.Or(c.HTTPAddr, DefaultHTTPAddr)
	c.RedisURL = cmp.Or(c.RedisURL, DefaultRedisURL)
	c.DataDir = cmp.Or(c.DataDir, DefaultDataDir)
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	c.Retention = cmp.Or(c.Retention, Duration(DefaultRetention))
	c.ShutdownGrace = cmp.Or(c.ShutdownGrace, Duration(DefaultShutdownGrace))
	c.KeyPrefix = cmp.Or(c.KeyPrefix, DefaultKeyPrefix)
	c.CacheWindow = cmp.Or(c.CacheWindow, Duration(DefaultCacheWindow))
	c.Log.Level = cmp.Or(c.Log.Level, "info")
	c.Log.Format = cmp.Or(c.Log.Format, "json")
	c.NATS.Listen = cmp.Or(c.NATS.Listen, DefaultNATSListen)
	c.NATS.StreamReplicas = cmp.Or(c.NATS.StreamReplicas, 1)
	c.NATS.SyncInterval = cmp.Or(c.NATS.SyncInterval, DefaultSyncInterval)
	c.NATS.AckWait = cmp.Or(c.NATS.AckWait, Duration(DefaultAckWait))
	c.NATS.MaxAckPending = cmp.Or(c.NATS.MaxAckPending, DefaultMaxAckPending)
	c.NATS.DuplicateWindow = cmp.Or(c.NATS.DuplicateWindow, Duration(DefaultDupWindow))
	if c.Delivery.Retries == nil {
		r := DefaultRetries
		c.Delivery.Retries = &r
	}
	c.Delivery.BackoffInitial = cmp.Or(c.Delivery.BackoffInitial, Duration(DefaultBackoffInitial))
	c.Delivery.BackoffMax = cmp.Or(c.Delivery.BackoffMax, Duration(DefaultBackoffMax))
	if c.Delivery.Jitter == nil {
		j := DefaultJitter
		c.Delivery.Jitter = &j
	}
	c.Delivery.Timeout = cmp.Or(c.Delivery.Timeout, Duration(DefaultTimeout))
	c.Delivery.Concurrency = cmp.Or(c.Delivery.Concurrency, DefaultConcurrency)
	c.Delivery.WorkspaceConcurrency = cmp.Or(c.Delivery.WorkspaceConcurrency, c.Delivery.Concurrency)
	c.Delivery.EndpointConcurrency = cmp.Or(c.Delivery.EndpointConcurrency, c.Delivery.Concurrency)
	c.Delivery.RetryAfterMax = cmp.Or(c.Delivery.RetryAfterMax, Duration(time.Hour))
	c.Delivery.ReconcileAfter = cmp.Or(c.Delivery.ReconcileAfter, Duration(time.Minute))
	c.Delivery.ReprocessRate = cmp.Or(c.Delivery.ReprocessRate, 1000)
	c.Breaker.Failures = cmp.Or(c.Breaker.Failures, DefaultBreakerFails)
	c.Breaker.OpenFor = cmp.Or(c.Breaker.OpenFor, Duration(DefaultBreakerOpenFor))
	c.Breaker.HalfOpenRequests = cmp.Or(c.Breaker.HalfOpenRequests, 1)
	c.schedulerDefaults()
	for i := range c.Workspaces {
		for j := range c.Workspaces[i].Products {
			p := &c.Workspaces[i].Products[j]
			for k := range p.Notifications {
				for l := range p.Notifications[k].Messages {
					if cb := p.Notifications[k].Messages[l].Callback; cb != nil {
						cb.Method = strings.ToUpper(cmp.Or(cb.Method, "POST"))
					}
				}
			}
		}
	}
}

// CacheWindowFor is the cache window of a workspace: its own, else the
// top-level one.
func (c *Config) CacheWindowFor(ws string) time.Duration {
	if w := c.Workspace(ws); w != nil && w.CacheWindow > 0 {
		return w.CacheWindow.D()
	}
	return c.CacheWindow.D()
}

// finish validates, reads secrets and builds the lookup index.
func (c *Config) finish(getenv func(string) string) error {
	if problems := c.validate(getenv); len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	c.index = buildIndex(c)
	return nil
}

// UnmarshalYAML accepts Go durations ("1h30m") and whole days ("90d").
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the Go duration form.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ParseDuration parses a Go duration or a number of days such as "90d".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 30s, 15m, 2h or 90d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration %q: want e.g. 30s, 15m, 2h or 90d", s)
	}
	return v, nil
}
