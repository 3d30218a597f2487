package producer

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReplyAllowed(t *testing.T) {
	for _, tc := range []struct {
		reply           string
		strict, lenient bool
	}{
		{"_R_.abc123.XyZ", true, true},
		{"_R_.abc123.XyZ.T", true, true},
		{"_INBOX.3yN0qNcnkn0mBtLsJqGfn7.6", false, true},
		{"herald.send.callback.acme.01J0000000000000000000000", false, false},
		{"herald.in.globex.send.callback", false, false},
		{"$JS.API.STREAM.DELETE.HERALD_SEND", false, false},
		{"$JS.ACK.HERALD_SEND.herald-callback.1.1.1.1.0", false, false},
		{"_INBOX.>", false, false},
		{"_INBOX.*", false, false},
		{"_R_.a.>", false, false},
		{"_INBOX..x", false, false},
		{"_INBOX.a b", false, false},
		{"_INBOX_acme.x", false, false},
		{"_R_." + strings.Repeat("a", 300), false, false},
		{"", false, false},
	} {
		require.Equal(t, tc.strict, replyAllowed(tc.reply, true), "strict %q", tc.reply)
		require.Equal(t, tc.lenient, replyAllowed(tc.reply, false), "lenient %q", tc.reply)
	}
}

// FuzzReplyAllowed: an allowed reply is always a plain subject in the
// response-mapping space (or, without authentication, the inbox space):
// never a wildcard, never one of Herald's own subjects.
func FuzzReplyAllowed(f *testing.F) {
	for _, s := range []string{"_R_.a.b", "_INBOX.x.y", "herald.send.x", "$JS.API.X", "_INBOX.>", "_R_..", "_R_.a\tb"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, reply string, strict bool) {
		if !replyAllowed(reply, strict) {
			return
		}
		if !strings.HasPrefix(reply, "_R_.") && (strict || !strings.HasPrefix(reply, "_INBOX.")) {
			t.Fatalf("allowed %q (strict %v)", reply, strict)
		}
		for _, tok := range strings.Split(reply, ".") {
			if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
				t.Fatalf("allowed %q with token %q", reply, tok)
			}
		}
	})
}
