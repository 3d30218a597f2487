package logstore

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// Send is one send request as a whole: the messages it made, one per
// channel, the first ("head") first. Its ID is the process id of a
// multi-channel send, else the message id.
type Send struct {
	ID       string
	Messages []*Entry
}

// SendQuery selects sends (send logs) of a workspace.
type SendQuery struct {
	Workspace string
	// CampaignIDs keeps sends of any of these campaigns; empty: all.
	CampaignIDs []string
	// Start and End bound the send's creation, inclusive; zero is open.
	Start, End  time.Time
	Skip, Limit int
	// InputLimit is passed to every query (Query.InputLimit).
	InputLimit int
}

// sendsPage is how many heads one campaign's query reads at a time while
// the campaigns are merged: memory stays bounded by campaigns × sendsPage
// whatever skip says.
const sendsPage = 500

const maxChannelsPerSend = 16

// Sends returns a page of sends, newest first, and how many match. Sends
// are indexed by their head message, so totals are exact and cheap.
func (s *Store) Sends(ctx context.Context, q SendQuery) ([]*Send, int64, error) {
	q.Limit = cmp.Or(q.Limit, 100)
	var heads []*Entry
	var total int64
	campaigns := slices.Compact(slices.Sorted(slices.Values(q.CampaignIDs)))
	if len(campaigns) == 0 {
		p, err := s.Query(ctx, Query{Workspace: q.Workspace, Start: q.Start, End: q.End, Offset: q.Skip, Limit: q.Limit, Heads: true, InputLimit: q.InputLimit})
		if err != nil {
			return nil, 0, err
		}
		heads, total = p.Entries, p.Total
	} else {
		var err error
		if heads, total, err = s.mergeCampaigns(ctx, q, campaigns); err != nil {
			return nil, 0, err
		}
	}
	out := make([]*Send, 0, len(heads))
	for _, h := range heads {
		snd, err := s.expand(ctx, h, q.InputLimit)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, snd)
	}
	return out, total, nil
}

// SendByID returns one send by its id: a process id, or the id of any of
// its messages.
func (s *Store) SendByID(ctx context.Context, ws, id string) (*Send, error) {
	if strings.HasPrefix(id, "prc_") {
		return s.process(ctx, ws, id, 0)
	}
	e, err := s.Get(ctx, ws, id)
	if err != nil {
		return nil, err
	}
	return s.expand(ctx, e, 0)
}

// mergeCampaigns is one page of the sends of several campaigns, newest
// first. Campaigns are disjoint, so totals add up and pages merge by
// sequence; each campaign is read a page at a time (by cursor) and only as
// far as skip + limit needs, never skip + limit entries per campaign at
// once.
func (s *Store) mergeCampaigns(ctx context.Context, q SendQuery, campaigns []string) ([]*Entry, int64, error) {
	type stream struct {
		q    Query
		buf  []*Entry
		done bool
	}
	page := min(q.Skip+q.Limit, sendsPage)
	streams := make([]*stream, len(campaigns))
	var total int64
	fill := func(st *stream, first bool) error {
		p, err := s.Query(ctx, st.q)
		if err != nil {
			return err
		}
		if first {
			total += p.Total
		}
		st.buf, st.q.Cursor, st.done = p.Entries, p.NextCursor, !p.HasMore
		return nil
	}
	for i, c := range campaigns {
		streams[i] = &stream{q: Query{Workspace: q.Workspace, CampaignID: c, Start: q.Start, End: q.End, Limit: page, Heads: true, InputLimit: q.InputLimit}}
		if err := fill(streams[i], true); err != nil {
			return nil, 0, err
		}
	}
	var heads []*Entry
	for skipped := 0; len(heads) < q.Limit; {
		var best *stream
		for _, st := range streams {
			if len(st.buf) == 0 && !st.done {
				if err := fill(st, false); err != nil {
					return nil, 0, err
				}
			}
			if len(st.buf) > 0 && (best == nil || st.buf[0].Seq > best.buf[0].Seq) {
				best = st
			}
		}
		if best == nil {
			break
		}
		e := best.buf[0]
		best.buf = best.buf[1:]
		if skipped < q.Skip {
			skipped++
			continue
		}
		heads = append(heads, e)
	}
	return heads, total, nil
}

func (s *Store) expand(ctx context.Context, e *Entry, inputLimit int) (*Send, error) {
	if e.ProcessID == "" {
		return &Send{ID: e.ID, Messages: []*Entry{e}}, nil
	}
	return s.process(ctx, e.Workspace, e.ProcessID, inputLimit)
}

func (s *Store) process(ctx context.Context, ws, pid string, inputLimit int) (*Send, error) {
	p, err := s.Query(ctx, Query{Workspace: ws, ProcessID: pid, Limit: maxChannelsPerSend, InputLimit: inputLimit})
	if err != nil {
		return nil, err
	}
	if len(p.Entries) == 0 {
		return nil, ErrNotFound
	}
	slices.SortFunc(p.Entries, func(a, b *Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	return &Send{ID: pid, Messages: p.Entries}, nil
}
