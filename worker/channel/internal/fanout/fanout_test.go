package fanout

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/worker/channel"
)

func TestSummarize(t *testing.T) {
	ok := func(r string) Outcome { return Outcome{Recipient: r, Result: channel.Result{StatusCode: 200}} }
	bad := func(r string) Outcome {
		return Outcome{Recipient: r, Err: channel.Permanent(channel.CodeInvalidRecipient, "gone"), Result: channel.Result{StatusCode: 404}}
	}
	later := func(r string, after time.Duration) Outcome {
		return Outcome{Recipient: r, Err: channel.Retryable(channel.CodeDelivery, after, "busy"), Result: channel.Result{StatusCode: 429}}
	}
	creds := func(r string) Outcome {
		return Outcome{Recipient: r, Err: channel.Permanent(channel.CodeSecretExpired, "creds"), Result: channel.Result{StatusCode: 401}}
	}
	for _, tc := range []struct {
		name      string
		outcomes  []Outcome
		skipped   int
		code      string // "" for success
		retryable bool
		after     time.Duration
		done      []string
		status    int
	}{
		{"all accepted", []Outcome{ok("a"), ok("b")}, 0, "", false, 0, []string{"a", "b"}, 200},
		{"one refused, one accepted: sent", []Outcome{ok("a"), bad("b")}, 0, "", false, 0, []string{"a", "b"}, 404},
		{"all refused", []Outcome{bad("a"), bad("b")}, 0, channel.CodeInvalidRecipient, false, 0, []string{"a", "b"}, 404},
		{"all refused now, some settled before: sent", []Outcome{bad("b")}, 1, "", false, 0, []string{"b"}, 404},
		{"one retryable: retry the message, keep the settled", []Outcome{ok("a"), later("b", time.Second), later("c", 3*time.Second), bad("d")}, 0, channel.CodeDelivery, true, 3 * time.Second, []string{"a", "d"}, 429},
		{"rejected credentials fail the message", []Outcome{ok("a"), creds("b"), later("c", 0)}, 0, channel.CodeSecretExpired, false, 0, []string{"a"}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Summarize(tc.outcomes, tc.skipped)
			require.Equal(t, tc.done, res.Done)
			require.Equal(t, tc.status, res.StatusCode)
			if tc.code == "" {
				require.NoError(t, err)
				return
			}
			ce := channel.Classify(err)
			require.Equal(t, tc.code, ce.Code)
			require.Equal(t, tc.retryable, ce.Retryable)
			require.Equal(t, tc.after, ce.RetryAfter)
			if len(tc.outcomes) > 1 {
				require.Contains(t, ce.Error(), "recipients not delivered")
				require.Equal(t, "application/json", res.ContentType)
			}
		})
	}
}
