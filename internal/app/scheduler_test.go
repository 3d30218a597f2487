package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/logstore"
)

// keyGlobexJobs is a globex key with the jobs scopes (the shared test
// config gives globex none).
const keyGlobexJobs = "hk_test_globex_jobs_000000000000000000000"

// schedulerYAML is the test config with a fast-polling scheduler; extra
// adds to its scheduler block.
func schedulerYAML(receiverURL string, extra string) string {
	return jobsYAML(receiverURL) + "scheduler: { poll_interval: 10ms, lease: 2s" + extra + " }\n"
}

// jobsYAML is the shared test config plus a globex key with the jobs
// scopes (whatever scopes the shared config gives globex's own key).
func jobsYAML(receiverURL string) string {
	return strings.Replace(apptest.Config(receiverURL), "  - id: globex\n    keys:\n",
		"  - id: globex\n    keys:\n      - { name: jobs, sha256: \""+config.HashKey(keyGlobexJobs)+"\", scopes: [jobs:read, jobs:write] }\n", 1)
}

func withClock(c clock.Clock) func(*app.Options) {
	return func(o *app.Options) { o.Clock = c }
}

func dispatchBody(id string, schedule map[string]any) map[string]any {
	return map[string]any{
		"product": "shop", "env": "prd", "notification": "orders:confirmation",
		"input":    map[string]any{"callback": map[string]any{"params": map[string]any{"id": id}, "body": map[string]any{"order": id}}},
		"schedule": schedule,
	}
}

// dispatch creates a job through the API and returns its id.
func dispatch(t *testing.T, h *apptest.Herald, body map[string]any) string {
	t.Helper()
	r := h.Do("POST", "/v1/notifications/dispatch", apptest.KeyAcme, body)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	id, _ := r.JSON()["job_id"].(string)
	require.NotEmpty(t, id)
	return id
}

func getJob(t *testing.T, h *apptest.Herald, id string) map[string]any {
	t.Helper()
	r := h.Do("GET", "/v1/jobs/"+id, apptest.KeyAcme, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	return r.JSON()
}

// waitRuns polls until the job has run n times and returns it.
func waitRuns(t *testing.T, h *apptest.Herald, id string, n int) map[string]any {
	t.Helper()
	var j map[string]any
	require.Eventually(t, func() bool {
		j = getJob(t, h, id)
		return j["runs"] == float64(n)
	}, 15*time.Second, 5*time.Millisecond, "job %s never ran %d times; last: %v", id, n, j)
	return j
}

func TestDispatchValidation(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: schedulerYAML(rc.URL, "")})
	good := map[string]any{"every": 60000}
	cases := []struct {
		name  string
		body  any
		field string
	}{
		{"bad cron", dispatchBody("1", map[string]any{"cron": "61 * * * *"}), "schedule.cron"},
		{"cron never matches", dispatchBody("1", map[string]any{"cron": "0 0 30 2 *"}), "schedule.cron"},
		{"unknown zone", dispatchBody("1", map[string]any{"cron": "0 9 * * *", "tz": "Europe/Atlantis"}), "schedule.tz"},
		{"every below the minimum", dispatchBody("1", map[string]any{"every": 500}), "schedule.every"},
		{"endDate before start_at", dispatchBody("1", map[string]any{"every": 60000, "start_at": "2030-01-02T00:00:00Z", "endDate": "2030-01-01T00:00:00Z"}), "schedule.endDate"},
		{"endDate passed", dispatchBody("1", map[string]any{"every": 60000, "endDate": "2001-01-01T00:00:00Z"}), "schedule.endDate"},
		{"no schedule", dispatchBody("1", nil), "schedule"},
		{"empty schedule", dispatchBody("1", map[string]any{}), "schedule"},
		{"unknown schedule field", dispatchBody("1", map[string]any{"every": 60000, "repeat": true}), "schedule.repeat"},
		{"channel input as a send checks it", dispatchBody("", good), "input.callback.params.id"},
		{"unknown notification", func() any { b := dispatchBody("1", good); b["notification"] = "orders:nope"; return b }(), "notification"},
		{"malformed notification", func() any { b := dispatchBody("1", good); b["notification"] = "orders"; return b }(), "notification"},
		{"unknown event", func() any { b := dispatchBody("1", good); delete(b, "notification"); b["event"] = "nope"; return b }(), "event"},
		{"event and notification disagree", func() any { b := dispatchBody("1", good); b["event"] = "refunds"; return b }(), "event"},
		{"no channel", func() any { b := dispatchBody("1", good); b["input"] = map[string]any{}; return b }(), "input"},
		{"unknown channel", func() any {
			b := dispatchBody("1", good)
			b["input"] = map[string]any{"fax": map[string]any{}}
			return b
		}(), "input.fax"},
		{"unknown product", func() any { b := dispatchBody("1", good); b["product"] = "nope"; return b }(), "product"},
		{"bad retries", func() any { b := dispatchBody("1", good); b["retries"] = -1; return b }(), "retries"},
		{"not JSON", "{", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.Do("POST", "/v1/notifications/dispatch", apptest.KeyAcme, tc.body)
			require.Equal(t, http.StatusBadRequest, r.Status, string(r.Body))
			e := errorOf(t, r)
			require.Equal(t, "invalid_argument", e["code"])
			if tc.field == "" {
				require.Nil(t, e["field"])
			} else {
				require.Equal(t, tc.field, e["field"], e["message"])
			}
		})
	}
	list := h.Do("GET", "/v1/jobs", apptest.KeyAcme, nil)
	require.EqualValues(t, 0, list.JSON()["total"], "refused dispatches write nothing")

	// Scopes: jobs:write to create, jobs:read to read.
	r := h.Do("POST", "/v1/notifications/dispatch", apptest.KeyAcmeRead, dispatchBody("1", good))
	require.Equal(t, http.StatusForbidden, r.Status)
	r = h.Do("GET", "/v1/jobs", apptest.KeyAcmeRead, nil)
	require.Equal(t, http.StatusForbidden, r.Status)
	r = h.Do("POST", "/v1/notifications/dispatch", "", dispatchBody("1", good))
	require.Equal(t, http.StatusUnauthorized, r.Status)
}

func TestJobsAPI(t *testing.T) {
	rc := apptest.NewReceiver(t)
	clk := clock.NewFake(time.Date(2027, 2, 1, 10, 0, 0, 0, time.UTC))
	h := apptest.Start(t, apptest.Options{YAML: schedulerYAML(rc.URL, ""), AppOpts: withClock(clk)})

	body := dispatchBody("J-1", map[string]any{"cron": "0 9 * * *", "tz": "Europe/Berlin", "limit": 5})
	body["session"] = "user-session:secret-token"
	body["retries"] = 2
	r := h.Do("POST", "/v1/notifications/dispatch", apptest.KeyAcme, body)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	created := r.JSON()
	id := created["job_id"].(string)
	require.Equal(t, "queued", created["status"])
	require.Equal(t, "2027-02-02T08:00:00.000Z", created["next_run_at"], "09:00 in Berlin (CET) tomorrow")

	j := getJob(t, h, id)
	require.Equal(t, id, j["job_id"])
	require.Equal(t, "queued", j["status"])
	require.EqualValues(t, 0, j["runs"])
	require.Nil(t, j["last_run_at"])
	require.Equal(t, "2027-02-02T08:00:00.000Z", j["next_run_at"])
	require.Equal(t, map[string]any{"start_at": nil, "cron": "0 9 * * *", "every": nil, "limit": float64(5), "endDate": nil, "tz": "Europe/Berlin"}, j["schedule"])
	require.Equal(t, "orders:confirmation", j["notification"])
	require.Equal(t, "user-session", j["session"], "only the session tag is kept")
	require.NotContains(t, string(h.Do("GET", "/v1/jobs/"+id, apptest.KeyAcme, nil).Body), "secret-token")
	require.EqualValues(t, 2, j["retries"])
	require.Equal(t, map[string]any{"callback": map[string]any{"params": map[string]any{"id": "J-1"}, "body": map[string]any{"order": "J-1"}}}, j["input"])

	// The same cache tag answers the first job: 200, nothing new.
	cached := dispatchBody("J-2", map[string]any{"every": 60000})
	cached["cache"] = "campaign-7"
	first := dispatch(t, h, cached)
	r = h.Do("POST", "/v1/notifications/dispatch", apptest.KeyAcme, cached)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, first, r.JSON()["job_id"])
	require.Equal(t, true, r.JSON()["deduplicated"])

	// Pause, resume, cancel.
	r = h.Do("POST", "/v1/jobs/"+id+"/pause", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, "paused", r.JSON()["status"])
	require.Nil(t, r.JSON()["next_run_at"])
	r = h.Do("POST", "/v1/jobs/"+id+"/resume", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, "queued", r.JSON()["status"])
	require.Equal(t, "2027-02-02T08:00:00.000Z", r.JSON()["next_run_at"])
	r = h.Do("DELETE", "/v1/jobs/"+id, apptest.KeyAcme, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, "cancelled", r.JSON()["status"])
	r = h.Do("POST", "/v1/jobs/"+id+"/resume", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	require.Equal(t, "conflict", errorOf(t, r)["code"])

	// Listing: newest first, by status, with a cursor.
	var ids []string
	for i := range 5 {
		clk.Advance(time.Millisecond)
		ids = append(ids, dispatch(t, h, dispatchBody(fmt.Sprint("L-", i), map[string]any{"every": 3600000})))
	}
	r = h.Do("GET", "/v1/jobs?status=queued&limit=3", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	page := r.JSON()
	require.EqualValues(t, 6, page["total"])
	require.Equal(t, true, page["hasMore"])
	items := page["items"].([]any)
	require.Len(t, items, 3)
	require.Equal(t, ids[4], items[0].(map[string]any)["job_id"])
	r = h.Do("GET", "/v1/jobs?status=queued&limit=3&cursor="+page["next_cursor"].(string), apptest.KeyAcme, nil)
	page = r.JSON()
	require.Equal(t, false, page["hasMore"])
	require.Len(t, page["items"], 3)
	require.Equal(t, first, page["items"].([]any)[2].(map[string]any)["job_id"])
	r = h.Do("GET", "/v1/jobs?status=cancelled", apptest.KeyAcme, nil)
	require.EqualValues(t, 1, r.JSON()["total"])
	r = h.Do("GET", "/v1/jobs", apptest.KeyAcme, nil)
	require.EqualValues(t, 7, r.JSON()["total"])
	r = h.Do("GET", "/v1/jobs?limit=500", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusOK, r.Status, "a limit above the maximum is clamped: %s", r.Body)
	require.EqualValues(t, 200, r.JSON()["limit"])
	for _, bad := range []string{"status=running", "limit=0", "cursor=%21%21", "sort=asc"} {
		r = h.Do("GET", "/v1/jobs?"+bad, apptest.KeyAcme, nil)
		require.Equal(t, http.StatusBadRequest, r.Status, bad)
		require.Equal(t, strings.Split(bad, "=")[0], errorOf(t, r)["field"])
	}

	// Another workspace's job answers 404 everywhere; so do unknown ids.
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/jobs/" + ids[0]}, {"POST", "/v1/jobs/" + ids[0] + "/pause"},
		{"POST", "/v1/jobs/" + ids[0] + "/resume"}, {"DELETE", "/v1/jobs/" + ids[0]},
	} {
		r = h.Do(c.method, c.path, keyGlobexJobs, nil)
		require.Equal(t, http.StatusNotFound, r.Status, c)
		require.Equal(t, "resource_not_found", errorOf(t, r)["code"])
	}
	r = h.Do("GET", "/v1/jobs", keyGlobexJobs, nil)
	require.EqualValues(t, 0, r.JSON()["total"])
	r = h.Do("GET", "/v1/jobs/job_nope", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "queued", getJob(t, h, ids[0])["status"], "globex's attempts changed nothing")
}

// Every fire goes through the producer: one message per channel with
// campaign_id = job id and triggered_by = schedule, a fire record whose
// slot is the scheduled time, and the job completes at its limit.
func TestScheduledSendsGoThroughTheProducer(t *testing.T) {
	rc := apptest.NewReceiver(t)
	t0 := time.Date(2027, 2, 1, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := apptest.Start(t, apptest.Options{YAML: schedulerYAML(rc.URL, ""), AppOpts: withClock(clk)})
	body := dispatchBody("SCH-1", map[string]any{"every": 1000, "limit": 3, "start_at": t0.Add(time.Second).UnixMilli()})
	body["session"] = "user-session:token-checked-at-dispatch"
	id := dispatch(t, h, body)

	for i := 1; i <= 3; i++ {
		clk.Set(t0.Add(time.Duration(i) * time.Second))
		j := waitRuns(t, h, id, i)
		require.Equal(t, t0.Add(time.Duration(i)*time.Second).Format("2006-01-02T15:04:05.000Z"), j["last_run_at"])
	}
	j := getJob(t, h, id)
	require.Equal(t, "completed", j["status"])
	require.Nil(t, j["next_run_at"])

	q := h.Do("GET", "/v1/messages?campaign_id="+id, apptest.KeyAcme, nil)
	require.EqualValues(t, 3, q.JSON()["total"], string(q.Body))
	for _, it := range q.JSON()["items"].([]any) {
		e := it.(map[string]any)
		require.Equal(t, "schedule", e["triggered_by"])
		require.Equal(t, id, e["campaign_id"])
		require.Equal(t, "callback", e["type"])
		require.Equal(t, "user-session", e["session"], "the tag of the session checked at dispatch")
		h.WaitStatus(e["_id"].(string), "sent", 10*time.Second)
	}
	require.Equal(t, 3, rc.Count("/orders/SCH-1"))

	fires, total, err := h.App.Store().Fires(context.Background(), logstore.FireQuery{Workspace: "acme", JobID: id})
	require.NoError(t, err)
	require.EqualValues(t, 3, total)
	for i, f := range fires {
		require.Equal(t, t0.Add(time.Duration(i+1)*time.Second), f.Slot.UTC(), "startDeliveryAt is the slot")
		require.Len(t, f.Messages, 1)
		e := h.Message(apptest.KeyAcme, f.Messages["callback"])
		require.Equal(t, f.ProcessID, e["process_id"])
	}
}

// A daily 02:30 job in Europe/Berlin fires once on the spring-forward day
// and once on the fall-back day, through the running scheduler.
func TestDailyJobAcrossDaylightSaving(t *testing.T) {
	rc := apptest.NewReceiver(t)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	clk := clock.NewFake(time.Date(2027, 3, 26, 12, 0, 0, 0, time.UTC))
	// The test spans seven months: keep the fire records that long.
	h := apptest.Start(t, apptest.Options{YAML: schedulerYAML(rc.URL, "") + "retention: 400d\n", AppOpts: withClock(clk)})
	id := dispatch(t, h, map[string]any{
		"product": "shop", "env": "prd", "event": "orders",
		"input":    map[string]any{"callback": map[string]any{"params": map[string]any{"id": "DST"}}},
		"schedule": map[string]any{"cron": "30 2 * * *", "tz": "Europe/Berlin"},
	})
	// 2027: clocks go forward on 28 March (02:00 -> 03:00) and back on
	// 31 October (03:00 -> 02:00).
	expect := []time.Time{
		time.Date(2027, 3, 27, 1, 30, 0, 0, time.UTC),  // 02:30 CET
		time.Date(2027, 3, 28, 1, 30, 0, 0, time.UTC),  // 03:30 CEST: 02:30 does not exist
		time.Date(2027, 3, 29, 0, 30, 0, 0, time.UTC),  // 02:30 CEST
		time.Date(2027, 10, 30, 0, 30, 0, 0, time.UTC), // 02:30 CEST
		time.Date(2027, 10, 31, 0, 30, 0, 0, time.UTC), // the first 02:30 (CEST) only
		time.Date(2027, 11, 1, 1, 30, 0, 0, time.UTC),  // 02:30 CET
	}
	runs := 0
	for i, slot := range expect {
		if i == 3 {
			// Pause over the summer; resume just before the autumn.
			require.Equal(t, http.StatusOK, h.Do("POST", "/v1/jobs/"+id+"/pause", apptest.KeyAcme, nil).Status)
			clk.Set(time.Date(2027, 10, 29, 12, 0, 0, 0, time.UTC))
			r := h.Do("POST", "/v1/jobs/"+id+"/resume", apptest.KeyAcme, nil)
			require.Equal(t, http.StatusOK, r.Status)
			require.Equal(t, "2027-10-30T00:30:00.000Z", r.JSON()["next_run_at"], "slots missed while paused are skipped")
		}
		require.Equal(t, slot.Format("2006-01-02T15:04:05.000Z"), getJob(t, h, id)["next_run_at"], "slot %d", i)
		clk.Set(slot)
		runs++
		j := waitRuns(t, h, id, runs)
		require.Equal(t, slot.Format("2006-01-02T15:04:05.000Z"), j["last_run_at"])
	}
	// Past the second 02:30 of 31 October nothing more fires that day.
	clk.Set(time.Date(2027, 11, 1, 1, 29, 0, 0, time.UTC))
	require.Equal(t, "2027-11-02T01:30:00.000Z", getJob(t, h, id)["next_run_at"])
	require.EqualValues(t, 6, getJob(t, h, id)["runs"])

	perDay := map[string]int{}
	fires, _, err := h.App.Store().Fires(context.Background(), logstore.FireQuery{Workspace: "acme", JobID: id})
	require.NoError(t, err)
	for _, f := range fires {
		perDay[f.Slot.In(berlin).Format("2006-01-02")]++
	}
	require.Equal(t, map[string]int{"2027-03-27": 1, "2027-03-28": 1, "2027-03-29": 1, "2027-10-30": 1, "2027-10-31": 1, "2027-11-01": 1}, perDay)
	require.Eventually(t, func() bool { return rc.Count("/orders/DST") == 6 }, 10*time.Second, 10*time.Millisecond)
}

// Jobs survive a restart of every process; after downtime the missed slot
// fires once, not as a burst.
func TestJobsSurviveRestartAndMissedSlotFiresOnce(t *testing.T) {
	rc := apptest.NewReceiver(t)
	t0 := time.Date(2027, 2, 1, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	dataDir := t.TempDir()
	opts := apptest.Options{YAML: schedulerYAML(rc.URL, ""), AppOpts: withClock(clk), DataDir: dataDir}
	h := apptest.Start(t, opts)
	id := dispatch(t, h, dispatchBody("RS-1", map[string]any{"every": 10000}))
	clk.Set(t0.Add(10 * time.Second))
	waitRuns(t, h, id, 1)
	require.NoError(t, h.Stop(10*time.Second))

	// Down for a minute: five slots (t0+20s .. t0+60s) pass unfired.
	clk.Set(t0.Add(65 * time.Second))
	opts.Redis = h.Redis
	h2 := apptest.Start(t, opts)
	j := waitRuns(t, h2, id, 2)
	require.Equal(t, t0.Add(20*time.Second).Format("2006-01-02T15:04:05.000Z"), j["last_run_at"], "the first missed slot fires, once")
	require.Equal(t, t0.Add(70*time.Second).Format("2006-01-02T15:04:05.000Z"), j["next_run_at"], "then the schedule continues from now")
	require.Equal(t, "active", j["status"])
	clk.Set(t0.Add(70 * time.Second))
	waitRuns(t, h2, id, 3)

	q := h2.Do("GET", "/v1/messages?campaign_id="+id, apptest.KeyAcme, nil)
	require.EqualValues(t, 3, q.JSON()["total"])
	require.Eventually(t, func() bool { return rc.Count("/orders/RS-1") == 3 }, 10*time.Second, 10*time.Millisecond)
}
