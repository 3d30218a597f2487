package ids

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewIsTimeOrdered(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	a, b := New(t0), New(t0)
	require.Len(t, a, 26)
	require.Less(t, a, b, "same millisecond: monotonic")
	require.Less(t, b, New(t0.Add(time.Millisecond)))
	got, ok := Time(a)
	require.True(t, ok)
	require.Equal(t, t0.Truncate(time.Millisecond), got.UTC())
	got, ok = Time("att_" + a)
	require.True(t, ok)
	require.Equal(t, t0.Truncate(time.Millisecond), got.UTC())
	_, ok = Time("nope")
	require.False(t, ok)
	require.True(t, Valid(a))
	require.False(t, Valid(a+"X"))
	require.False(t, Valid("../../etc/passwd"))
}

func TestDerive(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := Derive(t0, "job_1/slot/email")
	require.Equal(t, a, Derive(t0, "job_1/slot/email"))
	require.NotEqual(t, a, Derive(t0, "job_1/slot/sms"))
	require.NotEqual(t, a, Derive(t0.Add(time.Millisecond), "job_1/slot/email"))
	require.True(t, Valid(a))
	got, _ := Time(a)
	require.Equal(t, t0, got.UTC())
}

func TestOutOfRangeTimesDoNotPanic(t *testing.T) {
	require.True(t, Valid(New(time.Time{})))
	require.True(t, Valid(New(time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC))))
	require.True(t, Valid(Derive(time.Time{}, "x")))
}
