package api

import (
	"github.com/heraldhq/herald/api/console"
)

// mountConsole serves the web console (api/console) at /console. It is
// static files, not an API route, so it is not in Routes nor in the
// OpenAPI document; the console calls the documented routes.
func (s *Server) mountConsole() {
	h := s.instrument(console.Prefix, console.New().ServeHTTP)
	s.mux.HandleFunc(console.Prefix, h)
	s.mux.HandleFunc(console.Prefix+"/", h)
}
