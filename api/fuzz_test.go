package api

import (
	"errors"
	"net/url"
	"testing"
)

// FuzzParseMessageQuery: any query string is either a query or a 400 that
// names its field; nothing panics.
func FuzzParseMessageQuery(f *testing.F) {
	for _, s := range []string{"", "status=sent&env=prd&limit=200", "start_date=1700000000000&end_date=2024-01-01T00:00:00Z",
		"page=0", "cursor=czEyMw", "limit=99999999999999999999", "type=%00", "product_tag=a&product_tag=b", "start_date=-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, page, err := parseMessageQuery(v, "acme")
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != 400 || ae.body.Field == "" {
				t.Fatalf("want a 400 with a field, got %v", err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > maxLimit || page < 1 || q.Offset < 0 {
			t.Fatalf("out of range: limit %d page %d offset %d", q.Limit, page, q.Offset)
		}
		if !q.Start.IsZero() && !q.End.IsZero() && q.Start.After(q.End) {
			t.Fatalf("start after end accepted")
		}
	})
}

// FuzzParseSearch: any body is either a search or a 400; nothing panics.
func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{`{}`, `{"find":{"campaign_id":["a","b"],"startDeliveryAt":{"$gte":"2024-01-01T00:00:00Z","$lte":1717000000000}},"options":{"skip":0,"limit":1000}}`,
		`{"find":{"campaign_id":"x"}}`, `{"find":{"startDeliveryAt":{"$gt":1e300}}}`, `{"options":{"limit":1.5}}`, `[]`, `{"find":null}`,
		`{"find":{"campaign_id":[]}}`, `{"options":{"limit":100000}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		search, err := parseSearch(body, "acme")
		q := search.q
		if err != nil {
			if toAPIError(err).status != 400 {
				t.Fatalf("want a 400, got %v", err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > maxSendLogLimit || q.Skip < 0 {
			t.Fatalf("out of range: %+v", q)
		}
		if search.none != (search.parsed.Find.CampaignID != nil && len(*search.parsed.Find.CampaignID) == 0) {
			t.Fatalf("matches nothing only for an empty campaign list: %+v", search)
		}
	})
}
