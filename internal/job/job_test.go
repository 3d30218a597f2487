package job

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	j := &Job{Workspace: "acme", ID: "01M8C63J0XKDYK4VJMMCXFBSZD", Channel: "callback", Generation: 2, Product: "shop", Env: "prd",
		Notification: "orders:confirmation", Retries: 3, RequestID: "r-1",
		Input: json.RawMessage(`{"params":{"id":"a\nb"},"body":{"x":[1,2]}}`)}
	b, err := j.Encode()
	require.NoError(t, err)
	got, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, j, got)
	require.Equal(t, "acme.01M8C63J0XKDYK4VJMMCXFBSZD.2", got.MsgID())
	for _, bad := range []string{``, `{}`, "{\"v\":1,\"ws\":\"a\",\"id\":\"b\",\"ch\":\"c\"}\n{}", `not json`, "{\"v\":2}\n{}"} {
		_, err := Decode([]byte(bad))
		require.Error(t, err, bad)
	}
}

// FuzzDecode: no message body panics the worker's decoder.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("{\"v\":2,\"ws\":\"acme\",\"id\":\"x\",\"ch\":\"callback\"}\n{}"))
	f.Add([]byte("{\"v\":2}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := Decode(b)
		if err == nil && (j.Workspace == "" || j.ID == "") {
			t.Fatal("accepted a job without workspace or id")
		}
	})
}
