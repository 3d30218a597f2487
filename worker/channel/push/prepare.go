package push

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/worker/channel"
	"github.com/heraldhq/herald/worker/channel/internal/input"
)

// Notification is a push ready to send.
type Notification struct {
	Tokens []string
	Title  string
	Body   string
	// Data is the input's data object as given (nil when absent).
	Data map[string]json.RawMessage
}

// maxToken is the longest device token accepted.
const maxToken = 4096

// maxData bounds the data object: FCM and APNs refuse payloads over 4 KiB.
const maxData = 4096

var inputMembers = []string{"device_tokens", "title", "body", "data"}

// Prepare checks a push input against its definition and renders the
// title and body, without I/O. Input problems, template failures
// included, are *channel.InputError.
func Prepare(def *config.PushDef, raw json.RawMessage) (*Notification, error) {
	if def == nil {
		return nil, errors.New("push: the message definition has no push")
	}
	in, err := input.Object(raw, inputMembers...)
	if err != nil {
		return nil, err
	}
	n := &Notification{}
	if n.Tokens, err = input.Recipients("input.device_tokens", in["device_tokens"], maxToken, nil); err != nil {
		return nil, err
	}
	titleVars, err := input.Vars("input.title", in["title"])
	if err != nil {
		return nil, err
	}
	bodyVars, err := input.Vars("input.body", in["body"])
	if err != nil {
		return nil, err
	}
	if n.Title, err = def.TitleTemplate().Execute(titleVars); err != nil {
		return nil, channel.TemplateError("input.title", err)
	}
	if n.Body, err = def.BodyTemplate().Execute(bodyVars); err != nil {
		return nil, channel.TemplateError("input.body", err)
	}
	if d := bytes.TrimSpace(in["data"]); len(d) > 0 && string(d) != "null" {
		if d[0] != '{' || json.Unmarshal(d, &n.Data) != nil {
			return nil, channel.Invalid("input.data", "must be an object")
		}
		if len(d) > maxData {
			return nil, channel.Invalid("input.data", "larger than %d bytes; push providers refuse bigger payloads", maxData)
		}
	}
	return n, nil
}

// stringData is the data with every value a string, as FCM wants it:
// strings as they are, anything else as its JSON.
func (n *Notification) stringData() map[string]string {
	if len(n.Data) == 0 {
		return nil
	}
	out := make(map[string]string, len(n.Data))
	for k, v := range n.Data {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(bytes.TrimSpace(v))
		}
		out[k] = s
	}
	return out
}
