package producer

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/testutil"
)

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
