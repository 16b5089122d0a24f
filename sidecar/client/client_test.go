package client_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// These tests need no engine: the client's behaviour towards targets, an absent sidecar
// and the health service. sidecar/server's tests run it against the real runtime.

func TestDial(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		target string
		want   error // nil or a sentinel
	}{
		{"unix", context.Background(), "unix:///tmp/dwcp-sidecar.sock", nil},
		{"host and port", context.Background(), "localhost:9400", nil},
		{"ip and port", context.Background(), "127.0.0.1:9400", nil},
		{"ipv6", context.Background(), "[::1]:9400", nil},
		{"no port", context.Background(), "localhost", engine.ErrInvalidInput},
		{"empty", context.Background(), "", engine.ErrInvalidInput},
		{"path without scheme", context.Background(), "/tmp/dwcp-sidecar.sock", engine.ErrInvalidInput},
		{"canceled", canceled, "localhost:9400", engine.ErrCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.Dial(tc.ctx, tc.target)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestUnreachable: with no sidecar at the target every call fails fast with
// CodeUnavailable naming the target, and so does a call after Close.
func TestUnreachable(t *testing.T) {
	ctx := context.Background()
	target := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	c, err := client.Dial(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Versions":          func() error { _, err := c.Versions(ctx); return err },
		"Predict":           func() error { _, err := c.Predict(ctx, "anomaly", "", []float64{1}); return err },
		"ForecastBandwidth": func() error { _, err := c.ForecastBandwidth(ctx, engine.Series{}); return err },
		"Reload":            func() error { return c.Reload(ctx, "") },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, engine.ErrUnavailable) || !strings.Contains(err.Error(), target) {
			t.Errorf("%s: got %v, want ErrUnavailable naming %s", name, err, target)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Versions(ctx); !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("after Close: got %v, want ErrUnavailable", err)
	}
}

// TestWaitReady: WaitReady waits through NOT_SERVING and returns once the health service
// reports SERVING; when its context ends first, the error says what it saw.
func TestWaitReady(t *testing.T) {
	lis, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	hs.SetServingStatus(pb.Engine_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	go srv.Serve(lis)
	defer srv.Stop()

	c, err := client.Dial(context.Background(), "unix://"+lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = c.WaitReady(short)
	if !errors.Is(err, engine.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "NOT_SERVING") {
		t.Fatalf("got %v, want ErrUnavailable wrapping the deadline and naming NOT_SERVING", err)
	}

	ready := make(chan error, 1)
	go func() { ready <- c.WaitReady(context.Background()) }()
	hs.SetServingStatus(pb.Engine_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	// The sidecar's API itself is absent from this server: Unimplemented, an internal error.
	if _, err := c.Versions(context.Background()); !errors.Is(err, engine.ErrInternal) || !strings.Contains(err.Error(), "Unimplemented") {
		t.Errorf("Versions on a server without the Engine service: %v", err)
	}
}
