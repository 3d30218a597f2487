package producer

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
)

func TestDecodeSend(t *testing.T) {
	req, err := DecodeSend([]byte(`{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"a":1},"session":"s:tok","cache":"c1","retries":2}`))
	require.NoError(t, err)
	require.Equal(t, "shop", req.Product)
	require.Equal(t, 2, *req.Retries)
	require.JSONEq(t, `{"a":1}`, string(req.Input))

	for body, field := range map[string]string{
		`{"product":1}`:             "product",
		`{"retries":"x"}`:           "retries",
		`{"retries":1.5}`:           "retries",
		`{"input":{},"extra":true}`: "extra",
		`{"session":false}`:         "session",
		`"str"`:                     "",
		`{`:                         "",
		`{} {}`:                     "",
		`   `:                       "",
	} {
		_, err := DecodeSend([]byte(body))
		var inv *InvalidError
		require.True(t, errors.As(err, &inv), "%s: %v", body, err)
		require.Equal(t, field, inv.Field, "%s: %v", body, err)
		require.Equal(t, "invalid_argument", inv.Code)
	}
}

func fuzzProducer(t testing.TB) (*Producer, *config.Config) {
	cfg, err := config.Parse([]byte(`
workspaces:
  - id: acme
    products:
      - tag: shop
        envs: [prd]
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                callback: { url: "https://hooks.example.com/orders/{id}" }
`), func(string) string { return "" })
	require.NoError(t, err)
	p := &Producer{cfg: Config{Config: func() *config.Config { return cfg }, Validators: map[string]Validator{
		"callback": func(_ *config.Workspace, def *config.Message, input json.RawMessage) error {
			var m map[string]any
			if json.Unmarshal(input, &m) != nil {
				return invalid("input", "want an object")
			}
			return nil
		},
	}}}
	return p, cfg
}

// FuzzDecodeSend: no body panics the decoder or the validation, and every
// refusal names a field path or is a whole-body problem.
func FuzzDecodeSend(f *testing.F) {
	for _, s := range []string{
		`{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"params":{"id":"1"}}}`,
		`{"product":"shop","env":"prd","notification":"orders:confirmation","input":null,"retries":-1}`,
		`{"product":"shop","env":"prd","notification":":","input":{},"session":":","cache":""}`,
		`{"retries":1e400}`, `[]`, `null`, `{"input":"\u0000"}`, "{\"product\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	p, cfg := fuzzProducer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeSend(body)
		if err != nil {
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("decode error is not an InvalidError: %v", err)
			}
			return
		}
		for _, ch := range []string{"callback", "email", "fax"} {
			if _, err := p.validate(cfg, "acme", ch, req); err != nil {
				var inv *InvalidError
				if !errors.As(err, &inv) || inv.Message == "" {
					t.Fatalf("validate error is not a described InvalidError: %v", err)
				}
			}
		}
	})
}
