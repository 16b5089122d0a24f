package client

import (
	"os"
	"path/filepath"
	"strconv"
)

// SocketName is the file name of dwcp-sidecar's socket in its runtime directory.
const SocketName = "dwcp-sidecar.sock"

// RuntimeDir is the private directory (mode 0700) that holds dwcp-sidecar's default
// socket for the current user: $XDG_RUNTIME_DIR/dwcp-sidecar when that is set, else
// /run/dwcp-sidecar for root, else /tmp/dwcp-sidecar-UID. The sidecar creates it.
func RuntimeDir() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, "dwcp-sidecar")
	}
	if os.Getuid() == 0 {
		return "/run/dwcp-sidecar"
	}
	return "/tmp/dwcp-sidecar-" + strconv.Itoa(os.Getuid())
}

// DefaultSocket is the path of dwcp-sidecar's default socket for the current user.
func DefaultSocket() string { return filepath.Join(RuntimeDir(), SocketName) }

// DefaultTarget is the Dial target of dwcp-sidecar's default socket.
func DefaultTarget() string { return "unix://" + DefaultSocket() }
