package testutil

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/natsx"
)

// NATSCluster is a JetStream cluster of embedded nats-servers on loopback,
// each with its own store, for one test.
type NATSCluster struct {
	Servers []*server.Server
	// URL lists every node's client URL, comma-separated (nats_url).
	URL string
}

// StartNATSCluster starts n clustered JetStream servers (named n0, n1, ...)
// and waits until JetStream has a meta leader and answers.
func StartNATSCluster(t testing.TB, n int) *NATSCluster {
	t.Helper()
	routes := make([]string, n)
	listens := make([]string, n)
	for i := range n {
		listens[i] = "127.0.0.1:" + strconv.Itoa(FreePort(t))
		routes[i] = "nats://" + listens[i]
	}
	c := &NATSCluster{}
	var urls []string
	for i := range n {
		ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{
			Listen: "127.0.0.1:-1", DataDir: t.TempDir(), Name: fmt.Sprintf("n%d", i),
			Cluster: "herald-test", ClusterListen: listens[i], Routes: routes,
		})
		if err != nil {
			t.Fatalf("nats node %d: %v", i, err)
		}
		c.Servers = append(c.Servers, ns)
		urls = append(urls, ns.ClientURL())
		t.Cleanup(func() {
			ns.Shutdown()
			ns.WaitForShutdown()
		})
	}
	c.URL = strings.Join(urls, ",")
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.ping()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster not ready after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *NATSCluster) ping() error {
	nc, err := nats.Connect(c.URL, nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// Server returns the node with that server name, or nil.
func (c *NATSCluster) Server(name string) *server.Server {
	for _, s := range c.Servers {
		if s.Name() == name {
			return s
		}
	}
	return nil
}
