package devreceiver

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHandler(t *testing.T) {
	var out bytes.Buffer
	h := Handler(&out)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/hooks/orders/1?x=1", strings.NewReader(`{"a":1}`)))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, out.String(), "POST /hooks/orders/1?x=1")
	require.Contains(t, out.String(), `{"a":1}`)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/fail/503/orders/1", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, out.String(), "callback #2")
}
