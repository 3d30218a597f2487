package config

import (
	"cmp"
	"encoding/hex"
	"math"
	"strings"
)

// index is built once per loaded Config: every lookup on the send path is a
// map access.
type index struct {
	workspaces map[string]*Workspace
	keys       map[[32]byte]indexedKey
	products   map[string]map[string]*Product            // ws -> product tag
	messages   map[string]map[string]map[string]*Message // ws -> product tag -> "notif:msg"
}

type indexedKey struct {
	hash      [32]byte
	workspace string
	name      string
	scopes    []string
	limit     *RateLimit
}

func buildIndex(c *Config) *index {
	ix := &index{
		workspaces: map[string]*Workspace{},
		keys:       map[[32]byte]indexedKey{},
		products:   map[string]map[string]*Product{},
		messages:   map[string]map[string]map[string]*Message{},
	}
	for i := range c.Workspaces {
		ws := &c.Workspaces[i]
		ix.workspaces[ws.ID] = ws
		for _, k := range ws.Keys {
			var h [32]byte
			b, _ := hex.DecodeString(strings.ToLower(k.SHA256)) // validated
			copy(h[:], b)
			var limit *RateLimit
			if k.RateLimit != nil {
				l := *k.RateLimit
				l.Burst = cmp.Or(l.Burst, max(1, int(math.Ceil(l.PerSecond))))
				limit = &l
			}
			ix.keys[h] = indexedKey{hash: h, workspace: ws.ID, name: k.Name, scopes: k.Scopes, limit: limit}
		}
		ix.products[ws.ID] = map[string]*Product{}
		ix.messages[ws.ID] = map[string]map[string]*Message{}
		for j := range ws.Products {
			p := &ws.Products[j]
			ix.products[ws.ID][p.Tag] = p
			msgs := map[string]*Message{}
			for k := range p.Notifications {
				n := &p.Notifications[k]
				for l := range n.Messages {
					m := &n.Messages[l]
					msgs[n.Tag+":"+m.Tag] = m
				}
			}
			ix.messages[ws.ID][p.Tag] = msgs
		}
	}
	return ix
}

// Workspace returns the workspace with that id, or nil.
func (c *Config) Workspace(id string) *Workspace {
	if c.index == nil {
		return nil
	}
	return c.index.workspaces[id]
}

// Product returns a workspace's product by tag, or nil.
func (c *Config) Product(ws, tag string) *Product {
	if c.index == nil {
		return nil
	}
	return c.index.products[ws][tag]
}

// Message returns the definition of notification ("notification_tag:message_tag")
// for a product, or nil.
func (c *Config) Message(ws, product, notification string) *Message {
	if c.index == nil {
		return nil
	}
	return c.index.messages[ws][product][notification]
}

// Notification returns a product's notification by tag, or nil.
func (c *Config) Notification(ws, product, tag string) *Notification {
	p := c.Product(ws, product)
	if p == nil {
		return nil
	}
	for i := range p.Notifications {
		if p.Notifications[i].Tag == tag {
			return &p.Notifications[i]
		}
	}
	return nil
}

// MessageFor returns the first message of the notification that defines
// channel, as "notification_tag:message_tag", or "" when none does.
func (n *Notification) MessageFor(channel string) string {
	for i := range n.Messages {
		if n.Messages[i].Channel(channel) != nil {
			return n.Tag + ":" + n.Messages[i].Tag
		}
	}
	return ""
}

// HasEnv reports whether the product runs in env.
func (p *Product) HasEnv(env string) bool {
	for _, e := range p.Envs {
		if e == env {
			return true
		}
	}
	return false
}

// Channel returns the definition of one channel ("email", "push", "sms",
// "callback"), or nil when the message has none for it.
func (m *Message) Channel(channel string) any {
	switch channel {
	case "email":
		if m.Email != nil {
			return m.Email
		}
	case "push":
		if m.Push != nil {
			return m.Push
		}
	case "sms":
		if m.SMS != nil {
			return m.SMS
		}
	case "callback":
		if m.Callback != nil {
			return m.Callback
		}
	}
	return nil
}

// Channels lists the channels a message defines.
func (m *Message) Channels() []string {
	var out []string
	for _, ch := range []string{"email", "push", "sms", "callback"} {
		if m.Channel(ch) != nil {
			out = append(out, ch)
		}
	}
	return out
}

// Template returns the unresolved template a channel of the message sends:
// the email HTML template (or subject), the push or SMS body, or a
// callback's "METHOD URL".
func (m *Message) Template(channel string) string {
	switch channel {
	case "email":
		if m.Email != nil {
			if m.Email.Template != "" {
				return m.Email.Template
			}
			return m.Email.Subject
		}
	case "push":
		if m.Push != nil {
			if m.Push.Body != "" {
				return m.Push.Body
			}
			return m.Push.Title
		}
	case "sms":
		if m.SMS != nil {
			return m.SMS.Body
		}
	case "callback":
		if m.Callback != nil {
			return m.Callback.Method + " " + m.Callback.URL
		}
	}
	return ""
}
