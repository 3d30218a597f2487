// Package input decodes the JSON inputs of the email, push and SMS
// channels strictly: known members only, recipients checked one by one,
// template variables kept with their numbers exact. Every refusal is a
// *channel.InputError naming the field.
package input

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald/worker/channel"
)

// MaxRecipients is how many recipients (addresses, device tokens,
// numbers) one send may name.
const MaxRecipients = 100

// Object decodes an input object whose members must be among allowed.
// An absent or null input is an empty object.
func Object(raw json.RawMessage, allowed ...string) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]json.RawMessage{}, nil
	}
	if raw[0] != '{' {
		return nil, channel.Invalid("input", "must be a JSON object with %s", strings.Join(allowed, ", "))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, channel.Invalid("input", "malformed JSON object")
	}
	for _, k := range sortedKeys(m) {
		if !slices.Contains(allowed, k) {
			return nil, channel.Invalid(field("input", k), "unknown member (want %s)", strings.Join(allowed, ", "))
		}
	}
	return m, nil
}

// Recipients decodes a required list of strings at path: 1 to
// MaxRecipients of them, each non-empty, at most maxLen bytes of valid
// UTF-8 without control characters, none twice; check, when set, refuses
// one with a reason.
func Recipients(path string, raw json.RawMessage, maxLen int, check func(string) error) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, channel.Invalid(path, "required: at least one")
	}
	if raw[0] != '[' {
		return nil, channel.Invalid(path, "must be an array of strings")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, channel.Invalid(path, "must be an array of strings")
	}
	switch {
	case len(items) == 0:
		return nil, channel.Invalid(path, "required: at least one")
	case len(items) > MaxRecipients:
		return nil, channel.Invalid(path, "at most %d per send (got %d)", MaxRecipients, len(items))
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		f := fmt.Sprintf("%s[%d]", path, i)
		var s string
		if it = bytes.TrimSpace(it); len(it) == 0 || it[0] != '"' || json.Unmarshal(it, &s) != nil {
			return nil, channel.Invalid(f, "must be a string")
		}
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			return nil, channel.Invalid(f, "must not be empty")
		case len(s) > maxLen:
			return nil, channel.Invalid(f, "longer than %d bytes", maxLen)
		case !utf8.ValidString(s) || strings.ContainsFunc(s, isControl):
			return nil, channel.Invalid(f, "must not contain control characters")
		case slices.Contains(out, s):
			return nil, channel.Invalid(f, "%q is given twice", s)
		}
		if check != nil {
			if err := check(s); err != nil {
				return nil, channel.Invalid(f, "%v", err)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Vars decodes an optional object of template variables at path. Numbers
// stay json.Number, so that they render as given ("12.50", not "12.5").
func Vars(path string, raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	if raw[0] != '{' {
		return nil, channel.Invalid(path, "must be an object of template variables")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, channel.Invalid(path, "must be an object of template variables")
	}
	return m, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

func field(path, key string) string { return path + "." + key }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
