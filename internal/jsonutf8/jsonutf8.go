package jsonutf8

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Check reports whether body is valid UTF-8. When it is not, field is the
// JSON path of the value or member name holding the first invalid byte
// ("" for the document itself, or when the byte lies outside any value)
// and offset is that byte's position.
func Check(body []byte) (field string, offset int, ok bool) {
	if utf8.Valid(body) {
		return "", 0, true
	}
	offset = firstInvalid(body)
	return pathAt(body, int64(offset)), offset, false
}

// firstInvalid is the offset of the first byte that does not start a
// valid UTF-8 sequence.
func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// frame is one open object or array on the way to the current token.
type frame struct {
	object  bool
	key     string
	index   int
	wantKey bool
}

// pathAt walks the tokens of body and returns the path of the one that
// spans offset.
func pathAt(body []byte, offset int64) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []frame
	advance := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].object {
				stack[n-1].wantKey = true
			} else {
				stack[n-1].index++
			}
		}
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			// The invalid byte broke the syntax (it was outside a string):
			// the innermost value open at that point holds it.
			return path(stack)
		}
		end := dec.InputOffset()
		in := offset >= start && offset < end
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if in {
					return path(stack)
				}
				stack = append(stack, frame{object: t == '{', wantKey: t == '{'})
			default:
				if in {
					return path(stack[:len(stack)-1])
				}
				stack = stack[:len(stack)-1]
				advance()
			}
		default:
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				s, _ := t.(string)
				stack[n-1].key, stack[n-1].wantKey = s, false
				if in {
					return path(stack)
				}
				continue
			}
			if in {
				return path(stack)
			}
			advance()
		}
	}
}

// path renders the current position: members joined with ".", array
// elements as "[i]". Invalid bytes in a member name were already turned
// into U+FFFD by the decoder, so the path itself is valid UTF-8.
func path(stack []frame) string {
	var b strings.Builder
	for _, f := range stack {
		if f.object {
			if f.wantKey {
				break
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
			continue
		}
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(f.index))
		b.WriteByte(']')
	}
	return b.String()
}
