package email

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/worker/channel"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost, and
// a client TLS config that trusts it (and nothing else).
func testCert(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herald test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

// receivedMail is one message the server accepted.
type receivedMail struct {
	User, Mech string
	TLS        bool
	From       string
	To         []string
	Data       []byte
}

// mailServer is a loopback SMTP server (go-smtp) that records what it
// received and refuses what a test tells it to.
type mailServer struct {
	addr     string
	user     string
	password string
	// rcpt answers RCPT TO per address: a code >= 400 refuses it.
	rcpt map[string]int
	// dataCode, when set, refuses the message at the end of DATA.
	dataCode int

	mu    sync.Mutex
	mails []receivedMail
	// sessions counts connections that got as far as MAIL FROM.
	transactions int
}

// startServer runs a server in mode "starttls", "implicit" or "none".
func startServer(t *testing.T, mode string, srv *mailServer) (host string, port int, clientTLS *tls.Config) {
	t.Helper()
	serverTLS, clientTLS := testCert(t)
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: srv, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = testLogger{t}
	s.AllowInsecureAuth = mode == "none"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	switch mode {
	case "starttls":
		s.TLSConfig = serverTLS
	case "implicit":
		l = tls.NewListener(l, serverTLS)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	srv.addr = l.Addr().String()
	h, p, _ := net.SplitHostPort(srv.addr)
	var pn int
	fmt.Sscan(p, &pn)
	return h, pn, clientTLS
}

type testLogger struct{ t *testing.T }

func (l testLogger) Printf(format string, v ...any) { l.t.Logf("smtp server: "+format, v...) }
func (l testLogger) Println(v ...any)               { l.t.Log(append([]any{"smtp server:"}, v...)...) }

func (srv *mailServer) received() []receivedMail {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]receivedMail(nil), srv.mails...)
}

type session struct {
	srv  *mailServer
	conn *smtp.Conn
	cur  receivedMail
	user string
	mech string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.srv.user || pass != s.srv.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		s.user, s.mech = user, mech
		return nil
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error { return check(user, pass) }), nil
}

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if resp != nil {
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(resp)
		l.step++
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	s.srv.mu.Lock()
	s.srv.transactions++
	s.srv.mu.Unlock()
	_, isTLS := s.conn.TLSConnectionState()
	s.cur = receivedMail{User: s.user, Mech: s.mech, TLS: isTLS, From: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if code := s.srv.rcpt[to]; code >= 400 {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1}, Message: "mailbox " + to + " unavailable"}
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if c := s.srv.dataCode; c >= 400 {
		return &smtp.SMTPError{Code: c, EnhancedCode: smtp.EnhancedCode{c / 100, 6, 0}, Message: "message refused"}
	}
	s.cur.Data = data
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = receivedMail{} }
func (s *session) Logout() error { return nil }

// testConfig builds the email definition and its smtp provider through
// config.Parse (the only way secrets and templates are set).
func testConfig(t testing.TB, provider, def string, env map[string]string) (*config.Message, map[string]config.Provider) {
	t.Helper()
	return testutil.ChannelConfig(t, "mail", "email: "+def, "      smtp-main: "+provider+"\n", env)
}

func message(def *config.Message, providers map[string]config.Provider, input string) *channel.Message {
	return &channel.Message{
		ID: "01JTESTMESSAGE0000000000AB", Workspace: "acme", Channel: "email", Notification: "orders:mail",
		Definition: def, Providers: providers, Attempt: 1, Input: json.RawMessage(input),
	}
}

// requireCode checks a delivery error's classification.
func requireCode(t *testing.T, err error, code string, retryable bool) *channel.Error {
	t.Helper()
	require.Error(t, err)
	ce, ok := err.(*channel.Error)
	require.True(t, ok, "want *channel.Error, got %T: %v", err, err)
	require.Equal(t, code, ce.Code, ce.Error())
	require.Equal(t, retryable, ce.Retryable, ce.Error())
	require.False(t, strings.Contains(ce.Error(), "\n"), "one line: %q", ce.Error())
	return ce
}

var testTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
