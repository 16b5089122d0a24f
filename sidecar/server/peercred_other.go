//go:build !linux

package server

import (
	"errors"
	"net"
)

// peerCred needs SO_PEERCRED, which is Linux's: elsewhere a Unix connection is refused
// rather than served without knowing who is calling.
func peerCred(*net.UnixConn) (PeerCred, error) {
	return PeerCred{}, errors.New("peer credentials (SO_PEERCRED) are read on Linux only")
}
