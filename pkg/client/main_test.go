package client_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/heraldhq/herald/internal/apptest"
)

// server is a real Herald (serve: HTTP API, embedded JetStream, worker,
// redis-server) shared by the tests and examples of this package.
var server *apptest.Launched

func TestMain(m *testing.M) {
	var err error
	server, err = apptest.Launch()
	if err != nil {
		fmt.Fprintln(os.Stderr, "launch herald:", err)
		os.Exit(1)
	}
	code := m.Run()
	server.Stop()
	os.Exit(code)
}
