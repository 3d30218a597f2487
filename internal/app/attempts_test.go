package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
)

// paddleLogs is the response of Paddle's "List logs for a notification"
// (seeds/paddle-notification-logs.txt), with every field the seed marks
// required as a pointer: decoding tells a missing field from a zero one.
type paddleLogs struct {
	Data []struct {
		ID                  *string         `json:"id"`
		ResponseCode        json.RawMessage `json:"response_code"`
		ResponseContentType json.RawMessage `json:"response_content_type"`
		ResponseBody        *string         `json:"response_body"`
		AttemptedAt         *string         `json:"attempted_at"`
		Outcome             string          `json:"outcome"`
	} `json:"data"`
	Meta struct {
		RequestID  *string `json:"request_id"`
		Pagination struct {
			PerPage        *int    `json:"per_page"`
			Next           *string `json:"next"`
			HasMore        *bool   `json:"has_more"`
			EstimatedTotal *int    `json:"estimated_total"`
		} `json:"pagination"`
	} `json:"meta"`
}

func getAttempts(t *testing.T, h *apptest.Herald, rawURL string, header http.Header) (int, paddleLogs, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", rawURL, nil)
	require.NoError(t, err)
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Authorization", "Bearer "+apptest.KeyAcmeRead)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out paddleLogs
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(body, &out), string(body))
		for _, a := range out.Data {
			require.NotNil(t, a.ID)
			require.NotNil(t, a.AttemptedAt)
			require.NotNil(t, a.ResponseBody, "response_body is always present: %s", body)
			var code int
			require.NoError(t, json.Unmarshal(a.ResponseCode, &code), "response_code is always an integer: %s", body)
			require.NotEmpty(t, a.ResponseContentType, "response_content_type is always present (null allowed): %s", body)
		}
		p := out.Meta.Pagination
		require.NotNil(t, out.Meta.RequestID)
		require.NotNil(t, p.PerPage)
		require.NotNil(t, p.HasMore)
		require.NotNil(t, p.EstimatedTotal)
		require.NotNil(t, p.Next, "next is always returned, even when has_more is false: %s", body)
	}
	return resp.StatusCode, out, body
}

// Attempt logs in the shape of Paddle's notification logs, followed the
// way Paddle's clients page: by meta.pagination.next.
func TestAttemptLogsPaddleShape(t *testing.T) {
	rc := apptest.NewReceiver(t)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/orders/hangup-"):
			// No HTTP answer at all: the connection is closed.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		case n < 3:
			w.WriteHeader(http.StatusInternalServerError) // no body, no content type
		default:
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "Token not found")
		}
	})
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	id := h.SendCallback("F-1", map[string]any{"retries": 2})
	hang := h.SendCallback("hangup-1", map[string]any{"retries": 0})
	h.WaitStatus(id, "failed", 10*time.Second)
	h.WaitStatus(hang, "failed", 10*time.Second)

	base := h.URL + "/v1/messages/" + id + "/attempts"
	code, all, body := getAttempts(t, h, base, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Len(t, all.Data, 3)
	var outcomes []string
	for _, a := range all.Data {
		outcomes = append(outcomes, a.Outcome)
	}
	require.Equal(t, []string{"retry", "retry", "failed"}, outcomes, "the last attempt of a message that ended failed is failed")
	require.Equal(t, "", *all.Data[0].ResponseBody, "an empty body is \"\"")
	require.JSONEq(t, "500", string(all.Data[0].ResponseCode))
	require.Equal(t, "null", string(all.Data[0].ResponseContentType), "no Content-Type: null")
	require.Equal(t, "Token not found", *all.Data[2].ResponseBody)
	require.Equal(t, `"text/plain; charset=UTF-8"`, string(all.Data[2].ResponseContentType))
	require.False(t, *all.Meta.Pagination.HasMore)
	require.Equal(t, 50, *all.Meta.Pagination.PerPage)
	require.Equal(t, 3, *all.Meta.Pagination.EstimatedTotal)
	require.Equal(t, base+"?after="+*all.Data[2].ID, *all.Meta.Pagination.Next, "the original query with after, as an absolute URL")

	// Paging by next keeps the original query; the last page still has a next.
	code, p1, body := getAttempts(t, h, base+"?per_page=2", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Len(t, p1.Data, 2)
	require.True(t, *p1.Meta.Pagination.HasMore)
	next, err := url.Parse(*p1.Meta.Pagination.Next)
	require.NoError(t, err)
	require.Equal(t, "2", next.Query().Get("per_page"))
	require.Equal(t, *p1.Data[1].ID, next.Query().Get("after"))
	code, p2, body := getAttempts(t, h, next.String(), nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Len(t, p2.Data, 1)
	require.Equal(t, *all.Data[2].ID, *p2.Data[0].ID)
	require.False(t, *p2.Meta.Pagination.HasMore)
	last, err := url.Parse(*p2.Meta.Pagination.Next)
	require.NoError(t, err)
	require.Equal(t, *p2.Data[0].ID, last.Query().Get("after"))
	// Polling the last next: an empty page whose next stays where it was.
	code, p3, body := getAttempts(t, h, last.String(), nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Empty(t, p3.Data)
	require.Equal(t, last.String(), *p3.Meta.Pagination.Next)

	// Behind a proxy, next is the URL the client used.
	code, fwd, body := getAttempts(t, h, base+"?per_page=1", http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"api.example.com"}})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, "https://api.example.com/v1/messages/"+id+"/attempts?after="+*fwd.Data[0].ID+"&per_page=1", *fwd.Meta.Pagination.Next)

	// per_page above the maximum is clamped and reported.
	code, big, body := getAttempts(t, h, base+"?per_page=1000", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, 200, *big.Meta.Pagination.PerPage)

	// after with an id that is no attempt of this message is a 400.
	code, _, body = getAttempts(t, h, base+"?after=att_01NOSUCHATTEMPT0000000000", nil)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	require.Contains(t, string(body), `"field":"after"`)

	// No HTTP answer: response_code 0, response_body "", content type null.
	code, hl, body := getAttempts(t, h, h.URL+"/v1/messages/"+hang+"/attempts", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Len(t, hl.Data, 1)
	require.JSONEq(t, "0", string(hl.Data[0].ResponseCode))
	require.Equal(t, "", *hl.Data[0].ResponseBody)
	require.Equal(t, "null", string(hl.Data[0].ResponseContentType))
	require.Equal(t, "failed", hl.Data[0].Outcome)
}
