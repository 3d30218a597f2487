package app

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"go.uber.org/zap"

	"github.com/heraldhq/herald/config"
)

// startPprof serves net/http/pprof on pprof_addr (HERALD_PPROF_ADDR), a
// listener of its own, never on the API address. Off when unset.
func (a *App) startPprof(cfg *config.Config) error {
	if cfg.PprofAddr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	l, err := net.Listen("tcp", cfg.PprofAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (pprof_addr): %w", cfg.PprofAddr, err)
	}
	a.pprofL = l
	// No write timeout: a CPU profile or trace streams for its ?seconds=.
	a.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(a.log.Named("pprof"))}
	go func() {
		if err := a.pprof.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("pprof server stopped", zap.Error(err))
		}
	}()
	a.log.Info("pprof listening", zap.String("addr", l.Addr().String()))
	return nil
}

// PprofAddr is the pprof listen address, or "" when pprof is off.
func (a *App) PprofAddr() string {
	if a.pprofL == nil {
		return ""
	}
	return a.pprofL.Addr().String()
}
