package producer

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/testutil"
)

func TestReplyAllowed(t *testing.T) {
	for _, tc := range []struct {
		reply           string
		strict, lenient bool
	}{
		{"_R_.abc123.XyZ", true, true},
		{"_R_.abc123.XyZ.T", true, true},
		{"_INBOX.3yN0qNcnkn0mBtLsJqGfn7.6", false, true},
		{"herald.send.callback.acme.01J0000000000000000000000", false, false},
		{"herald.in.globex.send.callback", false, false},
		{"$JS.API.STREAM.DELETE.HERALD_SEND", false, false},
		{"$JS.ACK.HERALD_SEND.herald-callback.1.1.1.1.0", false, false},
		{"_INBOX.>", false, false},
		{"_INBOX.*", false, false},
		{"_R_.a.>", false, false},
		{"_INBOX..x", false, false},
		{"_INBOX.a b", false, false},
		{"_INBOX_acme.x", false, false},
		{"_R_." + strings.Repeat("a", 300), false, false},
		{"", false, false},
	} {
		require.Equal(t, tc.strict, replyAllowed(tc.reply, true), "strict %q", tc.reply)
		require.Equal(t, tc.lenient, replyAllowed(tc.reply, false), "lenient %q", tc.reply)
	}
}

// FuzzReplyAllowed: an allowed reply is always a plain subject in the
// response-mapping space (or, without authentication, the inbox space):
// never a wildcard, never one of Herald's own subjects.
func FuzzReplyAllowed(f *testing.F) {
	for _, s := range []string{"_R_.a.b", "_INBOX.x.y", "herald.send.x", "$JS.API.X", "_INBOX.>", "_R_..", "_R_.a\tb"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, reply string, strict bool) {
		if !replyAllowed(reply, strict) {
			return
		}
		if !strings.HasPrefix(reply, "_R_.") && (strict || !strings.HasPrefix(reply, "_INBOX.")) {
			t.Fatalf("allowed %q (strict %v)", reply, strict)
		}
		for _, tok := range strings.Split(reply, ".") {
			if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
				t.Fatalf("allowed %q with token %q", reply, tok)
			}
		}
	})
}

// Past MaxInFlight requests in progress, ingest answers 429 at once and
// writes nothing (here the handler is a dispatcher that blocks until
// released); requests in progress are answered normally once done.
func TestIngestBoundedConcurrency(t *testing.T) {
	ns := testutil.StartNATS(t)
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	cfg, err := config.Parse([]byte("workspaces: [ { id: acme } ]\n"), func(string) string { return "" })
	require.NoError(t, err)
	release := make(chan struct{})
	var mu sync.Mutex
	handled := 0
	in := &Ingest{Conn: nc, Config: func() *config.Config { return cfg }, MaxInFlight: 3,
		Dispatch: func(ctx context.Context, ws string, body []byte) (int, any) {
			mu.Lock()
			handled++
			mu.Unlock()
			<-release
			return http.StatusCreated, map[string]string{"job_id": "job_1"}
		}}
	require.NoError(t, in.Start(context.Background()))
	defer func() { _ = in.Stop(context.Background()) }()

	client, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	defer client.Close()
	type answer struct {
		status int
		err    error
	}
	answers := make(chan answer, 20)
	for range 20 {
		go func() {
			m, err := client.Request("herald.in.acme.dispatch", []byte(`{}`), 10*time.Second)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			st, _ := strconv.Atoi(m.Header.Get(HeaderIngestStatus))
			answers <- answer{status: st}
		}()
	}
	refused := 0
	for refused < 17 {
		a := <-answers
		require.NoError(t, a.err)
		require.Equal(t, http.StatusTooManyRequests, a.status, "answered at once while 3 are in progress")
		refused++
	}
	mu.Lock()
	require.Equal(t, 3, handled, "only MaxInFlight reached the handler")
	mu.Unlock()
	require.EqualValues(t, 17, in.Refused())
	close(release)
	for range 3 {
		a := <-answers
		require.NoError(t, a.err)
		require.Equal(t, http.StatusCreated, a.status)
	}
}
