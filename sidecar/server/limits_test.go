package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

// TestConnectionLimit: peers that connect and send nothing (no gRPC preface) hold at most
// MaxConns connections; one more is closed at once and counted, the idle ones are
// dropped at the handshake timeout, and a real caller then gets through.
func TestConnectionLimit(t *testing.T) {
	const maxConns = 4
	eng := openEngine(t, testbundle.Dir(), 0)
	srv, target := serveEngine(t, "tcp", eng, eng, server.Config{MaxConns: maxConns, HandshakeTimeout: 2 * time.Second})
	idle := make([]net.Conn, maxConns)
	for i := range idle {
		idle[i] = rawConn(t, target)
	}
	waitMetric(t, srv, "dwcp_ml_connections", maxConns)

	extra := rawConn(t, target)
	if err := readClosed(extra, 10*time.Second); err != nil {
		t.Fatalf("connection beyond -max-conns: %v", err)
	}
	if n := metric(t, srv.Registry(), "dwcp_ml_connections_refused_total", nil); n < 1 {
		t.Errorf("dwcp_ml_connections_refused_total = %v, want at least 1", n)
	}
	for i, c := range idle {
		if err := readClosed(c, 30*time.Second); err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
	}
	if v, err := dial(t, target).Versions(context.Background()); err != nil || v.Bundle != "default-1" {
		t.Fatalf("a real call after the idle peers: %q, %v", v.Bundle, err)
	}
}

// TestIdleTimeout: a gRPC connection without calls for IdleTimeout is closed by the
// server (GOAWAY: the client's connection goes IDLE), and the next call reconnects.
func TestIdleTimeout(t *testing.T) {
	_, target := serve(t, "tcp", server.Config{IdleTimeout: 200 * time.Millisecond})
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if s := conn.GetState(); s != connectivity.Ready {
		t.Fatalf("state %v after a call, want READY", s)
	}
	if !conn.WaitForStateChange(ctx, connectivity.Ready) {
		t.Fatal("the idle connection was not closed")
	}
	if s := conn.GetState(); s != connectivity.Idle {
		t.Errorf("state %v after the idle timeout, want IDLE (GOAWAY)", s)
	}
	if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("call after the idle timeout: %v", err)
	}
}

func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readClosed waits (at most d) for the server to close c: a read ends in EOF or a reset,
// not in the read deadline.
func readClosed(c net.Conn, d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c) // the server sends its settings frame before it gives up
	switch {
	case err == nil, errors.Is(err, syscall.ECONNRESET):
		return nil
	}
	return err
}

// waitMetric waits until the gauge name reaches want.
func waitMetric(t *testing.T, srv *server.Server, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, srv.Registry(), name, nil) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, metric(t, srv.Registry(), name, nil), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
