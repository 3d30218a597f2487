package logstore

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/internal/ids"
)

var (
	//go:embed lua/create.lua
	createLua string
	//go:embed lua/attempt.lua
	attemptLua string
	//go:embed lua/state.lua
	stateLua string
	//go:embed lua/transition.lua
	transitionLua string
	//go:embed lua/query.lua
	queryLua string
	//go:embed lua/claim.lua
	claimLua string
	//go:embed lua/retry_claim.lua
	retryClaimLua string
	//go:embed lua/retry_done.lua
	retryDoneLua string
)

var (
	createScript     = newScript(createLua)
	attemptScript    = newScript(stateLua + attemptLua)
	transitionScript = newScript(stateLua + transitionLua)
	queryScript      = newScript(queryLua)
	claimScript      = newScript(claimLua)
	retryClaimScript = newScript(stateLua + retryClaimLua)
	retryDoneScript  = newScript(retryDoneLua)
)

// newScript wraps a script: run by EVALSHA, falling back to EVAL when Redis
// does not know it yet.
func newScript(src string) *redis.Script { return redis.NewScript(src) }

// scriptCall is one invocation of a script.
type scriptCall struct {
	keys []string
	args []any
}

// pipeline runs many calls of one script in a single round trip. Calls
// that Redis refused because it lost the script (restart, SCRIPT FLUSH)
// did not run; the script is loaded and only those run again.
func (s *Store) pipeline(ctx context.Context, sc *redis.Script, calls []scriptCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	todo := make([]int, len(calls))
	for i := range todo {
		todo[i] = i
	}
	for round := 0; round < 2 && len(todo) > 0; round++ {
		if round > 0 {
			if err := sc.Load(ctx, s.rdb).Err(); err != nil {
				break
			}
		}
		pipe := s.rdb.Pipeline()
		for _, i := range todo {
			cmds[i] = sc.EvalSha(ctx, pipe, calls[i].keys, calls[i].args...)
		}
		_, _ = pipe.Exec(ctx)
		var again []int
		for _, i := range todo {
			if err := cmds[i].Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				again = append(again, i)
			}
		}
		todo = again
	}
	return cmds
}

// Config configures a Store. Zero values mean the documented defaults.
type Config struct {
	// Prefix starts every key. Default "herald".
	Prefix string
	// Retention is how long entries and attempts live. Default 90 days.
	Retention time.Duration
	// AttemptsCap is how many attempts a message keeps (the newest). Default 1000.
	AttemptsCap int
	// Clock is the time source. Default the wall clock.
	Clock clock.Clock
	// SegmentSize is how many sequence numbers one index segment covers: a
	// power of two, default 65536. Smaller only in tests.
	SegmentSize int64
	// CreateDeadline is how long after a batch of creates starts Redis may
	// still apply it; a create reaching Redis later writes nothing
	// (create.lua). Default 10s, the batch's own timeout: a batch is never
	// refused while its callers still wait for it.
	CreateDeadline time.Duration
}

// Store is the log store on one Redis (or Redis Cluster).
type Store struct {
	rdb       redis.UniversalClient
	keys      keys
	retention time.Duration
	cap       int
	clock     clock.Clock
	seg       int64
	deadline  time.Duration

	creates  *batcher[*NewEntry, Created]
	attempts *batcher[AttemptRecord, AttemptResult]
	claims   *batcher[ClaimRecord, ClaimResult]
	rates    *batcher[RateDebit, time.Time]
}

// New returns a Store using rdb.
func New(rdb redis.UniversalClient, cfg Config) *Store {
	s := &Store{
		rdb:       rdb,
		keys:      keys{prefix: cmp.Or(cfg.Prefix, "herald")},
		retention: cmp.Or(cfg.Retention, 90*24*time.Hour),
		cap:       cmp.Or(cfg.AttemptsCap, 1000),
		clock:     clock.Or(cfg.Clock),
		seg:       cmp.Or(cfg.SegmentSize, segmentSize),
		deadline:  cmp.Or(cfg.CreateDeadline, batchTimeout),
	}
	s.creates = newBatcher(256, s.CreateMany)
	s.attempts = newBatcher(256, s.RecordAttempts)
	s.claims = newBatcher(256, s.ClaimMany)
	s.rates = newBatcher(256, s.DebitRates)
	return s
}

// Close stops the store's batching goroutines (started by the first
// Create or RecordAttempt). Calls after Close fail.
func (s *Store) Close() {
	s.creates.close()
	s.attempts.close()
	s.claims.close()
	s.rates.close()
}

// Retention returns the retention window.
func (s *Store) Retention() time.Duration { return s.retention }

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.rdb.Ping(ctx).Err()
}

// NewEntry is what Create needs to write a pending entry.
type NewEntry struct {
	ID              string
	Workspace       string
	ProductID       string
	ProductTag      string
	Env             string
	NotificationTag string
	Notification    string
	Type            string
	ProcessID       string
	CampaignID      string
	TriggeredBy     string
	Session         string
	Retries         int
	Input           json.RawMessage
	// Cache is the idempotency tag shown on the entry; CacheWindow how long
	// it holds. CacheKey, when set, is what is deduplicated on instead (a
	// multi-channel send dedupes each channel under its own key).
	Cache       string
	CacheKey    string
	CacheWindow time.Duration
	// Head marks the first message of a send: send logs are indexed by it.
	Head bool
}

// Created is the result of Create.
type Created struct {
	ID        string
	Seq       int64
	CreatedAt time.Time
	// Deduplicated is true when Cache named an entry made earlier inside
	// its window; ID is then that entry's id and nothing was written.
	Deduplicated bool
	// Existed is true when an entry with this id was already there (a
	// deterministic id made twice, e.g. two schedulers firing one slot);
	// Status is then its current status and nothing was written.
	Existed bool
	Status  string
}

// Create writes a pending entry and its indexes in one atomic step, or
// returns the entry an unexpired cache tag already points at. Concurrent
// calls share pipelines (see batcher).
func (s *Store) Create(ctx context.Context, e *NewEntry) (Created, error) {
	s.creates.start(2)
	return s.creates.do(ctx, e)
}

// CreateMany is Create for many entries: one script call per workspace,
// all in one pipelined round trip. The result and error of each entry are
// at its index.
func (s *Store) CreateMany(ctx context.Context, es []*NewEntry) ([]Created, []error) {
	out, errs := make([]Created, len(es)), make([]error, len(es))
	groups := map[string][]int{}
	var order []string
	var calls []scriptCall
	for i, e := range es {
		if len(e.ID) != idLen {
			errs[i] = fmt.Errorf("logstore: id %q is not a ULID", e.ID)
			continue
		}
		if _, ok := groups[e.Workspace]; !ok {
			order = append(order, e.Workspace)
		}
		groups[e.Workspace] = append(groups[e.Workspace], i)
	}
	// Redis applies none of these after the deadline: a caller told that
	// its create failed can wait the deadline out and know for sure.
	deadline := time.Now().Add(s.deadline)
	for _, ws := range order {
		args := []any{s.seg, s.keys.base(ws), s.clock.Now().UnixMilli(), s.retention.Milliseconds(), int64(0), deadline.UnixMilli()}
		for _, i := range groups[ws] {
			e := es[i]
			hdr, err := json.Marshal(header{
				ID: e.ID, PID: e.ProductID, PT: e.ProductTag, Env: e.Env, NT: e.NotificationTag,
				N: e.Notification, Ty: e.Type, Proc: e.ProcessID, Camp: e.CampaignID,
				R: e.Retries, Ses: e.Session, Ch: e.Cache, DN: destinationCount(e.Type, e.Input),
			})
			if err != nil {
				return out, fill(errs, fmt.Errorf("logstore: encode entry: %w", err))
			}
			input := e.Input
			if len(input) == 0 {
				input = json.RawMessage("{}")
			}
			cache := ""
			if tag := cmp.Or(e.CacheKey, e.Cache); tag != "" {
				cache = s.keys.cacheSuffix(tag)
			}
			terms := entryTerms(StatusPending, e.Type, e.Env, e.ProductTag, e.ProductID, e.NotificationTag)
			if e.Head {
				terms = append(terms, headTerm)
			}
			args = append(args, e.ID, hdr, []byte(input), e.ProcessID, e.CampaignID,
				oneLine(strings.ReplaceAll(e.TriggeredBy, "|", "")), cache, len(terms))
			for _, t := range terms {
				args = append(args, t)
			}
		}
		// One cache window per call: the longest asked for in the group.
		var window time.Duration
		for _, i := range groups[ws] {
			window = max(window, cmp.Or(es[i].CacheWindow, 24*time.Hour))
		}
		args[4] = window.Milliseconds()
		calls = append(calls, scriptCall{keys: []string{s.keys.meta(ws)}, args: args})
	}
	for g, cmd := range s.pipeline(ctx, createScript, calls) {
		idx := groups[order[g]]
		res, err := cmd.Slice()
		if err == nil && len(res) == 1 {
			err = errors.New("reached Redis after its deadline; nothing written")
		} else if err == nil && len(res) != 4*len(idx) {
			err = fmt.Errorf("answer of %d values for %d entries", len(res), len(idx))
		}
		if err != nil {
			for _, i := range idx {
				errs[i] = &CreateError{Deadline: deadline, Err: err, Unsent: unsent(err)}
			}
			continue
		}
		for k, i := range idx {
			out[i], errs[i] = s.created(ctx, es[i], res[4*k:4*k+4])
		}
	}
	return out, errs
}

func fill(errs []error, err error) []error {
	for i := range errs {
		if errs[i] == nil {
			errs[i] = err
		}
	}
	return errs
}

func (s *Store) created(ctx context.Context, e *NewEntry, res []any) (Created, error) {
	switch res[0].(int64) {
	case 0:
		return Created{ID: res[1].(string), Deduplicated: true}, nil
	case 2:
		got, err := s.Get(ctx, e.Workspace, e.ID)
		if err != nil {
			return Created{}, err
		}
		return Created{ID: got.ID, Seq: got.Seq, CreatedAt: got.CreatedAt, Existed: true, Status: got.Status}, nil
	}
	return Created{ID: e.ID, Seq: res[2].(int64), CreatedAt: time.UnixMilli(res[3].(int64)).UTC()}, nil
}

// CreateError is a create whose outcome the caller did not see: the
// entry may or may not have been written, but Redis writes nothing of it
// after Deadline (wall clock). Until then an entry may still appear.
type CreateError struct {
	Deadline time.Time
	Err      error
	// Unsent: the call never reached Redis (it could not connect), so
	// nothing was or will be written: no need to wait for Deadline.
	Unsent bool
}

func (e *CreateError) Error() string { return "logstore: create: " + e.Err.Error() }

func (e *CreateError) Unwrap() error { return e.Err }

// headTerm marks the first message of each send.
const headTerm = "hd:1"

// undeliveredTerm marks messages with an error that are not sent; the
// attempt and transition scripts keep it current.
const undeliveredTerm = "un:1"

// entryTerms lists the bitmap terms of an entry; the order does not matter.
func entryTerms(status, typ, env, productTag, productID, notificationTag string) []string {
	t := []string{term("st", status), term("ty", typ), term("env", env), term("pt", productTag), term("nt", notificationTag)}
	if productID != "" {
		t = append(t, term("pid", productID))
	}
	return t
}

// Get returns one entry of a workspace. An id of another workspace, an
// expired or unknown id answer ErrNotFound.
func (s *Store) Get(ctx context.Context, ws, id string) (*Entry, error) {
	if !ids.Valid(id) {
		return nil, ErrNotFound
	}
	if s.expired(id) {
		return nil, ErrRetentionExpired
	}
	raw, err := s.rdb.Get(ctx, s.keys.entry(ws, id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("logstore: get: %w", err)
	}
	return decodeEntry(ws, raw)
}

// Outcome of a delivery attempt.
type Outcome string

// Outcomes of RecordAttempt.
const (
	OutcomeSent  Outcome = "ok"
	OutcomeRetry Outcome = "retry"
	OutcomeFail  Outcome = "fail"
	// OutcomeDefer puts the message back in the retry due set after
	// AttemptRecord.DeferFor, with no attempt recorded (its endpoint was at
	// its in-flight cap).
	OutcomeDefer Outcome = "defer"
	// OutcomeRelease only gives the delivery's lease back (a delivery cut
	// short by shutdown and handed back to JetStream).
	OutcomeRelease Outcome = "release"
)

// AttemptResult tells the worker what RecordAttempt did.
type AttemptResult struct {
	// Status is the entry's status afterwards.
	Status string
	// Attempts is the number of attempts recorded so far; GenerationAttempts
	// those since the last reprocess, which retries are counted against.
	Attempts           int
	GenerationAttempts int
	// RetryIn is the delay before the next attempt when the entry stays in
	// flight for a retry.
	RetryIn time.Duration
	// Applied is false when nothing was written: the entry is gone
	// (Missing), was reprocessed since (Stale), or is no longer in flight.
	Applied bool
	Missing bool
	Stale   bool
}

// Backoff is the retry schedule: Initial * 2^(attempt-1), capped at Max,
// times Jitter (a multiplier around 1 the caller draws), and never less
// than MinDelay (a provider's Retry-After).
type Backoff struct {
	Initial, Max time.Duration
	Jitter       float64
	MinDelay     time.Duration
}

// AttemptRecord is one RecordAttempt call, for RecordAttempts.
type AttemptRecord struct {
	Workspace, ID string
	Generation    int
	Attempt       Attempt
	Outcome       Outcome
	MaxAttempts   int
	Backoff       Backoff
	// Token is the delivery's lease (Claim); the record gives it back.
	Token string
	// DeferFor is the delay of OutcomeDefer.
	DeferFor time.Duration
}

// RecordAttempt appends an attempt and applies its outcome in one atomic
// step: OutcomeSent moves the entry to sent; OutcomeRetry keeps it in
// flight, with the next attempt due after the backoff, unless maxAttempts
// is reached, then it becomes failed; OutcomeFail makes it failed.
// Concurrent calls share pipelines (see batcher).
func (s *Store) RecordAttempt(ctx context.Context, ws, id string, generation int, a Attempt, outcome Outcome, maxAttempts int, b Backoff) (AttemptResult, error) {
	return s.Record(ctx, AttemptRecord{Workspace: ws, ID: id, Generation: generation, Attempt: a, Outcome: outcome, MaxAttempts: maxAttempts, Backoff: b})
}

// Record is RecordAttempt with every field of the record (lease token,
// defer and release outcomes).
func (s *Store) Record(ctx context.Context, r AttemptRecord) (AttemptResult, error) {
	s.attempts.start(2)
	return s.attempts.do(ctx, r)
}

// RecordAttempts is RecordAttempt for many messages: one script call per
// workspace (each record still one atomic step), all in one pipelined
// round trip; the worker's concurrent deliveries share it.
func (s *Store) RecordAttempts(ctx context.Context, recs []AttemptRecord) ([]AttemptResult, []error) {
	out, errs := make([]AttemptResult, len(recs)), make([]error, len(recs))
	groups := map[string][]int{}
	var order []string
	for i, r := range recs {
		if _, ok := groups[r.Workspace]; !ok {
			order = append(order, r.Workspace)
		}
		groups[r.Workspace] = append(groups[r.Workspace], i)
	}
	calls := make([]scriptCall, 0, len(order))
	for _, ws := range order {
		args := []any{s.seg, s.keys.base(ws), s.clock.Now().UnixMilli(), s.cap}
		for _, i := range groups[ws] {
			rec, err := s.attemptArgs(recs[i])
			if err != nil {
				return out, fill(errs, err)
			}
			args = append(args, rec...)
		}
		calls = append(calls, scriptCall{keys: []string{s.keys.meta(ws)}, args: args})
	}
	for g, cmd := range s.pipeline(ctx, attemptScript, calls) {
		idx := groups[order[g]]
		res, err := cmd.Slice()
		if err == nil && len(res) != 5*len(idx) {
			err = fmt.Errorf("answer of %d values for %d records", len(res), len(idx))
		}
		if err != nil {
			for _, i := range idx {
				errs[i] = fmt.Errorf("logstore: record attempt: %w", err)
			}
			continue
		}
		for k, i := range idx {
			out[i] = attemptResult(res[5*k : 5*k+5])
		}
	}
	return out, errs
}

// attemptArgs are the 13 script arguments of one record.
func (s *Store) attemptArgs(r AttemptRecord) ([]any, error) {
	if r.Outcome == OutcomeDefer || r.Outcome == OutcomeRelease {
		return []any{r.ID, r.Generation, string(r.Outcome), 0, "", "", "", 0, 0, 1, 0, r.Token, r.DeferFor.Milliseconds()}, nil
	}
	a := r.Attempt
	if len(a.ResponseBody) > MaxResponseBody {
		a.ResponseBody = a.ResponseBody[:MaxResponseBody]
	}
	a.Error = cutError(a.Error)
	if a.AttemptedAt.IsZero() {
		a.AttemptedAt = s.clock.Now()
	}
	if a.ID == "" {
		a.ID = "att_" + ids.New(a.AttemptedAt)
	}
	a.Generation = r.Generation
	body, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("logstore: encode attempt: %w", err)
	}
	jitter := r.Backoff.Jitter
	if jitter <= 0 {
		jitter = 1
	}
	return []any{r.ID, r.Generation, string(r.Outcome), r.MaxAttempts, oneLine(a.ErrorCode), oneLine(a.Error), body,
		r.Backoff.Initial.Milliseconds(), r.Backoff.Max.Milliseconds(), jitter, r.Backoff.MinDelay.Milliseconds(), r.Token, int64(0)}, nil
}

func attemptResult(res []any) AttemptResult {
	st := res[1].(string)
	switch res[0].(string) {
	case "missing":
		return AttemptResult{Missing: true}
	case "stale":
		return AttemptResult{Stale: true, Status: st}
	case "done":
		return AttemptResult{Status: st}
	}
	return AttemptResult{Status: st, Attempts: int(res[2].(int64)),
		RetryIn: time.Duration(res[3].(int64)) * time.Millisecond, GenerationAttempts: int(res[4].(int64)), Applied: true}
}

// Change describes a Transition.
type Change struct {
	// To is the new status; empty keeps the status and only sets the error fields.
	To string
	// From lists the statuses the entry may be in; anything else is ErrConflict.
	From []string
	// SetError replaces ErrorCode and Error (empty strings clear them).
	SetError  bool
	ErrorCode string
	Error     string
	// NewGeneration starts a reprocessing generation, with TriggeredBy.
	NewGeneration bool
	TriggeredBy   string
	// Generation, when non-nil, must match the entry's.
	Generation *int
	// ReleaseCache frees the entry's idempotency tag, so that the caller
	// may send again (used when a publish failed).
	ReleaseCache string
	// Untouched applies the change only if no delivery of the entry's
	// generation has started (no attempt, none scheduled, no lease held);
	// otherwise the answer is ErrTouched. A producer abandons a message
	// whose publish it could not confirm this way.
	Untouched bool
}

// Transition changes an entry's status in one atomic step and returns its
// status and generation afterwards.
func (s *Store) Transition(ctx context.Context, ws, id string, c Change) (status string, generation int, err error) {
	from := ""
	for i, f := range c.From {
		if i > 0 {
			from += ","
		}
		from += f
	}
	cacheKey := ""
	if c.ReleaseCache != "" {
		cacheKey = s.keys.cache(ws, c.ReleaseCache)
	}
	gen := ""
	if c.Generation != nil {
		gen = fmt.Sprint(*c.Generation)
	}
	keys := []string{s.keys.entry(ws, id)}
	if cacheKey != "" {
		keys = append(keys, cacheKey)
	}
	res, err := transitionScript.Run(ctx, s.rdb, keys,
		s.seg, s.keys.base(ws), s.clock.Now().UnixMilli(), c.To, from, boolArg(c.SetError), oneLine(c.ErrorCode), oneLine(cutError(c.Error)),
		boolArg(c.NewGeneration), oneLine(strings.ReplaceAll(c.TriggeredBy, "|", "")), gen, boolArg(c.Untouched)).Slice()
	if err != nil {
		return "", 0, fmt.Errorf("logstore: transition: %w", err)
	}
	switch res[0].(string) {
	case "missing":
		return "", 0, ErrNotFound
	case "conflict":
		return res[1].(string), 0, fmt.Errorf("%w: entry is %s", ErrConflict, res[1].(string))
	case "touched":
		return res[1].(string), 0, ErrTouched
	}
	return res[1].(string), int(res[2].(int64)), nil
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Attempts returns up to limit attempts of a message, oldest first, after
// the attempt with id after (all when empty), and whether more follow. An
// after that is none of the message's attempts is ErrBadCursor.
func (s *Store) Attempts(ctx context.Context, ws, id, after string, limit int) ([]Attempt, bool, int, error) {
	if _, err := s.Get(ctx, ws, id); err != nil {
		return nil, false, 0, err
	}
	raws, err := s.rdb.LRange(ctx, s.keys.attempts(ws, id), 0, -1).Result()
	if err != nil {
		return nil, false, 0, fmt.Errorf("logstore: attempts: %w", err)
	}
	all := make([]Attempt, 0, len(raws))
	for _, r := range raws {
		var a Attempt
		if err := json.Unmarshal([]byte(r), &a); err != nil {
			return nil, false, 0, fmt.Errorf("logstore: corrupt attempt: %w", err)
		}
		all = append(all, a)
	}
	start := 0
	if after != "" {
		start = -1
		for i, a := range all {
			if a.ID == after {
				start = i + 1
				break
			}
		}
		if start < 0 {
			// Not an attempt of this message (or one trimmed past the cap):
			// an empty page would read as "no more attempts".
			return nil, false, 0, fmt.Errorf("%w: no attempt %q", ErrBadCursor, after)
		}
	}
	page := all[start:]
	more := len(page) > limit
	if more {
		page = page[:limit]
	}
	return page, more, len(all), nil
}

// expired reports whether the time in a message id is past retention: such
// an id answers ErrRetentionExpired without a lookup.
func (s *Store) expired(id string) bool {
	t, ok := ids.Time(id)
	return ok && t.Before(s.clock.Now().Add(-s.retention))
}

// unsent reports whether a command failed before reaching Redis: the
// connection could not be made.
func unsent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
