package worker

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/internal/queue"
)

// wsConsumer is one workspace's pull loop on one channel. Each workspace
// has its own durable consumer, so its backlog (a flood, an endpoint that
// throttles) never sits in front of another workspace's messages; the
// channel's delivery slots are shared, each waiting workspace taking the
// next free one in turn, and a workspace holds at most
// WorkspaceConcurrency of them.
type wsConsumer struct {
	w      *Worker
	ch, ws string
	name   string
	slots  chan struct{} // this workspace's share
	cancel context.CancelFunc
	done   chan struct{}

	received atomic.Int64
	// stall state of the watchdog (watch goroutine only)
	lastReceived int64
	idle         int
	restart      chan struct{}
}

func (w *Worker) startConsumer(ctx, bgCtx, deliverCtx context.Context, ch, ws string) (*wsConsumer, error) {
	spec := queue.ConsumerSpec{Channel: ch, Workspace: ws, AckWait: w.cfg.AckWait, MaxAckPending: w.cfg.MaxAckPending}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := w.cfg.Queue.Consumer(cctx, spec)
	cancel()
	if err != nil {
		return nil, err
	}
	fetchCtx, stop := context.WithCancel(bgCtx)
	c := &wsConsumer{w: w, ch: ch, ws: ws, name: queue.ConsumerName(ch, ws), slots: make(chan struct{}, w.cfg.WorkspaceConcurrency),
		cancel: stop, done: make(chan struct{}), restart: make(chan struct{}, 1)}
	go func() {
		defer close(c.done)
		c.run(fetchCtx, deliverCtx, spec, cons)
	}()
	return c, nil
}

func (c *wsConsumer) stop() { c.cancel() }

// checkStall flags a stall to the pull loop: messages pending for two
// checks in a row, free slots, yet nothing received (gorush #693,
// nats-server #5839). Called by the watch loop only.
func (c *wsConsumer) checkStall(pending uint64) {
	now := c.received.Load()
	if pending > 0 && now == c.lastReceived && len(c.slots) < cap(c.slots) {
		c.idle++
	} else {
		c.idle = 0
	}
	c.lastReceived = now
	if c.idle >= 2 {
		c.idle = 0
		select {
		case c.restart <- struct{}{}:
		default:
		}
	}
}

// run is the pull loop. The iterator is recreated whenever it fails
// (consumer deleted, stream lost, heartbeats missed, connection replaced)
// and when the watchdog sees a stall: a worker never silently stops
// consuming.
func (c *wsConsumer) run(fetchCtx, deliverCtx context.Context, spec queue.ConsumerSpec, cons jetstream.Consumer) {
	w := c.w
	log := w.log.With(zap.String("channel", c.ch), zap.String("workspace", c.ws))
	backoff := 100 * time.Millisecond
	for fetchCtx.Err() == nil {
		if cons == nil {
			cctx, cancel := context.WithTimeout(fetchCtx, 10*time.Second)
			var err error
			cons, err = w.cfg.Queue.Consumer(cctx, spec)
			cancel()
			if err != nil {
				log.Warn("consumer unavailable; retrying", zap.Error(err))
				sleepCtx(fetchCtx, backoff)
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
		}
		// A small pull buffer: a buffered message must not outlive AckWait
		// before its delivery starts (nats.go issue 1929).
		it, err := cons.Messages(jetstream.PullMaxMessages(cap(c.slots)), jetstream.PullHeartbeat(5*time.Second))
		if err != nil {
			log.Warn("consumer iterator failed; recreating consumer", zap.Error(err))
			w.metrics.restarts.WithLabelValues(c.ch).Inc()
			cons = nil
			sleepCtx(fetchCtx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		stop := context.AfterFunc(fetchCtx, it.Drain)
		ended := make(chan struct{})
		go func() {
			select {
			case <-c.restart:
				log.Warn("messages are waiting but none arrive; restarting the consumer")
				it.Stop()
			case <-ended:
			}
		}()
		err = c.pull(fetchCtx, deliverCtx, it)
		close(ended)
		stop()
		if fetchCtx.Err() != nil {
			break
		}
		log.Warn("consumer iterator stopped; recreating", zap.Error(err))
		w.metrics.restarts.WithLabelValues(c.ch).Inc()
		it.Stop()
		cons = nil
		backoff = 100 * time.Millisecond
		sleepCtx(fetchCtx, backoff)
	}
}

// pull takes messages while this workspace has a slot, then waits for a
// slot of the channel's shared pool. It returns when the iterator ends;
// during shutdown (drain) the messages still buffered are handed back.
func (c *wsConsumer) pull(fetchCtx, deliverCtx context.Context, it jetstream.MessagesContext) error {
	w := c.w
	pool := w.pools[c.ch]
	for {
		select {
		case c.slots <- struct{}{}:
		case <-fetchCtx.Done():
			// Release nothing: the drain below hands buffered messages back.
		}
		msg, err := it.Next()
		if err != nil {
			if fetchCtx.Err() == nil {
				<-c.slots
			}
			return err
		}
		c.received.Add(1)
		if fetchCtx.Err() != nil {
			_ = msg.Nak()
			continue
		}
		// The shared pool: a channel's waiting senders are served in
		// order, so each busy workspace gets the next free slot in turn.
		select {
		case pool <- struct{}{}:
		case <-fetchCtx.Done():
			<-c.slots
			_ = msg.Nak()
			continue
		}
		w.inflight.Add(1)
		w.metrics.inflight.WithLabelValues(c.ch).Inc()
		go func() {
			defer func() {
				w.metrics.inflight.WithLabelValues(c.ch).Dec()
				<-pool
				<-c.slots
				w.inflight.Done()
			}()
			w.handle(deliverCtx, c.ch, msg)
		}()
	}
}
