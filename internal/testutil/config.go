package testutil

import (
	"testing"

	"github.com/heraldhq/herald/config"
)

// ChannelConfig parses a configuration of one workspace (acme), product
// (app, env prd) and notification (orders) whose message tag holds
// channelYAML (one line, such as `email: { provider: smtp-main, ... }`),
// with providers (YAML lines under "providers:", indented six spaces),
// reading secrets from env: config.Parse is the only way a definition gets
// its secrets and compiled templates. It returns the message and the
// workspace's providers.
func ChannelConfig(t testing.TB, tag, channelYAML, providers string, env map[string]string) (*config.Message, map[string]config.Provider) {
	t.Helper()
	yaml := `
workspaces:
  - id: acme
    products:
      - tag: app
        envs: [prd]
        notifications:
          - tag: orders
            messages:
              - tag: ` + tag + `
                ` + channelYAML + `
    providers:
` + providers
	cfg, err := config.Parse([]byte(yaml), func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg.Message("acme", "app", "orders:"+tag), cfg.Workspace("acme").Providers
}
