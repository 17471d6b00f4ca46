package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/stoa-video/stoa/signaling"
)

// metricsBehindKey is /metrics on the main listener: the signaling guard
// (dev mode's Host check, the failed-login limit), then the operator key, or
// dev mode's trust in loopback callers.
func metricsBehindKey(sig *signaling.Server, h http.Handler) http.Handler {
	return sig.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sig.RequireOperator(w, r) {
			h.ServeHTTP(w, r)
		}
	}))
}

// listenMetrics serves /metrics alone, plain HTTP and without credentials,
// on addr (metrics.listen: an address only the operator's Prometheus
// reaches). stop shuts it down, waiting a moment for a scrape in flight.
func listenMetrics(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "addr", addr, "err", err)
		}
	}()
	log.Info("serving Prometheus metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
