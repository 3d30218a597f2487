package producer

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/promx"
)

// Ingest subjects (API.md, "Publishing from NATS"). The workspace is the
// third token; NATS permissions on these subjects are the authorisation.
const (
	IngestSend         = "herald.in.*.send"
	IngestSendChannel  = "herald.in.*.send.*"
	IngestDispatch     = "herald.in.*.dispatch"
	ingestQueue        = "herald-ingest"
	HeaderIngestStatus = "Herald-Status"
)

// Dispatcher accepts a dispatch body for a workspace, answering like
// POST /v1/notifications/dispatch: an HTTP status and a JSON-encodable body.
type Dispatcher func(ctx context.Context, ws string, body []byte) (status int, resp any)

// Ingest answers sends published on NATS: herald.in.<ws>.send.<channel>
// (a single-channel send), herald.in.<ws>.send (multi-channel) and
// herald.in.<ws>.dispatch. A request gets the same body the HTTP API
// would answer, and its status in the Herald-Status header.
type Ingest struct {
	Producer *Producer
	Conn     *nats.Conn
	// Config returns the current configuration (workspaces, body limit).
	Config func() *config.Config
	// Dispatch handles dispatch bodies; nil answers 404.
	Dispatch Dispatcher
	// Timeout bounds the handling of one message. Default 10s.
	Timeout time.Duration
	// MaxInFlight bounds the requests handled at once (each holds its body
	// and a goroutine). Past it a request is answered 429 at once, before
	// anything is written, so a burst costs bounded memory. Default 256.
	MaxInFlight int
	Logger      *zap.Logger
	// Registerer takes the ingest metrics; nil registers nothing.
	Registerer prometheus.Registerer

	subs  []*nats.Subscription
	wg    sync.WaitGroup
	slots chan struct{}
	busy  atomic.Int64
	// strict is set when the server authenticates clients: replies then
	// go only to service-import response subjects (replyAllowed).
	strict  bool
	dropped *prometheus.CounterVec
}

// Pending limits of each ingest subscription: what NATS may buffer in
// this process before handle sees it. handle answers at once when busy, so
// the buffer drains at the speed of a refusal; past these limits NATS
// drops messages (the requester times out) instead of growing memory.
const (
	ingestPendingMsgs  = 8192
	ingestPendingBytes = 64 << 20
)

// replyAllowed reports whether Herald may answer on reply, a subject the
// caller chose. Answers go only where the caller, and only the caller,
// receives them:
//
//   - "_R_." subjects are the response mappings nats-server makes when a
//     request crosses a service import (a workspace's account importing
//     herald.in.<ws>.> from Herald's): publishing there reaches the
//     requester's own reply subject in its own account and nothing else.
//     On a server with accounts every ingest request arrives this way.
//   - "_INBOX." subjects are accepted only when the server has no
//     authentication at all (strict is false): every client may then
//     publish and subscribe everywhere anyway, so the answer gives no one
//     anything new.
//
// Anything else — a job subject (herald.send.…), the JetStream API
// ($JS.…), another workspace's ingest subject, a wildcard — is dropped
// without handling the request: Herald's connection could otherwise be
// made to write where the caller itself may not.
func replyAllowed(reply string, strict bool) bool {
	switch {
	case strings.HasPrefix(reply, "_R_."):
	case !strict && strings.HasPrefix(reply, "_INBOX."):
	default:
		return false
	}
	if len(reply) > 256 {
		return false
	}
	for _, tok := range strings.Split(reply, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return false
		}
	}
	return true
}

// Start subscribes (one queue group shared by every producer replica).
func (in *Ingest) Start(context.Context) error {
	in.Logger = cmp.Or(in.Logger, zap.NewNop())
	in.strict = in.Conn.AuthRequired()
	in.dropped = promx.Must(in.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_producer_ingest_dropped_total",
		Help: "NATS ingest requests not handled, by reason: reply_subject (dropped without an answer: the reply subject is not one the caller alone receives), busy (answered 429 at once: MaxInFlight requests were being handled; nothing written).",
	}, []string{"reason"}))
	in.slots = make(chan struct{}, cmp.Or(in.MaxInFlight, 256))
	for _, subj := range []string{IngestSend, IngestSendChannel, IngestDispatch} {
		sub, err := in.Conn.QueueSubscribe(subj, ingestQueue, in.handle)
		if err == nil {
			err = sub.SetPendingLimits(ingestPendingMsgs, ingestPendingBytes)
		}
		if err != nil {
			_ = in.Stop(context.Background())
			return err
		}
		in.subs = append(in.subs, sub)
	}
	return in.Conn.Flush()
}

// Stop drains the subscriptions: requests already received are answered.
func (in *Ingest) Stop(ctx context.Context) error {
	for _, s := range in.subs {
		_ = s.Drain()
	}
	done := make(chan struct{})
	go func() {
		for _, s := range in.subs {
			for s.IsValid() {
				time.Sleep(5 * time.Millisecond)
			}
		}
		in.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handle runs in the subscription's goroutine; each message is handled in
// its own so that a slow send does not hold up others, up to MaxInFlight
// at once: past that, the request is refused there and then.
func (in *Ingest) handle(msg *nats.Msg) {
	if msg.Reply != "" && !replyAllowed(msg.Reply, in.strict) {
		in.dropped.WithLabelValues("reply_subject").Inc()
		reply := msg.Reply
		if len(reply) > 64 {
			reply = reply[:64] + "…"
		}
		in.Logger.Warn("nats ingest request dropped: its reply subject is not one only the caller receives (see README, Publishing from NATS)",
			zap.String("subject", msg.Subject), zap.String("reply", strings.ToValidUTF8(reply, "?")))
		return
	}
	select {
	case in.slots <- struct{}{}:
	default:
		in.busy.Add(1)
		in.dropped.WithLabelValues("busy").Inc()
		in.reply(msg, http.StatusTooManyRequests, errorBody("rate_limited", "", "ingest is at capacity; nothing was written: retry with backoff"))
		return
	}
	in.wg.Add(1)
	go func() {
		defer func() {
			<-in.slots
			in.wg.Done()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(in.Timeout, 10*time.Second))
		defer cancel()
		status, body := in.serve(ctx, msg)
		in.reply(msg, status, body)
	}()
}

// Refused counts the requests refused because ingest was at capacity.
func (in *Ingest) Refused() int64 { return in.busy.Load() }

func (in *Ingest) reply(msg *nats.Msg, status int, body any) {
	if msg.Reply == "" {
		if status >= 300 {
			in.Logger.Warn("nats send refused (no reply subject to tell)", zap.String("subject", msg.Subject), zap.Int("status", status))
		}
		return
	}
	data, _ := json.Marshal(body)
	reply := nats.NewMsg(msg.Reply)
	reply.Data = data
	reply.Header.Set(HeaderIngestStatus, strconv.Itoa(status))
	reply.Header.Set("Content-Type", "application/json")
	if err := in.Conn.PublishMsg(reply); err != nil {
		in.Logger.Warn("nats reply failed", zap.String("subject", msg.Subject), zap.Error(err))
	}
}

func errorBody(code, field, msg string) map[string]Error {
	return map[string]Error{"error": {Code: code, Field: field, Message: msg}}
}

// serve answers one ingest message with the HTTP status and body.
func (in *Ingest) serve(ctx context.Context, msg *nats.Msg) (int, any) {
	tokens := strings.Split(msg.Subject, ".")
	if len(tokens) < 4 || len(tokens) > 5 {
		return http.StatusNotFound, errorBody("not_found", "", "no ingest subject "+msg.Subject)
	}
	ws, kind := tokens[2], tokens[3]
	cfg := in.Config()
	if cfg.Workspace(ws) == nil {
		return http.StatusNotFound, errorBody("not_found", "", "no workspace "+ws)
	}
	if int64(len(msg.Data)) > cfg.MaxBodyBytes {
		return http.StatusRequestEntityTooLarge, errorBody("payload_too_large", "", "message body is larger than the limit")
	}
	switch {
	case kind == "send" && len(tokens) == 5:
		req, err := DecodeSend(msg.Data)
		if err != nil {
			return describe(err)
		}
		sent, err := in.Producer.Send(ctx, ws, tokens[4], req, Options{Via: ViaNATS})
		if err != nil {
			return describe(err)
		}
		status := http.StatusAccepted
		if sent.Deduplicated {
			status = http.StatusOK
		}
		return status, struct {
			Success bool `json:"success"`
			*Sent
		}{true, sent}
	case kind == "send":
		req, err := DecodeMulti(msg.Data)
		if err != nil {
			return describe(err)
		}
		res, err := in.Producer.SendMulti(ctx, ws, req, Options{Via: ViaNATS})
		if err != nil {
			return describe(err)
		}
		return MultiStatus(res)
	case kind == "dispatch" && len(tokens) == 4 && in.Dispatch != nil:
		return in.Dispatch(ctx, ws, msg.Data)
	}
	return http.StatusNotFound, errorBody("not_found", "", "no ingest subject "+msg.Subject)
}

func describe(err error) (int, any) {
	e, status, ok := Describe(err)
	if !ok {
		return http.StatusInternalServerError, errorBody("internal", "", "internal error")
	}
	return status, map[string]Error{"error": e}
}

// MultiStatus is the status and body of a multi-channel send's result:
// 202 when a channel was accepted; else 503 when a channel was refused for
// unavailability, else 400, with an error naming the problem.
func MultiStatus(res *MultiResult) (int, any) {
	type body struct {
		*MultiResult
		Error *Error `json:"error,omitempty"`
	}
	if res.Success {
		return http.StatusAccepted, body{MultiResult: res}
	}
	status, out := http.StatusBadRequest, &Error{Code: "invalid_argument", Message: "no channel was accepted; see channels"}
	for _, cr := range res.Channels {
		if cr.Error != nil && cr.Error.Code == "unavailable" {
			status, out = http.StatusServiceUnavailable, &Error{Code: "unavailable", Message: cr.Error.Message}
		}
	}
	if len(res.Channels) == 1 && status == http.StatusBadRequest {
		for _, cr := range res.Channels {
			if cr.Error != nil {
				out = cr.Error
			}
		}
	}
	return status, body{MultiResult: res, Error: out}
}
