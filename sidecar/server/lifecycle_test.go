package server_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

func healthClient(t testing.TB, target string) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func checkHealth(t testing.TB, h healthpb.HealthClient, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	for _, svc := range []string{"", server.ServiceName} {
		resp, err := h.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("health of %q: %v", svc, err)
		}
		if resp.GetStatus() != want {
			t.Fatalf("health of %q is %v, want %v", svc, resp.GetStatus(), want)
		}
	}
}

// TestHealth: NOT_SERVING (and engine calls Unavailable) until the verified engine is
// attached, SERVING after; Versions is the engine's.
func TestHealth(t *testing.T) {
	ctx := context.Background()
	srv, target := serve(t, "unix", server.Config{})
	h := healthClient(t, target)
	checkHealth(t, h, healthpb.HealthCheckResponse_NOT_SERVING)

	c, err := client.Dial(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := c.WaitReady(short); !errors.Is(err, engine.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "NOT_SERVING") {
		t.Fatalf("WaitReady before load: %v", err)
	}
	if _, err := c.Versions(ctx); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("Versions before load: %v, want ErrUnavailable", err)
	}

	eng := openEngine(t, testbundle.Dir(), 0)
	if err := srv.Attach(ctx, eng, eng); err != nil {
		t.Fatal(err)
	}
	checkHealth(t, h, healthpb.HealthCheckResponse_SERVING)
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	want, _ := eng.Versions(ctx)
	got, err := c.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameBits(got, want); err != nil {
		t.Errorf("versions: %v", err)
	}
	if got.Bundle != "default-1" || len(got.Models) != len(goldenBundle(t).Manifest.Models) || got.ONNXRuntime == "" || got.FeatureCore == "" {
		t.Errorf("versions %+v", got)
	}
	if v := metric(t, srv.Registry(), "dwcp_ml_bundle_info", map[string]string{"bundle_version": "default-1"}); v != 1 {
		t.Errorf("dwcp_ml_bundle_info{default-1} = %v", v)
	}
}

// TestReload: a good bundle is swapped in (by the RPC and by Server.Reload, the SIGHUP
// path); a bad one is refused with FailedPrecondition, and the old bundle keeps serving.
func TestReload(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), 0)
	srv, target := serveEngine(t, "unix", eng, eng, server.Config{BundleRoot: testRoot(t)})
	rec := &codeRecorder{}
	c := dial(t, target, client.WithDialOptions(grpc.WithUnaryInterceptor(rec.intercept)))

	truncated := testbundle.WithVersion(t, "truncated")
	testbundle.Truncate(t, filepath.Join(truncated, "anomaly.onnx"))
	tampered := testbundle.WithVersion(t, "tampered")
	testbundle.EditManifest(t, tampered, testbundle.SHA256(t, filepath.Join(tampered, "pba.onnx")), strings.Repeat("0", 64))
	good := testbundle.WithVersion(t, "default-2")
	other := testbundle.WithVersion(t, "default-3")

	viaRPC := func(dir string) error { return c.Reload(ctx, dir) }
	viaSignal := func(dir string) error { _, err := srv.Reload(ctx, dir); return err }
	tests := []struct {
		name   string
		reload func(string) error
		dir    string
		want   error // nil or a sentinel
		code   string
		bundle string // served afterwards
	}{
		{"truncated onnx", viaRPC, truncated, engine.ErrBadBundle, "FailedPrecondition", "default-1"},
		{"tampered manifest sha256", viaRPC, tampered, engine.ErrBadBundle, "FailedPrecondition", "default-1"},
		{"not a bundle", viaRPC, t.TempDir(), engine.ErrBadBundle, "FailedPrecondition", "default-1"},
		{"good", viaRPC, good, nil, "OK", "default-2"},
		{"current dir again", viaRPC, "", nil, "OK", "default-2"},
		{"bad, by signal", viaSignal, truncated, engine.ErrBadBundle, "", "default-2"},
		{"good, by signal", viaSignal, other, nil, "", "default-3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.reload(tc.dir)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("reload: %v", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("reload: got %v, want %v", err, tc.want)
			case tc.want != nil && !strings.Contains(err.Error(), "still serving"):
				t.Errorf("error does not say what still serves: %v", err)
			}
			if tc.code != "" && rec.code() != tc.code {
				t.Errorf("gRPC code %s, want %s", rec.code(), tc.code)
			}
			v, err := c.Versions(ctx)
			if err != nil || v.Bundle != tc.bundle {
				t.Fatalf("serving %q (%v), want %q", v.Bundle, err, tc.bundle)
			}
			res, err := c.AnomalyScore(ctx, goldenSeries(t, "anomaly")[0])
			if err != nil || res.Model.Bundle != tc.bundle {
				t.Fatalf("answer from %q (%v), want %q", res.Model.Bundle, err, tc.bundle)
			}
			if got := metric(t, srv.Registry(), "dwcp_ml_bundle_info", map[string]string{"bundle_version": tc.bundle}); got != 1 {
				t.Errorf("dwcp_ml_bundle_info{%s} = %v", tc.bundle, got)
			}
		})
	}
	for result, want := range map[string]float64{"ok": 3, "error": 4} {
		if got := metric(t, srv.Registry(), "dwcp_ml_reloads_total", map[string]string{"result": result}); got != want {
			t.Errorf("dwcp_ml_reloads_total{%s} = %v, want %v", result, got, want)
		}
	}
	families, _ := srv.Registry().Gather()
	for _, f := range families {
		if f.GetName() == "dwcp_ml_bundle_info" && len(f.GetMetric()) != 1 {
			t.Errorf("dwcp_ml_bundle_info has %d series, want only the served bundle", len(f.GetMetric()))
		}
	}
}

// gated is an engine whose first AnomalyScore waits until release is closed (or its
// context ends), so a test holds a call in flight.
type gated struct {
	engine.Engine
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newGated(e engine.Engine) *gated {
	return &gated{Engine: e, entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gated) AnomalyScore(ctx context.Context, s engine.Series) (engine.AnomalyResult, error) {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		select {
		case <-g.release:
		case <-ctx.Done():
		}
	}
	return g.Engine.AnomalyScore(ctx, s)
}

type result struct {
	res engine.AnomalyResult
	err error
}

// TestGracefulShutdown: Shutdown reports NOT_SERVING at once, waits for the call in
// flight, which completes with the right answer, and then returns.
func TestGracefulShutdown(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), 0)
	g := newGated(eng)
	srv, target := serveEngine(t, "unix", g, eng, server.Config{})
	c := dial(t, target)
	s := goldenSeries(t, "anomaly")[0]

	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watch, err := healthClient(t, target).Watch(wctx, &healthpb.HealthCheckRequest{Service: server.ServiceName})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch: %v, %v", st, err)
	}

	inflight := make(chan result, 1)
	go func() {
		res, err := c.AnomalyScore(ctx, s)
		inflight <- result{res, err}
	}()
	<-g.entered
	drained := make(chan struct{})
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		close(drained)
	}()
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch during shutdown: %v, %v", st, err)
	}
	stopWatch() // a watch is a call in flight too: end it so the drain can finish
	select {
	case <-drained:
		t.Fatal("Shutdown returned while a call was in flight")
	default:
	}
	close(g.release)
	r := <-inflight
	if r.err != nil {
		t.Fatalf("the call in flight failed: %v", r.err)
	}
	want, _ := eng.AnomalyScore(ctx, s)
	if err := sameBits(r.res, want); err != nil {
		t.Errorf("the call in flight: %v", err)
	}
	<-drained
	if _, err := c.AnomalyScore(ctx, s); !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("after shutdown: %v, want ErrUnavailable", err)
	}
}

// TestShutdownTimeout: when the drain outlasts its context, Shutdown closes the
// connections and the call in flight fails with Unavailable instead of holding the exit.
func TestShutdownTimeout(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), 0)
	g := newGated(eng)
	srv, target := serveEngine(t, "unix", g, eng, server.Config{})
	c := dial(t, target)
	defer close(g.release)

	inflight := make(chan result, 1)
	go func() {
		res, err := c.AnomalyScore(ctx, goldenSeries(t, "anomaly")[0])
		inflight <- result{res, err}
	}()
	<-g.entered
	expired, cancel := context.WithCancel(ctx)
	cancel()
	srv.Shutdown(expired)
	if r := <-inflight; !errors.Is(r.err, engine.ErrUnavailable) {
		t.Fatalf("call cut by the shutdown: %v, want ErrUnavailable", r.err)
	}
}
