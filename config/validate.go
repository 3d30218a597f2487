package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/redisx"
)

// Problem is one thing wrong with a configuration, at a path such as
// "workspaces[0].products[1].envs".
type Problem struct {
	Path    string
	Message string
}

// ValidationError lists every problem found, not only the first.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config: %d problem(s):", len(e.Problems))
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Path, p.Message)
	}
	return b.String()
}

var (
	tagRe         = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$`)
	workspaceRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$`)
	hexRe         = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	placeholderRe = regexp.MustCompile(`\{([^{}]*)\}`)
	paramNameRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	envNameRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ValidTag reports whether s may name a workspace, product, env,
// notification or message: 1-64 of letters, digits, '_', '.', '-'.
func ValidTag(s string) bool { return tagRe.MatchString(s) }

// ValidWorkspace reports whether s may name a workspace: like a tag, but
// without '.', because a workspace id is one token of NATS subjects.
func ValidWorkspace(s string) bool { return workspaceRe.MatchString(s) }

// Channels Herald delivers on.
var Channels = []string{"email", "push", "sms", "callback"}

// providerTypes maps a channel to the provider types that serve it.
var providerTypes = map[string][]string{
	"email": {"smtp"},
	"push":  {"fcm", "apns", "expo"},
	"sms":   {"twilio", "http"},
}

type problems []Problem

// uniqueTag reports a tag that is not valid, or that repeats one already
// seen among its siblings (a product, notification, message, session).
func (ps *problems) uniqueTag(path, kind, tag string, seen map[string]bool) {
	switch {
	case !ValidTag(tag):
		ps.add(path, "want 1-64 letters, digits, '_', '.' or '-'")
	case seen[tag]:
		ps.add(path, "duplicate %s %q", kind, tag)
	}
	seen[tag] = true
}

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (c *Config) validate(getenv func(string) string) []Problem {
	var ps problems
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		ps.add("http_addr", "want host:port, e.g. :8080 (%v)", err)
	}
	if _, err := redisx.Parse(c.RedisURL); err != nil {
		// The error never repeats the URL: it may hold a password.
		ps.add("redis_url", "%v (want redis://host:port/db, rediss://, unix://, or for a cluster redis+cluster://h1:p1,h2:p2 or redis://h1:p1,redis://h2:p2)", err)
	}
	if c.PprofAddr != "" {
		if _, port, err := net.SplitHostPort(c.PprofAddr); err != nil {
			ps.add("pprof_addr", "want host:port, e.g. 127.0.0.1:6060 (%v)", err)
		} else if c.PprofAddr == c.HTTPAddr && port != "0" {
			ps.add("pprof_addr", "must differ from http_addr: profiles are never served on the API address")
		}
	}
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			ps.add("metrics_addr", "want host:port, e.g. :9090 (%v)", err)
		} else if (c.MetricsAddr == c.HTTPAddr || c.MetricsAddr == c.PprofAddr) && port != "0" {
			ps.add("metrics_addr", "must differ from http_addr and pprof_addr")
		}
	}
	if c.NATSURL != "" {
		for _, s := range strings.Split(c.NATSURL, ",") {
			if u, err := url.Parse(strings.TrimSpace(s)); err != nil || u.Host == "" {
				ps.add("nats_url", "want nats://host:port (comma-separated for a cluster)")
				break
			}
		}
	} else if _, _, err := net.SplitHostPort(c.NATS.Listen); err != nil {
		ps.add("nats.listen", "want host:port (%v)", err)
	}
	seenUser := map[string]bool{}
	for i := range c.NATS.IngestUsers {
		u := &c.NATS.IngestUsers[i]
		up := fmt.Sprintf("nats.ingest_users[%d]", i)
		switch {
		case !ValidTag(u.User) || u.User == "herald" || u.User == "herald-ingest":
			ps.add(up+".user", "want 1-64 letters, digits, '_', '.' or '-' (and not \"herald\" or \"herald-ingest\", Herald's own users)")
		case seenUser[u.User]:
			ps.add(up+".user", "duplicate ingest user %q", u.User)
		}
		seenUser[u.User] = true
		if !slices.ContainsFunc(c.Workspaces, func(w Workspace) bool { return w.ID == u.Workspace }) {
			ps.add(up+".workspace", "no workspace %q", u.Workspace)
		}
		if u.PasswordEnv == "" || !envNameRe.MatchString(u.PasswordEnv) {
			ps.add(up+".password_env", "want the environment variable holding the password")
		} else if u.password = getenv(u.PasswordEnv); u.password == "" {
			ps.add(up+".password_env", "environment variable %s is empty or unset", u.PasswordEnv)
		}
	}
	if c.MaxBodyBytes < 1024 {
		ps.add("max_body_bytes", "must be at least 1024")
	}
	if c.Retention.D() < time.Hour {
		ps.add("retention", "must be at least 1h")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		ps.add("log.level", "want debug, info, warn or error")
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		ps.add("log.format", "want json or console")
	}
	c.validateScheduler(&ps)
	if c.NATS.StreamReplicas < 1 || c.NATS.StreamReplicas > 5 {
		ps.add("nats.stream_replicas", "must be between 1 and 5")
	}
	if c.NATS.SyncInterval != "always" {
		if d, err := time.ParseDuration(c.NATS.SyncInterval); err != nil || d <= 0 {
			ps.add("nats.sync_interval", `want "always" or a duration such as 2m`)
		}
	}
	if c.NATS.AckWait.D() < time.Second {
		ps.add("nats.ack_wait", "must be at least 1s")
	}
	if c.NATS.MaxAckPending < 1 {
		ps.add("nats.max_ack_pending", "must be positive")
	}
	if c.NATS.DuplicateWindow.D() < 2*time.Minute {
		ps.add("nats.duplicate_window", "must be at least 2m")
	}
	if c.Delivery.ReconcileAfter.D() > c.NATS.DuplicateWindow.D()/2 {
		// The reconciler republishes only inside the duplicate window, where
		// JetStream drops a job it already had (docs/ARCHITECTURE.md).
		ps.add("delivery.reconcile_after", "must be at most half of nats.duplicate_window (%s)", c.NATS.DuplicateWindow.D())
	}
	if r := *c.Delivery.Retries; r < 0 || r > 100 {
		ps.add("delivery.retries", "must be between 0 and 100")
	}
	if j := *c.Delivery.Jitter; j < 0 || j > 1 {
		ps.add("delivery.jitter", "must be between 0 and 1")
	}
	if c.Delivery.BackoffMax < c.Delivery.BackoffInitial {
		ps.add("delivery.backoff_max", "must not be less than delivery.backoff_initial")
	}
	if c.Delivery.Timeout.D() >= c.NATS.AckWait.D() {
		ps.add("delivery.timeout", "must be shorter than nats.ack_wait (%s)", c.NATS.AckWait.D())
	}
	if c.Delivery.Concurrency < 1 || c.Delivery.Concurrency > 4096 {
		ps.add("delivery.concurrency", "must be between 1 and 4096")
	}
	if w := c.Delivery.WorkspaceConcurrency; w < 1 || w > c.Delivery.Concurrency {
		ps.add("delivery.workspace_concurrency", "must be between 1 and delivery.concurrency (%d)", c.Delivery.Concurrency)
	}
	if c.Delivery.EndpointConcurrency < 1 {
		ps.add("delivery.endpoint_concurrency", "must be positive")
	}
	if c.Delivery.RetryAfterMax.D() < time.Second {
		ps.add("delivery.retry_after_max", "must be at least 1s")
	}
	for i, ch := range c.Delivery.Channels {
		if !slices.Contains(Channels, ch) {
			ps.add(fmt.Sprintf("delivery.channels[%d]", i), "unknown channel %q (want one of %s)", ch, strings.Join(Channels, ", "))
		}
	}
	if c.Breaker.Failures < 1 {
		ps.add("breaker.failures", "must be positive")
	}
	if c.Breaker.HalfOpenRequests < 1 {
		ps.add("breaker.half_open_requests", "must be positive")
	}
	if c.CacheWindow.D() < time.Second {
		ps.add("cache_window", "must be at least 1s")
	}

	seenWS := map[string]bool{}
	seenKey := map[string]string{} // sha256 -> path of its first use
	for i := range c.Workspaces {
		ws := &c.Workspaces[i]
		wp := fmt.Sprintf("workspaces[%d]", i)
		switch {
		case !ValidWorkspace(ws.ID):
			ps.add(wp+".id", "want 1-64 letters, digits, '_' or '-' (it is a NATS subject token)")
		case seenWS[ws.ID]:
			ps.add(wp+".id", "duplicate workspace %q", ws.ID)
		}
		seenWS[ws.ID] = true
		if ws.CacheWindow != 0 && ws.CacheWindow.D() < time.Second {
			ps.add(wp+".cache_window", "must be at least 1s")
		}
		c.validateKeys(&ps, wp, ws)
		for j, k := range ws.Keys {
			kp := fmt.Sprintf("%s.keys[%d]", wp, j)
			h := strings.ToLower(k.SHA256)
			if first, ok := seenKey[h]; ok && hexRe.MatchString(k.SHA256) {
				ps.add(kp+".sha256", "the same key is already configured at %s: a key belongs to one workspace", first)
			} else {
				seenKey[h] = kp
			}
		}
		c.validateProviders(&ps, wp, ws, getenv)
		seenP := map[string]bool{}
		for j := range ws.Products {
			p := &ws.Products[j]
			pp := fmt.Sprintf("%s.products[%d]", wp, j)
			ps.uniqueTag(pp+".tag", "product", p.Tag, seenP)
			if p.ID != "" && !ValidTag(p.ID) {
				ps.add(pp+".id", "want 1-64 letters, digits, '_', '.' or '-'")
			}
			if len(p.Envs) == 0 {
				ps.add(pp+".envs", "at least one env is required")
			}
			for k, e := range p.Envs {
				if !ValidTag(e) {
					ps.add(fmt.Sprintf("%s.envs[%d]", pp, k), "want 1-64 letters, digits, '_', '.' or '-'")
				} else if slices.Index(p.Envs, e) != k {
					ps.add(fmt.Sprintf("%s.envs[%d]", pp, k), "duplicate env %q", e)
				}
			}
			validateSessions(&ps, pp, p, getenv)
			seenN := map[string]bool{}
			for k := range p.Notifications {
				n := &p.Notifications[k]
				np := fmt.Sprintf("%s.notifications[%d]", pp, k)
				ps.uniqueTag(np+".tag", "notification", n.Tag, seenN)
				if len(n.Messages) == 0 {
					ps.add(np+".messages", "at least one message is required")
				}
				seenM := map[string]bool{}
				for l := range n.Messages {
					m := &n.Messages[l]
					mp := fmt.Sprintf("%s.messages[%d]", np, l)
					ps.uniqueTag(mp+".tag", "message", m.Tag, seenM)
					c.validateMessage(&ps, mp, ws, m, getenv)
				}
			}
		}
	}
	return ps
}

func (c *Config) validateKeys(ps *problems, wp string, ws *Workspace) {
	for j, k := range ws.Keys {
		kp := fmt.Sprintf("%s.keys[%d]", wp, j)
		if k.Name == "" {
			ps.add(kp+".name", "required")
		}
		if !hexRe.MatchString(k.SHA256) {
			ps.add(kp+".sha256", "want the 64 hex digits of the key's SHA-256 (herald keys create prints it)")
		}
		if len(k.Scopes) == 0 {
			ps.add(kp+".scopes", "at least one scope is required")
		}
		for s, scope := range k.Scopes {
			if !slices.Contains(AllScopes, scope) {
				ps.add(fmt.Sprintf("%s.scopes[%d]", kp, s), "unknown scope %q (known: %s)", scope, strings.Join(AllScopes, ", "))
			}
		}
		if rl := k.RateLimit; rl != nil {
			if rl.PerSecond <= 0 {
				ps.add(kp+".rate_limit.per_second", "must be positive (leave rate_limit out for no limit)")
			}
			if rl.Burst < 0 {
				ps.add(kp+".rate_limit.burst", "must not be negative")
			}
		}
	}
}

func (c *Config) validateProviders(ps *problems, wp string, ws *Workspace, getenv func(string) string) {
	for _, name := range sortedNames(ws.Providers) {
		p := ws.Providers[name]
		pp := fmt.Sprintf("%s.providers.%s", wp, name)
		readProviderSecrets(ps, pp, &p, getenv)
		ws.Providers[name] = p
		if !ValidTag(name) {
			ps.add(pp, "provider names want 1-64 letters, digits, '_', '.' or '-'")
		}
		known := false
		for _, types := range providerTypes {
			known = known || slices.Contains(types, p.Type)
		}
		if !known {
			ps.add(pp+".type", "unknown provider type %q (want smtp, fcm, apns, expo, twilio or http)", p.Type)
		}
		if p.BaseURL != "" {
			if u, err := url.Parse(p.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				ps.add(pp+".base_url", "want an http(s) URL")
			}
		}
		for field, env := range map[string]string{
			"username_env": p.UsernameEnv, "password_env": p.PasswordEnv,
			"credentials_file_env": p.CredentialsFileEnv, "key_file_env": p.KeyFileEnv,
			"access_token_env": p.AccessTokenEnv, "account_sid_env": p.AccountSIDEnv, "auth_token_env": p.AuthTokenEnv,
		} {
			if env != "" && !envNameRe.MatchString(env) {
				ps.add(pp+"."+field, "want an environment variable name")
			}
		}
		switch p.Type {
		case "smtp":
			if p.Host == "" {
				ps.add(pp+".host", "required for smtp")
			}
			if p.Auth != "" && p.Auth != "plain" && p.Auth != "login" {
				ps.add(pp+".auth", "want plain or login (default: what the server offers, PLAIN first)")
			}
			if (p.UsernameEnv == "") != (p.PasswordEnv == "") {
				ps.add(pp+".password_env", "username_env and password_env go together")
			}
			if p.Port < 0 || p.Port > 65535 {
				ps.add(pp+".port", "must be a TCP port")
			}
			if p.TLS != "" && !slices.Contains([]string{"starttls", "implicit", "none"}, p.TLS) {
				ps.add(pp+".tls", "want starttls, implicit or none")
			}
		case "twilio":
			if p.AccountSIDEnv == "" {
				ps.add(pp+".account_sid_env", "required for twilio")
			}
			if p.AuthTokenEnv == "" {
				ps.add(pp+".auth_token_env", "required for twilio")
			}
			if p.From == "" {
				ps.add(pp+".from", "required for twilio")
			}
		case "http":
			if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				ps.add(pp+".url", "want an http(s) URL")
			}
			if p.Method != "" && !slices.Contains([]string{"GET", "POST", "PUT", "PATCH"}, strings.ToUpper(p.Method)) {
				ps.add(pp+".method", "want GET, POST, PUT or PATCH")
			}
			for h, v := range p.Headers {
				switch {
				case !validHeaderName(h):
					ps.add(pp+".headers."+h, "not a valid HTTP header name")
				case ReservedHeader(h):
					ps.add(pp+".headers."+h, "set by Herald itself")
				case strings.ContainsAny(v, "\r\n\x00"):
					ps.add(pp+".headers."+h, "control characters are not allowed in header values")
				}
			}
			if p.Body == "" && strings.ToUpper(cmpOr(p.Method, "POST")) != "GET" {
				ps.add(pp+".body", "required: a template over .To, .From, .Body and .MessageID")
			}
			t, err := compileText("body", p.Body, providerFuncs)
			if err != nil {
				ps.add(pp+".body", "template does not parse: %v", err)
			}
			p.body = t
			if (p.UsernameEnv == "") != (p.PasswordEnv == "") {
				ps.add(pp+".password_env", "username_env and password_env go together")
			}
			ws.Providers[name] = p
		case "apns":
			for field, v := range map[string]string{"key_file_env": p.KeyFileEnv, "key_id": p.KeyID, "team_id": p.TeamID, "topic": p.Topic} {
				if v == "" {
					ps.add(pp+"."+field, "required for apns")
				}
			}
		case "fcm":
			if p.CredentialsFileEnv == "" {
				ps.add(pp+".credentials_file_env", "required for fcm")
			}
		}
	}
}

func (c *Config) validateMessage(ps *problems, mp string, ws *Workspace, m *Message, getenv func(string) string) {
	if m.Email == nil && m.Push == nil && m.SMS == nil && m.Callback == nil {
		ps.add(mp, "defines no channel (email, push, sms or callback)")
	}
	checkProvider := func(path, channel, name string) {
		if name == "" {
			ps.add(path+".provider", "required")
			return
		}
		p, ok := ws.Providers[name]
		if !ok {
			ps.add(path+".provider", "no provider %q in this workspace", name)
			return
		}
		if !slices.Contains(providerTypes[channel], p.Type) {
			ps.add(path+".provider", "provider %q is of type %q, which cannot send %s", name, p.Type, channel)
		}
	}
	text := func(path, name, src string) *Template {
		t, err := compileText(name, src, nil)
		if err != nil {
			ps.add(path, "template does not parse: %v", err)
		}
		return t
	}
	if e := m.Email; e != nil {
		checkProvider(mp+".email", "email", e.Provider)
		if e.From == "" {
			ps.add(mp+".email.from", "required")
		} else if _, err := mail.ParseAddress(e.From); err != nil || strings.ContainsAny(e.From, "\r\n") {
			ps.add(mp+".email.from", "want an address such as shop@example.com or \"Shop\" <shop@example.com>")
		}
		if e.Template == "" && e.Text == "" {
			ps.add(mp+".email", "needs a template (HTML) or a text (plain) body")
		}
		e.subject = text(mp+".email.subject", "subject", e.Subject)
		e.text = text(mp+".email.text", "text", e.Text)
		if h, err := compileHTML("template", e.Template); err != nil {
			ps.add(mp+".email.template", "template does not parse: %v", err)
		} else {
			e.html = h
		}
	}
	if p := m.Push; p != nil {
		checkProvider(mp+".push", "push", p.Provider)
		if p.Title == "" && p.Body == "" {
			ps.add(mp+".push", "needs a title or a body")
		}
		p.title = text(mp+".push.title", "title", p.Title)
		p.body = text(mp+".push.body", "body", p.Body)
	}
	if s := m.SMS; s != nil {
		checkProvider(mp+".sms", "sms", s.Provider)
		if s.Body == "" {
			ps.add(mp+".sms.body", "required")
		}
		s.body = text(mp+".sms.body", "body", s.Body)
	}
	if cb := m.Callback; cb != nil {
		cp := mp + ".callback"
		if err := CheckCallbackURL(cb.URL); err != nil {
			ps.add(cp+".url", "%v", err)
		} else {
			cb.checked, cb.params = true, CallbackParams(cb.URL)
		}
		if !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE"}, cb.Method) {
			ps.add(cp+".method", "want GET, POST, PUT, PATCH or DELETE")
		}
		if cb.Timeout.D() < 0 {
			ps.add(cp+".timeout", "must not be negative")
		}
		for h, v := range cb.Headers {
			switch {
			case !validHeaderName(h):
				ps.add(cp+".headers."+h, "not a valid HTTP header name")
			case ReservedHeader(h):
				ps.add(cp+".headers."+h, "set by Herald itself; a callback may not set it")
			case strings.ContainsAny(v, "\r\n\x00"):
				ps.add(cp+".headers."+h, "control characters are not allowed in header values")
			}
		}
		if cb.SecretEnv != "" {
			if !envNameRe.MatchString(cb.SecretEnv) {
				ps.add(cp+".secret_env", "want an environment variable name")
			} else if v := getenv(cb.SecretEnv); v == "" {
				ps.add(cp+".secret_env", "environment variable %s is empty or unset", cb.SecretEnv)
			} else if b64, ok := strings.CutPrefix(v, "whsec_"); ok && !validBase64(b64) {
				ps.add(cp+".secret_env", "%s starts with whsec_ but the rest is not base64", cb.SecretEnv)
			} else {
				cb.secret = []byte(v)
			}
		}
	}
}

// CallbackParams returns the {name} placeholders of a callback URL template.
func CallbackParams(rawURL string) []string {
	var out []string
	for _, m := range placeholderRe.FindAllStringSubmatch(rawURL, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// CheckCallbackURL validates a callback URL template: http(s), a literal
// host, and {name} placeholders only after the host.
func CheckCallbackURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("required")
	}
	for _, name := range CallbackParams(raw) {
		if !paramNameRe.MatchString(name) {
			return fmt.Errorf("placeholder {%s}: names want letters, digits and '_'", name)
		}
	}
	u, err := url.Parse(placeholderRe.ReplaceAllString(raw, "x"))
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("want an http or https URL")
	}
	if u.Host == "" {
		return fmt.Errorf("want a host")
	}
	if u.User != nil {
		return fmt.Errorf("credentials in the URL are not allowed; use headers")
	}
	head, after, ok := strings.Cut(raw, "://")
	if i := strings.IndexAny(after, "/?#"); i >= 0 {
		after = after[:i]
	}
	if !ok || strings.Contains(head, "{") || strings.Contains(after, "{") {
		return fmt.Errorf("placeholders are not allowed in the scheme or host")
	}
	return nil
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if r > 127 || !strings.ContainsRune("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", r) {
			return false
		}
	}
	return true
}

// reservedHeaders may not be set by a callback definition or input: the
// transport owns the framing and hop-by-hop ones, signing owns webhook-*.
var reservedHeaders = []string{
	"host", "content-length", "transfer-encoding", "connection", "keep-alive",
	"upgrade", "te", "trailer", "webhook-id", "webhook-timestamp", "webhook-signature",
}

// ReservedHeader reports whether a callback may not set header name.
func ReservedHeader(name string) bool {
	l := strings.ToLower(name)
	return slices.Contains(reservedHeaders, l) || strings.HasPrefix(l, "proxy-")
}

// ValidHeaderName reports whether h is an RFC 9110 token.
func ValidHeaderName(h string) bool { return validHeaderName(h) }

func validBase64(s string) bool {
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil && s != ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// providerSecrets are the *_env fields of a provider, and whether each is
// required for a type.
var providerSecrets = []struct {
	field    string
	get      func(*Provider) string
	required []string
}{
	{"username_env", func(p *Provider) string { return p.UsernameEnv }, nil},
	{"password_env", func(p *Provider) string { return p.PasswordEnv }, nil},
	{"credentials_file_env", func(p *Provider) string { return p.CredentialsFileEnv }, []string{"fcm"}},
	{"key_file_env", func(p *Provider) string { return p.KeyFileEnv }, []string{"apns"}},
	{"access_token_env", func(p *Provider) string { return p.AccessTokenEnv }, nil},
	{"account_sid_env", func(p *Provider) string { return p.AccountSIDEnv }, []string{"twilio"}},
	{"auth_token_env", func(p *Provider) string { return p.AuthTokenEnv }, []string{"twilio"}},
}

// readProviderSecrets reads every named variable; a named variable that is
// empty or unset is a problem (a provider would fail every delivery).
func readProviderSecrets(ps *problems, pp string, p *Provider, getenv func(string) string) {
	p.secrets = map[string]string{}
	for _, s := range providerSecrets {
		env := s.get(p)
		if env == "" || !envNameRe.MatchString(env) {
			continue // required and name checks are reported elsewhere
		}
		v := getenv(env)
		if v == "" {
			ps.add(pp+"."+s.field, "environment variable %s is empty or unset", env)
			continue
		}
		p.secrets[s.field] = v
	}
}

func validateSessions(ps *problems, pp string, p *Product, getenv func(string) string) {
	seen := map[string]bool{}
	for i := range p.Sessions {
		s := &p.Sessions[i]
		sp := fmt.Sprintf("%s.sessions[%d]", pp, i)
		ps.uniqueTag(sp+".tag", "session", s.Tag, seen)
		if s.HS256SecretEnv == "" && s.RS256PublicKeyEnv == "" {
			ps.add(sp, "needs hs256_secret_env or rs256_public_key_env")
		}
		if env := s.HS256SecretEnv; env != "" {
			switch v := getenv(env); {
			case !envNameRe.MatchString(env):
				ps.add(sp+".hs256_secret_env", "want an environment variable name")
			case v == "":
				ps.add(sp+".hs256_secret_env", "environment variable %s is empty or unset", env)
			case len(v) < 32:
				ps.add(sp+".hs256_secret_env", "the secret in %s is shorter than 32 bytes; HS256 wants at least 256 bits", env)
			default:
				s.hsKey = []byte(v)
			}
		}
		if env := s.RS256PublicKeyEnv; env != "" {
			switch v := getenv(env); {
			case !envNameRe.MatchString(env):
				ps.add(sp+".rs256_public_key_env", "want an environment variable name")
			case v == "":
				ps.add(sp+".rs256_public_key_env", "environment variable %s is empty or unset", env)
			default:
				key, err := parseRSAPublicKey(v)
				if err != nil {
					ps.add(sp+".rs256_public_key_env", "%s: %v", env, err)
				}
				s.rsKey = key
			}
		}
	}
}
