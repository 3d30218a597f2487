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
}

const maxChannelsPerSend = 16

// Sends returns a page of sends, newest first, and how many match. Sends
// are indexed by their head message, so totals are exact and cheap.
func (s *Store) Sends(ctx context.Context, q SendQuery) ([]*Send, int64, error) {
	q.Limit = cmp.Or(q.Limit, 100)
	var heads []*Entry
	var total int64
	campaigns := slices.Compact(slices.Sorted(slices.Values(q.CampaignIDs)))
	if len(campaigns) == 0 {
		p, err := s.Query(ctx, Query{Workspace: q.Workspace, Start: q.Start, End: q.End, Offset: q.Skip, Limit: q.Limit, Heads: true})
		if err != nil {
			return nil, 0, err
		}
		heads, total = p.Entries, p.Total
	} else {
		// Campaigns are disjoint: totals add up; pages merge by sequence.
		for _, c := range campaigns {
			p, err := s.Query(ctx, Query{Workspace: q.Workspace, CampaignID: c, Start: q.Start, End: q.End, Limit: q.Skip + q.Limit, Heads: true})
			if err != nil {
				return nil, 0, err
			}
			heads = append(heads, p.Entries...)
			total += p.Total
		}
		slices.SortFunc(heads, func(a, b *Entry) int { return cmp.Compare(b.Seq, a.Seq) })
		heads = heads[min(q.Skip, len(heads)):]
		heads = heads[:min(q.Limit, len(heads))]
	}
	out := make([]*Send, 0, len(heads))
	for _, h := range heads {
		snd, err := s.expand(ctx, h)
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
		return s.process(ctx, ws, id)
	}
	e, err := s.Get(ctx, ws, id)
	if err != nil {
		return nil, err
	}
	return s.expand(ctx, e)
}

func (s *Store) expand(ctx context.Context, e *Entry) (*Send, error) {
	if e.ProcessID == "" {
		return &Send{ID: e.ID, Messages: []*Entry{e}}, nil
	}
	return s.process(ctx, e.Workspace, e.ProcessID)
}

func (s *Store) process(ctx context.Context, ws, pid string) (*Send, error) {
	p, err := s.Query(ctx, Query{Workspace: ws, ProcessID: pid, Limit: maxChannelsPerSend})
	if err != nil {
		return nil, err
	}
	if len(p.Entries) == 0 {
		return nil, ErrNotFound
	}
	slices.SortFunc(p.Entries, func(a, b *Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	return &Send{ID: pid, Messages: p.Entries}, nil
}
