package scheduler

import (
	"cmp"
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/producer"
)

// Sender hands a fire's sends to the producer and checks a dispatch's
// sends as it will. *producer.Producer is one.
type Sender interface {
	SendMulti(ctx context.Context, ws string, req *producer.MultiRequest, opts producer.Options) (*producer.MultiResult, error)
	ValidateMulti(ws string, req *producer.MultiRequest) error
}

// Config configures a Scheduler. Zero values mean the documented defaults.
type Config struct {
	Store  *logstore.Store
	Sender Sender
	// Workspaces lists the workspaces whose due jobs this replica fires
	// (the configured ones; it is called at every poll, so a reload
	// applies). Required for Start; the jobs API works without it.
	Workspaces func() []string
	// PollInterval is how often the due sets are polled. Default 100ms.
	PollInterval time.Duration
	// Lookahead is how far ahead of their slot jobs are claimed, so that
	// they fire on time rather than at the next poll. Default twice
	// PollInterval.
	Lookahead time.Duration
	// Lease is how long a claim holds after its slot before another
	// replica may take the job over. Default 5s.
	Lease time.Duration
	// Concurrency is the number of fires in flight. Default 64.
	Concurrency int
	// MaxHeld caps the claims held at once (waiting, queued or firing).
	// Default 16 × Concurrency.
	MaxHeld int
	// RetryDelay is how soon a fire the producer could not take (Redis or
	// JetStream unavailable) is tried again. Default 1s.
	RetryDelay time.Duration
	// CacheWindow is how long a dispatch cache tag holds. Default 24h.
	CacheWindow time.Duration
	// Owner names this replica in its claims. Default host-pid-random.
	Owner      string
	Clock      clock.Clock
	Logger     *zap.Logger
	Registerer prometheus.Registerer
}

func (c *Config) validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("Store is required"))
	}
	if c.Sender == nil {
		errs = append(errs, errors.New("Sender is required"))
	}
	if c.PollInterval < 0 || c.Lookahead < 0 || c.Lease < 0 || c.Concurrency < 0 || c.MaxHeld < 0 || c.RetryDelay < 0 {
		errs = append(errs, errors.New("durations and counts must not be negative"))
	}
	if c.Lease <= c.Lookahead {
		errs = append(errs, fmt.Errorf("Lease (%s) must be longer than Lookahead (%s)", c.Lease, c.Lookahead))
	}
	if len(errs) > 0 {
		return fmt.Errorf("scheduler: %w", errors.Join(errs...))
	}
	return nil
}

// Scheduler creates and manages dispatch jobs and, once started, fires
// them. One runs in every `herald serve` and `herald scheduler` process;
// any number of them share the work through Redis.
type Scheduler struct {
	cfg   Config
	clock clock.Clock
	log   *zap.Logger
	m     *metrics

	mu       sync.Mutex
	started  bool
	stopOnce sync.Once
	stopErr  error

	cancelLoop  context.CancelFunc
	loopDone    chan struct{}
	work        chan claim
	freed       chan struct{}
	fireCtx     context.Context
	cancelFires context.CancelFunc
	workers     sync.WaitGroup
	stopping    atomic.Bool
	outstanding atomic.Int64
	// pollFailures counts consecutive failed polls.
	pollFailures atomic.Int64
}

// New returns a Scheduler; Start runs its loop.
func New(cfg Config) (*Scheduler, error) {
	cfg.PollInterval = cmp.Or(cfg.PollInterval, 100*time.Millisecond)
	cfg.Lookahead = cmp.Or(cfg.Lookahead, 2*cfg.PollInterval)
	cfg.Lease = cmp.Or(cfg.Lease, max(5*time.Second, 2*cfg.Lookahead))
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 64)
	cfg.MaxHeld = cmp.Or(cfg.MaxHeld, 16*cfg.Concurrency)
	cfg.RetryDelay = cmp.Or(cfg.RetryDelay, time.Second)
	cfg.CacheWindow = cmp.Or(cfg.CacheWindow, 24*time.Hour)
	if cfg.Owner == "" {
		cfg.Owner = defaultOwner()
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Scheduler{
		cfg: cfg, clock: clock.Or(cfg.Clock), log: cmp.Or(cfg.Logger, zap.NewNop()).Named("scheduler"),
		m: newMetrics(cfg.Registerer),
	}, nil
}

func defaultOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", cmp.Or(host, "herald"), os.Getpid(), hex.EncodeToString(b[:]))
}

// Owner is this replica's name in its claims.
func (s *Scheduler) Owner() string { return s.cfg.Owner }

// Start runs the loop that claims and fires due jobs, until Stop.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("scheduler: already started")
	}
	if s.cfg.Workspaces == nil {
		return errors.New("scheduler: Config.Workspaces is required to fire jobs")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.started = true
	s.work = make(chan claim, s.cfg.MaxHeld)
	s.freed = make(chan struct{}, 1)
	s.fireCtx, s.cancelFires = context.WithCancel(context.Background())
	var loopCtx context.Context
	loopCtx, s.cancelLoop = context.WithCancel(context.Background())
	s.loopDone = make(chan struct{})
	for range s.cfg.Concurrency {
		s.workers.Add(1)
		go s.worker()
	}
	go s.loop(loopCtx)
	s.log.Info("scheduler started", zap.String("owner", s.cfg.Owner), zap.Duration("poll", s.cfg.PollInterval),
		zap.Duration("lease", s.cfg.Lease), zap.Int("concurrency", s.cfg.Concurrency))
	return nil
}

// Stop stops claiming, hands back the claims not yet firing (so another
// replica fires them on time), and waits for the fires in flight to
// commit. When ctx ends first, those fires are cancelled and handed back;
// their leases cover anything left.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	s.stopOnce.Do(func() {
		s.stopping.Store(true)
		s.cancelLoop()
		<-s.loopDone
		close(s.work)
		done := make(chan struct{})
		go func() {
			s.workers.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			s.cancelFires()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				s.stopErr = fmt.Errorf("scheduler: fires still running at stop: %w", ctx.Err())
			}
		}
		s.cancelFires()
		s.log.Info("scheduler stopped", zap.String("owner", s.cfg.Owner))
	})
	return s.stopErr
}

// claim is a claimed slot on its way to a worker.
type claim struct {
	logstore.Claim
	// waited: it was claimed ahead of its slot and held until then, so the
	// job may have been paused or cancelled since the claim checked it.
	waited bool
}

// claimHeap orders held claims by slot.
type claimHeap []claim

func (h claimHeap) Len() int           { return len(h) }
func (h claimHeap) Less(i, j int) bool { return h[i].Slot.Before(h[j].Slot) }
func (h claimHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *claimHeap) Push(x any)        { *h = append(*h, x.(claim)) }
func (h *claimHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// loop polls the due sets, holds claims until their slot and queues them
// for the workers. Claims are bounded by MaxHeld, so the queue never
// blocks.
func (s *Scheduler) loop(ctx context.Context) {
	defer close(s.loopDone)
	held := &claimHeap{}
	var nextPoll time.Time // wall clock: polling paces real work, whatever the injected clock says
	var hot []string       // workspaces that had more due jobs than the last claim took
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			s.releaseHeld(held)
			return
		}
		now := s.clock.Now()
		for held.Len() > 0 && !(*held)[0].Slot.After(now) {
			c := heap.Pop(held).(claim)
			c.waited = true
			s.enqueue(ctx, c)
		}
		room := s.cfg.MaxHeld - int(s.outstanding.Load())
		fullPoll := !time.Now().Before(nextPoll)
		if room > 0 && (fullPoll || len(hot) > 0) {
			wss := hot
			if fullPoll {
				wss = s.cfg.Workspaces()
				nextPoll = time.Now().Add(s.cfg.PollInterval)
			}
			hot = s.poll(ctx, now, wss, room, held)
		}
		wait := time.Until(nextPoll)
		if len(hot) > 0 && s.cfg.MaxHeld-int(s.outstanding.Load()) > 0 {
			wait = 0
		}
		if held.Len() > 0 {
			wait = min(wait, (*held)[0].Slot.Sub(s.clock.Now()))
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
		case <-timer.C:
		case <-s.freed:
		}
	}
}

// poll claims due jobs of wss, sharing room between them, and returns the
// workspaces that had more.
func (s *Scheduler) poll(ctx context.Context, now time.Time, wss []string, room int, held *claimHeap) []string {
	if len(wss) == 0 {
		return nil
	}
	per := max((room+len(wss)-1)/len(wss), 1)
	pctx, cancel := context.WithTimeout(ctx, max(s.cfg.Lease/2, time.Second))
	defer cancel()
	claims, full, err := s.cfg.Store.ClaimJobs(pctx, logstore.ClaimRequest{
		Workspaces: wss, Now: now, Horizon: now.Add(s.cfg.Lookahead), Lease: s.cfg.Lease, Limit: per, Owner: s.cfg.Owner,
	})
	if err != nil {
		if ctx.Err() == nil {
			s.m.claimErrors.Inc()
			// Once when it starts failing, then every 100th poll: not ten lines a second.
			if n := s.pollFailures.Add(1); n == 1 || n%100 == 0 {
				s.log.Warn("polling due jobs failed; retrying", zap.Error(err), zap.Int64("failures", n))
			}
		}
		return nil
	}
	if n := s.pollFailures.Swap(0); n > 0 {
		s.log.Info("polling due jobs works again", zap.Int64("failures", n))
	}
	s.outstanding.Add(int64(len(claims)))
	s.m.claimed.Add(float64(len(claims)))
	s.m.held.Set(float64(s.outstanding.Load()))
	for _, c := range claims {
		if c.Slot.After(now) {
			heap.Push(held, claim{Claim: c})
		} else {
			s.enqueue(ctx, claim{Claim: c})
		}
	}
	return full
}

// enqueue hands a claim to the workers. The queue has room for MaxHeld
// claims, so this waits only when a poll overshot by a few; at stop the
// claim is handed back instead.
func (s *Scheduler) enqueue(ctx context.Context, c claim) {
	select {
	case s.work <- c:
	case <-ctx.Done():
		s.release(c.Claim, c.Slot)
		s.done()
	}
}

// releaseHeld hands back the claims waiting for their slot at stop.
func (s *Scheduler) releaseHeld(held *claimHeap) {
	for held.Len() > 0 {
		c := heap.Pop(held).(claim)
		s.release(c.Claim, c.Slot)
		s.done()
	}
}

func (s *Scheduler) worker() {
	defer s.workers.Done()
	for c := range s.work {
		if s.stopping.Load() {
			s.release(c.Claim, s.clock.Now())
		} else {
			s.fire(c)
		}
		s.done()
	}
}

// done marks one claim finished and wakes the loop if it was out of room.
func (s *Scheduler) done() {
	s.m.held.Set(float64(s.outstanding.Add(-1)))
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

// release hands a claim back, due again at at.
func (s *Scheduler) release(c logstore.Claim, at time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := s.cfg.Store.ReleaseClaim(ctx, c.Workspace, c.JobID, c.Slot, s.cfg.Owner, at); err != nil {
		// The lease covers it: another replica takes the job when it ends.
		s.log.Warn("could not hand a claim back; its lease will expire", zap.String("job_id", c.JobID), zap.Error(err))
	}
}
