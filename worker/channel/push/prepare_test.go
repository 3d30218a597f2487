package push

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/worker/channel"
)

const expoProv = "      p: { type: expo }\n"

func TestPrepareErrors(t *testing.T) {
	def, _ := testConfig(t, "p", expoProv, nil)
	for _, tc := range []struct{ name, input, field, code string }{
		{"not an object", `"x"`, "input", "invalid_argument"},
		{"unknown member", `{"device_tokens": ["a"], "sound": "x"}`, "input.sound", "invalid_argument"},
		{"no tokens", `{"title": {"order_id": 1}, "body": {"name": "n"}}`, "input.device_tokens", "invalid_argument"},
		{"token not a string", `{"device_tokens": [{}], "title": {"order_id": 1}, "body": {"name": "n"}}`, "input.device_tokens[0]", "invalid_argument"},
		{"token with a line break", `{"device_tokens": ["a\nb"], "title": {"order_id": 1}, "body": {"name": "n"}}`, "input.device_tokens[0]", "invalid_argument"},
		{"data not an object", `{"device_tokens": ["a"], "title": {"order_id": 1}, "body": {"name": "n"}, "data": [1]}`, "input.data", "invalid_argument"},
		{"data too big", `{"device_tokens": ["a"], "title": {"order_id": 1}, "body": {"name": "n"}, "data": {"x": "` + strings.Repeat("a", 5000) + `"}}`, "input.data", "invalid_argument"},
		{"missing title variable", `{"device_tokens": ["a"], "body": {"name": "n"}}`, "input.title", channel.CodeTemplate},
		{"missing body variable", `{"device_tokens": ["a"], "title": {"order_id": 1}, "body": {"nom": "n"}}`, "input.body", channel.CodeTemplate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Prepare(def.Push, json.RawMessage(tc.input))
			var ie *channel.InputError
			require.True(t, errors.As(err, &ie), "want *channel.InputError, got %v", err)
			require.Equal(t, tc.field, ie.Field, ie.Message)
			require.Equal(t, tc.code, ie.Code)
		})
	}
	n, err := Prepare(def.Push, json.RawMessage(`{"device_tokens": ["a", "b"], "title": {"order_id": 12.50}, "body": {"name": "<Ann>"}}`))
	require.NoError(t, err)
	require.Equal(t, &Notification{Tokens: []string{"a", "b"}, Title: "Order 12.50", Body: "Hi <Ann>"}, n)
}

func FuzzPrepare(f *testing.F) {
	for _, s := range []string{
		``, `null`, `{}`, `[]`,
		`{"device_tokens": ["a"], "title": {"order_id": 1}, "body": {"name": "n"}, "data": {"k": [1, {"x": null}]}}`,
		`{"device_tokens": ["a", "a"], "title": null}`,
		`{"device_tokens": [1e999], "data": "x"}`,
	} {
		f.Add([]byte(s))
	}
	def, _ := testConfig(f, "p", expoProv, nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := Prepare(def.Push, json.RawMessage(in))
		if err != nil {
			var ie *channel.InputError
			if !errors.As(err, &ie) || !strings.HasPrefix(ie.Field, "input") || ie.Message == "" {
				t.Fatalf("Prepare(%q) = %v, want an *InputError with a field", in, err)
			}
			return
		}
		if len(n.Tokens) == 0 || len(n.Tokens) > 100 {
			t.Fatalf("Prepare(%q) = %d tokens", in, len(n.Tokens))
		}
		_ = n.stringData()
	})
}
