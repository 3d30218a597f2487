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
	"path/filepath"
	"strconv"
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
	// Users, when any, turn authentication on: each may publish only on
	// herald.in.<its workspace>.> (and receive replies); Herald itself
	// connects as InternalUser.
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
	password := ""
	if len(cfg.Users) > 0 {
		var pw [24]byte
		if _, err := rand.Read(pw[:]); err != nil {
			return nil, err
		}
		password = hex.EncodeToString(pw[:])
		opts.Users = append(opts.Users, &server.User{Username: InternalUser, Password: password})
		for _, u := range cfg.Users {
			opts.Users = append(opts.Users, &server.User{Username: u.Name, Password: u.Password, Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"herald.in." + u.Workspace + ".>"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
			}})
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if cfg.Logger != nil {
		ns.SetLoggerV2(&zapNATSLogger{l: cfg.Logger.Named("nats")}, false, false, false)
	}
	if password != "" {
		internalPasswords.Store(ns, password)
	}
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats: not ready after 15s (is the port taken?)")
	}
	return ns, nil
}

// internalPasswords holds the internal user's password of each embedded
// server that requires authentication.
var internalPasswords sync.Map

// Connect dials NATS (a URL list, or the embedded server when ns is set)
// and keeps reconnecting forever: a worker never silently stops because a
// link dropped.
func Connect(url string, ns *server.Server, name string, log *zap.Logger) (*nats.Conn, error) {
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
			opts = append(opts, nats.UserInfo(InternalUser, pw.(string)))
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
