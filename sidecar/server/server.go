package server

import (
	"cmp"
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// Defaults of Config.
const (
	DefaultMaxBatch   = 4096     // the runtime's default, so the server never lets through more
	DefaultMaxMsgSize = 64 << 20 // a full batch of PBA series is about 5 MB
)

// ServiceName is the gRPC service name of the Engine, also its name in the health service.
var ServiceName = pb.Engine_ServiceDesc.ServiceName

// Reloader swaps in the bundle in dir after verifying it, keeping the old one on failure
// ("" = reload the current directory). *runtime.Engine is one.
type Reloader interface {
	Reload(ctx context.Context, dir string) error
}

// Config configures a Server; the zero value is usable.
type Config struct {
	MaxBatch   int          // rows or series per call; 0 = DefaultMaxBatch
	MaxMsgSize int          // largest request or answer in bytes; 0 = DefaultMaxMsgSize
	Logger     *slog.Logger // nil = slog.Default()
}

// Server is the gRPC sidecar over one engine.
type Server struct {
	maxBatch int
	log      *slog.Logger
	grpc     *grpc.Server
	health   *health.Server
	metrics  *metrics

	cur      atomic.Pointer[attached] // nil until Attach
	reloadMu sync.Mutex               // one reload at a time, so bundle_info follows the engine
}

// attached is the engine being served and what the metric labels need from its bundle.
type attached struct {
	eng    engine.Engine
	rel    Reloader
	models map[string]bool   // model names, for Predict's model label
	typed  map[string]string // RPC method -> model name, for the typed calls' label
}

// typedFamily is the model family each typed call runs.
var typedFamily = map[string]string{
	"ForecastBandwidth": "pba",
	"AnomalyScore":      "anomaly",
	"RecommendCapacity": "scaling",
	"PlaceVM":           "itp",
}

// New returns a Server with no engine: health NOT_SERVING until Attach.
func New(cfg Config) *Server {
	s := &Server{maxBatch: cfg.MaxBatch, log: cfg.Logger, health: health.NewServer(), metrics: newMetrics()}
	if s.maxBatch <= 0 {
		s.maxBatch = DefaultMaxBatch
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	msg := cfg.MaxMsgSize
	if msg <= 0 {
		msg = DefaultMaxMsgSize
	}
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(msg), grpc.MaxSendMsgSize(msg),
		grpc.ChainUnaryInterceptor(s.observe, s.recoverPanic),
	)
	pb.RegisterEngineServer(s.grpc, service{Server: s})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	s.health.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	return s
}

// Serve accepts connections on lis until Shutdown; call it once per listener.
func (s *Server) Serve(lis net.Listener) error {
	return s.grpc.Serve(lis)
}

// Attach starts serving eng, whose bundle must be loaded and verified, and reports
// SERVING. rel (nil if eng cannot reload) serves Reload.
func (s *Server) Attach(ctx context.Context, eng engine.Engine, rel Reloader) error {
	v, err := eng.Versions(ctx)
	if err != nil {
		return err
	}
	s.cur.Store(newAttached(eng, rel, v))
	s.metrics.setBundle(v.Bundle)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.log.Info("serving", "bundle", v.Bundle, "dir", v.BundleDir, "models", len(v.Models),
		"feature_core", v.FeatureCore, "onnxruntime", v.ONNXRuntime)
	return nil
}

func newAttached(eng engine.Engine, rel Reloader, v engine.Versions) *attached {
	a := &attached{eng: eng, rel: rel, models: map[string]bool{}, typed: map[string]string{}}
	for _, m := range v.Models {
		a.models[m.Name] = true
		for method, family := range typedFamily {
			if _, seen := a.typed[method]; !seen && m.Family == family {
				a.typed[method] = m.Name
			}
		}
	}
	return a
}

// Reload verifies the bundle in dir and swaps it in ("" = reload the current directory),
// returning what serves afterwards. On failure the old bundle keeps serving.
func (s *Server) Reload(ctx context.Context, dir string) (engine.Versions, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	a, err := s.attached()
	if err != nil {
		return engine.Versions{}, err
	}
	if a.rel == nil {
		return engine.Versions{}, engine.Errorf(engine.CodeUnavailable, "reload", "",
			"this sidecar's engine cannot reload; restart it with the new bundle")
	}
	before, _ := a.eng.Versions(ctx) // only for the log line
	if err := a.rel.Reload(ctx, dir); err != nil {
		s.metrics.reloads.WithLabelValues("error").Inc()
		s.log.Error("reload refused", "dir", cmp.Or(dir, before.BundleDir), "still_serving", before.Bundle, "err", err)
		return engine.Versions{}, err
	}
	s.metrics.reloads.WithLabelValues("ok").Inc()
	v, err := a.eng.Versions(ctx)
	if err != nil {
		return engine.Versions{}, err
	}
	s.cur.Store(newAttached(a.eng, a.rel, v))
	s.metrics.setBundle(v.Bundle)
	s.log.Info("reloaded", "bundle", v.Bundle, "previous", before.Bundle, "dir", v.BundleDir)
	return v, nil
}

// Shutdown reports NOT_SERVING, stops accepting calls and waits for the calls in flight;
// when ctx ends first it closes the remaining connections. The engine stays open: close it
// after Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) {
	s.health.Shutdown()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		s.log.Info("drained", "took", time.Since(start))
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
		s.log.Warn("drain timed out; closed the remaining connections", "took", time.Since(start))
	}
}

func (s *Server) attached() (*attached, error) {
	if a := s.cur.Load(); a != nil {
		return a, nil
	}
	return nil, engine.Errorf(engine.CodeUnavailable, "", "", "the sidecar is loading its bundle; retry when its health is SERVING")
}
