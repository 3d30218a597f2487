package app

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
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

// startMetrics serves /metrics on metrics_addr (HERALD_METRICS_ADDR), a
// listener of its own, so that the API's port can be public while scraping
// stays private; http_addr then serves no /metrics. Off when unset.
func (a *App) startMetrics(cfg *config.Config) error {
	if cfg.MetricsAddr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
	l, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (metrics_addr): %w", cfg.MetricsAddr, err)
	}
	a.metricsL = l
	a.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: zap.NewStdLog(a.log.Named("metrics"))}
	go func() {
		if err := a.metrics.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("metrics server stopped", zap.Error(err))
		}
	}()
	a.log.Info("metrics listening", zap.String("addr", l.Addr().String()))
	return nil
}

// MetricsAddr is the metrics listen address, or "" when /metrics is on
// http_addr.
func (a *App) MetricsAddr() string {
	if a.metricsL == nil {
		return ""
	}
	return a.metricsL.Addr().String()
}
