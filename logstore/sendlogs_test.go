package logstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/logstore"
)

// Property: a search over several campaigns is the newest-first merge of
// their sends, cut at skip and limit, with the exact total — for any skip,
// limit and subset of campaigns, and whatever the page size of the merge.
func TestSendsAcrossCampaignsProperty(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	campaigns := []string{"job_a", "job_b", "job_c", "job_d"}
	byCampaign := map[string][]string{}
	var all []string // newest first
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 1300 {
		c := campaigns[rng.IntN(len(campaigns))]
		ne := newEntry("acme", clk, func(e *logstore.NewEntry) { e.CampaignID = c; e.Head = true })
		if i%7 == 0 {
			ne.CampaignID = "" // sends of no campaign are never matched
		}
		_, err := s.Create(ctx, ne)
		require.NoError(t, err)
		if ne.CampaignID != "" {
			byCampaign[c] = append(byCampaign[c], ne.ID)
			all = append([]string{ne.ID}, all...)
		}
		clk.Advance(time.Millisecond)
	}
	for range 40 {
		pick := slices.DeleteFunc(slices.Clone(campaigns), func(string) bool { return rng.IntN(2) == 0 })
		if len(pick) == 0 {
			pick = campaigns[:1]
		}
		skip, limit := rng.IntN(1200), 1+rng.IntN(700)
		want := slices.DeleteFunc(slices.Clone(all), func(id string) bool {
			for _, c := range pick {
				if slices.Contains(byCampaign[c], id) {
					return false
				}
			}
			return true
		})
		total := len(want)
		want = want[min(skip, len(want)):]
		want = want[:min(limit, len(want))]
		got, n, err := s.Sends(ctx, logstore.SendQuery{Workspace: "acme", CampaignIDs: pick, Skip: skip, Limit: limit, InputLimit: 64})
		require.NoError(t, err)
		require.EqualValues(t, total, n, "total for %v", pick)
		ids := make([]string, len(got))
		for i, snd := range got {
			ids[i] = snd.ID
		}
		require.Equal(t, want, ids, fmt.Sprintf("campaigns %v skip %d limit %d", pick, skip, limit))
	}
}
