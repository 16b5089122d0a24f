package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/monitor"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/rollout"
	"github.com/dwcp/dwcp-ml/sidecar/store"
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

	// BundleDir is what a reload of "" loads ("" = the directory being served).
	BundleDir string
	// BundleRoot is the directory under which the Reload RPC may load bundles; "" = none:
	// the RPC then reloads only BundleDir. Server.Reload (the owner's, e.g. SIGHUP) is
	// not bound by it.
	BundleRoot string
	// AdminUIDs may make admin calls (Reload) on a Unix socket; empty = the process's own
	// uid. Over TCP only a peer with a client certificate verified by TLS.ClientCAs may.
	AdminUIDs []uint32
	// TLS is the server side of TLS on TCP connections (nil = plaintext TCP). For admin
	// calls over TCP set ClientCAs and ClientAuth = tls.VerifyClientCertIfGiven, so
	// clients without a certificate still make the other calls. At least TLS 1.2.
	TLS *tls.Config

	MaxConns         int           // connections open at once over all listeners; 0 = DefaultMaxConns
	MaxStreams       int           // concurrent calls per connection; 0 = DefaultMaxStreams
	IdleTimeout      time.Duration // a connection without calls this long is closed (GOAWAY); 0 = DefaultIdleTimeout
	HandshakeTimeout time.Duration // to finish TLS and the HTTP/2 preface; 0 = DefaultHandshakeTimeout

	// Open opens the canary and shadow bundles (nil: this sidecar serves one bundle and
	// SetRollout refuses). They must be under BundleRoot, like the Reload RPC's.
	Open Opener
	// Signed says every bundle loaded is signature-checked with a trusted key (the
	// command's -trusted-keys): dwcp_ml_bundle_signed is 1 then, 0 otherwise.
	Signed bool
	// ShadowQueue bounds the shadow calls waiting to run; 0 = DefaultShadowQueue.
	ShadowQueue int
	// Monitor keeps the online accuracy (ReportActual) and live drift of every slot; nil =
	// none (ReportActual is Unavailable, the rollout judges on errors and latency only).
	// Its Collector joins the Server's registry.
	Monitor *monitor.Monitor
	// Now is the rollout's clock (nil = time.Now), injectable for tests.
	Now func() time.Time
	// Store is the online feature store Observe feeds and the entity calls answer from
	// (nil = a store with store's default bounds). Its figures join the registry.
	Store *store.Store
}

// Server is the gRPC sidecar over one engine.
type Server struct {
	maxBatch int
	log      *slog.Logger
	grpc     *grpc.Server
	health   *health.Server
	metrics  *metrics

	cur       atomic.Pointer[slots] // nil until Attach
	rolloutMu sync.Mutex            // one change of the slots at a time (reload, rollout)
	closing   sync.WaitGroup        // retired engines being closed
	open      Opener
	signed    bool
	mon       *monitor.Monitor
	now       func() time.Time              // the rollout clock; nil = time.Now
	stats     atomic.Pointer[rollout.Stats] // replaced when the policy's window changes
	ctl       *rollout.Controller
	shadowQ   chan func()
	stop      chan struct{} // closed by Shutdown: ends the judging and shadow goroutines
	stopOnce  sync.Once
	workers   sync.WaitGroup

	bundleDir, bundleRoot string
	adminUIDs             []uint32
	conns                 chan struct{} // one slot per open connection (MaxConns)
	store                 *store.Store
}

// typedFamily is the model family each typed call runs.
var typedFamily = map[string]string{
	"ForecastBandwidth": "pba",
	"AnomalyScore":      "anomaly",
	"RecommendCapacity": "scaling",
	"ForecastLink":      "link",
	"PlaceVM":           "itp",
}

// New returns a Server with no engine: health NOT_SERVING until Attach. The rollout
// policy starts at rollout's defaults (SetRollout changes it).
func New(cfg Config) *Server {
	s := &Server{maxBatch: positive(cfg.MaxBatch, DefaultMaxBatch), log: cmp.Or(cfg.Logger, slog.Default()),
		health: health.NewServer(), metrics: newMetrics(),
		bundleDir: cfg.BundleDir, bundleRoot: absOrEmpty(cfg.BundleRoot), adminUIDs: adminUIDs(cfg.AdminUIDs),
		conns: make(chan struct{}, positive(cfg.MaxConns, DefaultMaxConns)),
		open:  cfg.Open, signed: cfg.Signed, mon: cfg.Monitor, shadowQ: make(chan func(), positive(cfg.ShadowQueue, DefaultShadowQueue)),
		stop: make(chan struct{})}
	ctl, err := rollout.NewController(rollout.Config{Now: cfg.Now, OnTransition: s.transitioned})
	if err != nil {
		panic(err) // the default policy is valid
	}
	s.ctl = ctl
	s.store = cfg.Store
	if s.store == nil {
		s.store = store.New(store.Config{})
	}
	s.metrics.reg.MustRegister(newStoreCollector(s.store))
	if s.mon != nil {
		s.metrics.reg.MustRegister(s.mon.Collector())
	}
	s.now = cfg.Now
	s.stats.Store(rollout.NewStats(ctl.Policy().Window, cfg.Now))
	msg := positive(cfg.MaxMsgSize, DefaultMaxMsgSize)
	opts := append([]grpc.ServerOption{
		grpc.Creds(newTransportCreds(cfg.TLS)),
		grpc.MaxRecvMsgSize(msg), grpc.MaxSendMsgSize(msg),
		grpc.ChainUnaryInterceptor(s.observe, s.authorizeUnary, s.recoverPanic),
		grpc.ChainStreamInterceptor(s.authorizeStream),
		// Calls run on long-lived workers (a new goroutine only when all are busy) whose
		// stacks have grown already: ~20 µs less per held PlaceVM over the socket
		// (docs/serving.md, "Over the socket").
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	}, limitOptions(positive(cfg.MaxStreams, DefaultMaxStreams),
		cmp.Or(max(cfg.IdleTimeout, 0), DefaultIdleTimeout), cmp.Or(max(cfg.HandshakeTimeout, 0), DefaultHandshakeTimeout))...)
	s.grpc = grpc.NewServer(opts...)
	pb.RegisterEngineServer(s.grpc, service{Server: s})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	s.health.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	s.workers.Add(2)
	go s.judge()
	go s.runShadow()
	return s
}

// Serve accepts connections on lis until Shutdown; call it once per listener. The
// connections of all listeners count against one MaxConns.
func (s *Server) Serve(lis net.Listener) error {
	return s.grpc.Serve(&limitListener{Listener: lis, slots: s.conns, metrics: s.metrics})
}

func positive(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// absOrEmpty makes a configured directory absolute and clean, so paths compare lexically.
func absOrEmpty(dir string) string {
	if dir == "" {
		return ""
	}
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return filepath.Clean(dir)
}

// Attach starts serving eng, whose bundle must be loaded and verified, and reports
// SERVING. rel (nil if eng cannot reload) serves Reload.
func (s *Server) Attach(ctx context.Context, eng engine.Engine, rel Reloader) error {
	v, err := eng.Versions(ctx)
	if err != nil {
		return err
	}
	s.rolloutMu.Lock()
	a := newAttached(eng, rel, nil, v)
	if old := s.cur.Load(); old != nil {
		s.swap(old.with(func(n *slots) { n.champion = a }))
	} else {
		s.swap(&slots{champion: a})
	}
	s.rolloutMu.Unlock()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.log.Info("serving", "bundle", v.Bundle, "dir", v.BundleDir, "models", len(v.Models),
		"feature_core", v.FeatureCore, "onnxruntime", v.ONNXRuntime)
	return nil
}

// Reload verifies the bundle in dir and swaps it in as the champion's ("" =
// Config.BundleDir, or the directory being served when that is empty), returning what
// serves afterwards. After a completed rollout the champion is the former canary, and a
// reload of "" or of Config.BundleDir reloads the champion's own directory instead: the
// configured bundle is the one the rollout replaced, and a SIGHUP must not undo it. On
// failure the old bundle keeps serving. It is the owner's reload: the Reload RPC checks
// the caller and the bundle root before it calls Reload.
func (s *Server) Reload(ctx context.Context, dir string) (engine.Versions, error) {
	s.rolloutMu.Lock()
	defer s.rolloutMu.Unlock()
	st := s.cur.Load()
	if st == nil {
		return engine.Versions{}, engine.Errorf(engine.CodeUnavailable, "reload", "", "the sidecar is loading its bundle; retry when its health is SERVING")
	}
	a := st.champion
	if a.closer != nil && (dir == "" || dir == s.bundleDir) { // the champion came from a rollout
		dir = a.v.BundleDir
	}
	dir = cmp.Or(dir, s.bundleDir)
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
	s.swap(st.with(func(n *slots) { n.champion = newAttached(a.eng, a.rel, a.closer, v) }))
	s.log.Info("reloaded", "bundle", v.Bundle, "previous", before.Bundle, "dir", v.BundleDir)
	return v, nil
}

// Shutdown reports NOT_SERVING, stops accepting calls and waits for the calls in flight;
// when ctx ends first it closes the remaining connections. The engine stays open: close it
// after Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) {
	s.health.Shutdown()
	s.metrics.ready.Set(0)
	defer s.closeOpened()
	defer s.workers.Wait()
	s.stopOnce.Do(func() { close(s.stop) })
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
