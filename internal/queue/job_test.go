package queue

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJobRoundTrip(t *testing.T) {
	j := &Job{Workspace: "acme", ID: "01M8C63J0XKDYK4VJMMCXFBSZD", Channel: "callback", Generation: 2, Attempt: 3, Due: 1700000000123,
		Product: "shop", Env: "prd", Notification: "orders:confirmation", Retries: 3, RequestID: "r-1",
		Input: json.RawMessage(`{"params":{"id":"a\nb"},"body":{"x":[1,2]}}`)}
	b, err := j.Encode()
	require.NoError(t, err)
	got, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, j, got)
	require.Equal(t, "acme.01M8C63J0XKDYK4VJMMCXFBSZD.2.3.1700000000123", got.MsgID())

	first := &Job{Workspace: "acme", ID: "01M8C63J0XKDYK4VJMMCXFBSZD", Channel: "callback", Input: json.RawMessage(`{}`)}
	require.Equal(t, "acme.01M8C63J0XKDYK4VJMMCXFBSZD.0.0.0", first.MsgID(), "a first attempt")
	b, err = first.Encode()
	require.NoError(t, err)
	got, err = Decode(b)
	require.NoError(t, err)
	require.Zero(t, got.Attempt, "attempt 0 is carried, not confused with 'unknown'")

	// A job published by the previous version decodes, its attempt unknown.
	got, err = Decode([]byte("{\"v\":2,\"ws\":\"acme\",\"id\":\"x\",\"ch\":\"callback\",\"a\":4}\n{}"))
	require.NoError(t, err)
	require.Equal(t, -1, got.Attempt)

	for _, bad := range []string{``, `{}`, "{\"v\":1,\"ws\":\"a\",\"id\":\"b\",\"ch\":\"c\"}\n{}", `not json`, "{\"v\":3}\n{}",
		"{\"v\":3,\"ws\":\"a\",\"id\":\"b\",\"ch\":\"c\",\"a\":-2}\n{}"} {
		_, err := Decode([]byte(bad))
		require.Error(t, err, bad)
	}
}

// FuzzDecode: no message body panics the worker's decoder, and what
// decodes names its entry and encodes back to the same job.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("{\"v\":3,\"ws\":\"acme\",\"id\":\"x\",\"ch\":\"callback\",\"a\":1}\n{}"))
	f.Add([]byte("{\"v\":2,\"ws\":\"acme\",\"id\":\"x\",\"ch\":\"callback\"}\n{}"))
	f.Add([]byte("{\"v\":3}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := Decode(b)
		if err != nil {
			return
		}
		if j.Workspace == "" || j.ID == "" || j.Channel == "" {
			t.Fatal("accepted a job without workspace, id or channel")
		}
		if j.V == Version {
			again, err := j.Encode()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Decode(again)
			if err != nil || back.MsgID() != j.MsgID() {
				t.Fatalf("re-encoded job differs: %v", err)
			}
		}
	})
}
