package logstore

import (
	"context"
	"errors"
	"sync"
	"time"
)

var errClosed = errors.New("logstore: store closed")

// batcher coalesces concurrent calls of one kind into pipelines: a caller
// hands its request over and waits; a loop takes every request waiting at
// that moment (up to max) and runs them in one round trip. Nothing waits
// for a batch to fill, so a lone call costs what it did; under load, many
// calls share a round trip (one write and one read instead of one each).
type batcher[Req, Res any] struct {
	ch   chan *batchCall[Req, Res]
	exec func(ctx context.Context, reqs []Req) ([]Res, []error)
	max  int

	once sync.Once
	stop chan struct{}
	wg   sync.WaitGroup
}

type batchCall[Req, Res any] struct {
	req  Req
	res  Res
	err  error
	done chan struct{}
}

// batchTimeout bounds one pipeline; callers' own deadlines still end their wait.
const batchTimeout = 10 * time.Second

func newBatcher[Req, Res any](max int, exec func(context.Context, []Req) ([]Res, []error)) *batcher[Req, Res] {
	return &batcher[Req, Res]{ch: make(chan *batchCall[Req, Res]), exec: exec, max: max, stop: make(chan struct{})}
}

func (b *batcher[Req, Res]) start(loops int) {
	b.once.Do(func() {
		for range loops {
			b.wg.Add(1)
			go b.loop()
		}
	})
}

func (b *batcher[Req, Res]) loop() {
	defer b.wg.Done()
	calls := make([]*batchCall[Req, Res], 0, b.max)
	reqs := make([]Req, 0, b.max)
	for {
		calls, reqs = calls[:0], reqs[:0]
		select {
		case <-b.stop:
			return
		case c := <-b.ch:
			calls = append(calls, c)
		}
	drain:
		for len(calls) < b.max {
			select {
			case c := <-b.ch:
				calls = append(calls, c)
			default:
				break drain
			}
		}
		for _, c := range calls {
			reqs = append(reqs, c.req)
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		res, errs := b.exec(ctx, reqs)
		cancel()
		for i, c := range calls {
			c.res, c.err = res[i], errs[i]
			close(c.done)
		}
	}
}

// do runs one request through the batcher.
func (b *batcher[Req, Res]) do(ctx context.Context, req Req) (Res, error) {
	c := &batchCall[Req, Res]{req: req, done: make(chan struct{})}
	var zero Res
	select {
	case b.ch <- c:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-b.stop:
		return zero, errClosed
	}
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		// The call may still run (it is in a pipeline); its result is lost
		// to this caller, as with any request whose answer never arrives.
		return zero, ctx.Err()
	}
}

func (b *batcher[Req, Res]) close() {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	b.wg.Wait()
}
