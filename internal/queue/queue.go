package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Streams, subjects and buckets (docs/ARCHITECTURE.md, "NATS layout").
const (
	StreamSend      = "HERALD_SEND"
	SendSubjects    = "herald.send.>"
	StreamDispatch  = "HERALD_DISPATCH"
	DispatchSubject = "herald.dispatch"
	// LedgerBucket is a JetStream key-value bucket holding, per workspace,
	// the latest checkpoint of the log store's counters: what lets Herald
	// notice that Redis went back in time (restored from an older
	// snapshot) before it re-sends anything (worker.Ledger).
	LedgerBucket = "HERALD_LEDGER"
)

// Subject is the subject of one message's job:
// herald.send.<channel>.<workspace>.<message id>. One subject per message
// lets the reconciler ask JetStream whether a job still exists for a
// message (HasJob) before publishing it again; the workspace token lets
// each workspace have its own consumer (WorkspaceFilter).
func Subject(channel, ws, id string) string {
	return "herald.send." + channel + "." + ws + "." + id
}

// WorkspaceFilter is the filter of one workspace's consumer of a channel.
func WorkspaceFilter(channel, ws string) string { return "herald.send." + channel + "." + ws + ".>" }

// ConsumerName is the durable consumer of one workspace on one channel,
// shared by every worker replica: each delivery goes to one of them, and
// one workspace's backlog never sits in front of another's.
func ConsumerName(channel, ws string) string { return "herald-" + channel + "-" + ws }

// legacyConsumerName is the one consumer per channel of earlier versions;
// its filter overlaps the per-workspace ones, which a work-queue stream
// refuses, so it is deleted when a per-workspace consumer is created.
func legacyConsumerName(channel string) string { return "herald-" + channel }

// Config tunes the streams.
type Config struct {
	Replicas        int
	DuplicateWindow time.Duration
	Logger          *zap.Logger
}

// Queue is Herald's view of JetStream: it publishes jobs and reports what
// JetStream did with them, answers whether a message still has a job,
// creates consumers, and puts back the streams when the server lost them
// (a wiped store, an operator's delete). Every role uses one.
type Queue struct {
	js  jetstream.JetStream
	cfg Config
	log *zap.Logger

	mu sync.Mutex
	kv jetstream.KeyValue

	healMu    sync.Mutex
	healStart time.Time
}

// New returns a Queue on js. It does no I/O; Ensure creates the layout.
func New(js jetstream.JetStream, cfg Config) *Queue {
	cfg.Replicas = max(cfg.Replicas, 1)
	cfg.DuplicateWindow = cmp.Or(cfg.DuplicateWindow, 2*time.Minute)
	return &Queue{js: js, cfg: cfg, log: cmp.Or(cfg.Logger, zap.NewNop())}
}

// JetStream is the underlying JetStream context.
func (q *Queue) JetStream() jetstream.JetStream { return q.js }

// Connected reports whether the NATS connection is up.
func (q *Queue) Connected() bool { return q.js.Conn().IsConnected() }

// DuplicateWindow is the stream's de-duplication window.
func (q *Queue) DuplicateWindow() time.Duration { return q.cfg.DuplicateWindow }

// Ensure creates or updates Herald's streams and the ledger bucket,
// idempotently; every role calls it at start and whenever JetStream says a
// stream is missing, so any role can come up first and any can heal. A
// change of nats.stream_replicas is applied to an existing stream
// (JetStream moves the data); when the servers cannot host that many
// replicas the error says so and names the setting.
func (q *Queue) Ensure(ctx context.Context) error {
	replicas := q.cfg.Replicas
	for _, sc := range []jetstream.StreamConfig{
		{
			Name:        StreamSend,
			Description: "Herald deliveries, one subject per message",
			Subjects:    []string{SendSubjects},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  q.cfg.DuplicateWindow,
			Discard:     jetstream.DiscardOld,
		},
		{
			Name:        StreamDispatch,
			Description: "Herald dispatch jobs, new and changed",
			Subjects:    []string{DispatchSubject},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  q.cfg.DuplicateWindow,
		},
	} {
		had := 0
		if s, err := q.js.Stream(ctx, sc.Name); err == nil {
			had = s.CachedInfo().Config.Replicas
		}
		if _, err := q.js.CreateOrUpdateStream(ctx, sc); err != nil {
			switch {
			case had > 0 && had != replicas:
				return fmt.Errorf("stream %s: changing replicas from %d to %d (nats.stream_replicas) was refused: %w; "+
					"a stream can have at most as many replicas as the cluster has JetStream servers, and a single server only 1", sc.Name, had, replicas, err)
			case replicas > 1:
				return fmt.Errorf("stream %s with %d replicas (nats.stream_replicas): %w; "+
					"this needs a NATS cluster with at least %d JetStream servers (a single server supports only 1)", sc.Name, replicas, err, replicas)
			}
			return fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	kv, err := q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: LedgerBucket, Description: "Herald: checkpoints of the log store's counters, per workspace",
		History: 2, Storage: jetstream.FileStorage, Replicas: replicas,
	})
	if err != nil {
		return fmt.Errorf("key-value bucket %s: %w", LedgerBucket, err)
	}
	q.mu.Lock()
	q.kv = kv
	q.mu.Unlock()
	return nil
}

// missing reports whether err says a stream (or its subjects) is gone:
// JetStream's "stream not found", or no responder for a publish.
func missing(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrBucketNotFound)
}

// heal recreates the layout after a caller found it missing at seen.
// Heals run one at a time, and one that started after seen already covers
// the caller: a burst of failing publishes costs one Ensure, not one each.
func (q *Queue) heal(ctx context.Context, seen time.Time, cause error) {
	q.healMu.Lock()
	defer q.healMu.Unlock()
	if q.healStart.After(seen) {
		return
	}
	q.healStart = time.Now()
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := q.Ensure(hctx); err != nil {
		q.log.Warn("JetStream layout missing and could not be recreated", zap.NamedError("cause", cause), zap.Error(err))
		return
	}
	q.log.Warn("JetStream layout was missing; recreated it", zap.NamedError("cause", cause))
}

// Ready fails while HERALD_SEND is missing or unreachable: a role that
// cannot queue or consume deliveries is not ready (/readyz).
func (q *Queue) Ready(ctx context.Context) error {
	if _, err := q.js.Stream(ctx, StreamSend); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("stream %s is missing (being recreated)", StreamSend)
		}
		return err
	}
	return nil
}

// Keep checks the layout every interval and recreates it when missing,
// until ctx ends: a role with no traffic heals too, so /readyz turns
// green again without a send or a delivery having to find the hole.
func (q *Queue) Keep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(cmp.Or(interval, 2*time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		seen := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := q.js.Stream(cctx, StreamSend)
		if err == nil {
			_, err = q.js.KeyValue(cctx, LedgerBucket) // not the cached handle
		}
		cancel()
		if err != nil && missing(err) {
			q.heal(ctx, seen, err)
		}
	}
}

// Publish puts a job on its subject and waits for the stream's ack until
// ctx ends, trying again (same message id, so at most one copy is stored)
// after errors that come back at once: no responders (a leader election,
// or a missing stream, which it recreates), a reconnection. A request is
// not cut short to be sent again: under load that would only add
// publishes, and an unconfirmed publish is settled by the caller anyway. stored is false when JetStream already had
// this job (the ack's duplicate flag): nothing new was queued. An error
// means the outcome is unknown: the job may or may not be stored.
func (q *Queue) Publish(ctx context.Context, j *Job) (stored bool, err error) {
	data, err := j.Encode()
	if err != nil {
		return false, err
	}
	msg := nats.NewMsg(Subject(j.Channel, j.Workspace, j.ID))
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, j.MsgID())
	wait := 25 * time.Millisecond
	for {
		seen := time.Now()
		ack, err := q.js.PublishMsg(ctx, msg, jetstream.WithRetryAttempts(0))
		if err == nil {
			return !ack.Duplicate, nil
		}
		if missing(err) {
			q.heal(ctx, seen, err)
		}
		if ctx.Err() != nil || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) {
			return false, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, err
		case <-t.C:
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// HasJob reports whether JetStream holds a job for the message (waiting in
// a backlog, or delivered and not yet acknowledged). A work-queue stream
// keeps subject state only for what it still holds, so this costs the
// backlog, not history.
func (q *Queue) HasJob(ctx context.Context, channel, ws, id string) (bool, error) {
	seen := time.Now()
	s, err := q.js.Stream(ctx, StreamSend)
	if err != nil {
		if missing(err) {
			q.heal(ctx, seen, err)
		}
		return false, err
	}
	if _, err := s.GetLastMsgForSubject(ctx, Subject(channel, ws, id)); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// StreamCreated is when HERALD_SEND was created: a message made before it
// may have had its job in a stream that no longer exists.
func (q *Queue) StreamCreated(ctx context.Context) (time.Time, error) {
	s, err := q.js.Stream(ctx, StreamSend)
	if err != nil {
		return time.Time{}, err
	}
	return s.CachedInfo().Created, nil
}

// ConsumerSpec describes one workspace's durable consumer of a channel.
type ConsumerSpec struct {
	Channel, Workspace string
	AckWait            time.Duration
	MaxAckPending      int
}

// Consumer creates or updates the consumer (idempotent), recreating the
// stream when it is missing and retiring the per-channel consumer of
// earlier versions whose filter overlaps.
func (q *Queue) Consumer(ctx context.Context, spec ConsumerSpec) (jetstream.Consumer, error) {
	cc := jetstream.ConsumerConfig{
		Durable:       ConsumerName(spec.Channel, spec.Workspace),
		Description:   "Herald " + spec.Channel + " deliveries of workspace " + spec.Workspace,
		FilterSubject: WorkspaceFilter(spec.Channel, spec.Workspace),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       spec.AckWait,
		// Attempts are counted in the log entry, not by JetStream.
		MaxDeliver:    -1,
		MaxAckPending: spec.MaxAckPending,
	}
	var err error
	for try := 0; try < 3; try++ {
		var cons jetstream.Consumer
		seen := time.Now()
		if cons, err = q.js.CreateOrUpdateConsumer(ctx, StreamSend, cc); err == nil {
			return cons, nil
		}
		var apiErr *jetstream.APIError
		switch {
		case missing(err):
			q.heal(ctx, seen, err)
		case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.ErrorCode(10100):
			// "filtered consumer not unique on workqueue stream": the
			// channel-wide consumer of an earlier version is still there.
			q.log.Warn("retiring the per-channel consumer of an earlier version", zap.String("consumer", legacyConsumerName(spec.Channel)))
			_ = q.js.DeleteConsumer(ctx, StreamSend, legacyConsumerName(spec.Channel))
		default:
			return nil, fmt.Errorf("consumer %s: %w", cc.Durable, err)
		}
	}
	return nil, fmt.Errorf("consumer %s: %w", cc.Durable, err)
}

// Consumers lists the consumers of HERALD_SEND with their state (lag
// metrics, the stall watchdog): one paged request for all of them.
func (q *Queue) Consumers(ctx context.Context) ([]*jetstream.ConsumerInfo, error) {
	s, err := q.js.Stream(ctx, StreamSend)
	if err != nil {
		return nil, err
	}
	var out []*jetstream.ConsumerInfo
	l := s.ListConsumers(ctx)
	for ci := range l.Info() {
		out = append(out, ci)
	}
	return out, l.Err()
}

// Checkpoint is what the ledger keeps per workspace: the log store's
// monotonic counters (entries created, outcomes recorded) as last seen.
// Counters below a checkpoint mean Redis lost writes it had acknowledged.
type Checkpoint struct {
	Seq, Records int64
	At           time.Time
}

func (q *Queue) ledger(ctx context.Context) (jetstream.KeyValue, error) {
	q.mu.Lock()
	kv := q.kv
	q.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	kv, err := q.js.KeyValue(ctx, LedgerBucket)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	q.kv = kv
	q.mu.Unlock()
	return kv, nil
}

// LoadCheckpoint reads a workspace's checkpoint and the one before it
// (nil when there was none, or when it cannot be read); found is false
// only when JetStream answered that there is none yet.
//
// The latest comes from a direct get, never from History: History is a
// watcher that reports "key not found" whenever its updates channel
// closes before the first entry (a context that ran out, a reconnect), and
// a ledger that took that for "no checkpoint yet" would save the counters
// of a rolled-back Redis as the new checkpoint and miss the rollback
// (seen in the fault suite's RDB-restore scenario during a JetStream
// restart). The one before it only narrows the window of lost writes, so
// it is best effort.
func (q *Queue) LoadCheckpoint(ctx context.Context, ws string) (last Checkpoint, prev *Checkpoint, found bool, err error) {
	seen := time.Now()
	kv, err := q.ledger(ctx)
	if err != nil {
		if missing(err) {
			q.heal(ctx, seen, err)
		}
		return last, nil, false, err
	}
	cur, err := kv.Get(ctx, ws)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return last, nil, false, nil
	}
	if err != nil {
		if missing(err) {
			q.heal(ctx, seen, err)
		}
		return last, nil, false, err
	}
	if last, err = parseCheckpoint(cur.Value()); err != nil {
		return last, nil, false, fmt.Errorf("ledger %s: %w", ws, err)
	}
	hist, err := kv.History(ctx, ws)
	if err != nil || ctx.Err() != nil {
		return last, nil, true, nil
	}
	for i := len(hist) - 1; i >= 0; i-- {
		e := hist[i]
		if e.Revision() >= cur.Revision() || e.Operation() != jetstream.KeyValuePut {
			continue
		}
		if p, err := parseCheckpoint(e.Value()); err == nil {
			prev = &p
		}
		break
	}
	return last, prev, true, nil
}

func parseCheckpoint(v []byte) (Checkpoint, error) {
	var c Checkpoint
	f := strings.Fields(string(v))
	if len(f) != 3 {
		return c, fmt.Errorf("malformed checkpoint %q", v)
	}
	var err [3]error
	c.Seq, err[0] = strconv.ParseInt(f[0], 10, 64)
	c.Records, err[1] = strconv.ParseInt(f[1], 10, 64)
	at, e := strconv.ParseInt(f[2], 10, 64)
	err[2] = e
	if err := errors.Join(err[:]...); err != nil {
		return c, fmt.Errorf("malformed checkpoint %q: %w", v, err)
	}
	c.At = time.UnixMilli(at)
	return c, nil
}

// SaveCheckpoint writes a workspace's checkpoint.
func (q *Queue) SaveCheckpoint(ctx context.Context, ws string, c Checkpoint) error {
	kv, err := q.ledger(ctx)
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, ws, []byte(strconv.FormatInt(c.Seq, 10)+" "+strconv.FormatInt(c.Records, 10)+" "+strconv.FormatInt(c.At.UnixMilli(), 10)))
	return err
}
