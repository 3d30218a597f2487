package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/logstore"
)

// A search whose send logs would pass the byte budget ends early and says
// so in parsed.options.limit; paging on with it visits every send once.
func TestSearchSendLogsByteBudget(t *testing.T) {
	r := testutil.StartRedis(t)
	store := logstore.New(r.Client, logstore.Config{})
	t.Cleanup(store.Close)
	cfg, err := config.Parse([]byte("workspaces: [{ id: acme }]"), func(string) string { return "" })
	require.NoError(t, err)
	s := New(Config{Config: func() *config.Config { return cfg }, Store: store})
	now := time.Now()
	const sends = 30
	for i := range sends {
		_, err := store.Create(t.Context(), &logstore.NewEntry{
			ID: ids.New(now.Add(time.Duration(i) * time.Millisecond)), Workspace: "acme", ProductTag: "shop", Env: "prd",
			NotificationTag: "orders", Notification: "orders:x", Type: "callback", TriggeredBy: "api", Head: true,
			// Inputs past sendLogInputBytes are read one at a time.
			Input: json.RawMessage(`{"body":"` + strings.Repeat("x", 3000*(i%2)) + `"}`),
		})
		require.NoError(t, err)
	}
	p := &config.Principal{Workspace: "acme"}
	search := func(skip, limit int) (logs []map[string]any, parsedLimit int) {
		w := httptest.NewRecorder()
		body := fmt.Sprintf(`{"options":{"skip":%d,"limit":%d}}`, skip, limit)
		require.NoError(t, s.searchSendLogs(w, httptest.NewRequest("POST", "/v1/send-logs/search", strings.NewReader(body)), p))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var out struct {
			Data struct {
				Total    int              `json:"total"`
				SendLogs []map[string]any `json:"send_logs"`
				Parsed   struct {
					Options struct{ Skip, Limit int }
				}
			}
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
		require.Equal(t, sends, out.Data.Total)
		return out.Data.SendLogs, out.Data.Parsed.Options.Limit
	}
	all, limit := search(0, 1000)
	require.Len(t, all, sends)
	require.Equal(t, 1000, limit, "within the budget the limit is the one asked for")
	one, _ := json.Marshal(all[0])

	s.sendLogBudget = 5 * len(one)
	seen := map[string]bool{}
	for skip := 0; skip < sends; {
		logs, limit := search(skip, 1000)
		require.NotEmpty(t, logs)
		require.LessOrEqual(t, len(logs), 5)
		if skip+len(logs) < sends {
			require.Equal(t, len(logs), limit, "a cut page's parsed.options.limit is what was returned")
		}
		for _, l := range logs {
			id := l["_id"].(string)
			require.False(t, seen[id], "%s twice", id)
			seen[id] = true
		}
		skip += limit
	}
	require.Len(t, seen, sends)

	s.sendLogBudget = 1 // at least one send log, whatever its size
	logs, limit := search(0, 10)
	require.Len(t, logs, 1)
	require.Equal(t, 1, limit)
}
