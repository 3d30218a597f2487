package scheduler

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/producer"
)

// checkSlots walks a few slots of a parsed schedule and checks what every
// schedule must satisfy: slots strictly increase, none is after endDate,
// and Next(t) is after t.
func checkSlots(t *testing.T, s *Schedule, now time.Time) {
	t.Helper()
	prev := s.start(now)
	for range 6 {
		if prev.IsZero() {
			return
		}
		if !s.EndDate.IsZero() && prev.After(s.EndDate) {
			t.Fatalf("slot %v after endDate %v", prev, s.EndDate)
		}
		next := s.Next(prev)
		if !next.IsZero() && !next.After(prev) {
			t.Fatalf("Next(%v) = %v, not after it", prev, next)
		}
		prev = next
	}
}

// FuzzScheduleSpec feeds arbitrary `schedule` objects to the parser: it
// refuses with a field or accepts a schedule whose slots behave; it never
// panics.
func FuzzScheduleSpec(f *testing.F) {
	for _, seed := range []string{
		`{"cron":"30 2 * * *","tz":"Europe/Berlin"}`, `{"cron":"*/5 * * * * *"}`, `{"cron":"@weekly","limit":3}`,
		`{"every":1000,"start_at":"2026-03-29T00:59:59.999Z","endDate":1800000000000}`, `{"start_at":0}`,
		`{"cron":"0 0 29 2 *","tz":"Australia/Lord_Howe"}`, `{"cron":"TZ="}`, `{"cron":"1-/ * * * *"}`,
		`{"cron":"0 30 2 * * *","tz":"America/Santiago"}`, `{"every":1e400}`, `{"cron":"5-1/0 * * * *"}`,
		`{"cron":"0 0 * * 7"}`, `{"cron":"@every 1s"}`, `{"tz":"Pacific/Apia","cron":"0 0 * * *"}`,
	} {
		f.Add([]byte(seed), int64(1774745999999))
	}
	f.Fuzz(func(t *testing.T, raw []byte, nowMs int64) {
		s, err := ParseSchedule(raw)
		if err != nil {
			var inv *producer.InvalidError
			if !errors.As(err, &inv) || inv.Field == "" {
				t.Fatalf("refusal without a field: %v", err)
			}
			return
		}
		if nowMs < 0 || nowMs > maxTime.UnixMilli() {
			nowMs = 1774745999999
		}
		checkSlots(t, s, time.UnixMilli(nowMs))
	})
}

// FuzzCronSpec focuses on the expression and the zone.
func FuzzCronSpec(f *testing.F) {
	for _, seed := range [][2]string{
		{"30 2 * * *", "Europe/Berlin"}, {"0 * * * *", "America/New_York"}, {"*/7 1-5 * jan-mar mon", "Asia/Kolkata"},
		{"0 0 31 2 *", ""}, {"TZ=UTC", ""}, {"CRON_TZ=Europe/Paris 0 9 * * *", ""}, {"@daily", "Pacific/Chatham"},
		{"59 23 31 12 *", "Etc/GMT+12"}, {"? ? ? ? ?", ""}, {"0-59/59 0-23/23 1-31/30 1-12/11 0-6/6", "UTC"},
	} {
		f.Add(seed[0], seed[1], int64(1792886400000))
	}
	f.Fuzz(func(t *testing.T, cron, tz string, nowMs int64) {
		raw, err := json.Marshal(map[string]string{"cron": cron, "tz": tz})
		if err != nil {
			return
		}
		s, err := ParseSchedule(raw)
		if err != nil {
			return
		}
		if nowMs < 0 || nowMs > maxTime.UnixMilli() {
			nowMs = 1792886400000
		}
		checkSlots(t, s, time.UnixMilli(nowMs))
	})
}

// FuzzDecodeDispatch: whole dispatch bodies decode or refuse with a field.
func FuzzDecodeDispatch(f *testing.F) {
	for _, seed := range []string{
		`{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"callback":{"params":{"id":"1"}}},"schedule":{"every":60000}}`,
		`{"product":"shop","env":"prd","event":"orders","input":{"email":{"recipients":["a@b.c"]}},"schedule":{"cron":"0 9 * * *","tz":"Europe/Berlin"},"retries":2,"session":"s:tok","cache":"c"}`,
		`{"input":{"nope":{}},"schedule":{"every":1000},"event":"x"}`, `{"schedule":null}`, `[]`, `{"input":[]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _, _, err := decodeDispatch(body)
		if err != nil {
			var inv *producer.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("refusal is not an InvalidError: %v", err)
			}
		}
	})
}
