// Package cli is Herald's command-line client (herald send, logs,
// reprocess, jobs), built on the public SDK (pkg/client). The server
// address and key come from --url/--key or HERALD_URL/HERALD_KEY.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/heraldhq/herald/pkg/client"
)

// Env reads the environment (injected in tests).
type Env func(string) string

// Commands lists the client commands Run handles.
var Commands = []string{"send", "logs", "reprocess", "jobs"}

const usage = `Client commands (server from --url or HERALD_URL, key from --key or HERALD_KEY):

  herald send <email|push|sms|callback> --product P --env E --notification N --input JSON|@file
              [--cache TAG] [--session TAG:JWT] [--retries N] [--json]
  herald send all --product P --env E --event E --input '{"email":{...},"callback":{...}}'
  herald logs [--status S] [--type T] [--env E] [--product P] [--notification N]
              [--process ID] [--campaign ID] [--since 1h|RFC3339] [--until ...]
              [--limit N] [--json] [--follow]
  herald logs show <message id> [--json]        the entry and every attempt
  herald reprocess <message id>...              send failed (or sent) messages again
  herald reprocess --failed [filters of logs] [--dry-run] [--include-stuck-pending]
  herald jobs [list] [--status S] [--json]
  herald jobs show|pause|resume|cancel <job id>
`

// Run runs one client command; it returns the process exit status.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	r := &runner{stdout: stdout, stderr: stderr, env: env}
	var err error
	switch args[0] {
	case "send":
		err = r.send(ctx, args[1:])
	case "logs":
		err = r.logs(ctx, args[1:])
	case "reprocess":
		err = r.reprocess(ctx, args[1:])
	case "jobs":
		err = r.jobs(ctx, args[1:])
	default:
		fmt.Fprintf(stderr, "herald: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "herald %s: %s\n\n%s", args[0], ue.msg, usage)
		return 2
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "herald %s: %v\n", args[0], err)
	return 1
}

// Usage returns the client commands' help text.
func Usage() string { return usage }

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

type runner struct {
	stdout, stderr io.Writer
	env            Env
	url, key       string
}

// flags returns a flag set with --url and --key.
func (r *runner) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(r.stderr)
	fs.StringVar(&r.url, "url", r.env("HERALD_URL"), "Herald server URL (env HERALD_URL)")
	fs.StringVar(&r.key, "key", r.env("HERALD_KEY"), "API key (env HERALD_KEY)")
	fs.Usage = func() { fmt.Fprint(r.stderr, usage) }
	return fs
}

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (r *runner) client() (*client.Client, error) {
	if r.url == "" {
		r.url = "http://127.0.0.1:8080"
	}
	if r.key == "" {
		return nil, usagef("no API key: set HERALD_KEY or pass --key")
	}
	return client.New(r.url, r.key)
}

func (r *runner) printJSON(v any) error {
	enc := json.NewEncoder(r.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// readInput reads a JSON value given inline or as @file ("@-" is stdin).
func readInput(s string) (json.RawMessage, error) {
	data := []byte(s)
	if name, ok := strings.CutPrefix(s, "@"); ok {
		var err error
		if name == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			return nil, err
		}
	}
	if !json.Valid(data) {
		return nil, usagef("--input is not valid JSON")
	}
	return data, nil
}

func (r *runner) send(ctx context.Context, args []string) error {
	fs := r.flags("send")
	product := fs.String("product", "", "product tag")
	envName := fs.String("env", "", "env")
	notification := fs.String("notification", "", "notification_tag:message_tag")
	event := fs.String("event", "", "notification tag (send all)")
	input := fs.String("input", "", "channel input as JSON, or @file")
	cache := fs.String("cache", "", "idempotency tag")
	session := fs.String("session", "", "session_tag:jwt")
	retries := fs.Int("retries", -1, "retries after the first attempt (default: server config)")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("name one channel (email, push, sms, callback) or all")
	}
	if *input == "" {
		return usagef("--input is required")
	}
	in, err := readInput(*input)
	if err != nil {
		return err
	}
	c, err := r.client()
	if err != nil {
		return err
	}
	var rp *int
	if *retries >= 0 {
		rp = retries
	}
	if pos[0] == "all" {
		var mi client.MultiInput
		if err := json.Unmarshal(in, &mi); err != nil {
			return usagef("--input: want {\"email\": {...}, \"push_notification\": {...}, \"sms\": {...}, \"callback\": {...}}")
		}
		res, err := c.SendMulti(ctx, client.MultiSendRequest{Product: *product, Env: *envName, Event: *event, Input: mi,
			Session: *session, Cache: *cache, Retries: rp})
		if res != nil && (*asJSON || err != nil) {
			_ = r.printJSON(res)
		}
		if err != nil {
			return err
		}
		if !*asJSON {
			for ch, cr := range res.Channels {
				if cr.Success {
					fmt.Fprintf(r.stdout, "%s\taccepted\t%s\n", ch, cr.MessageID)
				} else {
					fmt.Fprintf(r.stdout, "%s\trefused\t%s: %s\n", ch, cr.Error.Field, cr.Error.Message)
				}
			}
		}
		return nil
	}
	res, err := c.Send(ctx, client.Channel(pos[0]), client.SendRequest{Product: *product, Env: *envName, Notification: *notification,
		Input: in, Session: *session, Cache: *cache, Retries: rp})
	if err != nil {
		return err
	}
	if *asJSON {
		return r.printJSON(res)
	}
	note := ""
	if res.Deduplicated {
		note = " (deduplicated: the cache tag named this earlier message)"
	}
	fmt.Fprintf(r.stdout, "%s %s%s\n", res.MessageID, res.Status, note)
	return nil
}

// filterFlags adds the log filters to fs.
func filterFlags(fs *flag.FlagSet) func() (client.MessageFilter, error) {
	status := fs.String("status", "", "pending, sent, failed or reprocessing")
	typ := fs.String("type", "", "email, push, sms or callback")
	envName := fs.String("env", "", "env")
	product := fs.String("product", "", "product tag")
	productID := fs.String("product-id", "", "product id")
	notification := fs.String("notification", "", "notification tag")
	process := fs.String("process", "", "process id")
	campaign := fs.String("campaign", "", "campaign (job) id")
	since := fs.String("since", "", "from: a duration ago (1h, 30m) or an RFC 3339 time")
	until := fs.String("until", "", "to: a duration ago or an RFC 3339 time")
	return func() (client.MessageFilter, error) {
		f := client.MessageFilter{Status: *status, Type: client.Channel(*typ), Env: *envName, ProductTag: *product,
			ProductID: *productID, NotificationTag: *notification, ProcessID: *process, CampaignID: *campaign}
		var err error
		if f.Start, err = when(*since); err != nil {
			return f, usagef("--since: %v", err)
		}
		if f.End, err = when(*until); err != nil {
			return f, usagef("--until: %v", err)
		}
		return f, nil
	}
}

// when parses "1h" (that long ago) or an RFC 3339 time.
func when(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Parse(time.RFC3339, s)
}

func (r *runner) logs(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "show" {
		return r.logsShow(ctx, args[1:])
	}
	fs := r.flags("logs")
	filter := filterFlags(fs)
	limit := fs.Int("limit", 20, "how many (newest first); 0 for all")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	follow := fs.Bool("follow", false, "keep printing new messages as they arrive (Ctrl-C stops)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected %q (did you mean herald logs show %s?)", pos[0], pos[0])
	}
	f, err := filter()
	if err != nil {
		return err
	}
	c, err := r.client()
	if err != nil {
		return err
	}
	var ms []*client.Message
	for m, err := range c.Messages(ctx, f, min(max(*limit, 1), 200)) {
		if err != nil {
			return err
		}
		ms = append(ms, m)
		if *limit > 0 && len(ms) >= *limit {
			break
		}
	}
	tw := tabwriter.NewWriter(r.stdout, 2, 4, 2, ' ', 0)
	print := func(ms []*client.Message) {
		for _, m := range ms {
			if *asJSON {
				b, _ := json.Marshal(m)
				fmt.Fprintln(r.stdout, string(b))
				continue
			}
			errText := ""
			if m.ErrorCode != nil {
				errText = *m.ErrorCode
				if m.Error != nil {
					errText += ": " + *m.Error
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/%s\t%s\t%d\t%s\n", m.CreatedAt.Local().Format("2006-01-02 15:04:05"), m.ID, m.Type,
				m.Status, m.ProductTag, m.Env, m.Notification, m.Attempts, truncate(errText, 80))
		}
		tw.Flush()
	}
	if !*asJSON {
		fmt.Fprintf(tw, "CREATED\tID\tTYPE\tSTATUS\tPRODUCT/ENV\tNOTIFICATION\tATTEMPTS\tERROR\n")
	}
	// Oldest first on screen, like a log.
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
	print(ms)
	if !*follow {
		return nil
	}
	return r.follow(ctx, c, f, ms, print)
}

// follow polls for messages newer than the last one printed.
func (r *runner) follow(ctx context.Context, c *client.Client, f client.MessageFilter, seen []*client.Message, print func([]*client.Message)) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	since := time.Now().Add(-time.Minute)
	printed := map[string]bool{}
	for _, m := range seen {
		printed[m.ID] = true
		if m.CreatedAt.After(since) {
			since = m.CreatedAt
		}
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		q := f
		q.Start = since.Add(-time.Second) // overlap; printed dedupes
		var fresh []*client.Message
		for m, err := range c.Messages(ctx, q, 200) {
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				fmt.Fprintln(r.stderr, "herald logs:", err)
				break
			}
			if !printed[m.ID] {
				fresh = append(fresh, m)
			}
		}
		for i, j := 0, len(fresh)-1; i < j; i, j = i+1, j-1 {
			fresh[i], fresh[j] = fresh[j], fresh[i]
		}
		for _, m := range fresh {
			printed[m.ID] = true
			if m.CreatedAt.After(since) {
				since = m.CreatedAt
			}
		}
		print(fresh)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func (r *runner) logsShow(ctx context.Context, args []string) error {
	fs := r.flags("logs show")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("name one message id")
	}
	c, err := r.client()
	if err != nil {
		return err
	}
	m, err := c.GetMessage(ctx, pos[0])
	if err != nil {
		return err
	}
	var atts []*client.Attempt
	for a, err := range c.Attempts(ctx, pos[0]) {
		if err != nil {
			return err
		}
		atts = append(atts, a)
	}
	if *asJSON {
		return r.printJSON(map[string]any{"message": m, "attempts": atts})
	}
	fmt.Fprintf(r.stdout, "%s  %s  %s  %s/%s  %s\n", m.ID, m.Type, m.Status, m.ProductTag, m.Env, m.Notification)
	fmt.Fprintf(r.stdout, "created %s  updated %s  triggered by %s  attempts %d of %d+%d retries\n",
		m.CreatedAt.Local().Format(time.RFC3339), m.UpdatedAt.Local().Format(time.RFC3339), m.TriggeredBy, m.Attempts, 1, m.Retries)
	if m.ErrorCode != nil {
		fmt.Fprintf(r.stdout, "error %s: %s\n", *m.ErrorCode, deref(m.Error))
	}
	if m.NextAttemptAt != nil {
		fmt.Fprintf(r.stdout, "next attempt %s\n", m.NextAttemptAt.Local().Format(time.RFC3339))
	}
	fmt.Fprintf(r.stdout, "input %s\n\n", m.Input)
	tw := tabwriter.NewWriter(r.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ATTEMPTED\tOUTCOME\tCODE\tDURATION\tERROR\tBODY\n")
	for _, a := range atts {
		code := "-"
		if a.ResponseCode != nil && *a.ResponseCode != 0 { // 0: no HTTP answer
			code = fmt.Sprint(*a.ResponseCode)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%dms\t%s\t%s\n", a.AttemptedAt.Local().Format("15:04:05.000"), a.Outcome, code, a.DurationMs,
			truncate(strings.TrimSpace(a.ErrorCode+" "+a.Error), 60), truncate(strings.ReplaceAll(a.ResponseBody, "\n", " "), 60))
	}
	return tw.Flush()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (r *runner) reprocess(ctx context.Context, args []string) error {
	fs := r.flags("reprocess")
	filter := filterFlags(fs)
	failed := fs.Bool("failed", false, "reprocess every failed message matching the filters")
	dry := fs.Bool("dry-run", false, "with --failed: only count")
	stuck := fs.Bool("include-stuck-pending", false, "with --failed: also requeue stuck pending messages")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	c, err := r.client()
	if err != nil {
		return err
	}
	if *failed {
		if len(pos) > 0 {
			return usagef("give message ids or --failed, not both")
		}
		f, err := filter()
		if err != nil {
			return err
		}
		res, err := c.ReprocessMatching(ctx, client.BulkReprocess{MessageFilter: f, DryRun: *dry, IncludeStuckPending: *stuck})
		if err != nil {
			return err
		}
		verb := "reprocessed"
		if *dry {
			verb = "would reprocess (dry run)"
		}
		fmt.Fprintf(r.stdout, "matched %d, %s %d", res.Matched, verb, map[bool]int64{true: res.Matched, false: res.Reprocessed}[*dry])
		if res.Skipped > 0 {
			fmt.Fprintf(r.stdout, ", skipped %d (still queued)", res.Skipped)
		}
		if res.Errors > 0 {
			fmt.Fprintf(r.stdout, ", %d errors", res.Errors)
		}
		fmt.Fprintln(r.stdout)
		return nil
	}
	if len(pos) == 0 {
		return usagef("give message ids, or --failed with filters")
	}
	var errs []error
	for _, id := range pos {
		res, err := c.Reprocess(ctx, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		fmt.Fprintf(r.stdout, "%s %s\n", res.MessageID, res.Status)
	}
	return errors.Join(errs...)
}

func (r *runner) jobs(ctx context.Context, args []string) error {
	sub := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fs := r.flags("jobs " + sub)
	status := fs.String("status", "", "queued, active, paused, completed or cancelled")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	c, err := r.client()
	if err != nil {
		return err
	}
	if sub == "list" {
		var jobs []*client.Job
		for j, err := range c.Jobs(ctx, *status) {
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		if *asJSON {
			return r.printJSON(jobs)
		}
		tw := tabwriter.NewWriter(r.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "JOB\tSTATUS\tSCHEDULE\tRUNS\tNEXT RUN\tLAST RUN\tPRODUCT/ENV\n")
		for _, j := range jobs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s/%s\n", j.JobID, j.Status, schedule(j), j.Runs, ts(j.NextRunAt), ts(j.LastRunAt), j.Product, j.Env)
		}
		return tw.Flush()
	}
	if len(pos) != 1 {
		return usagef("name one job id")
	}
	var j *client.Job
	switch sub {
	case "show":
		j, err = c.GetJob(ctx, pos[0])
	case "pause":
		j, err = c.PauseJob(ctx, pos[0])
	case "resume":
		j, err = c.ResumeJob(ctx, pos[0])
	case "cancel", "delete":
		j, err = c.CancelJob(ctx, pos[0])
	default:
		return usagef("unknown jobs command %q", sub)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return r.printJSON(j)
	}
	fmt.Fprintf(r.stdout, "%s %s  schedule %s  runs %d  next %s  last %s\n", j.JobID, j.Status, schedule(j), j.Runs, ts(j.NextRunAt), ts(j.LastRunAt))
	return nil
}

func schedule(j *client.Job) string {
	s := j.Schedule
	var parts []string
	if s.Cron != nil {
		parts = append(parts, "cron "+*s.Cron)
	}
	if s.Every != nil {
		parts = append(parts, "every "+(time.Duration(*s.Every)*time.Millisecond).String())
	}
	if len(parts) == 0 && s.StartAt != nil {
		parts = append(parts, "once at "+s.StartAt.Local().Format(time.RFC3339))
	}
	if s.TZ != "" && s.TZ != "UTC" {
		parts = append(parts, s.TZ)
	}
	if s.Limit != nil {
		parts = append(parts, fmt.Sprintf("limit %d", *s.Limit))
	}
	return strings.Join(parts, ", ")
}

func ts(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
