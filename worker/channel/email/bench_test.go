package email

import (
	"encoding/json"
	"testing"
)

// BenchmarkPrepareAndBuild: what the producer (Prepare) and each attempt
// (Prepare and Build) cost for a two-recipient email.
func BenchmarkPrepareAndBuild(b *testing.B) {
	def, _ := testConfig(b, `{ type: smtp, host: mail.example.com }`, testDef, nil)
	in := json.RawMessage(`{"recipients": ["ann@example.com", "Bob <bob@example.org>"], "subject": {"order_id": "A-17"}, "template": {"name": "Ann", "total": 12.50}}`)
	b.ReportAllocs()
	for b.Loop() {
		e, err := Prepare(def.Email, in)
		if err != nil {
			b.Fatal(err)
		}
		_ = e.Build("01JTESTMESSAGE0000000000AB", testTime)
	}
}
