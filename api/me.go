package api

import (
	"net/http"

	"github.com/heraldhq/herald/config"
)

// meResponse is the body of GET /v1/me: who the key is, so that a client
// (the console) shows only what the key may do.
type meResponse struct {
	Workspace string   `json:"workspace"`
	KeyName   string   `json:"key_name"`
	Scopes    []string `json:"scopes"`
}

// me answers any valid key, whatever its scopes.
func (s *Server) me(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	scopes := p.Scopes()
	if scopes == nil {
		scopes = []string{}
	}
	writeJSON(w, http.StatusOK, meResponse{Workspace: p.Workspace, KeyName: p.KeyName, Scopes: scopes})
	return nil
}
