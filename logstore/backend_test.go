package logstore_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/testutil"
)

// backend is the Redis a test runs against: one redis-server (each test
// starts its own), or the Redis Cluster of TestSuiteOnRedisCluster.
type backend struct {
	Client redis.UniversalClient
	DBSize func(context.Context) (int64, error)
}

// cluster, when set, makes startRedis hand out that cluster (flushed)
// instead of a new redis-server. Tests in this package do not run in
// parallel, so the suite below can swap it.
var cluster *testutil.RedisCluster

func startRedis(t *testing.T) *backend {
	t.Helper()
	if cluster != nil {
		require.NoError(t, cluster.Flush(context.Background()))
		return &backend{Client: cluster.Client, DBSize: cluster.DBSize}
	}
	r := testutil.StartRedis(t)
	return &backend{Client: r.Client, DBSize: func(ctx context.Context) (int64, error) { return r.Client.DBSize(ctx).Result() }}
}

// TestSuiteOnRedisCluster runs every logstore test against a Redis Cluster
// of three masters: each workspace's keys share the {ws} hash tag, so every
// script and multi-key command stays on one slot, and the janitor's SCANs
// run on every master. Workspaces acme, globex, ws1... hash to different
// slots spread over the masters.
func TestSuiteOnRedisCluster(t *testing.T) {
	rc := testutil.StartRedisCluster(t)
	cluster = rc
	t.Cleanup(func() { cluster = nil })
	for name, test := range map[string]func(*testing.T){
		"CreateGet":                            TestCreateGet,
		"QueryInputLimit":                      TestQueryInputLimit,
		"SendsAcrossCampaignsProperty":         TestSendsAcrossCampaignsProperty,
		"DebitRateModel":                       TestDebitRateModel,
		"CacheDedupe":                          TestCacheDedupe,
		"RecordAttempt":                        TestRecordAttempt,
		"AttemptsCapAndBodyCut":                TestAttemptsCapAndBodyCut,
		"QueryFiltersAndPaging":                TestQueryFiltersAndPaging,
		"QueryRetentionWindow":                 TestQueryRetentionWindow,
		"TrimReclaimsExpiredSegments":          TestTrimReclaimsExpiredSegments,
		"JanitorTrimsOnInterval":               TestJanitorTrimsOnInterval,
		"PipelinedWritesSurviveScriptFlush":    TestPipelinedWritesSurviveScriptFlush,
		"JobCreateGetAndCache":                 TestJobCreateGetAndCache,
		"JobClaimLeaseCommit":                  TestJobClaimLeaseCommit,
		"JobReleaseMakesDueAgain":              TestJobReleaseMakesDueAgain,
		"JobCompletesOnLimitEndDateOrLastSlot": TestJobCompletesOnLimitEndDateOrLastSlot,
		"JobPauseResumeCancel":                 TestJobPauseResumeCancel,
		"JobsListByStatusWithCursor":           TestJobsListByStatusWithCursor,
		"ClaimAcrossWorkspacesReportsFull":     TestClaimAcrossWorkspacesReportsFull,
	} {
		t.Run(name, test)
	}
}
