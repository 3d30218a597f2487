package scheduler

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/producer"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func parse(t *testing.T, js string) *Schedule {
	t.Helper()
	s, err := ParseSchedule(json.RawMessage(js))
	require.NoError(t, err, js)
	return s
}

// slots returns the first n slots of s for a job created at now.
func slots(s *Schedule, now time.Time, n int) []time.Time {
	var out []time.Time
	next := s.start(now)
	for len(out) < n && !next.IsZero() {
		out = append(out, next)
		next = s.Next(next)
	}
	return out
}

func TestParseScheduleRefusesWithField(t *testing.T) {
	cases := []struct{ in, field string }{
		{``, "schedule"},
		{`null`, "schedule"},
		{`{}`, "schedule"},
		{`[]`, "schedule"},
		{`{"cron":"61 * * * *"}`, "schedule.cron"},
		{`{"cron":"* * * *"}`, "schedule.cron"},
		{`{"cron":""}`, "schedule.cron"},
		{`{"cron":"@every 5s"}`, "schedule.cron"},
		{`{"cron":"TZ=Europe/Berlin 0 9 * * *"}`, "schedule.cron"},
		{`{"cron":"TZ=x"}`, "schedule.cron"},
		{`{"cron":"@fortnightly"}`, "schedule.cron"},
		{`{"cron":5}`, "schedule.cron"},
		{`{"cron":"0 9 * * *","every":60000}`, "schedule.cron"},
		{`{"every":999}`, "schedule.every"},
		{`{"every":-5000}`, "schedule.every"},
		{`{"every":1500.5}`, "schedule.every"},
		{`{"every":"60000"}`, "schedule.every"},
		{`{"every":1e300}`, "schedule.every"},
		{`{"every":400000000000}`, "schedule.every"},
		{`{"every":60000,"limit":0}`, "schedule.limit"},
		{`{"every":60000,"limit":-1}`, "schedule.limit"},
		{`{"every":60000,"limit":2.5}`, "schedule.limit"},
		{`{"every":60000,"tz":"Mars/Olympus"}`, "schedule.tz"},
		{`{"every":60000,"tz":"Local"}`, "schedule.tz"},
		{`{"every":60000,"tz":"../../etc/passwd"}`, "schedule.tz"},
		{`{"every":60000,"tz":7}`, "schedule.tz"},
		{`{"start_at":"tomorrow"}`, "schedule.start_at"},
		{`{"start_at":"2026-13-01T00:00:00Z"}`, "schedule.start_at"},
		{`{"start_at":-1}`, "schedule.start_at"},
		{`{"start_at":true}`, "schedule.start_at"},
		{`{"start_at":"99999999999999999"}`, "schedule.start_at"},
		{`{"every":60000,"endDate":"soon"}`, "schedule.endDate"},
		{`{"start_at":"2026-05-02T00:00:00Z","endDate":"2026-05-01T00:00:00Z","every":60000}`, "schedule.endDate"},
		{`{"every":60000,"end_date":"2026-05-01T00:00:00Z"}`, "schedule.end_date"},
		{`{"every":60000} x`, "schedule"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseSchedule(json.RawMessage(tc.in))
			var inv *producer.InvalidError
			require.True(t, errors.As(err, &inv), "%v", err)
			require.Equal(t, tc.field, inv.Field, inv.Message)
			require.NotEmpty(t, inv.Message)
		})
	}
}

func TestParseScheduleAccepts(t *testing.T) {
	s := parse(t, `{"start_at":"2026-05-01T09:00:00+02:00","cron":"0 9 * * 1-5","limit":10,"endDate":1798761600000,"tz":"Europe/Berlin"}`)
	require.Equal(t, time.Date(2026, 5, 1, 7, 0, 0, 0, time.UTC), s.StartAt)
	require.Equal(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), s.EndDate)
	require.Equal(t, 10, s.Limit)
	require.Equal(t, "Europe/Berlin", s.TZ)

	for _, in := range []string{
		`{"cron":"*/10 * * * * *"}`, `{"cron":"@daily","tz":"America/New_York"}`, `{"cron":"@hourly"}`,
		`{"cron":"0 0 1 jan *"}`, `{"cron":"0 12 * * mon-fri"}`, `{"every":1000}`, `{"start_at":1777777777777}`,
		`{"start_at":"1777777777777"}`, `{"every":60000,"limit":null,"tz":null,"endDate":null}`,
	} {
		parse(t, in)
	}
}

// A daily 02:30 job in Europe/Berlin fires once on the spring-forward day
// (02:30 does not exist; it fires at 03:30 CEST, RFC 5545) and once on the
// fall-back day (02:30 happens twice; it fires at the first).
func TestCronDaylightSavingBerlin(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	s := parse(t, `{"cron":"30 2 * * *","tz":"Europe/Berlin"}`)

	got := slots(s, time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC), 4)
	want := []time.Time{
		time.Date(2026, 3, 28, 1, 30, 0, 0, time.UTC), // 02:30 CET
		time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC), // 02:30 skipped: 03:30 CEST
		time.Date(2026, 3, 30, 0, 30, 0, 0, time.UTC), // 02:30 CEST
		time.Date(2026, 3, 31, 0, 30, 0, 0, time.UTC),
	}
	require.Equal(t, want, got)
	require.Equal(t, "03:30 CEST", got[1].In(berlin).Format("15:04 MST"))

	got = slots(s, time.Date(2026, 10, 23, 12, 0, 0, 0, time.UTC), 4)
	want = []time.Time{
		time.Date(2026, 10, 24, 0, 30, 0, 0, time.UTC), // 02:30 CEST
		time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), // first 02:30 (CEST) only
		time.Date(2026, 10, 26, 1, 30, 0, 0, time.UTC), // 02:30 CET
		time.Date(2026, 10, 27, 1, 30, 0, 0, time.UTC),
	}
	require.Equal(t, want, got)

	// One slot per local day, every day of the year.
	perDay := map[string]int{}
	for _, sl := range slots(s, time.Date(2025, 12, 31, 12, 0, 0, 0, time.UTC), 365) {
		perDay[sl.In(berlin).Format("2006-01-02")]++
	}
	require.Len(t, perDay, 365)
	for day, n := range perDay {
		require.Equal(t, 1, n, day)
	}

	// A restart inside the repeated hour (now = the second 02:20) does not
	// fire the second 02:30.
	now := time.Date(2026, 10, 25, 1, 20, 0, 0, time.UTC) // 02:20 CET
	require.Equal(t, time.Date(2026, 10, 26, 1, 30, 0, 0, time.UTC), s.Next(now))
}

// An expression with `*` hours follows elapsed time: 23 hourly fires on the
// short day, 25 on the long one.
func TestCronHourlyFollowsElapsedTime(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	s := parse(t, `{"cron":"0 * * * *","tz":"Europe/Berlin"}`)
	count := func(day string) int {
		start, _ := time.ParseInLocation("2006-01-02", day, berlin)
		n := 0
		for _, sl := range slots(s, start.Add(-time.Second), 30) {
			if sl.In(berlin).Format("2006-01-02") == day {
				n++
			}
		}
		return n
	}
	require.Equal(t, 23, count("2026-03-29"))
	require.Equal(t, 25, count("2026-10-25"))
	require.Equal(t, 24, count("2026-06-01"))
}

func TestCronInZoneAndSeconds(t *testing.T) {
	s := parse(t, `{"cron":"0 9 * * mon","tz":"America/New_York"}`)
	got := slots(s, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 2) // Sunday
	require.Equal(t, []time.Time{
		time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC), // EST
		time.Date(2026, 3, 9, 13, 0, 0, 0, time.UTC), // EDT (changed on the 8th)
	}, got)

	s = parse(t, `{"cron":"*/15 * * * * *"}`)
	got = slots(s, time.Date(2026, 3, 1, 0, 0, 7, 0, time.UTC), 3)
	require.Equal(t, time.Date(2026, 3, 1, 0, 0, 15, 0, time.UTC), got[0])
	require.Equal(t, 15*time.Second, got[2].Sub(got[1]))

	// start_at: the first matching time at or after it.
	s = parse(t, `{"cron":"0 * * * *","start_at":"2026-03-01T05:00:00Z"}`)
	require.Equal(t, time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC), s.start(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
}

func TestEveryAndOneShot(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := parse(t, `{"every":60000}`)
	require.Equal(t, []time.Time{now.Add(time.Minute), now.Add(2 * time.Minute)}, slots(s, now, 2))

	s = parse(t, `{"every":60000,"start_at":"2026-03-01T13:00:00Z","limit":3}`)
	require.Equal(t, time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC), s.start(now))
	// After downtime the next slot is the first after now: no burst.
	require.Equal(t, time.Date(2026, 3, 1, 15, 31, 0, 0, time.UTC), s.Next(time.Date(2026, 3, 1, 15, 30, 20, 0, time.UTC)))

	// start_at in the past: the first slot on the grid from now.
	s = parse(t, `{"every":3600000,"start_at":"2026-03-01T09:30:00Z"}`)
	require.Equal(t, time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC), s.start(now))

	s = parse(t, `{"every":60000,"endDate":"2026-03-01T12:02:30Z"}`)
	require.Len(t, slots(s, now, 10), 2)

	s = parse(t, `{"start_at":"2026-03-01T12:30:00Z"}`)
	require.Equal(t, []time.Time{now.Add(30 * time.Minute)}, slots(s, now, 5))
	s = parse(t, `{"start_at":"2026-03-01T11:00:00Z"}`)
	require.Equal(t, []time.Time{now}, slots(s, now, 5), "a one-shot in the past fires at once")

	s = parse(t, `{"cron":"0 0 30 2 *"}`)
	require.True(t, s.start(now).IsZero(), "30 February never comes")
	s = parse(t, `{"every":60000,"endDate":"2026-03-01T11:00:00Z"}`)
	require.True(t, s.start(now).IsZero(), "endDate passed")
}

func TestStoredScheduleRoundTrip(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, in := range []string{
		`{"cron":"30 2 * * *","tz":"Europe/Berlin","limit":5,"endDate":"2027-01-01T00:00:00Z"}`,
		`{"every":90000}`, `{"start_at":"2026-04-01T00:00:00Z"}`, `{"every":5000,"start_at":"2026-03-01T11:00:00.250Z"}`,
	} {
		s := parse(t, in)
		want := slots(s, now, 5)
		raw, err := s.encode()
		require.NoError(t, err)
		back, err := decodeSchedule(raw)
		require.NoError(t, err)
		var got []time.Time
		for next := want[0]; len(got) < len(want) && !next.IsZero(); next = back.Next(next) {
			got = append(got, next)
		}
		require.Equal(t, want, got, in)
	}
}
