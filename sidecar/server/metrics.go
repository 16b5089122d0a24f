package server

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

type metrics struct {
	reg      *prometheus.Registry
	duration *prometheus.HistogramVec
	requests *prometheus.CounterVec
	bundle   *prometheus.GaugeVec
	reloads  *prometheus.CounterVec
	panics   *prometheus.CounterVec

	conns        prometheus.Gauge
	connsRefused prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dwcp_ml_request_duration_seconds",
			Help: "Time to answer an Engine call, from request decoded to answer ready.",
			// 5 buckets per decade from 10 µs to 1 s: a single-row call takes tens of µs,
			// a large batch hundreds of ms.
			Buckets: prometheus.ExponentialBucketsRange(10e-6, 1, 26),
		}, []string{"method", "model"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dwcp_ml_requests_total",
			Help: "Engine calls by method, model and gRPC status code.",
		}, []string{"method", "model", "code"}),
		bundle: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dwcp_ml_bundle_info",
			Help: "1 for the bundle being served.",
		}, []string{"bundle_version"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dwcp_ml_reloads_total",
			Help: "Bundle reloads by result (ok, or error: refused, the old bundle kept serving).",
		}, []string{"result"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dwcp_ml_panics_total",
			Help: "Handler panics answered with Internal.",
		}, []string{"method"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dwcp_ml_connections",
			Help: "Connections open now (Unix socket and TCP), at most Config.MaxConns.",
		}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dwcp_ml_connections_refused_total",
			Help: "Connections closed at accept because MaxConns were already open.",
		}),
	}
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	m.reg.MustRegister(m.duration, m.requests, m.bundle, m.reloads, m.panics, m.conns, m.connsRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) setBundle(version string) {
	m.bundle.Reset()
	m.bundle.WithLabelValues(version).Set(1)
}

// Registry is the Server's Prometheus registry (its metrics, Go runtime and process).
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// MetricsHandler serves Registry in the Prometheus exposition format.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{Registry: s.metrics.reg})
}

var enginePrefix = "/" + ServiceName + "/"

// observe times and counts the Engine calls (not the health checks).
func (s *Server) observe(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !strings.HasPrefix(info.FullMethod, enginePrefix) {
		return handler(ctx, req)
	}
	start := time.Now()
	resp, err := handler(ctx, req)
	took := time.Since(start)
	method := path.Base(info.FullMethod)
	model := s.modelLabel(method, req)
	s.metrics.duration.WithLabelValues(method, model).Observe(took.Seconds())
	s.metrics.requests.WithLabelValues(method, model, status.Code(err).String()).Inc()
	return resp, err
}

// modelLabel names the model a call ran: a model of the served bundle, "unknown" for a
// name it does not have (so clients cannot add label values), "" for calls of no model.
func (s *Server) modelLabel(method string, req any) string {
	a := s.cur.Load()
	if a == nil {
		return ""
	}
	if p, ok := req.(*pb.PredictRequest); ok {
		if a.models[p.GetModel()] {
			return p.GetModel()
		}
		return "unknown"
	}
	return a.typed[method]
}

// recoverPanic turns a handler panic into Internal: one bad request must not end the
// process that serves every other caller.
func (s *Server) recoverPanic(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			method := path.Base(info.FullMethod)
			s.metrics.panics.WithLabelValues(method).Inc()
			s.log.Error("panic in handler", "method", info.FullMethod, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, err = nil, status.Errorf(codes.Internal, "dwcp-ml: %s: internal error (a panic, logged by the sidecar)", method)
		}
	}()
	return handler(ctx, req)
}
