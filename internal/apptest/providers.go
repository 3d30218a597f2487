package apptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/golang-jwt/jwt/v5"
)

// Providers are loopback servers speaking each provider's protocol: an
// SMTP server (STARTTLS, AUTH PLAIN), FCM (OAuth token endpoint and the
// HTTP v1 API), APNs (HTTP/2 over TLS), Expo, and Twilio. Recipients name
// their fate: "gone" or "+1555" are refused as invalid, "flaky" fails once
// with a retryable error and then succeeds, anything else is delivered.
type Providers struct {
	// ClientTLS trusts the servers' certificate (app.Options.ProviderTLS).
	ClientTLS *tls.Config

	SMTPHost string
	SMTPPort int
	FCM      *httptest.Server
	APNs     *httptest.Server
	Expo     *httptest.Server
	Twilio   *httptest.Server

	// Env holds the secrets the providers' config names (SMTP_USER,
	// SMTP_PASS, FCM_CREDENTIALS, APNS_KEY, EXPO_TOKEN, TWILIO_SID,
	// TWILIO_TOKEN).
	Env map[string]string

	rsaKey  *rsa.PrivateKey
	ecKey   *ecdsa.PrivateKey
	twToken string

	mu        sync.Mutex
	delivered map[string][]string // channel/provider -> recipients, in order
	tries     map[string]int      // recipient -> requests seen
	grants    int
	bodies    map[string]string // recipient -> what it got (subject, title or text)
}

// Provider-side constants of the fakes.
const (
	SMTPUser  = "shop@example.com"
	SMTPPass  = "smtp-password-value"
	TwilioSID = "AC00000000000000000000000000000001"
)

// StartProviders starts every fake for the duration of the test.
func StartProviders(t testing.TB) *Providers {
	t.Helper()
	p := &Providers{delivered: map[string][]string{}, tries: map[string]int{}, bodies: map[string]string{}, twToken: "twilio-token-1"}
	serverTLS, clientTLS := selfSigned(t)
	p.ClientTLS = clientTLS
	var err error
	if p.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if p.ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	p.startSMTP(t, serverTLS)
	p.FCM = httptest.NewServer(http.HandlerFunc(p.fcm))
	t.Cleanup(p.FCM.Close)
	p.APNs = httptest.NewUnstartedServer(http.HandlerFunc(p.apns))
	p.APNs.EnableHTTP2 = true
	p.APNs.TLS = serverTLS
	p.APNs.StartTLS()
	t.Cleanup(p.APNs.Close)
	p.Expo = httptest.NewServer(http.HandlerFunc(p.expo))
	t.Cleanup(p.Expo.Close)
	p.Twilio = httptest.NewServer(http.HandlerFunc(p.twilio))
	t.Cleanup(p.Twilio.Close)

	rsaDER, _ := x509.MarshalPKCS8PrivateKey(p.rsaKey)
	creds, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "acme-app", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER})),
		"client_email": "herald@acme-app.iam.gserviceaccount.com", "token_uri": p.FCM.URL + "/token",
	})
	ecDER, _ := x509.MarshalPKCS8PrivateKey(p.ecKey)
	p.Env = map[string]string{
		"SMTP_USER": SMTPUser, "SMTP_PASS": SMTPPass, "FCM_CREDENTIALS": string(creds),
		"APNS_KEY":   string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})),
		"EXPO_TOKEN": "expo-token", "TWILIO_SID": TwilioSID, "TWILIO_TOKEN": p.twToken,
	}
	return p
}

// ProvidersYAML is the providers block of a workspace pointing at the fakes.
func (p *Providers) ProvidersYAML(indent string) string {
	lines := []string{
		"smtp-main: { type: smtp, host: " + p.SMTPHost + ", port: " + strconv.Itoa(p.SMTPPort) + ", tls: starttls, username_env: SMTP_USER, password_env: SMTP_PASS }",
		"fcm-main: { type: fcm, credentials_file_env: FCM_CREDENTIALS, base_url: \"" + p.FCM.URL + "\" }",
		"apns-main: { type: apns, key_file_env: APNS_KEY, key_id: KEY1234567, team_id: TEAM123456, topic: com.acme.app, base_url: \"" + p.APNs.URL + "\" }",
		"expo-main: { type: expo, access_token_env: EXPO_TOKEN, base_url: \"" + p.Expo.URL + "\" }",
		"twilio-main: { type: twilio, account_sid_env: TWILIO_SID, auth_token_env: TWILIO_TOKEN, from: \"+15550100\", base_url: \"" + p.Twilio.URL + "\" }",
		"gateway: { type: http, url: \"" + p.Twilio.URL + "/gateway\", body: '{\"to\": {{json .To}}, \"text\": {{json .Body}}}' }",
	}
	return indent + strings.Join(lines, "\n"+indent) + "\n"
}

// SetTwilioToken changes the auth token the Twilio fake accepts (a
// credential rotation).
func (p *Providers) SetTwilioToken(tok string) {
	p.mu.Lock()
	p.twToken = tok
	p.mu.Unlock()
}

// Delivered returns the recipients a provider ("smtp", "fcm", "apns",
// "expo", "twilio", "gateway") accepted, in order.
func (p *Providers) Delivered(provider string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.delivered[provider]...)
}

// Got returns what a recipient received: the email subject, push title,
// or SMS text.
func (p *Providers) Got(recipient string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bodies[recipient]
}

// Grants counts OAuth tokens the FCM fake issued.
func (p *Providers) Grants() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.grants
}

// fate counts a request for a recipient and says what to answer:
// "invalid", "retry" (first try of a flaky one) or "ok".
func (p *Providers) fate(recipient string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tries[recipient]++
	switch {
	case strings.Contains(recipient, "gone") || recipient == "+1555":
		return "invalid"
	case strings.Contains(recipient, "flaky") && p.tries[recipient] == 1:
		return "retry"
	case strings.Contains(recipient, "down"):
		return "retry"
	}
	return "ok"
}

func (p *Providers) record(provider, recipient, body string) {
	p.mu.Lock()
	p.delivered[provider] = append(p.delivered[provider], recipient)
	p.bodies[recipient] = body
	p.mu.Unlock()
}

// ---- SMTP ----

func (p *Providers) startSMTP(t testing.TB, serverTLS *tls.Config) {
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &smtpSession{p: p}, nil }))
	s.Domain = "localhost"
	s.TLSConfig = serverTLS
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = nopLogger{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	host, port, _ := net.SplitHostPort(l.Addr().String())
	p.SMTPHost = host
	p.SMTPPort, _ = strconv.Atoi(port)
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

type smtpSession struct {
	p      *Providers
	authed bool
	rcpts  []string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != SMTPUser || pass != SMTPPass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		s.authed = true
		return nil
	}), nil
}
func (s *smtpSession) Mail(string, *smtp.MailOptions) error {
	if !s.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch s.p.fate(to) {
	case "invalid":
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	case "retry":
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	subject := ""
	for _, line := range strings.Split(string(b), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Subject: "); ok {
			subject = v
			break
		}
	}
	for _, to := range s.rcpts {
		s.p.record("smtp", to, subject)
	}
	return nil
}
func (s *smtpSession) Reset()        { s.rcpts = nil }
func (s *smtpSession) Logout() error { return nil }

// ---- FCM ----

func (p *Providers) fcm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if r.URL.Path == "/token" {
		_ = r.ParseForm()
		_, err := jwt.Parse(r.PostForm.Get("assertion"), func(*jwt.Token) (any, error) { return &p.rsaKey.PublicKey, nil }, jwt.WithValidMethods([]string{"RS256"}))
		if err != nil {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
			return
		}
		p.mu.Lock()
		p.grants++
		p.mu.Unlock()
		_, _ = io.WriteString(w, `{"access_token":"ya29.fake","expires_in":3599,"token_type":"Bearer"}`)
		return
	}
	fcmErr := func(status int, st, code, msg string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": msg, "status": st,
			"details": []any{map[string]any{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}}}})
	}
	if r.Header.Get("Authorization") != "Bearer ya29.fake" {
		fcmErr(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", "Request had invalid authentication credentials.")
		return
	}
	var body struct {
		Message struct {
			Token        string            `json:"token"`
			Notification map[string]string `json:"notification"`
		} `json:"message"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	switch p.fate(body.Message.Token) {
	case "invalid":
		fcmErr(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.")
		return
	case "retry":
		fcmErr(503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable.")
		return
	}
	p.record("fcm", body.Message.Token, body.Message.Notification["title"])
	_, _ = io.WriteString(w, `{"name":"projects/acme-app/messages/0:1"}`)
}

// ---- APNs ----

func (p *Providers) apns(w http.ResponseWriter, r *http.Request) {
	apnsErr := func(status int, reason string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"reason":"`+reason+`"}`)
	}
	if r.ProtoMajor != 2 {
		http.Error(w, "HTTP/2 required", http.StatusHTTPVersionNotSupported)
		return
	}
	auth := strings.TrimPrefix(r.Header.Get("authorization"), "bearer ")
	if _, err := jwt.Parse(auth, func(*jwt.Token) (any, error) { return &p.ecKey.PublicKey, nil }, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer("TEAM123456")); err != nil {
		apnsErr(403, "InvalidProviderToken")
		return
	}
	device := strings.TrimPrefix(r.URL.Path, "/3/device/")
	switch p.fate(device) {
	case "invalid":
		apnsErr(400, "BadDeviceToken")
		return
	case "retry":
		w.Header().Set("Retry-After", "0")
		apnsErr(429, "TooManyRequests")
		return
	}
	var payload struct {
		APS struct {
			Alert map[string]string `json:"alert"`
		} `json:"aps"`
	}
	_ = json.NewDecoder(r.Body).Decode(&payload)
	p.record("apns", device, payload.APS.Alert["title"])
	w.Header().Set("apns-id", "A1B2C3D4-0000-0000-0000-000000000000")
}

// ---- Expo ----

func (p *Providers) expo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer expo-token" {
		w.WriteHeader(401)
		_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad token"}]}`)
		return
	}
	var msgs []struct {
		To    string `json:"to"`
		Title string `json:"title"`
	}
	_ = json.NewDecoder(r.Body).Decode(&msgs)
	var tickets []map[string]any
	for _, m := range msgs {
		switch p.fate(m.To) {
		case "invalid":
			tickets = append(tickets, map[string]any{"status": "error", "message": "not a registered push notification recipient", "details": map[string]any{"error": "DeviceNotRegistered"}})
		case "retry":
			tickets = append(tickets, map[string]any{"status": "error", "message": "too fast", "details": map[string]any{"error": "MessageRateExceeded"}})
		default:
			p.record("expo", m.To, m.Title)
			tickets = append(tickets, map[string]any{"status": "ok", "id": "ticket-" + m.To})
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": tickets})
}

// ---- Twilio (and a generic gateway under /gateway) ----

func (p *Providers) twilio(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	twErr := func(status, code int, msg string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code), "status": status})
	}
	if r.URL.Path == "/gateway" {
		var body struct{ To, Text string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		if p.fate(body.To) == "ok" {
			p.record("gateway", body.To, body.Text)
			_, _ = io.WriteString(w, `{"ok":true}`)
			return
		}
		w.WriteHeader(503)
		return
	}
	user, pass, _ := r.BasicAuth()
	p.mu.Lock()
	tok := p.twToken
	p.mu.Unlock()
	if user != TwilioSID || pass != tok {
		twErr(401, 20003, "Authenticate")
		return
	}
	_ = r.ParseForm()
	to := r.PostForm.Get("To")
	switch p.fate(to) {
	case "invalid":
		twErr(400, 21211, "The 'To' number "+to+" is not a valid phone number.")
		return
	case "retry":
		w.Header().Set("Retry-After", "0")
		twErr(429, 20429, "Too Many Requests")
		return
	}
	p.record("twilio", to, r.PostForm.Get("Body"))
	w.WriteHeader(201)
	_, _ = io.WriteString(w, `{"sid":"SM00000000000000000000000000000001","status":"queued"}`)
}

// selfSigned makes a certificate for 127.0.0.1 and a client config that
// trusts only it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herald test providers"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: []string{"h2", "http/1.1"}},
		&tls.Config{RootCAs: pool}
}
