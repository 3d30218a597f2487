package push

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/worker/channel"
	"github.com/heraldhq/herald/worker/channel/internal/clients"
	"github.com/heraldhq/herald/worker/channel/internal/fanout"
	"github.com/heraldhq/herald/worker/channel/internal/httpx"
)

// Defaults of Config and the providers' public addresses.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultParallelism = 8
	FCMBaseURL         = "https://fcm.googleapis.com"
	APNsBaseURL        = "https://api.push.apple.com"
	ExpoBaseURL        = "https://exp.host"
)

// Config configures a Deliverer. Zero values mean the documented defaults.
type Config struct {
	// Timeout bounds one attempt, every token of it. Default 10s.
	Timeout time.Duration
	// TLSConfig is the base of TLS connections (tests add their CA). Default: system roots.
	TLSConfig *tls.Config
	// Parallelism is how many tokens of one message FCM and APNs get at
	// once. Default 8.
	Parallelism int
	// Now is the clock of provider tokens. Default time.Now.
	Now func() time.Time
}

// Deliverer sends push notifications. It is safe for concurrent use.
type Deliverer struct {
	cfg  Config
	http *http.Client // FCM, Expo and the OAuth token endpoint
	h2   *http.Client // APNs: HTTP/2 only
	fcm  *clients.Cache[*fcmClient]
	apns *clients.Cache[*apnsClient]
}

// New returns a Deliverer with its own connection pools.
func New(cfg Config) *Deliverer {
	cfg.Timeout = cmp.Or(max(cfg.Timeout, 0), DefaultTimeout)
	cfg.Parallelism = cmp.Or(max(cfg.Parallelism, 0), DefaultParallelism)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Deliverer{cfg: cfg, http: httpx.NewClient(cfg.TLSConfig, false), h2: httpx.NewClient(cfg.TLSConfig, true)}
	d.fcm = clients.New(func(p config.Provider) (*fcmClient, error) { return newFCMClient(p, cfg.Now) })
	d.apns = clients.New(func(p config.Provider) (*apnsClient, error) { return newAPNsClient(p, cfg.Now) })
	return d
}

// Close closes idle pooled connections.
func (d *Deliverer) Close() {
	d.http.CloseIdleConnections()
	d.h2.CloseIdleConnections()
}

func provider(m *channel.Message) (*config.PushDef, string, config.Provider, error) {
	if m == nil || m.Definition == nil || m.Definition.Push == nil {
		return nil, "", config.Provider{}, channel.Permanent(channel.CodeDelivery, "the message definition has no push")
	}
	def := m.Definition.Push
	p, ok := m.Providers[def.Provider]
	if !ok || (p.Type != "fcm" && p.Type != "apns" && p.Type != "expo") {
		return nil, "", config.Provider{}, channel.Permanent(channel.CodeDelivery, "push provider %q is not an fcm, apns or expo provider of this workspace", def.Provider)
	}
	return def, def.Provider, p, nil
}

func baseURL(p config.Provider) string {
	if p.BaseURL != "" {
		return strings.TrimRight(p.BaseURL, "/")
	}
	switch p.Type {
	case "fcm":
		return FCMBaseURL
	case "apns":
		return APNsBaseURL
	}
	return ExpoBaseURL
}

// Endpoint is the provider's scheme://host: the breaker key.
func (d *Deliverer) Endpoint(m *channel.Message) (string, error) {
	_, _, p, err := provider(m)
	if err != nil {
		return "", err
	}
	ep, err := httpx.Endpoint(baseURL(p))
	if err != nil {
		return "", channel.Permanent(channel.CodeDelivery, "%v", err)
	}
	return ep, nil
}

// Deliver sends one attempt to every device token not settled yet.
// Errors are *channel.Error.
func (d *Deliverer) Deliver(ctx context.Context, m *channel.Message) (channel.Result, error) {
	def, name, p, err := provider(m)
	if err != nil {
		return channel.Result{}, err
	}
	n, err := Prepare(def, m.Input)
	if err != nil {
		var ie *channel.InputError
		if errors.As(err, &ie) && ie.Code == channel.CodeTemplate {
			return channel.Result{}, channel.Permanent(channel.CodeTemplate, "push input: %v", ie)
		}
		return channel.Result{}, channel.Permanent(channel.CodeDelivery, "push input: %v", err)
	}
	var todo []string
	for _, t := range n.Tokens {
		if !m.Done[t] {
			todo = append(todo, t)
		}
	}
	if len(todo) == 0 {
		return channel.Result{StatusCode: 200, ContentType: "text/plain", Body: []byte("every device token was settled by an earlier attempt")}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	base := baseURL(p)
	switch p.Type {
	case "expo":
		outcomes, err := d.sendExpo(ctx, base, p, n, todo)
		if err != nil {
			return channel.Result{}, err
		}
		return fanout.Summarize(outcomes, len(m.Done))
	case "fcm":
		c, err := d.fcm.Get(m.Workspace, name, p)
		if err != nil {
			return channel.Result{}, channel.Permanent(channel.CodeDelivery, "fcm provider %q: %v", name, err)
		}
		return d.each(ctx, todo, len(m.Done), func(ctx context.Context, token string) fanout.Outcome {
			return c.send(ctx, d.http, base, n, token)
		})
	default:
		c, err := d.apns.Get(m.Workspace, name, p)
		if err != nil {
			return channel.Result{}, channel.Permanent(channel.CodeDelivery, "apns provider %q: %v", name, err)
		}
		return d.each(ctx, todo, len(m.Done), func(ctx context.Context, token string) fanout.Outcome {
			return c.send(ctx, d.h2, base, n, token)
		})
	}
}

// each sends to every token, a few at a time. Once credentials are
// rejected (a message-level failure), the tokens not yet tried are not
// tried: they stay unsettled.
func (d *Deliverer) each(ctx context.Context, tokens []string, skipped int, send func(context.Context, string) fanout.Outcome) (channel.Result, error) {
	outcomes := make([]fanout.Outcome, len(tokens))
	sem := make(chan struct{}, d.cfg.Parallelism)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var fatal bool
	for i, tok := range tokens {
		sem <- struct{}{}
		mu.Lock()
		stop := fatal
		mu.Unlock()
		if stop || ctx.Err() != nil {
			<-sem
			outcomes[i] = fanout.Outcome{Recipient: tok, Err: channel.Retryable(channel.CodeDelivery, 0, "not tried in this attempt")}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			o := send(ctx, tok)
			if o.Err != nil {
				if ce := channel.Classify(o.Err); !ce.Retryable && ce.Code != channel.CodeInvalidRecipient {
					mu.Lock()
					fatal = true
					mu.Unlock()
				}
			}
			outcomes[i] = o
		}()
	}
	wg.Wait()
	return fanout.Summarize(outcomes, skipped)
}

// readSecret returns a secret that is either a file's path or the content
// itself (isContent tells which).
func readSecret(v string, isContent func(string) bool) ([]byte, error) {
	if isContent(strings.TrimSpace(v)) {
		return []byte(v), nil
	}
	b, err := os.ReadFile(strings.TrimSpace(v))
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, errors.New("cannot read " + pe.Path + ": " + pe.Err.Error())
		}
		return nil, err
	}
	return b, nil
}
