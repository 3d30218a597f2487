package scheduler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zones work in minimal containers without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"

	"github.com/heraldhq/herald/producer"
)

// Bounds of a schedule (README "Dispatch").
const (
	// MinEvery is the shortest `every`: one fire per second per job.
	MinEvery = time.Second
	// MaxEvery is the longest `every`.
	MaxEvery = 10 * 366 * 24 * time.Hour
	// MaxLimit is the largest `limit`.
	MaxLimit = 1_000_000_000
	maxCron  = 256
	maxTZ    = 64
)

// Times before 1970 or after 9999 are refused.
var (
	minTime = time.UnixMilli(0).UTC()
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)
)

// Schedule says when a job fires: once at StartAt; every Every from
// StartAt (or from one interval after creation); or on a Cron expression
// in zone TZ, from StartAt if given. Limit caps the number of fires and no
// slot is later than EndDate.
type Schedule struct {
	StartAt time.Time
	Cron    string
	Every   time.Duration
	Limit   int
	EndDate time.Time
	// TZ is the IANA zone of Cron ("" is UTC). `every` and one-shot jobs
	// fire at instants, whatever the zone.
	TZ string

	// anchor is a slot of an `every` schedule; every slot is anchor + k*Every.
	anchor time.Time
	loc    *time.Location
	spec   *cron.SpecSchedule // in loc
	wall   *cron.SpecSchedule // the same fields over wall-clock time (UTC)
	// realTime: the hour field matches every hour, so the schedule follows
	// elapsed time through DST changes (see cronNext).
	realTime bool
}

// scheduleInput is the `schedule` object of a dispatch body.
type scheduleInput struct {
	StartAt json.RawMessage `json:"start_at"`
	Cron    *string         `json:"cron"`
	Every   json.RawMessage `json:"every"`
	Limit   json.RawMessage `json:"limit"`
	EndDate json.RawMessage `json:"endDate"`
	TZ      *string         `json:"tz"`
}

func invalid(field, format string, args ...any) error {
	return &producer.InvalidError{Code: "invalid_argument", Field: field, Message: fmt.Sprintf(format, args...)}
}

// ParseSchedule reads the `schedule` object of a dispatch body. Every
// problem is a *producer.InvalidError naming the field ("schedule.cron").
// It never panics, whatever the input.
func ParseSchedule(raw json.RawMessage) (*Schedule, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, invalid("schedule", "required: an object with start_at, cron or every")
	}
	var in scheduleInput
	if err := producer.DecodeStrict(raw, &in); err != nil {
		return nil, reroot(err, "schedule")
	}
	s := &Schedule{}
	var err error
	if s.StartAt, err = parseTime(in.StartAt, "schedule.start_at"); err != nil {
		return nil, err
	}
	if s.EndDate, err = parseTime(in.EndDate, "schedule.endDate"); err != nil {
		return nil, err
	}
	if in.TZ != nil {
		s.TZ = strings.TrimSpace(*in.TZ)
	}
	if s.loc, err = loadZone(s.TZ); err != nil {
		return nil, invalid("schedule.tz", "%v", err)
	}
	if n, ok, err := parseWhole(in.Every, "schedule.every", "milliseconds"); err != nil {
		return nil, err
	} else if ok {
		if n < MinEvery.Milliseconds() {
			return nil, invalid("schedule.every", "at least %d (milliseconds); got %d", MinEvery.Milliseconds(), n)
		}
		if n > MaxEvery.Milliseconds() {
			return nil, invalid("schedule.every", "at most %d milliseconds (10 years)", MaxEvery.Milliseconds())
		}
		s.Every = time.Duration(n) * time.Millisecond
	}
	if n, ok, err := parseWhole(in.Limit, "schedule.limit", "runs"); err != nil {
		return nil, err
	} else if ok {
		if n < 1 || n > MaxLimit {
			return nil, invalid("schedule.limit", "want 1 to %d runs; leave it out for no limit", MaxLimit)
		}
		s.Limit = int(n)
	}
	if in.Cron != nil {
		if s.Every > 0 {
			return nil, invalid("schedule.cron", "give either cron or every, not both")
		}
		s.Cron = strings.TrimSpace(*in.Cron)
		if err := s.compileCron(); err != nil {
			return nil, invalid("schedule.cron", "%v", err)
		}
	}
	if s.Cron == "" && s.Every == 0 && s.StartAt.IsZero() {
		return nil, invalid("schedule", "give start_at (once), every (milliseconds) or cron")
	}
	if !s.EndDate.IsZero() && !s.StartAt.IsZero() && s.EndDate.Before(s.StartAt) {
		return nil, invalid("schedule.endDate", "endDate is before start_at")
	}
	return s, nil
}

// reroot puts a decoder error's field under root.
func reroot(err error, root string) error {
	var inv *producer.InvalidError
	if errors.As(err, &inv) {
		out := *inv
		out.Field = strings.TrimSuffix(root+"."+inv.Field, ".")
		return &out
	}
	return err
}

// parseTime reads RFC 3339 or Unix milliseconds (a number or a string of
// digits); absent or null is the zero time.
func parseTime(raw json.RawMessage, field string) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, invalid(field, "want an RFC 3339 time or Unix milliseconds")
		}
	} else {
		s = string(raw)
	}
	var t time.Time
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		t = time.UnixMilli(n).UTC()
		if n < 0 || t.After(maxTime) {
			return time.Time{}, invalid(field, "Unix milliseconds out of range")
		}
		return t, nil
	}
	if raw[0] != '"' {
		return time.Time{}, invalid(field, "want an RFC 3339 time (2026-01-31T09:00:00Z) or whole Unix milliseconds")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid(field, "want an RFC 3339 time (2026-01-31T09:00:00Z) or Unix milliseconds")
	}
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, invalid(field, "out of range (1970 to 9999)")
	}
	return t.UTC().Truncate(time.Millisecond), nil
}

// parseWhole reads a whole JSON number; ok is false when absent or null.
func parseWhole(raw json.RawMessage, field, unit string) (n int64, ok bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, false, invalid(field, "want a whole number of %s", unit)
	}
	if f != math.Trunc(f) || math.Abs(f) > 1e15 {
		return 0, false, invalid(field, "want a whole number of %s", unit)
	}
	return int64(f), true, nil
}

// loadZone loads an IANA zone; "" and "UTC" are UTC. "Local" is refused:
// it would mean the zone of whichever replica fires.
func loadZone(name string) (*time.Location, error) {
	switch {
	case name == "" || name == "UTC":
		return time.UTC, nil
	case len(name) > maxTZ:
		return nil, fmt.Errorf("unknown time zone (want an IANA name such as Europe/Berlin)")
	case strings.EqualFold(name, "local"):
		return nil, fmt.Errorf("name the zone (an IANA name such as Europe/Berlin), not Local")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Berlin)", name)
	}
	return loc, nil
}

// cronParser: 5 fields, an optional leading seconds field (6), and the
// descriptors @yearly, @monthly, @weekly, @daily, @midnight, @hourly.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

const allHours = 1<<24 - 1

func (s *Schedule) compileCron() (err error) {
	spec := s.Cron
	switch {
	case spec == "":
		return errors.New("empty; want 5 fields (minute hour day month weekday), 6 with seconds, or @daily etc.")
	case len(spec) > maxCron:
		return fmt.Errorf("longer than %d characters", maxCron)
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return errors.New("put the zone in schedule.tz, not in the expression")
	case strings.HasPrefix(spec, "@every"):
		return errors.New("for fixed intervals use schedule.every (milliseconds)")
	}
	defer func() {
		// The parser is third-party: a panic on odd input is a 400, never a crash.
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot parse %q", spec)
		}
	}()
	parsed, err := cronParser.Parse(spec)
	if err != nil {
		return fmt.Errorf("%v; want 5 fields (minute hour day month weekday), 6 with seconds, or @daily etc.", err)
	}
	ss, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return fmt.Errorf("unsupported expression %q", spec)
	}
	loc, wall := *ss, *ss
	loc.Location, wall.Location = s.location(), time.UTC
	s.spec, s.wall = &loc, &wall
	s.realTime = ss.Hour&allHours == allHours
	return nil
}

func (s *Schedule) location() *time.Location {
	if s.loc == nil {
		return time.UTC
	}
	return s.loc
}

// start fixes the schedule of a job created at now and returns its first
// slot (zero when it would never fire). A one-shot job whose start_at has
// passed fires at once; an `every` job without start_at first fires one
// interval after now.
func (s *Schedule) start(now time.Time) time.Time {
	now = now.UTC().Truncate(time.Millisecond)
	if s.Every > 0 {
		s.anchor = s.StartAt
		if s.anchor.IsZero() {
			s.anchor = now.Add(s.Every)
		}
	}
	if s.Cron == "" && s.Every == 0 {
		first := s.StartAt
		if first.Before(now) {
			first = now
		}
		return s.bound(first)
	}
	return s.Next(now.Add(-time.Millisecond))
}

// Next returns the first slot strictly after t, or the zero time when none
// is left (past EndDate, a one-shot already due, a cron that never matches
// again within five years). Limit is not its business: the commit counts.
func (s *Schedule) Next(t time.Time) (next time.Time) {
	defer func() {
		if recover() != nil {
			next = time.Time{}
		}
	}()
	switch {
	case s.spec != nil:
		from := t
		if !s.StartAt.IsZero() && s.StartAt.After(t) {
			from = s.StartAt.Add(-time.Millisecond)
		}
		next = s.cronNext(from)
	case s.Every > 0:
		a, e, tm := s.anchor.UnixMilli(), s.Every.Milliseconds(), t.UnixMilli()
		if tm < a {
			next = s.anchor
		} else {
			next = time.UnixMilli(a + ((tm-a)/e+1)*e).UTC()
		}
	default:
		if s.StartAt.After(t) {
			next = s.StartAt
		}
	}
	return s.bound(next)
}

func (s *Schedule) bound(t time.Time) time.Time {
	if t.IsZero() || t.After(maxTime) || (!s.EndDate.IsZero() && t.After(s.EndDate)) {
		return time.Time{}
	}
	return t.UTC()
}

// cronNext is the first cron slot strictly after t, with daylight saving
// time done as people expect:
//
//   - An expression with fixed hours (`30 2 * * *`) names wall-clock times.
//     Each fires once per matching day: a time skipped by a spring-forward
//     change fires at the same distance after the change (02:30 becomes
//     03:30 when 02:00 jumps to 03:00), and a time that occurs twice in a
//     fall-back change fires at its first occurrence only — RFC 5545's
//     rules for recurring events.
//   - An expression whose hour field is `*` (`*/15 * * * *`, `@hourly`)
//     follows elapsed time: it fires in both passes of a repeated hour and
//     has nothing to fire in a skipped one.
//
// robfig/cron's own Next, which follows elapsed time, would skip the 02:30
// job on the spring-forward day and fire it twice on the fall-back day.
func (s *Schedule) cronNext(t time.Time) time.Time {
	if s.realTime {
		return s.spec.Next(t.In(s.location())).UTC()
	}
	loc := s.location()
	w := wallClock(t.In(loc))
	for range 4 {
		nw := s.wall.Next(w)
		if nw.IsZero() {
			return time.Time{}
		}
		if at := place(nw, loc); at.After(t) {
			return at.UTC()
		}
		// The wall time placed at or before t (its first occurrence was
		// already passed in a fall-back hour, or a skipped time shifted
		// onto a slot already fired): the next one.
		w = nw
	}
	return time.Time{}
}

// wallClock returns t's wall-clock reading as a UTC time.
func wallClock(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	return time.Date(y, mo, d, h, mi, sec, t.Nanosecond(), time.UTC)
}

// place returns the instant a wall-clock reading w (held in UTC fields)
// names in loc: its first occurrence when it occurs twice, and for a
// reading that does not exist (skipped by a change to a larger offset) the
// instant it names with the offset in force before the change.
func place(w time.Time, loc *time.Location) time.Time {
	var offsets []int
	for _, probe := range []time.Time{w.Add(-36 * time.Hour), w, w.Add(36 * time.Hour)} {
		_, off := probe.In(loc).Zone()
		if !containsInt(offsets, off) {
			offsets = append(offsets, off)
		}
	}
	var best time.Time
	minOff := offsets[0]
	for _, off := range offsets {
		minOff = min(minOff, off)
		at := w.Add(-time.Duration(off) * time.Second)
		if wallClock(at.In(loc)).Equal(w) && (best.IsZero() || at.Before(best)) {
			best = at
		}
	}
	if best.IsZero() {
		// Skipped: the offset before the change is the smaller one.
		best = w.Add(-time.Duration(minOff) * time.Second)
	}
	return best
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// storedSchedule is a Schedule in a job hash.
type storedSchedule struct {
	StartAt int64  `json:"start_at,omitempty"`
	Cron    string `json:"cron,omitempty"`
	Every   int64  `json:"every,omitempty"`
	Limit   int    `json:"limit,omitempty"`
	EndDate int64  `json:"end,omitempty"`
	TZ      string `json:"tz,omitempty"`
	Anchor  int64  `json:"anchor,omitempty"`
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeOrZero(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func (s *Schedule) encode() ([]byte, error) {
	return json.Marshal(storedSchedule{
		StartAt: msOrZero(s.StartAt), Cron: s.Cron, Every: s.Every.Milliseconds(), Limit: s.Limit,
		EndDate: msOrZero(s.EndDate), TZ: s.TZ, Anchor: msOrZero(s.anchor),
	})
}

// decodeSchedule reads a stored schedule.
func decodeSchedule(raw []byte) (*Schedule, error) {
	var st storedSchedule
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("scheduler: corrupt schedule: %w", err)
	}
	s := &Schedule{StartAt: timeOrZero(st.StartAt), Cron: st.Cron, Every: time.Duration(st.Every) * time.Millisecond,
		Limit: st.Limit, EndDate: timeOrZero(st.EndDate), TZ: st.TZ, anchor: timeOrZero(st.Anchor)}
	var err error
	if s.loc, err = loadZone(s.TZ); err != nil {
		return nil, fmt.Errorf("scheduler: stored schedule: %w", err)
	}
	if s.Cron != "" {
		if err := s.compileCron(); err != nil {
			return nil, fmt.Errorf("scheduler: stored schedule: %w", err)
		}
	}
	if s.Every > 0 && s.anchor.IsZero() {
		return nil, errors.New("scheduler: stored schedule: every without an anchor")
	}
	return s, nil
}
