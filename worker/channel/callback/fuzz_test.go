package callback

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald/config"
)

// FuzzPrepare: no input panics Prepare, and every input either is refused
// with an *InputError or becomes a request to the definition's own host.
func FuzzPrepare(f *testing.F) {
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `1`,
		`{"params": {"id": "42", "kind": "a/b"}}`,
		`{"params": {"id": 1e3, "kind": true}, "query": {"q": "x&y", "n": -1.5e-3}}`,
		`{"params": {"id": "..", "kind": "x"}}`,
		`{"params": {"id": "x", "kind": "y"}, "headers": {"X-Foo": "bar", "x-foo": "baz"}}`,
		`{"params": {"id": "x", "kind": "y"}, "headers": {"Host": "evil"}, "body": {"a": [1, {"b": null}]}}`,
		`{"params": {"id": "x", "kind": "y"}, "headers": {"X-A": "a\r\nb"}}`,
		`{"params": {"id": "x", "kind": "y"}, "body": null, "extra": 1}`,
		`{"params": {"id": 1e999999999, "kind": "y"}}`,
		`{"params": {"id": "\u0000", "kind": "%2e%2e"}, "query": {"": 1}}`,
	} {
		f.Add([]byte(s))
	}
	def := &config.CallbackDef{
		URL:     "https://hooks.example.com/orders/{id}/{kind}?src=herald&id={id}",
		Method:  "POST",
		Headers: map[string]string{"X-Api-Key": "k"},
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		req, err := Prepare(def, json.RawMessage(input))
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || !strings.HasPrefix(ie.Field, "input") || ie.Message == "" {
				t.Fatalf("Prepare(%q) = %v, want an *InputError with a field", input, err)
			}
			return
		}
		u, err := url.Parse(req.URL)
		if err != nil {
			t.Fatalf("Prepare(%q) built an unparsable URL %q: %v", input, req.URL, err)
		}
		if u.Scheme != "https" || u.Host != "hooks.example.com" || !strings.HasPrefix(u.EscapedPath(), "/orders/") {
			t.Fatalf("Prepare(%q) left the definition's host or path: %q", input, req.URL)
		}
		if segs := strings.Split(u.EscapedPath(), "/"); len(segs) != 4 {
			t.Fatalf("Prepare(%q): a param added path segments: %q", input, req.URL)
		}
		if got := u.Query()["src"]; len(got) != 1 || got[0] != "herald" {
			t.Fatalf("Prepare(%q): a param changed the definition's query: %q", input, req.URL)
		}
		if req.Method != "POST" || req.Header.Get("X-Api-Key") == "" {
			t.Fatalf("Prepare(%q) = %+v", input, req)
		}
		for name, vs := range req.Header {
			if !config.ValidHeaderName(name) || reservedHeader(name) {
				t.Fatalf("Prepare(%q) set header %q", input, name)
			}
			for _, v := range vs {
				if !validHeaderValue(v) {
					t.Fatalf("Prepare(%q) set header %s to %q", input, name, v)
				}
			}
		}
		if req.Body != nil && !json.Valid(req.Body) {
			t.Fatalf("Prepare(%q) built an invalid JSON body %q", input, req.Body)
		}
	})
}
