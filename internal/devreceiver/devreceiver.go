// Package devreceiver is the loopback webhook receiver `make run` starts so
// that a newcomer's first callback has somewhere to go: it prints every
// request it gets and answers 200.
package devreceiver

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Handler prints each request to out and answers 200 with a JSON body, or
// the status a path /fail/<status>/... asks for (to watch retries).
func Handler(out io.Writer) http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		var hdr []string
		for k, v := range r.Header {
			hdr = append(hdr, k+": "+strings.Join(v, ", "))
		}
		sort.Strings(hdr)
		fmt.Fprintf(out, "--- callback #%d at %s\n%s %s\n%s\n\n%s\n\n", n.Add(1), time.Now().Format(time.RFC3339),
			r.Method, r.URL.RequestURI(), strings.Join(hdr, "\n"), body)
		w.Header().Set("Content-Type", "application/json")
		if rest, ok := strings.CutPrefix(r.URL.Path, "/fail/"); ok {
			code, _, _ := strings.Cut(rest, "/")
			if n, err := strconv.Atoi(code); err == nil && n >= 200 && n <= 599 {
				w.WriteHeader(n)
				_, _ = io.WriteString(w, `{"received":true,"failing_on_purpose":true}`)
				return
			}
		}
		_, _ = io.WriteString(w, `{"received":true}`)
	})
}
