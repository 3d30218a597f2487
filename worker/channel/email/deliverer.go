package email

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/worker/channel"
	"github.com/heraldhq/herald/worker/channel/internal/fanout"
)

// Defaults of Config.
const (
	DefaultTimeout = 30 * time.Second
)

// Config configures a Deliverer. Zero values mean the documented defaults.
type Config struct {
	// Timeout bounds one attempt (connect, TLS, AUTH, transaction). Default 30s.
	Timeout time.Duration
	// TLSConfig is the base of every TLS connection (tests add their CA
	// here); ServerName is always the provider's host. Default: system roots.
	TLSConfig *tls.Config
	// Now stamps the Date header. Default time.Now.
	Now func() time.Time
}

// Deliverer sends email over SMTP, one connection per attempt. It is safe
// for concurrent use.
type Deliverer struct {
	cfg Config
}

// New returns a Deliverer.
func New(cfg Config) *Deliverer {
	cfg.Timeout = cmp.Or(max(cfg.Timeout, 0), DefaultTimeout)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Deliverer{cfg: cfg}
}

// server is where a provider's mail goes and how.
type server struct {
	host, addr string
	mode       string // implicit, starttls, none
}

func serverOf(p config.Provider) server {
	mode := p.TLS
	port := p.Port
	if mode == "" {
		mode = "starttls"
		if port == 465 {
			mode = "implicit"
		}
	}
	if port == 0 {
		port = 587
		if mode == "implicit" {
			port = 465
		}
	}
	return server{host: p.Host, addr: net.JoinHostPort(p.Host, strconv.Itoa(port)), mode: mode}
}

func provider(m *channel.Message) (*config.EmailDef, config.Provider, error) {
	if m == nil || m.Definition == nil || m.Definition.Email == nil {
		return nil, config.Provider{}, channel.Permanent(channel.CodeDelivery, "the message definition has no email")
	}
	def := m.Definition.Email
	p, ok := m.Providers[def.Provider]
	if !ok || p.Type != "smtp" {
		return nil, config.Provider{}, channel.Permanent(channel.CodeDelivery, "email provider %q is not an smtp provider of this workspace", def.Provider)
	}
	return def, p, nil
}

// Endpoint is smtp://host:port (smtps:// for implicit TLS): the breaker key.
func (d *Deliverer) Endpoint(m *channel.Message) (string, error) {
	_, p, err := provider(m)
	if err != nil {
		return "", err
	}
	s := serverOf(p)
	scheme := "smtp"
	if s.mode == "implicit" {
		scheme = "smtps"
	}
	return scheme + "://" + strings.ToLower(s.addr), nil
}

// Deliver sends one attempt. Errors are *channel.Error.
func (d *Deliverer) Deliver(ctx context.Context, m *channel.Message) (channel.Result, error) {
	def, p, err := provider(m)
	if err != nil {
		return channel.Result{}, err
	}
	e, err := Prepare(def, m.Input)
	if err != nil {
		var ie *channel.InputError
		if errors.As(err, &ie) {
			return channel.Result{}, channel.Permanent(cmp.Or(map[bool]string{true: channel.CodeTemplate}[ie.Code == channel.CodeTemplate], channel.CodeDelivery), "email input: %v", ie)
		}
		return channel.Result{}, channel.Permanent(channel.CodeDelivery, "%v", err)
	}
	var todo []string
	for _, a := range e.To {
		if !m.Done[a.Address] {
			todo = append(todo, a.Address)
		}
	}
	if len(todo) == 0 {
		return channel.Result{StatusCode: 250, ContentType: "text/plain", Body: []byte("every recipient was settled by an earlier attempt")}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	s := serverOf(p)
	c, err := d.dial(ctx, s)
	if err != nil {
		return channel.Result{}, classify(ctx, err, s.addr, "connect")
	}
	defer c.Close()
	if err := d.auth(c, p); err != nil {
		return channel.Result{}, classify(ctx, err, s.addr, "AUTH")
	}
	if err := c.Mail(e.From.Address, nil); err != nil {
		return channel.Result{}, classify(ctx, err, s.addr, "MAIL FROM")
	}
	outcomes := make([]fanout.Outcome, 0, len(todo))
	var accepted []int
	deferred := false
	for _, rcpt := range todo {
		err := c.Rcpt(rcpt, nil)
		o := fanout.Outcome{Recipient: rcpt}
		var se *smtp.SMTPError
		switch {
		case err == nil:
			accepted = append(accepted, len(outcomes))
		case errors.As(err, &se) && se.Code >= 500:
			o.Err = channel.Permanent(channel.CodeInvalidRecipient, "%s refused recipient %s: %s", s.addr, rcpt, reply(se))
			o.Result = replyResult(se.Code, reply(se))
		case errors.As(err, &se):
			deferred = true
			o.Err = channel.Retryable(channel.CodeDelivery, 0, "%s deferred recipient %s: %s", s.addr, rcpt, reply(se))
			o.Result = replyResult(se.Code, reply(se))
		default:
			return channel.Result{}, classify(ctx, err, s.addr, "RCPT TO")
		}
		outcomes = append(outcomes, o)
	}
	if deferred || len(accepted) == 0 {
		// Abort before DATA: nobody got anything, so a retry cannot send
		// anyone a duplicate.
		_ = c.Reset()
		_ = c.Quit()
		for _, i := range accepted {
			outcomes[i].Err = channel.Retryable(channel.CodeDelivery, 0, "held back: another recipient was deferred")
		}
		return fanout.Summarize(outcomes, len(m.Done))
	}
	w, err := c.Data()
	if err != nil {
		return channel.Result{}, classify(ctx, err, s.addr, "DATA")
	}
	if _, err := w.Write(e.Build(m.ID, d.cfg.Now())); err != nil {
		return channel.Result{}, classify(ctx, err, s.addr, "DATA")
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return channel.Result{}, classify(ctx, err, s.addr, "end of DATA")
	}
	_ = c.Quit()
	res := replyResult(250, "250 "+strings.Join(strings.Fields(resp.StatusText), " "))
	for _, i := range accepted {
		outcomes[i].Result = res
	}
	return fanout.Summarize(outcomes, len(m.Done))
}

func replyResult(code int, text string) channel.Result {
	return channel.Result{StatusCode: code, ContentType: "text/plain", Body: []byte(text)}
}

func reply(se *smtp.SMTPError) string {
	s := strconv.Itoa(se.Code)
	if se.EnhancedCode != smtp.NoEnhancedCode && se.EnhancedCode != (smtp.EnhancedCode{}) {
		s += fmt.Sprintf(" %d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return s + " " + strings.Join(strings.Fields(se.Message), " ")
}

// dial connects, greets and secures the connection as the provider says.
// The connection's deadline is the attempt's.
func (d *Deliverer) dial(ctx context.Context, s server) (*smtp.Client, error) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	_ = stop // the connection closes with the client; AfterFunc only interrupts
	tlsCfg := d.tlsConfig(s.host)
	var c *smtp.Client
	switch s.mode {
	case "implicit":
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		c = smtp.NewClient(tc)
	case "starttls":
		c, err = smtp.NewClientStartTLS(conn, tlsCfg)
		if err != nil {
			_ = conn.Close()
			if strings.Contains(err.Error(), "doesn't support STARTTLS") {
				return nil, errNoStartTLS
			}
			return nil, err
		}
	default:
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout, c.SubmissionTimeout = d.cfg.Timeout, d.cfg.Timeout
	return c, nil
}

var (
	errNoStartTLS = errors.New("the server does not offer STARTTLS (set tls: implicit for port 465, or tls: none to send in clear)")
	errNoAuth     = errors.New("the server offers neither AUTH PLAIN nor AUTH LOGIN")
)

func (d *Deliverer) tlsConfig(host string) *tls.Config {
	var c *tls.Config
	if d.cfg.TLSConfig != nil {
		c = d.cfg.TLSConfig.Clone()
	} else {
		c = &tls.Config{}
	}
	c.ServerName = host
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	return c
}

// auth authenticates when the provider has credentials.
func (d *Deliverer) auth(c *smtp.Client, p config.Provider) error {
	user, pass := p.Secret("username_env"), p.Secret("password_env")
	if user == "" && pass == "" {
		return nil
	}
	mech := strings.ToUpper(p.Auth)
	if mech == "" {
		switch {
		case c.SupportsAuth(sasl.Plain):
			mech = sasl.Plain
		case c.SupportsAuth(sasl.Login):
			mech = sasl.Login
		default:
			return errNoAuth
		}
	}
	if mech == sasl.Login {
		return c.Auth(sasl.NewLoginClient(user, pass))
	}
	return c.Auth(sasl.NewPlainClient("", user, pass))
}

// classify turns an SMTP or transport error into a *channel.Error. step
// names the command that failed.
func classify(ctx context.Context, err error, addr, step string) error {
	var se *smtp.SMTPError
	var ne net.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &se):
		r := reply(se)
		switch {
		case se.Code == 535 || se.Code == 534 || se.Code == 530 || se.Code == 538:
			return channel.Permanent(channel.CodeSecretExpired, "%s %s: %s: the server rejected our credentials", addr, step, r)
		case se.Code >= 400 && se.Code < 500:
			return channel.Retryable(channel.CodeDelivery, 0, "%s %s: %s", addr, step, r)
		default:
			return channel.Permanent(channel.CodeDelivery, "%s %s: %s", addr, step, r)
		}
	case errors.Is(err, errNoStartTLS), errors.Is(err, errNoAuth):
		return channel.Permanent(channel.CodeDelivery, "%s: %v", addr, err)
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		return channel.Permanent(channel.CodeDelivery, "%s: TLS certificate not accepted: %v", addr, err)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return channel.Retryable(channel.CodeTimeout, 0, "%s %s: no answer in time", addr, step)
	case ctx.Err() != nil:
		return channel.Retryable(channel.CodeTimeout, 0, "%s %s: no answer in time", addr, step)
	}
	msg := err.Error()
	if bytes.ContainsAny([]byte(msg), "\r\n") {
		msg = strings.Join(strings.Fields(msg), " ")
	}
	return channel.Retryable(channel.CodeDelivery, 0, "%s %s: %s", addr, step, msg)
}
