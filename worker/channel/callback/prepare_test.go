package callback

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
)

func TestPrepare(t *testing.T) {
	tests := []struct {
		name   string
		def    config.CallbackDef
		input  string
		want   Request
		header http.Header // want.Header, kept apart for readability
	}{
		{
			name: "params, query, headers and body",
			def: config.CallbackDef{
				URL:     "https://hooks.example.com/orders/{id}/items/{item}?src=herald",
				Method:  "POST",
				Headers: map[string]string{"X-Api-Key": "k1", "x-trace": "from-definition"},
			},
			input: `{"params": {"id": "a/b c", "item": 7},
			         "query": {"page": 2, "q": "x&y", "ok": true},
			         "headers": {"X-Trace": "from-input"},
			         "body": {"order": 12, "items": [1, 2]}}`,
			want: Request{
				Method: "POST",
				URL:    "https://hooks.example.com/orders/a%2Fb%20c/items/7?src=herald&ok=true&page=2&q=x%26y",
				Body:   []byte(`{"order":12,"items":[1,2]}`),
			},
			header: http.Header{"X-Api-Key": {"k1"}, "X-Trace": {"from-input"}, "Content-Type": {"application/json"}},
		},
		{
			name:   "empty input, no body, no content type",
			def:    config.CallbackDef{URL: "http://hooks.example.com/ping", Method: "GET"},
			input:  `{}`,
			want:   Request{Method: "GET", URL: "http://hooks.example.com/ping"},
			header: http.Header{},
		},
		{
			name:   "absent input",
			def:    config.CallbackDef{URL: "http://hooks.example.com/ping", Method: "DELETE"},
			input:  ``,
			want:   Request{Method: "DELETE", URL: "http://hooks.example.com/ping"},
			header: http.Header{},
		},
		{
			name:   "null input and null members",
			def:    config.CallbackDef{URL: "http://hooks.example.com/ping", Method: "PUT"},
			input:  `{"query": null, "headers": null, "params": null, "body": null}`,
			want:   Request{Method: "PUT", URL: "http://hooks.example.com/ping"},
			header: http.Header{},
		},
		{
			name:   "numbers written out without exponent",
			def:    config.CallbackDef{URL: "https://h.example.com/{a}/{b}/{c}/{d}", Method: "POST"},
			input:  `{"params": {"a": 1e3, "b": 2.50, "c": 12345678901234567890, "d": -1.5e-3}}`,
			want:   Request{Method: "POST", URL: "https://h.example.com/1000/2.5/12345678901234567890/-0.0015"},
			header: http.Header{},
		},
		{
			name:   "placeholder in the query is query-escaped",
			def:    config.CallbackDef{URL: "https://h.example.com/hook?user={user}", Method: "POST"},
			input:  `{"params": {"user": "a&admin=1 b"}}`,
			want:   Request{Method: "POST", URL: "https://h.example.com/hook?user=a%26admin%3D1+b"},
			header: http.Header{},
		},
		{
			name:   "repeated placeholder and unused params",
			def:    config.CallbackDef{URL: "https://h.example.com/{id}/again/{id}", Method: "POST"},
			input:  `{"params": {"id": "x", "unused": false}}`,
			want:   Request{Method: "POST", URL: "https://h.example.com/x/again/x"},
			header: http.Header{},
		},
		{
			name:   "a scalar body and a header's own content type",
			def:    config.CallbackDef{URL: "https://h.example.com/", Method: "POST"},
			input:  `{"headers": {"content-type": "application/cloudevents+json"}, "body": "hi"}`,
			want:   Request{Method: "POST", URL: "https://h.example.com/", Body: []byte(`"hi"`)},
			header: http.Header{"Content-Type": {"application/cloudevents+json"}},
		},
		{
			name:   "fragment dropped, port kept, method defaults to POST",
			def:    config.CallbackDef{URL: "https://h.example.com:8443/a#frag"},
			input:  `{"query": {"x": "1"}}`,
			want:   Request{Method: "POST", URL: "https://h.example.com:8443/a?x=1"},
			header: http.Header{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Prepare(&tt.def, json.RawMessage(tt.input))
			require.NoError(t, err)
			tt.want.Header = tt.header
			require.Equal(t, &tt.want, got)
		})
	}
}

func TestPrepareInputErrors(t *testing.T) {
	def := &config.CallbackDef{URL: "https://hooks.example.com/orders/{id}", Method: "POST"}
	tests := []struct {
		name  string
		input string
		field string
	}{
		{"not an object", `[1, 2]`, "input"},
		{"a string", `"x"`, "input"},
		{"broken JSON", `{"params": `, "input"},
		{"unknown member", `{"params": {"id": 1}, "bodyy": {}}`, "input.bodyy"},
		{"params not an object", `{"params": [1]}`, "input.params"},
		{"query not an object", `{"params": {"id": 1}, "query": "a=b"}`, "input.query"},
		{"headers not an object", `{"params": {"id": 1}, "headers": 1}`, "input.headers"},
		{"missing param", `{"params": {"other": 1}}`, "input.params.id"},
		{"no params at all", `{}`, "input.params.id"},
		{"object param", `{"params": {"id": {"a": 1}}}`, "input.params.id"},
		{"array param", `{"params": {"id": [1]}}`, "input.params.id"},
		{"null param", `{"params": {"id": null}}`, "input.params.id"},
		{"empty param", `{"params": {"id": ""}}`, "input.params.id"},
		{"dot-dot param", `{"params": {"id": ".."}}`, "input.params.id"},
		{"bad unused param", `{"params": {"id": 1, "extra": {}}}`, "input.params.extra"},
		{"empty param name", `{"params": {"id": 1, "": 2}}`, "input.params"},
		{"object query value", `{"params": {"id": 1}, "query": {"page": {"n": 1}}}`, "input.query.page"},
		{"empty query name", `{"params": {"id": 1}, "query": {"": "x"}}`, "input.query"},
		{"huge exponent", `{"params": {"id": 1e999999999}}`, "input.params.id"},
		{"number header", `{"params": {"id": 1}, "headers": {"X-Foo": 1}}`, "input.headers.X-Foo"},
		{"invalid header name", `{"params": {"id": 1}, "headers": {"X Foo": "a"}}`, "input.headers.X Foo"},
		{"empty header name", `{"params": {"id": 1}, "headers": {"": "a"}}`, "input.headers"},
		{"header with a line break", `{"params": {"id": 1}, "headers": {"X-Foo": "a\r\nX-Evil: 1"}}`, "input.headers.X-Foo"},
		{"header twice", `{"params": {"id": 1}, "headers": {"X-Foo": "a", "x-foo": "b"}}`, "input.headers.x-foo"},
		{"Host", `{"params": {"id": 1}, "headers": {"Host": "evil"}}`, "input.headers.Host"},
		{"Content-Length", `{"params": {"id": 1}, "headers": {"content-length": "1"}}`, "input.headers.content-length"},
		{"Transfer-Encoding", `{"params": {"id": 1}, "headers": {"Transfer-Encoding": "chunked"}}`, "input.headers.Transfer-Encoding"},
		{"Connection", `{"params": {"id": 1}, "headers": {"Connection": "close"}}`, "input.headers.Connection"},
		{"Upgrade", `{"params": {"id": 1}, "headers": {"Upgrade": "h2c"}}`, "input.headers.Upgrade"},
		{"TE", `{"params": {"id": 1}, "headers": {"TE": "trailers"}}`, "input.headers.TE"},
		{"Trailer", `{"params": {"id": 1}, "headers": {"Trailer": "X"}}`, "input.headers.Trailer"},
		{"Proxy-Authorization", `{"params": {"id": 1}, "headers": {"Proxy-Authorization": "x"}}`, "input.headers.Proxy-Authorization"},
		{"webhook-id", `{"params": {"id": 1}, "headers": {"Webhook-Id": "x"}}`, "input.headers.Webhook-Id"},
		{"webhook-timestamp", `{"params": {"id": 1}, "headers": {"webhook-timestamp": "1"}}`, "input.headers.webhook-timestamp"},
		{"webhook-signature", `{"params": {"id": 1}, "headers": {"WEBHOOK-SIGNATURE": "v1,x"}}`, "input.headers.WEBHOOK-SIGNATURE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Prepare(def, json.RawMessage(tt.input))
			var ie *InputError
			require.True(t, errors.As(err, &ie), "want *InputError, got %v", err)
			require.Equal(t, tt.field, ie.Field, ie.Message)
			require.NotEmpty(t, ie.Message)
			require.Equal(t, ie.Field+": "+ie.Message, err.Error())
		})
	}
}

func TestPrepareDefinitionErrors(t *testing.T) {
	tests := []struct {
		name string
		def  *config.CallbackDef
	}{
		{"nil definition", nil},
		{"no URL", &config.CallbackDef{Method: "POST"}},
		{"not http", &config.CallbackDef{URL: "ftp://h.example.com/", Method: "POST"}},
		{"placeholder in host", &config.CallbackDef{URL: "https://{tenant}.example.com/", Method: "POST"}},
		{"bad method", &config.CallbackDef{URL: "https://h.example.com/", Method: "CONNECT"}},
		{"reserved definition header", &config.CallbackDef{URL: "https://h.example.com/", Method: "POST", Headers: map[string]string{"Webhook-Signature": "x"}}},
		{"definition header value with a line break", &config.CallbackDef{URL: "https://h.example.com/", Method: "POST", Headers: map[string]string{"X-A": "a\nb"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Prepare(tt.def, json.RawMessage(`{"params": {"tenant": "a"}}`))
			require.Error(t, err)
			var ie *InputError
			require.False(t, errors.As(err, &ie), "a definition problem is not the input's: %v", err)
		})
	}
}

func TestFormatNumber(t *testing.T) {
	tests := map[string]string{
		"0": "0", "-0": "0", "7": "7", "-7": "-7",
		"12345678901234567890": "12345678901234567890",
		"1.0":                  "1", "1.50": "1.5", "0.25": "0.25", "-0.0": "0",
		"1e3": "1000", "1E+3": "1000", "1.5e3": "1500", "1.25e1": "12.5",
		"1e-3": "0.001", "-1.5e-3": "-0.0015", "0e10": "0", "120e-1": "12",
		"123.456e2": "12345.6",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			got, err := formatNumber(in)
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
	for _, in := range []string{"1e401", "1e-401", "1e", "", ".5", "1.2.3"} {
		t.Run("bad "+in, func(t *testing.T) {
			_, err := formatNumber(in)
			require.Error(t, err)
		})
	}
}

func TestReplacePlaceholders(t *testing.T) {
	up := func(name string) string { return strings.ToUpper(name) }
	for in, want := range map[string]string{
		"https://x/{a}/{b}?q={c}": "https://x/A/B?q=C",
		"https://x/{{a}":          "https://x/{A",
		"https://x/{a":            "https://x/{a",
		"https://x/a}":            "https://x/a}",
		"https://x/{}":            "https://x/",
		"no placeholders":         "no placeholders",
		"{a}{b}":                  "AB",
	} {
		require.Equal(t, want, replacePlaceholders(in, up), in)
	}
}
