package config

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// Scopes a key can hold (API.md).
const (
	ScopeSend      = "notifications:send"
	ScopeRead      = "notifications:read"
	ScopeReprocess = "notifications:reprocess"
	ScopeJobsWrite = "jobs:write"
	ScopeJobsRead  = "jobs:read"
)

// AllScopes lists every scope, in documentation order.
var AllScopes = []string{ScopeSend, ScopeRead, ScopeReprocess, ScopeJobsWrite, ScopeJobsRead}

// KeyPrefix starts every key Herald generates, so that a leaked key is easy
// to recognise in a secret scanner.
const KeyPrefix = "hk_"

// HashKey returns the lowercase hex SHA-256 of an API key, the only form a
// key is ever stored in.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// GenerateKey returns a new random API key: "hk_" and 43 base62 characters
// (256 bits of entropy).
func GenerateKey() (string, error) {
	var b strings.Builder
	b.WriteString(KeyPrefix)
	max := big.NewInt(int64(len(base62)))
	for range 43 {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("generate key: %w", err)
		}
		b.WriteByte(base62[n.Int64()])
	}
	return b.String(), nil
}

// ParseScopes splits a comma-separated scope list and checks every name.
func ParseScopes(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !slices.Contains(AllScopes, part) {
			return nil, fmt.Errorf("unknown scope %q (known: %s)", part, strings.Join(AllScopes, ", "))
		}
		if !slices.Contains(out, part) {
			out = append(out, part)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scopes given (known: %s)", strings.Join(AllScopes, ", "))
	}
	return out, nil
}

// Principal is an authenticated caller.
type Principal struct {
	Workspace string
	KeyName   string
	scopes    []string
	keyID     string
	limit     *RateLimit
}

// KeyID identifies the key that authenticated (the hex of its SHA-256,
// safe to show: it is what the config holds). A rotated key has a new id.
func (p *Principal) KeyID() string { return p.keyID }

// RateLimit is the key's rate limit, nil when unlimited; Burst is filled.
func (p *Principal) RateLimit() *RateLimit { return p.limit }

// Can reports whether the caller holds scope.
func (p *Principal) Can(scope string) bool { return slices.Contains(p.scopes, scope) }

// Scopes returns the caller's scopes.
func (p *Principal) Scopes() []string { return slices.Clone(p.scopes) }

// Authenticate finds the key whose hash matches. The presented key is hashed
// first, so the lookup never compares secrets; the final comparison of the
// two hashes is constant-time.
func (c *Config) Authenticate(key string) (*Principal, bool) {
	if key == "" || c.index == nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte(key))
	k, ok := c.index.keys[sum]
	if !ok || subtle.ConstantTimeCompare(sum[:], k.hash[:]) != 1 {
		return nil, false
	}
	return &Principal{Workspace: k.workspace, KeyName: k.name, scopes: k.scopes, keyID: hex.EncodeToString(k.hash[:]), limit: k.limit}, true
}
