package server_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

// placeRequests are the golden placement requests, one with 1,000 hosts, and one whose
// hosts are filled to different levels (so its answer has top factors).
func placeRequests(t testing.TB) []engine.PlacementRequest {
	t.Helper()
	_, g := testbundle.Placement(t)
	var reqs []engine.PlacementRequest
	for _, p := range g.Placements {
		reqs = append(reqs, p.Request)
	}
	varied := testbundle.ScaleHosts(g.Placements[len(g.Placements)-1].Request, 200)
	for i := range varied.Hosts {
		h := &varied.Hosts[i]
		h.Usage = slices.Clone(h.Usage)
		for k := range engine.NumResources {
			h.Allocated[k] = math.Floor(h.Capacity[k] * float64(i%7) / 10)
			for s := range len(h.Usage) / engine.NumResources {
				h.Usage[s*engine.NumResources+k] = math.Floor(h.Allocated[k] * (0.2 + 0.05*float64((i+s)%5)))
			}
		}
	}
	return append(reqs, testbundle.ScaleHosts(g.Placements[0].Request, 1000), varied)
}

// TestPlaceParity: every placement through the sidecar (Unix socket) has the bits of the
// in-process answer: each request alone and all in one batch, and a request with no
// feasible host fails with the same error, every rejection included.
func TestPlaceParity(t *testing.T) {
	eng := openEngine(t, testbundle.Dir(), 0)
	_, target := serveEngine(t, "unix", eng, eng, server.Config{})
	c := dial(t, target)
	ctx := context.Background()
	reqs := placeRequests(t)
	explained := 0
	for i, r := range reqs {
		same(t, fmt.Sprintf("request %d", i), func(e engine.Engine) (any, error) { return e.PlaceVM(ctx, r) }, eng, c)
		if p, _ := c.PlaceVM(ctx, r); len(p.TopFactors) > 0 {
			explained++
		}
	}
	if explained == 0 {
		t.Error("no placement had top factors: the explanation never crossed the wire")
	}
	same(t, "batch", func(e engine.Engine) (any, error) { return e.PlaceVMBatch(ctx, reqs) }, eng, c)

	full := reqs[0]
	full.Overcommit = engine.Resources{0.01, 0, 0, 0}
	full.Hosts = slices.Clone(full.Hosts)
	full.Hosts[1].Maintenance = true
	_, want := eng.PlaceVM(ctx, full)
	_, got := c.PlaceVM(ctx, full)
	var nfWant, nfGot *engine.NoFeasibleHostError
	if !errors.As(want, &nfWant) || !errors.As(got, &nfGot) || !errors.Is(got, engine.ErrNoFeasibleHost) {
		t.Fatalf("no feasible host: in-process %v, sidecar %v", want, got)
	}
	if got.Error() != want.Error() || !reflect.DeepEqual(nfGot, nfWant) || len(nfGot.Rejected) != len(full.Hosts) {
		t.Errorf("no feasible host through the sidecar\n  %v\nin-process\n  %v", got, want)
	}
}

// TestPlaceErrorsSidecar: bad placement requests get the engine's code and message, the
// server's own checks (batch size, vector lengths) theirs, under the documented gRPC code.
func TestPlaceErrorsSidecar(t *testing.T) {
	const maxBatch = 2
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), maxBatch)
	srv, target := serveEngine(t, "unix", eng, eng, server.Config{MaxBatch: maxBatch})
	rec := &codeRecorder{}
	c := dial(t, target, client.WithDialOptions(grpc.WithUnaryInterceptor(rec.intercept)))
	good := placeRequests(t)[0]
	bad := good
	bad.Hosts = slices.Clone(good.Hosts)
	bad.Hosts[1].Cost = math.NaN()
	none := good
	none.Overcommit = engine.Resources{0.01, 0.01, 0.01, 0.01}

	tests := []struct {
		name     string
		call     func(ctx context.Context, e engine.Engine) error
		grpcCode string
		want     *engine.Error
		msg      string
		fromEng  bool
	}{
		{"NaN cost", place(bad), "InvalidArgument", engine.ErrInvalidInput, "hosts[1] (h1).cost is NaN", true},
		{"no feasible host", place(none), "FailedPrecondition", engine.ErrNoFeasibleHost,
			fmt.Sprintf("no feasible host among %d: capacity removed %d", len(good.Hosts), len(good.Hosts)), true},
		{"a batch's second request", placeBatch(good, bad), "InvalidArgument", engine.ErrInvalidInput, "request 1: hosts[1] (h1).cost is NaN", true},
		{"empty batch", placeBatch(), "InvalidArgument", engine.ErrInvalidInput, "no placement requests", false},
		{"too many requests", placeBatch(good, good, good), "InvalidArgument", engine.ErrTooLarge,
			"3 requests; at most 2 per call", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(ctx, c)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want.Code, tc.msg)
			}
			if got := rec.code(); got != tc.grpcCode {
				t.Errorf("gRPC code %s, want %s", got, tc.grpcCode)
			}
			if tc.fromEng {
				if inErr := tc.call(ctx, eng); inErr == nil || inErr.Error() != err.Error() {
					t.Errorf("message through the sidecar\n  %v\nin-process\n  %v", err, inErr)
				}
			}
			if _, err := c.PlaceVM(ctx, good); err != nil {
				t.Fatalf("the next good request failed: %v", err)
			}
		})
	}

	// A resource vector of the wrong length cannot come from engine types: send it raw.
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := wire.PlacementRequestsToProto([]engine.PlacementRequest{good})
	msg[0].Hosts[2].Capacity = msg[0].Hosts[2].Capacity[:3]
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = pb.NewEngineClient(conn).PlaceVM(cctx, &pb.PlaceVMRequest{Requests: msg})
	e := wire.ErrorFromStatus(err, target, "raw", "")
	if status.Code(err).String() != "InvalidArgument" || !errors.Is(e, engine.ErrInvalidInput) ||
		e.Error() != "dwcp-ml: place vm: hosts[2].capacity has 3 values; want 4, one per resource [cpu_mhz mem_mb disk_kbs net_kbs]" {
		t.Errorf("short capacity: %v (%v)", e, status.Code(err))
	}

	model := testbundleModel(t)
	if n := metric(t, srv.Registry(), "dwcp_ml_requests_total",
		map[string]string{"method": "PlaceVM", "model": model, "code": "FailedPrecondition"}); n != 1 {
		t.Errorf("dwcp_ml_requests_total{PlaceVM,%s,FailedPrecondition} = %v, want 1", model, n)
	}
	if n := metric(t, srv.Registry(), "dwcp_ml_requests_total",
		map[string]string{"method": "PlaceVM", "model": model, "code": "OK"}); n < float64(len(tests)) {
		t.Errorf("dwcp_ml_requests_total{PlaceVM,%s,OK} = %v, want at least %d", model, n, len(tests))
	}
}

// testbundleModel is the name of the model PlaceVM uses (the metric label).
func testbundleModel(t testing.TB) string {
	m, _ := testbundle.Placement(t)
	return m.Name
}

func place(r engine.PlacementRequest) func(context.Context, engine.Engine) error {
	return func(ctx context.Context, e engine.Engine) error {
		_, err := e.PlaceVM(ctx, r)
		return err
	}
}

func placeBatch(r ...engine.PlacementRequest) func(context.Context, engine.Engine) error {
	return func(ctx context.Context, e engine.Engine) error {
		_, err := e.PlaceVMBatch(ctx, r)
		return err
	}
}

// BenchmarkPlaceVM1000UDS times one PlaceVM over 1,000 hosts through the sidecar over a
// Unix socket (client and server in this process), the in-process benchmark's request.
func BenchmarkPlaceVM1000UDS(b *testing.B) {
	ctx := context.Background()
	eng := openEngine(b, testbundle.Dir(), 0)
	_, target := serveEngine(b, "unix", eng, eng, server.Config{})
	c := dial(b, target)
	_, g := testbundle.Placement(b)
	r := testbundle.ScaleHosts(g.Placements[0].Request, 1000)
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		if _, err := c.PlaceVM(ctx, r); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}
