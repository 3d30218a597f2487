package callback

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/heraldhq/herald/config"
)

// Request is a callback ready to send: the definition filled in with one
// send's input. It carries no signature; Deliver signs each attempt.
type Request struct {
	Method string
	URL    string
	Header http.Header
	// Body is the JSON body, nil when the input has none.
	Body []byte
}

// InputError is a channel input that cannot fill the callback definition.
// The producer answers it with 400 invalid_argument and Field as the
// error's field.
type InputError struct {
	// Field is the JSON path of the offending value, e.g.
	// "input.params.id" or "input.headers.X-Foo".
	Field   string
	Message string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Message }

// inputKeys are the members a callback input may have (API.md).
var inputKeys = []string{"body", "headers", "params", "query"}

// reservedHeader: see config.ReservedHeader.
func reservedHeader(name string) bool { return config.ReservedHeader(name) }

// replacePlaceholders replaces every {name} of s (no braces inside, as
// config.CallbackParams reads them) with f(name), without a regexp: it
// runs for every message.
func replacePlaceholders(s string, f func(name string) string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	for {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			break
		}
		end := strings.IndexAny(s[open+1:], "{}")
		if end < 0 {
			break
		}
		end += open + 1
		if s[end] == '{' { // "{" with another "{" before its "}": not a placeholder
			b.WriteString(s[:end])
			s = s[end:]
			continue
		}
		b.WriteString(s[:open])
		b.WriteString(f(s[open+1 : end]))
		s = s[end+1:]
	}
	b.WriteString(s)
	return b.String()
}

// Prepare checks a callback input against its definition and builds the
// request, without any I/O. Input problems are *InputError; a definition
// that cannot be used (which config validation should have refused) is
// another error.
//
// An absent or null input is an empty one. Params and query values are
// strings, numbers or booleans; headers are strings. Definition headers
// are applied first and input headers replace them (names are
// case-insensitive). A body, when present and not null, is sent as
// compact JSON with Content-Type: application/json unless a header sets
// another type; without one no body and no Content-Type are sent.
func Prepare(def *config.CallbackDef, input json.RawMessage) (*Request, error) {
	if def == nil {
		return nil, errors.New("callback: the message definition has no callback")
	}
	params, err := def.URLParams()
	if err != nil {
		return nil, fmt.Errorf("callback: definition url: %w", err)
	}
	method := cmp.Or(def.Method, http.MethodPost)
	if !slices.Contains([]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}, method) {
		return nil, fmt.Errorf("callback: definition method %q: want GET, POST, PUT, PATCH or DELETE", method)
	}

	in, err := decodeInput(input)
	if err != nil {
		return nil, err
	}
	values, err := scalars("input.params", in["params"])
	if err != nil {
		return nil, err
	}
	query, err := scalars("input.query", in["query"])
	if err != nil {
		return nil, err
	}
	rawURL, err := fillURL(def.URL, params, values, query)
	if err != nil {
		return nil, err
	}
	header, err := buildHeader(def.Headers, in["headers"])
	if err != nil {
		return nil, err
	}
	var body []byte
	if raw := in["body"]; raw != nil && !isNull(raw) {
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return nil, &InputError{Field: "input.body", Message: "is not valid JSON"}
		}
		body = b.Bytes()
		if header.Get("Content-Type") == "" {
			header.Set("Content-Type", "application/json")
		}
	}
	return &Request{Method: method, URL: rawURL, Header: header, Body: body}, nil
}

// decodeInput splits the input object into its known members.
func decodeInput(input json.RawMessage) (map[string]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(input)
	if len(trimmed) == 0 || isNull(trimmed) {
		return map[string]json.RawMessage{}, nil
	}
	if trimmed[0] != '{' {
		return nil, &InputError{Field: "input", Message: "must be a JSON object with any of query, headers, params and body"}
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &in); err != nil {
		return nil, &InputError{Field: "input", Message: "is not valid JSON"}
	}
	for _, k := range sortedKeys(in) {
		if !slices.Contains(inputKeys, k) {
			return nil, &InputError{Field: field("input", k), Message: "unknown field; a callback input has query, headers, params and body"}
		}
	}
	return in, nil
}

// members decodes an optional object member; null is absent.
func members(path string, raw json.RawMessage) (map[string]json.RawMessage, error) {
	if raw == nil || isNull(raw) {
		return nil, nil
	}
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '{' {
		return nil, &InputError{Field: path, Message: "must be an object"}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, &InputError{Field: path, Message: "must be an object"}
	}
	return m, nil
}

// scalars decodes an object of strings, numbers and booleans into strings.
func scalars(path string, raw json.RawMessage) (map[string]string, error) {
	m, err := members(path, raw)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		if k == "" {
			return nil, &InputError{Field: path, Message: "has an empty name"}
		}
		s, err := scalar(m[k])
		if err != nil {
			return nil, &InputError{Field: field(path, k), Message: err.Error()}
		}
		out[k] = s
	}
	return out, nil
}

func scalar(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errors.New("is not a valid JSON string")
		}
		return s, nil
	case string(raw) == "true", string(raw) == "false":
		return string(raw), nil
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		return formatNumber(string(raw))
	}
	return "", errors.New("must be a string, number or boolean")
}

// fillURL substitutes params into the {name} placeholders (names) of tmpl
// and appends query to the URL's own query.
func fillURL(tmpl string, names []string, params, query map[string]string) (string, error) {
	for _, name := range names {
		v, ok := params[name]
		switch {
		case !ok:
			return "", &InputError{Field: field("input.params", name), Message: "required by the callback URL"}
		case v == "":
			return "", &InputError{Field: field("input.params", name), Message: "must not be empty"}
		case v == "." || v == "..":
			return "", &InputError{Field: field("input.params", name), Message: `must not be "." or ".."`}
		}
	}
	fill := func(s string, escape func(string) string) string {
		return replacePlaceholders(s, func(name string) string { return escape(params[name]) })
	}
	// A placeholder in the query is a query value: "&" and "=" in it must
	// not start another parameter.
	path, rawQuery, hasQuery := strings.Cut(tmpl, "?")
	filled := fill(path, url.PathEscape)
	if hasQuery {
		filled += "?" + fill(rawQuery, url.QueryEscape)
	}
	u, err := url.Parse(filled)
	if err != nil {
		return "", fmt.Errorf("callback: definition url does not parse once filled: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", errors.New("callback: definition url is not an http(s) URL with a host")
	}
	u.Fragment, u.RawFragment = "", ""
	if len(query) > 0 {
		q := make(url.Values, len(query))
		for k, v := range query {
			q.Set(k, v)
		}
		if u.RawQuery != "" {
			u.RawQuery += "&" + q.Encode()
		} else {
			u.RawQuery = q.Encode()
		}
	}
	return u.String(), nil
}

// buildHeader applies the definition's headers, then the input's.
func buildHeader(defHeaders map[string]string, raw json.RawMessage) (http.Header, error) {
	h := make(http.Header)
	for _, name := range sortedKeys(defHeaders) {
		v := defHeaders[name]
		switch {
		case !config.ValidHeaderName(name):
			return nil, fmt.Errorf("callback: definition header %q is not a valid header name", name)
		case reservedHeader(name):
			return nil, fmt.Errorf("callback: definition header %q may not be set", name)
		case !validHeaderValue(v):
			return nil, fmt.Errorf("callback: definition header %q has control characters in its value", name)
		}
		h.Set(name, v)
	}
	m, err := members("input.headers", raw)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, name := range sortedKeys(m) {
		f := field("input.headers", name)
		switch {
		case name == "":
			return nil, &InputError{Field: "input.headers", Message: "has an empty header name"}
		case !config.ValidHeaderName(name):
			return nil, &InputError{Field: f, Message: "is not a valid header name"}
		case reservedHeader(name):
			return nil, &InputError{Field: f, Message: "may not be set by a callback input"}
		case seen[http.CanonicalHeaderKey(name)]:
			return nil, &InputError{Field: f, Message: "is given twice (header names are case-insensitive)"}
		}
		seen[http.CanonicalHeaderKey(name)] = true
		var v string
		if r := bytes.TrimSpace(m[name]); len(r) == 0 || r[0] != '"' || json.Unmarshal(r, &v) != nil {
			return nil, &InputError{Field: f, Message: "must be a string"}
		}
		if !validHeaderValue(v) {
			return nil, &InputError{Field: f, Message: "must not contain control characters such as line breaks"}
		}
		h.Set(name, v)
	}
	return h, nil
}

// validHeaderValue allows what net/http sends: no control characters but
// horizontal tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func field(path, key string) string {
	if key == "" {
		return path
	}
	return path + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
