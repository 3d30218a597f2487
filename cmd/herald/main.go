// Command herald is Herald's single binary: the server roles (serve,
// producer, worker, scheduler) and the operator commands (keys). It parses flags and
// the environment, builds a Config and hands it to internal/app.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/devreceiver"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `herald — notification delivery: email, push, SMS and HTTP callbacks,
queued on NATS JetStream, logged in Redis.

Usage:
  herald serve    --config FILE   everything in one process, with an embedded JetStream
  herald producer --config FILE   HTTP API only (needs HERALD_NATS_URL)
  herald worker   --config FILE   deliveries only (needs HERALD_NATS_URL)
  herald scheduler --config FILE  fires dispatch jobs (needs HERALD_NATS_URL);
                                  run several: each slot fires once
  herald keys create --workspace W --scopes a,b [--name N]
                                  print a new API key and its config line
  herald send|logs|reprocess|jobs ...
                                  the API from the shell (herald logs --help)
  herald dev receiver [--addr 127.0.0.1:9099]
                                  a loopback webhook receiver that prints what it gets
  herald version

Environment (overrides the file): HERALD_HTTP_ADDR, HERALD_REDIS_URL,
HERALD_NATS_URL, HERALD_DATA_DIR, HERALD_ALLOW_PRIVATE_NETWORKS,
HERALD_BOOTSTRAP_WORKSPACE + HERALD_BOOTSTRAP_KEY.

Signals: SIGTERM/SIGINT stop gracefully within shutdown_grace; SIGHUP
reloads the config file (a bad file is refused and the old one kept).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServer(args[1:], app.RoleServe, true, stderr)
	case "producer":
		return runServer(args[1:], app.RoleProducer, false, stderr)
	case "worker":
		return runServer(args[1:], app.RoleWorker, false, stderr)
	case "scheduler":
		return runServer(args[1:], app.RoleScheduler, false, stderr)
	case "keys":
		return runKeys(args[1:], stdout, stderr)
	case "send", "logs", "reprocess", "jobs":
		return cli.Run(context.Background(), args, stdout, stderr, os.Getenv)
	case "dev":
		return runDev(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "herald", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage+"\n"+cli.Usage())
		return 0
	}
	fmt.Fprintf(stderr, "herald: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func runServer(args []string, role app.Role, embedded bool, stderr io.Writer) int {
	fs := flag.NewFlagSet("herald", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", os.Getenv("HERALD_CONFIG"), "config file (YAML); env HERALD_CONFIG")
	watch := fs.Duration("watch-config", 0, "reload the config file when its content changes, checking at this interval (e.g. 10s; a mounted ConfigMap); 0: only on SIGHUP")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, "herald:", err)
		return 1
	}
	log, err := app.NewLogger(cfg.Log)
	if err != nil {
		fmt.Fprintln(stderr, "herald:", err)
		return 1
	}
	defer func() { _ = log.Sync() }()
	a, err := app.New(app.Options{Config: cfg, Role: role, Embedded: embedded, Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, "herald:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	err = a.Start(ctx)
	cancel()
	if err != nil {
		log.Error("start failed", zap.Error(err))
		fmt.Fprintln(stderr, "herald:", err)
		return 1
	}
	log.Info("herald started", zap.String("version", version), zap.String("http", a.Addr()))

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	stopWatch := watchConfig(*path, *watch, sigs)
	defer stopWatch()
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			if err := a.ReloadFile(*path, os.Getenv); err != nil {
				log.Error("config reload refused; keeping the running config", zap.Error(err))
				continue
			}
			log.Info("config reloaded", zap.String("file", *path))
			continue
		}
		break
	}
	grace := a.Config().ShutdownGrace.D()
	log.Info("shutting down", zap.Duration("grace", grace))
	sctx, scancel := context.WithTimeout(context.Background(), grace)
	defer scancel()
	if err := a.Stop(sctx); err != nil {
		log.Warn("shutdown", zap.Error(err))
	}
	log.Info("stopped")
	return 0
}

func runKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: herald keys create --workspace W --scopes a,b [--name N]")
		return 2
	}
	fs := flag.NewFlagSet("herald keys create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ws := fs.String("workspace", "", "workspace id the key belongs to")
	scopes := fs.String("scopes", "", "comma-separated scopes: "+strings.Join(config.AllScopes, ","))
	name := fs.String("name", "", "a name for the key (default key-<date>)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if !config.ValidWorkspace(*ws) {
		fmt.Fprintln(stderr, "herald keys create: --workspace is required (1-64 letters, digits, '_', '-')")
		return 2
	}
	list, err := config.ParseScopes(*scopes)
	if err != nil {
		fmt.Fprintln(stderr, "herald keys create: --scopes:", err)
		return 2
	}
	if *name == "" {
		*name = "key-" + time.Now().UTC().Format("20060102-150405")
	}
	key, err := config.GenerateKey()
	if err != nil {
		fmt.Fprintln(stderr, "herald:", err)
		return 1
	}
	fmt.Fprintf(stdout, "key: %s\n", key)
	fmt.Fprintf(stdout, "config line (under workspaces[id=%s].keys):\n", *ws)
	fmt.Fprintf(stdout, "  - { name: %s, sha256: \"%s\", scopes: [%s] }\n", *name, config.HashKey(key), strings.Join(list, ", "))
	fmt.Fprintln(stdout, "The key is shown once: Herald stores only its SHA-256.")
	return 0
}

func runDev(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "nats" {
		return runDevNATS(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "probe" {
		return runDevProbe(args[1:], stderr)
	}
	if len(args) == 0 || args[0] != "receiver" {
		fmt.Fprintln(stderr, "usage: herald dev receiver [--addr 127.0.0.1:9099]")
		return 2
	}
	fs := flag.NewFlagSet("herald dev receiver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9099", "listen address")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	fmt.Fprintf(stdout, "dev receiver listening on http://%s\n", *addr)
	srv := &http.Server{Addr: *addr, Handler: devreceiver.Handler(stdout), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "herald dev receiver:", err)
		return 1
	}
	return 0
}
