package redisx

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in       string
		cluster  bool
		addrs    []string
		user     string
		password string
		db       int
		tls      bool
		bad      string
	}{
		{in: "redis://127.0.0.1:6379/0", addrs: []string{"127.0.0.1:6379"}},
		{in: "redis://:s3cret@redis:6380/2", addrs: []string{"redis:6380"}, password: "s3cret", db: 2},
		{in: "rediss://u:p@r.example.com:6379", addrs: []string{"r.example.com:6379"}, user: "u", password: "p", tls: true},
		{in: "redis+cluster://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000", cluster: true,
			addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}},
		{in: "redis+cluster://u:pw@a:1,b:2/?dial_timeout=3s", cluster: true, addrs: []string{"a:1", "b:2"}, user: "u", password: "pw"},
		{in: "rediss+cluster://a:1", cluster: true, addrs: []string{"a:1"}, tls: true},
		{in: "redis://a:1,redis://b:2, redis://c:3", cluster: true, addrs: []string{"a:1", "b:2", "c:3"}},
		{in: "redis://:pw@a:1,redis://:pw@b:2", cluster: true, addrs: []string{"a:1", "b:2"}, password: "pw"},
		{in: "redis+cluster://a:1,b:2/3", bad: "no database number"},
		{in: "redis://a:1/2,redis://b:2/2", bad: "no database number"},
		{in: "redis://a:1,rediss://b:2", bad: "same scheme"},
		{in: "redis+cluster://", bad: "at least one"},
		{in: "http://a:1", bad: "unknown scheme"},
		{in: "a:1", bad: "want redis://"},
		{in: "", bad: "empty"},
		{in: "redis+cluster://a:1?bogus=1", bad: "bogus"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, err := Parse(tc.in)
			if tc.bad != "" {
				require.ErrorContains(t, err, tc.bad)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.cluster, p.IsCluster())
			if tc.cluster {
				require.Equal(t, tc.addrs, p.Cluster.Addrs)
				require.Equal(t, tc.user, p.Cluster.Username)
				require.Equal(t, tc.password, p.Cluster.Password)
				require.Equal(t, tc.tls, p.Cluster.TLSConfig != nil)
				return
			}
			require.Equal(t, tc.addrs[0], p.Single.Addr)
			require.Equal(t, tc.user, p.Single.Username)
			require.Equal(t, tc.password, p.Single.Password)
			require.Equal(t, tc.db, p.Single.DB)
			require.Equal(t, tc.tls, p.Single.TLSConfig != nil)
		})
	}
}

func TestRedacted(t *testing.T) {
	require.Equal(t, "redis://:xxxxx@a:1/0", Redacted("redis://:s3cret@a:1/0"))
	require.Equal(t, "redis+cluster://u:xxxxx@a:1,b:2", Redacted("redis+cluster://u:pw@a:1,b:2"))
	require.Equal(t, "redis://u:xxxxx@a:1,redis://u:xxxxx@b:2", Redacted("redis://u:p@a:1,redis://u:p@b:2"))
	require.Equal(t, "redis://a:1", Redacted("redis://a:1"))
}
