package email

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/mail"
	"regexp"
	"strings"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/worker/channel"
	"github.com/heraldhq/herald/worker/channel/internal/input"
)

// Email is a message ready to send.
type Email struct {
	From *mail.Address
	// To are the recipients, as given (they may carry display names).
	To      []*mail.Address
	Subject string
	Text    string
	// HTML is empty when the definition has no HTML template.
	HTML string
}

// maxAddress is the longest recipient accepted (RFC 5321 path limit).
const maxAddress = 256

// inputMembers are the members an email input may have (API.md).
var inputMembers = []string{"recipients", "subject", "template"}

// Prepare checks an email input against its definition and renders the
// message, without any I/O. Input problems, template failures included,
// are *channel.InputError; a definition that cannot be used is another
// error.
func Prepare(def *config.EmailDef, raw json.RawMessage) (*Email, error) {
	if def == nil {
		return nil, errors.New("email: the message definition has no email")
	}
	from, err := mail.ParseAddress(def.From)
	if err != nil {
		return nil, fmt.Errorf("email: definition from %q is not an address", def.From)
	}
	in, err := input.Object(raw, inputMembers...)
	if err != nil {
		return nil, err
	}
	e := &Email{From: from}
	recipients, err := input.Recipients("input.recipients", in["recipients"], maxAddress, func(s string) error {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return errors.New("not an email address")
		}
		e.To = append(e.To, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	_ = recipients
	subjectVars, err := input.Vars("input.subject", in["subject"])
	if err != nil {
		return nil, err
	}
	bodyVars, err := input.Vars("input.template", in["template"])
	if err != nil {
		return nil, err
	}
	subject, err := def.SubjectTemplate().Execute(subjectVars)
	if err != nil {
		return nil, channel.TemplateError("input.subject", err)
	}
	// A subject is one line.
	e.Subject = strings.Join(strings.Fields(subject), " ")
	if e.HTML, err = def.HTMLTemplate().Execute(bodyVars); err != nil {
		return nil, channel.TemplateError("input.template", err)
	}
	if e.Text, err = def.TextTemplate().Execute(bodyVars); err != nil {
		return nil, channel.TemplateError("input.template", err)
	}
	if def.TextTemplate().Empty() && e.HTML != "" {
		e.Text = textFromHTML(e.HTML)
	}
	return e, nil
}

var (
	dropRe  = regexp.MustCompile(`(?is)<(script|style|head)\b.*?</(script|style|head)\s*>`)
	breakRe = regexp.MustCompile(`(?i)<\s*(br|/p|/div|/h[1-6]|/li|/tr|/table|hr)\b[^>]*>`)
	tagRe   = regexp.MustCompile(`(?s)<[^>]*>`)
	blankRe = regexp.MustCompile(`\n{3,}`)
)

// textFromHTML derives the plain part from the HTML one: tags dropped,
// block ends as line breaks, entities decoded.
func textFromHTML(s string) string {
	s = dropRe.ReplaceAllString(s, "")
	s = breakRe.ReplaceAllString(s, "\n")
	s = tagRe.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	s = blankRe.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")
	return strings.TrimSpace(s) + "\n"
}
