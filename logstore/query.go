package logstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Query selects entries of one workspace. Empty fields do not filter.
type Query struct {
	Workspace       string
	ProductTag      string
	ProductID       string
	Env             string
	NotificationTag string
	Status          string
	Type            string
	ProcessID       string
	CampaignID      string
	// Start and End bound created_at, both inclusive; zero is open.
	Start, End time.Time
	// Cursor continues after the last entry of a previous page (its
	// NextCursor); Offset skips entries instead (page-based paging).
	Cursor string
	Offset int
	// Limit is the page size.
	Limit int
	// Heads keeps only the first message of each send (send logs).
	Heads bool
	// Undelivered keeps messages with an error that are not sent: failed
	// ones, and ones waiting for a retry or held by an open breaker.
	Undelivered bool
	// InputLimit, when positive, leaves out of the page every input longer
	// than this many bytes (Entry.InputCut says how long it was): what
	// bounds the memory of a page, in Redis and here. Zero returns whole
	// entries (the reconciler and reprocessing need them).
	InputLimit int
}

// Page is one page of a query.
type Page struct {
	Entries []*Entry
	// Total counts every entry matching the filters (not only this page).
	Total   int64
	HasMore bool
	// NextCursor continues after this page; empty when HasMore is false.
	NextCursor string
}

// ceilMilli is t in Unix milliseconds, rounded up: a lower bound with a
// fraction of a millisecond keeps out the millisecond it falls in.
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}

// ErrBadCursor is returned for a cursor this store did not make.
var ErrBadCursor = fmt.Errorf("logstore: invalid cursor")

// Query returns a page of matching entries, newest first, and the exact total.
func (s *Store) Query(ctx context.Context, q Query) (*Page, error) {
	if q.Limit <= 0 {
		q.Limit = 20
	}
	cursor := int64(-1)
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		cursor = c
	}
	from := s.clock.Now().Add(-s.retention).UnixMilli()
	if !q.Start.IsZero() && ceilMilli(q.Start) > from {
		from = ceilMilli(q.Start)
	}
	to := int64(math.MaxInt64 / 2)
	if !q.End.IsZero() {
		to = q.End.UnixMilli() // creation times are whole milliseconds: floor
	}
	if to < from {
		return &Page{}, nil
	}
	var zsets []string
	if q.ProcessID != "" {
		zsets = append(zsets, procSuffix(q.ProcessID))
	}
	if q.CampaignID != "" {
		zsets = append(zsets, campSuffix(q.CampaignID))
	}
	for len(zsets) < 2 {
		zsets = append(zsets, "")
	}
	var scratch [8]byte
	_, _ = rand.Read(scratch[:])
	args := []any{s.seg, s.keys.base(q.Workspace), from, to, cursor, q.Offset, q.Limit + 1, hex.EncodeToString(scratch[:]), zsets[0], zsets[1], max(q.InputLimit, 0)}
	for _, f := range [][2]string{
		{"st", q.Status}, {"ty", q.Type}, {"env", q.Env}, {"pt", q.ProductTag}, {"pid", q.ProductID}, {"nt", q.NotificationTag},
	} {
		if f[1] != "" {
			args = append(args, term(f[0], f[1]))
		}
	}
	if q.Heads {
		args = append(args, headTerm)
	}
	if q.Undelivered {
		args = append(args, undeliveredTerm)
	}
	res, err := queryScript.Run(ctx, s.rdb, []string{s.keys.meta(q.Workspace)}, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("logstore: query: %w", err)
	}
	p := &Page{Total: res[0].(int64)}
	var lastSeq int64 = -1
	rows := res[1:]
	for i := 0; i+3 < len(rows); i += 4 {
		if len(p.Entries) == q.Limit {
			p.HasMore = true
			break
		}
		seq := rows[i].(int64)
		raw := rows[i+2].(string)
		if raw == "" {
			continue // expired between index and read; totals exclude it once the janitor runs
		}
		e, err := decodeEntry(q.Workspace, raw)
		if err != nil {
			return nil, err
		}
		if cut := rows[i+3].(int64); cut > 0 {
			e.Input, e.InputCut = nil, int(cut)
		}
		p.Entries = append(p.Entries, e)
		lastSeq = seq
	}
	if p.HasMore && lastSeq >= 0 {
		p.NextCursor = encodeCursor(lastSeq)
	}
	return p, nil
}

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("s" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), "s") {
		return 0, ErrBadCursor
	}
	n, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || n < 0 {
		return 0, ErrBadCursor
	}
	return n, nil
}
