package sms

import (
	"encoding/json"
	"errors"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/worker/channel"
	"github.com/heraldhq/herald/worker/channel/internal/input"
)

// SMS is a text ready to send.
type SMS struct {
	To   []string
	Body string
}

// maxNumber is the longest recipient accepted.
const maxNumber = 64

// maxBody is the longest text accepted: ten concatenated segments.
const maxBody = 1600

var inputMembers = []string{"recipients", "body"}

// Prepare checks an SMS input against its definition and renders the
// text, without I/O. Input problems, template failures included, are
// *channel.InputError.
func Prepare(def *config.SMSDef, raw json.RawMessage) (*SMS, error) {
	if def == nil {
		return nil, errors.New("sms: the message definition has no sms")
	}
	in, err := input.Object(raw, inputMembers...)
	if err != nil {
		return nil, err
	}
	s := &SMS{}
	if s.To, err = input.Recipients("input.recipients", in["recipients"], maxNumber, nil); err != nil {
		return nil, err
	}
	vars, err := input.Vars("input.body", in["body"])
	if err != nil {
		return nil, err
	}
	if s.Body, err = def.BodyTemplate().Execute(vars); err != nil {
		return nil, channel.TemplateError("input.body", err)
	}
	switch {
	case s.Body == "":
		return nil, channel.Invalid("input.body", "the text rendered empty")
	case len([]rune(s.Body)) > maxBody:
		return nil, channel.Invalid("input.body", "the text rendered longer than %d characters", maxBody)
	}
	return s, nil
}

// RenderProviderBody renders an http provider's body template for one
// recipient; the producer calls it at accept time too, so a provider
// template that cannot render is a 400 TEMPLATE_ERROR.
func RenderProviderBody(p config.Provider, s *SMS, to, messageID string) (string, error) {
	out, err := p.BodyTemplate().Execute(map[string]any{"To": to, "From": p.From, "Body": s.Body, "MessageID": messageID})
	if err != nil {
		return "", channel.TemplateError("input.body", err)
	}
	return out, nil
}
