package api

import (
	"net/http"
	"strings"

	"github.com/heraldhq/herald/config"
)

// authenticate checks the Bearer key and the scope the route needs. Keys
// are compared by their SHA-256 (config.Authenticate); the key itself is
// never logged or stored. An empty scope admits any valid key.
func (s *Server) authenticate(r *http.Request, scope string) (*config.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errorf(http.StatusUnauthorized, "unauthenticated", "", "missing Authorization: Bearer <api key>")
	}
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
		return nil, errorf(http.StatusUnauthorized, "unauthenticated", "", "want Authorization: Bearer <api key>")
	}
	p, ok := s.cfg.Config().Authenticate(strings.TrimSpace(key))
	if !ok {
		return nil, errorf(http.StatusUnauthorized, "unauthenticated", "", "invalid API key")
	}
	if scope != "" && !p.Can(scope) {
		return nil, errorf(http.StatusForbidden, "permission_denied", "", "this key lacks the "+scope+" scope")
	}
	return p, nil
}
