package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/queue"
)

// collector records every message a set of subscriptions receives.
type collector struct {
	mu   sync.Mutex
	msgs map[string][]*nats.Msg
}

func (c *collector) subscribe(t *testing.T, nc *nats.Conn, subjects ...string) {
	t.Helper()
	for _, subj := range subjects {
		_, err := nc.Subscribe(subj, func(m *nats.Msg) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.msgs == nil {
				c.msgs = map[string][]*nats.Msg{}
			}
			c.msgs[subj] = append(c.msgs[subj], m)
		})
		require.NoError(t, err, subj)
	}
	require.NoError(t, nc.Flush())
}

func (c *collector) get(subj string) []*nats.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*nats.Msg(nil), c.msgs[subj]...)
}

func (c *collector) all() []*nats.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*nats.Msg
	for _, ms := range c.msgs {
		out = append(out, ms...)
	}
	return out
}

// connectService connects as a service's NATS user, reporting the
// server's asynchronous refusals (permission violations) on errs.
func connectService(t *testing.T, url, user, password string) (*nats.Conn, chan error) {
	t.Helper()
	errs := make(chan error, 100)
	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc, errs
}

func ingestRequest(t *testing.T, nc *nats.Conn, subject, body string) (string, map[string]any) {
	t.Helper()
	msg, err := nc.Request(subject, []byte(body), 5*time.Second)
	require.NoError(t, err, subject)
	var out map[string]any
	require.NoError(t, json.Unmarshal(msg.Data, &out), string(msg.Data))
	return msg.Header.Get("Herald-Status"), out
}

func callbackBody(id string) string {
	return fmt.Sprintf(`{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"params":{"id":%q},"headers":{"X-Customer-Token":"tok-%s"},"body":{"card":"%s-4242"}}}`, id, id, id)
}

// checkIsolation plays a hostile second workspace (globex) against the
// traffic of a first (acme): its service subscribes to everything it can
// name while acme sends over HTTP and NATS and Herald delivers, then it
// crafts reply subjects to make Herald write elsewhere. victim is acme's
// service, hostile globex's (both connected with connectService).
func checkIsolation(t *testing.T, h *apptest.Herald, victim, hostile *nats.Conn, hostileErrs chan error) {
	ctx := context.Background()
	var seen collector
	hostileSubjects := []string{"_INBOX.>", ">", "$JS.>", "herald.>", "_R_.>", "$SYS.>", "herald.in.acme.>", "$JS.API.>"}
	seen.subscribe(t, hostile, hostileSubjects...)
	// Herald's own view (its connection, in its own account): what it publishes.
	var spy collector
	spy.subscribe(t, h.App.JetStream().Conn(), ">")

	// acme's traffic: an HTTP send, a NATS request, their jobs through
	// JetStream (pull deliveries, acks, publish acks all on Herald's inboxes).
	r := h.Do("POST", "/v1/notifications/callback/send", apptest.KeyAcme, callbackBody("SECRET-A-HTTP"))
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	httpID := r.JSON()["messageId"].(string)
	status, out := ingestRequest(t, victim, "herald.in.acme.send.callback", callbackBody("SECRET-A-NATS"))
	require.Equal(t, "202", status, out)
	natsID := out["messageId"].(string)
	h.WaitStatus(httpID, "sent", 10*time.Second)
	h.WaitStatus(natsID, "sent", 10*time.Second)

	// globex's own request works, and its _INBOX.> subscription is live: it
	// gets globex's own reply and nothing of acme's.
	status, out = ingestRequest(t, hostile, "herald.in.globex.send.callback", callbackBody("G-OWN"))
	require.Equal(t, "202", status, out)
	require.Eventually(t, func() bool { return len(seen.get("_INBOX.>")) > 0 }, 5*time.Second, 10*time.Millisecond,
		"the hostile service's own reply reaches its _INBOX.> subscription")

	// Crafted reply subjects: the server rewrites each into a response
	// mapping back to globex, so Herald never publishes on them.
	jobSubject := queue.Subject("callback", "acme", ids.New(time.Now()))
	crafted := []string{
		jobSubject,                                  // a job into acme's queue
		"herald.in.acme.send.callback",              // a send as acme
		"$JS.API.STREAM.DELETE." + queue.StreamSend, // the stream itself
		"$JS.API.STREAM.PURGE." + queue.StreamSend,
		"_INBOX.hijack",
		// Reserved by the server for its own response mappings and acks: a
		// client's request carrying one never reaches Herald at all.
		"_R_.forged.reply",
		"$JS.ACK." + queue.StreamSend + ".herald-callback.1.1.1.1.0",
	}
	reserved := 2
	before := len(spy.get(">")) // acme's own requests came in on herald.in.acme.… before this
	for i, reply := range crafted {
		require.NoError(t, hostile.PublishRequest("herald.in.globex.send.callback", reply, []byte(callbackBody(fmt.Sprintf("G-CRAFTED-%d", i)))))
	}
	require.NoError(t, hostile.Flush())
	// Each other crafted request is globex's own send, answered only
	// through globex's own mapping: wait until Herald handled all of them.
	require.Eventually(t, func() bool {
		r := h.Do("GET", "/v1/messages", apptest.KeyGlobex, nil)
		return r.JSON()["total"] == float64(1+len(crafted)-reserved)
	}, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		n := 0
		for _, m := range spy.get(">") {
			if strings.HasPrefix(m.Subject, "_R_.") && strings.Contains(string(m.Data), "messageId") {
				n++
			}
		}
		return n >= len(crafted)-reserved+2 // and acme's and globex's own requests
	}, 10*time.Second, 20*time.Millisecond, "Herald answered every crafted request on a response mapping")

	for _, m := range spy.get(">")[before:] {
		for _, reply := range crafted {
			require.NotEqual(t, reply, m.Subject, "Herald published on a crafted reply subject")
		}
	}
	st, err := h.App.JetStream().Stream(ctx, queue.StreamSend)
	require.NoError(t, err, "the stream is still there")
	_, err = st.GetLastMsgForSubject(ctx, jobSubject)
	require.True(t, errors.Is(err, jetstream.ErrMsgNotFound), "no job was written on %s: %v", jobSubject, err)
	r = h.Do("GET", "/v1/messages", apptest.KeyAcme, nil)
	require.EqualValues(t, 2, r.JSON()["total"], "nothing was sent as acme")

	// Nothing of acme reached globex, and the subscriptions outside its own
	// inbox were refused by the server.
	for _, m := range seen.all() {
		data := m.Subject + " " + m.Reply + " " + string(m.Data) + fmt.Sprint(m.Header)
		for _, secret := range []string{"SECRET-A", httpID, natsID, "acme"} {
			require.NotContains(t, data, secret, "globex saw acme's traffic on %s", m.Subject)
		}
	}
	for _, subj := range hostileSubjects[1:] {
		require.Empty(t, seen.get(subj), "globex's subscription to %s received something", subj)
	}
	violations := 0
	for len(hostileErrs) > 0 {
		if err := <-hostileErrs; strings.Contains(err.Error(), "Permissions Violation") {
			violations++
		}
	}
	require.Positive(t, violations, "the server refused the hostile subscriptions")
}

// The embedded server with ingest users: accounts per user, Herald's
// streams and inboxes out of reach.
func TestNATSIngestIsolation(t *testing.T) {
	rc := apptest.NewReceiver(t)
	yaml := strings.Replace(apptest.Config(rc.URL), `nats: { listen: "127.0.0.1:-1", ack_wait: 2s }`,
		`nats:
  listen: "127.0.0.1:-1"
  ack_wait: 2s
  ingest_users:
    - { user: acme-svc, password_env: ACME_NATS_PASSWORD, workspace: acme }
    - { user: acme-other, password_env: ACME_OTHER_NATS_PASSWORD, workspace: acme }
    - { user: globex-svc, password_env: GLOBEX_NATS_PASSWORD, workspace: globex }`, 1)
	h := apptest.Start(t, apptest.Options{YAML: yaml, Env: map[string]string{
		"ACME_NATS_PASSWORD": "acme-pw", "ACME_OTHER_NATS_PASSWORD": "acme-other-pw", "GLOBEX_NATS_PASSWORD": "globex-pw"}})
	victim, _ := connectService(t, h.App.NATSURL(), "acme-svc", "acme-pw")
	hostile, hostileErrs := connectService(t, h.App.NATSURL(), "globex-svc", "globex-pw")

	// A second user of the same workspace does not see the first's replies.
	sibling, _ := connectService(t, h.App.NATSURL(), "acme-other", "acme-other-pw")
	var siblingSeen collector
	siblingSeen.subscribe(t, sibling, "_INBOX.>")

	checkIsolation(t, h, victim, hostile, hostileErrs)
	require.Empty(t, siblingSeen.get("_INBOX.>"), "acme-other saw acme-svc's replies")
	status, out := ingestRequest(t, sibling, "herald.in.acme.send.callback", callbackBody("A-SIBLING"))
	require.Equal(t, "202", status, out)
}

// readmeNATSConfig is the external server configuration the README gives.
func readmeNATSConfig(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)```\n(# nats-server.conf\n.*?)```").FindSubmatch(readme)
	require.NotNil(t, m, "README has the nats-server.conf example")
	return string(m[1])
}

// The README's external-server example, as written, isolates the same way.
func TestNATSIngestIsolationREADMEExample(t *testing.T) {
	t.Setenv("HERALD_NATS_PASSWORD", "herald-pw")
	t.Setenv("ACME_NATS_PASSWORD", "acme-pw")
	t.Setenv("GLOBEX_NATS_PASSWORD", "globex-pw")
	opts := &server.Options{}
	require.NoError(t, opts.ProcessConfigString(readmeNATSConfig(t)))
	opts.Host, opts.Port, opts.StoreDir, opts.NoSigs = "127.0.0.1", -1, t.TempDir(), true
	ns, err := server.NewServer(opts)
	require.NoError(t, err)
	go ns.Start()
	require.True(t, ns.ReadyForConnections(10*time.Second))
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })

	rc := apptest.NewReceiver(t)
	yaml := apptest.Config(rc.URL) + fmt.Sprintf("nats_url: %q\n", "nats://herald:herald-pw@"+strings.TrimPrefix(ns.ClientURL(), "nats://"))
	h := apptest.Start(t, apptest.Options{YAML: yaml})
	victim, _ := connectService(t, ns.ClientURL(), "acme-orders", "acme-pw")
	hostile, hostileErrs := connectService(t, ns.ClientURL(), "globex-billing", "globex-pw")
	checkIsolation(t, h, victim, hostile, hostileErrs)
}

// Without authentication every client may do anything, but Herald still
// answers only on inboxes: a reply subject naming a job, the JetStream API
// or an ingest subject is dropped, counted and the request not handled.
func TestNATSIngestRefusesCraftedReplies(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	nc, err := nats.Connect(h.App.NATSURL())
	require.NoError(t, err)
	defer nc.Close()
	var spy collector
	spy.subscribe(t, nc, ">")
	crafted := []string{
		queue.Subject("callback", "acme", ids.New(time.Now())),
		"herald.in.globex.send.callback",
		"$JS.API.STREAM.DELETE." + queue.StreamSend,
		"_INBOX.*",
		"_INBOX..x",
		"some.subject",
	}
	for i, reply := range crafted {
		require.NoError(t, nc.PublishRequest("herald.in.acme.send.callback", reply, []byte(callbackBody(fmt.Sprintf("CRAFT-%d", i)))))
	}
	require.NoError(t, nc.Flush())
	require.Eventually(t, func() bool {
		return strings.Contains(registryText(t, h.App), fmt.Sprintf(`herald_producer_ingest_dropped_total{reason="reply_subject"} %d`, len(crafted)))
	}, 10*time.Second, 20*time.Millisecond)

	// An inbox reply is answered as before.
	status, out := ingestRequest(t, nc, "herald.in.acme.send.callback", callbackBody("INBOX-OK"))
	require.Equal(t, "202", status, out)
	r := h.Do("GET", "/v1/messages", apptest.KeyAcme, nil)
	require.EqualValues(t, 1, r.JSON()["total"], "no crafted request was handled")
	r = h.Do("GET", "/v1/messages", apptest.KeyGlobex, nil)
	require.EqualValues(t, 0, r.JSON()["total"])
	for _, m := range spy.get(">") {
		for _, reply := range crafted {
			require.NotEqual(t, reply, m.Subject, "something was published on a crafted reply subject")
		}
	}
}
