package testutil

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a Redis Cluster of three masters (no replicas) on
// loopback, made of real redis-server processes, for one test.
type RedisCluster struct {
	Addrs []string
	// URL is the redis+cluster:// form Herald's redis_url accepts.
	URL    string
	Client *redis.ClusterClient
	cmds   []*exec.Cmd
}

// StartRedisCluster starts three redis-server processes with
// cluster-enabled, joins them with `redis-cli --cluster create` and waits
// until every node reports cluster_state:ok and the client sees all slots.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (make setup installs it): %v", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli is not installed (make setup installs it): %v", err)
	}
	rc := &RedisCluster{}
	t.Cleanup(rc.stop)
	for i := range 3 {
		port, bus := FreePort(t), FreePort(t)
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("node%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--cluster-node-timeout", "2000",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
			"--logfile", filepath.Join(dir, "redis.log"))
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		rc.cmds = append(rc.cmds, cmd)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		c := redis.NewClient(&redis.Options{Addr: addr})
		err := waitPing(c, 5*time.Second)
		_ = c.Close()
		if err != nil {
			t.Fatalf("redis-server cluster node %s: %v", addr, err)
		}
		rc.Addrs = append(rc.Addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, rc.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range rc.Addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				_ = c.Close()
				t.Fatalf("cluster node %s never reached cluster_state:ok: %v %s", a, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = c.Close()
	}
	rc.URL = "redis+cluster://" + strings.Join(rc.Addrs, ",")
	rc.Client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs})
	t.Cleanup(func() { _ = rc.Client.Close() })
	for {
		var masters atomic.Int64 // ForEachMaster runs the callbacks concurrently
		err := rc.Client.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			masters.Add(1)
			return c.Ping(ctx).Err()
		})
		if err == nil && masters.Load() == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster client sees %d masters: %v", masters.Load(), err)
		}
		rc.Client.ReloadState(ctx)
		time.Sleep(50 * time.Millisecond)
	}
	return rc
}

// Flush empties every master.
func (rc *RedisCluster) Flush(ctx context.Context) error {
	return rc.Client.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		return c.FlushAll(ctx).Err()
	})
}

// DBSize counts the keys of every master.
func (rc *RedisCluster) DBSize(ctx context.Context) (int64, error) {
	var total atomic.Int64
	err := rc.Client.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n, err := c.DBSize(ctx).Result()
		total.Add(n)
		return err
	})
	return total.Load(), err
}

func (rc *RedisCluster) stop() {
	for _, c := range rc.cmds {
		if c.Process != nil {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
}
