package server

import (
	"context"
	"fmt"
	"os"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// adminOps are the admin calls, by full gRPC method name, with the op their refusal names.
// Only an authorized peer may make them; every other call is open to any connected peer.
// A later admin RPC joins by adding its method here.
var adminOps = map[string]string{
	pb.Engine_Reload_FullMethodName:     "reload",
	pb.Engine_SetRollout_FullMethodName: "set rollout",
}

// IsAdmin reports whether the full gRPC method name (e.g. "/dwcp.ml.v1.Engine/Reload") is
// an admin call.
func IsAdmin(fullMethod string) bool {
	_, ok := adminOps[fullMethod]
	return ok
}

// PeerCred is the AuthInfo of a Unix-socket connection: the credentials of the peer
// process when it connected (SO_PEERCRED), which the kernel vouches for.
type PeerCred struct {
	credentials.CommonAuthInfo
	PID      int32
	UID, GID uint32
}

// AuthType implements credentials.AuthInfo.
func (PeerCred) AuthType() string { return "peercred" }

// plaintext is the AuthInfo of a TCP connection without TLS: nobody is vouched for.
type plaintext struct{ credentials.CommonAuthInfo }

func (plaintext) AuthType() string { return "insecure" }

// adminUIDs returns the uids allowed admin calls on the Unix socket: uids, or the
// process's own uid when uids is empty.
func adminUIDs(uids []uint32) []uint32 {
	if len(uids) == 0 {
		return []uint32{uint32(os.Getuid())}
	}
	return slices.Clone(uids)
}

// authorizeUnary refuses an admin call from a peer that is not allowed it.
func (s *Server) authorizeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := s.authorize(ctx, info.FullMethod); err != nil {
		return nil, wire.Status(ctx, err)
	}
	return handler(ctx, req)
}

// authorizeStream is authorizeUnary for streaming calls, so an admin stream is covered too.
func (s *Server) authorizeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := s.authorize(ss.Context(), info.FullMethod); err != nil {
		return wire.Status(ss.Context(), err)
	}
	return handler(srv, ss)
}

// authorize allows every non-admin call; an admin call only from a Unix-socket peer whose
// uid is allowed, or from a TCP peer whose client certificate the client CA verified.
func (s *Server) authorize(ctx context.Context, method string) error {
	op, admin := adminOps[method]
	if !admin {
		return nil
	}
	p, _ := peer.FromContext(ctx)
	var who, how string
	switch info := authInfo(p).(type) {
	case PeerCred:
		if slices.Contains(s.adminUIDs, info.UID) {
			return nil
		}
		who = fmt.Sprintf("uid %d (pid %d) on the Unix socket", info.UID, info.PID)
		how = "call as an allowed user, or have the sidecar's owner add the uid to dwcp-sidecar -admin-uids"
	case credentials.TLSInfo:
		if len(info.State.VerifiedChains) > 0 {
			return nil
		}
		who = fmt.Sprintf("TCP peer %s without a verified client certificate", p.Addr)
		how = "present a client certificate signed by the sidecar's client CA (dwcp-sidecar -tls-client-ca), or call on the Unix socket"
	default:
		who = fmt.Sprintf("unauthenticated peer %s (TCP without TLS)", peerAddr(p))
		how = "admin calls over TCP need mutual TLS (dwcp-sidecar -tls-cert, -tls-key, -tls-client-ca), or call on the Unix socket"
	}
	s.log.Warn("admin call refused", "method", method, "peer", who)
	return engine.Errorf(engine.CodePermissionDenied, op, "", "%s may not make admin calls: %s", who, how)
}

func authInfo(p *peer.Peer) credentials.AuthInfo {
	if p == nil {
		return nil
	}
	return p.AuthInfo
}

func peerAddr(p *peer.Peer) string {
	if p == nil || p.Addr == nil {
		return "(unknown)"
	}
	return p.Addr.String()
}
