package fidelity

import (
	"encoding/json"
	"os"
	"testing"
)

// The harness installs exactly what package-lock.json pins.
func TestHarnessInstallsLockedClients(t *testing.T) {
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	raw, err := os.ReadFile("package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &lock); err != nil {
		t.Fatal(err)
	}
	names := []string{"standardwebhooks", "ajv", "ajv-formats", "graphql"}
	var got struct {
		Versions map[string]string `json:"versions"`
	}
	runNode(t, "self.mjs", map[string]any{"packages": names}, &got)
	for _, n := range names {
		want := lock.Packages["node_modules/"+n].Version
		if want == "" || got.Versions[n] != want {
			t.Errorf("%s: installed %q, package-lock.json pins %q", n, got.Versions[n], want)
		}
	}
}
