package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"github.com/heraldhq/herald/internal/natsx"
)

// runDevNATS is `herald dev nats`, hidden from the usage text: the embedded
// JetStream server of `herald serve` as a process of its own, so that the
// fault suite (and a developer without a nats-server binary) can run, kill
// and restart NATS independently of Herald. Production runs the official
// nats-server (deploy/).
func runDevNATS(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("herald dev nats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:4222", "client listen address (host:port)")
	storeDir := fs.String("store-dir", "./data", "JetStream state goes under <store-dir>/nats")
	sync := fs.String("sync-interval", "", `fsync interval of stream files, or "always" (default: nats-server's 2m)`)
	name := fs.String("name", "herald-dev", "server name (unique in a cluster)")
	cluster := fs.String("cluster", "", "cluster name; with --cluster-listen, joins a cluster")
	clusterListen := fs.String("cluster-listen", "", "route listen address (host:port) for the other nodes")
	routes := fs.String("routes", "", "comma-separated route URLs of the other nodes (nats://host:port)")
	debug := fs.Bool("debug", false, "log the server's notices")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	lvl := zap.WarnLevel
	if *debug {
		lvl = zap.DebugLevel
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.OutputPaths, zc.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	log, err := zc.Build()
	if err != nil {
		fmt.Fprintln(stderr, "herald dev nats:", err)
		return 1
	}
	defer func() { _ = log.Sync() }()
	var rs []string
	for _, r := range strings.Split(*routes, ",") {
		if r = strings.TrimSpace(r); r != "" {
			rs = append(rs, r)
		}
	}
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{
		Listen: *listen, DataDir: *storeDir, SyncInterval: *sync, Logger: log,
		Name: *name, Cluster: *cluster, ClusterListen: *clusterListen, Routes: rs,
	})
	if err != nil {
		fmt.Fprintln(stderr, "herald dev nats:", err)
		return 1
	}
	fmt.Fprintf(stdout, "nats listening on %s (JetStream store %s/nats)\n", ns.ClientURL(), *storeDir)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	ns.Shutdown()
	ns.WaitForShutdown()
	return 0
}
