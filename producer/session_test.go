package producer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
)

const testHS = "0123456789abcdef0123456789abcdef"

func sessionProduct(t testing.TB) *config.Product {
	t.Helper()
	cfg, err := config.Parse([]byte(`
workspaces:
  - id: acme
    products:
      - tag: shop
        envs: [prd]
        sessions: [{ tag: user, hs256_secret_env: HS, audience: shop }]
      - tag: open
        envs: [prd]
`), func(k string) string { return map[string]string{"HS": testHS}[k] })
	require.NoError(t, err)
	return cfg.Product("acme", "shop")
}

func TestCheckSession(t *testing.T) {
	prod := sessionProduct(t)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	sign := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(testHS))
		require.NoError(t, err)
		return s
	}
	tag, err := checkSession(prod, "user:"+sign(jwt.MapClaims{"aud": "shop", "exp": now.Add(time.Minute).Unix()}), now)
	require.NoError(t, err)
	require.Equal(t, "user", tag)

	for _, tc := range []struct{ session, want string }{
		{"user:" + sign(jwt.MapClaims{"aud": "shop", "exp": now.Add(-time.Second).Unix()}), "expired (exp 2025-03-01T11:59:59Z)"},
		{"user:" + sign(jwt.MapClaims{"aud": "other"}), `audience does not include "shop"`},
		{"user:" + sign(jwt.MapClaims{"aud": "shop", "nbf": now.Add(time.Hour).Unix()}), "not valid yet"},
		{"user:not-a-jwt", "not a JWT"},
		{"user:eyJhbGciOiJub25lIn0.e30.", "signature does not verify"},
		{"user:", "needs a token"},
		{"other:x", `no session "other"`},
	} {
		_, err := checkSession(prod, tc.session, now)
		var ue *UnauthenticatedError
		require.True(t, errors.As(err, &ue), "%q: %v", tc.session, err)
		require.Equal(t, "session", ue.Field)
		require.Contains(t, ue.Message, tc.want)
	}
	for _, s := range []string{"bad tag:x", "user", "eyJhbGciOiJIUzI1NiJ9.e30.sig", ""} {
		_, err = checkSession(prod, s, now)
		var ie *InvalidError
		require.True(t, errors.As(err, &ie), "%q: %v", s, err)
		require.Equal(t, "session", ie.Field)
	}
	// Without sessions configured the tag is kept unverified, but a bare
	// token is still refused rather than stored as the tag.
	open := &config.Product{Tag: "open"}
	tag, err = checkSession(open, "anything:unverified", now)
	require.NoError(t, err)
	require.Equal(t, "anything", tag)
	_, err = checkSession(open, "eyJhbGciOiJIUzI1NiJ9.e30.sig", now)
	var ie *InvalidError
	require.True(t, errors.As(err, &ie))
	require.Contains(t, ie.Message, "no tag")
}

// FuzzCheckSession: no session string panics the parser or the JWT
// verification; each is a tag, a 400 or a 401.
func FuzzCheckSession(f *testing.F) {
	for _, s := range []string{"", ":", "user", "user:", "user:a.b.c", "user:eyJhbGciOiJIUzI1NiJ9.e30.x", "x:y:z", "\xff:\x00"} {
		f.Add(s)
	}
	prod := sessionProduct(f)
	now := time.Now()
	f.Fuzz(func(t *testing.T, s string) {
		tag, err := checkSession(prod, s, now)
		var ie *InvalidError
		var ue *UnauthenticatedError
		switch {
		case err == nil:
			if tag != "user" {
				t.Fatalf("checkSession(%q) accepted tag %q", s, tag)
			}
			if strings.Contains(tag, ":") {
				t.Fatalf("token kept in the tag: %q", tag)
			}
			if !strings.HasPrefix(s, tag+":") {
				t.Fatalf("checkSession(%q) accepted a session without tag: as tag %q", s, tag)
			}
		case errors.As(err, &ie), errors.As(err, &ue):
		default:
			t.Fatalf("checkSession(%q) = %v", s, err)
		}
	})
}
