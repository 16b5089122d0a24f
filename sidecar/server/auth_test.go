package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/internal/testpki"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

// TestAdminAuthorization: Reload (an admin call) needs an allowed uid on the Unix socket
// or a verified client certificate over TCP; Versions (any other call) is open to every
// connected peer. A refusal is PermissionDenied naming who was refused and how to be
// allowed, and the bundle keeps serving.
func TestAdminAuthorization(t *testing.T) {
	serverCA, clientCA, otherCA := testpki.NewCA(t, "server-ca"), testpki.NewCA(t, "client-ca"), testpki.NewCA(t, "other-ca")
	serverTLS := &tls.Config{Certificates: []tls.Certificate{serverCA.Server(t, "sidecar")},
		ClientCAs: clientCA.Pool(), ClientAuth: tls.VerifyClientCertIfGiven}
	clientTLS := func(certs ...tls.Certificate) client.Option {
		return client.WithTLSConfig(&tls.Config{RootCAs: serverCA.Pool(), Certificates: certs})
	}
	own := uint32(os.Getuid())
	tests := []struct {
		name    string
		network string
		cfg     server.Config
		opts    []client.Option
		want    []string // fragments of the refusal; nil = Reload allowed
	}{
		{"unix, own uid (default)", "unix", server.Config{}, nil, nil},
		{"unix, uid not allowed", "unix", server.Config{AdminUIDs: []uint32{own + 4242}}, nil,
			[]string{"uid " + strconv.FormatUint(uint64(own), 10) + " (pid ", "on the Unix socket may not make admin calls", "-admin-uids"}},
		{"tcp plaintext", "tcp", server.Config{}, nil,
			[]string{"unauthenticated peer 127.0.0.1:", "(TCP without TLS)", "need mutual TLS"}},
		{"tls without a client certificate", "tcp", server.Config{TLS: serverTLS}, []client.Option{clientTLS()},
			[]string{"TCP peer 127.0.0.1:", "without a verified client certificate", "-tls-client-ca"}},
		// Go's client offers no certificate the server's CA list does not name.
		{"tls, a client certificate of another CA", "tcp", server.Config{TLS: serverTLS},
			[]client.Option{clientTLS(otherCA.Client(t, "intruder"))}, []string{"without a verified client certificate"}},
		{"mutual tls", "tcp", server.Config{TLS: serverTLS}, []client.Option{clientTLS(clientCA.Client(t, "operator"))}, nil},
	}
	eng := openEngine(t, testbundle.Dir(), 0)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv, target := serveEngine(t, tc.network, eng, eng, tc.cfg)
			c := dial(t, target, tc.opts...)
			err := c.Reload(ctx, "")
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Reload: %v", err)
				}
				return
			}
			if !errors.Is(err, engine.ErrPermissionDenied) {
				t.Fatalf("Reload: got %v, want permission denied", err)
			}
			for _, frag := range tc.want {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("refusal lacks %q: %v", frag, err)
				}
			}
			if v, err := c.Versions(ctx); err != nil || v.Bundle != "default-1" {
				t.Errorf("Versions after the refusal: %q, %v", v.Bundle, err)
			}
			if n := metric(t, srv.Registry(), "dwcp_ml_requests_total",
				map[string]string{"method": "Reload", "code": "PermissionDenied"}); n != 1 {
				t.Errorf("dwcp_ml_requests_total{Reload,PermissionDenied} = %v, want 1", n)
			}
		})
	}
}

// TestTLSHandshakeRefused: a client certificate from another CA, or a plaintext client on
// a TLS port, gets no connection at all (CodeUnavailable), not just a refused admin call.
func TestTLSHandshakeRefused(t *testing.T) {
	serverCA, clientCA, otherCA := testpki.NewCA(t, "server-ca"), testpki.NewCA(t, "client-ca"), testpki.NewCA(t, "other-ca")
	serverTLS := &tls.Config{Certificates: []tls.Certificate{serverCA.Server(t, "sidecar")},
		ClientCAs: clientCA.Pool(), ClientAuth: tls.VerifyClientCertIfGiven}
	eng := openEngine(t, testbundle.Dir(), 0)
	_, target := serveEngine(t, "tcp", eng, eng, server.Config{TLS: serverTLS})
	intruder := otherCA.Client(t, "intruder")
	tests := []struct {
		name string
		opts []client.Option
	}{
		// GetClientCertificate presents the certificate whatever CAs the server asks for
		// (Go's client would otherwise send none, and be refused only admin calls).
		{"client certificate of another CA", []client.Option{client.WithTLSConfig(&tls.Config{
			RootCAs: serverCA.Pool(), GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &intruder, nil
			}})}},
		{"server certificate of an unknown CA", []client.Option{client.WithTLSConfig(&tls.Config{RootCAs: otherCA.Pool()})}},
		{"plaintext client", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.Dial(context.Background(), target, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err = c.Versions(ctx)
			if !errors.Is(err, engine.ErrUnavailable) && !errors.Is(err, engine.ErrCanceled) {
				t.Fatalf("Versions: got %v, want no connection", err)
			}
			// In TLS 1.3 the server refuses a client certificate after the client's side of
			// the handshake is done, so the client may see the alert or only the closed
			// connection it was writing to.
			if !containsAny(err.Error(), "tls:", "server preface", "broken pipe", "connection reset") {
				t.Errorf("the error does not say the handshake failed: %v", err)
			}
		})
	}
}

func containsAny(s string, parts ...string) bool {
	for _, p := range parts {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
