package fidelity

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	npmOnce sync.Once
	npmErr  error
	npmOut  []byte
)

// requireNode returns the node binary, installing this folder's locked
// packages once per test binary (npm ci). Locally, without Node.js, the
// test is skipped; with CI set it fails, so CI never passes by skipping.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node is not installed; CI must run the independent clients (%v)", err)
		}
		t.Skip("node is not installed: skipping the independent-client checks")
	}
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join("node_modules", ".package-lock.json")); err == nil && !stale() {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		npmOut, npmErr = cmd.CombinedOutput()
	})
	if npmErr != nil {
		t.Fatalf("npm ci in internal/fidelity: %v\n%s", npmErr, npmOut)
	}
	return node
}

// stale reports whether package-lock.json changed after the last install.
func stale() bool {
	lock, err1 := os.Stat("package-lock.json")
	inst, err2 := os.Stat(filepath.Join("node_modules", ".package-lock.json"))
	return err1 != nil || err2 != nil || lock.ModTime().After(inst.ModTime())
}

// runNode runs js/<script> with input as JSON on stdin and decodes its
// stdout (one JSON document) into out. A script that exits non-zero fails
// the test with its stderr.
func runNode(t *testing.T, script string, input, out any) {
	t.Helper()
	node := requireNode(t)
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatalf("encode input for %s: %v", script, err)
	}
	cmd := exec.Command(node, filepath.Join("js", script))
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node js/%s: %v\n%s", script, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("node js/%s printed no JSON (%v):\n%s\n%s", script, err, stdout.String(), stderr.String())
	}
}
