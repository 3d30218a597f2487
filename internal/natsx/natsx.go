// Package natsx is Herald's NATS machinery: the embedded JetStream server of
// `herald serve` and client connections. The streams, subjects and
// consumers are internal/queue's.
package natsx

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// EmbeddedConfig configures the embedded server.
type EmbeddedConfig struct {
	// Listen is host:port for clients; port -1 picks a free one.
	Listen string
	// DataDir is the server's state; JetStream stores under DataDir/nats.
	DataDir string
	// SyncInterval: "always" or a duration ("2m").
	SyncInterval string
	// Users, when any, turn authentication on and isolate them (see
	// ingestAccounts): each lives in an account of its own that can only
	// make requests on herald.in.<its workspace>.> and receive their
	// replies. Herald itself connects as InternalUser (and its ingest
	// subscription as IngestUser) in the HERALD account.
	Users  []User
	Logger *zap.Logger
	// Name is the server's name, unique in a cluster. Default "herald-embedded".
	Name string
	// Cluster, when ClusterListen is set, joins the server to a NATS
	// cluster of that name: ClusterListen is host:port for routes from
	// the other nodes and Routes their route URLs (nats://host:port).
	Cluster       string
	ClusterListen string
	Routes        []string
}

// User is an ingest user of the embedded server.
type User struct {
	Name, Password, Workspace string
}

// InternalUser is the embedded server's user for Herald's own connections
// when ingest users are configured; its password is random per start.
const InternalUser = "herald"

// IngestUser is the embedded server's user for the ingest subscription: it
// may subscribe to herald.in.> and publish nothing but one reply to each
// request it received (allow_responses), so even a crafted reply subject
// can never make Herald write anywhere else.
const IngestUser = "herald-ingest"

// HeraldAccount is the account of Herald's own connections, and of its
// streams, once ingest users exist. (Without them every connection is in
// the server's global account, $G.)
const HeraldAccount = "HERALD"

// ingestReplyTTL bounds how long the ingest connection may answer a
// request it received; far above any request's handling.
const ingestReplyTTL = 5 * time.Minute

// IngestAccount is the account of an ingest user.
func IngestAccount(user string) string { return "INGEST_" + user }

// StartEmbedded starts a JetStream-enabled nats-server in this process and
// waits until it accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("nats listen %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("nats listen %q: bad port", cfg.Listen)
	}
	opts := &server.Options{
		ServerName: cmp.Or(cfg.Name, "herald-embedded"),
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.DataDir, "nats"),
		NoSigs:     true,
		MaxPayload: 8 << 20,
	}
	if cfg.ClusterListen != "" {
		ch, cp, err := net.SplitHostPort(cfg.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("nats cluster listen %q: %w", cfg.ClusterListen, err)
		}
		cport, err := strconv.Atoi(cp)
		if err != nil {
			return nil, fmt.Errorf("nats cluster listen %q: bad port", cfg.ClusterListen)
		}
		opts.Cluster = server.ClusterOpts{Name: cmp.Or(cfg.Cluster, "herald"), Host: ch, Port: cport}
		for _, r := range cfg.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("nats route %q: want nats://host:port", r)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	if cfg.SyncInterval == "always" {
		opts.SyncAlways = true
	} else if cfg.SyncInterval != "" {
		d, err := time.ParseDuration(cfg.SyncInterval)
		if err != nil {
			return nil, fmt.Errorf("nats sync interval %q: %w", cfg.SyncInterval, err)
		}
		opts.SyncInterval = d
	}
	var pws *passwords
	if len(cfg.Users) > 0 {
		pws = &passwords{internal: randomPassword(), ingest: randomPassword()}
		if err := ingestAccounts(opts, cfg.Users, pws); err != nil {
			return nil, err
		}
		if cfg.ClusterListen == "" {
			if err := moveStreams(opts.StoreDir, globalAccount, HeraldAccount); err != nil {
				return nil, err
			}
		}
	} else if cfg.ClusterListen == "" {
		if err := moveStreams(opts.StoreDir, HeraldAccount, globalAccount); err != nil {
			return nil, err
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if cfg.Logger != nil {
		ns.SetLoggerV2(&zapNATSLogger{l: cfg.Logger.Named("nats")}, false, false, false)
	}
	if pws != nil {
		internalPasswords.Store(ns, pws)
	}
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats: not ready after 15s (is the port taken?)")
	}
	return ns, nil
}

// internalPasswords holds the passwords of Herald's own users of each
// embedded server that requires authentication.
var internalPasswords sync.Map

type passwords struct{ internal, ingest string }

func randomPassword() string {
	var pw [24]byte
	_, _ = rand.Read(pw[:]) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(pw[:])
}

// globalAccount is nats-server's default account.
const globalAccount = "$G"

// ingestAccounts configures the embedded server for ingest users with
// NATS's own isolation, the same configuration an operator writes for an
// external server (README, "Publishing from NATS"):
//
//   - Herald's connections live in the HERALD account, which has JetStream.
//     It exports the service herald.in.<ws>.> to the accounts of that
//     workspace's users only.
//   - Each ingest user has an account of its own that imports that one
//     service. Nothing else crosses: not Herald's JetStream traffic, not
//     its inboxes, not another user's requests or replies. Subscribing to
//     _INBOX.> (or anything) there sees only the user's own traffic.
//   - A request's reply subject is rewritten by the server into a response
//     mapping (_R_.…) that leads back to the requester only, so Herald
//     never sees, and cannot be made to publish on, a subject the caller
//     chose. The import shares the caller's identity (Nats-Request-Info).
//   - Herald's ingest connection may publish only one reply to each
//     request it received (allow_responses).
//
// The account structure is written in nats-server's configuration
// language and parsed by the server (JetStream limits of an account cannot
// be set otherwise); passwords are set on the parsed users afterwards, so
// they never pass through the parser.
func ingestAccounts(opts *server.Options, users []User, pws *passwords) error {
	byWS := map[string][]string{}
	var order []string
	seen := map[string]bool{InternalUser: true, IngestUser: true}
	for _, u := range users {
		if !safeName(u.Name) || !safeName(u.Workspace) {
			return fmt.Errorf("nats ingest user %q of workspace %q: names must be letters, digits, '_', '-' or '.'", u.Name, u.Workspace)
		}
		if seen[u.Name] {
			return fmt.Errorf("nats ingest user %q is listed twice (or is one of Herald's own users)", u.Name)
		}
		seen[u.Name] = true
		if _, ok := byWS[u.Workspace]; !ok {
			order = append(order, u.Workspace)
		}
		byWS[u.Workspace] = append(byWS[u.Workspace], IngestAccount(u.Name))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "accounts {\n  %s: {\n    jetstream: enabled\n    users: [\n", HeraldAccount)
	fmt.Fprintf(&b, "      { user: %q, password: \"-\" }\n", InternalUser)
	fmt.Fprintf(&b, "      { user: %q, password: \"-\", permissions: { subscribe: { allow: [\"herald.in.>\"] }, allow_responses: { max: 1, expires: %q } } }\n",
		IngestUser, ingestReplyTTL.String())
	b.WriteString("    ]\n    exports: [\n")
	for _, ws := range order {
		fmt.Fprintf(&b, "      { service: %q, accounts: [%s] }\n", IngestSubjects(ws), quoted(byWS[ws]))
	}
	b.WriteString("    ]\n  }\n")
	for _, u := range users {
		fmt.Fprintf(&b, "  %q: {\n    users: [ { user: %q, password: \"-\", permissions: { publish: { allow: [%q] }, subscribe: { allow: [\"_INBOX.>\"] } } } ]\n",
			IngestAccount(u.Name), u.Name, IngestSubjects(u.Workspace))
		fmt.Fprintf(&b, "    imports: [ { service: { account: %s, subject: %q }, share: true } ]\n  }\n", HeraldAccount, IngestSubjects(u.Workspace))
	}
	b.WriteString("}\n")
	if err := opts.ProcessConfigString(b.String()); err != nil {
		return fmt.Errorf("embedded nats accounts: %w", err)
	}
	pw := map[string]string{InternalUser: pws.internal, IngestUser: pws.ingest}
	for _, u := range users {
		pw[u.Name] = u.Password
	}
	for _, u := range opts.Users {
		u.Password = pw[u.Username]
	}
	return nil
}

// IngestSubjects are the subjects a workspace's services publish sends on.
func IngestSubjects(ws string) string { return "herald.in." + ws + ".>" }

func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// safeName keeps what goes into the generated configuration to characters
// that need no quoting rules (config validation allows no others anyway).
func safeName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// moveStreams moves a single server's JetStream data from one account to
// another when Herald's account changes with the ingest users (from $G to
// HERALD when the first is configured, and back), so that queued jobs
// survive the change. It only renames when the target has no data yet. A
// clustered server keeps its account: its stream assignments name it.
func moveStreams(storeDir, from, to string) error {
	src := filepath.Join(storeDir, "jetstream", from)
	dst := filepath.Join(storeDir, "jetstream", to)
	if _, err := os.Stat(src); err != nil {
		return nil
	}
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("embedded nats: moving the streams of account %s to %s: %w", from, to, err)
	}
	return nil
}

// Connect dials NATS (a URL list, or the embedded server when ns is set)
// and keeps reconnecting forever: a worker never silently stops because a
// link dropped.
func Connect(url string, ns *server.Server, name string, log *zap.Logger) (*nats.Conn, error) {
	return connect(url, ns, name, log, false)
}

// ConnectIngest dials the connection the ingest subscription uses. On an
// embedded server with ingest users it is IngestUser, which can publish
// nothing but replies to the requests it received; elsewhere it is the
// same user as Connect's (an external server's operator restricts it).
func ConnectIngest(url string, ns *server.Server, name string, log *zap.Logger) (*nats.Conn, error) {
	return connect(url, ns, name, log, true)
}

func connect(url string, ns *server.Server, name string, log *zap.Logger, ingest bool) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.PingInterval(10 * time.Second),
		// No buffering while reconnecting: a publish during an outage fails
		// at once instead of waiting in the client and reaching the stream
		// after the producer gave up on it (the send answered 503 and its
		// entry marked failed, yet the job delivered later).
		nats.ReconnectBufSize(-1),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", zap.String("url", c.ConnectedUrlRedacted())) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("nats async error", zap.String("subject", subj), zap.Error(err))
		}),
	}
	if ns != nil {
		opts = append(opts, nats.InProcessServer(ns))
		url = ns.ClientURL()
		if pw, ok := internalPasswords.Load(ns); ok {
			user, password := InternalUser, pw.(*passwords).internal
			if ingest {
				user, password = IngestUser, pw.(*passwords).ingest
			}
			opts = append(opts, nats.UserInfo(user, password))
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect nats %s: %w", url, err)
	}
	return nc, nil
}

// zapNATSLogger routes nats-server logs into zap.
type zapNATSLogger struct{ l *zap.Logger }

func (z *zapNATSLogger) Noticef(format string, v ...any) { z.l.Debug(fmt.Sprintf(format, v...)) }
func (z *zapNATSLogger) Warnf(format string, v ...any)   { z.l.Warn(fmt.Sprintf(format, v...)) }
func (z *zapNATSLogger) Fatalf(format string, v ...any)  { z.l.Error(fmt.Sprintf(format, v...)) }
func (z *zapNATSLogger) Errorf(format string, v ...any)  { z.l.Error(fmt.Sprintf(format, v...)) }
func (z *zapNATSLogger) Debugf(format string, v ...any)  { z.l.Debug(fmt.Sprintf(format, v...)) }
func (z *zapNATSLogger) Tracef(format string, v ...any)  {}
