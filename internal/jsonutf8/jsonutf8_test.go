package jsonutf8

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		body, field string
	}{
		{`{"input":{"params":{"id":"a\xffb"}}}`, "input.params.id"},
		{`{"input":{"recipients":["ok@example.com","x\xc3@example.com"]}}`, "input.recipients[1]"},
		{`{"product":"shop","input":{"body":{"list":[1,{"n":"\xed\xa0\x80"}]}}}`, "input.body.list[1].n"}, // a UTF-16 surrogate
		{`{"session":"user:\xfe"}`, "session"},
		{`{"input":{"headers":{"X-\xff":"v"}}}`, "input.headers.X-\ufffd"},
		{`"\xff"`, ""},
		{`{"a":[["x"],["y","\x80"]]}`, "a[1][1]"},
		{`{"a":{"b":1},"c":"\xc0\xaf"}`, "c"}, // overlong
		{`{"a":1} {"b":"\xff"}`, "b"},
		{"{\"a\":\xff}", "a"},         // outside a string: broken syntax
		{"{\"a\":1,\xff\"b\":2}", ""}, // where a member name should start
	}
	for _, tt := range tests {
		tt.body = bytesOf(tt.body)
		field, off, ok := Check([]byte(tt.body))
		require.False(t, ok, tt.body)
		require.Equal(t, tt.field, field, tt.body)
		require.True(t, utf8.ValidString(field))
		require.Less(t, off, len(tt.body))
		r, n := utf8.DecodeRuneInString(tt.body[off:])
		require.True(t, r == utf8.RuneError && n == 1, "offset %d of %q starts a valid rune", off, tt.body)
		require.True(t, utf8.ValidString(tt.body[:off]), "an earlier invalid byte in %q", tt.body)
	}
	for _, good := range []string{`{"a":"\xff"}`, `{}`, `{"a":"héllo ✓ 𝄞"}`, `[1,2,"\u00ff"]`, `{"a":"\ud800"}`, ``} {
		_, _, ok := Check([]byte(good))
		require.True(t, ok, good)
	}
}

// bytesOf turns the \xHH escapes of a raw-string test body into the bytes
// they name (the rest of the body stays as written, JSON escapes included).
func bytesOf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// FuzzCheck: valid UTF-8 always passes; otherwise the path is valid UTF-8
// and, for a document that is valid JSON once the bad byte is replaced, the
// path names a place that exists in that document.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"{\"a\":\"\xff\"}", "{\"a\":[\"b\",\"\xc3\"]}", `{"\xff":1}`, `[{"a":{"b":"\x80"}}]`, `{"a":1}`, "\xff", `{"a":"x"}` + "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		field, off, ok := Check(body)
		if utf8.Valid(body) {
			require.True(t, ok)
			return
		}
		require.False(t, ok)
		require.True(t, utf8.ValidString(field), "%q", field)
		require.GreaterOrEqual(t, off, 0)
		require.Less(t, off, len(body))
		fixed := strings.ToValidUTF8(string(body), "\ufffd")
		var v any
		if field == "" || json.Unmarshal([]byte(fixed), &v) != nil {
			return
		}
		if strings.Count(fixed, "{")+strings.Count(fixed, "[") > 1 && !strings.Contains(fixed, "\ufffd\ufffd") {
			require.True(t, exists(v, field), "path %q not in %s", field, fixed)
		}
	})
}

// exists reports whether a path produced by Check names a member or
// element of v (member names may contain '.', so a miss is tried as the
// longer name too).
func exists(v any, p string) bool {
	if p == "" {
		return true
	}
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			if p == k {
				return true
			}
			if rest, ok := strings.CutPrefix(p, k); ok && (strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "[")) {
				if exists(child, strings.TrimPrefix(rest, ".")) {
					return true
				}
			}
		}
	case []any:
		if !strings.HasPrefix(p, "[") {
			return false
		}
		end := strings.IndexByte(p, ']')
		if end < 0 {
			return false
		}
		var i int
		if err := json.Unmarshal([]byte(p[1:end]), &i); err != nil || i < 0 || i >= len(x) {
			return false
		}
		return exists(x[i], strings.TrimPrefix(p[end+1:], "."))
	}
	return false
}
