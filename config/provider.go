package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// Fingerprint identifies a provider's settings and secrets: channel clients
// (token caches, connection settings) are keyed by it, so that a reload
// that changes a provider gets a new client and one that does not keeps
// the warm one. It is a hash: no secret can be read from it.
func (p Provider) Fingerprint() string {
	keys := make([]string, 0, len(p.secrets))
	for k := range p.secrets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	secrets := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		secrets = append(secrets, k, p.secrets[k])
	}
	b, _ := json.Marshal(struct {
		P       Provider
		Secrets []string
	}{p, secrets})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
