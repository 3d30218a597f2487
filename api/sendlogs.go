package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/logstore"
)

// SendLog is one send as a whole (API.md, "send-logs").
type SendLog struct {
	ID              string  `json:"_id"`
	CampaignID      *string `json:"campaign_id"`
	Message         string  `json:"message"`
	TriggeredBy     string  `json:"triggeredBy"`
	StartDeliveryAt string  `json:"startDeliveryAt"`
	// Destinations is a count, or the list of recipients.
	Destinations any     `json:"destinations"`
	ProductTag   string  `json:"product_tag"`
	Env          string  `json:"env"`
	Notification string  `json:"notification"`
	ProcessID    *string `json:"process_id"`
	// Messages are the send's messages, one per channel.
	Messages []sendLogMessage `json:"messages"`
}

type sendLogMessage struct {
	ID      string `json:"_id"`
	Type    string `json:"type"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// toSendLog builds the send log of a send; message templates come from the
// message definitions.
func toSendLog(cfg *config.Config, snd *logstore.Send, list bool) SendLog {
	head := snd.Messages[0]
	tb := head.TriggeredBy
	if head.FirstTriggeredBy != "" {
		tb = head.FirstTriggeredBy
	}
	start := head.CreatedAt
	if t, ok := ids.Time(head.ID); ok {
		start = t // a scheduled send's id carries its slot
	}
	out := SendLog{
		ID: snd.ID, CampaignID: nullable(head.CampaignID), TriggeredBy: tb, StartDeliveryAt: formatTime(start),
		ProductTag: head.ProductTag, Env: head.Env, Notification: head.Notification, ProcessID: nullable(head.ProcessID),
	}
	dests := []string{}
	count := 0
	for _, m := range snd.Messages {
		tmpl := ""
		if def := cfg.Message(m.Workspace, m.ProductTag, m.Notification); def != nil {
			tmpl = def.Template(m.Type)
			if m.Input == nil && m.Destinations > 0 && !list {
				count += m.Destinations // kept at creation: no input needed
			} else {
				d := destinations(def, m)
				dests = append(dests, d...)
				count += len(d)
			}
		}
		if out.Message == "" {
			out.Message = tmpl
		}
		out.Messages = append(out.Messages, sendLogMessage{ID: m.ID, Type: m.Type, Status: m.Status, Message: tmpl})
	}
	if list {
		out.Destinations = dests
	} else {
		out.Destinations = count
	}
	return out
}

// destinations lists who a message goes to: email and SMS recipients, push
// device tokens, a callback's URL.
func destinations(def *config.Message, e *logstore.Entry) []string {
	var in struct {
		Recipients   []string       `json:"recipients"`
		DeviceTokens []string       `json:"device_tokens"`
		Params       map[string]any `json:"params"`
	}
	_ = json.Unmarshal(e.Input, &in)
	switch e.Type {
	case "email", "sms":
		return in.Recipients
	case "push":
		return in.DeviceTokens
	case "callback":
		if def.Callback == nil {
			return nil
		}
		u := def.Callback.URL
		for _, name := range config.CallbackParams(u) {
			u = strings.ReplaceAll(u, "{"+name+"}", url.PathEscape(fmt.Sprint(in.Params[name])))
		}
		return []string{u}
	}
	return nil
}

// writeSendLogError answers in the send-logs envelope {"ok": false, "error": ...}.
func writeSendLogError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	writeJSON(w, ae.status, map[string]any{"ok": false, "error": ae.body})
}

func groupList(r *http.Request) (bool, error) {
	switch g := r.URL.Query().Get("group_destinations"); g {
	case "", "count":
		return false, nil
	case "list":
		return true, nil
	default:
		return false, badRequest("group_destinations", "want count or list")
	}
}

func (s *Server) getSendLog(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	list, err := groupList(r)
	if err == nil {
		var snd *logstore.Send
		snd, err = s.cfg.Store.SendByID(r.Context(), p.Workspace, r.PathValue("send_id"))
		if err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "data": toSendLog(s.cfg.Config(), snd, list)})
			return nil
		}
	}
	if errors.Is(err, logstore.ErrRetentionExpired) {
		err = logstore.ErrNotFound
	}
	writeSendLogError(w, err)
	return nil
}

// searchRequest is the body of POST /v1/send-logs/search.
type searchRequest struct {
	Find              map[string]json.RawMessage `json:"find"`
	Options           map[string]json.RawMessage `json:"options"`
	GroupDestinations string                     `json:"group_destinations"`
}

// searchFind and searchOptions are the known members of find and options;
// nested objects are decoded member by member so that an unknown one is
// reported with its whole path.
type searchFind struct {
	CampaignID      json.RawMessage
	StartDeliveryAt map[string]json.RawMessage
}

type searchOptions struct {
	Skip, Limit *int
}

func decodeSearch(req *searchRequest) (searchFind, searchOptions, error) {
	var f searchFind
	var o searchOptions
	for k, v := range req.Find {
		switch k {
		case "campaign_id":
			f.CampaignID = v
		case "startDeliveryAt":
			if err := json.Unmarshal(v, &f.StartDeliveryAt); err != nil {
				return f, o, badRequest("find.startDeliveryAt", "want an object such as {\"$gte\": ..., \"$lte\": ...}")
			}
		default:
			return f, o, badRequest("find."+k, "unknown filter (known: campaign_id, startDeliveryAt)")
		}
	}
	for k, v := range req.Options {
		var n int
		if err := json.Unmarshal(v, &n); err != nil {
			return f, o, badRequest("options."+k, "want a whole number")
		}
		switch k {
		case "skip":
			o.Skip = &n
		case "limit":
			o.Limit = &n
		default:
			return f, o, badRequest("options."+k, "unknown option (known: skip, limit)")
		}
	}
	return f, o, nil
}

// Page sizes of the send-log search: the seed's default ("~1000") is also
// the largest page; a larger limit is clamped, and parsed.options.limit
// says what was used.
const (
	defaultSendLogLimit = 1000
	maxSendLogLimit     = 1000
)

type parsedSearch struct {
	Find struct {
		// CampaignID is present when the search named campaigns; an empty
		// list stays [] (it matches nothing).
		CampaignID      *[]string         `json:"campaign_id,omitempty"`
		StartDeliveryAt map[string]string `json:"startDeliveryAt,omitempty"`
	} `json:"find"`
	Options struct {
		Skip  int `json:"skip"`
		Limit int `json:"limit"`
	} `json:"options"`
}

// sendSearch is a validated search body.
type sendSearch struct {
	q      logstore.SendQuery
	parsed parsedSearch
	// list is group_destinations=list.
	list bool
	// none is set when the filters match nothing whatever the data
	// (campaign_id: []): the store is not asked.
	none bool
}

// parseSearch validates and normalises a search body.
func parseSearch(body []byte, ws string) (sendSearch, error) {
	var req searchRequest
	out := sendSearch{q: logstore.SendQuery{Workspace: ws}}
	q, parsed := &out.q, &out.parsed
	if err := decodeJSON(body, &req); err != nil {
		return out, err
	}
	find, opts, err := decodeSearch(&req)
	if err != nil {
		return out, err
	}
	if c := find.CampaignID; len(c) > 0 && string(c) != "null" {
		var one string
		if json.Unmarshal(c, &one) == nil {
			q.CampaignIDs = []string{one}
		} else if err := json.Unmarshal(c, &q.CampaignIDs); err != nil {
			return out, badRequest("find.campaign_id", "want a campaign id or a list of them")
		}
		if len(q.CampaignIDs) > 100 {
			return out, badRequest("find.campaign_id", "at most 100 campaign ids")
		}
		for _, c := range q.CampaignIDs {
			if !config.ValidTag(c) {
				return out, badRequest("find.campaign_id", fmt.Sprintf("%q is not a campaign id", c))
			}
		}
		// A list of campaigns keeps the sends of those campaigns: an empty
		// one keeps none (as MongoDB's $in: [] does), never all of them.
		ids := append([]string{}, q.CampaignIDs...)
		parsed.Find.CampaignID = &ids
		out.none = len(ids) == 0
	}
	for op, raw := range find.StartDeliveryAt {
		field := "find.startDeliveryAt." + op
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return out, badRequest(field, "want an RFC 3339 time or Unix milliseconds")
		}
		t, err := ParseTime(strings.Trim(fmt.Sprint(jsonNumber(v)), `"`))
		if err != nil {
			return out, badRequest(field, err.Error())
		}
		switch op {
		case "$gte":
			q.Start = t
		case "$gt":
			q.Start = afterInstant(t)
		case "$lte":
			q.End = t
		case "$lt":
			q.End = beforeInstant(t)
		default:
			return out, badRequest(field, "want $gte, $gt, $lte or $lt")
		}
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.Start.After(q.End) {
		return out, badRequest("find.startDeliveryAt", "the lower bound is after the upper bound")
	}
	if len(find.StartDeliveryAt) > 0 {
		parsed.Find.StartDeliveryAt = map[string]string{}
		if !q.Start.IsZero() {
			parsed.Find.StartDeliveryAt["$gte"] = formatTime(ceilInstant(q.Start))
		}
		if !q.End.IsZero() {
			parsed.Find.StartDeliveryAt["$lte"] = formatTime(q.End)
		}
	}
	q.Limit = defaultSendLogLimit
	if opts.Limit != nil {
		if *opts.Limit < 1 {
			return out, badRequest("options.limit", fmt.Sprintf("want a whole number from 1 (more than %d is taken as %d)", maxSendLogLimit, maxSendLogLimit))
		}
		q.Limit = min(*opts.Limit, maxSendLogLimit)
	}
	if opts.Skip != nil {
		if *opts.Skip < 0 || *opts.Skip > 100_000 {
			return out, badRequest("options.skip", "want 0 to 100000")
		}
		q.Skip = *opts.Skip
	}
	parsed.Options.Skip, parsed.Options.Limit = q.Skip, q.Limit
	switch req.GroupDestinations {
	case "", "count":
	case "list":
		out.list = true
	default:
		return out, badRequest("group_destinations", "want count or list")
	}
	return out, nil
}

// jsonNumber prints whole float64s (Unix ms) without an exponent.
func jsonNumber(v any) any {
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return int64(f)
	}
	return v
}

func (s *Server) searchSendLogs(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	body, err := s.readBody(w, r)
	if err != nil {
		writeSendLogError(w, err)
		return nil
	}
	search, err := parseSearch(body, p.Workspace)
	if err != nil {
		writeSendLogError(w, err)
		return nil
	}
	q, parsed, list := search.q, search.parsed, search.list
	var sends []*logstore.Send
	var total int64
	if !search.none {
		q.InputLimit = sendLogInputBytes
		if sends, total, err = s.cfg.Store.Sends(r.Context(), q); err != nil {
			writeSendLogError(w, err)
			return nil
		}
	}
	cfg := s.cfg.Config()
	logs := make([]json.RawMessage, 0, len(sends))
	size := 0
	fetched := 0
	for i, snd := range sends {
		if fetched > maxSendLogFetch && len(logs) > 0 {
			// Reading more inputs for their destinations would cost Redis
			// and this process more than one answer may: end the page.
			parsed.Options.Limit = len(logs)
			break
		}
		fetched += s.fillInputs(r.Context(), snd, list)
		b, err := json.Marshal(toSendLog(cfg, snd, list))
		if err != nil {
			return err
		}
		sends[i] = nil // its inputs are no longer needed
		if size+len(b) > s.sendLogBudget && len(logs) > 0 {
			// The answer is cut here; parsed says how far it went, so that
			// a client paging with it (skip += limit) misses nothing.
			parsed.Options.Limit = len(logs)
			break
		}
		size += len(b)
		logs = append(logs, b)
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "data": map[string]any{"total": total, "send_logs": logs, "parsed": parsed}})
	return nil
}

// sendLogInputBytes is the largest input a search reads along with the
// send's messages; a send log shows no input, only its destinations, and
// fillInputs reads a longer one alone when they are needed.
const sendLogInputBytes = 2 << 10

// maxSendLogBytes bounds the send logs of one search answer (up to 1000
// of them, each listing up to hundreds of recipients with
// group_destinations=list). A page that would be larger ends early, with
// parsed.options.limit set to the number returned.
const maxSendLogBytes = 4 << 20

// maxSendLogFetch bounds the bytes of inputs one search reads in full
// (for destinations); past it the page ends early, like maxSendLogBytes.
const maxSendLogFetch = 16 << 20

// fillInputs reads, one message at a time, the inputs a search left out
// for their size, when the destinations must come from them: the list
// (group_destinations=list), or a count for an entry written before
// counts were kept. Only one send's inputs are held at once. It returns
// the bytes read.
func (s *Server) fillInputs(ctx context.Context, snd *logstore.Send, list bool) int {
	n := 0
	for i, m := range snd.Messages {
		if m.InputCut == 0 || (!list && m.Destinations > 0) {
			continue
		}
		if full, err := s.cfg.Store.Get(ctx, m.Workspace, m.ID); err == nil {
			snd.Messages[i] = full
			n += len(full.Input)
		}
	}
	return n
}
