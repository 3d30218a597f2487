package email

import (
	"bytes"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"time"
)

// Build writes the RFC 5322 message: headers, then a multipart/alternative
// body with the text and HTML parts (only text/plain without HTML). id
// makes the Message-ID and the boundary, so every attempt of a message
// sends the same bytes but the Date.
func (e *Email) Build(id string, date time.Time) []byte {
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", e.From.String())
	to := make([]string, len(e.To))
	for i, a := range e.To {
		to[i] = a.String()
	}
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", e.Subject))
	header("Date", date.Format(time.RFC1123Z))
	domain := "herald.local"
	if _, d, ok := strings.Cut(e.From.Address, "@"); ok && d != "" {
		domain = d
	}
	header("Message-ID", "<"+id+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("X-Mailer", "Herald")
	if e.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		writeQP(&b, e.Text)
		if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
			b.WriteString("\r\n")
		}
		return b.Bytes()
	}
	mw := multipart.NewWriter(&b)
	_ = mw.SetBoundary("herald-" + strings.ToLower(id))
	header("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct{ ctype, body string }{{"text/plain", e.Text}, {"text/html", e.HTML}} {
		w, _ := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		writeQP(w, part.body)
	}
	_ = mw.Close()
	return b.Bytes()
}

type writer interface{ Write([]byte) (int, error) }

// writeQP writes s quoted-printable with CRLF line ends.
func writeQP(w writer, s string) {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
	qp := quotedprintable.NewWriter(w)
	_, _ = qp.Write([]byte(s))
	_ = qp.Close()
}
