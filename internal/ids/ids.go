// Package ids makes Herald's identifiers: ULIDs, time-ordered, so that an id
// says when it was made.
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

var (
	mu      sync.Mutex
	entropy io.Reader = ulid.Monotonic(rand.Reader, 0)
)

// New returns a ULID string (26 characters, Crockford base32) for time t.
// Ids made in the same millisecond by one process sort in creation order.
func New(t time.Time) string {
	t = clamp(t)
	mu.Lock()
	defer mu.Unlock()
	return ulid.MustNew(ulid.Timestamp(t), entropy).String()
}

// Time returns the creation time encoded in a ULID (with or without a
// "prefix_"), and false if s is not one.
func Time(s string) (time.Time, bool) {
	if i := strings.LastIndexByte(s, '_'); i >= 0 {
		s = s[i+1:]
	}
	u, err := ulid.ParseStrict(s)
	if err != nil {
		return time.Time{}, false
	}
	return ulid.Time(u.Time()), true
}

// Valid reports whether s is a well-formed ULID.
func Valid(s string) bool {
	_, err := ulid.ParseStrict(s)
	return err == nil
}

// Derive returns a ULID for time t whose random part is derived from seed:
// the same (t, seed) always gives the same id, so that processes making
// "the same" message independently (two scheduler replicas firing one
// slot) agree on its id.
func Derive(t time.Time, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(clamp(t)))
	copy(u[6:], sum[:10])
	return u.String()
}

// clamp keeps t inside what a ULID can hold (1970 to the year 10889).
func clamp(t time.Time) time.Time {
	if t.Before(time.Unix(0, 0)) {
		return time.Unix(0, 0)
	}
	if max := ulid.Time(ulid.MaxTime()); t.After(max) {
		return max
	}
	return t
}
