package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc/credentials"
)

// transportCreds are the server's transport credentials. One grpc.Server serves the Unix
// socket and TCP, so the handshake dispatches on the connection: a Unix connection is
// identified by its peer's credentials (SO_PEERCRED), a TCP one runs TLS when the server
// has a certificate and is plaintext otherwise. gRPC bounds the handshake by its
// ConnectionTimeout (Config.HandshakeTimeout), so a peer that sends nothing is dropped.
type transportCreds struct {
	tls credentials.TransportCredentials // nil: plaintext TCP
}

func newTransportCreds(cfg *tls.Config) *transportCreds {
	if cfg == nil {
		return &transportCreds{}
	}
	cfg = cfg.Clone()
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return &transportCreds{tls: credentials.NewTLS(cfg)}
}

func (c *transportCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if uc, ok := underlying(raw).(*net.UnixConn); ok {
		cred, err := peerCred(uc)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the peer credentials of a Unix connection: %w", err)
		}
		return raw, cred, nil
	}
	if c.tls != nil {
		return c.tls.ServerHandshake(raw)
	}
	return raw, plaintext{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
}

func (c *transportCreds) ClientHandshake(_ context.Context, _ string, _ net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("dwcp-sidecar transport credentials are server-side only")
}

func (c *transportCreds) Info() credentials.ProtocolInfo {
	if c.tls != nil {
		return c.tls.Info()
	}
	return credentials.ProtocolInfo{SecurityProtocol: "insecure"}
}

func (c *transportCreds) Clone() credentials.TransportCredentials {
	out := &transportCreds{}
	if c.tls != nil {
		out.tls = c.tls.Clone()
	}
	return out
}

// OverrideServerName is deprecated in gRPC and meaningless on a server.
func (c *transportCreds) OverrideServerName(string) error { return nil }

// underlying unwraps connections that wrap another (the connection limit's, TLS's).
func underlying(c net.Conn) net.Conn {
	for {
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return c
		}
		c = w.NetConn()
	}
}
