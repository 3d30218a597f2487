package email

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/worker/channel"
)

const prov = `{ type: smtp, host: mail.example.com }`

func TestPrepareRenders(t *testing.T) {
	def, _ := testConfig(t, prov, `{ provider: smtp-main, from: shop@example.com, subject: "  Order {{.id}}\n  for {{.who}} ", template: "<h1>{{.title}}</h1><p>a &amp; b<br>{{.n}}</p><style>p{}</style>" }`, nil)
	e, err := Prepare(def.Email, json.RawMessage(`{"recipients": [" ann@example.com "], "subject": {"id": 7, "who": "Zoë"}, "template": {"title": "<T>", "n": 1e3}}`))
	require.NoError(t, err)
	require.Equal(t, "Order 7 for Zoë", e.Subject, "one line")
	require.Equal(t, "ann@example.com", e.To[0].Address)
	require.Equal(t, "<h1>&lt;T&gt;</h1><p>a &amp; b<br>1e3</p><style>p{}</style>", e.HTML)
	require.Equal(t, "<T>\na & b\n1e3\n", e.Text)
}

func TestPrepareErrors(t *testing.T) {
	def, _ := testConfig(t, prov, `{ provider: smtp-main, from: shop@example.com, subject: "Order {{.order_id}}", template: "<p>{{.name}}</p>" }`, nil)
	ok := `"subject": {"order_id": 1}, "template": {"name": "n"}`
	for _, tc := range []struct{ name, input, field, code string }{
		{"not an object", `[1]`, "input", "invalid_argument"},
		{"unknown member", `{"recipients": ["a@example.com"], "cc": []}`, "input.cc", "invalid_argument"},
		{"no recipients", `{` + ok + `}`, "input.recipients", "invalid_argument"},
		{"empty recipients", `{"recipients": [], ` + ok + `}`, "input.recipients", "invalid_argument"},
		{"recipients not a list", `{"recipients": "a@example.com", ` + ok + `}`, "input.recipients", "invalid_argument"},
		{"a number recipient", `{"recipients": ["a@example.com", 1], ` + ok + `}`, "input.recipients[1]", "invalid_argument"},
		{"not an address", `{"recipients": ["nobody"], ` + ok + `}`, "input.recipients[0]", "invalid_argument"},
		{"header injection", `{"recipients": ["a@example.com\r\nBcc: x@example.com"], ` + ok + `}`, "input.recipients[0]", "invalid_argument"},
		{"twice", `{"recipients": ["a@example.com", "a@example.com"], ` + ok + `}`, "input.recipients[1]", "invalid_argument"},
		{"too many", `{"recipients": [` + strings.Repeat(`"a@example.com",`, 100) + `"b@example.com"], ` + ok + `}`, "input.recipients", "invalid_argument"},
		{"subject vars not an object", `{"recipients": ["a@example.com"], "subject": [1], "template": {"name": "n"}}`, "input.subject", "invalid_argument"},
		{"missing subject variable", `{"recipients": ["a@example.com"], "subject": {}, "template": {"name": "n"}}`, "input.subject", channel.CodeTemplate},
		{"missing template variable", `{"recipients": ["a@example.com"], "subject": {"order_id": 1}}`, "input.template", channel.CodeTemplate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Prepare(def.Email, json.RawMessage(tc.input))
			var ie *channel.InputError
			require.True(t, errors.As(err, &ie), "want *channel.InputError, got %v", err)
			require.Equal(t, tc.field, ie.Field, ie.Message)
			require.Equal(t, tc.code, ie.Code)
			if tc.code == channel.CodeTemplate {
				require.Contains(t, ie.Message, "map has no entry for key")
			}
		})
	}
}

// FuzzPrepare: no input panics Prepare; every input is refused with an
// *InputError naming an input field, or renders a message whose headers
// cannot be injected into.
func FuzzPrepare(f *testing.F) {
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `"x"`,
		`{"recipients": ["a@example.com"], "subject": {"order_id": 1}, "template": {"name": "<b>"}}`,
		`{"recipients": ["a@example.com", "B <b@example.com>"], "subject": {"order_id": "x\r\nBcc: evil@example.com"}, "template": {"name": 1e999}}`,
		`{"recipients": ["a@example.com"], "subject": null, "template": null}`,
		`{"recipients": [1, null, {}], "extra": 1}`,
	} {
		f.Add([]byte(s))
	}
	def, _ := testConfig(f, prov, `{ provider: smtp-main, from: shop@example.com, subject: "Order {{.order_id}}", template: "<p>{{.name}}</p>" }`, nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := Prepare(def.Email, json.RawMessage(in))
		if err != nil {
			var ie *channel.InputError
			if !errors.As(err, &ie) || !strings.HasPrefix(ie.Field, "input") || ie.Message == "" {
				t.Fatalf("Prepare(%q) = %v, want an *InputError with a field", in, err)
			}
			return
		}
		if strings.ContainsAny(e.Subject, "\r\n") || len(e.To) == 0 {
			t.Fatalf("Prepare(%q) = %+v", in, e)
		}
		msg := string(e.Build("01JFUZZ", testTime))
		head, _, _ := strings.Cut(msg, "\r\n\r\n")
		for _, line := range strings.Split(head, "\r\n") {
			if strings.HasPrefix(strings.ToLower(line), "bcc:") {
				t.Fatalf("Prepare(%q) injected a header: %q", in, head)
			}
		}
	})
}
