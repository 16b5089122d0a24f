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

	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"

	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/rollout"
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

	signed             *prometheus.GaugeVec
	ready              prometheus.Gauge
	canaryWeight       prometheus.Gauge
	rolloutStep        prometheus.Gauge
	transitions        *prometheus.CounterVec
	shadowRequests     *prometheus.CounterVec
	shadowDuration     prometheus.Histogram
	shadowDisagreement *prometheus.HistogramVec
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
		}, []string{"method", "model", "slot", "bundle_version"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dwcp_ml_requests_total",
			Help: "Engine calls by method, model, slot, bundle version and gRPC status code (a batch split between champion and canary counts once per slot).",
		}, []string{"method", "model", "slot", "bundle_version", "code"}),
		bundle: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dwcp_ml_bundle_info",
			Help: "1 for each bundle being served, by slot (champion, canary, shadow, previous).",
		}, []string{"bundle_version", "slot"}),
		signed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dwcp_ml_bundle_signed",
			Help: "1 when the slot's bundle was signature-checked with a trusted key, 0 when unsigned.",
		}, []string{"bundle_version", "slot"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dwcp_ml_ready",
			Help: "1 when a verified bundle serves.",
		}),
		canaryWeight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dwcp_ml_canary_weight",
			Help: "Share of entities the canary answers, 0 to 1.",
		}),
		rolloutStep: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dwcp_ml_rollout_step",
			Help: "The canary's step in percent; 0 = no canary.",
		}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dwcp_ml_rollout_transitions_total",
			Help: "Rollout transitions by action: start, promote, rollback, complete, withdraw.",
		}, []string{"action"}),
		shadowRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dwcp_ml_shadow_requests_total",
			Help: "Shadow calls by result: ok, error, or dropped (queue full; the caller never waits).",
		}, []string{"result"}),
		shadowDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dwcp_ml_shadow_duration_seconds",
			Help:    "Time of a shadow call, off the request path.",
			Buckets: prometheus.ExponentialBucketsRange(10e-6, 1, 26),
		}),
		shadowDisagreement: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dwcp_ml_shadow_disagreement",
			Help: "|shadow - champion| of the main output (forecast point, anomaly score, predicted peak MHz, placement score, first Predict output), in the model's unit.",
			// 3 buckets per decade from 1e-6 to 1e6: the units run from scores to MHz.
			Buckets: append([]float64{0}, prometheus.ExponentialBucketsRange(1e-6, 1e6, 37)...),
		}, []string{"model"}),
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
	for _, a := range rollout.Actions {
		m.transitions.WithLabelValues(string(a))
	}
	for _, r := range []string{"ok", "error", "dropped"} {
		m.shadowRequests.WithLabelValues(r)
	}
	m.reg.MustRegister(m.duration, m.requests, m.bundle, m.reloads, m.panics, m.conns, m.connsRefused,
		m.signed, m.ready, m.canaryWeight, m.rolloutStep, m.transitions, m.shadowRequests, m.shadowDuration,
		m.shadowDisagreement,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// setSlots makes the bundle gauges follow st.
func (m *metrics) setSlots(st *slots, signed bool) {
	m.bundle.Reset()
	m.signed.Reset()
	sig := 0.0
	if signed {
		sig = 1
	}
	for _, slot := range []rollout.Slot{rollout.Champion, rollout.Canary, rollout.Shadow, rollout.Previous} {
		if a := st.get(slot); a != nil {
			m.bundle.WithLabelValues(a.v.Bundle, string(slot)).Set(1)
			m.signed.WithLabelValues(a.v.Bundle, string(slot)).Set(sig)
		}
	}
	m.ready.Set(1)
	m.canaryWeight.Set(float64(st.router.WeightBP) / rollout.Buckets)
	m.rolloutStep.Set(float64(st.router.WeightBP / 100))
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
	rec := &callRecord{}
	start := time.Now()
	resp, err := handler(context.WithValue(ctx, recordKey{}, rec), req)
	took := time.Since(start)
	method := path.Base(info.FullMethod)
	code := status.Code(err).String()
	rec.mu.Lock()
	parts := rec.parts
	rec.mu.Unlock()
	if len(parts) == 0 { // refused before any engine ran, or a call of no slot
		s.metrics.duration.WithLabelValues(method, s.modelLabel(method, req, ""), "", "").Observe(took.Seconds())
		s.metrics.requests.WithLabelValues(method, s.modelLabel(method, req, ""), "", "", code).Inc()
		return resp, err
	}
	for _, p := range parts {
		pcode := code
		if len(parts) > 1 && p.err == nil {
			pcode = "OK" // its slot answered; another slot's part failed the call
		}
		if p.err != nil {
			pcode = status.Code(wire.Status(ctx, p.err)).String()
		}
		model := s.modelLabel(method, req, p.slot)
		s.metrics.duration.WithLabelValues(method, model, string(p.slot), p.bundle).Observe(p.took.Seconds())
		s.metrics.requests.WithLabelValues(method, model, string(p.slot), p.bundle, pcode).Inc()
	}
	return resp, err
}

// modelLabel names the model a call ran: a model of the slot's bundle (the champion's
// when slot is ""), "unknown" for a name it does not have (so clients cannot add label
// values), "" for calls of no model.
func (s *Server) modelLabel(method string, req any, slot rollout.Slot) string {
	st := s.cur.Load()
	if st == nil {
		return ""
	}
	a := st.get(slot)
	if a == nil {
		a = st.champion
	}
	if p, ok := req.(*pb.PredictRequest); ok {
		if _, ok := a.models[p.GetModel()]; ok {
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
