package email

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/worker/channel"
)

const (
	testUser = "shop@example.com"
	testPass = "s3cret-smtp-password"
)

var testEnv = map[string]string{"SMTP_USER": testUser, "SMTP_PASS": testPass}

const testDef = `{ provider: smtp-main, from: '"Shop" <shop@example.com>', subject: "Order {{.order_id}} – confirmed", template: "<p>Hi {{.name}}, total {{.total}}</p>" }`

func providerYAML(host string, port int, mode, extra string) string {
	return fmt.Sprintf(`{ type: smtp, host: %q, port: %d, tls: %s, username_env: SMTP_USER, password_env: SMTP_PASS %s}`, host, port, mode, extra)
}

// parts decodes a received message: headers, and the body of each MIME part by content type.
func parts(t *testing.T, data []byte) (netmail.Header, map[string]string) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	out := map[string]string{}
	if !strings.HasPrefix(mt, "multipart/") {
		b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		require.NoError(t, err)
		out[mt] = string(b)
		return msg.Header, out
	}
	require.Equal(t, "multipart/alternative", mt)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		pt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		require.NoError(t, err)
		b, err := io.ReadAll(p) // multipart decodes quoted-printable itself
		require.NoError(t, err)
		out[pt] = string(b)
	}
	return msg.Header, out
}

func TestDeliverOverTLSModesAndAuth(t *testing.T) {
	for _, tc := range []struct {
		name, mode, auth, wantMech string
	}{
		{"STARTTLS with AUTH PLAIN", "starttls", "", "PLAIN"},
		{"STARTTLS with AUTH LOGIN", "starttls", ", auth: login", "LOGIN"},
		{"implicit TLS with AUTH PLAIN", "implicit", "", "PLAIN"},
		{"implicit TLS with AUTH LOGIN", "implicit", ", auth: login", "LOGIN"},
		{"clear text (tls: none)", "none", "", "PLAIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &mailServer{user: testUser, password: testPass}
			host, port, clientTLS := startServer(t, tc.mode, srv)
			def, providers := testConfig(t, providerYAML(host, port, tc.mode, tc.auth), testDef, testEnv)
			d := New(Config{TLSConfig: clientTLS, Now: func() time.Time { return time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) }})
			res, err := d.Deliver(t.Context(), message(def, providers, `{
				"recipients": ["ann@example.com", "Bob <bob@example.org>"],
				"subject": {"order_id": "A-17"},
				"template": {"name": "Ann <script>", "total": 12.50}}`))
			require.NoError(t, err)
			require.Equal(t, 250, res.StatusCode)
			require.Equal(t, []string{"ann@example.com", "bob@example.org"}, res.Done)

			got := srv.received()
			require.Len(t, got, 1, "one transaction for every recipient")
			m := got[0]
			require.Equal(t, testUser, m.User)
			require.Equal(t, tc.wantMech, m.Mech)
			require.Equal(t, tc.mode != "none", m.TLS)
			require.Equal(t, "shop@example.com", m.From)
			require.Equal(t, []string{"ann@example.com", "bob@example.org"}, m.To)

			h, body := parts(t, m.Data)
			subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
			require.NoError(t, err)
			require.Equal(t, "Order A-17 – confirmed", subject)
			require.Equal(t, `"Shop" <shop@example.com>`, h.Get("From"))
			require.Equal(t, `<ann@example.com>, "Bob" <bob@example.org>`, h.Get("To"))
			require.Equal(t, "<01JTESTMESSAGE0000000000AB@example.com>", h.Get("Message-Id"))
			require.Equal(t, "Sat, 01 Mar 2025 12:00:00 +0000", h.Get("Date"))
			require.Equal(t, "1.0", h.Get("Mime-Version"))
			require.Equal(t, "<p>Hi Ann &lt;script&gt;, total 12.50</p>", body["text/html"], "HTML escapes input values; numbers render as given")
			require.Equal(t, "Hi Ann <script>, total 12.50\r\n", body["text/plain"], "the plain part is derived from the HTML")
		})
	}
}

func TestDeliverTextOnlyAndOwnText(t *testing.T) {
	srv := &mailServer{}
	host, port, clientTLS := startServer(t, "starttls", srv)
	prov := fmt.Sprintf(`{ type: smtp, host: %q, port: %d }`, host, port)
	d := New(Config{TLSConfig: clientTLS})

	def, providers := testConfig(t, prov, `{ provider: smtp-main, from: a@example.com, subject: "Hi", text: "Plain {{.x}}\nline two" }`, nil)
	_, err := d.Deliver(t.Context(), message(def, providers, `{"recipients": ["z@example.com"], "template": {"x": "ok"}}`))
	require.NoError(t, err, "no credentials: no AUTH; default tls is STARTTLS")
	h, body := parts(t, srv.received()[0].Data)
	require.Equal(t, "text/plain; charset=utf-8", h.Get("Content-Type"))
	require.Equal(t, "Plain ok\r\nline two\r\n", body["text/plain"])

	def, providers = testConfig(t, prov, `{ provider: smtp-main, from: a@example.com, subject: "Hi", template: "<b>{{.x}}</b>", text: "T {{.x}}" }`, nil)
	_, err = d.Deliver(t.Context(), message(def, providers, `{"recipients": ["z@example.com"], "template": {"x": "ok"}}`))
	require.NoError(t, err)
	_, body = parts(t, srv.received()[1].Data)
	require.Equal(t, "T ok", body["text/plain"])
	require.Equal(t, "<b>ok</b>", body["text/html"])
}

func TestDeliverRecipients(t *testing.T) {
	srv := &mailServer{user: testUser, password: testPass, rcpt: map[string]int{
		"gone@example.com": 550, "busy@example.com": 451,
	}}
	host, port, clientTLS := startServer(t, "starttls", srv)
	def, providers := testConfig(t, providerYAML(host, port, "starttls", ""), testDef, testEnv)
	d := New(Config{TLSConfig: clientTLS})
	in := func(rcpts ...string) string {
		return fmt.Sprintf(`{"recipients": ["%s"], "subject": {"order_id": 1}, "template": {"name": "n", "total": 1}}`, strings.Join(rcpts, `", "`))
	}

	t.Run("a refused recipient is recorded and the others get it", func(t *testing.T) {
		res, err := d.Deliver(t.Context(), message(def, providers, in("ann@example.com", "gone@example.com")))
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"ann@example.com", "gone@example.com"}, res.Done, "both settled")
		require.Equal(t, "application/json", res.ContentType)
		require.Contains(t, string(res.Body), `"recipient":"gone@example.com","status":"refused"`)
		require.Contains(t, string(res.Body), "550")
		got := srv.received()
		require.Equal(t, []string{"ann@example.com"}, got[len(got)-1].To)
	})

	t.Run("every recipient refused fails with INVALID_RECIPIENT", func(t *testing.T) {
		before := len(srv.received())
		_, err := d.Deliver(t.Context(), message(def, providers, in("gone@example.com")))
		ce := requireCode(t, err, channel.CodeInvalidRecipient, false)
		require.Contains(t, ce.Error(), "550")
		require.Len(t, srv.received(), before, "no DATA")
	})

	t.Run("a deferred recipient aborts before DATA: nobody gets it, all retried", func(t *testing.T) {
		before := len(srv.received())
		res, err := d.Deliver(t.Context(), message(def, providers, in("ann@example.com", "busy@example.com", "gone@example.com")))
		requireCode(t, err, channel.CodeDelivery, true)
		require.Len(t, srv.received(), before, "no message was sent to anyone")
		require.Equal(t, []string{"gone@example.com"}, res.Done, "only the refused one is settled")
	})

	t.Run("recipients settled by an earlier attempt are skipped", func(t *testing.T) {
		m := message(def, providers, in("ann@example.com", "bob@example.com"))
		m.Done = map[string]bool{"ann@example.com": true}
		_, err := d.Deliver(t.Context(), m)
		require.NoError(t, err)
		got := srv.received()
		require.Equal(t, []string{"bob@example.com"}, got[len(got)-1].To)
	})
}

func TestDeliverClassifiesFailures(t *testing.T) {
	t.Run("wrong password is SECRET_EXPIRED and never shows the password", func(t *testing.T) {
		srv := &mailServer{user: testUser, password: "the-right-one"}
		host, port, clientTLS := startServer(t, "implicit", srv)
		def, providers := testConfig(t, providerYAML(host, port, "implicit", ""), testDef, testEnv)
		_, err := New(Config{TLSConfig: clientTLS}).Deliver(t.Context(), message(def, providers, `{"recipients": ["a@example.com"], "subject": {"order_id": 1}, "template": {"name": "n", "total": 1}}`))
		ce := requireCode(t, err, channel.CodeSecretExpired, false)
		require.Contains(t, ce.Error(), "535")
		require.NotContains(t, ce.Error(), testPass)
	})
	for _, tc := range []struct {
		code      int
		retryable bool
	}{{554, false}, {452, true}} {
		t.Run(fmt.Sprintf("message refused at DATA with %d", tc.code), func(t *testing.T) {
			srv := &mailServer{dataCode: tc.code}
			host, port, clientTLS := startServer(t, "starttls", srv)
			def, providers := testConfig(t, fmt.Sprintf(`{ type: smtp, host: %q, port: %d }`, host, port), testDef, nil)
			_, err := New(Config{TLSConfig: clientTLS}).Deliver(t.Context(), message(def, providers, `{"recipients": ["a@example.com"], "subject": {"order_id": 1}, "template": {"name": "n", "total": 1}}`))
			requireCode(t, err, channel.CodeDelivery, tc.retryable)
		})
	}
	t.Run("a certificate that does not verify is permanent", func(t *testing.T) {
		srv := &mailServer{}
		host, port, _ := startServer(t, "implicit", srv)
		def, providers := testConfig(t, fmt.Sprintf(`{ type: smtp, host: %q, port: %d, tls: implicit }`, host, port), testDef, nil)
		_, err := New(Config{}).Deliver(t.Context(), message(def, providers, `{"recipients": ["a@example.com"], "subject": {"order_id": 1}, "template": {"name": "n", "total": 1}}`))
		ce := requireCode(t, err, channel.CodeDelivery, false)
		require.Contains(t, ce.Error(), "certificate")
	})
	t.Run("STARTTLS not offered is permanent", func(t *testing.T) {
		srv := &mailServer{}
		host, port, clientTLS := startServer(t, "none", srv)
		def, providers := testConfig(t, fmt.Sprintf(`{ type: smtp, host: %q, port: %d, tls: starttls }`, host, port), testDef, nil)
		_, err := New(Config{TLSConfig: clientTLS}).Deliver(t.Context(), message(def, providers, `{"recipients": ["a@example.com"], "subject": {"order_id": 1}, "template": {"name": "n", "total": 1}}`))
		ce := requireCode(t, err, channel.CodeDelivery, false)
		require.Contains(t, ce.Error(), "STARTTLS")
	})
	t.Run("nobody listening is retryable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().(*net.TCPAddr)
		require.NoError(t, l.Close())
		def, providers := testConfig(t, fmt.Sprintf(`{ type: smtp, host: "127.0.0.1", port: %d, tls: none }`, addr.Port), testDef, nil)
		_, err = New(Config{}).Deliver(t.Context(), message(def, providers, `{"recipients": ["a@example.com"], "subject": {"order_id": 1}, "template": {"name": "n", "total": 1}}`))
		requireCode(t, err, channel.CodeDelivery, true)
	})
	t.Run("a server that never answers is a retryable TIMEOUT", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { _ = c.Close() }) // silent: no greeting
			}
		}()
		def, providers := testConfig(t, fmt.Sprintf(`{ type: smtp, host: "127.0.0.1", port: %d, tls: none }`, l.Addr().(*net.TCPAddr).Port), testDef, nil)
		_, err = New(Config{Timeout: 200 * time.Millisecond}).Deliver(t.Context(), message(def, providers, `{"recipients": ["a@example.com"], "subject": {"order_id": 1}, "template": {"name": "n", "total": 1}}`))
		requireCode(t, err, channel.CodeTimeout, true)
	})
}

func TestEndpoint(t *testing.T) {
	d := New(Config{})
	for _, tc := range []struct{ prov, want string }{
		{`{ type: smtp, host: Mail.Example.com }`, "smtp://mail.example.com:587"},
		{`{ type: smtp, host: mail.example.com, port: 465 }`, "smtps://mail.example.com:465"},
		{`{ type: smtp, host: mail.example.com, tls: implicit }`, "smtps://mail.example.com:465"},
		{`{ type: smtp, host: mail.example.com, port: 25, tls: none }`, "smtp://mail.example.com:25"},
	} {
		def, providers := testConfig(t, tc.prov, testDef, nil)
		got, err := d.Endpoint(message(def, providers, `{}`))
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
}
