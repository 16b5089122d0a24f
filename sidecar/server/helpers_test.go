package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

// golden holds the committed bundle's golden inputs: each raw run is one valid series of
// its model, each input row one valid Predict row.
var golden = sync.OnceValues(func() (*bundle.Bundle, error) { return bundle.Load(testbundle.Dir()) })

func goldenBundle(t testing.TB) *bundle.Bundle {
	t.Helper()
	b, err := golden()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goldenSeries returns the golden raw runs of model as series.
func goldenSeries(t testing.TB, model string) []engine.Series {
	t.Helper()
	var s []engine.Series
	for _, r := range goldenBundle(t).Goldens[model].Runs {
		s = append(s, engine.Series{Timestamps: r.Timestamps, Values: r.Values})
	}
	return s
}

// goldenRows returns the golden input rows of model as float64s, one after the other, and
// the number of rows.
func goldenRows(t testing.TB, model string) ([]float64, int) {
	t.Helper()
	g := goldenBundle(t).Goldens[model]
	in := make([]float64, len(g.Input))
	for i, v := range g.Input {
		in[i] = float64(v)
	}
	return in, int(g.InputShape[0])
}

func openEngine(t testing.TB, dir string, maxBatch int) *runtime.Engine {
	t.Helper()
	e, err := runtime.Open(context.Background(), dir, runtime.Config{MaxBatch: maxBatch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// testRoot is the directory that holds every t.TempDir of t (testbundle.Copy makes its
// bundles there): the bundle root of tests that reload those bundles.
func testRoot(t testing.TB) string {
	t.Helper()
	return filepath.Dir(t.TempDir())
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// listen opens a listener on network "unix" (a socket in a test directory) or "tcp"
// (loopback, any port) and returns it with the client target that reaches it.
func listen(t testing.TB, network string) (net.Listener, string) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s.sock")
		if len(addr) > 100 { // sun_path holds 108 bytes
			t.Fatalf("socket path %s too long for a Unix socket", addr)
		}
	}
	lis, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	if network == "unix" {
		return lis, "unix://" + addr
	}
	return lis, lis.Addr().String()
}

// serve starts a Server on network without an engine; it is shut down at the end of the
// test.
func serve(t testing.TB, network string, cfg server.Config) (*server.Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	srv := server.New(cfg)
	lis, target := listen(t, network)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, target
}

// serveEngine starts a Server serving eng (reloading through rel, if not nil).
func serveEngine(t testing.TB, network string, eng engine.Engine, rel server.Reloader, cfg server.Config) (*server.Server, string) {
	t.Helper()
	srv, target := serve(t, network, cfg)
	if err := srv.Attach(context.Background(), eng, rel); err != nil {
		t.Fatal(err)
	}
	return srv, target
}

// codeRecorder is a client interceptor keeping the gRPC status code of the last call, so
// tests see both sides of the error mapping.
type codeRecorder struct {
	mu   sync.Mutex
	last string
}

func (r *codeRecorder) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	r.mu.Lock()
	r.last = status.Code(err).String()
	r.mu.Unlock()
	return err
}

func (r *codeRecorder) code() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func dial(t testing.TB, target string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// sameBits reports whether a and b are equal with every float compared by its bits (so
// -0 != +0 and NaN == NaN of the same payload) and times by instant and location.
func sameBits(a, b any) error {
	return sameValue(reflect.ValueOf(a), reflect.ValueOf(b), "")
}

var timeType = reflect.TypeFor[time.Time]()

func sameValue(a, b reflect.Value, path string) error {
	if a.Type() != b.Type() {
		return fmt.Errorf("%s: type %s vs %s", path, a.Type(), b.Type())
	}
	switch {
	case a.Type() == timeType:
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		if !ta.Equal(tb) || ta.Location().String() != tb.Location().String() {
			return fmt.Errorf("%s: %v vs %v", path, ta, tb)
		}
		return nil
	case a.Kind() == reflect.Float64 || a.Kind() == reflect.Float32:
		if math.Float64bits(a.Float()) != math.Float64bits(b.Float()) {
			return fmt.Errorf("%s: %v vs %v (bits differ)", path, a.Float(), b.Float())
		}
		return nil
	case a.Kind() == reflect.Struct:
		for i := range a.NumField() {
			if err := sameValue(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); err != nil {
				return err
			}
		}
		return nil
	case a.Kind() == reflect.Slice:
		if a.Len() != b.Len() {
			return fmt.Errorf("%s: length %d vs %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if err := sameValue(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case a.Kind() == reflect.Map:
		if a.Len() != b.Len() {
			return fmt.Errorf("%s: %d entries vs %d", path, a.Len(), b.Len())
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() {
				return fmt.Errorf("%s[%v]: missing", path, k)
			}
			if err := sameValue(a.MapIndex(k), bv, fmt.Sprintf("%s[%v]", path, k)); err != nil {
				return err
			}
		}
		return nil
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		return fmt.Errorf("%s: %v vs %v", path, a.Interface(), b.Interface())
	}
	return nil
}

// metric returns the value of the counter or gauge name with labels in reg (0 if absent).
func metric(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}
