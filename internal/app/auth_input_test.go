package app_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/queue"
)

func errorOf(t *testing.T, r *apptest.Response) map[string]any {
	t.Helper()
	e, ok := r.JSON()["error"].(map[string]any)
	require.True(t, ok, "error shape: %s", r.Body)
	require.NotEmpty(t, e["message"])
	return e
}

func TestAuthAndIsolation(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	id := h.SendCallback("I-1", nil)
	h.WaitStatus(id, "sent", 10*time.Second)

	for _, tc := range []struct {
		name, method, path, key string
		header                  string
		status                  int
		code                    string
	}{
		{"no key", "GET", "/v1/messages", "", "", 401, "unauthenticated"},
		{"wrong key", "GET", "/v1/messages", "hk_nope", "", 401, "unauthenticated"},
		{"basic scheme", "GET", "/v1/messages", "", "Basic YWxhZGRpbjpvcGVu", 401, "unauthenticated"},
		{"read key cannot send", "POST", "/v1/notifications/callback/send", apptest.KeyAcmeRead, "", 403, "permission_denied"},
		{"other workspace's message", "GET", "/v1/messages/" + id, apptest.KeyGlobex, "", 404, "resource_not_found"},
		{"other workspace's attempts", "GET", "/v1/messages/" + id + "/attempts", apptest.KeyGlobex, "", 404, "resource_not_found"},
		{"unknown id", "GET", "/v1/messages/" + ids.New(time.Now()), apptest.KeyAcme, "", 404, "resource_not_found"},
		{"expired id", "GET", "/v1/messages/" + ids.New(time.Now().Add(-100*24*time.Hour)), apptest.KeyAcme, "", 410, "retention_expired"},
		{"garbage id", "GET", "/v1/messages/..%2f..%2fetc", apptest.KeyAcme, "", 404, "resource_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, h.URL+tc.path, strings.NewReader(`{}`))
			require.NoError(t, err)
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.status == 401 {
				require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
			}
		})
	}
	// The read key reads; the other workspace sees none of acme's log.
	require.Equal(t, http.StatusOK, h.Do("GET", "/v1/messages/"+id, apptest.KeyAcmeRead, nil).Status)
	r := h.Do("GET", "/v1/messages", apptest.KeyGlobex, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.EqualValues(t, 0, r.JSON()["total"])
	require.Empty(t, r.JSON()["items"])
	r = h.Do("GET", "/v1/messages", apptest.KeyAcme, nil)
	require.EqualValues(t, 1, r.JSON()["total"])
}

func TestBadInputWritesNothing(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	valid := `{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"params":{"id":"1"}}}`
	huge := `{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"params":{"id":"1"},"body":{"x":"` + strings.Repeat("a", 1<<20) + `"}}}`
	ctx := context.Background()
	// The worker's ledger vouches for each workspace's Redis at start (its
	// own keys, written in the background): let it, so that what is left
	// to compare is what the requests wrote.
	require.Eventually(t, func() bool {
		n, err := h.Redis.Client.Exists(ctx, "herald:{acme}:ledger", "herald:{globex}:ledger").Result()
		return err == nil && n == 2
	}, 30*time.Second, 20*time.Millisecond, "the ledger vouched for both workspaces")
	keysBefore := redisKeys(t, h)
	for _, tc := range []struct {
		name, channel, body string
		status              int
		code, field         string
	}{
		{"malformed JSON", "callback", `{"product": "shop",`, 400, "invalid_argument", ""},
		{"not an object", "callback", `[1,2]`, 400, "invalid_argument", ""},
		{"empty body", "callback", ``, 400, "invalid_argument", ""},
		{"trailing data", "callback", valid + `{}`, 400, "invalid_argument", ""},
		{"wrong type", "callback", `{"product":5,"env":"prd","notification":"orders:confirmation","input":{}}`, 400, "invalid_argument", "product"},
		{"retries wrong type", "callback", strings.Replace(valid, `"input"`, `"retries":"3","input"`, 1), 400, "invalid_argument", "retries"},
		{"retries out of range", "callback", strings.Replace(valid, `"input"`, `"retries":1000,"input"`, 1), 400, "invalid_argument", "retries"},
		{"unknown field", "callback", strings.Replace(valid, `"input"`, `"prodcut":"x","input"`, 1), 400, "invalid_argument", "prodcut"},
		{"unknown channel", "fax", valid, 400, "invalid_argument", "channel"},
		{"missing product", "callback", `{"env":"prd","notification":"orders:confirmation","input":{}}`, 400, "invalid_argument", "product"},
		{"unknown product", "callback", strings.Replace(valid, `"shop"`, `"nope"`, 1), 400, "invalid_argument", "product"},
		{"missing env", "callback", `{"product":"shop","notification":"orders:confirmation","input":{}}`, 400, "invalid_argument", "env"},
		{"env not in product", "callback", strings.Replace(valid, `"prd"`, `"stg"`, 1), 400, "invalid_argument", "env"},
		{"unknown notification", "callback", strings.Replace(valid, `orders:confirmation`, `orders:nope`, 1), 400, "invalid_argument", "notification"},
		{"notification without message tag", "callback", strings.Replace(valid, `orders:confirmation`, `orders`, 1), 400, "invalid_argument", "notification"},
		{"notification without that channel", "email", valid, 400, "invalid_argument", "notification"},
		{"missing input", "callback", `{"product":"shop","env":"prd","notification":"orders:confirmation"}`, 400, "invalid_argument", "input"},
		{"missing url param", "callback", strings.Replace(valid, `{"id":"1"}`, `{}`, 1), 400, "invalid_argument", "input.params.id"},
		{"unknown input key", "callback", strings.Replace(valid, `"params"`, `"parms":{},"params"`, 1), 400, "invalid_argument", "input.parms"},
		{"forbidden header", "callback", strings.Replace(valid, `"params"`, `"headers":{"Host":"evil"},"params"`, 1), 400, "invalid_argument", "input.headers.Host"},
		{"too large", "callback", huge, 413, "payload_too_large", ""},
		// Invalid UTF-8 inside strings: encoding/json would accept it and the
		// input would be stored and served back raw.
		{"invalid UTF-8 in a param", "callback", strings.Replace(valid, `"1"`, "\"1\xff\"", 1), 400, "invalid_argument", "input.params.id"},
		{"invalid UTF-8 in the body", "callback", strings.Replace(valid, `"params"`, "\"body\":{\"items\":[\"ok\",{\"n\":\"\xed\xa0\x80\"}]},\"params\"", 1), 400, "invalid_argument", "input.body.items[1].n"},
		{"invalid UTF-8 in a header name", "callback", strings.Replace(valid, `"params"`, "\"headers\":{\"X-\xc3\":\"v\"},\"params\"", 1), 400, "invalid_argument", "input.headers.X-\ufffd"},
		{"invalid UTF-8 in the cache tag", "callback", strings.Replace(valid, `"input"`, "\"cache\":\"\xc0\xaf\",\"input\"", 1), 400, "invalid_argument", "cache"},
		{"invalid UTF-8 in a multi-channel send", "", `{"product":"shop","env":"prd","event":"orders","input":{"callback":{"params":{"id":"` + "\xff" + `"}}}}`, 400, "invalid_argument", "input.callback.params.id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v1/notifications/" + tc.channel + "/send"
			if tc.channel == "" {
				path = "/v1/notifications/send"
			}
			r := h.Do("POST", path, apptest.KeyAcme, tc.body)
			require.True(t, utf8.Valid(r.Body), "the answer is valid UTF-8: %q", r.Body)
			require.Equal(t, tc.status, r.Status, string(r.Body))
			e := errorOf(t, r)
			require.Equal(t, tc.code, e["code"])
			if tc.field != "" {
				require.Equal(t, tc.field, e["field"], e["message"])
			}
		})
	}
	var added []string
	for k := range redisKeys(t, h) {
		// Leases of the background loops (ledger, janitor, reconciler)
		// come and go on their own; no request takes one.
		if !keysBefore[k] && !strings.Contains(k, ":lock:") {
			added = append(added, k)
		}
	}
	require.Empty(t, added, "no bad request wrote to Redis")
	r := h.Do("GET", "/v1/messages", apptest.KeyAcme, nil)
	require.EqualValues(t, 0, r.JSON()["total"])
	st, err := h.App.JetStream().Stream(ctx, queue.StreamSend)
	require.NoError(t, err)
	si, err := st.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, si.State.Msgs, "no bad request queued anything")
}

func TestQueryValidation(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	for _, tc := range []struct{ query, field string }{
		{"statsu=sent", "statsu"},
		{"status=done", "status"},
		{"type=fax", "type"},
		{"limit=0", "limit"},
		{"limit=-5", "limit"},
		{"limit=ten", "limit"},
		{"page=0", "page"},
		{"start_date=yesterday", "start_date"},
		{"start_date=2024-02-01T00:00:00Z&end_date=2024-01-01T00:00:00Z", "start_date"},
		{"cursor=zzz", "cursor"},
		{"env=a%20b", "env"},
		{"env=prd&env=dev", "env"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := h.Do("GET", "/v1/messages?"+tc.query, apptest.KeyAcme, nil)
			require.Equal(t, http.StatusBadRequest, r.Status, string(r.Body))
			require.Equal(t, tc.field, errorOf(t, r)["field"])
		})
	}
	r := h.Do("GET", "/v1/messages/x/attempts?foo=1", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusBadRequest, r.Status)

	// A limit above the maximum is clamped, not refused, and the answer
	// says which limit it used (as Paddle's per_page does).
	for _, q := range []string{"limit=201", "limit=100000", "limit=99999999999999999999"} {
		r = h.Do("GET", "/v1/messages?"+q, apptest.KeyAcme, nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		require.EqualValues(t, 200, r.JSON()["limit"], q)
	}
}

func TestMessageQueryFilters(t *testing.T) {
	rc := apptest.NewReceiver(t)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if strings.HasPrefix(r.URL.Path, "/orders/bad") {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	start := time.Now().UTC()
	var good, bad []string
	for i := range 5 {
		good = append(good, h.SendCallback("good"+string(rune('a'+i)), nil))
	}
	for i := range 3 {
		bad = append(bad, h.SendCallback("bad"+string(rune('a'+i)), map[string]any{"env": "dev"}))
	}
	for _, id := range good {
		h.WaitStatus(id, "sent", 10*time.Second)
	}
	for _, id := range bad {
		h.WaitStatus(id, "failed", 10*time.Second)
	}
	total := func(q string) float64 {
		r := h.Do("GET", "/v1/messages?"+q, apptest.KeyAcme, nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		return r.JSON()["total"].(float64)
	}
	require.EqualValues(t, 8, total(""))
	require.EqualValues(t, 5, total("status=sent"))
	require.EqualValues(t, 3, total("status=failed"))
	require.EqualValues(t, 3, total("env=dev"))
	require.EqualValues(t, 3, total("env=dev&status=failed"))
	require.EqualValues(t, 0, total("env=dev&status=sent"))
	require.EqualValues(t, 8, total("type=callback&product_tag=shop&notification_tag=orders"))
	require.EqualValues(t, 0, total("type=email"))
	require.EqualValues(t, 8, total("start_date="+start.Add(-time.Second).Format(time.RFC3339)))
	require.EqualValues(t, 0, total("end_date="+start.Add(-time.Minute).Format(time.RFC3339)))
	require.EqualValues(t, 8, total("start_date="+strconvMs(start.Add(-time.Second))))

	// Page through newest first: page 1 and 2 of 3, then the cursor.
	r := h.Do("GET", "/v1/messages?limit=3", apptest.KeyAcme, nil)
	body := r.JSON()
	require.EqualValues(t, 1, body["page"])
	require.EqualValues(t, 3, body["limit"])
	require.Equal(t, true, body["hasMore"])
	items := body["items"].([]any)
	require.Equal(t, bad[2], items[0].(map[string]any)["_id"], "newest first")
	r2 := h.Do("GET", "/v1/messages?limit=3&page=2", apptest.KeyAcme, nil).JSON()
	r3 := h.Do("GET", "/v1/messages?limit=3&cursor="+body["next_cursor"].(string), apptest.KeyAcme, nil).JSON()
	require.Equal(t, r2["items"], r3["items"])
	require.Equal(t, good[4], r2["items"].([]any)[0].(map[string]any)["_id"])
	last := h.Do("GET", "/v1/messages?limit=3&page=3", apptest.KeyAcme, nil).JSON()
	require.Equal(t, false, last["hasMore"])
	require.Len(t, last["items"], 2)
	require.Nil(t, last["next_cursor"])
}

func strconvMs(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// redisKeys returns every key of the test's Redis.
func redisKeys(t *testing.T, h *apptest.Herald) map[string]bool {
	t.Helper()
	keys, err := h.Redis.Client.Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return set
}
