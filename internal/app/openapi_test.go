package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/pkg/client"
)

// validatingTransport checks every response the SDK gets against the
// OpenAPI document served by the same server.
type validatingTransport struct {
	t      *testing.T
	router routers.Router
	seen   map[string]bool
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))

	check := req.Clone(context.Background())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := v.router.FindRoute(check)
	if err != nil {
		v.t.Errorf("%s %s: not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
		return resp, nil
	}
	v.seen[route.Method+" "+route.Path] = true
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if resp.StatusCode < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			v.t.Errorf("%s %s: the request does not match the document: %v", req.Method, req.URL.Path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		v.t.Errorf("%s %s -> %d: the response does not match the document: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}

func TestOpenAPIDocument(t *testing.T) {
	rc := apptest.NewReceiver(t)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if strings.Contains(r.URL.Path, "oa-fail") {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	r := h.Do("GET", "/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(r.Body)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()), "a valid OpenAPI document")
	require.Equal(t, "3.1.0", doc.OpenAPI)

	// Exactly the served routes are documented.
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	served := h.App.API().Routes()
	for _, route := range served {
		require.Contains(t, documented, route, "served but not documented")
	}
	for _, route := range documented {
		require.Contains(t, served, route, "documented but not served")
	}

	// Real responses validate, through the SDK.
	doc.Servers = openapi3.Servers{{URL: h.URL}} // the test server's address
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	vt := &validatingTransport{t: t, router: router, seen: map[string]bool{}}
	c, err := client.New(h.URL, apptest.KeyAcme, client.WithHTTPClient(&http.Client{Transport: vt, Timeout: 30 * time.Second}))
	require.NoError(t, err)
	ctx := context.Background()
	res, err := c.Send(ctx, client.Callback, client.SendRequest{Product: "shop", Env: "prd", Notification: "orders:confirmation",
		Input: client.CallbackInput{Params: map[string]any{"id": "oa-1"}, Body: map[string]any{"n": 1}}, Cache: "oa-1"})
	require.NoError(t, err)
	_, err = c.Send(ctx, client.Callback, client.SendRequest{Product: "shop", Env: "prd", Notification: "orders:confirmation",
		Input: client.CallbackInput{Params: map[string]any{"id": "oa-1"}}, Cache: "oa-1"})
	require.NoError(t, err)
	_, err = c.Send(ctx, client.Callback, client.SendRequest{Product: "shop", Env: "prd", Notification: "orders:confirmation", Input: client.CallbackInput{}})
	require.Error(t, err)
	failed, err := c.Send(ctx, client.Callback, client.SendRequest{Product: "shop", Env: "prd", Notification: "orders:confirmation",
		Input: client.CallbackInput{Params: map[string]any{"id": "oa-fail"}}})
	require.NoError(t, err)
	multi, err := c.SendMulti(ctx, client.MultiSendRequest{Product: "shop", Env: "prd", Event: "orders",
		Input: client.MultiInput{Callback: &client.CallbackInput{Params: map[string]any{"id": "oa-2"}}}})
	require.NoError(t, err)
	_, err = c.SendMulti(ctx, client.MultiSendRequest{Product: "shop", Env: "prd", Event: "orders", Input: client.MultiInput{Callback: &client.CallbackInput{}}})
	require.Error(t, err)
	h.WaitStatus(res.MessageID, "sent", 10*time.Second)
	h.WaitStatus(failed.MessageID, "failed", 10*time.Second)

	_, err = c.ListMessages(ctx, client.MessageQuery{Limit: 2})
	require.NoError(t, err)
	_, err = c.ListMessages(ctx, client.MessageQuery{MessageFilter: client.MessageFilter{Env: "not an env"}})
	require.Error(t, err)
	_, err = c.GetMessage(ctx, res.MessageID)
	require.NoError(t, err)
	_, err = c.GetMessage(ctx, "01"+strings.Repeat("Z", 24))
	require.Error(t, err)
	_, err = c.ListAttempts(ctx, failed.MessageID, "", 10)
	require.NoError(t, err)
	_, err = c.SetStatus(ctx, res.MessageID, client.StatusFailed, "")
	require.Error(t, err)
	_, err = c.ReprocessMatching(ctx, client.BulkReprocess{DryRun: true})
	require.NoError(t, err)
	_, err = c.Reprocess(ctx, failed.MessageID)
	require.NoError(t, err)
	_, err = c.SetStatus(ctx, res.MessageID, client.StatusReprocessing, "")
	require.NoError(t, err)
	_, err = c.GetSendLog(ctx, multi.ProcessID, true)
	require.NoError(t, err)
	_, err = c.GetSendLog(ctx, "prc_nope", false)
	require.Error(t, err)
	_, err = c.SearchSendLogs(ctx, client.SendLogSearch{CampaignIDs: []string{"x"}, From: time.Now().Add(-time.Hour), Limit: 10})
	require.NoError(t, err)
	_, err = c.ListUndelivered(ctx, client.UndeliveredQuery{Limit: 5})
	require.NoError(t, err)
	next := time.Now().Add(time.Hour)
	job, err := c.Dispatch(ctx, client.DispatchRequest{Product: "shop", Env: "prd", Event: "orders",
		Input:    client.MultiInput{Callback: &client.CallbackInput{Params: map[string]any{"id": "oa-job"}}},
		Schedule: client.Schedule{StartAt: &next, Every: time.Hour, Limit: 3}})
	require.NoError(t, err)
	_, err = c.ListJobs(ctx, "", "", 10)
	require.NoError(t, err)
	_, err = c.GetJob(ctx, job.JobID)
	require.NoError(t, err)
	_, err = c.PauseJob(ctx, job.JobID)
	require.NoError(t, err)
	_, err = c.ResumeJob(ctx, job.JobID)
	require.NoError(t, err)
	_, err = c.CancelJob(ctx, job.JobID)
	require.NoError(t, err)
	_, err = c.GetJob(ctx, "job_nope")
	require.Error(t, err)

	// Routes the SDK does not call: the console's.
	plain := &http.Client{Transport: vt, Timeout: 30 * time.Second}
	for _, path := range []string{"/v1/me", "/v1/overview", "/v1/overview?x=1"} {
		req, err := http.NewRequest("GET", h.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+apptest.KeyAcme)
		resp, err := plain.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}

	var notSeen []string
	for _, route := range documented {
		if !vt.seen[strings.Replace(route, " ", " ", 1)] && !slices.Contains([]string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json", "GET /graphql"}, route) {
			notSeen = append(notSeen, route)
		}
	}
	require.Empty(t, notSeen, "every API route was exercised and validated")
}
